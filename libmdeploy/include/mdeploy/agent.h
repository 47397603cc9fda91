/*
 * mdeploy/agent.h - the on-host agent: what AWS CodeDeploy's agent does on
 * an instance, for local and EC2 instances alike.
 *
 * An agent works in a root directory:
 *
 *   ROOT/releases/<deployment-id>/  one unpacked revision each
 *   ROOT/current -> releases/<id>    the live release, switched by rename
 *   ROOT/shared/                     default MDEPLOY_SHARED_DIR
 *   ROOT/logs/<deployment-id>.log    hook output of each deployment
 *   ROOT/state.json                  live, previous, last successful,
 *                                    in-progress deployment, history,
 *                                    files-section cleanup list (written
 *                                    atomically)
 *   ROOT/agent.lock                  flock(2): one agent at a time
 *
 * Lifecycle events run in CodeDeploy's order: ApplicationStop (scripts of
 * the last successful revision), DownloadBundle, BeforeInstall, Install
 * (files section, permissions, atomic `current` switch), AfterInstall,
 * ApplicationStart, ValidateService, and on request BeforeBlockTraffic /
 * AfterBlockTraffic (last successful revision) and BeforeAllowTraffic /
 * AfterAllowTraffic.
 *
 * A failed hook, a full disk or a killed agent leaves the previous release
 * live: a failure after the switch puts `current` back (and runs the
 * previous release's ApplicationStart scripts again when the failed one's
 * had run), and the next call
 * after a crash (which finds the lock free and a deployment in progress)
 * does the same before anything else.
 *
 * Thread-safety: one thread per agent handle. Different processes may open
 * the same root; mutating calls then fail with MDEPLOY_ELOCKED.
 */
#ifndef MDEPLOY_AGENT_H
#define MDEPLOY_AGENT_H

#include "common.h"
#include "context.h"

MDEPLOY_BEGIN_DECL

typedef struct mdeploy_agent mdeploy_agent;

typedef struct mdeploy_agent_options {
	unsigned int version;
	mdeploy_ctx *ctx;            /* log and progress callbacks; NULL: silent */
	unsigned int keep_releases;  /* releases kept on disk; 0: default 5 */
	const char *shared_dir;      /* MDEPLOY_SHARED_DIR; NULL: ROOT/shared */
	unsigned int kill_grace_ms;  /* hook timeout: TERM to KILL; 0: 3000 */
	unsigned int drain_ms;       /* wait for pipes a leftover daemon holds; 0: 500 */
	/* NULL-terminated paths of trusted Ed25519 public keys (PEM): bundles
	 * must carry a manifest signed by one of them (as
	 * mdeploy_bundle_extract_options.trusted_keys); NULL: any bundle.
	 * Borrowed: must outlive the agent. */
	const char *const *trusted_keys;
} mdeploy_agent_options;

#define MDEPLOY_AGENT_OPTIONS_VERSION 1
#define MDEPLOY_AGENT_OPTIONS_INIT { MDEPLOY_AGENT_OPTIONS_VERSION, NULL, 0, NULL, 0, 0, NULL }

MDEPLOY_EXTERN(int) mdeploy_agent_options_init(mdeploy_agent_options *opts, unsigned int version);

