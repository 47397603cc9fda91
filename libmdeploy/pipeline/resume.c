/*
 * resume.c - restarting executions: `pipeline resume` continues executions
 * nobody drives any more (one, or each in a runner process of its own) and
 * `pipeline retry` resets a failed or stopped execution from a stage; both
 * then drive it with the runner (runner.c) from the rows in the store.
 */
#include "pipeline_private.h"
#include "store/store_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int mdeploy_pipeline_resume(mdeploy_ctx *ctx, const char *id, const mdeploy_pipeline_run_options *opts)
{
	mdeploy_store *store = NULL;
	sqlite3_stmt *st;
	char full[37], (*ids)[37] = NULL;
	size_t n = 0, i;
	pid_t *pids = NULL;
	int rc;

	if (opts && (rc = mdeploy__options_check(opts->version, MDEPLOY_PIPELINE_RUN_OPTIONS_VERSION,
	                                         "mdeploy_pipeline_run_options")) != 0)
		return rc;
	if ((rc = mdeploy_store_open(&store, ctx, NULL)) != 0)
		return rc;
	if (id) {
		if ((rc = mdeploy_pipeline__resolve_id(store, id, full)) == 0)
			rc = mdeploy_pipeline__run_existing(ctx, &store, full, opts ? opts->poll_ms : 0);
		mdeploy_store_free(store);
		return rc;
	}
	/* Every unfinished execution nobody drives; each gets its own runner
	 * process, since one may wait for another to leave a stage. */
	if (!(st = mdeploy_store__prepare(store, "SELECT id, runner_pid, runner_start FROM pipeline_executions"
	                                  " WHERE" MDEPLOY_PIPELINE__NOT_FINAL " ORDER BY seq"))) {
		mdeploy_store_free(store);
		return MDEPLOY_ERROR;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		char (*ni)[37];
		if (mdeploy_store__pid_alive((long)sqlite3_column_int64(st, 1),
		                             (unsigned long long)sqlite3_column_int64(st, 2)))
			continue;
		if (!(ni = realloc(ids, (n + 1) * sizeof(*ids))))
			break;
		ids = ni;
		snprintf(ids[n++], 37, "%s", (const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	mdeploy_store_free(store);
	store = NULL;
	if (n == 0) {
		free(ids);
		mdeploy__log(ctx, MDEPLOY_LOG_INFO, "pipeline", "no interrupted executions to resume");
		return 0;
	}
	if (n == 1) {
		rc = mdeploy_pipeline_resume(ctx, ids[0], opts);
		free(ids);
		return rc;
	}
	if (!(pids = calloc(n, sizeof(*pids)))) {
		free(ids);
		return mdeploy__error_oom();
	}
	for (i = 0; i < n; i++) {
		fflush(NULL);
		pids[i] = fork();
		if (pids[i] == 0)
			_exit(mdeploy_pipeline_resume(ctx, ids[i], opts) == 0 ? 0 : 1);
	}
	rc = 0;
	for (i = 0; i < n; i++) {
		int status = 0;
		if (pids[i] > 0 && waitpid(pids[i], &status, 0) == pids[i] && WIFEXITED(status) &&
		    WEXITSTATUS(status) == 0)
			continue;
		if (!rc)
			rc = mdeploy__error_set(MDEPLOY_EHOOK, MDEPLOY_ERROR_CLASS_PIPELINE,
			                        "execution %s did not succeed (see mdeploy pipeline status %s)",
			                        ids[i], ids[i]);
	}
	free(pids);
	free(ids);
	return rc;
}

int mdeploy_pipeline_retry(mdeploy_ctx *ctx, const char *id, const char *stage, int all_actions,
                           const mdeploy_pipeline_run_options *opts)
{
	mdeploy_store *store = NULL;
	sqlite3_stmt *st = NULL;
	char full[37], status[32] = "";
	int rc, k = -1;

	if ((rc = mdeploy_store_open(&store, ctx, NULL)) != 0)
		return rc;
	if ((rc = mdeploy_pipeline__resolve_id(store, id, full)) != 0 || (rc = mdeploy_store__begin(store)) != 0)
		goto out;
	if (!(st = mdeploy_store__prepare(store, "SELECT e.status, (SELECT MIN(stage_index) FROM pipeline_actions"
	                                  " WHERE execution_id = e.id AND stage = ?2) FROM pipeline_executions e"
	                                  " WHERE e.id = ?1"))) {
		rc = MDEPLOY_ERROR;
		goto fail;
	}
	sqlite3_bind_text(st, 1, full, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, stage, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(status, sizeof(status), "%s", (const char *)sqlite3_column_text(st, 0));
		if (sqlite3_column_type(st, 1) != SQLITE_NULL)
			k = sqlite3_column_int(st, 1);
	}
	sqlite3_finalize(st);
	st = NULL;
	if (k < 0) {
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PIPELINE,
		                        "execution %s has no stage '%s'", full, stage);
		goto fail;
	}
	if (strcmp(status, "Failed") && strcmp(status, "Stopped")) {
		rc = mdeploy__error_set(MDEPLOY_ECONFLICT, MDEPLOY_ERROR_CLASS_PIPELINE,
		                        "execution %s is %s; only a failed or stopped execution can be retried",
		                        full, status);
		goto fail;
	}
	/* The chosen stage's actions (failed ones, or all), then every later stage. */
	if (!(st = mdeploy_store__prepare(store,
		"UPDATE pipeline_actions SET status = 'Pending', worker_pid = 0, deadline = 0, error = NULL,"
		" summary = NULL, finished_at = 0 WHERE execution_id = ?1 AND ((stage_index = ?2 AND"
		" (?3 OR status IN ('Failed', 'Abandoned', 'Pending', 'InProgress', 'Waiting')))"
		" OR stage_index > ?2)"))) {
		rc = MDEPLOY_ERROR;
		goto fail;
	}
	sqlite3_bind_text(st, 1, full, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, k);
	sqlite3_bind_int(st, 3, all_actions ? 1 : 0);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = mdeploy_store__error(store, "cannot reset the actions");
		goto fail;
	}
	sqlite3_finalize(st);
	if (!(st = mdeploy_store__prepare(store,
		"UPDATE pipeline_executions SET status = 'InProgress', error = NULL, completed_at = 0, stop_request = 0,"
		" next_stage = ?2, stage_index = -1, waiting = 1, updated_at = ?3 WHERE id = ?1"))) {
		rc = MDEPLOY_ERROR;
		goto fail;
	}
	sqlite3_bind_text(st, 1, full, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, k);
	sqlite3_bind_int64(st, 3, mdeploy_store__unix_ms());
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = mdeploy_store__error(store, "cannot restart the execution");
		goto fail;
	}
	sqlite3_finalize(st);
	st = NULL;
	if ((rc = mdeploy_store__commit(store)) != 0)
		goto out;
	mdeploy__log(ctx, MDEPLOY_LOG_INFO, "pipeline", "%s: retrying stage %s (%s actions)", full, stage,
	             all_actions ? "all" : "failed");
	rc = mdeploy_pipeline__run_existing(ctx, &store, full, opts ? opts->poll_ms : 0);
	goto out;
fail:
	mdeploy_store__rollback(store);
out:
	sqlite3_finalize(st);
	mdeploy_store_free(store);
	return rc;
}
