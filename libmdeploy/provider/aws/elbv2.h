/*
 * elbv2.h - what lb.c reads of an Application Load Balancer (elbv2_view.c):
 * the listener mdeploy shifts traffic on, and its default action, a
 * weighted forward to one target group per fleet.
 *
 * The listener is provider.listener (an ARN) or, when not given, the one
 * listener forwarding to target groups of the ALB named like mdeploy's
 * load balancer (APP-GROUP). Nothing here creates a load balancer or a
 * listener: they are infrastructure (infra/aws/app.yaml makes them).
 */
#ifndef MDEPLOY_PROVIDER_AWS_ELBV2_H
#define MDEPLOY_PROVIDER_AWS_ELBV2_H

#include "ops.h"

typedef struct elbv2_tg {
	char *arn;
	char *fleet;              /* the mdeploy:fleet tag, else the target group's name */
	unsigned int weight;      /* 0-999 in the forward action */
} elbv2_tg;

typedef struct elbv2_view {
	elbv2_tg *tg;
	size_t n;
	char *sticky_enabled;     /* the forward action's stickiness, kept as it was (NULL: none) */
	char *sticky_seconds;
} elbv2_view;

typedef struct elbv2_target {
	char id[32];
	unsigned int port;
	char state[24];           /* healthy, initial, unhealthy, unused, draining, unavailable */
	char reason[64];          /* Elb.InitialHealthChecking, Target.ResponseCodeMismatch... */
	char description[160];
} elbv2_target;

typedef struct elbv2_targets {
	elbv2_target *t;
	size_t n;
} elbv2_targets;

/* Query parameters built at run time ("Key", "Value", ..., NULL). */
typedef struct elbv2_params {
	char **v;
	size_t n, cap;
	int failed;
} elbv2_params;

int mdeploy_awsp__params_add(elbv2_params *q, const char *key, const char *value);
int mdeploy_awsp__params_addf(elbv2_params *q, const char *value, const char *keyfmt, ...)
	MDEPLOY_FORMAT_PRINTF(3, 4);
const char *const *mdeploy_awsp__params(elbv2_params *q);
void mdeploy_awsp__params_dispose(elbv2_params *q);

/* Find the listener of load balancer `lb` (cached in the handle). */
int mdeploy_awsp__resolve(mdeploy_provider *p, const char *lb);
/* The listener's forward action now (DescribeListeners, and DescribeTags for new target groups). */
int mdeploy_awsp__view_read(mdeploy_provider *p, const char *lb, elbv2_view *v);
/* Write `v` back as the listener's default action: one ModifyListener. */
int mdeploy_awsp__view_write(mdeploy_provider *p, const elbv2_view *v);
void mdeploy_awsp__view_dispose(elbv2_view *v);
elbv2_tg *mdeploy_awsp__view_fleet(const elbv2_view *v, const char *fleet);
/* The handle's target group ARN <-> fleet pairs (target groups do not change fleet). */
int mdeploy_awsp__cache_fleet(mdeploy_awsp__lbcache *c, const char *arn, const char *fleet);
const char *mdeploy_awsp__cached_tg(const mdeploy_awsp__lbcache *c, const char *fleet);
void mdeploy_awsp__uncache_tg(mdeploy_awsp__lbcache *c, const char *arn);

/* The registered targets of a target group with their health (DescribeTargetHealth). */
int mdeploy_awsp__tg_targets(mdeploy_provider *p, const char *arn, elbv2_targets *out);
/* The target group name of a fleet: the fleet's name when ELBv2 takes it (1-32 of [A-Za-z0-9-],
 * no '-' at either end), else its first 23 such characters, '-' and 8 hex digits of a hash. */
void mdeploy_awsp__tg_name(char out[33], const char *fleet);

#endif
