/*
 * deploy_private.h - the deployment orchestrator's shared internals.
 *
 * One concern per file (each says more in its header comment):
 *   create.c     validation, the deployment record and plan; create, resume, stop, promote
 *   run.c        group lock and heartbeat, the journal of steps, group values, provider helpers
 *   bluegreen.c  the blue/green flow;            inplace.c  the in-place flow
 *   traffic.c    fleet weights for a split, alarms watched while traffic moves, drain
 *   health.c     the health gate;                install.c  the agent on instances, in parallel
 *   pull.c       instances that install themselves (the agent on EC2): boot data, reports
 *   gate.c       the Moodle upgrade gate's steps; plan.c   what kind of release it is
 *   plan_ops.c   the provider operations a deployment would make (deploy plan's dry run)
 *   backup.c, restore.c  the database backup before an upgrade and its restore
 *   rollback.c   going back;   retention.c  live/retained fleets;   retire.c  retiring fleets
 *   scale.c      scaling and healing;  group.c  group stop/start;  cron.c  Moodle's cron
 *   env.c        the hooks' environment;  logs.c  failed deployments' logs;
 *   fleets.c     what the store knows of fleets;  ownership.c  who may resume
 * Nothing here names a provider: every fleet, instance and load balancer
 * operation goes through mdeploy/provider.h.
 */
#ifndef MDEPLOY_DEPLOY_PRIVATE_H
#define MDEPLOY_DEPLOY_PRIVATE_H

#include "mdeploy_private.h"
#include "mdeploy/deploy.h"
#include "mdeploy/group.h"
#include "mdeploy/store.h"
#include "mdeploy/provider.h"
#include "mdeploy/agent.h"
#include "mdeploy/appspec.h"
#include "mdeploy/bundle.h"

#include <jansson.h>

typedef struct done_mark {
	char *key;      /* "step\ttarget" */
} done_mark;

typedef struct mdeploy_deploy__run {
	mdeploy_ctx *ctx;
	const mdeploy_config *cfg;
	const mdeploy_group *g;
	const mdeploy_deploy_options *opts;
	mdeploy_store *store;
	mdeploy_provider *p;
	char id[12];
	char app[64];
	char lb[128];
	char lock[160];
	char key[160];              /* "deploy/<app>/<group>" */
	char bundle[4096];
	char green[128];
	char blue[128];             /* "" for a first deployment */
	done_mark *done;
	size_t ndone;
	uint64_t last_beat;
	uint64_t base_total, base_5xx; /* green's counters when the shift began */
	int have_base;
	uint64_t alarms_at;         /* when the provider's alarms were last read (ms) */
	unsigned int steps;
	int upgrade;                /* the release changes component versions (or installs the site) */
	mdeploy_plan_kind kind;     /* install, upgrade, code-only, downgrade (allowed) */
	int install_no_validate;    /* install batches skip ValidateService (the upgrade gate) */
	/* Where the time went outside the journal's steps (ms; deploy status shows them):
	 * waiting for the group, validating the bundle, planning, healing blue, and the
	 * retirement of the old fleet after the lock. */
	int64_t t_queued, t_validate, t_plan, t_heal, t_retire;
	char **env;                 /* the hooks' "K=V" list (env.c), secrets included; NULL: not loaded */
	const char **mask;          /* the secrets' values in env, NULL-terminated: masked in the agent's logs */
	char *step_data;            /* set by a step: JSON the journal keeps with it (backup.c) */
	char by[160];               /* who asked (opts->by, else "user:LOGIN"): new records say so */
	char bundle_sha256[65];     /* the bundle's digest and signer for the record; "" unknown */
	char bundle_key_id[17];     /* "" unsigned */
	int back;                   /* a rollback back to the retained fleet (blue); green is what it leaves */
	/* Fleets whose retirement this command recorded and whose lock retire/FLEET it
	 * holds from then on (retire.c), released when terminated or at dispose. */
	char retire_held[8][128];
	size_t nretire_held;
} mdeploy_deploy__run;

