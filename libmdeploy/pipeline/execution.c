/*
 * execution.c - executions as recorded in the state store: create, read,
 * history, approve/reject, stop. The runner (runner.c) drives them.
 */
#include "pipeline_private.h"
#include "store/store_private.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int mdeploy_pipeline_status_is_final(const char *s)
{
	return s && (!strcmp(s, "Succeeded") || !strcmp(s, "Failed") || !strcmp(s, "Stopped") ||
	             !strcmp(s, "Superseded"));
}

int mdeploy_pipeline__uuid(char out[37])
{
	unsigned char r[16];
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	ssize_t n;
	if (fd < 0)
		return mdeploy__error_os(MDEPLOY_ERROR_CLASS_PIPELINE, "cannot open /dev/urandom");
	n = read(fd, r, sizeof(r));
	close(fd);
	if (n != (ssize_t)sizeof(r))
		return mdeploy__error_set(MDEPLOY_EOS, MDEPLOY_ERROR_CLASS_PIPELINE, "short read from /dev/urandom");
	r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
	r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	         r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13],
	         r[14], r[15]);
	return 0;
}

/* ---- reading ------------------------------------------------------------ */

struct mdeploy_pipeline_execution {
	mdeploy_pipeline_execution_info info;
	mdeploy_pipeline_action_state *actions;
	char **strings;
	size_t nstrings;
};

static const char *keep(mdeploy_pipeline_execution *e, sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	char **n, *s;
	if (!t)
		return NULL;
	if (!(s = mdeploy__strdup((const char *)t)))
		return NULL;
	if (!(n = realloc(e->strings, (e->nstrings + 1) * sizeof(*n)))) {
		free(s);
		return NULL;
	}
	e->strings = n;
	e->strings[e->nstrings++] = s;
	return s;
}

#define EXEC_COLUMNS "id, pipeline, definition, status, mode, trigger, revision, variables, error," \
	" stage_index, next_stage, waiting, text, created_at, updated_at, completed_at"

/* Fill info from a row of EXEC_COLUMNS; current_stage from the definition text. */
static void exec_fill(mdeploy_pipeline_execution *e, sqlite3_stmt *st)
{
	mdeploy_pipeline_execution_info *i = &e->info;
	int stage = sqlite3_column_int(st, 9), next = sqlite3_column_int(st, 10);
	i->id = keep(e, st, 0);
	i->pipeline = keep(e, st, 1);
	i->definition = keep(e, st, 2);
	i->status = keep(e, st, 3);
	i->mode = keep(e, st, 4);
	i->trigger = keep(e, st, 5);
	i->revision = keep(e, st, 6);
	i->variables = keep(e, st, 7);
	i->error = keep(e, st, 8);
	i->created_at = sqlite3_column_int64(st, 13);
	i->updated_at = sqlite3_column_int64(st, 14);
	i->completed_at = sqlite3_column_int64(st, 15);
	i->current_stage = NULL;
	if (!mdeploy_pipeline_status_is_final(i->status)) {
		mdeploy_pipeline *p = NULL;
		const char *text = (const char *)sqlite3_column_text(st, 12);
		int k = stage >= 0 ? stage : next;
		if (text && mdeploy_pipeline__load_text(&p, text, strlen(text), i->definition, NULL) == 0) {
			const mdeploy_pipeline_stage *s = mdeploy_pipeline_stage_at(p, (size_t)k);
			if (s) {
				char *v = mdeploy__sprintf("%s%s", stage < 0 && sqlite3_column_int(st, 11)
				                                   ? "waiting for " : "", s->name);
				char **n = v ? realloc(e->strings, (e->nstrings + 1) * sizeof(*n)) : NULL;
				if (n) {
					e->strings = n;
					e->strings[e->nstrings++] = v;
					i->current_stage = v;
				} else {
					free(v);
				}
			}
		}
		mdeploy_pipeline_free(p);
		mdeploy_error_clear();
	}
}

void mdeploy_pipeline_execution_free(mdeploy_pipeline_execution *e)
{
	size_t i;
	if (!e)
		return;
	for (i = 0; i < e->nstrings; i++)
		free(e->strings[i]);
	free(e->strings);
	free(e->actions);
	free(e);
}

const mdeploy_pipeline_execution_info *mdeploy_pipeline_execution_info_of(const mdeploy_pipeline_execution *e)
{
	return e ? &e->info : NULL;
}

