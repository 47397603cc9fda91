/*
 * worker.c - one action, in a worker process forked by the runner.
 *
 * The worker opens its own store connection (a forked SQLite handle must
 * not be used), prepares the action's directory under
 * <state>/pipelines/<execution>/<idx>/ (inputs unpacked in work/NAME/,
 * empty work/NAME/ for each output), runs it, packs the outputs into the
 * artifact store and records the result. It outlives a runner killed
 * with -9: `resume` then waits for it instead of starting it again.
 *
 * A shell command runs in its own process group, so a timeout or an
 * abandon (SIGTERM to the worker) kills everything it started.
 */
#include "pipeline_private.h"
#include "store/store_private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t terminate;

static void on_term(int sig)
{
	MDEPLOY__UNUSED(sig);
	terminate = 1;
}

struct result {
	const char *status;     /* Succeeded, Failed, Abandoned */
	char *error;
	char *summary;
	json_t *vars;
	json_t *artifacts;
};

static int record(mdeploy_store *store, const char *id, size_t idx, struct result *res, const char *log_path)
{
	sqlite3_stmt *st = mdeploy_store__prepare(store,
		"UPDATE pipeline_actions SET status = ?1, error = ?2, summary = ?3, variables = ?4, artifacts = ?5,"
		" log_path = ?6, finished_at = ?7 WHERE execution_id = ?8 AND idx = ?9 AND status = 'InProgress'");
	char *v = res->vars ? json_dumps(res->vars, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	char *a = res->artifacts ? json_dumps(res->artifacts, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	int rc = 0;
	if (!st) {
		free(v);
		free(a);
		return MDEPLOY_ERROR;
	}
	sqlite3_bind_text(st, 1, res->status, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, res->error, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, res->summary, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, v, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, a, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, log_path, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, mdeploy_store__unix_ms());
	sqlite3_bind_text(st, 8, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 9, (sqlite3_int64)idx);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = mdeploy_store__error(store, "cannot record the action's result");
	sqlite3_finalize(st);
	free(v);
	free(a);
	return rc;
}

static void fail(struct result *res, const char *summary, const char *fmt, ...) MDEPLOY_FORMAT_PRINTF(3, 4);
static void fail(struct result *res, const char *summary, const char *fmt, ...)
{
	mdeploy__buf b = MDEPLOY__BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	mdeploy__buf_vprintf(&b, fmt, ap);
	va_end(ap);
	res->status = "Failed";
	free(res->error);
	res->error = mdeploy__buf_detach(&b);
	free(res->summary);
	res->summary = mdeploy__strdup(summary);
}

/* Digest of artifact `name` produced earlier in this execution. */
static char *artifact_digest(mdeploy_store *store, const char *id, const char *name)
{
	sqlite3_stmt *st = mdeploy_store__prepare(store, "SELECT artifacts FROM pipeline_actions"
	                                          " WHERE execution_id = ? AND status = 'Succeeded'"
	                                          " AND artifacts IS NOT NULL");
	char *out = NULL;
	if (!st)
		return NULL;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	while (!out && sqlite3_step(st) == SQLITE_ROW) {
		json_t *o = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
		const char *d = json_string_value(json_object_get(o, name));
		if (d)
			out = mdeploy__strdup(d);
		json_decref(o);
	}
	sqlite3_finalize(st);
	return out;
}

static int prepare_dirs(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_pipeline_action *a,
                        const char *id, const char *work, struct result *res)
{
	size_t i;
	int rc;
	mdeploy__rm_rf(work);
	if ((rc = mdeploy__mkdir_p(work, 0755)) != 0) {
		fail(res, "setup failed", "%s", mdeploy_error_last()->message);
		return rc;
	}
	for (i = 0; i < a->input_count; i++) {
		char *digest = artifact_digest(store, id, a->inputs[i]);
		char *dest = mdeploy__path_join(work, a->inputs[i]);
		if (!digest) {
			fail(res, "input missing", "input artifact '%s' was not produced", a->inputs[i]);
			rc = MDEPLOY_ENOTFOUND;
		} else if ((rc = mdeploy_pipeline__artifact_get(ctx, digest, dest)) != 0) {
			fail(res, "input unreadable", "input artifact '%s': %s", a->inputs[i],
			     mdeploy_error_last()->message);
		}
		free(digest);
		free(dest);
		if (rc)
			return rc;
	}
	for (i = 0; i < a->output_count; i++) {
		char *dest = mdeploy__path_join(work, a->outputs[i]);
		rc = dest ? mdeploy__mkdir_p(dest, 0755) : MDEPLOY_ENOMEM;
		free(dest);
		if (rc) {
			fail(res, "setup failed", "cannot create output directory '%s'", a->outputs[i]);
			return rc;
		}
	}
	return 0;
}

static int collect_outputs(mdeploy_ctx *ctx, const mdeploy_pipeline *p, const mdeploy_pipeline_action *a,
                           const char *work, struct result *res)
{
	size_t i;
	for (i = 0; i < a->output_count; i++) {
		char *dir = mdeploy__path_join(work, a->outputs[i]);
		char digest[65];
		int rc = dir ? mdeploy_pipeline__artifact_put(ctx, mdeploy_pipeline_name(p), a->outputs[i], dir, digest)
		             : MDEPLOY_ENOMEM;
		free(dir);
		if (rc) {
			fail(res, "output failed", "output artifact '%s': %s", a->outputs[i],
			     mdeploy_error_last()->message);
			return rc;
		}
		if (!res->artifacts)
			res->artifacts = json_object();
		json_object_set_new(res->artifacts, a->outputs[i], json_string(digest));
	}
	return 0;
}

/* KEY=VALUE lines the command wrote to $MDEPLOY_OUTPUT_VARIABLES. */
static int read_variables(const mdeploy_pipeline_action *a, const char *path, struct result *res)
{
	char *text = NULL, *line, *save = NULL;
	size_t len, i;

	res->vars = json_object();
	if (mdeploy__file_read(&text, &len, path) == 0) {
		for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			char *eq = strchr(line, '=');
			if (!eq || !mdeploy_pipeline__ident_ok(line, (size_t)(eq - line)))
				continue;
			*eq = '\0';
			json_object_set_new(res->vars, line, json_string(eq + 1));
		}
		free(text);
	}
	for (i = 0; i < a->output_variable_count; i++)
		if (!json_object_get(res->vars, a->output_variables[i])) {
			fail(res, "output variable missing", "the command did not set output variable '%s' "
			     "(write %s=VALUE to $MDEPLOY_OUTPUT_VARIABLES)", a->output_variables[i],
			     a->output_variables[i]);
			return MDEPLOY_EINVALID;
		}
	return 0;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/*
 * The command's output goes to output.log through this process, which takes
 * terminal escape sequences (colours) out: a log file is not a terminal.
 * Waits up to `ms` for output; returns 1 at end of file.
 */
static int relay(int in, int out, int *ansi, int ms)
{
	struct pollfd pf = { in, POLLIN, 0 };
	char buf[16384];
	ssize_t n;
	if (in < 0 || poll(&pf, 1, ms) <= 0)
		return in < 0;
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		size_t m = mdeploy__ansi_strip(ansi, buf, (size_t)n);
		if (m && write(out, buf, m) < 0) {
			/* the log is best effort; the action's result does not depend on it */
		}
	}
	return n == 0;
}

static void run_shell(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_pipeline *p,
                      const mdeploy_pipeline_action *a, const char *id, const char *dir,
                      const char *log_path, int64_t deadline, json_t *ns, struct result *res)
{
	char *work = mdeploy__path_join(dir, "work"), *vars_path = mdeploy__path_join(dir, "variables.env");
	char *cmd = NULL, **env = NULL;
	size_t i;
	pid_t pid;
	int status = 0, killed = 0, timed_out = 0, out[2] = { -1, -1 }, logfd = -1, ansi = 0, eof = 0;
	int64_t kill_at = 0;

	if (!work || !vars_path)
		goto out;
	if (mdeploy_pipeline__substitute_env(&cmd, &env, a->command, mdeploy_pipeline__lookup, ns)) {
		fail(res, "variable missing", "%s", mdeploy_error_last()->message);
		goto out;
	}
	if (prepare_dirs(ctx, store, a, id, work, res))
		goto out;
	unlink(vars_path);
	if ((logfd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0 || pipe2(out, O_CLOEXEC) < 0) {
		fail(res, "not started", "cannot write %s: %s", log_path, strerror(errno));
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		fail(res, "not started", "cannot fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
		setpgid(0, 0);
		signal(SIGTERM, SIG_DFL);
		if (in < 0 || dup2(in, 0) < 0 || dup2(out[1], 1) < 0 || dup2(out[1], 2) < 0 || chdir(work) != 0)
			_exit(126);
		setenv("MDEPLOY_PIPELINE", mdeploy_pipeline_name(p), 1);
		setenv("MDEPLOY_EXECUTION_ID", id, 1);
		setenv("MDEPLOY_STAGE", a->stage, 1);
		setenv("MDEPLOY_ACTION", a->name, 1);
		setenv("MDEPLOY_WORKSPACE", work, 1);
		setenv("MDEPLOY_PROJECT_DIR", mdeploy_pipeline_project_dir(p), 1);
		setenv("MDEPLOY_STATE_DIR", mdeploy_ctx_state_dir(ctx), 1);
		{
			/* Run by the mdeploy program: commands can call the same one. */
			char exe[4096];
			ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
			const char *path = getenv("PATH");
			if (n > 0) {
				char *slash, *np;
				exe[n] = '\0';
				slash = strrchr(exe, '/');
				if (slash && !strcmp(slash + 1, "mdeploy")) {
					*slash = '\0';
					if ((np = mdeploy__sprintf("%s:%s", exe, path ? path : "/usr/bin:/bin")))
						setenv("PATH", np, 1);
				}
			}
		}
		setenv("MDEPLOY_OUTPUT_VARIABLES", vars_path, 1);
		for (i = 0; env && env[i]; i++)
			putenv(env[i]);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	close(out[1]);
	out[1] = -1;
	fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK);
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		int64_t now = mdeploy_store__unix_ms();
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			status = -1;
			break;
		}
		if (!killed && (terminate || (deadline && now >= deadline))) {
			timed_out = !terminate;
			killed = 1;
			kill(-pid, SIGTERM);
			kill_at = now + 3000;
		} else if (killed == 1 && now >= kill_at) {
			kill(-pid, SIGKILL);
			killed = 2;
		}
		if (eof)
			sleep_ms(50);
		else
			eof = relay(out[0], logfd, &ansi, 50);
	}
	/* Whatever the command left running in its group goes with it. */
	kill(-pid, SIGKILL);
	{
		/* The rest of its output; a process that left the group may hold the pipe: not waited for long. */
		int64_t until = mdeploy_store__unix_ms() + 1000;
		while (!eof && mdeploy_store__unix_ms() < until)
			eof = relay(out[0], logfd, &ansi, 50);
	}
	if (killed && terminate) {
		res->status = "Abandoned";
		res->error = mdeploy__strdup("abandoned on request");
		res->summary = mdeploy__strdup("abandoned");
		goto out;
	}
	if (timed_out) {
		fail(res, "timed out", "timed out after %us (see %s)", a->timeout, log_path);
		goto out;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (WIFSIGNALED(status))
			fail(res, "killed", "killed by signal %d (see %s)", WTERMSIG(status), log_path);
		else
			fail(res, "failed", "exited with status %d (see %s)", WIFEXITED(status) ? WEXITSTATUS(status) : -1,
			     log_path);
		goto out;
	}
	if (read_variables(a, vars_path, res) || collect_outputs(ctx, p, a, work, res))
		goto out;
	res->status = "Succeeded";
	res->summary = mdeploy__strdup("exited with status 0");
out:
	if (out[0] >= 0)
		close(out[0]);
	if (out[1] >= 0)
		close(out[1]);
	if (logfd >= 0)
		close(logfd);
	free(cmd);
	for (i = 0; env && env[i]; i++)
		free(env[i]);
	free(env);
	free(work);
	free(vars_path);
}

/* A path from the definition: absolute, or relative to the project directory. */
static char *project_path(const mdeploy_pipeline *p, const char *rel)
{
	if (rel[0] == '/')
		return mdeploy__strdup(rel);
	return mdeploy__path_join(mdeploy_pipeline_project_dir(p), rel);
}

static char *subst(const char *text, json_t *ns, struct result *res)
{
	char *out = NULL;
	if (text && mdeploy_pipeline_substitute(&out, text, mdeploy_pipeline__lookup, ns)) {
		fail(res, "variable missing", "%s", mdeploy_error_last()->message);
		return NULL;
	}
	return out;
}

/*
 * source: the release of mdeploy.yml's lock (made when missing), or core
 * at `ref`, exported as the output artifact.
 */
static void run_source(mdeploy_ctx *ctx, const mdeploy_pipeline *p, const mdeploy_pipeline_action *a,
                       const char *dir, json_t *ns, struct result *res)
{
	mdeploy_ctx_options co = MDEPLOY_CTX_OPTIONS_INIT;
	mdeploy_ctx *sctx = NULL;
	mdeploy_source *src = NULL;
	mdeploy_release *rel = NULL;
	char *cfg_rel = NULL, *cfg = NULL, *ref = NULL, *work = mdeploy__path_join(dir, "work"), *out = NULL;
	json_t *man = NULL;
	const char *commit, *core_ref;

	if (!work || (a->config && !(cfg_rel = subst(a->config, ns, res))) || (a->ref && !(ref = subst(a->ref, ns, res))))
		goto done;
	if (ref && !*ref) {
		/* An empty ref (an unset variable's default) means the lock. */
		free(ref);
		ref = NULL;
	}
	if (!(cfg = project_path(p, cfg_rel ? cfg_rel : "mdeploy.yml")))
		goto done;
	co.state_dir = mdeploy_ctx_state_dir(ctx);
	co.config_path = cfg;
	if (mdeploy_ctx_new(&sctx, &co) || mdeploy_source_open(&src, sctx, NULL)) {
		fail(res, "source failed", "%s", mdeploy_error_last()->message);
		goto done;
	}
	if (ref) {
		if (mdeploy_source_fetch(src, 0) || mdeploy_release_open_core_rev(&rel, src, ref)) {
			fail(res, "source failed", "%s", mdeploy_error_last()->message);
			goto done;
		}
	} else if (mdeploy__path_exists(mdeploy_source_lock_path(src))
	           ? mdeploy_source_fetch(src, MDEPLOY_SOURCE_LOCKED) : mdeploy_source_lock(src)) {
		fail(res, "source failed", "%s", mdeploy_error_last()->message);
		goto done;
	} else if (mdeploy_source_assemble(&rel, src)) {
		fail(res, "source failed", "%s", mdeploy_error_last()->message);
		goto done;
	}
	mdeploy__rm_rf(work);
	if (mdeploy__mkdir_p(work, 0755) || !(out = mdeploy__path_join(work, a->outputs[0])) ||
	    mdeploy_release_export(rel, out)) {
		fail(res, "export failed", "%s", mdeploy_error_last()->message);
		goto done;
	}
	if (collect_outputs(ctx, p, a, work, res))
		goto done;
	man = json_loads(mdeploy_release_manifest(rel), 0, NULL);
	commit = json_string_value(json_object_get(json_object_get(man, "core"), "commit"));
	core_ref = json_string_value(json_object_get(json_object_get(man, "core"), "ref"));
	res->vars = json_pack("{s:s, s:s, s:s}", "commit", commit ? commit : "", "ref",
	                      ref ? ref : core_ref ? core_ref : "", "revision",
	                      json_string_value(json_object_get(res->artifacts, a->outputs[0])));
	res->status = "Succeeded";
	res->summary = mdeploy__sprintf("core %.12s%s%s", commit ? commit : "?", ref ? " at " : " (locked)",
	                                ref ? ref : "");
done:
	json_decref(man);
	mdeploy_release_free(rel);
	mdeploy_source_free(src);
	mdeploy_ctx_free(sctx);
	free(cfg_rel);
	free(cfg);
	free(ref);
	free(work);
	free(out);
}

/*
 * build: the buildspec of the first input (when it has one) run by the
 * build module, its artifacts bundled into the output; without a
 * buildspec, the input tree itself as a reproducible bundle. Signed with
 * `key` when given.
 */
static void run_build(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_pipeline *p,
                      const mdeploy_pipeline_action *a, const char *id, const char *dir, json_t *ns,
                      struct result *res)
{
	mdeploy_build_options bo = MDEPLOY_BUILD_OPTIONS_INIT;
	mdeploy_bundle_create_options o = MDEPLOY_BUNDLE_CREATE_OPTIONS_INIT;
	mdeploy_build_result *br = NULL;
	char *work = mdeploy__path_join(dir, "work"), *src = NULL, *spec = NULL, *outdir = NULL;
	char *key_rel = NULL, *key = NULL, *spec_rel = NULL, *log = NULL, *bundle = NULL, *build_id = NULL;
	char *env[2] = { mdeploy__sprintf("MDEPLOY_PROJECT_DIR=%s", mdeploy_pipeline_project_dir(p)), NULL };
	const char *digest;

	if (!work || (a->key && !(key_rel = subst(a->key, ns, res))) ||
	    (a->buildspec && !(spec_rel = subst(a->buildspec, ns, res))))
		goto done;
	if (key_rel && !(key = project_path(p, key_rel)))
		goto done;
	if (prepare_dirs(ctx, store, a, id, work, res))
		goto done;
	src = mdeploy__path_join(work, a->inputs[0]);
	spec = mdeploy__sprintf("%s/%s", src ? src : "", spec_rel ? spec_rel : "buildspec.yml");
	outdir = mdeploy__path_join(work, a->outputs[0]);
	log = mdeploy__path_join(dir, "build.log");
	build_id = mdeploy__sprintf("%s:%s", mdeploy_pipeline_name(p), id);
	if (!src || !spec || !outdir || !log || !build_id || !env[0])
		goto done;
	/* A buildspec named in the definition may live in the project instead. */
	if (spec_rel && !mdeploy__path_exists(spec)) {
		char *alt = project_path(p, spec_rel);
		if (alt && mdeploy__path_exists(alt)) {
			free(spec);
			spec = alt;
		} else {
			free(alt);
			fail(res, "no buildspec", "buildspec '%s' is neither in input '%s' nor in %s", spec_rel,
			     a->inputs[0], mdeploy_pipeline_project_dir(p));
			goto done;
		}
	}
	if (mdeploy__path_exists(spec)) {
		bo.env = (const char *const *)env;
		bo.src_dir = src;
		bo.buildspec = spec;
		bo.build_id = build_id;
		bo.resolved_source_version = json_string_value(json_object_get(json_object_get(ns, "pipeline"),
		                                                               "execution_id"));
		bo.log_path = log;
		bo.artifacts_dir = outdir;
		bo.signing_key = key;
		if (mdeploy_build_run(&br, ctx, &bo)) {
			fail(res, "build failed", "%s", mdeploy_error_last()->message);
			goto done;
		}
		if (mdeploy_build_result_status(br) != MDEPLOY_BUILD_SUCCEEDED) {
			fail(res, mdeploy_build_result_status(br) == MDEPLOY_BUILD_TIMED_OUT ? "timed out" : "build failed",
			     "build %s: %s (see %s)", mdeploy_build_status_name(mdeploy_build_result_status(br)),
			     mdeploy_build_result_reason(br) ? mdeploy_build_result_reason(br) : "failed", log);
			goto done;
		}
	} else {
		if (!(bundle = mdeploy__path_join(outdir, "bundle.tar.zst")))
			goto done;
		o.signing_key = key;
		o.build_id = build_id;
		o.builder = "mdeploy pipeline";
		if (mdeploy_bundle_create(bundle, src, &o)) {
			fail(res, "bundle failed", "%s", mdeploy_error_last()->message);
			goto done;
		}
	}
	if (collect_outputs(ctx, p, a, work, res))
		goto done;
	digest = json_string_value(json_object_get(res->artifacts, a->outputs[0]));
	res->vars = json_pack("{s:s, s:s}", "bundle_id", build_id, "bundle_digest", digest ? digest : "");
	res->status = "Succeeded";
	res->summary = mdeploy__sprintf("%s%s", br ? "buildspec ran, artifacts bundled" : "tree bundled",
	                                key ? " and signed" : "");
done:
	mdeploy_build_result_free(br);
	free(work);
	free(src);
	free(spec);
	free(outdir);
	free(key_rel);
	free(key);
	free(spec_rel);
	free(log);
	free(bundle);
	free(build_id);
	free(env[0]);
}

/* The bundle in a deploy action's input: primary.*, bundle.*, else the only file. */
static char *find_bundle(const char *dir)
{
	static const char *const names[] = { "primary.tar.zst", "bundle.tar.zst", "primary.tgz", "primary.zip",
	                                     "primary.tar", NULL };
	size_t i;
	DIR *d;
	struct dirent *e;
	char *only = NULL;
	int n = 0;
	for (i = 0; names[i]; i++) {
		char *p = mdeploy__path_join(dir, names[i]);
		if (p && mdeploy__path_exists(p))
			return p;
		free(p);
	}
	if (!(d = opendir(dir)))
		return NULL;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (n++ == 0)
			only = mdeploy__path_join(dir, e->d_name);
	}
	closedir(d);
	if (n != 1) {
		free(only);
		return NULL;
	}
	return only;
}

