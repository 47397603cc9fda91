/*
 * lifecycle.c - lifecycle events in CodeDeploy's order, hook scripts, the
 * in-progress deployment record, failure handling and rollback. The
 * deployment log and what hooks print to it: output.c.
 */
#include "agent_private.h"
#include "mdeploy/exec.h"
#include "mdeploy/bundle.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define TAIL_LINES 10

enum event_kind {
	EV_OLD_REVISION,  /* scripts of the last successful revision */
	EV_NEW_REVISION,  /* scripts of this deployment's revision */
	EV_DOWNLOAD,
	EV_INSTALL,
	EV_LOAD_BALANCER  /* the orchestrator's, not ours */
};

static const struct {
	const char *name;
	enum event_kind kind;
} events[] = {
	{ "BeforeBlockTraffic", EV_OLD_REVISION },
	{ "BlockTraffic", EV_LOAD_BALANCER },
	{ "AfterBlockTraffic", EV_OLD_REVISION },
	{ "ApplicationStop", EV_OLD_REVISION },
	{ "DownloadBundle", EV_DOWNLOAD },
	{ "BeforeInstall", EV_NEW_REVISION },
	{ "Install", EV_INSTALL },
	{ "AfterInstall", EV_NEW_REVISION },
	{ "ApplicationStart", EV_NEW_REVISION },
	{ "ValidateService", EV_NEW_REVISION },
	{ "BeforeAllowTraffic", EV_NEW_REVISION },
	{ "AllowTraffic", EV_LOAD_BALANCER },
	{ "AfterAllowTraffic", EV_NEW_REVISION },
};

static int event_kind(const char *name, enum event_kind *kind)
{
	size_t i;
	for (i = 0; i < MDEPLOY__ARRAY_SIZE(events); i++)
		if (!strcmp(events[i].name, name)) {
			*kind = events[i].kind;
			return 1;
		}
	return 0;
}

struct run {
	mdeploy_agent *a;
	const mdeploy_agent_deployment *d;
	int logfd;
};

static int add_env(char ***list, size_t *n, const char *key, const char *value)
{
	char *e, **nl;
	if (!value)
		value = "";
	if (!(e = mdeploy__sprintf("%s=%s", key, value)))
		return MDEPLOY_ENOMEM;
	if (!(nl = realloc(*list, (*n + 2) * sizeof(*nl)))) {
		free(e);
		return mdeploy__error_oom();
	}
	nl[(*n)++] = e;
	nl[*n] = NULL;
	*list = nl;
	return 0;
}

static void free_list(char **list)
{
	size_t i;
	for (i = 0; list && list[i]; i++)
		free(list[i]);
	free(list);
}

/* environ, minus what we set, plus what we set. */
static char **build_env(struct run *r, const char *event, const char *release_dir, const char *runas)
{
	const mdeploy_agent_deployment *d = r->d;
	char **over = NULL, **env = NULL;
	size_t n = 0, i, j, k = 0, base = 0;
	int rc = 0;

	rc = add_env(&over, &n, "LIFECYCLE_EVENT", event);
	if (!rc) rc = add_env(&over, &n, "DEPLOYMENT_ID", d->deployment_id);
	if (!rc) rc = add_env(&over, &n, "APPLICATION_NAME", d->application_name);
	if (!rc) rc = add_env(&over, &n, "DEPLOYMENT_GROUP_NAME", d->deployment_group_name);
	if (!rc) rc = add_env(&over, &n, "DEPLOYMENT_GROUP_ID", d->deployment_group_id);
	if (!rc) rc = add_env(&over, &n, "MDEPLOY_INSTANCE_ID", d->instance_id);
	if (!rc) rc = add_env(&over, &n, "MDEPLOY_INSTANCE_ADDR", d->instance_addr);
	if (!rc) rc = add_env(&over, &n, "MDEPLOY_RELEASE_DIR", release_dir);
	if (!rc) rc = add_env(&over, &n, "MDEPLOY_SHARED_DIR", r->a->shared_dir);
	if (!rc) rc = add_env(&over, &n, "MDEPLOY_ROOT", r->a->root);
	/* A login PATH for another user: not the agent's, which may hold root-only tools. */
	if (!rc && runas)
		rc = add_env(&over, &n, "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	for (i = 0; !rc && d->env && d->env[i]; i++) {
		const char *eq = strchr(d->env[i], '=');
		char *key;
		if (!eq || eq == d->env[i])
			continue;
		if (!(key = mdeploy__sprintf("%.*s", (int)(eq - d->env[i]), d->env[i]))) {
			rc = MDEPLOY_ENOMEM;
			break;
		}
		rc = add_env(&over, &n, key, eq + 1);
		free(key);
	}
	if (rc) {
		free_list(over);
		return NULL;
	}
	while (environ[base])
		base++;
	if (!(env = calloc(base + n + 1, sizeof(*env)))) {
		free_list(over);
		mdeploy__error_oom();
		return NULL;
	}
	for (i = 0; i < base; i++) {
		const char *eq = strchr(environ[i], '=');
		size_t kl = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
		int replaced = 0;
		for (j = 0; j < n && !replaced; j++)
			replaced = !strncmp(over[j], environ[i], kl) && over[j][kl] == '=';
		if (!replaced && !(env[k++] = strdup(environ[i]))) {
			free_list(env);
			free_list(over);
			mdeploy__error_oom();
			return NULL;
		}
	}
	for (j = 0; j < n; j++)
		env[k++] = over[j];
	free(over);
	return env;
}

