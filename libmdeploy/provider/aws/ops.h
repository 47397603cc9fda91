/*
 * ops.h - the aws provider's fleet/instance/load-balancer parts (ops.c,
 * fleet.c), beside the aws stores (aws.h, h14's). Its state: one AWS client
 * and the options mdeploy.yml's provider: section gave.
 */
#ifndef MDEPLOY_PROVIDER_AWS_OPS_H
#define MDEPLOY_PROVIDER_AWS_OPS_H

#include "provider/provider.h"
#include "aws/aws_private.h"

typedef struct mdeploy_awsp {
	mdeploy_aws__client *client;
	const char *launch_template;  /* name of the group's launch template */
	const char *subnets;          /* "subnet-a,subnet-b": the group's subnets/AZs */
} mdeploy_awsp;

#define MDEPLOY_AWSP(p) ((mdeploy_awsp *)(p)->impl)

/* Auto Scaling (Query, 2011-01-01) and EC2 (Query, 2016-11-15) calls. */
int mdeploy_awsp__autoscaling(mdeploy_provider *p, const char *action, const char *const *params,
                              struct _xmlDoc **out);
int mdeploy_awsp__ec2(mdeploy_provider *p, const char *action, const char *const *params, struct _xmlDoc **out);

int mdeploy_awsp__fleet_create(mdeploy_provider *p, const char *name, const mdeploy_fleet_options *o);
int mdeploy_awsp__fleet_scale(mdeploy_provider *p, const char *name, unsigned int desired, unsigned int min,
                              unsigned int max);
int mdeploy_awsp__fleet_terminate(mdeploy_provider *p, const char *name);
int mdeploy_awsp__fleet_foreach(mdeploy_provider *p, const char *prefix, const char *exact, mdeploy_fleet_cb cb,
                                void *payload);
int mdeploy_awsp__instance_foreach(mdeploy_provider *p, const char *fleet, const char *id, mdeploy_instance_cb cb,
                                   void *payload);

#endif
