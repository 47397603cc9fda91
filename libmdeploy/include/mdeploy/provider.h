/*
 * mdeploy/provider.h - the infrastructure under a deployment: fleets
 * (Auto Scaling groups), their instances, and the load balancer in front.
 *
 * One interface, several implementations. "local" runs everything on this
 * machine: an instance is a process tree (PHP's built-in server) on its own
 * loopback address (127.x.y.z; Linux routes all of 127/8 to lo, so every
 * instance can use the same port as real hosts would) with its own root
 * directory; the load balancer is an HAProxy that mdeploy starts and owns and
 * changes only through its Runtime API. The deployment code uses only these
 * calls, so it does not know whether it talks to HAProxy or an ALB.
 *
 * Thread-safety: one thread per provider handle.
 */
#ifndef MDEPLOY_PROVIDER_H
#define MDEPLOY_PROVIDER_H

#include "common.h"
#include "context.h"
#include "store.h"

MDEPLOY_BEGIN_DECL

typedef struct mdeploy_provider mdeploy_provider;

typedef struct mdeploy_instance_info mdeploy_instance_info;

/*
 * Called for each instance a fleet operation creates, after its root exists
 * and before it serves: the place to install the group's live revision, as
 * EC2 user data would. Non-zero fails the operation (MDEPLOY_EUSER) and the
 * instance is terminated.
 */
typedef int (*mdeploy_instance_boot_cb)(mdeploy_provider *p, const mdeploy_instance_info *inst,
                                        void *payload);

typedef struct mdeploy_provider_options {
	unsigned int version;
	const char *name;            /* "local" (the default) */
	/* local: the first two octets of instance addresses, "127.77" gives
	 * 127.77.0.2, 127.77.0.3 ... NULL: $MDEPLOY_LOCAL_ADDRESS_BASE, else "127.77". */
	const char *address_base;
	/* local: PHP_CLI_SERVER_WORKERS of each instance; default 4. */
	unsigned int php_workers;
	/* local: how long an instance may take to accept connections; default 10000 ms. */
	unsigned int start_timeout_ms;
	mdeploy_instance_boot_cb boot_cb;
	void *payload;
	/* The provider's own options as "key", "value" pairs ending in NULL (mdeploy.yml's
	 * provider: section, see mdeploy_config_provider_settings()); a key the provider does
	 * not take is refused with MDEPLOY_EINVALID naming the keys it takes. Fields above
	 * win over the same key here. Borrowed: must outlive the provider. */
	const char *const *settings;
} mdeploy_provider_options;

#define MDEPLOY_PROVIDER_OPTIONS_VERSION 1
#define MDEPLOY_PROVIDER_OPTIONS_INIT { MDEPLOY_PROVIDER_OPTIONS_VERSION, NULL, NULL, 4, 10000, NULL, NULL, NULL }

MDEPLOY_EXTERN(int) mdeploy_provider_options_init(mdeploy_provider_options *opts, unsigned int version);

/*
 * Open a provider. `ctx` and `store` are borrowed and must outlive it (the
 * local provider keeps its inventory in the state store). MDEPLOY_ENOTFOUND
 * for an unknown provider name.
 */
MDEPLOY_EXTERN(int) mdeploy_provider_open(mdeploy_provider **out, mdeploy_ctx *ctx,
                                          mdeploy_store *store,
                                          const mdeploy_provider_options *opts);
/*
 * Open the provider that the context's mdeploy.yml
 * (mdeploy_ctx_config_path()) names in its provider: section, with its
 * options, as deployments do: what `fleet`, `lb` and the web console use.
 * No mdeploy.yml there: the default provider. An mdeploy.yml that does not
 * load is its error (file:line:field); nothing else is guessed.
 */
MDEPLOY_EXTERN(int) mdeploy_provider_open_configured(mdeploy_provider **out, mdeploy_ctx *ctx,
                                                     mdeploy_store *store);
MDEPLOY_EXTERN(void) mdeploy_provider_free(mdeploy_provider *p);
MDEPLOY_EXTERN(const char *) mdeploy_provider_name(const mdeploy_provider *p);