static int run_script(struct run *r, const mdeploy_appspec *spec, const char *event, const char *release_dir,
                      const mdeploy_appspec_hook *h)
{
	mdeploy_exec_options o = MDEPLOY_EXEC_OPTIONS_INIT;
	mdeploy_exec_result *res = NULL;
	mdeploy_agent__output ls;
	const char *loc = h->location;
	char *script = NULL, **env = NULL;
	const char *argv[2];
	struct stat st;
	int rc;

	while (*loc == '/')
		loc++;
	if (!strcmp(loc, "..") || !strncmp(loc, "../", 3) || strstr(loc, "/../") ||
	    (strlen(loc) >= 3 && !strcmp(loc + strlen(loc) - 3, "/..")))
		return mdeploy__error_set(MDEPLOY_EHOOK, MDEPLOY_ERROR_CLASS_AGENT,
		                          "%s: %s:%d: script '%s' points outside the revision",
		                          event, mdeploy_appspec_name(spec), h->line, h->location);
	if (!(script = mdeploy__path_join(release_dir, loc)))
		return MDEPLOY_ENOMEM;
	if (stat(script, &st) < 0 || !S_ISREG(st.st_mode)) {
		rc = mdeploy__error_set(MDEPLOY_EHOOK, MDEPLOY_ERROR_CLASS_AGENT,
		                        "%s: %s:%d: script '%s' does not exist in the revision",
		                        event, mdeploy_appspec_name(spec), h->line, h->location);
		free(script);
		return rc;
	}
	{
		/* Through a symlink the script could be any program on the host: refused, as bundle create does. */
		char *real = realpath(script, NULL), *root = realpath(release_dir, NULL);
		size_t n = root ? strlen(root) : 0;
		int inside = real && root && !strncmp(real, root, n) && real[n] == '/';
		if (!inside)
			rc = mdeploy__error_set(MDEPLOY_EHOOK, MDEPLOY_ERROR_CLASS_AGENT,
			                        "%s: %s:%d: script '%s' is reached through a symbolic link leaving the "
			                        "revision (resolves to '%s')", event, mdeploy_appspec_name(spec), h->line,
			                        h->location, real ? real : "?");
		free(real);
		free(root);
		if (!inside) {
			free(script);
			return rc;
		}
	}
	if ((st.st_mode & 0111) != 0111) {
		/* CodeDeploy makes scripts executable too; bundles from zip often lose the bit. */
		mdeploy_agent__log_line(r->logfd, "Script %s is not executable; making it so", h->location);
		chmod(script, (st.st_mode & 07777) | 0111);
	}
	if (!(env = build_env(r, event, release_dir, h->runas))) {
		free(script);
		return MDEPLOY_ENOMEM;
	}
	argv[0] = script;
	argv[1] = NULL;
	o.cwd = release_dir;
	o.env = (const char *const *)env;
	o.timeout_ms = h->timeout * 1000u;
	o.kill_grace_ms = r->a->kill_grace_ms;
	o.drain_ms = r->a->drain_ms;
	o.merge_stderr = 1;
	o.capture_max = 16384;
	o.output_cb = mdeploy_agent__output_cb;
	memset(&ls, 0, sizeof(ls));
	ls.fd = r->logfd;
	ls.mask = r->d->version >= 3 ? r->d->mask : NULL;
	o.payload = &ls;
	o.user = h->runas;

	mdeploy_agent__log_line(r->logfd, "Script - %s%s%s", h->location, h->runas ? " as " : "", h->runas ? h->runas : "");
	mdeploy__log(r->a->ctx, MDEPLOY_LOG_INFO, "agent", "%s: %s", event, h->location);
	rc = mdeploy_exec_run(&res, argv, &o);
	mdeploy_agent__output_end(&ls);
	if (rc) {
		mdeploy__error_prefix("%s: script '%s'", event, h->location);
		mdeploy_agent__log_line(r->logfd, "Script %s could not run: %s", h->location, mdeploy_error_last()->message);
		rc = MDEPLOY_EHOOK;
		mdeploy__error_set(rc, MDEPLOY_ERROR_CLASS_AGENT, "%s", mdeploy_error_last()->message);
	} else if (!mdeploy_exec_result_success(res)) {
		mdeploy__buf msg = MDEPLOY__BUF_INIT;
		mdeploy__buf_printf(&msg, "%s: script '%s' %s (log: %s/%s.log)", event, h->location,
		                    mdeploy_exec_result_describe(res), r->a->logs_dir, r->d->deployment_id);
		if (*mdeploy_exec_result_stdout(res, NULL)) {
			char *out = mdeploy_agent__mask(ls.mask, mdeploy_exec_result_stdout(res, NULL));
			mdeploy__buf_printf(&msg, "; last lines of output:");
			if (out)
				mdeploy__ansi_strip(NULL, out, strlen(out));
			mdeploy_agent__tail_lines(&msg, out ? out : "", TAIL_LINES);
			free(out);
		}
		mdeploy_agent__log_line(r->logfd, "Script %s failed: %s", h->location, mdeploy_exec_result_describe(res));
		rc = mdeploy__error_set(MDEPLOY_EHOOK, MDEPLOY_ERROR_CLASS_AGENT, "%s", mdeploy__buf_cstr(&msg));
		mdeploy__buf_dispose(&msg);
	} else {
		if (mdeploy_exec_result_pipes_abandoned(res))
			mdeploy_agent__log_line(r->logfd, "Script %s left a background process holding its output; not waiting for it",
			         h->location);
		mdeploy_agent__log_line(r->logfd, "Script %s succeeded in %llu ms", h->location,
		         (unsigned long long)mdeploy_exec_result_duration_ms(res));
	}
	mdeploy_exec_result_free(res);
	free_list(env);
	free(script);
	return rc;
}