static int load_actions(mdeploy_store *store, mdeploy_pipeline_execution *e)
{
	sqlite3_stmt *st = mdeploy_store__prepare(store,
		"SELECT stage, action, type, run_order, status, attempt, error, summary, variables, artifacts,"
		" comment, log_path, started_at, finished_at, deadline, worker_pid FROM pipeline_actions"
		" WHERE execution_id = ? ORDER BY idx");
	size_t n = 0;
	int rc;
	if (!st)
		return MDEPLOY_ERROR;
	sqlite3_bind_text(st, 1, e->info.id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		mdeploy_pipeline_action_state *a, *na = realloc(e->actions, (n + 1) * sizeof(*na));
		if (!na) {
			sqlite3_finalize(st);
			return mdeploy__error_oom();
		}
		e->actions = na;
		a = &na[n++];
		memset(a, 0, sizeof(*a));
		a->stage = keep(e, st, 0);
		a->action = keep(e, st, 1);
		a->type = keep(e, st, 2);
		a->run_order = (unsigned int)sqlite3_column_int(st, 3);
		a->status = keep(e, st, 4);
		a->attempt = (unsigned int)sqlite3_column_int(st, 5);
		a->error = keep(e, st, 6);
		a->summary = keep(e, st, 7);
		a->variables = keep(e, st, 8);
		a->artifacts = keep(e, st, 9);
		a->comment = keep(e, st, 10);
		a->log_path = keep(e, st, 11);
		a->started_at = sqlite3_column_int64(st, 12);
		a->finished_at = sqlite3_column_int64(st, 13);
		a->deadline = sqlite3_column_int64(st, 14);
		a->worker_pid = a->status && !strcmp(a->status, "InProgress") ? (long)sqlite3_column_int64(st, 15) : 0;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return mdeploy_store__error(store, "cannot read pipeline actions");
	e->info.actions = e->actions;
	e->info.action_count = n;
	return 0;
}

/* Resolve a full id or a unique prefix. */
int mdeploy_pipeline__resolve_id(mdeploy_store *store, const char *id, char out[37])
{
	sqlite3_stmt *st;
	char *pat;
	int rc, n = 0;

	if (!id || !*id || strlen(id) > 36 || strspn(id, "0123456789abcdef-") != strlen(id))
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PIPELINE,
		                          "no pipeline execution '%s'", id ? id : "");
	if (!(pat = mdeploy__sprintf("%s%%", id)))
		return mdeploy__error_oom();
	if (!(st = mdeploy_store__prepare(store, "SELECT id FROM pipeline_executions WHERE id LIKE ? LIMIT 2"))) {
		free(pat);
		return MDEPLOY_ERROR;
	}
	sqlite3_bind_text(st, 1, pat, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n++ == 0)
			snprintf(out, 37, "%s", (const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	free(pat);
	if (rc != SQLITE_DONE)
		return mdeploy_store__error(store, "cannot look up the execution");
	if (n == 0)
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PIPELINE,
		                          "no pipeline execution '%s'", id);
	if (n > 1)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PIPELINE,
		                          "execution id '%s' is ambiguous; give more characters", id);
	return 0;
}

static int get_where(mdeploy_ctx *ctx, const char *where, const char *arg, mdeploy_pipeline_execution **out)
{
	mdeploy_store *store = NULL;
	mdeploy_pipeline_execution *e = NULL;
	sqlite3_stmt *st = NULL;
	char *sql;
	int rc;

	*out = NULL;
	if ((rc = mdeploy_store_open(&store, ctx, NULL)) != 0)
		return rc;
	if (!(sql = mdeploy__sprintf("SELECT " EXEC_COLUMNS " FROM pipeline_executions %s ORDER BY seq DESC LIMIT 1",
	                             where))) {
		rc = mdeploy__error_oom();
		goto out;
	}
	st = mdeploy_store__prepare(store, sql);
	free(sql);
	if (!st) {
		rc = MDEPLOY_ERROR;
		goto out;
	}
	if (arg)
		sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		rc = rc == SQLITE_DONE ? mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PIPELINE,
		                                            "no pipeline executions%s%s", arg ? " of " : "",
		                                            arg ? arg : "")
		                       : mdeploy_store__error(store, "cannot read the execution");
		goto out;
	}
	if (!(e = calloc(1, sizeof(*e)))) {
		rc = mdeploy__error_oom();
		goto out;
	}
	exec_fill(e, st);
	sqlite3_finalize(st);
	st = NULL;
	if ((rc = load_actions(store, e)) != 0)
		goto out;
	*out = e;
	e = NULL;