/* Who and what a deployment is; hooks get it in their environment. */
typedef struct mdeploy_agent_deployment {
	unsigned int version;
	const char *deployment_id;         /* required: [A-Za-z0-9][A-Za-z0-9._-]{0,63} */
	const char *application_name;      /* APPLICATION_NAME */
	const char *deployment_group_name; /* DEPLOYMENT_GROUP_NAME */
	const char *deployment_group_id;   /* DEPLOYMENT_GROUP_ID */
	const char *instance_id;           /* MDEPLOY_INSTANCE_ID */
	const char *instance_addr;         /* MDEPLOY_INSTANCE_ADDR */
	/* Extra "K=V" entries for hooks (parameters, secrets), NULL-terminated;
	 * NULL: none. Never written to a log. */
	const char *const *env;
	/* Non-zero: run `scope: once` scripts here. The orchestrator sets it on
	 * exactly one instance per deployment. */
	int run_once_hooks;
	/* mdeploy_agent_install() only: also run Before/AfterBlockTraffic and
	 * Before/AfterAllowTraffic. */
	int traffic_hooks;
	/* Non-zero: a failing ApplicationStop script (of the last successful
	 * revision) is logged and the deployment goes on, as CodeDeploy's
	 * --ignore-application-stop-failures: a broken stop script must not
	 * block every later deployment. */
	int ignore_application_stop_failures;
	/* Version 2. Non-zero (with run_once_hooks): run only the `scope: once`
	 * scripts of the event, on a release already installed: the upgrade
	 * gate runs the database upgrade once every instance is installed. */
	int once_hooks_only;
	/* Version 3. Values (secrets given in `env`) that never reach a log:
	 * replaced by "***" in the hooks' output written to the deployment log
	 * and in error messages, line by line; NULL-terminated; NULL: none. */
	const char *const *mask;
} mdeploy_agent_deployment;

#define MDEPLOY_AGENT_DEPLOYMENT_VERSION 3
#define MDEPLOY_AGENT_DEPLOYMENT_INIT { MDEPLOY_AGENT_DEPLOYMENT_VERSION, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 1, 0, 0, 0, NULL }

MDEPLOY_EXTERN(int) mdeploy_agent_deployment_init(mdeploy_agent_deployment *d, unsigned int version);

/*
 * Open (creating if needed) the agent root `root`. `opts` may be NULL.
 * Free with mdeploy_agent_free(). Reads state; changes nothing else.
 */
MDEPLOY_EXTERN(int) mdeploy_agent_open(mdeploy_agent **out, const char *root,
                                       const mdeploy_agent_options *opts);

/* Accepts NULL. */
MDEPLOY_EXTERN(void) mdeploy_agent_free(mdeploy_agent *agent);

/*
 * A whole in-place deployment on this host: validate the appspec of
 * `source` (a bundle archive or an unpacked directory), then every event in
 * order. Returns 0 when the revision is live and ValidateService passed.
 * MDEPLOY_EINVALID for an invalid appspec (nothing has run), MDEPLOY_EHOOK
 * when a script failed or timed out (the message names the event and
 * script and ends with the last lines of its output), MDEPLOY_EEXISTS under
 * file_exists_behavior DISALLOW, MDEPLOY_ELOCKED when another agent works
 * in the root. On any failure the previous release stays live.
 */
MDEPLOY_EXTERN(int) mdeploy_agent_install(mdeploy_agent *agent, const char *source,
                                          const mdeploy_agent_deployment *d);

/*
 * One lifecycle event of deployment `d`, for an orchestrator that drives
 * many instances. `source` is needed by DownloadBundle only (NULL
 * otherwise). Install switches `current`; a successful ValidateService
 * makes the deployment the last successful one. A failing event leaves the
 * previous release live. BlockTraffic and AllowTraffic belong to the load
 * balancer, not the agent: MDEPLOY_EINVALID. MDEPLOY_ECONFLICT for an
 * event that needs DownloadBundle first.
 */
MDEPLOY_EXTERN(int) mdeploy_agent_run_event(mdeploy_agent *agent, const char *event,
                                            const char *source, const mdeploy_agent_deployment *d);

/*
 * Back to the previous successful release: ApplicationStop of the live
 * one (a failure there is logged, not fatal: the live release may be the
 * broken one), `current` switched, files section reinstalled, ApplicationStart and
 * ValidateService of the previous one. `d` may be NULL (hooks then get the
 * rolled-back-to deployment's id). MDEPLOY_ENOTFOUND when there is none.
 */
MDEPLOY_EXTERN(int) mdeploy_agent_rollback(mdeploy_agent *agent, const mdeploy_agent_deployment *d);

/*
 * Status. Strings are borrowed and valid until the next call on `agent`;
 * NULL when there is none. mdeploy_agent_refresh() re-reads the state.
 */