/* ---- fleets (Auto Scaling groups) ---- */

typedef struct mdeploy_fleet_info {
	const char *name;         /* app-group-vNNN */
	unsigned int desired, min, max;
	unsigned int port;        /* every instance serves on this port */
	const char *tags;         /* JSON object of string tags */
	int64_t created_at;       /* unix seconds */
	unsigned int running;     /* instances serving now */
} mdeploy_fleet_info;

typedef struct mdeploy_fleet_options {
	unsigned int version;
	unsigned int desired, min, max;
	unsigned int port;        /* default 8080 */
	const char *tags;         /* JSON object; NULL: {} */
	int start;                /* non-zero: start each instance's server after boot */
	/* Version 2. aws: the launch template and the subnets ("subnet-a,subnet-b") of this
	 * fleet, over the provider's options of the same names; NULL: the provider's. The
	 * local provider refuses them (MDEPLOY_EINVALID): it has neither. */
	const char *launch_template;
	const char *subnets;
	/* Version 3. Providers whose instances install releases themselves
	 * (mdeploy_provider_pulls()): what every instance of the fleet runs at boot;
	 * NULL: nothing. The local provider refuses it (MDEPLOY_EINVALID). */
	const struct mdeploy_agent_boot *agent;
} mdeploy_fleet_options;

#define MDEPLOY_FLEET_OPTIONS_VERSION 3
#define MDEPLOY_FLEET_OPTIONS_INIT { MDEPLOY_FLEET_OPTIONS_VERSION, 1, 1, 1, 8080, NULL, 1, NULL, NULL, NULL }

MDEPLOY_EXTERN(int) mdeploy_fleet_options_init(mdeploy_fleet_options *opts, unsigned int version);

/* ---- the agent on instances that install themselves (pull model) ---- */

/*
 * What the instances of a new fleet run at boot when they install a release
 * themselves (mdeploy_provider_pulls(); aws: user data running `mdeploy agent
 * pull`, see mdeploy-agent(1)): the agent fetches the bundle where the
 * provider staged it, checks its digest and signature, runs the lifecycle
 * events through ValidateService as the local agent does, and reports each
 * result (mdeploy_agent_report_get()). Everything here can be read by whoever
 * reads the instance's user data: never a secret.
 */
typedef struct mdeploy_agent_boot {
	unsigned int version;
	const char *deployment_id;
	const char *application_name;
	const char *deployment_group_name;
	const char *deployment_group_id;
	const char *bundle;              /* the local file: the provider stages it */
	const char *bundle_sha256;       /* its SHA-256, 64 hex digits */
	const char *const *trusted_keys; /* the PEM text of the trusted public keys, NULL-terminated;
	                                    NULL: any bundle */
	const char *const *env;          /* "K=V" for the hooks, NULL-terminated; never secrets */
} mdeploy_agent_boot;

#define MDEPLOY_AGENT_BOOT_VERSION 1
#define MDEPLOY_AGENT_BOOT_INIT { MDEPLOY_AGENT_BOOT_VERSION, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL }

/*
 * Non-zero when the provider's instances install releases themselves at boot
 * (aws), zero when the orchestrator installs them through the agent (local).
 * A deployment on a pulling provider gives fleet_create its agent
 * (mdeploy_fleet_options.agent) and waits for the agents' reports.
 */
MDEPLOY_EXTERN(int) mdeploy_provider_pulls(const mdeploy_provider *p);
/* How long an instance's agent may take to report its last event (ms): the provider's
 * agent_timeout option (aws: seconds, default 900). */
MDEPLOY_EXTERN(unsigned int) mdeploy_provider_agent_timeout_ms(const mdeploy_provider *p);
/*
 * The report the agent of `instance` wrote for `deployment` (JSON, see
 * mdeploy-agent(1) PULL REPORTS), malloc'd into *json. MDEPLOY_ENOTFOUND when
 * it wrote none yet; MDEPLOY_EUNSUPPORTED on a provider that does not pull.
 */