struct open_deploy {
	int64_t since;   /* unix seconds */
	char id[32];
};

static int find_open_deploy(const mdeploy_deployment_record *rec, void *payload)
{
	struct open_deploy *o = payload;
	if (rec->created_at >= o->since && !mdeploy_deployment_status_is_final(rec->status) && rec->id)
		snprintf(o->id, sizeof(o->id), "%s", rec->id);
	return 1; /* the newest only */
}

/*
 * deploy: the input's bundle to `group` through the deploy orchestrator.
 * Run again after the worker died, it resumes the deployment it had
 * started (from the deployment journal) instead of starting another.
 */
static void run_deploy(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_pipeline *p,
                       const mdeploy_pipeline_action *a, const char *id, size_t idx, const char *dir,
                       json_t *ns, struct result *res)
{
	mdeploy_deploy_options o = MDEPLOY_DEPLOY_OPTIONS_INIT;
	mdeploy_ctx_options co = MDEPLOY_CTX_OPTIONS_INIT;
	mdeploy_config *cfg = NULL;
	mdeploy_ctx *dctx = NULL;
	char *cfg_rel = NULL, *cfgpath = NULL, *group = NULL, *key_rel = NULL, *key = NULL, *bundle = NULL, *in = NULL;
	char *work = mdeploy__path_join(dir, "work");
	const char *keys[2] = { NULL, NULL };
	char did[32] = "", by[160];
	struct open_deploy od;
	sqlite3_stmt *st;
	int rc;

	memset(&od, 0, sizeof(od));
	if (!work || (a->config && !(cfg_rel = subst(a->config, ns, res))) || !(group = subst(a->group, ns, res)) ||
	    (a->key && !(key_rel = subst(a->key, ns, res))))
		goto done;
	if (!(cfgpath = project_path(p, cfg_rel ? cfg_rel : "mdeploy.yml")) || (key_rel && !(key = project_path(p, key_rel))))
		goto done;
	if (a->strategy) {
		fail(res, "not supported", "strategy '%s': a deployment's strategy comes from its group in "
		     "mdeploy.yml; remove it from the action", a->strategy);
		goto done;
	}
	if (mdeploy_config_load(&cfg, cfgpath, NULL)) {
		fail(res, "config failed", "%s", mdeploy_error_last()->message);
		goto done;
	}
	co.state_dir = mdeploy_ctx_state_dir(ctx);
	co.config_path = cfgpath;
	if (mdeploy_ctx_new(&dctx, &co)) {
		fail(res, "deploy failed", "%s", mdeploy_error_last()->message);
		goto done;
	}
	if (key) {
		keys[0] = key;
		o.trusted_keys = keys;
	}
	o.group = group;
	o.lock_wait_ms = 600000;
	/* The deployment record says the pipeline asked, and which execution. */
	snprintf(by, sizeof(by), "pipeline:%s/%s", mdeploy_pipeline_name(p), id);
	o.by = by;
	/* A deployment this action started before its worker died? */
	if ((st = mdeploy_store__prepare(store, "SELECT started_at, attempt FROM pipeline_actions"
	                                 " WHERE execution_id = ? AND idx = ?"))) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)idx);
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 1) > 1) {
			json_t *prev = NULL;
			sqlite3_finalize(st);
			/* The first attempt's start is not kept: look back to the execution's start. */
			st = mdeploy_store__prepare(store, "SELECT created_at FROM pipeline_executions WHERE id = ?");
			if (st) {
				sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
				if (sqlite3_step(st) == SQLITE_ROW)
					od.since = sqlite3_column_int64(st, 0) / 1000;
			}
			json_decref(prev);
			if (od.since)
				mdeploy_store_deployment_foreach(store, mdeploy_config_application_name(cfg), group, 1,
				                                 find_open_deploy, &od);
		}
		sqlite3_finalize(st);
	}
	if (od.id[0]) {
		snprintf(did, sizeof(did), "%s", od.id);
		rc = mdeploy_deploy_resume(dctx, cfg, od.id, &o);
	} else {
		if (prepare_dirs(ctx, store, a, id, work, res))
			goto done;
		if (!(in = mdeploy__path_join(work, a->inputs[0])) || !(bundle = find_bundle(in))) {
			fail(res, "no bundle", "input artifact '%s' holds no bundle (primary.tar.zst, bundle.tar.zst "
			     "or a single file)", a->inputs[0]);
			goto done;
		}
		o.bundle = bundle;
		rc = mdeploy_deploy_create(dctx, cfg, &o, did);
	}
	if (rc) {
		fail(res, rc == MDEPLOY_EHOOK ? "rolled back" : "deploy failed", "%s%s%s", did[0] ? did : "",
		     did[0] ? ": " : "", mdeploy_error_last()->message);
		if (did[0])
			res->vars = json_pack("{s:s}", "deployment_id", did);
		goto done;
	}
	res->vars = json_pack("{s:s}", "deployment_id", did);
	res->status = "Succeeded";
	res->summary = mdeploy__sprintf("deployment %s to %s%s", did, group, od.id[0] ? " (resumed)" : "");
