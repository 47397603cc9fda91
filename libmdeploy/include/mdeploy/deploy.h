/*
 * mdeploy/deploy.h - deployments: the CodeDeploy service of mdeploy.
 *
 * A deployment takes a bundle to a deployment group (mdeploy/group.h).
 * Blue/green: a new fleet `app-group-vNNN` is created like the live one,
 * the agent installs and validates the bundle on each of its instances,
 * they join the load balancer with weight 0, traffic moves to them (all at
 * once, canary or linear) while alarms are watched, the old fleet is
 * drained and kept warm for the retention time, then terminated.
 *
 * Safety: one deployment per group at a time (a lock in the state store;
 * a dead owner's lock is taken over with a warning). Every step is written
 * to the journal before it runs and every step is idempotent, so
 * mdeploy_deploy_resume() after a crash at any point ends with either the
 * new release fully live or the old one. The bundle, its signature and
 * appspec and the group are checked before any instance changes.
 *
 * Retained fleets whose time is up are terminated by the next deployment
 * command on their group (there is no daemon). Old fleets are terminated
 * after the deployment reported its outcome and released the group lock:
 * a deployment only records the retirement and takes the fleet out of the
 * load balancer; an interrupted retirement is finished by the next command
 * of the group (create, rollback, scale, cleanup, group stop/start).
 *
 * Thread-safety: one thread per context.
 */
#ifndef MDEPLOY_DEPLOY_H
#define MDEPLOY_DEPLOY_H

#include "common.h"
#include "context.h"
#include "config.h"
#include "provider.h"
#include "store.h"

MDEPLOY_BEGIN_DECL

typedef struct mdeploy_deploy_options {
	unsigned int version;
	const char *group;                 /* deployment group name (create, plan, rollback) */
	const char *bundle;                /* bundle path (create, plan) */
	/* NULL-terminated trusted Ed25519 public keys (PEM); non-NULL: the bundle
	 * must be signed by one of them. Borrowed. */
	const char *const *trusted_keys;
	/* Wait this long for another deployment of the group to finish; 0: fail at once. */
	unsigned int lock_wait_ms;
	/* On rollback, keep the failed green fleet running for inspection. */
	int keep_failed;
	/* Version 2. Deploy a release whose component versions are lower than
	 * the live release's (Moodle refuses to run older code on a newer
	 * database: the database must be restored to match). 0: refuse. */
	int allow_downgrade;
	/* Version 3. Rollback across a database upgrade: restore the backup the
	 * upgrade took (what was written since is lost). 0: refuse, naming the
	 * command that would. */
	int restore_database;
	/* Version 4. Who asks, recorded with the deployments this call creates
	 * (mdeploy_deployment_record.created_by): "user:LOGIN", "token:NAME",
	 * "pipeline:NAME/EXECUTION". NULL: "user:" and the login name of the
	 * effective user. */
	const char *by;
} mdeploy_deploy_options;

#define MDEPLOY_DEPLOY_OPTIONS_VERSION 4
#define MDEPLOY_DEPLOY_OPTIONS_INIT { MDEPLOY_DEPLOY_OPTIONS_VERSION, NULL, NULL, NULL, 0, 0, 0, 0, NULL }

MDEPLOY_EXTERN(int) mdeploy_deploy_options_init(mdeploy_deploy_options *opts, unsigned int version);

/*
 * Deploy `opts->bundle` to `opts->group` and wait for the end. `id` (12
 * bytes) gets the deployment id as soon as the record exists, so a caller
 * can report it even on failure ("" when validation failed before). The
 * record says who created it (opts->by) and the SHA-256 of the bundle file
 * and its signature's key id, as validated.
 * Returns 0 when the new release is live; MDEPLOY_ENOTFOUND for an unknown
 * group; MDEPLOY_EVERIFY for an unsigned or tampered bundle;
 * MDEPLOY_EINVALID for an invalid appspec; MDEPLOY_ELOCKED when another
 * deployment holds the group; MDEPLOY_EHOOK when instances failed (the old
 * release serves, rolled back); MDEPLOY_ECONFLICT when stopped.
 */
