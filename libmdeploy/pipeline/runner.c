/*
 * runner.c - driving an execution: stage turns (superseded and queued
 * modes), run_order groups, worker processes, approvals and deadlines,
 * stop, retry and resume.
 *
 * The runner is one process that polls the store. Every action except an
 * approval runs in a worker process it forks (worker.c); actions with the
 * same run_order run side by side. Everything the runner decides is
 * written to the store first, so another process (`resume`) can continue
 * from the rows alone: a finished action is never run again, a worker
 * that is still alive is waited for, an interrupted one is run again.
 */
#include "pipeline_private.h"
#include "store/store_private.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* ---- the runner ----------------------------------------------------------- */

struct runner {
	mdeploy_ctx *ctx;
	mdeploy_store *store;
	mdeploy_store **storep; /* the caller's handle, reopened around each fork */
	mdeploy_pipeline *p;
	char id[37];
	unsigned int poll_ms;
	pid_t *child;           /* per action: our worker, 0 none */
	int *child_done;        /* per action: reaped, row not yet re-read */
	size_t reported;        /* actions finished, for progress */
};

static int exec_update(struct runner *r, const char *sql)
{
	sqlite3_stmt *st = mdeploy_store__prepare(r->store, sql);
	int rc = 0;
	if (!st)
		return MDEPLOY_ERROR;
	sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, mdeploy_store__unix_ms());
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = mdeploy_store__error(r->store, "cannot update the execution");
	sqlite3_finalize(st);
	return rc;
}

static int exec_finish(struct runner *r, const char *status, const char *error)
{
	sqlite3_stmt *st = mdeploy_store__prepare(r->store,
		"UPDATE pipeline_executions SET status = ?1, error = ?2, updated_at = ?3, completed_at = ?3,"
		" stage_index = -1, waiting = 0 WHERE id = ?4");
	int rc = 0;
	if (!st)
		return MDEPLOY_ERROR;
	sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, error, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, mdeploy_store__unix_ms());
	sqlite3_bind_text(st, 4, r->id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = mdeploy_store__error(r->store, "cannot finish the execution");
	sqlite3_finalize(st);
	mdeploy__log(r->ctx, MDEPLOY_LOG_INFO, "pipeline", "%s: %s%s%s", r->id, status,
	             error ? ": " : "", error ? error : "");
	if (!rc && (!strcmp(status, "Succeeded") || !strcmp(status, "Failed")))
		mdeploy_pipeline__notify(r->ctx, r->store, r->p, r->id, status[0] == 'S' ? "succeeded" : "failed", NULL, error);
	return rc;
}

struct exec_row {
	char status[32];
	char pipeline[128];
	int64_t seq;
	int stage_index, next_stage, waiting, stop_request;
	int queued;
};

static int exec_read(struct runner *r, struct exec_row *e)
{
	sqlite3_stmt *st = mdeploy_store__prepare(r->store,
		"SELECT status, pipeline, seq, stage_index, next_stage, waiting, stop_request, mode"
		" FROM pipeline_executions WHERE id = ?");
	int rc = 0;
	if (!st)
		return MDEPLOY_ERROR;
	sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PIPELINE,
		                        "execution %s disappeared from the store", r->id);
	} else {
		snprintf(e->status, sizeof(e->status), "%s", (const char *)sqlite3_column_text(st, 0));
		snprintf(e->pipeline, sizeof(e->pipeline), "%s", (const char *)sqlite3_column_text(st, 1));
		e->seq = sqlite3_column_int64(st, 2);
		e->stage_index = sqlite3_column_int(st, 3);
		e->next_stage = sqlite3_column_int(st, 4);
		e->waiting = sqlite3_column_int(st, 5);
		e->stop_request = sqlite3_column_int(st, 6);
		e->queued = !strcmp((const char *)sqlite3_column_text(st, 7), "queued");
	}
	sqlite3_finalize(st);
	return rc;
}

