/*
 * mdeploy/group.h - deployment groups: the `groups` section of mdeploy.yml,
 * and the deployment configurations of AWS CodeDeploy.
 *
 * A group is where a release runs: a fleet of instances behind a load
 * balancer, with a health check, a deployment configuration (how many
 * instances may be out at once and what counts as success), a strategy
 * (in-place or blue/green), traffic shifting, alarms, rollback and blue
 * retention. See mdeploy.yml(5).
 *
 * Strings and structs are borrowed from the configuration and live as long
 * as it.
 */
#ifndef MDEPLOY_GROUP_H
#define MDEPLOY_GROUP_H

#include "common.h"
#include "config.h"

MDEPLOY_BEGIN_DECL

typedef enum {
	MDEPLOY_STRATEGY_IN_PLACE = 0,
	MDEPLOY_STRATEGY_BLUE_GREEN = 1
} mdeploy_strategy;

typedef enum {
	MDEPLOY_TRAFFIC_ALL_AT_ONCE = 0,
	MDEPLOY_TRAFFIC_CANARY = 1,   /* percent for one interval, then the rest */
	MDEPLOY_TRAFFIC_LINEAR = 2    /* percent more every interval */
} mdeploy_traffic_type;

typedef enum {
	MDEPLOY_MHH_HOST_COUNT = 0,
	MDEPLOY_MHH_FLEET_PERCENT = 1,
	/* CodeDeployDefault.OneAtATime: one instance at a time, all but one kept healthy */
	MDEPLOY_MHH_MOST_CONCURRENCY = 2
} mdeploy_mhh_type;

/* A deployment configuration as CodeDeploy defines one. */
typedef struct mdeploy_deployment_config {
	const char *name;           /* "CodeDeployDefault.OneAtATime", or "Custom" */
	mdeploy_mhh_type mhh_type;  /* minimum healthy hosts, as a count or a percentage */
	unsigned int mhh_value;
} mdeploy_deployment_config;

typedef struct mdeploy_group {
	const char *name;
	const char *field;             /* "groups[0]", for mdeploy_config_where() */
	mdeploy_strategy strategy;
	/* fleet */
	unsigned int size, min, max, port;
	/* load balancer */
	const char *listen;            /* "127.0.0.1:8000" */
	unsigned int slots;
	const char *tls_certificate;   /* absolute path or NULL */
	/* health check */
	const char *health_path;
	unsigned int health_status;
	unsigned int health_interval_ms, health_timeout_ms;
	unsigned int healthy_threshold, unhealthy_threshold;
	/* deployment */
	mdeploy_deployment_config config;
	mdeploy_traffic_type traffic;
	unsigned int traffic_percent;  /* canary/linear step */
	unsigned int traffic_interval_ms;
	int manual_promotion;          /* wait for `deploy promote` before shifting traffic */
	/* alarms, read from the load balancer during and after the shift; 0 disables */
	unsigned int alarm_5xx_percent;
	unsigned int alarm_unhealthy_hosts;
	unsigned int alarm_window_ms;  /* how long after the shift alarms are watched */
	/* rollback */
	int rollback_on_failure, rollback_on_alarm;
	unsigned int drain_timeout_ms;
	unsigned int blue_retention_ms;
	/* trusted_keys: Ed25519 public key files (absolute), NULL-terminated;
	 * NULL when the group has none. With keys, every bundle installed in the
	 * group (deploy, rollback, scale, heal, pipelines) must carry a manifest
	 * signed by one of them, whatever the command line says. */
	const char *const *trusted_keys;
	/* health_check.host: the Host header the load balancer's health checks
	 * send (e.g. the site's name, when the application answers only for it);
	 * NULL: none (HAProxy then sends no Host). */
	const char *health_host;
	/* fleet.launch_template, fleet.subnets (provider aws): the group's fleets are made from
	 * this template across these subnets ("subnet-a,subnet-b"); NULL: the provider's. */
	const char *launch_template;
	const char *subnets;
	/* cdn.distribution, cdn.invalidate: after a cutover, the CDN in front of the group
	 * (provider aws: a CloudFront distribution id) is asked to invalidate these paths
	 * (NULL-terminated, each starting with '/'; Moodle's theme/JS revisions change on
	 * upgrades); NULL: no CDN. */
	const char *cdn_distribution;
	const char *const *cdn_invalidate;
} mdeploy_group;

#define MDEPLOY_GROUP_MAX_KEYS 8

MDEPLOY_EXTERN(size_t) mdeploy_config_group_count(const mdeploy_config *cfg);
MDEPLOY_EXTERN(const mdeploy_group *) mdeploy_config_group_at(const mdeploy_config *cfg, size_t i);
/* NULL when there is no such group (the error names the groups there are). */
MDEPLOY_EXTERN(const mdeploy_group *) mdeploy_config_group_find(const mdeploy_config *cfg, const char *name);

/*
 * Look a deployment configuration up by name: "AllAtOnce", "HalfAtATime",
 * "OneAtATime", with or without the "CodeDeployDefault." prefix.
 * MDEPLOY_ENOTFOUND otherwise.
 */
MDEPLOY_EXTERN(int) mdeploy_deployment_config_lookup(mdeploy_deployment_config *out, const char *name);

/*
 * For a fleet of `n` instances: the minimum that must stay healthy, and how
 * many instances one in-place batch may take out of service (at least 1).
 * AllAtOnce: min 0, batch n. HalfAtATime: min ceil(n/2), batch floor(n/2).
 * OneAtATime: min n-1, batch 1. FLEET_PERCENT rounds the minimum up (9
 * instances at 40%: min 4, batches of 5), HOST_COUNT is taken as is (9 at
 * 6: batches of 3).
 * MDEPLOY_EINVALID when the minimum cannot be kept (a HOST_COUNT >= n):
 * CodeDeploy refuses such a deployment before it starts.
 */
MDEPLOY_EXTERN(int) mdeploy_deployment_config_plan(const mdeploy_deployment_config *c, unsigned int n,
                                                   unsigned int *min_healthy, unsigned int *batch);

/*
 * CodeDeploy's success rule, after a deployment to `n` instances of which
 * `succeeded` succeeded. OneAtATime succeeds when every instance did,
 * except that a failure on the last one (and only there) is tolerated for
 * n > 1. The others succeed when at least max(1, minimum healthy)
 * succeeded; AllAtOnce thus needs one.
 */
MDEPLOY_EXTERN(int) mdeploy_deployment_config_succeeded(const mdeploy_deployment_config *c, unsigned int n,
                                                        unsigned int succeeded, int last_failed_only);

/* Parse "500ms", "2s", "5m", "1h" or a bare number of seconds into ms. */
MDEPLOY_EXTERN(int) mdeploy_duration_parse(const char *s, unsigned int *ms);

MDEPLOY_END_DECL

#endif
