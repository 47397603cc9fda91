/*
 * ops.c - the aws provider in the provider table (provider/registry.c):
 * fleets are Auto Scaling groups (fleet.c, instances listed from the group
 * and EC2); opening it makes an AWS client with the region/endpoint that
 * mdeploy.yml's provider: section gives (else the AWS CLI's settings).
 *
 * Not yet here: the load balancer (ALB target groups and weighted
 * listeners, lb.c) and instance start/stop; those operations are NULL and
 * report MDEPLOY_EUNSUPPORTED naming the operation.
 */
#include "ops.h"

#include <libxml/tree.h>

#include <stdlib.h>
#include <string.h>

static int aws_init(mdeploy_provider *p)
{
	mdeploy_aws__client_options co;
	mdeploy_awsp *a;
	int rc;

	if (!(a = calloc(1, sizeof(*a))))
		return mdeploy__error_oom();
	memset(&co, 0, sizeof(co));
	co.region = mdeploy_provider__setting(p, "region");
	co.endpoint = mdeploy_provider__setting(p, "endpoint");
	co.profile = mdeploy_provider__setting(p, "profile");
	a->launch_template = mdeploy_provider__setting(p, "launch_template");
	a->subnets = mdeploy_provider__setting(p, "subnets");
	if ((rc = mdeploy_aws__client_new(&a->client, &co))) {
		free(a);
		return rc;
	}
	p->impl = a;
	return 0;
}

static void aws_free(mdeploy_provider *p)
{
	mdeploy_awsp *a = MDEPLOY_AWSP(p);
	if (!a)
		return;
	mdeploy_aws__client_free(a->client);
	free(a);
	p->impl = NULL;
}

int mdeploy_awsp__autoscaling(mdeploy_provider *p, const char *action, const char *const *params, xmlDoc **out)
{
	return mdeploy_aws__query_call(MDEPLOY_AWSP(p)->client, "autoscaling", "AUTO_SCALING", "2011-01-01", action,
	                               params, out);
}

int mdeploy_awsp__ec2(mdeploy_provider *p, const char *action, const char *const *params, xmlDoc **out)
{
	return mdeploy_aws__query_call(MDEPLOY_AWSP(p)->client, "ec2", "EC2", "2016-11-15", action, params, out);
}

/* What `deploy plan` says each operation does here: the API calls. */
static const char *aws_describe(const char *call)
{
	static const char *const how[][2] = {
		{ "fleet_create", "ec2:DescribeLaunchTemplates (the template's version, pinned), "
		                  "autoscaling:CreateAutoScalingGroup across the group's subnets with the live "
		                  "fleet's sizes" },
		{ "fleet_scale", "autoscaling:UpdateAutoScalingGroup (sizes) or autoscaling:SetDesiredCapacity" },
		{ "fleet_terminate", "autoscaling:DeleteAutoScalingGroup (ForceDelete: its instances terminated)" },
		{ "fleet_foreach", "autoscaling:DescribeAutoScalingGroups" },
		{ "instance_foreach", "autoscaling:DescribeAutoScalingGroups, ec2:DescribeInstances" },
		{ "lb_ensure", "elasticloadbalancing:DescribeListeners (not implemented yet)" },
		{ "lb_register", "elasticloadbalancing:RegisterTargets (not implemented yet)" },
		{ "lb_deregister", "elasticloadbalancing:DeregisterTargets (not implemented yet)" },
		{ "lb_set_fleet_weights", "elasticloadbalancing:ModifyListener, a weighted forward to one target "
		                          "group per fleet (not implemented yet)" },
		{ "lb_targets", "elasticloadbalancing:DescribeTargetHealth (not implemented yet)" },
	};
	size_t i;
	for (i = 0; i < MDEPLOY__ARRAY_SIZE(how); i++)
		if (!strcmp(how[i][0], call))
			return how[i][1];
	return NULL;
}

static const char *const aws_options[] = { "region", "endpoint", "profile", "launch_template", "subnets", NULL };

const mdeploy_provider_ops mdeploy_provider__aws_ops = {
	"aws",
	aws_init,
	aws_free,
	mdeploy_awsp__fleet_create,
	mdeploy_awsp__fleet_scale,
	mdeploy_awsp__fleet_terminate,
	NULL, /* fleet_set_tags */
	mdeploy_awsp__fleet_foreach,
	mdeploy_awsp__instance_foreach,
	NULL, NULL, NULL, /* instance_start/stop/terminate */
	NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, /* lb_* */
	aws_describe,
	aws_options,
};
