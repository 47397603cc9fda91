/*
 * mdeploy/pipeline.h - pipelines: the path from a git tag to production,
 * defined once and run durably, with approvals (AWS CodePipeline's model).
 *
 * A pipeline definition (pipelines/NAME.yml, see mdeploy-pipeline(5)) has
 * ordered stages, each with actions of type source, build, deploy, approval
 * or shell. Within a stage, actions with the same run_order run in
 * parallel; higher values run after lower ones. Actions pass named
 * artifacts (kept content-addressed in the artifact store) and variables:
 * `#{variables.NAME}` (pipeline variables, with defaults and overrides),
 * `#{pipeline.execution_id}`, `#{pipeline.name}`, and `#{NAMESPACE.NAME}`
 * for an output variable of an earlier action that declares `namespace`.
 *
 * Loading validates the document and the structure rules before anything
 * runs: at least two stages, source actions only in the first stage,
 * unique names, every input artifact produced by an earlier action, every
 * variable reference resolvable. Problems are MDEPLOY_EINVALID (class
 * PIPELINE), one per line, each "file:line:col: field: problem".
 *
 * Executions live in the state store (mdeploy/store.h): they survive the
 * process that started them, and mdeploy_pipeline_resume() continues one
 * whose runner died, without re-running finished actions.
 *
 * Relative paths in a definition (config, key) are taken from the project
 * directory: the parent of pipelines/ when the file is in one, else the
 * file's directory; source actions read <project>/mdeploy.yml by default.
 *
 * Thread-safety: a loaded definition is read-only and may be shared; one
 * thread per execution call (each opens its own store connection).
 */
#ifndef MDEPLOY_PIPELINE_H
#define MDEPLOY_PIPELINE_H

#include "common.h"
#include "context.h"

MDEPLOY_BEGIN_DECL

/* ------------------------------------------------------------------ */
/* Definitions                                                          */

typedef struct mdeploy_pipeline mdeploy_pipeline;

typedef enum {
	MDEPLOY_PIPELINE_ACTION_SOURCE   = 1,
	MDEPLOY_PIPELINE_ACTION_BUILD    = 2,
	MDEPLOY_PIPELINE_ACTION_DEPLOY   = 3,
	MDEPLOY_PIPELINE_ACTION_APPROVAL = 4,
	MDEPLOY_PIPELINE_ACTION_SHELL    = 5
} mdeploy_pipeline_action_type;

typedef enum {
	/* A newer execution replaces an older one waiting between stages. */
	MDEPLOY_PIPELINE_SUPERSEDED = 0,
	/* Executions wait their turn at each stage, in order. */
	MDEPLOY_PIPELINE_QUEUED     = 1
} mdeploy_pipeline_mode;

/* "source", "build", "deploy", "approval", "shell"; NULL for others. */
MDEPLOY_EXTERN(const char *) mdeploy_pipeline_action_type_name(int type);
/* "superseded", "queued". */
MDEPLOY_EXTERN(const char *) mdeploy_pipeline_mode_name(int mode);

typedef struct mdeploy_pipeline_variable {
	const char *name;
	const char *default_value;   /* NULL: required at run time */
	const char *description;     /* may be NULL */
} mdeploy_pipeline_variable;

/* One action. All strings and lists are borrowed from the definition. */
typedef struct mdeploy_pipeline_action {
	const char *name;
	const char *stage;              /* name of its stage */
	size_t stage_index;
	mdeploy_pipeline_action_type type;
	unsigned int run_order;         /* 1 when not given */
	const char *namespace_name;     /* NULL: its outputs are not referable */
	const char *const *inputs;      /* input artifact names */
	size_t input_count;
	const char *const *outputs;     /* output artifact names */
	size_t output_count;
	const char *const *output_variables; /* shell: names it promises to set */
	size_t output_variable_count;
	unsigned int timeout;           /* seconds; 0: none */
	const char *command;            /* shell: run by /bin/sh -c */
	const char *comment;            /* approval: shown to the approver */
	const char *config;             /* source, build, deploy: mdeploy.yml; NULL: the context's */
	const char *group;              /* deploy: the deployment group */
	const char *strategy;           /* reserved; always NULL (the group sets it) */
	const char *buildspec;          /* build: in the input; NULL: buildspec.yml */
	const char *key;                /* build: Ed25519 signing key (PEM); NULL: unsigned;
	                                   deploy: the public key the bundle must be signed by */
	const char *ref;                /* source: build core at this ref instead of the lock */
	const char *field;              /* "stages[1].actions[0]" for mdeploy_pipeline_where() */
} mdeploy_pipeline_action;

typedef struct mdeploy_pipeline_stage {
	const char *name;
	const mdeploy_pipeline_action *actions; /* in file order */
	size_t action_count;
} mdeploy_pipeline_stage;

