/*
 * watch.c - triggers: poll the source remotes of a pipeline's source
 * actions and start one execution per new revision.
 *
 * A revision is a tag matching the pattern (tag mode) or the set of
 * commits the configured refs point to (commit mode). Every revision seen
 * is a row of pipeline_triggers, written before its execution is created,
 * so a watcher restarted at any point never starts a second execution for
 * the same revision: a row whose execution was not created yet (marked
 * '') is completed by the next poll. The first poll of a pipeline only
 * records what already exists.
 *
 * Remotes are read with `git ls-remote` (no mirror is needed to notice a
 * change); the source action itself fetches what it builds.
 */
#include "pipeline_private.h"
#include "store/store_private.h"

#include <errno.h>
#include <fnmatch.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* `git ls-remote ARGS...` -> its output. */
static int ls_remote(char **out, const char *const *args)
{
	const char *argv[8] = { "git", "ls-remote" };
	mdeploy_exec_options o = MDEPLOY_EXEC_OPTIONS_INIT;
	mdeploy_exec_result *r = NULL;
	size_t i;
	int rc;

	for (i = 0; args[i] && i < 5; i++)
		argv[2 + i] = args[i];
	argv[2 + i] = NULL;
	o.search_path = 1;
	o.timeout_ms = 60000;
	o.capture_max = 4 << 20;
	if ((rc = mdeploy_exec_run(&r, argv, &o)) != 0)
		return rc;
	if (!mdeploy_exec_result_success(r)) {
		rc = mdeploy__error_set(MDEPLOY_ENETWORK, MDEPLOY_ERROR_CLASS_PIPELINE, "git ls-remote %s: %s: %s",
		                        args[0], mdeploy_exec_result_describe(r), mdeploy_exec_result_stderr(r, NULL));
		mdeploy_exec_result_free(r);
		return rc;
	}
	*out = mdeploy__strdup(mdeploy_exec_result_stdout(r, NULL));
	mdeploy_exec_result_free(r);
	return *out ? 0 : mdeploy__error_oom();
}

/* A URL from mdeploy.yml: relative paths are relative to its directory. */
static char *repo_url(const mdeploy_config *cfg, const char *url)
{
	if (url[0] == '/' || strstr(url, "://") || (strchr(url, ':') && !strchr(url, '/')) ||
	    (strchr(url, '@') && strchr(url, ':')))
		return mdeploy__strdup(url);
	return mdeploy__path_join(mdeploy_config_dir(cfg), url);
}

/* The commit `ref` points to in the output of ls-remote (peeled tags win). */
static int pick_commit(const char *text, const char *ref, char out[41])
{
	const char *cands[] = { "refs/heads/", "refs/tags/", "" };
	size_t c;
	char want[512];
	out[0] = '\0';
	if (strlen(ref) == 40 && strspn(ref, "0123456789abcdef") == 40) {
		memcpy(out, ref, 41);
		return 0;
	}
	for (c = 0; c < MDEPLOY__ARRAY_SIZE(cands) && !out[0]; c++) {
		const char *s = text;
		snprintf(want, sizeof(want), "%s%s", cands[c], ref);
		while (s && *s) {
			const char *nl = strchr(s, '\n'), *tab = strchr(s, '\t');
			size_t len = nl ? (size_t)(nl - s) : strlen(s);
			if (tab && tab < s + len && tab - s == 40) {
				size_t nlen = (size_t)(s + len - tab - 1);
				if ((nlen == strlen(want) && !memcmp(tab + 1, want, nlen)) ||
				    (nlen == strlen(want) + 3 && !memcmp(tab + 1, want, strlen(want)) &&
				     !memcmp(tab + 1 + strlen(want), "^{}", 3))) {
					memcpy(out, s, 40);
					out[40] = '\0';
					if (nlen != strlen(want))
						break; /* peeled: final */
				}
			}
			s = nl ? nl + 1 : NULL;
		}
	}
	return out[0] ? 0 : -1;
}

struct revisions {
	char **list;
	size_t n;
};

