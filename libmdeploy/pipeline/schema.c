/*
 * schema.c - the pipeline module's tables in the state store. store.c
 * applies this text as one of its numbered migrations; it is kept here so
 * the pipeline's schema is read next to the code that uses it. Never edit
 * it once shipped: add a new migration instead.
 */
#include "pipeline_private.h"

const char mdeploy_pipeline__schema[] =
	/* One row per execution. `text` is the definition as it was when the
	 * execution started: resume and retry run what was started. */
	"CREATE TABLE pipeline_executions ("
	" id TEXT PRIMARY KEY, seq INTEGER NOT NULL UNIQUE, pipeline TEXT NOT NULL,"
	" definition TEXT NOT NULL, text TEXT NOT NULL, mode TEXT NOT NULL, status TEXT NOT NULL,"
	" trigger TEXT NOT NULL, revision TEXT, variables TEXT NOT NULL,"
	/* stage_index: the stage it occupies (-1 none); next_stage: the first
	 * stage not finished; waiting: it wants next_stage but may not enter. */
	" stage_index INTEGER NOT NULL DEFAULT -1, next_stage INTEGER NOT NULL DEFAULT 0,"
	" waiting INTEGER NOT NULL DEFAULT 0, stop_request INTEGER NOT NULL DEFAULT 0, error TEXT,"
	" runner_pid INTEGER NOT NULL DEFAULT 0, runner_start INTEGER NOT NULL DEFAULT 0,"
	" created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, completed_at INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX pipeline_executions_pipeline ON pipeline_executions(pipeline, seq);"
	/* One row per action of an execution; `deadline` is absolute (unix ms)
	 * so a timeout survives the runner. */
	"CREATE TABLE pipeline_actions ("
	" execution_id TEXT NOT NULL REFERENCES pipeline_executions(id) ON DELETE CASCADE,"
	" idx INTEGER NOT NULL, stage TEXT NOT NULL, action TEXT NOT NULL, stage_index INTEGER NOT NULL,"
	" type TEXT NOT NULL, run_order INTEGER NOT NULL, status TEXT NOT NULL,"
	" attempt INTEGER NOT NULL DEFAULT 0, worker_pid INTEGER NOT NULL DEFAULT 0,"
	" worker_start INTEGER NOT NULL DEFAULT 0, deadline INTEGER NOT NULL DEFAULT 0,"
	" started_at INTEGER NOT NULL DEFAULT 0, finished_at INTEGER NOT NULL DEFAULT 0,"
	" error TEXT, summary TEXT, variables TEXT, artifacts TEXT, comment TEXT, log_path TEXT,"
	" PRIMARY KEY (execution_id, idx));"
	/* Content-addressed artifacts: one row per distinct content. */
	"CREATE TABLE pipeline_artifacts ("
	" digest TEXT PRIMARY KEY, size INTEGER NOT NULL, created_at INTEGER NOT NULL);"
	/* Revisions a watcher has started an execution for. */
	"CREATE TABLE pipeline_triggers ("
	" pipeline TEXT NOT NULL, revision TEXT NOT NULL, execution_id TEXT, created_at INTEGER NOT NULL,"
	" PRIMARY KEY (pipeline, revision));";