static int run_hooks(struct run *r, const char *event, const char *release_dir)
{
	mdeploy_appspec *spec = NULL;
	size_t i, n;
	int rc;

	if ((rc = mdeploy_appspec_load(&spec, release_dir)) != 0) {
		mdeploy__error_prefix("%s", event);
		return rc;
	}
	n = mdeploy_appspec_hook_count(spec, event);
	mdeploy_agent__log_line(r->logfd, "LifecycleEvent - %s (%zu script%s)", event, n, n == 1 ? "" : "s");
	for (i = 0, rc = 0; !rc && i < n; i++) {
		const mdeploy_appspec_hook *h = mdeploy_appspec_hook_at(spec, event, i);
		if (h->scope_once && !r->d->run_once_hooks) {
			mdeploy_agent__log_line(r->logfd, "Script - %s skipped (scope: once runs on another instance)", h->location);
			continue;
		}
		if (!h->scope_once && r->d->version >= 2 && r->d->once_hooks_only) {
			mdeploy_agent__log_line(r->logfd, "Script - %s skipped (ran when the release was installed)", h->location);
			continue;
		}
		rc = run_script(r, spec, event, release_dir, h);
	}
	mdeploy_appspec_free(spec);
	return rc;
}

static json_t *pending(mdeploy_agent *a)
{
	json_t *p = json_object_get(a->state, "pending");
	return json_is_object(p) ? p : NULL;
}