typedef struct mdeploy_pipeline_load_options {
	unsigned int version;
	/* Name used in messages instead of the path; NULL: the path. */
	const char *display_name;
} mdeploy_pipeline_load_options;

#define MDEPLOY_PIPELINE_LOAD_OPTIONS_VERSION 1
#define MDEPLOY_PIPELINE_LOAD_OPTIONS_INIT { MDEPLOY_PIPELINE_LOAD_OPTIONS_VERSION, NULL }

MDEPLOY_EXTERN(int) mdeploy_pipeline_load_options_init(mdeploy_pipeline_load_options *opts,
                                                       unsigned int version);

/*
 * Where the definition called `name_or_path` is: a path when it holds a
 * '/' or ends in .yml/.yaml, else "pipelines/NAME.yml" under `dir` (NULL:
 * the current directory). *out is malloc'd (free()). MDEPLOY_ENOTFOUND
 * when no such file exists.
 */
MDEPLOY_EXTERN(int) mdeploy_pipeline_find(char **out, const char *dir, const char *name_or_path);

/*
 * Load and validate a definition. Free with mdeploy_pipeline_free(). `opts`
 * may be NULL. MDEPLOY_ENOTFOUND for a missing file, MDEPLOY_EINVALID with
 * every problem located otherwise.
 */
MDEPLOY_EXTERN(int) mdeploy_pipeline_load(mdeploy_pipeline **out, const char *path,
                                          const mdeploy_pipeline_load_options *opts);
MDEPLOY_EXTERN(void) mdeploy_pipeline_free(mdeploy_pipeline *p);

/* The project directory relative paths are resolved against. */
MDEPLOY_EXTERN(const char *) mdeploy_pipeline_project_dir(const mdeploy_pipeline *p);
/* `name:`, else the file name without .yml. */
MDEPLOY_EXTERN(const char *) mdeploy_pipeline_name(const mdeploy_pipeline *p);
MDEPLOY_EXTERN(const char *) mdeploy_pipeline_description(const mdeploy_pipeline *p);
MDEPLOY_EXTERN(const char *) mdeploy_pipeline_path(const mdeploy_pipeline *p);
MDEPLOY_EXTERN(mdeploy_pipeline_mode) mdeploy_pipeline_execution_mode(const mdeploy_pipeline *p);
MDEPLOY_EXTERN(size_t) mdeploy_pipeline_variable_count(const mdeploy_pipeline *p);
MDEPLOY_EXTERN(const mdeploy_pipeline_variable *) mdeploy_pipeline_variable_at(const mdeploy_pipeline *p, size_t i);
MDEPLOY_EXTERN(size_t) mdeploy_pipeline_stage_count(const mdeploy_pipeline *p);
MDEPLOY_EXTERN(const mdeploy_pipeline_stage *) mdeploy_pipeline_stage_at(const mdeploy_pipeline *p, size_t i);
/* "STAGE/ACTION"; NULL when absent. */
MDEPLOY_EXTERN(const mdeploy_pipeline_action *) mdeploy_pipeline_action_find(const mdeploy_pipeline *p,
                                                                          const char *stage,
                                                                          const char *action);
/* "file:line:col" of a field such as "stages[1].actions[0].command". Per-thread buffer. */
MDEPLOY_EXTERN(const char *) mdeploy_pipeline_where(const mdeploy_pipeline *p, const char *field);

/*
 * Resolve `#{NAMESPACE.NAME}` references in `text`. `lookup` returns the
 * value (borrowed) or NULL when unknown; an unknown reference fails with
 * MDEPLOY_ENOTFOUND naming it. *out is malloc'd.
 */
typedef const char *(*mdeploy_pipeline_lookup_cb)(const char *ns, const char *name, void *payload);
MDEPLOY_EXTERN(int) mdeploy_pipeline_substitute(char **out, const char *text,
                                                mdeploy_pipeline_lookup_cb lookup, void *payload);

/* ------------------------------------------------------------------ */
/* Executions                                                           */

/*
 * Statuses. Executions: Queued, InProgress, Stopping, Succeeded, Failed,
 * Stopped, Superseded. Actions: Pending, InProgress, Waiting (approval),
 * Succeeded, Failed, Abandoned, Skipped.
 */

/* A pipeline variable override, "NAME=VALUE". */
typedef struct mdeploy_pipeline_run_options {
	unsigned int version;
	const char *const *variables; /* NULL-terminated "NAME=VALUE" list; may be NULL */
	const char *trigger;          /* recorded: "manual" (default), "watch" ... */
	const char *revision;         /* recorded: what triggered it; may be NULL */
	/* Non-zero: create the execution and return its id without running it
	 * (mdeploy_pipeline_resume() runs it). */
	int detach;
	/* Poll interval while waiting (approvals, stage turns), ms; default 200. */
	unsigned int poll_ms;
} mdeploy_pipeline_run_options;