static int count_where(struct runner *r, const char *sql, const struct exec_row *e, int k, int *n)
{
	sqlite3_stmt *st = mdeploy_store__prepare(r->store, sql);
	int rc = 0;
	if (!st)
		return MDEPLOY_ERROR;
	sqlite3_bind_text(st, 1, e->pipeline, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, e->seq);
	sqlite3_bind_int(st, 3, k);
	if (sqlite3_step(st) == SQLITE_ROW)
		*n = sqlite3_column_int(st, 0);
	else
		rc = mdeploy_store__error(r->store, "cannot read other executions");
	sqlite3_finalize(st);
	return rc;
}

#define NOT_FINAL MDEPLOY_PIPELINE__NOT_FINAL

enum { ENTER_WAIT = 0, ENTER_OK = 1, ENTER_SUPERSEDED = 2 };

/*
 * Enter stage k: one execution per stage at a time. In superseded mode an
 * execution waiting between stages gives way to a newer one that reached
 * the same point (or went past it); in queued mode they take turns in
 * order.
 */
static int try_enter(struct runner *r, const struct exec_row *e, int k, int *result)
{
	int n = 0, rc;

	*result = ENTER_WAIT;
	if ((rc = mdeploy_store__begin(r->store)) != 0)
		return rc;
	if (!e->queued) {
		if ((rc = count_where(r, "SELECT COUNT(*) FROM pipeline_executions WHERE pipeline = ?1 AND seq > ?2"
		                      " AND" NOT_FINAL " AND (next_stage > ?3 OR (waiting = 1 AND next_stage = ?3))",
		                      e, k, &n)) != 0)
			goto fail;
		if (n) {
			*result = ENTER_SUPERSEDED;
			rc = exec_finish(r, "Superseded", "a newer execution replaced it");
			if (rc)
				goto fail;
			return mdeploy_store__commit(r->store);
		}
	}
	if ((rc = count_where(r, "SELECT COUNT(*) FROM pipeline_executions WHERE pipeline = ?1 AND seq != ?2"
	                      " AND" NOT_FINAL " AND stage_index = ?3", e, k, &n)) != 0)
		goto fail;
	if (!n && e->queued &&
	    (rc = count_where(r, "SELECT COUNT(*) FROM pipeline_executions WHERE pipeline = ?1 AND seq < ?2"
	                      " AND" NOT_FINAL " AND waiting = 1 AND next_stage = ?3", e, k, &n)) != 0)
		goto fail;
	if (n) {
		if (!e->waiting || e->stage_index != -1) {
			rc = exec_update(r, "UPDATE pipeline_executions SET waiting = 1, stage_index = -1,"
			                 " updated_at = ?2 WHERE id = ?1");
			if (rc)
				goto fail;
			mdeploy__log(r->ctx, MDEPLOY_LOG_INFO, "pipeline", "%s: waiting for stage %s",
			             r->id, r->p->stages[k].name);
		}
	} else {
		char sql[160];
		snprintf(sql, sizeof(sql), "UPDATE pipeline_executions SET waiting = 0, stage_index = %d,"
		         " updated_at = ?2 WHERE id = ?1", k);
		if ((rc = exec_update(r, sql)) != 0)
			goto fail;
		*result = ENTER_OK;
		mdeploy__log(r->ctx, MDEPLOY_LOG_INFO, "pipeline", "%s: stage %s", r->id, r->p->stages[k].name);
	}
	return mdeploy_store__commit(r->store);
fail:
	mdeploy_store__rollback(r->store);
	return rc;
}

struct action_row {
	size_t idx;
	char status[16];
	unsigned int run_order;
	long pid;
	unsigned long long pid_start;
	int64_t deadline;
	char *error;
	char *summary;
};