done:
	mdeploy_config_free(cfg);
	mdeploy_ctx_free(dctx);
	free(cfg_rel);
	free(cfgpath);
	free(group);
	free(key_rel);
	free(key);
	free(bundle);
	free(in);
	free(work);
}

void mdeploy_pipeline__worker(mdeploy_ctx *ctx, const mdeploy_pipeline *p, const char *id, size_t idx)
{
	const mdeploy_pipeline_action *a = &p->actions[idx];
	struct result res;
	mdeploy_store *store = NULL;
	mdeploy_store_options so = MDEPLOY_STORE_OPTIONS_INIT;
	sqlite3_stmt *st;
	char *dir = NULL, *log_path = NULL;
	int64_t deadline = 0;
	json_t *ns = NULL;
	struct sigaction sa;

	memset(&res, 0, sizeof(res));
	setpgid(0, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	/* The worker may outlive its runner and the terminal it logged to. */
	ctx->log_cb = NULL;
	ctx->progress_cb = NULL;
	so.busy_timeout_ms = 60000;
	if (mdeploy_store_open(&store, ctx, &so) != 0)
		_exit(2);
	if ((st = mdeploy_store__prepare(store, "UPDATE pipeline_actions SET worker_pid = ?1, worker_start = ?2"
	                                 " WHERE execution_id = ?3 AND idx = ?4 AND status = 'InProgress'"))) {
		sqlite3_bind_int64(st, 1, (sqlite3_int64)getpid());
		sqlite3_bind_int64(st, 2, (sqlite3_int64)mdeploy_store__pid_start(getpid()));
		sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)idx);
		sqlite3_step(st);
		sqlite3_finalize(st);
	}
	if ((st = mdeploy_store__prepare(store, "SELECT deadline FROM pipeline_actions WHERE execution_id = ? AND idx = ?"))) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)idx);
		if (sqlite3_step(st) == SQLITE_ROW)
			deadline = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	dir = mdeploy__sprintf("%s/pipelines/%s/%zu", mdeploy_ctx_state_dir(ctx), id, idx);
	log_path = mdeploy__sprintf("%s/output.log", dir ? dir : "");
	ns = mdeploy_pipeline__namespaces(store, p, id);
	if (!dir || !log_path || !ns || mdeploy__mkdir_p(dir, 0700) != 0) {
		fail(&res, "setup failed", "cannot prepare %s", dir ? dir : "the action directory");
	} else {
		switch (a->type) {
		case MDEPLOY_PIPELINE_ACTION_SHELL:
			run_shell(ctx, store, p, a, id, dir, log_path, deadline, ns, &res);
			break;
		case MDEPLOY_PIPELINE_ACTION_BUILD:
			run_build(ctx, store, p, a, id, dir, ns, &res);
			break;
		case MDEPLOY_PIPELINE_ACTION_SOURCE:
			run_source(ctx, p, a, dir, ns, &res);
			break;
		case MDEPLOY_PIPELINE_ACTION_DEPLOY:
			run_deploy(ctx, store, p, a, id, idx, dir, ns, &res);
			break;
		default:
			fail(&res, "not available", "action type %d does not run in a worker", (int)a->type);
			break;
		}
	}
	if (!res.status)
		fail(&res, "failed", "%s", mdeploy_error_last()->message);
	record(store, id, idx, &res, a->type == MDEPLOY_PIPELINE_ACTION_SHELL ? log_path : NULL);
	/* No cleanup: _exit leaves the parent's copies (and its SQLite handle) alone. */
	_exit(0);
}