static int rev_add(struct revisions *r, char *s)
{
	char **n;
	size_t i;
	if (!s)
		return mdeploy__error_oom();
	for (i = 0; i < r->n; i++)
		if (!strcmp(r->list[i], s)) {
			free(s);
			return 0;
		}
	if (!(n = realloc(r->list, (r->n + 1) * sizeof(*n)))) {
		free(s);
		return mdeploy__error_oom();
	}
	r->list = n;
	r->list[r->n++] = s;
	return 0;
}

static void rev_free(struct revisions *r)
{
	size_t i;
	for (i = 0; i < r->n; i++)
		free(r->list[i]);
	free(r->list);
}

/* What the remotes hold now, as revisions. */
static int poll_remotes(const mdeploy_pipeline *p, const char *pattern, struct revisions *revs)
{
	const mdeploy_pipeline_stage *first = mdeploy_pipeline_stage_at(p, 0);
	size_t i, k;
	int rc = 0, sources = 0;

	for (i = 0; first && i < first->action_count && rc == 0; i++) {
		const mdeploy_pipeline_action *a = &first->actions[i];
		mdeploy_config *cfg = NULL;
		char *cfgpath, *text = NULL, *url = NULL;
		mdeploy__buf key = MDEPLOY__BUF_INIT;

		if (a->type != MDEPLOY_PIPELINE_ACTION_SOURCE)
			continue;
		sources++;
		if (a->config && strstr(a->config, "#{"))
			return mdeploy__error_set(MDEPLOY_EUNSUPPORTED, MDEPLOY_ERROR_CLASS_PIPELINE,
			                          "%s/%s: a config path with variables cannot be watched", a->stage, a->name);
		cfgpath = a->config && a->config[0] == '/' ? mdeploy__strdup(a->config)
		        : mdeploy__path_join(mdeploy_pipeline_project_dir(p), a->config ? a->config : "mdeploy.yml");
		if (!cfgpath)
			return mdeploy__error_oom();
		rc = mdeploy_config_load(&cfg, cfgpath, NULL);
		free(cfgpath);
		if (rc)
			return rc;
		if (!mdeploy_config_source_core(cfg)) {
			mdeploy_config_free(cfg);
			return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PIPELINE,
			                          "%s/%s: mdeploy.yml has no source to watch", a->stage, a->name);
		}
		if (pattern) {
			/* Tags of core. */
			const char *args[] = { "--tags", NULL, NULL };
			const char *s;
			args[1] = url = repo_url(cfg, mdeploy_config_source_core(cfg)->url);
			if (!url || (rc = ls_remote(&text, args)) != 0)
				goto next;
			for (s = text; s && *s;) {
				const char *nl = strchr(s, '\n'), *tab = strchr(s, '\t');
				size_t len = nl ? (size_t)(nl - s) : strlen(s);
				if (tab && tab < s + len && !strncmp(tab + 1, "refs/tags/", 10)) {
					char name[256];
					snprintf(name, sizeof(name), "%.*s", (int)(s + len - tab - 11), tab + 11);
					name[strcspn(name, "^")] = '\0';
					if (fnmatch(pattern, name, 0) == 0 && (rc = rev_add(revs, mdeploy__strdup(name))) != 0)
						goto next;
				}
				s = nl ? nl + 1 : NULL;
			}
		} else {
			/* The commit of every configured ref, as one revision. */
			for (k = 0; k <= mdeploy_config_source_plugin_count(cfg) && rc == 0; k++) {
				const mdeploy_config_repo *r = k == 0 ? mdeploy_config_source_core(cfg)
				                                      : mdeploy_config_source_plugin(cfg, k - 1);
				const char *args[] = { NULL, NULL };
				char commit[41];
				free(url);
				free(text);
				text = NULL;
				args[0] = url = repo_url(cfg, r->url);
				if (!url || (rc = ls_remote(&text, args)) != 0)
					break;
				if (pick_commit(text, r->ref, commit)) {
					rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PIPELINE,
					                        "%s: ref '%s' of %s is not on the remote",
					                        mdeploy_config_where(cfg, r->field), r->ref, r->component);
					break;
				}
				mdeploy__buf_printf(&key, "%s%s@%.12s", key.size ? "," : "", r->component, commit);
			}
			if (rc == 0)
				rc = rev_add(revs, mdeploy__buf_detach(&key));
		}