static int actions_read(struct runner *r, int stage, struct action_row **out, size_t *n)
{
	sqlite3_stmt *st = mdeploy_store__prepare(r->store,
		"SELECT idx, status, run_order, worker_pid, worker_start, deadline, error, summary"
		" FROM pipeline_actions WHERE execution_id = ? AND (? < 0 OR stage_index = ?) ORDER BY idx");
	struct action_row *rows = NULL, *nr;
	size_t cnt = 0;
	int rc;
	*out = NULL;
	*n = 0;
	if (!st)
		return MDEPLOY_ERROR;
	sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, stage);
	sqlite3_bind_int(st, 3, stage);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (!(nr = realloc(rows, (cnt + 1) * sizeof(*rows))))
			break;
		rows = nr;
		memset(&rows[cnt], 0, sizeof(rows[cnt]));
		rows[cnt].idx = (size_t)sqlite3_column_int64(st, 0);
		snprintf(rows[cnt].status, sizeof(rows[cnt].status), "%s", (const char *)sqlite3_column_text(st, 1));
		rows[cnt].run_order = (unsigned int)sqlite3_column_int(st, 2);
		rows[cnt].pid = (long)sqlite3_column_int64(st, 3);
		rows[cnt].pid_start = (unsigned long long)sqlite3_column_int64(st, 4);
		rows[cnt].deadline = sqlite3_column_int64(st, 5);
		rows[cnt].error = mdeploy__strdup((const char *)sqlite3_column_text(st, 6));
		rows[cnt].summary = mdeploy__strdup((const char *)sqlite3_column_text(st, 7));
		cnt++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		size_t i;
		for (i = 0; i < cnt; i++) {
			free(rows[i].error);
			free(rows[i].summary);
		}
		free(rows);
		return rc == SQLITE_ROW ? mdeploy__error_oom() : mdeploy_store__error(r->store, "cannot read actions");
	}
	*out = rows;
	*n = cnt;
	return 0;
}

static void actions_free(struct action_row *rows, size_t n)
{
	size_t i;
	for (i = 0; i < n; i++) {
		free(rows[i].error);
		free(rows[i].summary);
	}
	free(rows);
}

static int action_set(struct runner *r, size_t idx, const char *sql, const char *text)
{
	sqlite3_stmt *st = mdeploy_store__prepare(r->store, sql);
	int rc = 0;
	if (!st)
		return MDEPLOY_ERROR;
	sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)idx);
	sqlite3_bind_int64(st, 3, mdeploy_store__unix_ms());
	sqlite3_bind_text(st, 4, text, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = mdeploy_store__error(r->store, "cannot update an action");
	sqlite3_finalize(st);
	return rc;
}

static void progress(struct runner *r, const mdeploy_pipeline_action *a, int final)
{
	char subject[256];
	snprintf(subject, sizeof(subject), "%s/%s", a->stage, a->name);
	mdeploy__progress(r->ctx, "pipeline", subject, "actions", r->reported, r->p->nactions, 0, final);
}