MDEPLOY_EXTERN(int) mdeploy_deploy_create(mdeploy_ctx *ctx, const mdeploy_config *cfg,
                                          const mdeploy_deploy_options *opts, char id[12]);

/* Continue deployment `id` after a crash (or an interrupted wait). */
MDEPLOY_EXTERN(int) mdeploy_deploy_resume(mdeploy_ctx *ctx, const mdeploy_config *cfg, const char *id,
                                          const mdeploy_deploy_options *opts);

/*
 * Ask a running deployment to stop; with `rollback` traffic goes back to
 * the old fleet at once and the new one is terminated. When the process
 * running it is gone, this call takes its lock over and does it itself.
 */
MDEPLOY_EXTERN(int) mdeploy_deploy_stop(mdeploy_ctx *ctx, const mdeploy_config *cfg, const char *id,
                                        int rollback);

/* Let a deployment waiting for manual promotion shift traffic. */
MDEPLOY_EXTERN(int) mdeploy_deploy_promote(mdeploy_ctx *ctx, const char *id);

/*
 * Roll group `opts->group` back after a successful deployment: while the
 * previous fleet is retained, traffic returns to it at once and the current
 * one is retained in its place; once it is gone, the last good bundle
 * before the live one is deployed again. `id` gets the new deployment id.
 * Its record says who asked (opts->by) and the digest and signer of the
 * bundle it goes back to (those recorded when that fleet was deployed).
 */
MDEPLOY_EXTERN(int) mdeploy_deploy_rollback(mdeploy_ctx *ctx, const mdeploy_config *cfg,
                                            const mdeploy_deploy_options *opts, char id[12]);

/*
 * Terminate the retained (blue) fleet of `group`, or of every group when
 * `group` is NULL, once its blue_retention has passed; `terminated` (may
 * be NULL) gets how many fleets went. Idempotent, for cron or a systemd
 * timer; create and rollback do the same for their group. Takes each
 * group's lock without waiting, never a crashed deployment's (resume
 * takes that over): MDEPLOY_ELOCKED when `group` is busy,
 * busy groups are skipped when `group` is NULL.
 */
MDEPLOY_EXTERN(int) mdeploy_deploy_cleanup(mdeploy_ctx *ctx, const mdeploy_config *cfg, const char *group,
                                           size_t *terminated);

/*
 * The fleet of `group` retained as blue and when its retention ends
 * (Unix ms; it is terminated by the first cleanup after that), or
 * MDEPLOY_ENOTFOUND when none is retained.
 */
MDEPLOY_EXTERN(int) mdeploy_deploy_retained(mdeploy_ctx *ctx, const char *application, const char *group,
                                            char fleet[128], int64_t *until_ms);

/*
 * Scale the live fleet of group `opts->group` to `desired` instances (and
 * `min`/`max` when non-zero), as an Auto Scaling group with a load balancer
 * would: dead or unhealthy instances are replaced first (see
 * mdeploy_deploy_heal()); new instances boot with the group's live release
 * through the agent (as EC2 user data would), start, pass ValidateService
 * and the health check, and join the load balancer at the fleet's weight;
 * surplus instances (unhealthy ones first, then the newest) are drained and
 * leave the load balancer before they are terminated. `fleet` (may be NULL) must name the live fleet,
 * else MDEPLOY_ECONFLICT. Takes the group's lock.
 */
MDEPLOY_EXTERN(int) mdeploy_deploy_scale(mdeploy_ctx *ctx, const mdeploy_config *cfg,
                                         const mdeploy_deploy_options *opts, const char *fleet,
                                         unsigned int desired, unsigned int min, unsigned int max);

