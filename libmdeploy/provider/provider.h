/*
 * provider.h - the provider interface inside libmdeploy: a table of
 * operations each implementation fills (provider/local/, provider/aws/).
 * The public calls in mdeploy/provider.h check arguments and dispatch
 * through it; implementations never see NULL handles or bad names.
 *
 * PROVIDERS ARE FOLDERS OF THE SAME FILES
 *
 * provider/<name>/ holds one file per part, with the same names in every
 * provider, so that a reader who knows one knows the others:
 *
 *   ops.c        the mdeploy_provider_ops table below and `init`/`free`
 *                (reading the provider's options); listed in registry.c.
 *   fleet.c      fleets: a named group of identical instances with
 *                desired/min/max sizes (local: rows in the state store and
 *                process trees; aws: an Auto Scaling group per fleet,
 *                app-group-vNNN). fleet_create boots `desired` instances
 *                (the boot callback installs the live revision, as user
 *                data does), fleet_scale grows or shrinks (scale-in removes
 *                the newest), fleet_terminate removes it and its instances,
 *                fleet_foreach lists (prefix or one exact name).
 *   instance.c   instances: listing with live state, start/stop/terminate
 *                (local: a PHP server per instance on its own loopback
 *                address; aws: EC2 instances reached through SSM).
 *   lb.c         the load balancer, the part the orchestrator talks to:
 *                lb_ensure/stop/running/bind; targets registered per
 *                instance with a state (ready/drain/maint) and their health
 *                as the load balancer reports it (lb_targets); traffic
 *                weighed between FLEETS (lb_set_fleet_weights, 0-999 as an
 *                ALB weighs target groups, one group per fleet; HAProxy
 *                spreads a fleet's weight over its servers); hold (a
 *                maintenance window). Implementation details live in files
 *                named for the technology: local/haproxy_*.c (process,
 *                slots, Runtime API), aws/elbv2_*.c.
 *   infra.c      the infrastructure under the groups (mdeploy/infra.h):
 *                plan/apply/destroy/status/outputs, and infra_check, the
 *                provider's own rules on mdeploy.yml's infrastructure
 *                section (local: servers under the state directory; aws:
 *                the CloudFormation stacks of infra/aws/). More files
 *                infra_*.c by concern.
 *   params.c     \
 *   secrets.c     > the stores, registered by stores.c (see store.h).
 *   artifacts.c  /
 *   stores.c     the provider's entry in the store registry.
 *
 * A provider need not implement every part: a NULL operation is reported
 * as MDEPLOY_EUNSUPPORTED naming the provider and the operation.
 *
 * Rules every implementation keeps (the orchestrator relies on them):
 *  - Every operation is idempotent: the journal replays a step after a
 *    crash (creating an existing fleet with the same options, registering a
 *    registered target, deregistering one that is gone are not errors
 *    unless said otherwise).
 *  - What is live is read from the infrastructure (HAProxy's state, ASG
 *    and target-group descriptions), never from a cache that can lie.
 *  - A target that joins the load balancer takes traffic only after
 *    `healthy_threshold` real health checks passed after it joined.
 *  - Errors are set with mdeploy__error_set(), class PROVIDER, saying what
 *    failed with the provider's own message (and request id on AWS).
 */
#ifndef MDEPLOY_PROVIDER_PRIVATE_H
#define MDEPLOY_PROVIDER_PRIVATE_H

#include "mdeploy_private.h"
#include "mdeploy/provider.h"
#include "mdeploy/config.h"
#include "mdeploy/infra.h"

/* infra_check reports a problem of mdeploy.yml's infrastructure section, at `field`. */
typedef void (*mdeploy_provider__problem_cb)(void *payload, const char *field, const char *message);