static int start_action(struct runner *r, size_t idx)
{
	const mdeploy_pipeline_action *a = &r->p->actions[idx];
	int64_t now = mdeploy_store__unix_ms();
	int64_t deadline = a->timeout ? now + (int64_t)a->timeout * 1000 : 0;
	char sql[512];
	pid_t pid;
	int rc;

	if (a->type == MDEPLOY_PIPELINE_ACTION_APPROVAL) {
		json_t *ns = mdeploy_pipeline__namespaces(r->store, r->p, r->id);
		char *comment = NULL, *summary;
		if (a->comment && mdeploy_pipeline_substitute(&comment, a->comment, mdeploy_pipeline__lookup, ns))
			comment = NULL;
		json_decref(ns);
		summary = mdeploy__sprintf("waiting for approval%s%s", comment ? ": " : "", comment ? comment : "");
		snprintf(sql, sizeof(sql), "UPDATE pipeline_actions SET status = 'Waiting', attempt = attempt + 1,"
		         " started_at = ?3, finished_at = 0, deadline = %lld, summary = ?4, error = NULL"
		         " WHERE execution_id = ?1 AND idx = ?2", (long long)deadline);
		rc = action_set(r, idx, sql, summary);
		if (!rc) {
			char name[256];
			snprintf(name, sizeof(name), "%s/%s", a->stage, a->name);
			mdeploy_pipeline__notify(r->ctx, r->store, r->p, r->id, "approval", name, comment);
		}
		mdeploy__log(r->ctx, MDEPLOY_LOG_INFO, "pipeline", "%s/%s: %s; approve with: mdeploy pipeline "
		             "approve %s %s/%s", a->stage, a->name, summary ? summary : "waiting for approval",
		             r->id, a->stage, a->name);
		free(comment);
		free(summary);
		progress(r, a, 0);
		return rc;
	}
	snprintf(sql, sizeof(sql), "UPDATE pipeline_actions SET status = 'InProgress', attempt = attempt + 1,"
	         " started_at = ?3, finished_at = 0, deadline = %lld, worker_pid = 0, worker_start = 0,"
	         " error = NULL, summary = NULL, variables = NULL, artifacts = NULL"
	         " WHERE execution_id = ?1 AND idx = ?2", (long long)deadline);
	if ((rc = action_set(r, idx, sql, NULL)) != 0)
		return rc;
	mdeploy__log(r->ctx, MDEPLOY_LOG_INFO, "pipeline", "%s/%s: started (%s)", a->stage, a->name,
	             mdeploy_pipeline_action_type_name(a->type));
	progress(r, a, 0);
	fflush(NULL);
	/* SQLite connections must not cross fork(), not even idle ones: the
	 * child shares the parent's lock bookkeeping and its commits can be
	 * lost once the parent dies. Close ours; the worker opens its own. */
	mdeploy_store_free(r->store);
	r->store = *r->storep = NULL;
	pid = fork();
	if (pid == 0)
		mdeploy_pipeline__worker(r->ctx, r->p, r->id, idx); /* never returns */
	if ((rc = mdeploy_store_open(&r->store, r->ctx, NULL)) != 0)
		return rc;
	*r->storep = r->store;
	if (pid < 0)
		return mdeploy__error_os(MDEPLOY_ERROR_CLASS_PIPELINE, "cannot start a worker for %s/%s",
		                         a->stage, a->name);
	r->child[idx] = pid;
	snprintf(sql, sizeof(sql), "UPDATE pipeline_actions SET worker_pid = %ld, worker_start = %llu"
	         " WHERE execution_id = ?1 AND idx = ?2 AND status = 'InProgress' AND worker_pid = 0",
	         (long)pid, mdeploy_store__pid_start(pid));
	return action_set(r, idx, sql, NULL);
}

/* Collect exited workers. */
static void reap(struct runner *r)
{
	size_t i;
	for (i = 0; i < r->p->nactions; i++) {
		int status;
		if (r->child[i] && waitpid(r->child[i], &status, WNOHANG) == r->child[i]) {
			r->child[i] = 0;
			r->child_done[i] = 1;
		}
	}
}

static int worker_alive(struct runner *r, const struct action_row *row)
{
	if (r->child[row->idx])
		return 1;
	if (r->child_done[row->idx])
		return 0;
	return row->pid > 0 && mdeploy_store__pid_alive(row->pid, row->pid_start);
}

enum { STAGE_RUNNING, STAGE_DONE, STAGE_FAILED };

