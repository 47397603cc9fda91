/*
 * ops.c - the aws provider in the provider table (provider/registry.c):
 * fleets are Auto Scaling groups (fleet.c, instances listed from the group
 * and EC2); opening it makes an AWS client with the region/endpoint that
 * mdeploy.yml's provider: section gives (else the AWS CLI's settings).
 *
 * The load balancer is an ALB listener forwarding to one target group per
 * fleet (lb.c), CloudWatch alarms are watched while traffic moves.
 *
 * Not yet here: instance start/stop/terminate and lb_stop
 * (mdeploy never stops an ALB); those operations are NULL and report
 * MDEPLOY_EUNSUPPORTED naming the operation.
 */
#include "ops.h"
#include "infra.h"
#include "agent.h"

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
	a->listener = mdeploy_provider__setting(p, "listener");
	a->alarms = mdeploy_provider__setting(p, "alarms");
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
	mdeploy_awsp__lbcache_dispose(&a->lbc);
	free(a->health.lb);
	free(a->health.path);
	{
		size_t i;
		for (i = 0; i < a->ninst; i++) {
			free(a->inst_id[i]);
			free(a->inst_fleet[i]);
		}
		free(a->inst_id);
		free(a->inst_fleet);
	}
	free(a);
	p->impl = NULL;
}

/* One Query call; a failure says which call failed, keeping the code and the AWS error. */
static int call(mdeploy_provider *p, const char *svc, const char *env, const char *ver, const char *action,
                const char *const *params, xmlDoc **out)
{
	int rc;
	/* Names only (never the parameters): what -v shows and bench/aws-calls counts. */
	mdeploy__log(p->ctx, MDEPLOY_LOG_DEBUG, "aws", "call %s:%s", svc, action);
	rc = mdeploy_aws__query_call(MDEPLOY_AWSP(p)->client, svc, env, ver, action, params, out);
	if (rc && rc != MDEPLOY_ENOMEM) {
		const mdeploy_error *e = mdeploy_error_last();
		char *msg = mdeploy__strdup(e->message ? e->message : mdeploy_strerror(rc));
		int klass = e->klass;
		if (msg) {
			const char *m = msg;
			/* "aws elasticloadbalancing: Code: text" -> "Code: text" */
			if (!strncmp(m, "aws ", 4) && strchr(m, ':'))
				m = strchr(m, ':') + 1 + (strchr(m, ':')[1] == ' ');
			mdeploy__error_set(rc, klass, "aws: %s:%s: %s", svc, action, m);
			free(msg);
		}
	}
	return rc;
}

int mdeploy_awsp__autoscaling(mdeploy_provider *p, const char *action, const char *const *params, xmlDoc **out)
{
	return call(p, "autoscaling", "AUTO_SCALING", "2011-01-01", action, params, out);
}

int mdeploy_awsp__ec2(mdeploy_provider *p, const char *action, const char *const *params, xmlDoc **out)
{
	return call(p, "ec2", "EC2", "2016-11-15", action, params, out);
}

int mdeploy_awsp__elbv2(mdeploy_provider *p, const char *action, const char *const *params, xmlDoc **out)
{
	return call(p, "elasticloadbalancing", "ELASTIC_LOAD_BALANCING_V2", "2015-12-01", action, params, out);
}

int mdeploy_awsp__cloudwatch(mdeploy_provider *p, const char *action, const char *const *params, xmlDoc **out)
{
	return call(p, "monitoring", "CLOUDWATCH", "2010-08-01", action, params, out);
}

void mdeploy_awsp__remember_instance(mdeploy_provider *p, const char *id, const char *fleet)
{
	mdeploy_awsp *a = MDEPLOY_AWSP(p);
	char **ni, **nf, *i2, *f2;
	size_t i;
	for (i = 0; i < a->ninst; i++)
		if (!strcmp(a->inst_id[i], id))
			return;
	ni = realloc(a->inst_id, (a->ninst + 1) * sizeof(*ni));
	if (ni)
		a->inst_id = ni;
	nf = realloc(a->inst_fleet, (a->ninst + 1) * sizeof(*nf));
	if (nf)
		a->inst_fleet = nf;
	i2 = strdup(id);
	f2 = strdup(fleet);
	if (!ni || !nf || !i2 || !f2) {
		free(i2); /* a cache: forgetting is safe */
		free(f2);
		return;
	}
	a->inst_id[a->ninst] = i2;
	a->inst_fleet[a->ninst++] = f2;
}

const char *mdeploy_awsp__instance_fleet(mdeploy_provider *p, const char *id)
{
	mdeploy_awsp *a = MDEPLOY_AWSP(p);
	size_t i;
	for (i = 0; i < a->ninst; i++)
		if (!strcmp(a->inst_id[i], id))
			return a->inst_fleet[i];
	return NULL;
}

xmlNodePtr mdeploy_awsp__xml_child(xmlNodePtr node, const char *path)
{
	while (node && path && *path) {
		const char *slash = strchr(path, '/');
		size_t len = slash ? (size_t)(slash - path) : strlen(path);
		xmlNodePtr c;
		for (c = node->children; c; c = c->next)
			if (c->type == XML_ELEMENT_NODE && strlen((const char *)c->name) == len &&
			    !strncmp((const char *)c->name, path, len))
				break;
		node = c;
		path = slash ? slash + 1 : NULL;
	}
	return node;
}

char *mdeploy_awsp__xml_child_text(xmlNodePtr node, const char *path)
{
	xmlNodePtr c = mdeploy_awsp__xml_child(node, path);
	return c ? (char *)xmlNodeGetContent(c) : NULL;
}

/* The element at `path` below the document element (the ...Response), e.g.
 * "DescribeListenersResult/Listeners". */