static int stage_release(mdeploy_agent *a, const char *source, const char *id)
{
	char *dir = mdeploy_agent__release_dir(a, id);
	char *staging = mdeploy__sprintf("%s/.staging-%s", a->releases_dir, id);
	int rc = 0;

	if (!dir || !staging) {
		rc = MDEPLOY_ENOMEM;
		goto out;
	}
	if ((rc = mdeploy__rm_rf(staging)) != 0 || (rc = mdeploy__rm_rf(dir)) != 0)
		goto out;
	if (mdeploy__is_dir(source)) {
		rc = mdeploy_agent__copy_tree(source, staging);
	} else {
		mdeploy_bundle_extract_options xo = MDEPLOY_BUNDLE_EXTRACT_OPTIONS_INIT;
		xo.trusted_keys = a->trusted_keys;
		xo.require_manifest = a->trusted_keys != NULL;
		/* A release keeps its manifest: it says which build it holds. */
		xo.keep_manifest = 1;
		/* Safe extraction (no escapes, bombs, devices), into a temp dir renamed at the end. */
		rc = mdeploy_bundle_extract(source, staging, &xo);
	}
	if (rc) {
		mdeploy__error_prefix("DownloadBundle");
		mdeploy__rm_rf(staging);
		goto out;
	}
	/* Whole or not at all: a crash before this leaves only a .staging- dir to sweep. */
	if (rename(staging, dir) < 0) {
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_AGENT, "DownloadBundle: cannot rename '%s'", staging);
		mdeploy__rm_rf(staging);
		goto out;
	}
	{
		json_t *order = json_object_get(a->state, "releases"), *v;
		size_t i;
		json_array_foreach(order, i, v)
			if (json_is_string(v) && !strcmp(json_string_value(v), id))
				break;
		if (i == json_array_size(order))
			json_array_append_new(order, json_string(id));
	}
	rc = mdeploy_agent__save(a);
out:
	free(dir);
	free(staging);
	return rc;
}

static int do_install(mdeploy_agent *a, const char *id)
{
	mdeploy_appspec *spec = NULL;
	char *dir = mdeploy_agent__release_dir(a, id);
	json_t *p = pending(a);
	int rc;

	if (!dir)
		return MDEPLOY_ENOMEM;
	if ((rc = mdeploy_appspec_load(&spec, dir)) != 0)
		goto out;
	if ((rc = mdeploy_agent__install_files(a, spec, dir, id, 0)) != 0 ||
	    (rc = mdeploy_agent__apply_permissions(a, spec, dir)) != 0) {
		mdeploy__error_prefix("Install");
		goto out;
	}
	/* Journal first: a crash after the switch is then known and undone. */
	if (p)
		json_object_set_new(p, "switched", json_true());
	if ((rc = mdeploy_agent__save(a)) != 0 || (rc = mdeploy_agent__switch(a, id)) != 0)
		goto out;
out:
	mdeploy_appspec_free(spec);
	free(dir);
	return rc;
}