out:
	sqlite3_finalize(st);
	mdeploy_pipeline_execution_free(e);
	mdeploy_store_free(store);
	return rc;
}

int mdeploy_pipeline_execution_get(mdeploy_ctx *ctx, const char *id, mdeploy_pipeline_execution **out)
{
	mdeploy_store *store = NULL;
	char full[37];
	int rc;

	*out = NULL;
	if ((rc = mdeploy_store_open(&store, ctx, NULL)) != 0)
		return rc;
	rc = mdeploy_pipeline__resolve_id(store, id, full);
	mdeploy_store_free(store);
	if (rc)
		return rc;
	return get_where(ctx, "WHERE id = ?", full, out);
}

int mdeploy_pipeline_execution_latest(mdeploy_ctx *ctx, const char *pipeline, mdeploy_pipeline_execution **out)
{
	return get_where(ctx, pipeline ? "WHERE pipeline = ?" : "", pipeline, out);
}

int mdeploy_pipeline_history(mdeploy_ctx *ctx, const char *pipeline, unsigned int limit,
                             mdeploy_pipeline_execution_cb cb, void *payload)
{
	mdeploy_store *store = NULL;
	sqlite3_stmt *st;
	int rc;

	if ((rc = mdeploy_store_open(&store, ctx, NULL)) != 0)
		return rc;
	st = mdeploy_store__prepare(store, "SELECT " EXEC_COLUMNS " FROM pipeline_executions"
	                            " WHERE ?1 IS NULL OR pipeline = ?1 ORDER BY seq DESC LIMIT ?2");
	if (!st) {
		mdeploy_store_free(store);
		return MDEPLOY_ERROR;
	}
	if (pipeline)
		sqlite3_bind_text(st, 1, pipeline, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, limit ? (sqlite3_int64)limit : -1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		mdeploy_pipeline_execution *e = calloc(1, sizeof(*e));
		int r;
		if (!e) {
			rc = mdeploy__error_oom();
			break;
		}
		exec_fill(e, st);
		r = cb(&e->info, payload);
		mdeploy_pipeline_execution_free(e);
		if (r) {
			rc = mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_CALLBACK,
			                        "history callback aborted (returned %d)", r);
			break;
		}
	}
	if (rc == SQLITE_DONE)
		rc = 0;
	else if (rc == SQLITE_ROW || rc > 0)
		rc = mdeploy_store__error(store, "cannot read the history");
	sqlite3_finalize(st);
	mdeploy_store_free(store);
	return rc;
}

/* ---- decisions ---------------------------------------------------------- */

int mdeploy_pipeline_approve(mdeploy_ctx *ctx, const char *id, const char *action, int approve,
                             const char *comment)
{
	return mdeploy_pipeline_decide(ctx, id, action, approve, comment, NULL);
}