static int step_stage(struct runner *r, int k, int *state, char **failure, int *timed_out)
{
	struct action_row *rows;
	size_t n, i;
	unsigned int order = 0;
	int rc, running = 0, failed = 0, started = 0;
	int64_t now = mdeploy_store__unix_ms();

	*state = STAGE_RUNNING;
	if ((rc = actions_read(r, k, &rows, &n)) != 0)
		return rc;
	/* Report what our workers finished since the last round. */
	for (i = 0; i < n; i++) {
		struct action_row *row = &rows[i];
		const mdeploy_pipeline_action *a = &r->p->actions[row->idx];
		if (r->child_done[row->idx] && strcmp(row->status, "InProgress")) {
			r->child_done[row->idx] = 0;
			r->reported++;
			mdeploy__log(r->ctx, row->status[0] == 'S' ? MDEPLOY_LOG_INFO : MDEPLOY_LOG_ERROR, "pipeline",
			             "%s/%s: %s%s%s", a->stage, a->name, row->status,
			             row->error || row->summary ? ": " : "", row->error ? row->error
			             : row->summary ? row->summary : "");
			progress(r, a, 0);
		}
	}
	for (i = 0; i < n; i++)
		if (strcmp(rows[i].status, "Succeeded") && strcmp(rows[i].status, "Skipped") &&
		    (!order || rows[i].run_order < order))
			order = rows[i].run_order;
	if (!order) {
		*state = STAGE_DONE;
		goto out;
	}
	for (i = 0; i < n && rc == 0; i++) {
		struct action_row *row = &rows[i];
		const mdeploy_pipeline_action *a = &r->p->actions[row->idx];
		if (row->run_order != order)
			continue;
		if (!strcmp(row->status, "Pending")) {
			rc = start_action(r, row->idx);
			started = running = 1;
		} else if (!strcmp(row->status, "InProgress")) {
			if (worker_alive(r, row)) {
				running = 1;
				/* The worker enforces its deadline; this is the backstop. */
				if (row->deadline && now > row->deadline + 10000 && row->pid > 0)
					kill((pid_t)row->pid, SIGTERM);
			} else if (r->child_done[row->idx]) {
				r->child_done[row->idx] = 0;
				/* Our worker exited without recording a result. */
				rc = action_set(r, row->idx, "UPDATE pipeline_actions SET status = 'Failed', finished_at = ?3,"
				                " error = ?4, summary = 'worker died' WHERE execution_id = ?1 AND idx = ?2"
				                " AND status = 'InProgress'", "the worker process died");
				running = 1; /* re-read next round */
			} else {
				mdeploy__log(r->ctx, MDEPLOY_LOG_WARN, "pipeline", "%s/%s: interrupted (its worker is "
				             "gone); running it again", a->stage, a->name);
				rc = action_set(r, row->idx, "UPDATE pipeline_actions SET status = 'Pending', worker_pid = 0"
				                " WHERE execution_id = ?1 AND idx = ?2 AND status = 'InProgress'", NULL);
				running = 1;
			}
		} else if (!strcmp(row->status, "Waiting")) {
			if (row->deadline && now >= row->deadline) {
				char *msg = mdeploy__sprintf("no decision within %us", a->timeout);
				rc = action_set(r, row->idx, "UPDATE pipeline_actions SET status = 'Failed', finished_at = ?3,"
				                " error = ?4, summary = 'timed out' WHERE execution_id = ?1 AND idx = ?2"
				                " AND status = 'Waiting'", msg);
				free(msg);
			}
			running = 1;
		} else if (!strcmp(row->status, "Failed") || !strcmp(row->status, "Abandoned")) {
			failed = 1;
			if (!*failure) {
				*failure = mdeploy__sprintf("%s/%s: %s", a->stage, a->name,
				                            row->error ? row->error : row->status);
				*timed_out = row->summary && !strncmp(row->summary, "timed out", 9);
			}
		}
	}
	if (!running && failed)
		*state = STAGE_FAILED;
	else if (!running && !failed && !started)
		*state = STAGE_RUNNING; /* this group is done: the next round starts the next one */
out:
	actions_free(rows, n);
	return rc;
}

/* Stop: abandon what runs (abandon) or let it finish, then mark Stopped. */
int mdeploy_pipeline__finish_stop(mdeploy_ctx *ctx, mdeploy_store *store, const char *id)
{
	struct runner r;
	int rc;
	memset(&r, 0, sizeof(r));
	r.ctx = ctx;
	r.store = store;
	snprintf(r.id, sizeof(r.id), "%s", id);
	if ((rc = mdeploy_store__begin(store)) != 0)
		return rc;
	if ((rc = action_set(&r, 0, "UPDATE pipeline_actions SET status = 'Abandoned', finished_at = ?3,"
	                     " error = 'stopped' WHERE execution_id = ?1 AND ?2 >= 0"
	                     " AND status IN ('InProgress', 'Waiting')", NULL)) != 0 ||
	    (rc = exec_finish(&r, "Stopped", "stopped on request")) != 0) {
		mdeploy_store__rollback(store);
		return rc;
	}
	return mdeploy_store__commit(store);
}

