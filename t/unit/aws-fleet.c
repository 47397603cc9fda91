/*
 * aws-fleet.c - the aws provider's fleets on moto_server (run by
 * t/t8051-aws-fleet.sh after moto_start, which exports the endpoint and a
 * key moto checks signatures with). Setup through the same AWS client: a
 * VPC, two subnets in two zones and a launch template with two versions.
 * After each provider call, moto's state is read back with the client
 * (DescribeAutoScalingGroups, DescribeInstances), not through the provider.
 */
#include "provider/aws/ops.h"
#include "tap.h"

#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws-query.h"
#define ASG(a, p, path) q("autoscaling", "AUTO_SCALING", "2011-01-01", a, p, path)

static char *group_field(const char *name, const char *field)
{
	const char *p[] = { "AutoScalingGroupNames.member.1", name, NULL };
	char path[128];
	snprintf(path, sizeof(path), "AutoScalingGroups/member/%s", field);
	return ASG("DescribeAutoScalingGroups", p, path);
}

static int count_cb(const mdeploy_instance_info *i, void *payload)
{
	unsigned int *n = payload;
	if (i->address[0] && !strcmp(i->state, "running"))
		(*n)++;
	return 0;
}

static int fleet_cb(const mdeploy_fleet_info *f, void *payload)
{
	char *buf = payload;
	size_t n = strlen(buf);
	snprintf(buf + n, 256 - n, "%s%s:%u/%u/%u:%u", n ? " " : "", f->name, f->desired, f->min, f->max, f->port);
	return 0;
}