/* One event of deployment d->deployment_id. */
static int do_event(struct run *r, const char *event, enum event_kind kind, const char *source)
{
	mdeploy_agent *a = r->a;
	const char *id = r->d->deployment_id;
	char *dir = NULL;
	int rc = 0;
	json_t *p = pending(a);

	if (p) {
		mdeploy_agent__set_str(p, "event", event);
		if ((rc = mdeploy_agent__save(a)) != 0)
			return rc;
	}
	mdeploy_agent__history(a, id, NULL, event, NULL);
	switch (kind) {
	case EV_OLD_REVISION: {
		const char *last = mdeploy_agent__str(a->state, "last_successful");
		if (!last || !(dir = mdeploy_agent__release_dir(a, last)) || !mdeploy__is_dir(dir)) {
			mdeploy_agent__log_line(r->logfd, "LifecycleEvent - %s skipped: no successful revision on this instance yet", event);
			break;
		}
		rc = run_hooks(r, event, dir);
		if (rc && !strcmp(event, "ApplicationStop") && r->d->ignore_application_stop_failures) {
			mdeploy_agent__log_line(r->logfd, "ApplicationStop failed and is ignored: %s", mdeploy_error_last()->message);
			mdeploy__log(a->ctx, MDEPLOY_LOG_WARN, "agent", "ignoring: %s", mdeploy_error_last()->message);
			rc = 0;
		}
		break;
	}
	case EV_DOWNLOAD:
		mdeploy_agent__log_line(r->logfd, "LifecycleEvent - DownloadBundle from %s", source);
		rc = stage_release(a, source, id);
		break;
	case EV_INSTALL:
		mdeploy_agent__log_line(r->logfd, "LifecycleEvent - Install");
		rc = do_install(a, id);
		break;
	case EV_NEW_REVISION:
		if (!(dir = mdeploy_agent__release_dir(a, id)))
			return MDEPLOY_ENOMEM;
		if (!mdeploy__is_dir(dir)) {
			rc = mdeploy__error_set(MDEPLOY_ECONFLICT, MDEPLOY_ERROR_CLASS_AGENT,
			                        "%s: deployment %s has no release here; run DownloadBundle first", event, id);
			break;
		}
		rc = run_hooks(r, event, dir);
		break;
	case EV_LOAD_BALANCER:
		rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_AGENT,
		                        "%s is done by the load balancer, not the agent", event);
		break;
	}
	free(dir);
	return rc;
}

/* Bring the previous files-section install back after a failed Install. */
static void restore_files(mdeploy_agent *a, const char *prev_id)
{
	mdeploy_appspec *spec = NULL;
	char *dir = prev_id ? mdeploy_agent__release_dir(a, prev_id) : NULL;
	if (dir && mdeploy_appspec_load(&spec, dir) == 0 && mdeploy_appspec_file_count(spec) > 0)
		if (mdeploy_agent__install_files(a, spec, dir, prev_id, 1) != 0)
			mdeploy__log(a->ctx, MDEPLOY_LOG_WARN, "agent", "cannot restore the files of %s: %s", prev_id,
			             mdeploy_error_last()->message);
	mdeploy_appspec_free(spec);
	free(dir);
}

/* Did the failed deployment get as far as starting its application? */
static int started_app(const char *event)
{
	return !strcmp(event, "ApplicationStart") || !strcmp(event, "ValidateService") ||
	       !strcmp(event, "BeforeAllowTraffic") || !strcmp(event, "AfterAllowTraffic");
}

/*
 * The failed revision's ApplicationStart has run (reloading PHP, starting
 * workers): start the previous release again so what serves is what
 * `current` says. Best effort; `scope: once` scripts are not repeated.
 */
static void restart_previous(struct run *r, const char *prev)
{
	mdeploy_agent_deployment d = *r->d;
	struct run rr = { r->a, &d, r->logfd };
	char *dir = mdeploy_agent__release_dir(r->a, prev);
	d.run_once_hooks = 0;
	mdeploy_agent__log_line(r->logfd, "Starting %s again (its ApplicationStart scripts)", prev);
	if (dir && run_hooks(&rr, "ApplicationStart", dir) != 0)
		mdeploy_agent__log_line(r->logfd, "Starting %s again failed: %s", prev, mdeploy_error_last()->message);
	free(dir);
}