/*
 * Heal the live fleet of `opts->group` (of every group of `cfg` when it is
 * NULL; `fleet`, when given, must be that group's live fleet), as an Auto
 * Scaling group does: instances whose server is not running, and those the
 * load balancer has DOWN while another instance of the fleet is UP, leave
 * the load balancer and are terminated, and as many new ones boot with the
 * live release through the agent, pass ValidateService and healthy_threshold
 * real health checks, and join at the fleet's weight. A fleet whose every
 * instance fails its health check is left as it is (the release or the
 * database is at fault, not an instance). Stopped groups, groups with
 * nothing live and groups whose load balancer is not running are skipped. `replaced` (may be NULL) gets how many were
 * replaced. Takes each group's lock (waiting opts->lock_wait_ms; with no
 * group given, busy groups are skipped). mdeploy_deploy_scale() heals first,
 * and removes unhealthy instances first, then the newest, when scaling in.
 */
MDEPLOY_EXTERN(int) mdeploy_deploy_heal(mdeploy_ctx *ctx, const mdeploy_config *cfg,
                                        const mdeploy_deploy_options *opts, const char *fleet, size_t *replaced);

/*
 * Non-zero when the deployment `rec` has not finished and no live process
 * runs it (killed, crashed): only `resume`, `stop` or `rollback` carry it
 * on, and a new deployment of its group is refused until then. `step` (may
 * be NULL) gets the step it was interrupted at.
 */
MDEPLOY_EXTERN(int) mdeploy_deploy_interrupted(mdeploy_store *store, const mdeploy_deployment_record *rec,
                                               char step[64]);

/*
 * The logs a failed (or stopped) deployment kept: for each green instance,
 * INSTANCE.log (its hook output, as the agent wrote it) and
 * INSTANCE.server.log (the last MiB of its server's log), copied to
 * STATE_DIR/deployments/ID/logs/ before its fleet was retired; the errors
 * of the deployment name these paths. `cb` gets each path, sorted; non-zero
 * stops with MDEPLOY_EUSER. Nothing kept is not an error.
 */
MDEPLOY_EXTERN(int) mdeploy_deploy_logs(mdeploy_ctx *ctx, const char *id,
                                        int (*cb)(const char *path, void *payload), void *payload);

/* ---- as JSON (see mdeploy/common.h): `deploy history|status --json` ---- */

/*
 * One deployment of `deploy history --json`: id, application, group,
 * status, strategy, bundle, previous_bundle, error, created_at, updated_at,
 * completed_at (unix seconds), created_by, bundle_sha256, bundle_key_id,
 * and from its plan green_fleet, blue_fleet and timings. With `store`
 * (may be NULL), an unfinished deployment whose process is gone also gets
 * "interrupted": true and "interrupted_at" (its status stays the record's).
 */
MDEPLOY_EXTERN(struct json_t *) mdeploy_deployment_to_json(mdeploy_store *store,
                                                          const mdeploy_deployment_record *rec);
/*
 * `deploy status --json`: that, with "group_stopped", "retained" ({fleet,
 * expires_at_ms}, when its group retains a fleet), "steps" (the journal:
 * seq, step, target, state, error, started_at_ms, finished_at_ms, and a
 * backup step's "backup") and "logs" (mdeploy_deploy_logs()). Reads only.
 */
MDEPLOY_EXTERN(struct json_t *) mdeploy_deployment_status_to_json(mdeploy_ctx *ctx, mdeploy_store *store,
                                                                 const mdeploy_deployment_record *rec);

/* ---- stopping and starting a group ---- */

/*
 * Stop group `opts->group` and keep everything it is: the group is marked
 * stopped (deploy create, rollback, scale and cron refuse it,
 * MDEPLOY_ECONFLICT, until it starts), its cron runner ends (a run in
 * progress finishes first; at most 10 minutes, else MDEPLOY_ETIMEOUT naming
 * it), its live fleet's targets drain (up to drain_timeout)
 * and go into maintenance at the load balancer, which answers 503 and
 * reports them MAINT with their weights kept, the retained fleet's targets
 * too, then every instance of both fleets is stopped. `stopped` (may be
 * NULL) gets how many instances were stopped. Idempotent: a stop
 * interrupted half-way is finished by the next. MDEPLOY_ENOTFOUND when the
 * group has no live fleet; takes the group's lock (never an interrupted
 * deployment's: that one is named).
 */