/* Compare Moodle versions ("2024100705.01"): -1, 0, 1, or 2 when not comparable. */
int mdeploy_deploy__version_cmp(const char *a, const char *b);
/* Group state kept in the store's values under r->key. */
int mdeploy_deploy__value_get(mdeploy_deploy__run *r, const char *name, char **out);
int mdeploy_deploy__value_set(mdeploy_deploy__run *r, const char *name, const char *value);

/* Provider views: a fleet's instances, the load balancer's targets. */
typedef int (*step_fn)(mdeploy_deploy__run *r, const char *target, void *arg);

typedef struct {
	char id[64][32];
	char addr[64][32];
	char root[64][1024];
	int running[64];
	size_t n;
} inst_list;

typedef struct {
	struct {
		char instance[32];
		unsigned int weight;
		char state[8];
		char health[24];
		uint64_t sessions, total, e5xx;
		char check_status[16];      /* the last health check: L7OK, L7STS, L4CON... */
		unsigned int check_code;    /* the HTTP status the health path answered */
		char check_output[160];
	} t[128];
	size_t n;
} target_list;

/* no_validate: stop after ApplicationStart (the upgrade gate validates once the database is upgraded). */
struct install_arg { const char *root, *addr; int once, no_validate; };

struct inst_arg { const char *root, *addr; };

/* Cross-file internals of the deploy module, by the file that defines them. */
/* run.c */
int mdeploy_deploy__flag_get(mdeploy_store *store, const char *id, const char *name, char **out);
int mdeploy_deploy__flag_set(mdeploy_store *store, const char *id, const char *name, const char *value);
void mdeploy_deploy__run_dispose(mdeploy_deploy__run *r);
int mdeploy_deploy__run_open(mdeploy_deploy__run *r, mdeploy_ctx *ctx, const mdeploy_config *cfg,
                             const mdeploy_deploy_options *opts, const char *group);
int mdeploy_deploy__lock_take(mdeploy_deploy__run *r, const char *owner, unsigned int wait_ms);
int mdeploy_deploy__beat(mdeploy_deploy__run *r);
int mdeploy_deploy__wait_for(mdeploy_deploy__run *r, unsigned int ms);
/* How often a wait reads the load balancer's targets: the provider's mdeploy_lb_poll_ms() (health.c). */
unsigned int mdeploy_deploy__lb_poll_ms(const mdeploy_deploy__run *r);
int mdeploy_deploy__load_done(const mdeploy_journal_entry *e, void *payload);
int mdeploy_deploy__is_done(mdeploy_deploy__run *r, const char *name, const char *target);
int mdeploy_deploy__step(mdeploy_deploy__run *r, const char *name, const char *target, step_fn fn, void *arg);
int mdeploy_deploy__instances(mdeploy_deploy__run *r, const char *fleet, inst_list *l);
int mdeploy_deploy__targets(mdeploy_deploy__run *r, target_list *l);
int mdeploy_deploy__in_list(const inst_list *l, const char *id);
int mdeploy_deploy__fleet_sizes(mdeploy_deploy__run *r, const char *fleet, unsigned int sizes[3]);
void mdeploy_deploy__unlock_keep_error(mdeploy_deploy__run *r, int rc);

/* create.c */
int mdeploy_deploy__validate(mdeploy_deploy__run *r, const char *bundle);
/* The keys every bundle installed in the group must be signed by: the
 * group's trusted_keys (mdeploy.yml), else the command's; NULL: any bundle. */
const char *const *mdeploy_deploy__trusted_keys(const mdeploy_deploy__run *r);
int mdeploy_deploy__save_data(mdeploy_deploy__run *r);
/* Insert the record of deployment r->id with who asked (r->by) and the bundle's
 * digest and signer (r->bundle_sha256, r->bundle_key_id; NULL when ""). */