/* The deployment failed at `event`: previous release live again, history, no pending. */
static int fail_deployment(struct run *r, const char *event, int code)
{
	mdeploy_agent *a = r->a;
	const char *id = r->d->deployment_id;
	char *msg = mdeploy__strdup(mdeploy_error_last()->message);
	json_t *p = pending(a);
	char *prev = p ? mdeploy__strdup(mdeploy_agent__str(p, "previous_live")) : NULL;
	char *live = mdeploy_agent__read_live(a);
	int klass = mdeploy_error_last()->klass;

	if (live && !strcmp(live, id)) {
		if (mdeploy_agent__switch(a, prev) == 0) {
			mdeploy_agent__log_line(r->logfd, "Deployment failed; %s is live again", prev ? prev : "no release");
			restore_files(a, prev);
			if (prev && started_app(event))
				restart_previous(r, prev);
		}
	}
	mdeploy_agent__log_line(r->logfd, "Deployment %s failed at %s: %s", id, event, msg ? msg : "");
	mdeploy_agent__history(a, id, "Failed", event, msg);
	mdeploy_agent__set_str(a->state, "pending", NULL);
	mdeploy_agent__save(a);
	mdeploy__error_set(code, klass, "%s", msg ? msg : "deployment failed");
	free(msg);
	free(prev);
	free(live);
	return code;
}

static int succeed(struct run *r, const char *event)
{
	mdeploy_agent *a = r->a;
	const char *id = r->d->deployment_id;
	json_t *succ = json_object_get(a->state, "successes"), *v;
	size_t i;
	int rc;

	json_array_foreach(succ, i, v)
		if (json_is_string(v) && !strcmp(json_string_value(v), id)) {
			json_array_remove(succ, i);
			break;
		}
	json_array_append_new(succ, json_string(id));
	while (json_array_size(succ) > MDEPLOY_AGENT_HISTORY_MAX)
		json_array_remove(succ, 0);
	mdeploy_agent__set_str(a->state, "last_successful", id);
	mdeploy_agent__set_str(a->state, "pending", NULL);
	mdeploy_agent__history(a, id, "Succeeded", event, NULL);
	mdeploy_agent__log_line(r->logfd, "Deployment %s succeeded", id);
	if ((rc = mdeploy_agent__prune(a)) != 0)
		mdeploy__log(a->ctx, MDEPLOY_LOG_WARN, "agent", "cannot remove old releases: %s",
		             mdeploy_error_last()->message);
	return mdeploy_agent__save(a);
}

static int check_deployment(const mdeploy_agent_deployment *d)
{
	int rc;
	if (!d)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_AGENT, "no deployment given");
	if ((rc = mdeploy__options_check(d->version, MDEPLOY_AGENT_DEPLOYMENT_VERSION, "mdeploy_agent_deployment")) != 0)
		return rc;
	if (!mdeploy_agent__valid_id(d->deployment_id))
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_AGENT,
		                          "invalid deployment id '%s': use letters, digits, '.', '_' and '-' (at most 64)",
		                          d->deployment_id ? d->deployment_id : "");
	return 0;
}

/* Start the in-progress record of a deployment. */
static int begin(mdeploy_agent *a, const mdeploy_agent_deployment *d, const char *mode)
{
	char *live = mdeploy_agent__read_live(a);
	json_t *p;
	int rc;

	if (live && !strcmp(live, d->deployment_id)) {
		free(live);
		return mdeploy__error_set(MDEPLOY_ECONFLICT, MDEPLOY_ERROR_CLASS_AGENT,
		                          "deployment %s is already live in '%s'", d->deployment_id, a->root);
	}
	p = json_pack("{s:s, s:s, s:s?, s:I, s:I, s:b}", "deployment_id", d->deployment_id, "mode", mode,
	              "previous_live", live, "pid", (json_int_t)getpid(), "started", (json_int_t)time(NULL),
	              "switched", 0);
	free(live);
	if (!p)
		return mdeploy__error_oom();
	json_object_set_new(a->state, "pending", p);
	if ((rc = mdeploy_agent__history(a, d->deployment_id, "InProgress", NULL, NULL)) != 0)
		return rc;
	return mdeploy_agent__save(a);
}

static int finish(mdeploy_agent *a, int rc, struct run *r)
{
	if (r && r->logfd >= 0)
		close(r->logfd);
	mdeploy_agent__unlock(a);
	if (mdeploy_agent__build_status(a) != 0 && !rc)
		rc = mdeploy_error_last()->code;
	return rc;
}