static int handle_stop(struct runner *r, int how, int *done)
{
	struct action_row *rows;
	size_t n, i;
	int rc, running = 0;

	*done = 0;
	if ((rc = actions_read(r, -1, &rows, &n)) != 0)
		return rc;
	for (i = 0; i < n; i++) {
		if (!strcmp(rows[i].status, "InProgress") && worker_alive(r, &rows[i])) {
			running = 1;
			if (how == 2 && rows[i].pid > 0)
				kill((pid_t)rows[i].pid, SIGTERM);
		}
	}
	actions_free(rows, n);
	if (!running) {
		rc = mdeploy_pipeline__finish_stop(r->ctx, r->store, r->id);
		*done = 1;
	}
	return rc;
}

static int final_rc(struct runner *r, const char *status, const char *failure, int timed_out)
{
	if (!strcmp(status, "Succeeded"))
		return 0;
	if (!strcmp(status, "Failed"))
		return mdeploy__error_set(timed_out ? MDEPLOY_ETIMEOUT : MDEPLOY_EHOOK, MDEPLOY_ERROR_CLASS_PIPELINE,
		                          "execution %s failed: %s", r->id, failure ? failure : "an action failed");
	return mdeploy__error_set(MDEPLOY_ECONFLICT, MDEPLOY_ERROR_CLASS_PIPELINE, "execution %s was %s",
	                          r->id, !strcmp(status, "Superseded") ? "superseded by a newer one"
	                                                               : "stopped");
}

static int drive(struct runner *r)
{
	struct exec_row e;
	char *failure = NULL;
	int rc = 0, timed_out = 0;

	for (;;) {
		int state, enter;
		reap(r);
		if ((rc = exec_read(r, &e)) != 0)
			break;
		if (mdeploy_pipeline_status_is_final(e.status)) {
			rc = final_rc(r, e.status, failure, timed_out);
			break;
		}
		if (e.stop_request) {
			int done;
			if ((rc = handle_stop(r, e.stop_request, &done)) != 0)
				break;
			if (!done)
				sleep_ms(r->poll_ms);
			continue;
		}
		if (e.next_stage >= (int)r->p->nstages) {
			if ((rc = exec_finish(r, "Succeeded", NULL)) != 0)
				break;
			mdeploy__progress(r->ctx, "pipeline", r->p->name, "actions", r->p->nactions, r->p->nactions, 0, 1);
			continue;
		}
		if (e.stage_index != e.next_stage) {
			if ((rc = try_enter(r, &e, e.next_stage, &enter)) != 0)
				break;
			if (enter == ENTER_WAIT)
				sleep_ms(r->poll_ms);
			continue;
		}
		if ((rc = step_stage(r, e.next_stage, &state, &failure, &timed_out)) != 0)
			break;
		if (state == STAGE_DONE) {
			if ((rc = exec_update(r, "UPDATE pipeline_executions SET next_stage = next_stage + 1,"
			                      " stage_index = -1, waiting = 1, updated_at = ?2 WHERE id = ?1")) != 0)
				break;
		} else if (state == STAGE_FAILED) {
			if ((rc = exec_finish(r, "Failed", failure)) != 0)
				break;
		} else {
			sleep_ms(r->poll_ms);
		}
	}
	free(failure);
	return rc;
}

/* Become the runner of `id`: refused while a live process drives it. */
static int take_over(mdeploy_store *store, const char *id)
{
	sqlite3_stmt *st;
	long pid;
	unsigned long long start;
	int rc;

	if ((rc = mdeploy_store__begin(store)) != 0)
		return rc;
	if (!(st = mdeploy_store__prepare(store, "SELECT runner_pid, runner_start FROM pipeline_executions WHERE id = ?"))) {
		mdeploy_store__rollback(store);
		return MDEPLOY_ERROR;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		mdeploy_store__rollback(store);
		return mdeploy_store__error(store, "cannot read the execution");
	}
	pid = (long)sqlite3_column_int64(st, 0);
	start = (unsigned long long)sqlite3_column_int64(st, 1);
	sqlite3_finalize(st);
	if (pid != (long)getpid() && mdeploy_store__pid_alive(pid, start)) {
		mdeploy_store__rollback(store);
		return mdeploy__error_set(MDEPLOY_ELOCKED, MDEPLOY_ERROR_CLASS_PIPELINE,
		                          "execution %s is being run by process %ld", id, pid);
	}
	if (!(st = mdeploy_store__prepare(store, "UPDATE pipeline_executions SET runner_pid = ?, runner_start = ?"
	                                  " WHERE id = ?"))) {
		mdeploy_store__rollback(store);
		return MDEPLOY_ERROR;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)getpid());
	sqlite3_bind_int64(st, 2, (sqlite3_int64)mdeploy_store__pid_start(getpid()));
	sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : mdeploy_store__error(store, "cannot take the execution over");
	sqlite3_finalize(st);
	if (rc) {
		mdeploy_store__rollback(store);
		return rc;
	}
	return mdeploy_store__commit(store);
}

