/*
 * runner.c - running a buildspec: environment, phases and their
 * transitions, commands, masking, the build log, artifacts.
 *
 * Each command is a script of its own. It starts with `set -a`, so every
 * variable it assigns is exported, and an EXIT trap writes the environment
 * (env -0) and working directory to files the next command starts from:
 * that is how variables and `cd` carry over, as in CodeBuild 0.2.
 */
#include "runner_private.h"
#include "bundle_private.h"

#include <errno.h>
#include <jansson.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <regex.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* ---- reporting ---- */

void mdeploy_build__log_line(struct run *r, const char *phase, const char *fmt, ...)
{
	char *raw, *masked;
	va_list ap;
	mdeploy__buf b = MDEPLOY__BUF_INIT;
	va_start(ap, fmt);
	mdeploy__buf_vprintf(&b, fmt, ap);
	va_end(ap);
	raw = mdeploy__buf_detach(&b);
	if (!raw)
		return;
	masked = mdeploy_build__mask_apply(&r->mask, raw);
	free(raw);
	if (!masked)
		return;
	if (r->log) {
		struct timespec ts;
		struct tm tm;
		char when[32];
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(r->log, "[mdeploy] %s.%03ldZ %-10s %s\n", when, ts.tv_nsec / 1000000, phase, masked);
		fflush(r->log);
	}
	if (r->ctx)
		mdeploy__log(r->ctx, MDEPLOY_LOG_INFO, "build", "%s: %s", phase, masked);
	free(masked);
}

static void emit_line(struct run *r, mdeploy_exec_stream stream, const char *line)
{
	char *masked = mdeploy_build__mask_apply(&r->mask, line);
	if (!masked)
		return;
	/* The build log is a file: no colours (a line holds whole sequences, or the rest is lost with them). */
	mdeploy__ansi_strip(NULL, masked, strlen(masked));
	if (r->log) {
		fprintf(r->log, "%-10s %s\n", r->phase, masked);
		fflush(r->log);
	}
	if (r->opts->output_cb && !r->aborted && r->opts->output_cb(r->phase, stream, masked, r->opts->payload))
		r->aborted = 1;
	free(masked);
}

static int on_output(mdeploy_exec_stream stream, const char *data, size_t len, void *payload)
{
	struct run *r = payload;
	mdeploy__buf *b = &r->lines[stream == MDEPLOY_EXEC_STDERR ? 1 : 0].b;
	size_t i, start = 0;
	/* Keep the last 64 KiB for RETRY-regex. */
	if (r->tail.size > 65536)
		mdeploy__buf_clear(&r->tail);
	mdeploy__buf_put(&r->tail, data, len);
	for (i = 0; i < len; i++) {
		if (data[i] != '\n')
			continue;
		mdeploy__buf_put(b, data + start, i - start);
		emit_line(r, stream, mdeploy__buf_cstr(b));
		mdeploy__buf_clear(b);
		start = i + 1;
	}
	mdeploy__buf_put(b, data + start, len - start);
	/* A line without end must not grow forever: emit it in 16 KiB pieces
	 * (a secret split across two pieces is the only thing lost). */
	if (b->size > 16384) {
		emit_line(r, stream, mdeploy__buf_cstr(b));
		mdeploy__buf_clear(b);
	}
	return r->aborted;
}

/*
 * What the commands left running (`sleep 97 &`, a daemon) holds the
 * build's environment, secrets included: their process groups end with
 * the phases, before artifacts are read, as the agent ends a hook's group.
 * Background processes still live from one command to the next.
 */
static void end_groups(struct run *r)
{
	size_t i;
	for (i = 0; i < r->ngroups; i++)
		kill(-r->groups[i], SIGKILL);
	free(r->groups);
	r->groups = NULL;
	r->ngroups = 0;
}

static void flush_lines(struct run *r)
{
	int i;
	for (i = 0; i < 2; i++) {
		if (r->lines[i].b.size)
			emit_line(r, i ? MDEPLOY_EXEC_STDERR : MDEPLOY_EXEC_STDOUT, mdeploy__buf_cstr(&r->lines[i].b));
		mdeploy__buf_clear(&r->lines[i].b);
	}
}