/*
 * The CDN in front of a group (mdeploy_group.cdn_distribution): non-zero when
 * the provider has one (aws: CloudFront). mdeploy_cdn_invalidate() asks it to
 * invalidate `paths` of `distribution` once per `reference` (a step replayed
 * with the same reference makes no second invalidation); `id` gets the
 * invalidation's id. It does not wait for the invalidation to complete.
 * MDEPLOY_EUNSUPPORTED on a provider without a CDN.
 */
MDEPLOY_EXTERN(int) mdeploy_provider_cdn(const mdeploy_provider *p);
MDEPLOY_EXTERN(int) mdeploy_cdn_invalidate(mdeploy_provider *p, const char *distribution, const char *const *paths,
                                           const char *reference, char *id, size_t n);
MDEPLOY_EXTERN(int) mdeploy_agent_report_get(mdeploy_provider *p, const char *deployment, const char *instance,
                                             char **json);

/*
 * Create a fleet of `desired` instances (min <= desired <= max, else
 * MDEPLOY_EINVALID). MDEPLOY_EEXISTS when the name is taken. On failure
 * nothing is left behind.
 */
MDEPLOY_EXTERN(int) mdeploy_fleet_create(mdeploy_provider *p, const char *name,
                                         const mdeploy_fleet_options *opts);
/*
 * Set the desired size (and min/max when non-zero): new instances boot
 * (boot_cb) and start; surplus ones, newest first, are stopped and removed.
 * The caller deregisters surplus instances from load balancers first.
 */
MDEPLOY_EXTERN(int) mdeploy_fleet_scale(mdeploy_provider *p, const char *name, unsigned int desired,
                                        unsigned int min, unsigned int max);
/* Stop and remove every instance, then the fleet. MDEPLOY_ENOTFOUND when unknown. */
MDEPLOY_EXTERN(int) mdeploy_fleet_terminate(mdeploy_provider *p, const char *name);
/* Replace the fleet's tags (JSON object). */
MDEPLOY_EXTERN(int) mdeploy_fleet_set_tags(mdeploy_provider *p, const char *name, const char *tags);

typedef int (*mdeploy_fleet_cb)(const mdeploy_fleet_info *fleet, void *payload);
/* Fleets by name; `prefix` (may be NULL) filters. Non-zero from cb stops with MDEPLOY_EUSER. */
MDEPLOY_EXTERN(int) mdeploy_fleet_foreach(mdeploy_provider *p, const char *prefix,
                                          mdeploy_fleet_cb cb, void *payload);
/* One fleet; `cb` called once. MDEPLOY_ENOTFOUND when unknown. */
MDEPLOY_EXTERN(int) mdeploy_fleet_get(mdeploy_provider *p, const char *name,
                                      mdeploy_fleet_cb cb, void *payload);

/* ---- instances ---- */

struct mdeploy_instance_info {
	const char *id;           /* i-xxxxxxxxxxxx */
	const char *fleet;
	const char *address;      /* 127.77.0.2 */
	unsigned int port;
	const char *root;         /* local: the instance's root directory */
	const char *state;        /* "pending" (no server), "running", "stopped" (server died) */
	long pid;                 /* local: the server's process group leader, 0 when none */
	int64_t created_at;
};

/* An instance of `fleet show --json` .instances (see mdeploy/common.h):
 * id, address, port, state, pid, root, created_at. */
MDEPLOY_EXTERN(struct json_t *) mdeploy_instance_to_json(const mdeploy_instance_info *inst);

typedef int (*mdeploy_instance_cb)(const mdeploy_instance_info *inst, void *payload);
/* Instances of a fleet (all when NULL), oldest first. The state is checked live. */
MDEPLOY_EXTERN(int) mdeploy_instance_foreach(mdeploy_provider *p, const char *fleet,
                                             mdeploy_instance_cb cb, void *payload);
MDEPLOY_EXTERN(int) mdeploy_instance_get(mdeploy_provider *p, const char *id,
                                         mdeploy_instance_cb cb, void *payload);