#define MDEPLOY_PIPELINE_RUN_OPTIONS_VERSION 1
#define MDEPLOY_PIPELINE_RUN_OPTIONS_INIT { MDEPLOY_PIPELINE_RUN_OPTIONS_VERSION, NULL, NULL, NULL, 0, 0 }

MDEPLOY_EXTERN(int) mdeploy_pipeline_run_options_init(mdeploy_pipeline_run_options *opts,
                                                      unsigned int version);

/*
 * Start an execution of `p` and drive it to the end (or until it waits
 * for nobody: superseded, stopped). Variables are resolved first: an
 * unknown --var, or a variable with no default and no value, fails with
 * MDEPLOY_EINVALID before anything is recorded. `id_out` (37 bytes, may be
 * NULL) gets the execution id as soon as it exists. Returns 0 when the
 * execution succeeded, MDEPLOY_EHOOK when an action failed, MDEPLOY_ETIMEOUT
 * when one timed out, MDEPLOY_ECONFLICT when it was stopped or superseded;
 * the final status is in the store either way. Progress goes to the
 * context's callbacks (operation "pipeline", unit "actions").
 */
MDEPLOY_EXTERN(int) mdeploy_pipeline_run(mdeploy_ctx *ctx, const mdeploy_pipeline *p,
                                         const mdeploy_pipeline_run_options *opts, char id_out[37]);

/*
 * Continue execution `id` (NULL: every unfinished execution whose runner is
 * gone) after a crash or reboot. Finished actions are not re-run; an
 * action whose worker is still alive is waited for; an interrupted shell,
 * source or build action is run again; approvals keep their deadline.
 * MDEPLOY_ELOCKED when a live process still drives it.
 */
MDEPLOY_EXTERN(int) mdeploy_pipeline_resume(mdeploy_ctx *ctx, const char *id,
                                            const mdeploy_pipeline_run_options *opts);

/*
 * Decide an approval action waiting in execution `id`. `action` is
 * "STAGE/ACTION". MDEPLOY_ECONFLICT when it is not waiting.
 */
MDEPLOY_EXTERN(int) mdeploy_pipeline_approve(mdeploy_ctx *ctx, const char *id, const char *action,
                                             int approve, const char *comment);
/*
 * The same, recording who decided (`by`, e.g. "token:alice" or
 * "user:root"; NULL: nobody named): the action's summary says
 * "approved by BY", and its variables get `by` beside `decision` and
 * `comment`.
 */
MDEPLOY_EXTERN(int) mdeploy_pipeline_decide(mdeploy_ctx *ctx, const char *id, const char *action,
                                            int approve, const char *comment, const char *by);

/*
 * Run again the failed (all_actions 0) or all actions of stage `stage` of a
 * failed or stopped execution, then the stages after it, driving it like
 * mdeploy_pipeline_run(). MDEPLOY_ECONFLICT when the execution is not
 * finished unsuccessfully.
 */
MDEPLOY_EXTERN(int) mdeploy_pipeline_retry(mdeploy_ctx *ctx, const char *id, const char *stage,
                                           int all_actions, const mdeploy_pipeline_run_options *opts);

/*
 * Ask execution `id` to stop: its runner lets running actions finish and
 * then stops (abandon 0), or kills them (abandon non-zero). When no runner
 * is alive it is marked Stopped at once.
 */
MDEPLOY_EXTERN(int) mdeploy_pipeline_stop(mdeploy_ctx *ctx, const char *id, int abandon);

/* An execution as recorded. Strings are borrowed from the snapshot. */
typedef struct mdeploy_pipeline_action_state {
	const char *stage;
	const char *action;
	const char *type;
	unsigned int run_order;
	const char *status;
	unsigned int attempt;       /* runs started; 0 never run */
	const char *error;          /* may be NULL */
	const char *summary;        /* one line, e.g. "exited with status 0"; may be NULL */
	const char *variables;      /* JSON object of its output variables; may be NULL */
	const char *artifacts;      /* JSON object name -> sha256 digest; may be NULL */
	const char *comment;        /* approval decision comment; may be NULL */
	const char *log_path;       /* shell: combined output; may be NULL */
	int64_t started_at, finished_at, deadline; /* unix ms; 0 unset */
	long worker_pid;            /* the worker process running it; 0 none */
} mdeploy_pipeline_action_state;