int mdeploy_deploy__record_insert(mdeploy_deploy__run *r, const char *status, const char *strategy,
                                  const char *bundle, const char *previous);
/* r->bundle_sha256 and r->bundle_key_id from the newest Succeeded record that
 * put `fleet` live (green, or blue with r->back); left "" when none says. */
void mdeploy_deploy__origin_of_fleet(mdeploy_deploy__run *r, const char *fleet);
int mdeploy_deploy__create_with(mdeploy_ctx *ctx, const mdeploy_config *cfg, const mdeploy_deploy_options *opts,
                                const char *bundle, const char *strategy, char id[12]);

/* install.c */
extern const char *const mdeploy_deploy__install_events[6];
int mdeploy_deploy__agent_deployment(mdeploy_deploy__run *r, mdeploy_agent_deployment *d, const char *id,
                                     const char *addr, char *group_id, size_t n, int once);
int mdeploy_deploy__s_install(mdeploy_deploy__run *r, const char *target, void *arg);
void mdeploy_deploy__tally(mdeploy_deploy__run *r, const inst_list *l, size_t i, const int *res, char (*msg)[1024],
                           unsigned int *succeeded, int *last_failed_only, char *err, size_t nerr);
int mdeploy_deploy__install_batch(mdeploy_deploy__run *r, const inst_list *l, size_t from, size_t to,
                                  size_t once_index, int *res, char (*msg)[1024]);
int mdeploy_deploy__agent_event(mdeploy_deploy__run *r, const char *id, const char *root, const char *addr,
                                const char *event);

/* pull.c: providers whose instances install themselves (mdeploy_provider_pulls()). */
/* What such a deployment cannot do yet, refused before anything changes. */
int mdeploy_deploy__pull_check(mdeploy_deploy__run *r, int gate, int in_place);
/* What green's instances run at boot; free with mdeploy_deploy__pull_boot_free(). */
int mdeploy_deploy__pull_boot(mdeploy_deploy__run *r, mdeploy_agent_boot *b);
void mdeploy_deploy__pull_boot_free(mdeploy_agent_boot *b);
/* Wait for the reports of green's instances (l is refreshed until the fleet has them all):
 * res[i]/msg[i] as mdeploy_deploy__install_batch() gives them, each journaled as "install". */
int mdeploy_deploy__pull_wait(mdeploy_deploy__run *r, inst_list *l, int *res, char (*msg)[1024]);
/* After `fleet` grew to `desired` (the group makes the instances, their user data installs
 * `deployment`): *after lists them, each new one (not in `before`) has reported Succeeded. */
int mdeploy_deploy__pull_wait_new(mdeploy_deploy__run *r, const char *fleet, const char *deployment,
                                  const inst_list *before, unsigned int desired, inst_list *after);

/* bluegreen.c */
int mdeploy_deploy__s_lb(mdeploy_deploy__run *r, const char *target, void *arg);
int mdeploy_deploy__blue_green(mdeploy_deploy__run *r);

/* health.c */
int mdeploy_deploy__wait_healthy(mdeploy_deploy__run *r, const char *fleet);
int mdeploy_deploy__wait_checked(mdeploy_deploy__run *r, const char *fleet);
int mdeploy_deploy__s_health(mdeploy_deploy__run *r, const char *target, void *arg);

/* traffic.c */
int mdeploy_deploy__watch(mdeploy_deploy__run *r, unsigned int ms);
int mdeploy_deploy__apply_split(mdeploy_deploy__run *r, const char *from, const char *to, unsigned int pct);
int mdeploy_deploy__s_shift(mdeploy_deploy__run *r, const char *target, void *arg);
/* The group's cdn.invalidate paths of distribution `target` (once per reference: arg, else the
 * deployment id). */
int mdeploy_deploy__s_cdn(mdeploy_deploy__run *r, const char *target, void *arg);
int mdeploy_deploy__s_watch(mdeploy_deploy__run *r, const char *target, void *arg);
int mdeploy_deploy__s_drain(mdeploy_deploy__run *r, const char *target, void *arg);