typedef struct mdeploy_provider_ops {
	const char *name;
	int (*init)(mdeploy_provider *p);
	void (*free)(mdeploy_provider *p);

	int (*fleet_create)(mdeploy_provider *p, const char *name, const mdeploy_fleet_options *o);
	int (*fleet_scale)(mdeploy_provider *p, const char *name, unsigned int desired,
	                   unsigned int min, unsigned int max);
	int (*fleet_terminate)(mdeploy_provider *p, const char *name);
	int (*fleet_set_tags)(mdeploy_provider *p, const char *name, const char *tags);
	int (*fleet_foreach)(mdeploy_provider *p, const char *prefix, const char *exact,
	                     mdeploy_fleet_cb cb, void *payload);

	int (*instance_foreach)(mdeploy_provider *p, const char *fleet, const char *id,
	                        mdeploy_instance_cb cb, void *payload);
	int (*instance_start)(mdeploy_provider *p, const char *id);
	int (*instance_stop)(mdeploy_provider *p, const char *id);
	int (*instance_terminate)(mdeploy_provider *p, const char *id);

	int (*lb_ensure)(mdeploy_provider *p, const char *name, const mdeploy_lb_options *o);
	int (*lb_stop)(mdeploy_provider *p, const char *name);
	int (*lb_running)(mdeploy_provider *p, const char *name);
	/* Targets: one per instance, in a state; a joining target passes real checks first. */
	int (*lb_register)(mdeploy_provider *p, const char *lb, const char *instance, mdeploy_target_state state);
	int (*lb_deregister)(mdeploy_provider *p, const char *lb, const char *instance);
	/* Target states only (every c[i].weight is -1). */
	int (*lb_set_states)(mdeploy_provider *p, const char *lb, const mdeploy_lb_change *c, size_t n);
	int (*lb_targets)(mdeploy_provider *p, const char *lb, mdeploy_target_cb cb, void *payload);
	int (*lb_bind)(mdeploy_provider *p, const char *lb, char *out, size_t n);
	int (*lb_hold)(mdeploy_provider *p, const char *lb, int on);
	/* Fleet weights (0-999), one round trip; ALB: one ModifyListener. Names and
	 * values are checked; fleets must have a registered target. */
	int (*lb_set_fleet_weights)(mdeploy_provider *p, const char *lb, const mdeploy_fleet_weight *w, size_t n);
	int (*lb_fleets)(mdeploy_provider *p, const char *lb, mdeploy_lb_fleet_cb cb, void *payload);
	/* May be NULL. How an operation ("fleet_create", "lb_set_fleet_weights"...) is carried
	 * out, for `deploy plan`: the API calls it makes (aws: "autoscaling:CreateAutoScalingGroup"). */
	const char *(*describe)(const char *call);
	/* The option keys mdeploy.yml's provider: section may give it (NULL-terminated);
	 * init reads them with mdeploy_provider__setting(). */
	const char *const *options;
	/* May be NULL (no alarms of its own): the alarms watched while traffic moves. */
	int (*lb_alarms)(mdeploy_provider *p, const char *lb, mdeploy_lb_alarm_cb cb, void *payload);

	/* The infrastructure (mdeploy/infra.h); NULL: this provider builds none. They take
	 * no provider handle: infra apply runs before any fleet exists. Arguments are checked. */
	int (*infra_plan)(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
	                  const mdeploy_infra_options *opts, mdeploy_infra_change_cb cb, void *payload, size_t *n);
	int (*infra_apply)(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
	                   const mdeploy_infra_options *opts, mdeploy_infra_change_cb cb, void *payload, size_t *n);
	int (*infra_destroy)(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
	                     const mdeploy_infra_options *opts, mdeploy_infra_change_cb cb, void *payload, size_t *n);
	int (*infra_status)(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
	                    const mdeploy_infra_options *opts, mdeploy_infra_resource_cb cb, void *payload);
	int (*infra_outputs)(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
	                     const mdeploy_infra_options *opts, mdeploy_infra_output_cb cb, void *payload);
	/* May be NULL. The provider's rules on the infrastructure section (read through
	 * mdeploy_config_infrastructure_setting()), each problem to `problem`; called when
	 * mdeploy.yml is loaded. */
	void (*infra_check)(const mdeploy_config *cfg, mdeploy_provider__problem_cb problem, void *payload);
	/* Non-zero: the infrastructure needs mdeploy.yml's infrastructure section (its settings). */
	int infra_needs_section;
	/* May be NULL (50 ms): how often a wait reads lb_targets, for health checks every
	 * `health_interval_ms` (mdeploy_lb_poll_ms()). */
	unsigned int (*lb_poll_ms)(unsigned int health_interval_ms);
	/* NULL: the orchestrator installs through the agent (push). Otherwise the instances
	 * install themselves from fleet_create's agent (pull): the report of one instance's
	 * agent for a deployment (malloc'd JSON, MDEPLOY_ENOTFOUND when none yet), and how
	 * long an agent may take (ms). */
	int (*agent_report)(mdeploy_provider *p, const char *deployment, const char *instance, char **json);
	unsigned int (*agent_timeout_ms)(mdeploy_provider *p);
	/* NULL: no CDN. Invalidate `paths` of `distribution` (idempotent per `reference`);
	 * `id` gets the invalidation's id. */
	int (*cdn_invalidate)(mdeploy_provider *p, const char *distribution, const char *const *paths,
	                      const char *reference, char *id, size_t n);
	/* NULL: the infrastructure makes no certificate file for load balancers (an ALB's
	 * comes from ACM by its listener). Otherwise the one infra apply made (certificate
	 * and key in one PEM file), malloc'd, NULL when there is none (yet). */
	char *(*infra_lb_certificate)(mdeploy_ctx *ctx);
} mdeploy_provider_ops;

struct mdeploy_provider {
	const mdeploy_provider_ops *ops;
	mdeploy_ctx *ctx;
	mdeploy_store *store;
	mdeploy_provider_options opts;
	char *address_base;
	void *impl;
	mdeploy_config *cfg;   /* owned when opened from mdeploy.yml: its settings are borrowed */
};

/* provider/registry.c: the table of providers. NULL when `name` is not in it. */
const mdeploy_provider_ops *mdeploy_provider__find(const char *name);
/* The i-th provider of the table, NULL past its end. */
const mdeploy_provider_ops *mdeploy_provider__at(size_t i);
/* The provider opened when none is named (the first in the table). */
const char *mdeploy_provider__default_name(void);
/* "local, aws": the registered names, for messages. */
const char *mdeploy_provider__names(void);
/* The same, of the providers that build infrastructure (infra_apply set). */
const char *mdeploy_provider__infra_names(void);

extern const mdeploy_provider_ops mdeploy_provider__local_ops;
extern const mdeploy_provider_ops mdeploy_provider__aws_ops;

/* The value of one of the provider's options (opts.settings), NULL when not given. */
const char *mdeploy_provider__setting(const mdeploy_provider *p, const char *key);

/* A name usable for fleets, load balancers and file names: [A-Za-z0-9._-], 1-100 chars. */
int mdeploy_provider__check_name(const char *what, const char *name);

#endif