/* Start the instance's server (no-op when running) and wait until it accepts connections. */
MDEPLOY_EXTERN(int) mdeploy_instance_start(mdeploy_provider *p, const char *id);
/* Stop the server: TERM to its process group, KILL after a grace period. */
MDEPLOY_EXTERN(int) mdeploy_instance_stop(mdeploy_provider *p, const char *id);
/* Stop and start: picks up a switched release. */
MDEPLOY_EXTERN(int) mdeploy_instance_restart(mdeploy_provider *p, const char *id);
/* Stop the server and remove the instance and its root. Fleet desired size shrinks by one. */
MDEPLOY_EXTERN(int) mdeploy_instance_terminate(mdeploy_provider *p, const char *id);

/* ---- load balancer ---- */

typedef struct mdeploy_lb_options {
	unsigned int version;
	const char *bind;          /* "127.0.0.1:8000" */
	unsigned int slots;        /* targets addable without reload; default 64 */
	const char *health_path;   /* default "/" */
	unsigned int health_status;/* expected HTTP status; default 200 */
	unsigned int health_interval_ms; /* default 1000 */
	unsigned int healthy_threshold;  /* default 2 */
	unsigned int unhealthy_threshold;/* default 2 */
	unsigned int health_timeout_ms;  /* default 2000 */
	const char *tls_cert;      /* PEM with certificate and key; NULL: plain HTTP */
	/* version 2: the Host header of the health checks; NULL: none */
	const char *health_host;
	/* version 3: how long a target that leaves keeps its connections (the group's drain_timeout;
	 * an ALB target group's deregistration delay); 0: the provider's default */
	unsigned int drain_timeout_ms;
} mdeploy_lb_options;

#define MDEPLOY_LB_OPTIONS_VERSION 3
#define MDEPLOY_LB_OPTIONS_INIT { MDEPLOY_LB_OPTIONS_VERSION, "127.0.0.1:8000", 64, "/", 200, 1000, 2, 2, 2000, NULL, NULL, 0 }

MDEPLOY_EXTERN(int) mdeploy_lb_options_init(mdeploy_lb_options *opts, unsigned int version);

/*
 * Make sure the load balancer `name` runs. The first call writes its
 * configuration; later calls start it from that same configuration (with
 * its saved target state) when it is not running and otherwise do nothing.
 * It is never reloaded.
 */
MDEPLOY_EXTERN(int) mdeploy_lb_ensure(mdeploy_provider *p, const char *name,
                                      const mdeploy_lb_options *opts);
/* Save the target state and stop it. */
MDEPLOY_EXTERN(int) mdeploy_lb_stop(mdeploy_provider *p, const char *name);
/* Non-zero when the load balancer runs. */
MDEPLOY_EXTERN(int) mdeploy_lb_running(mdeploy_provider *p, const char *name);

typedef enum {
	MDEPLOY_TARGET_READY = 0,  /* takes traffic by weight */
	MDEPLOY_TARGET_DRAIN = 1,  /* finishes what it has, takes nothing new */
	MDEPLOY_TARGET_MAINT = 2   /* takes nothing */
} mdeploy_target_state;

/*
 * Traffic is weighed between fleets, not instances (as an ALB weighs its
 * target groups, one per fleet): see mdeploy_lb_set_fleet_weights(). A
 * target belongs to the fleet of its instance and shares its fleet's
 * weight with the fleet's other targets.
 *
 * Attach an instance to a free slot in `state`, at its share of its
 * fleet's weight. `weight` is not used any more (weights belong to fleets)
 * and must be 0-256 for compatibility. Registering a registered instance
 * just updates its state. MDEPLOY_ECONFLICT when no slot is free.
 *
 * A target that joins (a new registration, or leaving maintenance here or
 * in mdeploy_lb_apply()) starts unhealthy: it takes traffic only once it
 * has passed `healthy_threshold` consecutive health checks after joining,
 * whatever its weight. (HAProxy would count a server leaving maintenance as
 * UP before its first check; the local provider forces its health down as
 * it joins.) Its response counters start at 0, whatever its slot served
 * before.
 */
MDEPLOY_EXTERN(int) mdeploy_lb_register(mdeploy_provider *p, const char *lb, const char *instance,
                                        unsigned int weight, mdeploy_target_state state);