xmlNodePtr mdeploy_awsp__xml_root(xmlDoc *doc, const char *path)
{
	return mdeploy_awsp__xml_child(doc ? xmlDocGetRootElement(doc) : NULL, path);
}

/* What `deploy plan` says each operation does here: the API calls. */
static const char *aws_describe(const char *call)
{
	static const char *const how[][2] = {
		{ "fleet_create", "ec2:DescribeLaunchTemplates (the template's version, pinned), "
		                  "autoscaling:CreateAutoScalingGroup across the group's subnets with the live "
		                  "fleet's sizes; for a deployment first s3:HeadObject/PutObject (the bundle in "
		                  "provider.agent_bucket) and ec2:CreateLaunchTemplateVersion (user data running "
		                  "`mdeploy agent pull`), the group pinned to that version" },
		{ "cdn_invalidate", "cloudfront:CreateInvalidation of the group's cdn.invalidate paths (the "
		                    "deployment id as CallerReference; not waited for)" },
		{ "agent_report", "s3:GetObject of each instance's report, every poll" },
		{ "fleet_scale", "autoscaling:UpdateAutoScalingGroup (sizes) or autoscaling:SetDesiredCapacity" },
		{ "fleet_terminate", "autoscaling:DeleteAutoScalingGroup (ForceDelete: its instances terminated)" },
		{ "fleet_foreach", "autoscaling:DescribeAutoScalingGroups" },
		{ "fleet_set_tags", "autoscaling:CreateOrUpdateTags (mdeploy:tags)" },
		{ "instance_foreach", "autoscaling:DescribeAutoScalingGroups, ec2:DescribeInstances" },
		{ "lb_ensure", "elasticloadbalancing:DescribeListeners, DescribeLoadBalancers (the ALB and its "
		               "forwarding listener exist; nothing is created)" },
		{ "lb_register", "autoscaling:DescribeAutoScalingInstances (the instance's fleet), "
		                 "elasticloadbalancing:CreateTargetGroup + ModifyTargetGroupAttributes (deregistration "
		                 "delay from drain_timeout) + ModifyListener at weight 0 (the fleet's first target), "
		                 "elasticloadbalancing:RegisterTargets" },
		{ "lb_deregister", "elasticloadbalancing:DeregisterTargets (the target group leaves the listener "
		                   "and is deleted with its last target when its weight is 0)" },
		{ "lb_set_states", "elasticloadbalancing:RegisterTargets (ready) / DeregisterTargets (drain, maint), "
		                   "one call per target group" },
		{ "lb_set_fleet_weights", "elasticloadbalancing:ModifyListener, a weighted forward to one target "
		                          "group per fleet (weights 0-999 as given), one call" },
		{ "lb_targets", "elasticloadbalancing:DescribeListeners, DescribeTargetHealth per target group" },
		{ "lb_fleets", "elasticloadbalancing:DescribeListeners, DescribeTargetHealth per target group" },
		{ "lb_hold", "nothing to change: an ALB forwards to every target of a target group whose targets "
		             "are all unhealthy (fails open)" },
		{ "lb_alarms", "cloudwatch:DescribeAlarms (provider.alarms)" },
	};
	size_t i;
	for (i = 0; i < MDEPLOY__ARRAY_SIZE(how); i++)
		if (!strcmp(how[i][0], call))
			return how[i][1];
	return NULL;
}

static const char *const aws_options[] = { "region", "endpoint", "profile", "launch_template", "subnets",
	                                   "listener", "alarms", "agent_bucket", "agent_prefix",
	                                   "agent_root", "agent_timeout", NULL };

/* Reading target health is 1 + N ELBv2 calls (DescribeListeners, DescribeTargetHealth per
 * target group), throttled per account and region: once a second at most, and no more often
 * than the health checks can change it. */
static unsigned int aws_lb_poll_ms(unsigned int health_interval_ms)
{
	return health_interval_ms > 1000 ? health_interval_ms : 1000;
}

const mdeploy_provider_ops mdeploy_provider__aws_ops = {
	"aws",
	aws_init,
	aws_free,
	mdeploy_awsp__fleet_create,
	mdeploy_awsp__fleet_scale,
	mdeploy_awsp__fleet_terminate,
	mdeploy_awsp__fleet_set_tags,
	mdeploy_awsp__fleet_foreach,
	mdeploy_awsp__instance_foreach,
	NULL, NULL, NULL, /* instance_start/stop/terminate */
	mdeploy_awsp__lb_ensure,
	NULL, /* lb_stop: an ALB is infrastructure, never stopped by a deployment */
	mdeploy_awsp__lb_running,
	mdeploy_awsp__lb_register,
	mdeploy_awsp__lb_deregister,
	mdeploy_awsp__lb_set_states,
	mdeploy_awsp__lb_targets,
	mdeploy_awsp__lb_bind,
	mdeploy_awsp__lb_hold,
	mdeploy_awsp__lb_set_fleet_weights,
	mdeploy_awsp__lb_fleets,
	aws_describe,
	aws_options,
	mdeploy_awsp__lb_alarms,
	mdeploy_awsp__infra_plan,
	mdeploy_awsp__infra_apply,
	mdeploy_awsp__infra_destroy,
	mdeploy_awsp__infra_status,
	mdeploy_awsp__infra_outputs,
	mdeploy_awsp__infra_check,
	1,
	aws_lb_poll_ms,
	mdeploy_awsp__agent_report,
	mdeploy_awsp__agent_timeout_ms,
	mdeploy_awsp__cdn_invalidate,
	NULL, /* infra_lb_certificate: an ALB's certificate comes from ACM (the listener), no file */
};