/* retention.c */
int mdeploy_deploy__retire_fleet(mdeploy_deploy__run *r, const char *fleet);
int mdeploy_deploy__retained_get(mdeploy_deploy__run *r, char *fleet, size_t nf, int64_t *until, char *bundle, size_t nb);
int mdeploy_deploy__retained_set(mdeploy_deploy__run *r, const char *fleet, int64_t until, const char *bundle);
int mdeploy_deploy__s_finish(mdeploy_deploy__run *r, const char *target, void *arg);
int mdeploy_deploy__s_retire(mdeploy_deploy__run *r, const char *target, void *arg);
int mdeploy_deploy__s_retire_retained(mdeploy_deploy__run *r, const char *target, void *arg);
int mdeploy_deploy__cleanup_expired(mdeploy_deploy__run *r, size_t *terminated);

/* restore.c: `deploy rollback` across the upgrade by deployment `upgraded_by`: refuse with the
 * command, or (opts->restore_database) restore its backup. A bundle left in `redeploy` is the
 * previous one, to deploy again (no retained fleet), the lock released first. */
int mdeploy_deploy__refuse_or_restore(mdeploy_deploy__run *r, const mdeploy_deploy_options *opts, const char *live,
                                      const char *upgraded_by, char *id, char *redeploy, size_t n);
/* The group's last deployment failed after its upgrade began (`failed` gets it); restore its backup or refuse. */
int mdeploy_deploy__failed_upgrade(mdeploy_deploy__run *r, char failed[12]);
int mdeploy_deploy__restore_continue(mdeploy_deploy__run *r, int *is_restore);
int mdeploy_deploy__restore_failed(mdeploy_deploy__run *r, const mdeploy_deploy_options *opts, const char *live,
                                   const char *failed, char *id);

/* rollback.c */
int mdeploy_deploy__s_swap_back(mdeploy_deploy__run *r, const char *target, void *arg);
int mdeploy_deploy__rollback(mdeploy_deploy__run *r, const char *why);
int mdeploy_deploy__is_rollback_journal(const mdeploy_journal_entry *e, void *payload);

/* gate.c */
int mdeploy_deploy__pick_instance(mdeploy_deploy__run *r, const char *target, const char *what, inst_list *l,
                                  size_t *out);
int mdeploy_deploy__s_moodle_cli(mdeploy_deploy__run *r, const char *target, void *arg);
int mdeploy_deploy__has_moodle_cli(mdeploy_deploy__run *r, const char *target);
int mdeploy_deploy__s_purge_code_only(mdeploy_deploy__run *r, const char *target, void *arg);
int mdeploy_deploy__s_upgrade(mdeploy_deploy__run *r, const char *target, void *arg);
int mdeploy_deploy__s_validate(mdeploy_deploy__run *r, const char *target, void *arg);
int mdeploy_deploy__upgrade_begun(mdeploy_deploy__run *r);
int mdeploy_deploy__s_lb_hold(mdeploy_deploy__run *r, const char *target, void *arg);
int mdeploy_deploy__s_lb_release(mdeploy_deploy__run *r, const char *target, void *arg);
int mdeploy_deploy__held(mdeploy_deploy__run *r);

/* env.c: the group's parameters and secrets, the port and the load balancer's URL, for hooks. */
int mdeploy_deploy__env_load(mdeploy_deploy__run *r);
/* Bring MDEPLOY_DEPLOYMENT_KIND (the list's first entry) up to date with r->kind. */
int mdeploy_deploy__env_kind(mdeploy_deploy__run *r);
void mdeploy_deploy__env_free(mdeploy_deploy__run *r);
int mdeploy_deploy__lb_url(mdeploy_provider *p, const mdeploy_group *g, char *out, size_t n);
/* The group's load balancer certificate: its tls_certificate, else the one
 * `mdeploy infra apply` made with the group's provider (mdeploy_provider_infra_lb_certificate()),
 * else NULL. malloc'd. */