int mdeploy_agent_install(mdeploy_agent *a, const char *source, const mdeploy_agent_deployment *d)
{
	static const char *const order[] = {
		"BeforeBlockTraffic", "AfterBlockTraffic", "ApplicationStop", "DownloadBundle", "BeforeInstall",
		"Install", "AfterInstall", "ApplicationStart", "ValidateService", "BeforeAllowTraffic",
		"AfterAllowTraffic"
	};
	struct run r = { a, d, -1 };
	mdeploy_appspec *spec = NULL;
	const char *last = NULL;
	size_t i;
	int rc;

	if (!a || !source)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_AGENT, "mdeploy_agent_install: no source");
	if ((rc = check_deployment(d)) != 0)
		return rc;
	/* Validate before touching anything. */
	if ((rc = mdeploy_appspec_load(&spec, source)) != 0)
		return rc;
	mdeploy_appspec_free(spec);
	if ((rc = mdeploy_agent__lock(a)) != 0)
		return rc;
	if ((rc = begin(a, d, "install")) != 0)
		return finish(a, rc, &r);
	r.logfd = mdeploy_agent__open_log(a, d->deployment_id);
	mdeploy_agent__log_line(r.logfd, "Deployment %s of %s on %s", d->deployment_id, source,
	         d->instance_id ? d->instance_id : "this instance");
	for (i = 0; i < MDEPLOY__ARRAY_SIZE(order); i++) {
		enum event_kind kind = EV_NEW_REVISION;
		if (!d->traffic_hooks && strstr(order[i], "Traffic"))
			continue;
		event_kind(order[i], &kind);
		last = order[i];
		if ((rc = do_event(&r, order[i], kind, source)) != 0) {
			rc = fail_deployment(&r, order[i], rc);
			return finish(a, rc, &r);
		}
	}
	rc = succeed(&r, last);
	return finish(a, rc, &r);
}

int mdeploy_agent_run_event(mdeploy_agent *a, const char *event, const char *source,
                            const mdeploy_agent_deployment *d)
{
	struct run r = { a, d, -1 };
	enum event_kind kind;
	json_t *p;
	int rc;

	if (!a || !event)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_AGENT, "mdeploy_agent_run_event: no event");
	if ((rc = check_deployment(d)) != 0)
		return rc;
	if (!event_kind(event, &kind))
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_AGENT,
		                          "unknown lifecycle event '%s'", event);
	if (kind == EV_LOAD_BALANCER)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_AGENT,
		                          "%s is done by the load balancer, not the agent", event);
	if (kind == EV_DOWNLOAD) {
		mdeploy_appspec *spec = NULL;
		if (!source)
			return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_AGENT,
			                          "DownloadBundle needs the bundle or directory to install");
		if ((rc = mdeploy_appspec_load(&spec, source)) != 0)
			return rc;
		mdeploy_appspec_free(spec);
	}
	if ((rc = mdeploy_agent__lock(a)) != 0)
		return rc;
	p = pending(a);
	if (p && strcmp(mdeploy_agent__str(p, "deployment_id") ? mdeploy_agent__str(p, "deployment_id") : "",
	                d->deployment_id)) {
		/* A newer deployment supersedes one the orchestrator abandoned. */
		char *msg = mdeploy__sprintf("superseded by deployment %s", d->deployment_id);
		mdeploy_agent__history(a, mdeploy_agent__str(p, "deployment_id"), "Interrupted",
		                       mdeploy_agent__str(p, "event"), msg);
		free(msg);
		mdeploy_agent__set_str(a->state, "pending", NULL);
		p = NULL;
	}
	r.logfd = mdeploy_agent__open_log(a, d->deployment_id);
	if (!p) {
		const char *last = mdeploy_agent__str(a->state, "last_successful");
		/* Traffic hooks after ValidateService belong to a finished deployment. */
		int after = (!strcmp(event, "BeforeAllowTraffic") || !strcmp(event, "AfterAllowTraffic")) && last &&
		            !strcmp(last, d->deployment_id);
		if (!after && (rc = begin(a, d, "events")) != 0)
			return finish(a, rc, &r);
	}
	if ((rc = do_event(&r, event, kind, source)) != 0) {
		if (pending(a))
			rc = fail_deployment(&r, event, rc);
		else
			mdeploy_agent__history(a, d->deployment_id, "Failed", event, mdeploy_error_last()->message);
		return finish(a, rc, &r);
	}
	if (!strcmp(event, "ValidateService"))
		rc = succeed(&r, event);
	else
		rc = mdeploy_agent__save(a);
	return finish(a, rc, &r);
}