int mdeploy_pipeline_decide(mdeploy_ctx *ctx, const char *id, const char *action, int approve,
                            const char *comment, const char *by)
{
	mdeploy_store *store = NULL;
	sqlite3_stmt *st = NULL;
	const char *slash = action ? strchr(action, '/') : NULL;
	char full[37], *stage = NULL, *vars = NULL, *summary = NULL;
	int rc;

	if (!slash)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PIPELINE,
		                          "'%s' is not STAGE/ACTION", action ? action : "");
	if ((rc = mdeploy_store_open(&store, ctx, NULL)) != 0)
		return rc;
	if ((rc = mdeploy_pipeline__resolve_id(store, id, full)) != 0)
		goto out;
	if (!(stage = mdeploy__sprintf("%.*s", (int)(slash - action), action))) {
		rc = mdeploy__error_oom();
		goto out;
	}
	{
		json_t *o = json_pack("{s:s, s:s, s:s}", "decision", approve ? "approved" : "rejected",
		                      "comment", comment ? comment : "", "by", by ? by : "");
		vars = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		json_decref(o);
	}
	summary = mdeploy__sprintf("%s%s%s", approve ? "approved" : "rejected", by ? " by " : "", by ? by : "");
	if (!vars || !summary) {
		rc = mdeploy__error_oom();
		goto out;
	}
	st = mdeploy_store__prepare(store,
		"UPDATE pipeline_actions SET status = ?1, comment = ?2, variables = ?3, finished_at = ?4,"
		" summary = ?5, error = ?6"
		" WHERE execution_id = ?7 AND stage = ?8 AND action = ?9 AND status = 'Waiting'");
	if (!st) {
		rc = MDEPLOY_ERROR;
		goto out;
	}
	sqlite3_bind_text(st, 1, approve ? "Succeeded" : "Failed", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, comment, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, vars, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, mdeploy_store__unix_ms());
	sqlite3_bind_text(st, 5, summary, -1, SQLITE_STATIC);
	if (!approve)
		sqlite3_bind_text(st, 6, "rejected by the approver", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, full, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, stage, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, slash + 1, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = mdeploy_store__error(store, "cannot record the decision");
		goto out;
	}
	if (sqlite3_changes(mdeploy_store__db(store)) == 0) {
		rc = mdeploy__error_set(MDEPLOY_ECONFLICT, MDEPLOY_ERROR_CLASS_PIPELINE,
		                        "%s in execution %s is not waiting for approval", action, full);
		goto out;
	}
	mdeploy__log(ctx, MDEPLOY_LOG_INFO, "pipeline", "%s: %s %s", full, action, summary);
out:
	sqlite3_finalize(st);
	free(summary);
	free(stage);
	free(vars);
	mdeploy_store_free(store);
	return rc;
}

int mdeploy_pipeline_stop(mdeploy_ctx *ctx, const char *id, int abandon)
{
	mdeploy_store *store = NULL;
	sqlite3_stmt *st = NULL;
	char full[37], *status = NULL;
	long pid = 0;
	unsigned long long start = 0;
	int rc;

	if ((rc = mdeploy_store_open(&store, ctx, NULL)) != 0)
		return rc;
	if ((rc = mdeploy_pipeline__resolve_id(store, id, full)) != 0 || (rc = mdeploy_store__begin(store)) != 0)
		goto out;
	if (!(st = mdeploy_store__prepare(store, "SELECT status, runner_pid, runner_start FROM pipeline_executions"
	                                  " WHERE id = ?"))) {
		rc = MDEPLOY_ERROR;
		goto fail;
	}
	sqlite3_bind_text(st, 1, full, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = mdeploy_store__error(store, "cannot read the execution");
		goto fail;
	}
	status = mdeploy__strdup((const char *)sqlite3_column_text(st, 0));
	pid = (long)sqlite3_column_int64(st, 1);
	start = (unsigned long long)sqlite3_column_int64(st, 2);
	sqlite3_finalize(st);
	st = NULL;
	if (mdeploy_pipeline_status_is_final(status)) {
		rc = mdeploy__error_set(MDEPLOY_ECONFLICT, MDEPLOY_ERROR_CLASS_PIPELINE,
		                        "execution %s is already %s", full, status);
		goto fail;
	}
	if (!(st = mdeploy_store__prepare(store, "UPDATE pipeline_executions SET stop_request = MAX(stop_request, ?),"
	                                  " status = 'Stopping', updated_at = ? WHERE id = ?"))) {
		rc = MDEPLOY_ERROR;
		goto fail;
	}
	sqlite3_bind_int(st, 1, abandon ? 2 : 1);
	sqlite3_bind_int64(st, 2, mdeploy_store__unix_ms());
	sqlite3_bind_text(st, 3, full, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = mdeploy_store__error(store, "cannot record the stop request");
		goto fail;
	}
	if ((rc = mdeploy_store__commit(store)) != 0)
		goto out;
	mdeploy__log(ctx, MDEPLOY_LOG_INFO, "pipeline", "%s: stop requested%s", full,
	             abandon ? " (abandoning running actions)" : "");
	/* Nobody drives it: finish the stop here. */
	if (!mdeploy_store__pid_alive(pid, start))
		rc = mdeploy_pipeline__finish_stop(ctx, store, full);
	goto out;
fail:
	mdeploy_store__rollback(store);
out:
	sqlite3_finalize(st);
	free(status);
	mdeploy_store_free(store);
	return rc;
}