MDEPLOY_EXTERN(int) mdeploy_group_stop(mdeploy_ctx *ctx, const mdeploy_config *cfg,
                                       const mdeploy_deploy_options *opts, size_t *stopped);

/*
 * Start a stopped group: the load balancer is started if it is not
 * running, the live fleet's instances start on the release they hold and
 * leave maintenance, and the group runs again once every one of them has
 * passed healthy_threshold real health checks (else MDEPLOY_ETIMEOUT naming
 * each instance and what its health path answered; the group stays
 * stopped and the call may be repeated). The retained fleet starts again
 * warm and drained, as it was. `started` (may be NULL) gets how many
 * instances started. A group that is not stopped is left alone (0).
 */
MDEPLOY_EXTERN(int) mdeploy_group_start(mdeploy_ctx *ctx, const mdeploy_config *cfg,
                                        const mdeploy_deploy_options *opts, size_t *started);

/* Non-zero when the group is stopped; `since_ms` (may be NULL) gets when (Unix ms). */
MDEPLOY_EXTERN(int) mdeploy_group_stopped(mdeploy_ctx *ctx, const char *application, const char *group,
                                          int64_t *since_ms);

/* ---- fleets of deployment groups ---- */

typedef enum {
	MDEPLOY_FLEET_UNMANAGED = 0, /* its tags name no application and group */
	MDEPLOY_FLEET_LIVE,          /* serves the group's live release */
	MDEPLOY_FLEET_RETAINED,      /* the previous blue, kept for an instant rollback */
	MDEPLOY_FLEET_DEPLOYING,     /* green or blue of a deployment that has not finished */
	MDEPLOY_FLEET_ORPHANED,      /* the group's, but none of the above: nothing will remove it */
	MDEPLOY_FLEET_RETIRING       /* out of the load balancer, recorded to be terminated (the next
	                              * command of its group finishes an interrupted retirement) */
} mdeploy_fleet_role;

/* "live", "retained", "deploying", "orphaned", "retiring", or "-" for an unmanaged fleet. */
MDEPLOY_EXTERN(const char *) mdeploy_fleet_role_name(mdeploy_fleet_role role);

/*
 * What the state store knows `fleet` as (from its application and group
 * tags, the group's live and retained fleets and its unfinished
 * deployments). Reads only.
 */
MDEPLOY_EXTERN(int) mdeploy_deploy_fleet_role(mdeploy_store *store, const mdeploy_fleet_info *fleet,
                                              mdeploy_fleet_role *out);

/*
 * A fleet of `fleet list --json` (see mdeploy/common.h): name, desired,
 * min, max, port, running, created_at, role (from `store`; "-" when NULL)
 * and tags.
 */
MDEPLOY_EXTERN(struct json_t *) mdeploy_fleet_to_json(mdeploy_store *store, const mdeploy_fleet_info *fleet);
/*
 * `fleet show --json NAME`: that, with "instances" (mdeploy_instance_to_json())
 * and "load_balancer": its group's load balancer (APP-GROUP from its tags)
 * with the fleet's weight there ({name, weight, share_percent, targets,
 * in_rotation}), null when none weighs it. MDEPLOY_ENOTFOUND for an
 * unknown fleet. Reads only.
 */
MDEPLOY_EXTERN(int) mdeploy_fleet_show_to_json(mdeploy_provider *p, mdeploy_store *store, const char *fleet,
                                               struct json_t **out);