int mdeploy_agent_rollback(mdeploy_agent *a, const mdeploy_agent_deployment *d)
{
	mdeploy_agent_deployment def = MDEPLOY_AGENT_DEPLOYMENT_INIT;
	struct run r = { a, NULL, -1 };
	char *target = NULL, *from = NULL, *dir = NULL, *msg = NULL;
	mdeploy_appspec *spec = NULL;
	json_t *succ;
	size_t i;
	int rc;

	if (!a)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_AGENT, "mdeploy_agent_rollback: no agent");
	if ((rc = mdeploy_agent__lock(a)) != 0)
		return rc;
	if (!mdeploy_agent_previous(a)) {
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_AGENT,
		                        "no previous successful release to roll back to in '%s'", a->root);
		return finish(a, rc, &r);
	}
	target = mdeploy__strdup(mdeploy_agent_previous(a));
	from = mdeploy__strdup(mdeploy_agent__str(a->state, "last_successful"));
	if (d) {
		def = *d;
		if ((rc = check_deployment(d)) != 0)
			goto out;
	}
	if (!def.deployment_id)
		def.deployment_id = target;
	r.d = &def;
	r.logfd = mdeploy_agent__open_log(a, def.deployment_id);
	mdeploy_agent__log_line(r.logfd, "Rollback from %s to %s", from ? from : "(none)", target);
	/* The live release may be the broken one: its stop script failing must not block the way back. */
	if (from && (dir = mdeploy_agent__release_dir(a, from)) && mdeploy__is_dir(dir) &&
	    run_hooks(&r, "ApplicationStop", dir) != 0) {
		mdeploy_agent__log_line(r.logfd, "ApplicationStop of %s failed, rolling back anyway: %s", from,
		         mdeploy_error_last()->message);
		mdeploy__log(a->ctx, MDEPLOY_LOG_WARN, "agent", "rolling back anyway: %s", mdeploy_error_last()->message);
	}
	free(dir);
	if (!(dir = mdeploy_agent__release_dir(a, target))) {
		rc = MDEPLOY_ENOMEM;
		goto out;
	}
	if ((rc = mdeploy_appspec_load(&spec, dir)) != 0 ||
	    (rc = mdeploy_agent__install_files(a, spec, dir, target, 1)) != 0 ||
	    (rc = mdeploy_agent__apply_permissions(a, spec, dir)) != 0 || (rc = mdeploy_agent__switch(a, target)) != 0)
		goto out;
	/* The switch is done: whatever the start hooks say, the state must say so too. */
	succ = json_object_get(a->state, "successes");
	for (i = json_array_size(succ); from && i-- > 0;)
		if (!strcmp(json_string_value(json_array_get(succ, i)), from))
			json_array_remove(succ, i);
	mdeploy_agent__set_str(a->state, "last_successful", target);
	if (from) {
		msg = mdeploy__sprintf("rolled back to %s", target);
		mdeploy_agent__history(a, from, "RolledBack", NULL, msg);
	}
	if ((rc = mdeploy_agent__save(a)) != 0)
		goto out;
	if ((rc = run_hooks(&r, "ApplicationStart", dir)) != 0 || (rc = run_hooks(&r, "ValidateService", dir)) != 0)
		goto out;
	mdeploy_agent__log_line(r.logfd, "Rollback to %s done", target);
out:
	if (rc) {
		char *m = mdeploy__strdup(mdeploy_error_last()->message);
		mdeploy_agent__log_line(r.logfd, "Rollback failed: %s", m ? m : "");
		rc = mdeploy__error_set(rc, MDEPLOY_ERROR_CLASS_AGENT, "rollback to %s: %s", target, m ? m : "");
		free(m);
	}
	mdeploy_appspec_free(spec);
	free(dir);
	free(msg);
	rc = finish(a, rc, &r);
	free(target);
	free(from);
	return rc;
}