static void set_reason(struct run *r, const char *fmt, ...) MDEPLOY_FORMAT_PRINTF(2, 3);

static void set_reason(struct run *r, const char *fmt, ...)
{
	mdeploy__buf b = MDEPLOY__BUF_INIT;
	char *raw;
	va_list ap;
	if (r->res->reason)
		return; /* the first reason is the one that matters */
	va_start(ap, fmt);
	mdeploy__buf_vprintf(&b, fmt, ap);
	va_end(ap);
	raw = mdeploy__buf_detach(&b);
	if (raw) {
		r->res->reason = mdeploy_build__mask_apply(&r->mask, raw);
		free(raw);
	}
}

/* ---- commands ---- */

static int read_state(struct run *r, const char *env_file, const char *cwd_file)
{
	char *data = NULL, *p, *end;
	size_t len;
	struct env ne = MDEPLOY_BUILD__ENV_INIT;
	int rc = 0;

	if (!mdeploy__path_exists(env_file) || mdeploy__file_read(&data, &len, env_file) != 0) {
		mdeploy_error_clear();
		free(data);
		return 0; /* the command did not get to its EXIT trap: keep what we had */
	}
	for (p = data, end = data + len; p < end; p += strlen(p) + 1) {
		if (!strncmp(p, "MDEPLOY__", 9) || !strncmp(p, "__mdeploy_", 10) || !strncmp(p, "_=", 2) ||
		    !strncmp(p, "SHLVL=", 6) || !strncmp(p, "OLDPWD=", 7))
			continue;
		if ((rc = mdeploy_build__env_put_kv(&ne, p)) != 0)
			break;
	}
	free(data);
	unlink(env_file);
	if (rc) {
		mdeploy_build__env_dispose(&ne);
		return rc;
	}
	mdeploy_build__env_dispose(&r->env);
	r->env = ne;
	if (mdeploy__file_read(&data, &len, cwd_file) == 0) {
		while (len && (data[len - 1] == '\n'))
			data[--len] = '\0';
		if (len && data[0] == '/' && mdeploy__is_dir(data)) {
			free(r->cwd);
			r->cwd = data;
			data = NULL;
		}
		free(data);
		unlink(cwd_file);
	}
	mdeploy_error_clear();
	return 0;
}

/* Runs one command. Returns 0 when it ran (*ok tells whether it succeeded),
 * MDEPLOY_ETIMEOUT when the build's time ran out, another code on error. */