char *mdeploy_deploy__lb_cert(mdeploy_provider *p, const mdeploy_group *g);
/* backup.c: a deployment's database backup, as its journal recorded it. */
typedef struct mdeploy_deploy__backup {
	char method[32], path[1200], sha256[65], database[128];
	uint64_t bytes;
	int restorable;             /* mdeploy can restore it (else: by hand) */
} mdeploy_deploy__backup;
int mdeploy_deploy__s_backup(mdeploy_deploy__run *r, const char *target, void *arg);
int mdeploy_deploy__s_restore(mdeploy_deploy__run *r, const char *target, void *arg);
int mdeploy_deploy__backup_of(mdeploy_store *store, const char *deployment, mdeploy_deploy__backup *b);
int mdeploy_deploy__backup_verify(const mdeploy_deploy__backup *b);
/* backup_prune.c: the group's backups no rollback can restore any more, removed (`removed` counts them). */
int mdeploy_deploy__backups_prune(mdeploy_deploy__run *r, size_t *removed);
void mdeploy_deploy__backups_prune_after(mdeploy_deploy__run *r, int rc);

/* cron.c: the upgrade gate waits for a cron run in progress, group stop for the
 * group's cron runner to end (it ends once the group is marked stopped). */
int mdeploy_deploy__cron_wait(mdeploy_deploy__run *r, unsigned int wait_ms);
int mdeploy_deploy__cron_runner_wait(mdeploy_deploy__run *r, unsigned int wait_ms);

/* ownership.c */
int mdeploy_deploy__find_interrupted(mdeploy_deploy__run *r, const char *skip, char id[12], char step[64]);
int mdeploy_deploy__refuse_interrupted(mdeploy_deploy__run *r, const char *id, const char *step);
int mdeploy_deploy__lock_take_new(mdeploy_deploy__run *r, const char *owner, unsigned int wait_ms);

/* scale.c */
int mdeploy_deploy__heal_live(mdeploy_deploy__run *r);

/* retire.c */
int mdeploy_deploy__retire_record(mdeploy_deploy__run *r, const char *fleet);
int mdeploy_deploy__retire_pending(mdeploy_deploy__run *r, size_t *retired);
void mdeploy_deploy__retire_release(mdeploy_deploy__run *r);
void mdeploy_deploy__retire_after(mdeploy_deploy__run *r, int rc);

/* group.c */
int mdeploy_deploy__refuse_stopped(mdeploy_deploy__run *r);

/* logs.c */
void mdeploy_deploy__keep_log(mdeploy_deploy__run *r, const char *id, const char *root, char *msg, size_t n);
void mdeploy_deploy__keep_fleet_logs(mdeploy_deploy__run *r, const char *fleet, char *msg, size_t n);

/* inplace.c */
int mdeploy_deploy__inplace_revert(mdeploy_deploy__run *r);
int mdeploy_deploy__in_place(mdeploy_deploy__run *r);
/* plan.c: the plan without its provider operations (what a deployment itself needs). */
int mdeploy_deploy__plan(mdeploy_ctx *ctx, const mdeploy_config *cfg, const mdeploy_deploy_options *opts,
                         mdeploy_plan **out);
int mdeploy_deploy__plan_op_add(mdeploy_plan *plan, const char *step, const char *call, const char *target,
                                const char *detail, const char *how);
int mdeploy_deploy__plan_upgrade_gate(const mdeploy_plan *plan);
/* The key id of the planned bundle's signature, NULL when unsigned. */
const char *mdeploy_deploy__plan_key_id(const mdeploy_plan *plan);
/* plan_ops.c: the provider operations a deployment would make (mdeploy_plan_op). */
int mdeploy_deploy__plan_ops(mdeploy_ctx *ctx, const mdeploy_config *cfg, const mdeploy_deploy_options *opts,
                             mdeploy_plan *plan);

#endif