next:
		mdeploy__buf_dispose(&key);
		free(text);
		free(url);
		mdeploy_config_free(cfg);
	}
	if (rc == 0 && !sources)
		rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PIPELINE,
		                        "pipeline '%s' has no source action to watch", mdeploy_pipeline_name(p));
	return rc;
}

static int has_variable(const mdeploy_pipeline *p, const char *name)
{
	size_t i;
	for (i = 0; i < mdeploy_pipeline_variable_count(p); i++)
		if (!strcmp(mdeploy_pipeline_variable_at(p, i)->name, name))
			return 1;
	return 0;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

struct watcher {
	mdeploy_ctx *ctx;
	const mdeploy_pipeline *p;
	const mdeploy_pipeline_watch_options *opts;
	pid_t *children;
	size_t nchildren;
	unsigned int started;
};

/* Create the execution of a recorded revision and remember it on the row. */
static int start_for(struct watcher *w, mdeploy_store **storep, const char *revision)
{
	mdeploy_pipeline_run_options ro = MDEPLOY_PIPELINE_RUN_OPTIONS_INIT;
	char var[600], id[37];
	const char *vars[3] = { NULL, NULL, NULL };
	sqlite3_stmt *st;
	size_t nv = 0;
	int rc;

	/* The tag (or commits) reach the pipeline as variables it declares. */
	if (w->opts->tag_pattern && has_variable(w->p, "tag")) {
		snprintf(var, sizeof(var), "tag=%s", revision);
		vars[nv++] = var;
	} else if (has_variable(w->p, "revision")) {
		snprintf(var, sizeof(var), "revision=%s", revision);
		vars[nv++] = var;
	}
	ro.variables = vars;
	ro.trigger = "watch";
	ro.revision = revision;
	if ((rc = mdeploy_pipeline__create(*storep, w->p, &ro, id)) != 0)
		return rc;
	if (!(st = mdeploy_store__prepare(*storep, "UPDATE pipeline_triggers SET execution_id = ?"
	                                  " WHERE pipeline = ? AND revision = ?")))
		return MDEPLOY_ERROR;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, mdeploy_pipeline_name(w->p), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, revision, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : mdeploy_store__error(*storep, "cannot record the trigger");
	sqlite3_finalize(st);
	if (rc)
		return rc;
	w->started++;
	mdeploy__log(w->ctx, MDEPLOY_LOG_INFO, "pipeline", "%s: new revision %s: execution %s",
	             mdeploy_pipeline_name(w->p), revision, id);
	if (!w->opts->detach) {
		pid_t pid, *n;
		/* No SQLite handle may cross fork(): the runner opens its own. */
		mdeploy_store_free(*storep);
		*storep = NULL;
		fflush(NULL);
		pid = fork();
		if (pid == 0)
			_exit(mdeploy_pipeline_resume(w->ctx, id, NULL) == 0 ? 0 : 1);
		if ((rc = mdeploy_store_open(storep, w->ctx, NULL)) != 0)
			return rc;
		if (pid > 0 && (n = realloc(w->children, (w->nchildren + 1) * sizeof(*n)))) {
			w->children = n;
			w->children[w->nchildren++] = pid;
		}
	}
	return 0;
}

static int poll_once(struct watcher *w, mdeploy_store **storep)
{
	struct revisions revs = { NULL, 0 };
	sqlite3_stmt *st = NULL;
	const char *name = mdeploy_pipeline_name(w->p);
	int rc, baseline = 0;
	size_t i;

	if ((rc = poll_remotes(w->p, w->opts->tag_pattern, &revs)) != 0)
		goto out;
	if ((rc = mdeploy_store__begin(*storep)) != 0)
		goto out;
	if (!(st = mdeploy_store__prepare(*storep, "SELECT COUNT(*) FROM pipeline_triggers WHERE pipeline = ?"))) {
		rc = MDEPLOY_ERROR;
		goto fail;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	baseline = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 0;
	sqlite3_finalize(st);
	/* New revisions: recorded first ('' = execution not created yet). */
	if (!(st = mdeploy_store__prepare(*storep, "INSERT OR IGNORE INTO pipeline_triggers"
	                                  " (pipeline, revision, execution_id, created_at) VALUES (?, ?, ?, ?)"))) {
		rc = MDEPLOY_ERROR;
		goto fail;
	}
	for (i = 0; i < revs.n; i++) {
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, revs.list[i], -1, SQLITE_STATIC);
		if (baseline)
			sqlite3_bind_null(st, 3);
		else
			sqlite3_bind_text(st, 3, "", -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, mdeploy_store__unix_ms());
		if (sqlite3_step(st) != SQLITE_DONE) {
			rc = mdeploy_store__error(*storep, "cannot record a revision");
			goto fail;
		}
	}
	sqlite3_finalize(st);
	st = NULL;
	if ((rc = mdeploy_store__commit(*storep)) != 0)
		goto out;
	if (baseline)
		mdeploy__log(w->ctx, MDEPLOY_LOG_INFO, "pipeline", "%s: watching; %zu existing revision%s recorded, "
		             "new ones will start executions", name, revs.n, revs.n == 1 ? "" : "s");
	/* Start what is recorded and not started, oldest first. */
	for (;;) {
		char rev[512] = "";
		if (!(st = mdeploy_store__prepare(*storep, "SELECT revision FROM pipeline_triggers WHERE pipeline = ?"
		                                  " AND execution_id = '' ORDER BY created_at, revision LIMIT 1"))) {
			rc = MDEPLOY_ERROR;
			goto out;
		}
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			snprintf(rev, sizeof(rev), "%s", (const char *)sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
		st = NULL;
		if (!rev[0] || (rc = start_for(w, storep, rev)) != 0)
			break;
	}
	goto out;
fail:
	sqlite3_finalize(st);
	st = NULL;
	mdeploy_store__rollback(*storep);
out:
	rev_free(&revs);
	return rc;
}

int mdeploy_pipeline_watch(mdeploy_ctx *ctx, const mdeploy_pipeline *p, const mdeploy_pipeline_watch_options *opts)
{
	mdeploy_pipeline_watch_options def = MDEPLOY_PIPELINE_WATCH_OPTIONS_INIT;
	mdeploy_store *store = NULL;
	struct watcher w;
	unsigned int polls = 0;
	size_t i;
	int rc;

	if (!opts)
		opts = &def;
	if ((rc = mdeploy__options_check(opts->version, MDEPLOY_PIPELINE_WATCH_OPTIONS_VERSION,
	                                 "mdeploy_pipeline_watch_options")) != 0)
		return rc;
	memset(&w, 0, sizeof(w));
	w.ctx = ctx;
	w.p = p;
	w.opts = opts;
	if ((rc = mdeploy_store_open(&store, ctx, NULL)) != 0)
		return rc;
	for (;;) {
		if ((rc = poll_once(&w, &store)) != 0) {
			/* A remote that does not answer is retried at the next poll. */
			if (rc != MDEPLOY_ENETWORK || (opts->max_polls && polls + 1 >= opts->max_polls))
				break;
			mdeploy__log(ctx, MDEPLOY_LOG_WARN, "pipeline", "%s", mdeploy_error_last()->message);
			rc = 0;
		}
		for (i = 0; i < w.nchildren; i++)
			if (w.children[i] > 0 && waitpid(w.children[i], NULL, WNOHANG) == w.children[i])
				w.children[i] = 0;
		polls++;
		if (opts->poll_cb && opts->poll_cb(w.started, opts->payload))
			break;
		if (opts->max_polls && polls >= opts->max_polls)
			break;
		sleep_ms(opts->interval_ms ? opts->interval_ms : 30000);
	}
	/* The executions this watcher runs finish before it returns. */
	for (i = 0; i < w.nchildren; i++)
		if (w.children[i] > 0)
			waitpid(w.children[i], NULL, 0);
	free(w.children);
	mdeploy_store_free(store);
	return rc;
}