int main(void)
{
	mdeploy_aws__client_options co;
	mdeploy_ctx *ctx = NULL;
	mdeploy_store *store = NULL;
	mdeploy_provider *p = NULL;
	mdeploy_provider_options po = MDEPLOY_PROVIDER_OPTIONS_INIT;
	mdeploy_fleet_options fo = MDEPLOY_FLEET_OPTIONS_INIT;
	mdeploy_ctx_options cto = MDEPLOY_CTX_OPTIONS_INIT;
	char *vpc, *sa, *sb, *v, subnets[128], list[256];
	const char *settings[] = { "launch_template", "mdeploy-lt", "subnets", subnets, NULL };
	unsigned int n;

	plan_lazy();
	memset(&co, 0, sizeof(co));
	if (mdeploy_aws__client_new(&cl, &co)) {
		diag("%s", mdeploy_error_last()->message);
		return 1;
	}
	/* setup: VPC, two subnets in two zones, a launch template with versions 1 and 2 */
	{
		const char *p1[] = { "CidrBlock", "10.9.0.0/16", NULL };
		vpc = EC2("CreateVpc", p1, "vpc/vpcId");
	}
	ok(vpc != NULL, "setup: a VPC");
	{
		const char *pa[] = { "VpcId", vpc, "CidrBlock", "10.9.1.0/24", "AvailabilityZone", "us-east-1a", NULL };
		const char *pb[] = { "VpcId", vpc, "CidrBlock", "10.9.2.0/24", "AvailabilityZone", "us-east-1b", NULL };
		sa = EC2("CreateSubnet", pa, "subnet/subnetId");
		sb = EC2("CreateSubnet", pb, "subnet/subnetId");
	}
	ok(sa && sb, "setup: two subnets in two zones");
	snprintf(subnets, sizeof(subnets), "%s,%s", sa ? sa : "", sb ? sb : "");
	{
		const char *p1[] = { "LaunchTemplateName", "mdeploy-lt", "LaunchTemplateData.ImageId", "ami-12c6146b",
		                     "LaunchTemplateData.InstanceType", "t3.micro", NULL };
		const char *p2[] = { "LaunchTemplateName", "mdeploy-lt", "LaunchTemplateData.ImageId", "ami-12c6146b",
		                     "LaunchTemplateData.InstanceType", "t3.small", NULL };
		free(EC2("CreateLaunchTemplate", p1, NULL));
		v = EC2("CreateLaunchTemplateVersion", p2, "launchTemplateVersion/versionNumber");
	}
	is_str("2", v, "setup: the launch template has version 2");
	free(v);

	mdeploy_ctx_new(&ctx, &cto);
	if (mdeploy_store_open(&store, ctx, NULL)) {
		diag("%s", mdeploy_error_last()->message);
		return 1;
	}
	po.name = "aws";
	po.settings = settings;
	is_int(0, mdeploy_provider_open(&p, ctx, store, &po), "open the aws provider");
	if (!p) {
		diag("%s", mdeploy_error_last()->message);
		return done();
	}
	like(mdeploy_provider_describe(p, "fleet_create"), "autoscaling:CreateAutoScalingGroup",
	     "deploy plan: fleet_create is described by its AWS API calls");

	/* create: the template's version pinned, the subnets, the sizes given */
	fo.desired = 2;
	fo.min = 1;
	fo.max = 4;
	fo.port = 8080;
	if (!is_int(0, mdeploy_fleet_create(p, "app-prod-v001", &fo), "fleet_create app-prod-v001"))
		diag("%s", mdeploy_error_last()->message);
	v = group_field("app-prod-v001", "DesiredCapacity");
	is_str("2", v, "moto: the group's desired capacity is 2");
	free(v);
	v = group_field("app-prod-v001", "MaxSize");
	is_str("4", v, "moto: max size 4");
	free(v);
	v = group_field("app-prod-v001", "LaunchTemplate/Version");
	is_str("2", v, "moto: launch template version pinned to 2 (not $Latest)");
	free(v);
	v = group_field("app-prod-v001", "VPCZoneIdentifier");
	is_str(subnets, v, "moto: across the two subnets");
	free(v);
	/* the group's own template and subnets win over the provider's (fleet options v2) */
	{
		const char *p3[] = { "LaunchTemplateName", "group-lt", "LaunchTemplateData.ImageId", "ami-12c6146b",
		                     "LaunchTemplateData.InstanceType", "t3.nano", NULL };
		free(EC2("CreateLaunchTemplate", p3, NULL));
		fo.launch_template = "group-lt";
		fo.subnets = sb;
		if (!is_int(0, mdeploy_fleet_create(p, "app-qa-v001", &fo), "fleet_create with the group's template"))
			diag("%s", mdeploy_error_last()->message);
		v = group_field("app-qa-v001", "LaunchTemplate/LaunchTemplateName");
		is_str("group-lt", v, "moto: the group's launch template, not the provider's");
		free(v);
		v = group_field("app-qa-v001", "VPCZoneIdentifier");
		is_str(sb, v, "moto: the group's subnet only");
		free(v);
		fo.launch_template = fo.subnets = NULL;
		is_int(0, mdeploy_fleet_terminate(p, "app-qa-v001"), "removed");
	}
	fo.desired = 1;
	is_int(MDEPLOY_EEXISTS, mdeploy_fleet_create(p, "app-prod-v001", &fo), "creating it again: EEXISTS");
	v = group_field("app-prod-v001", "DesiredCapacity");
	is_str("2", v, "moto: the group was left as it was");
	free(v);
	fo.desired = 2;

	/* list: from DescribeAutoScalingGroups; instances from the group + DescribeInstances */
	list[0] = '\0';
	is_int(0, mdeploy_fleet_foreach(p, "app-prod-", fleet_cb, list), "fleet_foreach");
	is_str("app-prod-v001:2/1/4:8080", list, "lists the fleet with its sizes and port (tag)");
	is_int(MDEPLOY_ENOTFOUND, mdeploy_fleet_get(p, "app-prod-v009", fleet_cb, list), "an unknown fleet: ENOTFOUND");
	n = 0;
	is_int(0, mdeploy_instance_foreach(p, "app-prod-v001", count_cb, &n), "instance_foreach");
	is_int(2, n, "two instances in service, each with its private address from EC2");

	/* scale */
	is_int(0, mdeploy_fleet_scale(p, "app-prod-v001", 3, 0, 0), "fleet_scale to 3 (SetDesiredCapacity)");
	v = group_field("app-prod-v001", "DesiredCapacity");
	is_str("3", v, "moto: desired capacity 3");
	free(v);
	n = 0;
	mdeploy_instance_foreach(p, "app-prod-v001", count_cb, &n);
	is_int(3, n, "three instances");
	is_int(0, mdeploy_fleet_scale(p, "app-prod-v001", 1, 1, 2), "fleet_scale to 1, min 1, max 2 (UpdateAutoScalingGroup)");
	v = group_field("app-prod-v001", "MaxSize");
	is_str("2", v, "moto: max size 2");
	free(v);
	v = group_field("app-prod-v001", "DesiredCapacity");
	is_str("1", v, "moto: desired capacity 1");
	free(v);
	is_int(MDEPLOY_EINVALID, mdeploy_fleet_scale(p, "app-prod-v001", 5, 1, 2), "desired above max: refused");
	v = group_field("app-prod-v001", "DesiredCapacity");
	is_str("1", v, "moto: nothing sent, desired capacity still 1");
	free(v);

	/* delete */
	is_int(0, mdeploy_fleet_terminate(p, "app-prod-v001"), "fleet_terminate (ForceDelete)");
	v = group_field("app-prod-v001", "AutoScalingGroupName");
	ok(v == NULL, "moto: the group is gone");
	free(v);
	is_int(MDEPLOY_ENOTFOUND, mdeploy_fleet_get(p, "app-prod-v001", fleet_cb, list), "fleet_get: ENOTFOUND after");

	mdeploy_provider_free(p);
	mdeploy_store_free(store);
	mdeploy_ctx_free(ctx);
	mdeploy_aws__client_free(cl);
	free(vpc);
	free(sa);
	free(sb);
	return done();
}