static int run_command(struct run *r, const char *cmd, const char *user, int *ok)
{
	mdeploy_exec_options eo = MDEPLOY_EXEC_OPTIONS_INIT;
	mdeploy_exec_result *res = NULL;
	char *script = NULL, *env_file = NULL, *cwd_file = NULL, *text = NULL;
	const char *argv[3];
	uint64_t now = mdeploy__now_ms();
	int rc;

	*ok = 0;
	if (now >= r->deadline)
		return MDEPLOY_ETIMEOUT;
	if (!(script = mdeploy__sprintf("%s/command.sh", r->work)) ||
	    !(env_file = mdeploy__sprintf("%s/env.out", r->work)) ||
	    !(cwd_file = mdeploy__sprintf("%s/cwd.out", r->work)) ||
	    !(text = mdeploy__sprintf("set -a\n"
	                              "trap '__mdeploy_rc=$?; env -0 >\"$MDEPLOY__ENV_OUT\" 2>/dev/null; "
	                              "pwd >\"$MDEPLOY__CWD_OUT\" 2>/dev/null; exit $__mdeploy_rc' EXIT\n"
	                              "%s\n", cmd))) {
		rc = MDEPLOY_ENOMEM;
		goto out;
	}
	/* A command run as another user (run-as) must read its script and
	 * write its state files back. */
	if (user && chmod(r->work, 01777) < 0) {
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_BUILD, "cannot open '%s' to user '%s'", r->work, user);
		goto out;
	}
	if ((rc = mdeploy__file_write_atomic(script, text, strlen(text), user ? 0755 : 0700)) != 0)
		goto out;
	if ((rc = mdeploy_build__env_set(&r->env, "MDEPLOY__ENV_OUT", env_file)) != 0 ||
	    (rc = mdeploy_build__env_set(&r->env, "MDEPLOY__CWD_OUT", cwd_file)) != 0)
		goto out;
	unlink(env_file);
	unlink(cwd_file);
	mdeploy_build__log_line(r, r->phase, "Running command %s", cmd);
	argv[0] = r->shell;
	argv[1] = script;
	argv[2] = NULL;
	eo.cwd = r->cwd;
	eo.env = (const char *const *)r->env.v;
	eo.timeout_ms = (unsigned int)(r->deadline - now);
	eo.output_cb = on_output;
	eo.payload = r;
	eo.user = user;
	rc = mdeploy_exec_run(&res, argv, &eo);
	if (res && mdeploy_exec_result_pid(res) > 0) {
		int *ng = realloc(r->groups, (r->ngroups + 1) * sizeof(*ng));
		if (ng) {
			r->groups = ng;
			r->groups[r->ngroups++] = mdeploy_exec_result_pid(res);
		}
	}
	flush_lines(r);
	if (rc == MDEPLOY_EUSER || r->aborted) {
		rc = mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_CALLBACK, "build stopped by the output callback");
		goto out;
	}
	if (rc) {
		char *m = mdeploy_build__mask_apply(&r->mask, mdeploy_error_last()->message);
		mdeploy_build__log_line(r, r->phase, "Command could not start: %s", m ? m : "");
		set_reason(r, "%s: command could not start: %s", r->phase, m ? m : "");
		free(m);
		mdeploy_error_clear();
		rc = 0;
		goto out;
	}
	if (mdeploy_exec_result_timed_out(res)) {
		mdeploy_build__log_line(r, r->phase, "Command timed out: %s", cmd);
		set_reason(r, "%s: build timed out after %u seconds in command: %s", r->phase,
		           r->opts->timeout_s ? r->opts->timeout_s : 3600, cmd);
		rc = MDEPLOY_ETIMEOUT;
		goto out;
	}
	if ((rc = read_state(r, env_file, cwd_file)) != 0)
		goto out;
	if (mdeploy_exec_result_success(res)) {
		*ok = 1;
	} else {
		mdeploy_build__log_line(r, r->phase, "Command did not exit successfully %s: %s", cmd, mdeploy_exec_result_describe(res));
		set_reason(r, "%s: command '%s' %s", r->phase, cmd, mdeploy_exec_result_describe(res));
	}
out:
	mdeploy_exec_result_free(res);
	if (script)
		unlink(script);
	free(script);
	free(env_file);
	free(cwd_file);
	free(text);
	return rc;
}

/* Runs a list of commands until one fails. */
static int run_list(struct run *r, const mdeploy_build__strs *cmds, const char *user, int *ok)
{
	size_t i;
	int rc;
	*ok = 1;
	for (i = 0; i < cmds->n; i++) {
		if ((rc = run_command(r, cmds->v[i].s, user, ok)) != 0)
			return rc;
		if (!*ok)
			return 0;
	}
	return 0;
}

static int tail_matches(struct run *r, const char *regex)
{
	regex_t re;
	int m;
	if (regcomp(&re, regex, REG_EXTENDED | REG_NOSUB | REG_NEWLINE) != 0)
		return 0;
	m = regexec(&re, mdeploy__buf_cstr(&r->tail), 0, NULL, 0) == 0;
	regfree(&re);
	return m;
}

static void set_succeeding(struct run *r, int yes)
{
	mdeploy_build__env_set(&r->env, "MDEPLOY_BUILD_SUCCEEDING", yes ? "1" : "0");
	mdeploy_build__env_set(&r->env, "CODEBUILD_BUILD_SUCCEEDING", yes ? "1" : "0");
}

/* ---- environment from the buildspec ---- */