/* Free the instance's slot (maintenance first). MDEPLOY_ENOTFOUND when not registered. */
MDEPLOY_EXTERN(int) mdeploy_lb_deregister(mdeploy_provider *p, const char *lb, const char *instance);

typedef struct mdeploy_lb_change {
	const char *instance;
	int weight;                /* must be -1: weights belong to fleets */
	int state;                 /* an mdeploy_target_state, -1: unchanged */
} mdeploy_lb_change;

/*
 * Apply several target state changes in one round trip to the load
 * balancer (an in-place batch drained, a target in maintenance).
 * Registered instances only (MDEPLOY_ENOTFOUND otherwise, before anything
 * changes). A weight other than -1 is MDEPLOY_EINVALID: set fleet weights
 * with mdeploy_lb_set_fleet_weights().
 */
MDEPLOY_EXTERN(int) mdeploy_lb_apply(mdeploy_provider *p, const char *lb,
                                     const mdeploy_lb_change *changes, size_t n);

typedef struct mdeploy_target_status {
	const char *slot;          /* the load balancer's name for it */
	const char *instance;      /* registered instance id */
	const char *address;
	unsigned int port;
	unsigned int weight;       /* what the load balancer weighs this target with: local,
	                              its HAProxy server's weight (0-256), its fleet's weight
	                              spread over the fleet's targets; 0: takes no new request */
	const char *state;         /* "ready", "drain", "maint" */
	const char *health;        /* "UP", "DOWN", "MAINT", "NOLB", ... as the LB reports */
	uint64_t sessions;         /* current */
	uint64_t sessions_total;
	uint64_t responses_5xx;
	uint64_t responses_total;
	uint64_t check_failures;
	/* The last health check, as the load balancer ran it: its result
	 * ("L7OK", "L7STS" wrong status, "L4CON" refused, "L4TOUT"...), the
	 * HTTP status the health path answered (0 when none) and its output. */
	const char *check_status;
	unsigned int check_code;
	const char *check_output;
	const char *fleet;         /* the instance's fleet ("" when unknown) */
} mdeploy_target_status;

/* A target of `lb show --json` .targets (see mdeploy/common.h), every field above. */
MDEPLOY_EXTERN(struct json_t *) mdeploy_target_status_to_json(const mdeploy_target_status *t);

typedef int (*mdeploy_target_cb)(const mdeploy_target_status *t, void *payload);
/* Registered targets as the load balancer reports them now. */
MDEPLOY_EXTERN(int) mdeploy_lb_targets(mdeploy_provider *p, const char *lb,
                                       mdeploy_target_cb cb, void *payload);

/* ---- fleet weights ---- */

#define MDEPLOY_FLEET_WEIGHT_MAX 999

typedef struct mdeploy_fleet_weight {
	const char *fleet;
	unsigned int weight;       /* 0-999 */
	int state;                 /* -1: unchanged; MDEPLOY_TARGET_READY or _DRAIN: every
	                              target of the fleet not in maintenance goes there */
} mdeploy_fleet_weight;

/*
 * Set the weights of fleets at load balancer `lb`, in one round trip: a
 * fleet's targets in rotation get weight/(sum of the weights of the
 * fleets with targets) of the new requests, shared evenly among them, as
 * an ALB forwards to weighted target groups. Fleets not named keep their
 * weight; a fleet with no weight set yet weighs 0 (a target registered
 * then takes nothing until its fleet gets weight). A fleet's weight stays
 * when its targets come and go: a target that joins takes its share once
 * healthy, the others' shares shrink. Weight 0 takes a fleet out of
 * rotation for new requests. Nothing changes when any name or value is
 * invalid (MDEPLOY_EINVALID) or a fleet has no registered target
 * (MDEPLOY_ENOTFOUND).
 *
 * Local provider: a fleet weight is spread over its HAProxy servers'
 * weights (0-256), scaled so that the heaviest server gets 256; a fleet
 * with weight gives each of its servers at least 1, so a tiny share may be
 * rounded up (never to 0). Servers whose weight rises are changed before
 * those whose weight falls, so no moment has no weight anywhere.
 */