MDEPLOY_EXTERN(int) mdeploy_agent_refresh(mdeploy_agent *agent);
MDEPLOY_EXTERN(const char *) mdeploy_agent_root(const mdeploy_agent *agent);
/* Read from the `current` link, not from the state file. */
MDEPLOY_EXTERN(const char *) mdeploy_agent_live(const mdeploy_agent *agent);
MDEPLOY_EXTERN(const char *) mdeploy_agent_last_successful(const mdeploy_agent *agent);
/* The successful release before the last successful one (what rollback goes to). */
MDEPLOY_EXTERN(const char *) mdeploy_agent_previous(const mdeploy_agent *agent);
/* The deployment in progress (run-event), or one a crashed agent left. */
MDEPLOY_EXTERN(const char *) mdeploy_agent_pending(const mdeploy_agent *agent);

typedef struct mdeploy_agent_history_entry {
	const char *deployment_id;
	const char *status;   /* "Succeeded", "Failed", "Interrupted", "RolledBack", "InProgress" */
	const char *event;    /* where it failed or stopped; the last event when it succeeded */
	const char *message;  /* failure detail or NULL */
	int64_t started;      /* Unix seconds */
	int64_t finished;     /* 0 while in progress */
	const char *log_path; /* ROOT/logs/<id>.log */
} mdeploy_agent_history_entry;

/* Oldest first; the last 50 deployments. */
MDEPLOY_EXTERN(size_t) mdeploy_agent_history_count(const mdeploy_agent *agent);
MDEPLOY_EXTERN(const mdeploy_agent_history_entry *)
	mdeploy_agent_history_at(const mdeploy_agent *agent, size_t i);

/* ---- the pull model: an instance that installs a release itself (the agent on EC2) ---- */

typedef struct mdeploy_agent_pull_options {
	unsigned int version;
	const char *bundle_url;     /* required: s3://BUCKET/KEY */
	const char *bundle_sha256;  /* required: the SHA-256 the bundle must have (64 hex digits) */
	/* s3://BUCKET/PREFIX/: the report goes to PREFIX<instance id>.json after
	 * every event (mdeploy-agent(1) PULL REPORTS); NULL: no report. */
	const char *report_url;
	const char *region;         /* NULL: the AWS CLI's settings */
	const char *endpoint;       /* NULL: AWS's (AWS_ENDPOINT_URL honoured) */
} mdeploy_agent_pull_options;

#define MDEPLOY_AGENT_PULL_OPTIONS_VERSION 1
#define MDEPLOY_AGENT_PULL_OPTIONS_INIT { MDEPLOY_AGENT_PULL_OPTIONS_VERSION, NULL, NULL, NULL, NULL, NULL }

MDEPLOY_EXTERN(int) mdeploy_agent_pull_options_init(mdeploy_agent_pull_options *opts, unsigned int version);

/*
 * Deployment `d` (deployment_id and instance_id required) on this instance,
 * pulled: the bundle fetched from bundle_url with the instance's AWS
 * credentials into ROOT/downloads/, its SHA-256 checked, then ApplicationStop,
 * DownloadBundle (the signature checked against the agent's trusted_keys),
 * BeforeInstall, Install, AfterInstall, ApplicationStart and ValidateService
 * as mdeploy_agent_run_event() runs them. `scope: once` hooks do not run
 * (every instance of a fleet runs the same command). After each event the
 * report is written: status InProgress, Succeeded or Failed, each event's
 * result and time, and on failure the error and the deployment log's last
 * lines. A deployment this root already installed successfully is reported
 * Succeeded again without running anything (user data may run twice). An
 * error writing the report is the call's error.
 */
MDEPLOY_EXTERN(int) mdeploy_agent_pull(mdeploy_agent *agent, const mdeploy_agent_pull_options *opts,
                                       const mdeploy_agent_deployment *d);

/* Release ids on disk, oldest first. */
MDEPLOY_EXTERN(size_t) mdeploy_agent_release_count(const mdeploy_agent *agent);
MDEPLOY_EXTERN(const char *) mdeploy_agent_release_at(const mdeploy_agent *agent, size_t i);

MDEPLOY_END_DECL

#endif