static int resolve_secret(struct run *r, const mdeploy_build__var *v, char **value)
{
	/* secret-id[:json-key[:version-stage[:version-id]]] */
	char *ref = mdeploy__strdup(v->value), *parts[4] = { NULL, NULL, NULL, NULL }, *p, *raw = NULL;
	mdeploy_secret_stage stage = MDEPLOY_SECRET_CURRENT;
	int n = 0, rc;

	*value = NULL;
	if (!ref)
		return MDEPLOY_ENOMEM;
	for (p = ref; n < 4; n++) {
		parts[n] = p;
		if (!(p = strchr(p, ':')))
			break;
		*p++ = '\0';
	}
	if (parts[2] && *parts[2]) {
		if (!strcmp(parts[2], "AWSPREVIOUS") || !strcmp(parts[2], "previous"))
			stage = MDEPLOY_SECRET_PREVIOUS;
		else if (strcmp(parts[2], "AWSCURRENT") && strcmp(parts[2], "current")) {
			rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUILD,
			                        "%s:%d:%d: env.secrets-manager.%s: version stage must be AWSCURRENT or "
			                        "AWSPREVIOUS, not '%s'", r->spec->name, v->line, v->col, v->name, parts[2]);
			free(ref);
			return rc;
		}
	}
	rc = mdeploy_secrets_get(&raw, r->opts->secrets, parts[0], stage, parts[3] && *parts[3] ? parts[3] : NULL);
	if (!rc && parts[1] && *parts[1]) {
		json_error_t jerr;
		json_t *doc = json_loads(raw, 0, &jerr), *field = json_object_get(doc, parts[1]);
		if (!field)
			rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_BUILD,
			                        "secret '%s' has no JSON key '%s'", parts[0], parts[1]);
		else if (json_is_string(field))
			*value = mdeploy__strdup(json_string_value(field));
		else
			*value = json_dumps(field, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!rc && !*value)
			rc = MDEPLOY_ENOMEM;
		json_decref(doc);
		mdeploy_secret_value_free(raw);
	} else if (!rc) {
		*value = raw;
	}
	if (rc && rc != MDEPLOY_ENOMEM)
		mdeploy__error_prefix("%s:%d:%d: env.secrets-manager.%s", r->spec->name, v->line, v->col, v->name);
	free(ref);
	return rc;
}

static int setup_env(struct run *r)
{
	const mdeploy_build_options *o = r->opts;
	mdeploy_buildspec *spec = r->spec;
	char num[32];
	char **e;
	size_t i;
	int rc;

	for (e = environ; *e; e++)
		if ((rc = mdeploy_build__env_put_kv(&r->env, *e)) != 0)
			return rc;
	for (i = 0; i < spec->variables.n; i++)
		if ((rc = mdeploy_build__env_set(&r->env, spec->variables.v[i].name, spec->variables.v[i].value)) != 0)
			return rc;
	for (i = 0; i < spec->parameters.n; i++) {
		const mdeploy_build__var *v = &spec->parameters.v[i];
		mdeploy_param *p = NULL;
		if ((rc = mdeploy_params_get(&p, o->params, v->value)) != 0) {
			mdeploy__error_prefix("%s:%d:%d: env.parameter-store.%s", spec->name, v->line, v->col, v->name);
			return rc;
		}
		rc = mdeploy_build__env_set(&r->env, v->name, p->value);
		mdeploy_param_free(p);
		if (rc)
			return rc;
	}
	for (i = 0; i < spec->secrets.n; i++) {
		const mdeploy_build__var *v = &spec->secrets.v[i];
		char *value = NULL;
		if ((rc = resolve_secret(r, v, &value)) != 0)
			return rc;
		rc = mdeploy_build__mask_add(&r->mask, value);
		if (!rc)
			rc = mdeploy_build__env_set(&r->env, v->name, value);
		mdeploy_secret_value_free(value);
		if (rc)
			return rc;
	}
	for (i = 0; o->env && o->env[i]; i++)
		if ((rc = mdeploy_build__env_put_kv(&r->env, o->env[i])) != 0)
			return rc;
	snprintf(num, sizeof(num), "%llu", (unsigned long long)(o->build_number ? o->build_number : 1));
	if ((rc = mdeploy_build__env_set(&r->env, "MDEPLOY_SRC_DIR", r->src_dir)) || (rc = mdeploy_build__env_set(&r->env, "CODEBUILD_SRC_DIR", r->src_dir)) ||
	    (rc = mdeploy_build__env_set(&r->env, "MDEPLOY_BUILD_ID", r->res->id)) || (rc = mdeploy_build__env_set(&r->env, "CODEBUILD_BUILD_ID", r->res->id)) ||
	    (rc = mdeploy_build__env_set(&r->env, "MDEPLOY_BUILD_NUMBER", num)) || (rc = mdeploy_build__env_set(&r->env, "CODEBUILD_BUILD_NUMBER", num)) ||
	    (rc = mdeploy_build__env_set(&r->env, "MDEPLOY_RESOLVED_SOURCE_VERSION", o->resolved_source_version ? o->resolved_source_version : "")) ||
	    (rc = mdeploy_build__env_set(&r->env, "CODEBUILD_RESOLVED_SOURCE_VERSION", o->resolved_source_version ? o->resolved_source_version : "")))
		return rc;
	set_succeeding(r, 1);
	return 0;
}