MDEPLOY_EXTERN(int) mdeploy_lb_set_fleet_weights(mdeploy_provider *p, const char *lb,
                                                 const mdeploy_fleet_weight *weights, size_t n);

typedef struct mdeploy_lb_fleet_status {
	const char *fleet;
	unsigned int weight;       /* 0-999, as set */
	unsigned int targets;      /* registered */
	unsigned int in_rotation;  /* registered, ready and healthy */
	unsigned int share_permille; /* of new requests, as the load balancer weighs its
	                                targets in rotation now (per mille) */
} mdeploy_lb_fleet_status;

typedef int (*mdeploy_lb_fleet_cb)(const mdeploy_lb_fleet_status *f, void *payload);
/* The fleets with targets at `lb`, by name. */
MDEPLOY_EXTERN(int) mdeploy_lb_fleets(mdeploy_provider *p, const char *lb, mdeploy_lb_fleet_cb cb, void *payload);

/* ---- alarms ---- */

typedef struct mdeploy_lb_alarm {
	const char *name;
	const char *state;         /* "OK", "ALARM", "INSUFFICIENT_DATA" (CloudWatch's) */
	const char *reason;        /* why it is in that state, as the alarm says ("" if not said) */
} mdeploy_lb_alarm;

typedef int (*mdeploy_lb_alarm_cb)(const mdeploy_lb_alarm *a, void *payload);
/*
 * The provider's own alarms on load balancer `lb`, read now, which a
 * deployment watches while traffic moves (any in "ALARM" stops the shift
 * and rolls back, as mdeploy.yml's alarms: do). aws: the CloudWatch alarms
 * named in mdeploy.yml's provider.alarms (DescribeAlarms); an alarm named
 * there that does not exist is MDEPLOY_ENOTFOUND. A provider without such
 * alarms (local: the group's alarms are read from HAProxy's counters
 * instead) calls `cb` never and returns 0.
 */
MDEPLOY_EXTERN(int) mdeploy_lb_alarms(mdeploy_provider *p, const char *lb, mdeploy_lb_alarm_cb cb, void *payload);

/*
 * How provider `p` carries out the provider operation named `call`
 * ("fleet_create", "lb_set_fleet_weights", ... the names of the
 * functions above without mdeploy_), for a plan's dry run: "HAProxy
 * Runtime API: ...", "elasticloadbalancing:ModifyListener". NULL when the
 * provider does not say. A static string.
 */
MDEPLOY_EXTERN(const char *) mdeploy_provider_describe(mdeploy_provider *p, const char *call);

/*
 * How often, in ms, a wait on the load balancer (the health gate, draining)
 * reads its targets when the health checks run every `health_interval_ms`:
 * 50 for local (a Runtime API read on a socket), the larger of 1000 and
 * `health_interval_ms` for aws (1 + N throttled ELBv2 calls per read).
 */
MDEPLOY_EXTERN(unsigned int) mdeploy_lb_poll_ms(const mdeploy_provider *p, unsigned int health_interval_ms);
/* Copy the address the load balancer listens on ("127.0.0.1:8000") into `out`.
 * MDEPLOY_ENOTFOUND when it was never set up. */
MDEPLOY_EXTERN(int) mdeploy_lb_bind(mdeploy_provider *p, const char *lb, char *out, size_t n);

/*
 * Hold every target of `lb` in rotation whatever its health checks say
 * (`on` non-zero), or let the checks decide again (0). For a maintenance
 * window in which every instance answers 503 on purpose: users get the
 * application's own page (Moodle's climaintenance.html, with its
 * Retry-After) through the load balancer instead of its bare 503 for "no
 * server". Weights still decide who gets requests. A target that joins
 * while held is held once it has joined. Released, the checks run again and
 * a target failing them is taken out after `unhealthy_threshold` of them.
 * Idempotent. (An ALB fails open by itself when every target of a target
 * group is unhealthy.)
 */
MDEPLOY_EXTERN(int) mdeploy_lb_hold(mdeploy_provider *p, const char *lb, int on);

MDEPLOY_END_DECL

#endif
