/*
 * ops.h - the aws provider's fleet/instance/load-balancer parts (ops.c,
 * fleet.c), beside the aws stores (aws.h, h14's). Its state: one AWS client
 * and the options mdeploy.yml's provider: section gave.
 */
#ifndef MDEPLOY_PROVIDER_AWS_OPS_H
#define MDEPLOY_PROVIDER_AWS_OPS_H

#include "provider/provider.h"
#include "aws/aws_private.h"

/* What the handle learned of one load balancer (ARNs do not change under it). */
typedef struct mdeploy_awsp__lbcache {
	char *name;                   /* mdeploy's name for it */
	char *listener_arn;
	char *lb_arn;
	char *vpc_id;
	char *dns;
	unsigned int port;
	/* target group ARN -> fleet (from its mdeploy:fleet tag) */
	char **tg_arn, **tg_fleet;
	size_t ntg;
} mdeploy_awsp__lbcache;

/* The health check lb_ensure was given, for the target groups lb_register makes. */
typedef struct mdeploy_awsp__health {
	char *lb;
	mdeploy_lb_options o;
	char *path;
} mdeploy_awsp__health;

typedef struct mdeploy_awsp {
	mdeploy_aws__client *client;
	const char *launch_template;  /* name of the group's launch template */
	const char *subnets;          /* "subnet-a,subnet-b": the group's subnets/AZs */
	const char *listener;         /* the listener's ARN; NULL: the one forwarding listener of the ALB named as the lb */
	const char *alarms;           /* "name,name": CloudWatch alarms watched while traffic moves */
	mdeploy_awsp__lbcache lbc;
	mdeploy_awsp__health health;
	/* instance -> fleet, as instance_foreach listed them (an instance never changes group here) */
	char **inst_id, **inst_fleet;
	size_t ninst;
} mdeploy_awsp;

void mdeploy_awsp__remember_instance(mdeploy_provider *p, const char *id, const char *fleet);
/* The fleet of an instance the handle listed (instance_foreach), NULL when not known. */
const char *mdeploy_awsp__instance_fleet(mdeploy_provider *p, const char *id);

#define MDEPLOY_AWSP(p) ((mdeploy_awsp *)(p)->impl)

/* Auto Scaling (Query, 2011-01-01) and EC2 (Query, 2016-11-15) calls. */
int mdeploy_awsp__autoscaling(mdeploy_provider *p, const char *action, const char *const *params,
                              struct _xmlDoc **out);
int mdeploy_awsp__ec2(mdeploy_provider *p, const char *action, const char *const *params, struct _xmlDoc **out);
/* Elastic Load Balancing v2 (Query, 2015-12-01) and CloudWatch (Query, 2010-08-01). A failure's
 * message names the call: "aws: elasticloadbalancing:ModifyListener: TargetGroupNotFound: ...". */
int mdeploy_awsp__elbv2(mdeploy_provider *p, const char *action, const char *const *params, struct _xmlDoc **out);
int mdeploy_awsp__cloudwatch(mdeploy_provider *p, const char *action, const char *const *params,
                             struct _xmlDoc **out);

/* XML by local names: the first child element `name` of `node` (a path "a/b" walks down), its text
 * (caller xmlFree()s), the element children of `node` that are named `name`. */
struct _xmlNode *mdeploy_awsp__xml_child(struct _xmlNode *node, const char *path);
char *mdeploy_awsp__xml_child_text(struct _xmlNode *node, const char *path);
struct _xmlNode *mdeploy_awsp__xml_root(struct _xmlDoc *doc, const char *path);
#define MDEPLOY_AWSP__FOREACH(it, list) \
	for ((it) = (list) ? (list)->children : NULL; (it); (it) = (it)->next) \
		if ((it)->type == XML_ELEMENT_NODE)
void mdeploy_awsp__lbcache_dispose(mdeploy_awsp__lbcache *c);

int mdeploy_awsp__fleet_create(mdeploy_provider *p, const char *name, const mdeploy_fleet_options *o);
int mdeploy_awsp__fleet_scale(mdeploy_provider *p, const char *name, unsigned int desired, unsigned int min,
                              unsigned int max);
int mdeploy_awsp__fleet_terminate(mdeploy_provider *p, const char *name);
int mdeploy_awsp__fleet_set_tags(mdeploy_provider *p, const char *name, const char *tags);
int mdeploy_awsp__fleet_foreach(mdeploy_provider *p, const char *prefix, const char *exact, mdeploy_fleet_cb cb,
                                void *payload);
int mdeploy_awsp__instance_foreach(mdeploy_provider *p, const char *fleet, const char *id, mdeploy_instance_cb cb,
                                   void *payload);

/* cdn.c: CloudFront CreateInvalidation of `paths`, `reference` its CallerReference; id gets its id. */
int mdeploy_awsp__cdn_invalidate(mdeploy_provider *p, const char *distribution, const char *const *paths,
                                 const char *reference, char *id, size_t n);

/* lb.c: the load balancer (an ALB listener forwarding to one target group per fleet) */
int mdeploy_awsp__lb_ensure(mdeploy_provider *p, const char *name, const mdeploy_lb_options *o);
int mdeploy_awsp__lb_running(mdeploy_provider *p, const char *name);
int mdeploy_awsp__lb_register(mdeploy_provider *p, const char *lb, const char *instance, mdeploy_target_state state);
int mdeploy_awsp__lb_deregister(mdeploy_provider *p, const char *lb, const char *instance);
int mdeploy_awsp__lb_set_states(mdeploy_provider *p, const char *lb, const mdeploy_lb_change *c, size_t n);
int mdeploy_awsp__lb_targets(mdeploy_provider *p, const char *lb, mdeploy_target_cb cb, void *payload);
int mdeploy_awsp__lb_bind(mdeploy_provider *p, const char *lb, char *out, size_t n);
int mdeploy_awsp__lb_hold(mdeploy_provider *p, const char *lb, int on);
int mdeploy_awsp__lb_set_fleet_weights(mdeploy_provider *p, const char *lb, const mdeploy_fleet_weight *w, size_t n);
int mdeploy_awsp__lb_fleets(mdeploy_provider *p, const char *lb, mdeploy_lb_fleet_cb cb, void *payload);
int mdeploy_awsp__lb_alarms(mdeploy_provider *p, const char *lb, mdeploy_lb_alarm_cb cb, void *payload);

#endif