static int pick_shell(struct run *r)
{
	const char *want = r->spec->shell;
	static const char *const bash[] = { "/bin/bash", "/usr/bin/bash", NULL };
	size_t i;
	if (!want || !strcmp(want, "bash") || !strcmp(want, "/bin/bash")) {
		for (i = 0; bash[i]; i++)
			if (access(bash[i], X_OK) == 0)
				return (r->shell = mdeploy__strdup(bash[i])) ? 0 : MDEPLOY_ENOMEM;
		if (want)
			return mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_BUILD,
			                          "%s: env.shell: bash is not installed", r->spec->name);
	}
	return (r->shell = mdeploy__strdup("/bin/sh")) ? 0 : MDEPLOY_ENOMEM;
}

/* ---- phases ---- */

static uint64_t phase_ms(uint64_t start)
{
	return mdeploy__now_ms() - start;
}

/* Runs one phase. Returns 0, or MDEPLOY_ETIMEOUT / an error that ends the build. */
static int run_phase(struct run *r, int i, int *failed)
{
	mdeploy_build__phase *ph = &r->spec->phases[i];
	mdeploy_build_phase *out = &r->res->phases[i];
	const char *user = ph->run_as ? ph->run_as : r->spec->run_as;
	uint64_t start = mdeploy__now_ms();
	unsigned int attempt = 0;
	int ok = 1, fok = 1, rc = 0;

	*failed = 0;
	r->phase = mdeploy_build__phase_names[i];
	mdeploy_build__log_line(r, r->phase, "Entering phase %s", r->phase);
	for (;;) {
		attempt++;
		mdeploy__buf_clear(&r->tail);
		if ((rc = run_list(r, &ph->commands, user, &ok)) != 0 || ok)
			break;
		if (ph->on_failure != BS_RETRY || attempt > ph->retries ||
		    (ph->retry_regex && !tail_matches(r, ph->retry_regex)))
			break;
		mdeploy_build__log_line(r, r->phase, "Phase failed; retrying (attempt %u of %u)", attempt + 1, ph->retries + 1);
	}
	out->attempts = attempt;
	/* finally runs whenever the phase started, unless time ran out. */
	if (rc != MDEPLOY_ETIMEOUT && rc != MDEPLOY_EUSER && ph->finally.n) {
		int frc = run_list(r, &ph->finally, user, &fok);
		if (frc)
			rc = frc;
	}
	out->duration_ms = phase_ms(start);
	if (rc == MDEPLOY_ETIMEOUT) {
		out->status = "TIMED_OUT";
	} else if (rc) {
		out->status = "FAILED";
	} else if (!ok || !fok) {
		out->status = "FAILED";
		*failed = 1;
	} else {
		out->status = "SUCCEEDED";
	}
	mdeploy_build__log_line(r, r->phase, "Phase complete: %s State: %s", r->phase, out->status);
	return rc;
}

int mdeploy_build_options_init(mdeploy_build_options *opts, unsigned int version)
{
	mdeploy_build_options d = MDEPLOY_BUILD_OPTIONS_INIT;
	int rc = mdeploy__options_check(version, MDEPLOY_BUILD_OPTIONS_VERSION, "mdeploy_build_options");
	if (rc)
		return rc;
	*opts = d;
	opts->version = version;
	return 0;
}