typedef struct mdeploy_pipeline_execution_info {
	const char *id;
	const char *pipeline;
	const char *definition;     /* path the definition was read from */
	const char *status;
	const char *mode;
	const char *trigger;
	const char *revision;       /* may be NULL */
	const char *variables;      /* JSON object of resolved pipeline variables */
	const char *error;          /* may be NULL */
	const char *current_stage;  /* may be NULL */
	int64_t created_at, updated_at, completed_at; /* unix ms */
	const mdeploy_pipeline_action_state *actions; /* in pipeline order */
	size_t action_count;
} mdeploy_pipeline_execution_info;

typedef struct mdeploy_pipeline_execution mdeploy_pipeline_execution;

/* Load execution `id` (a unique prefix is accepted). Free with mdeploy_pipeline_execution_free(). */
MDEPLOY_EXTERN(int) mdeploy_pipeline_execution_get(mdeploy_ctx *ctx, const char *id,
                                                   mdeploy_pipeline_execution **out);
/* The newest execution of `pipeline` (NULL: of any). MDEPLOY_ENOTFOUND when none. */
MDEPLOY_EXTERN(int) mdeploy_pipeline_execution_latest(mdeploy_ctx *ctx, const char *pipeline,
                                                      mdeploy_pipeline_execution **out);
MDEPLOY_EXTERN(const mdeploy_pipeline_execution_info *)
	mdeploy_pipeline_execution_info_of(const mdeploy_pipeline_execution *e);
MDEPLOY_EXTERN(void) mdeploy_pipeline_execution_free(mdeploy_pipeline_execution *e);
/*
 * An execution as `pipeline status --json` prints it (see mdeploy/common.h):
 * id, pipeline, status, mode, trigger, revision, error, current_stage,
 * created_at, updated_at, completed_at, variables, and when it has any,
 * "actions" with each one's stage, action, type, run_order, status, attempt,
 * error, summary, comment, log, variables, artifacts, started_at,
 * finished_at, deadline and worker_pid.
 */
MDEPLOY_EXTERN(struct json_t *) mdeploy_pipeline_execution_to_json(const mdeploy_pipeline_execution_info *info);

/* Non-zero for Succeeded, Failed, Stopped, Superseded. */
MDEPLOY_EXTERN(int) mdeploy_pipeline_status_is_final(const char *status);

typedef int (*mdeploy_pipeline_execution_cb)(const mdeploy_pipeline_execution_info *info, void *payload);
/*
 * Executions newest first (actions not filled in: action_count 0);
 * `pipeline` filters when not NULL, `limit` 0 means all. A non-zero
 * callback return stops with MDEPLOY_EUSER.
 */
MDEPLOY_EXTERN(int) mdeploy_pipeline_history(mdeploy_ctx *ctx, const char *pipeline, unsigned int limit,
                                             mdeploy_pipeline_execution_cb cb, void *payload);

/* ------------------------------------------------------------------ */
/* Triggers                                                             */

typedef struct mdeploy_pipeline_watch_options {
	unsigned int version;
	/* Tags matching this glob (fnmatch) trigger; NULL: new commits on each
	 * source's ref trigger. */
	const char *tag_pattern;
	unsigned int interval_ms;    /* between polls; default 30000 */
	unsigned int max_polls;      /* stop after this many polls; 0: never */
	/* Called after each poll; non-zero stops the watch (returns 0). */
	int (*poll_cb)(unsigned int started, void *payload);
	void *payload;
	/* Non-zero: start executions detached (mdeploy_pipeline_resume runs them). */
	int detach;
} mdeploy_pipeline_watch_options;

#define MDEPLOY_PIPELINE_WATCH_OPTIONS_VERSION 1
#define MDEPLOY_PIPELINE_WATCH_OPTIONS_INIT { MDEPLOY_PIPELINE_WATCH_OPTIONS_VERSION, NULL, 30000, 0, NULL, NULL, 0 }

MDEPLOY_EXTERN(int) mdeploy_pipeline_watch_options_init(mdeploy_pipeline_watch_options *opts,
                                                        unsigned int version);

/*
 * Poll the remotes of `p`'s source actions (core's tags matching
 * tag_pattern, else the commits of every configured ref) and start one
 * execution per new revision, with trigger "watch" and the revision
 * recorded; a declared variable `tag` (tag mode) or `revision` gets its
 * value. The first poll of a pipeline records what exists without
 * starting anything. Revisions are kept in the state store, so a
 * restarted watcher never starts a revision twice. Executions are run by
 * worker processes of the watcher (or only recorded with `detach`); they
 * finish before it returns. Returns after max_polls, or when poll_cb
 * returns non-zero; an unreachable remote is retried at the next poll.
 */
MDEPLOY_EXTERN(int) mdeploy_pipeline_watch(mdeploy_ctx *ctx, const mdeploy_pipeline *p,
                                           const mdeploy_pipeline_watch_options *opts);

MDEPLOY_END_DECL

#endif