/*
 * Delete a fleet: its instances leave the group's load balancer, then they
 * and the fleet are terminated. Refuses (MDEPLOY_ECONFLICT) the live fleet
 * and a fleet of an unfinished deployment (named in the message); a retained
 * fleet stops being retained. Takes the group's lock without taking over a
 * dead owner (MDEPLOY_ELOCKED). MDEPLOY_ENOTFOUND for an unknown fleet.
 */
MDEPLOY_EXTERN(int) mdeploy_deploy_fleet_delete(mdeploy_ctx *ctx, const char *fleet);

/* ---- plan: which path a bundle takes ---- */

typedef struct mdeploy_plan mdeploy_plan;

typedef struct mdeploy_plan_change {
	const char *component;   /* "core", "mod_forum", or a version.php path */
	const char *from;        /* NULL when added */
	const char *to;          /* NULL when removed */
	int downgrade;           /* both versions known and `to` is lower than `from` */
} mdeploy_plan_change;

/* What a release does to the database. */
typedef enum mdeploy_plan_kind {
	MDEPLOY_PLAN_CODE_ONLY = 0, /* no component version changes: zero-downtime swap */
	MDEPLOY_PLAN_UPGRADE = 1,   /* versions go up, or plugins come or go: maintenance window */
	MDEPLOY_PLAN_INSTALL = 2,   /* an empty database: Moodle installs the site */
	MDEPLOY_PLAN_DOWNGRADE = 3  /* some version goes down: refused unless allow_downgrade */
} mdeploy_plan_kind;

/*
 * Compare `opts->bundle` with what group `opts->group` runs now, from the
 * bundle manifests: any component version change, or a plugin added or
 * removed, needs a database upgrade (the maintenance path); otherwise the
 * swap has no downtime. A component whose numeric version ($version of its
 * version.php, as the manifest records it) is lower than the live one's
 * makes it a downgrade: the plan says so and which, and still succeeds;
 * a group that has never had a live release gets MDEPLOY_PLAN_INSTALL;
 * mdeploy_deploy_create() refuses a downgrade unless
 * opts->allow_downgrade. Nothing changes. Free with mdeploy_plan_free().
 */
MDEPLOY_EXTERN(int) mdeploy_deploy_plan(mdeploy_ctx *ctx, const mdeploy_config *cfg,
                                        const mdeploy_deploy_options *opts, mdeploy_plan **out);
MDEPLOY_EXTERN(void) mdeploy_plan_free(mdeploy_plan *plan);
/* Non-zero when the release needs a database upgrade (or install). */
MDEPLOY_EXTERN(int) mdeploy_plan_upgrade(const mdeploy_plan *plan);
/* Install, upgrade, code-only or downgrade. */
MDEPLOY_EXTERN(mdeploy_plan_kind) mdeploy_plan_kind_of(const mdeploy_plan *plan);
/* "code-only", "upgrade", "install" or "downgrade". */
MDEPLOY_EXTERN(const char *) mdeploy_plan_kind_name(mdeploy_plan_kind kind);
/* One sentence saying why. */
MDEPLOY_EXTERN(const char *) mdeploy_plan_reason(const mdeploy_plan *plan);
/*
 * What the plan looked at to decide, in words: a first install is decided
 * from the store (the group never had a live release), not by probing the
 * database.
 */
MDEPLOY_EXTERN(const char *) mdeploy_plan_checked(const mdeploy_plan *plan);
/* The live bundle compared against, or NULL for a first deployment. */
MDEPLOY_EXTERN(const char *) mdeploy_plan_live_bundle(const mdeploy_plan *plan);
MDEPLOY_EXTERN(size_t) mdeploy_plan_change_count(const mdeploy_plan *plan);
MDEPLOY_EXTERN(const mdeploy_plan_change *) mdeploy_plan_change_at(const mdeploy_plan *plan, size_t i);

/*
 * The provider operations a deployment of this bundle would make now, in
 * order (a dry run: nothing is called), from the group's configuration and
 * its live and retained fleets: load balancer, green fleet, registrations,
 * health reads, fleet weights for each traffic step, drain, retirement; or
 * an in-place deployment's target states. Installs through the agent are
 * not provider calls and are not listed. Strings live as long as the plan.
 */