static char *default_build_id(void)
{
	unsigned char raw[16];
	char hex[33];
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return NULL;
	mdeploy_bundle__hex(hex, raw, 16);
	return mdeploy__sprintf("mdeploy-build:%s", hex);
}

static int open_log(struct run *r)
{
	const mdeploy_build_options *o = r->opts;
	char *dir = NULL, *safe, *s;
	int fd, rc = 0;

	if (o->log_path) {
		r->res->log_path = mdeploy__strdup(o->log_path);
	} else {
		if (!r->ctx || !mdeploy_ctx_state_dir(r->ctx))
			return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUILD,
			                          "no build log path: give a context or log_path");
		if (!(safe = mdeploy__strdup(r->res->id)))
			return MDEPLOY_ENOMEM;
		for (s = safe; *s; s++)
			if (*s == '/' || *s == ':')
				*s = '-';
		dir = mdeploy__sprintf("%s/builds/%s", mdeploy_ctx_state_dir(r->ctx), safe);
		free(safe);
		if (!dir)
			return MDEPLOY_ENOMEM;
		if ((rc = mdeploy__mkdir_p(dir, 0700)) != 0) {
			free(dir);
			return rc;
		}
		r->res->log_path = mdeploy__path_join(dir, "build.log");
		free(dir);
	}
	if (!r->res->log_path)
		return MDEPLOY_ENOMEM;
	fd = open(r->res->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || !(r->log = fdopen(fd, "w"))) {
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_BUILD, "cannot write the build log '%s'", r->res->log_path);
		if (fd >= 0)
			close(fd);
	}
	return rc;
}