/* Load the definition an execution was started with, and drive it. */
int mdeploy_pipeline__run_existing(mdeploy_ctx *ctx, mdeploy_store **storep, const char *id, unsigned int poll_ms)
{
	mdeploy_store *store = *storep;
	struct runner r;
	sqlite3_stmt *st;
	char *text = NULL, *path = NULL;
	int rc;

	memset(&r, 0, sizeof(r));
	r.ctx = ctx;
	r.store = store;
	r.storep = storep;
	r.poll_ms = poll_ms ? poll_ms : 200;
	snprintf(r.id, sizeof(r.id), "%s", id);
	if (!(st = mdeploy_store__prepare(store, "SELECT text, definition FROM pipeline_executions WHERE id = ?")))
		return MDEPLOY_ERROR;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		text = mdeploy__strdup((const char *)sqlite3_column_text(st, 0));
		path = mdeploy__strdup((const char *)sqlite3_column_text(st, 1));
	}
	sqlite3_finalize(st);
	if (!text || !path) {
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PIPELINE, "no pipeline execution '%s'", id);
		goto out;
	}
	if ((rc = mdeploy_pipeline__load_text(&r.p, text, strlen(text), path, NULL)) != 0) {
		mdeploy__error_prefix("execution %s: its stored definition", id);
		goto out;
	}
	if ((rc = take_over(store, id)) != 0)
		goto out;
	r.child = calloc(r.p->nactions + 1, sizeof(*r.child));
	r.child_done = calloc(r.p->nactions + 1, sizeof(*r.child_done));
	if (!r.child || !r.child_done) {
		rc = mdeploy__error_oom();
		goto out;
	}
	rc = drive(&r);
	/* Our workers record their own results; don't leave zombies behind. */
	{
		size_t i;
		for (i = 0; i < r.p->nactions; i++)
			if (r.child[i])
				waitpid(r.child[i], NULL, 0);
	}
out:
	free(r.child);
	free(r.child_done);
	mdeploy_pipeline_free(r.p);
	free(text);
	free(path);
	return rc;
}

int mdeploy_pipeline_run(mdeploy_ctx *ctx, const mdeploy_pipeline *p, const mdeploy_pipeline_run_options *opts,
                         char id_out[37])
{
	mdeploy_store *store = NULL;
	char id[37];
	int rc;

	if (opts && (rc = mdeploy__options_check(opts->version, MDEPLOY_PIPELINE_RUN_OPTIONS_VERSION,
	                                         "mdeploy_pipeline_run_options")) != 0)
		return rc;
	if (id_out)
		id_out[0] = '\0';
	if ((rc = mdeploy_store_open(&store, ctx, NULL)) != 0)
		return rc;
	if ((rc = mdeploy_pipeline__create(store, p, opts, id)) != 0)
		goto out;
	if (id_out)
		memcpy(id_out, id, 37);
	mdeploy__log(ctx, MDEPLOY_LOG_INFO, "pipeline", "%s: execution %s started", mdeploy_pipeline_name(p), id);
	if (!opts || !opts->detach)
		rc = mdeploy_pipeline__run_existing(ctx, &store, id, opts ? opts->poll_ms : 0);
out:
	mdeploy_store_free(store);
	return rc;
}