typedef struct mdeploy_plan_op {
	const char *step;        /* the journal step it belongs to ("create-fleet", "shift", ...) */
	const char *call;        /* the provider operation (mdeploy/provider.h): "fleet_create",
	                            "lb_register", "lb_set_fleet_weights", ... */
	const char *target;      /* the load balancer, fleet or instance it acts on */
	const char *detail;      /* what it asks for ("moodle-prod-v004 10, moodle-prod-v003 90") */
	const char *how;         /* how the provider carries it out (mdeploy_provider_describe()),
	                            NULL when it does not say */
} mdeploy_plan_op;

MDEPLOY_EXTERN(size_t) mdeploy_plan_op_count(const mdeploy_plan *plan);
MDEPLOY_EXTERN(const mdeploy_plan_op *) mdeploy_plan_op_at(const mdeploy_plan *plan, size_t i);

/* ---- cron: Moodle's scheduled tasks, one runner per group ---- */

typedef struct mdeploy_cron_options {
	unsigned int version;
	/* 0: one run. Otherwise a run every `every_ms` (start to start; at
	 * once when a run took longer), `count` runs (0: until the callback
	 * stops it). A failed run does not end the loop: the callback is told. */
	unsigned int every_ms;
	unsigned int count;
	/* One run's limit; 0: none. Default 3600000 (an hour). */
	unsigned int timeout_ms;
	/* The PHP CLI; NULL: "php" from PATH. */
	const char *php;
} mdeploy_cron_options;

#define MDEPLOY_CRON_OPTIONS_VERSION 1
#define MDEPLOY_CRON_OPTIONS_INIT { MDEPLOY_CRON_OPTIONS_VERSION, 0, 0, 3600000, NULL }

MDEPLOY_EXTERN(int) mdeploy_cron_options_init(mdeploy_cron_options *opts, unsigned int version);

typedef struct mdeploy_cron_result {
	char instance[32];       /* where it ran: the ready target with the greatest weight */
	char fleet[128];
	char release[128];       /* the release `current` named there (a deployment id) */
	int status;              /* 0, or the MDEPLOY_E* code of the failure */
	int exit_code;           /* cron.php's, -1 when it did not run or was killed */
	uint64_t started_ms, duration_ms;
	char error[1024];        /* when status is not 0 */
	char output_tail[4096];  /* the end of cron.php's output (stdout and stderr) */
} mdeploy_cron_result;

/* After each run; non-zero stops (MDEPLOY_EUSER). */
typedef int (*mdeploy_cron_cb)(const mdeploy_cron_result *res, void *payload);

/*
 * Run Moodle's admin/cli/cron.php --keep-alive=0 for group `group`, on one
 * instance of the release that takes traffic now (read from the load
 * balancer at each run, so a runner survives blue/green swaps), from the
 * release's directory with its config.php. One runner per group: the lock
 * cron/APP/GROUP is held for the whole call, and a second caller gets
 * MDEPLOY_ELOCKED at once, naming the holder. A single run returns 0 or
 * the failure (MDEPLOY_EHOOK when cron.php failed, with its last line;
 * MDEPLOY_ENOTFOUND when nothing takes traffic). A stopped group is
 * refused (MDEPLOY_ECONFLICT); a runner (every_ms) whose group gets stopped
 * ends before its next run, returning 0 (mdeploy_group_stop() waits for
 * that). `opts` and `cb` may be NULL.
 * Needs the instances' roots on this host (the local provider).
 */
MDEPLOY_EXTERN(int) mdeploy_cron_run(mdeploy_ctx *ctx, const mdeploy_config *cfg, const char *group,
                                     const mdeploy_cron_options *opts, mdeploy_cron_cb cb, void *payload);

MDEPLOY_END_DECL

#endif