int mdeploy_build_run(mdeploy_build_result **out, mdeploy_ctx *ctx, const mdeploy_build_options *opts)
{
	mdeploy_build_options o;
	mdeploy_build_options d = MDEPLOY_BUILD_OPTIONS_INIT;
	mdeploy_params *own_params = NULL;
	mdeploy_secrets *own_secrets = NULL;
	mdeploy_artifacts *store = NULL;
	struct run r;
	char *spec_path = NULL, cwdbuf[4096];
	uint64_t start = mdeploy__now_ms();
	int rc, i, failed, finalizing = 0, timed_out = 0;
	size_t k;
	int arc = 0;

	*out = NULL;
	if (!opts)
		opts = &d;
	if ((rc = mdeploy__options_check(opts->version, MDEPLOY_BUILD_OPTIONS_VERSION, "mdeploy_build_options")) != 0)
		return rc;
	o = *opts;
	memset(&r, 0, sizeof(r));
	r.ctx = ctx;
	r.opts = &o;
	if (!(r.res = calloc(1, sizeof(*r.res))))
		return mdeploy__error_oom();
	*out = r.res;
	for (i = 0; i < BS_NPHASES; i++) {
		r.res->phases[i].name = mdeploy_build__phase_names[i];
		r.res->phases[i].status = "SKIPPED";
	}
	r.res->status = MDEPLOY_BUILD_FAILED;

	if (!getcwd(cwdbuf, sizeof(cwdbuf))) {
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_BUILD, "cannot read the current directory");
		goto out;
	}
	if (o.src_dir && o.src_dir[0] == '/')
		r.src_dir = mdeploy__strdup(o.src_dir);
	else
		r.src_dir = o.src_dir ? mdeploy__path_join(cwdbuf, o.src_dir) : mdeploy__strdup(cwdbuf);
	if (!r.src_dir) {
		rc = MDEPLOY_ENOMEM;
		goto out;
	}
	if (!mdeploy__is_dir(r.src_dir)) {
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_BUILD,
		                        "source directory '%s' does not exist", r.src_dir);
		goto out;
	}
	spec_path = o.buildspec ? mdeploy__strdup(o.buildspec) : mdeploy__path_join(r.src_dir, "buildspec.yml");
	if (!spec_path) {
		rc = MDEPLOY_ENOMEM;
		goto out;
	}
	if (!mdeploy__path_exists(spec_path)) {
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_BUILD, "no buildspec '%s'", spec_path);
		goto out;
	}
	if ((rc = mdeploy_buildspec_load(&r.spec, spec_path)) != 0)
		goto out;
	if (!o.source_json) {
		char *p = mdeploy__path_join(r.src_dir, MDEPLOY_BUNDLE__RELEASE_FILE);
		if (!p) {
			rc = MDEPLOY_ENOMEM;
			goto out;
		}
		if (mdeploy__path_exists(p))
			rc = mdeploy__file_read(&r.release_json, NULL, p);
		free(p);
		if (rc)
			goto out;
	}
	r.res->id = o.build_id ? mdeploy__strdup(o.build_id) : default_build_id();
	if (!r.res->id || !(r.cwd = mdeploy__strdup(r.src_dir))) {
		rc = MDEPLOY_ENOMEM;
		goto out;
	}
	if (r.spec->parameters.n && !o.params) {
		if ((rc = mdeploy_params_open(&own_params, ctx, NULL)) != 0)
			goto out;
		o.params = own_params;
	}
	if (r.spec->secrets.n && !o.secrets) {
		if ((rc = mdeploy_secrets_open(&own_secrets, ctx, NULL)) != 0)
			goto out;
		o.secrets = own_secrets;
	}
	store = o.artifacts;
	if ((rc = pick_shell(&r)) != 0 || (rc = setup_env(&r)) != 0 || (rc = open_log(&r)) != 0)
		goto out;
	{
		char tmpl[] = "/tmp/mdeploy-build.XXXXXX";
		const char *tmpdir = getenv("TMPDIR");
		r.work = mdeploy__sprintf("%s/mdeploy-build.XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
		(void)tmpl;
		if (!r.work || !mkdtemp(r.work)) {
			rc = r.work ? mdeploy__error_os(MDEPLOY_ERROR_CLASS_BUILD, "cannot create a work directory") : MDEPLOY_ENOMEM;
			free(r.work);
			r.work = NULL;
			goto out;
		}
	}
	r.deadline = start + (uint64_t)(o.timeout_s ? o.timeout_s : 3600) * 1000u;
	mdeploy_build__log_line(&r, "BUILD", "Build %s of %s with %s", r.res->id, r.src_dir, r.shell);

	r.res->status = MDEPLOY_BUILD_SUCCEEDED;
	for (i = 0; i < BS_NPHASES; i++) {
		mdeploy_build__phase *ph = &r.spec->phases[i];
		if (finalizing || timed_out || !ph->present)
			continue;
		rc = run_phase(&r, i, &failed);
		if (rc == MDEPLOY_ETIMEOUT) {
			/* Time may run out between commands, with no command to blame. */
			set_reason(&r, "%s: build timed out after %u seconds", mdeploy_build__phase_names[i],
			           o.timeout_s ? o.timeout_s : 3600);
			r.res->status = MDEPLOY_BUILD_TIMED_OUT;
			timed_out = 1;
			rc = 0;
			continue;
		}
		if (rc)
			goto out;
		if (!failed)
			continue;
		r.res->status = MDEPLOY_BUILD_FAILED;
		set_succeeding(&r, 0);
		if (ph->on_failure == BS_CONTINUE)
			continue;
		/* install and pre_build failures skip to the end; a build failure
		 * still runs post_build; post_build is last anyway. */
		if (i == BS_INSTALL || i == BS_PRE_BUILD)
			finalizing = 1;
	}

	end_groups(&r);
	/* Exported variables, read from the final environment. */
	if (r.spec->exported.n) {
		r.res->exported_names = calloc(r.spec->exported.n, sizeof(char *));
		r.res->exported_values = calloc(r.spec->exported.n, sizeof(char *));
		if (!r.res->exported_names || !r.res->exported_values) {
			rc = mdeploy__error_oom();
			goto out;
		}
		for (k = 0; k < r.spec->exported.n; k++) {
			const char *v = mdeploy_build__env_get(&r.env, r.spec->exported.v[k].s);
			r.res->exported_names[k] = mdeploy__strdup(r.spec->exported.v[k].s);
			r.res->exported_values[k] = mdeploy_build__mask_apply(&r.mask, v ? v : "");
			r.res->nexported++;
		}
	}

	if (r.res->status == MDEPLOY_BUILD_SUCCEEDED && o.artifacts_dir && r.spec->nartifacts) {
		r.phase = "ARTIFACTS";
		if (!(r.res->artifacts = calloc(r.spec->nartifacts, sizeof(*r.res->artifacts)))) {
			rc = mdeploy__error_oom();
			goto out;
		}
		/* Every set checked before any bundle is written, every bundle made
		 * before one is stored: a build that fails on its artifacts leaves no
		 * bundle of it in the output directory and none in the store. */
		for (k = 0, arc = 0; !arc && k < r.spec->nartifacts; k++)
			arc = mdeploy_build__check_artifact(&r, &r.spec->artifacts[k]);
		for (k = 0; !arc && k < r.spec->nartifacts; k++) {
			arc = mdeploy_build__make_artifact(&r, &r.spec->artifacts[k], &r.res->artifacts[r.res->nartifacts]);
			if (r.res->artifacts[r.res->nartifacts].path)
				r.res->nartifacts++;
		}
		for (k = 0; !arc && o.store_name && k < r.res->nartifacts; k++)
			if (!strcmp(r.res->artifacts[k].identifier, "primary"))
				arc = mdeploy_build__store_artifact(&r, &r.res->artifacts[k], &store);
		if (arc == MDEPLOY_ENOMEM) {
			rc = arc;
			goto out;
		}
		if (arc) {
			char *m = mdeploy_build__mask_apply(&r.mask, mdeploy_error_last()->message);
			mdeploy_build__log_line(&r, "ARTIFACTS", "Artifacts failed: %s", m ? m : "");
			set_reason(&r, "artifacts: %s", m ? m : "");
			free(m);
			mdeploy_error_clear();
			r.res->status = MDEPLOY_BUILD_FAILED;
			while (r.res->nartifacts) {
				mdeploy_build_artifact *a = &r.res->artifacts[--r.res->nartifacts];
				if (unlink(a->path) == 0)
					mdeploy_build__log_line(&r, "ARTIFACTS", "removed %s (the build failed)", a->path);
				free((char *)a->identifier);
				free((char *)a->path);
				free((char *)a->sha256);
				memset(a, 0, sizeof(*a));
			}
		}
	}
	r.res->duration_ms = mdeploy__now_ms() - start;
	mdeploy_build__log_line(&r, "BUILD", "Build %s: %s in %llu ms%s%s", r.res->id, mdeploy_build_status_name(r.res->status),
	         (unsigned long long)r.res->duration_ms, r.res->reason ? ": " : "", r.res->reason ? r.res->reason : "");
	rc = 0;
out:
	end_groups(&r);
	if (rc && rc != MDEPLOY_ENOMEM) {
		/* A message may quote a command or value: mask it too. */
		const mdeploy_error *e = mdeploy_error_last();
		char *m = mdeploy_build__mask_apply(&r.mask, e->message);
		if (m) {
			int code = e->code, klass = e->klass;
			if (r.log)
				mdeploy_build__log_line(&r, "BUILD", "Build could not run: %s", m);
			mdeploy__error_set(code, klass, "%s", m);
			free(m);
		}
	}
	if (r.log)
		fclose(r.log);
	if (r.work) {
		mdeploy__rm_rf(r.work);
		free(r.work);
	}
	for (i = 0; i < 2; i++)
		mdeploy__buf_dispose(&r.lines[i].b);
	mdeploy__buf_dispose(&r.tail);
	mdeploy_build__env_dispose(&r.env);
	mdeploy_build__mask_dispose(&r.mask);
	mdeploy_buildspec_free(r.spec);
	mdeploy_params_free(own_params);
	mdeploy_secrets_free(own_secrets);
	if (store != o.artifacts)
		mdeploy_artifacts_free(store);
	free(spec_path);
	free(r.release_json);
	free(r.src_dir);
	free(r.cwd);
	free(r.shell);
	return rc;
}

