/*
 * fleet.c - fleets on AWS: one Auto Scaling group per fleet,
 * app-group-vNNN, made from the group's launch template at a pinned
 * version (resolved from $Latest when the fleet is created, so a fleet's
 * instances never change under it), across the group's subnets, with the
 * sizes the orchestrator gives (the live fleet's, as CodeDeploy's
 * COPY_AUTO_SCALING_GROUP copies them). The port is kept as a tag
 * (mdeploy:port), the fleet's tags (a JSON object: application, group,
 * deployment) whole in mdeploy:tags. Instances are listed from the group and EC2.
 */
#include "ops.h"
#include "agent.h"

#include <libxml/tree.h>

#include <libxml/xpath.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLS MDEPLOY_ERROR_CLASS_PROVIDER

/* The text of the first descendant of `node` named `name` (local name), or NULL (caller frees). */
static char *child_text(xmlNodePtr node, const char *name)
{
	xmlNodePtr c;
	for (c = node ? node->children : NULL; c; c = c->next) {
		if (c->type == XML_ELEMENT_NODE && !strcmp((const char *)c->name, name))
			return (char *)xmlNodeGetContent(c);
	}
	return NULL;
}

static xmlNodePtr child(xmlNodePtr node, const char *name)
{
	xmlNodePtr c;
	for (c = node ? node->children : NULL; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && !strcmp((const char *)c->name, name))
			return c;
	return NULL;
}

/* Elements matching an XPath over local names. */
static xmlXPathObjectPtr select_nodes(xmlDoc *doc, const char *xpath)
{
	xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
	xmlXPathObjectPtr res;
	if (!ctx)
		return NULL;
	res = xmlXPathEvalExpression((const xmlChar *)xpath, ctx);
	xmlXPathFreeContext(ctx);
	return res;
}

static unsigned int uint_of(xmlNodePtr n, const char *name)
{
	char *t = child_text(n, name);
	unsigned int v = t ? (unsigned int)strtoul(t, NULL, 10) : 0;
	xmlFree(t);
	return v;
}

typedef int (*group_cb)(xmlNodePtr group, void *payload);
static int groups_foreach(mdeploy_provider *p, const char *exact, group_cb cb, void *payload);

static int count_group(xmlNodePtr g, void *payload)
{
	(void)g;
	(*(unsigned int *)payload)++;
	return 0;
}

int mdeploy_awsp__fleet_create(mdeploy_provider *p, const char *name, const mdeploy_fleet_options *o)
{
	mdeploy_awsp *a = MDEPLOY_AWSP(p);
	xmlDoc *doc = NULL;
	char *ver = NULL, smin[16], smax[16], sdes[16], sport[16];
	/* The group's (fleet.launch_template, fleet.subnets), else the provider's. */
	const char *lt = o->launch_template ? o->launch_template : a->launch_template;
	const char *subnets = o->subnets ? o->subnets : a->subnets;
	unsigned int exists = 0;
	int rc;

	if (!lt || !subnets)
		return mdeploy__error_set(MDEPLOY_EINVALID, CLS,
		                          "aws: fleet %s: a launch template and subnets are required to create an Auto "
		                          "Scaling group (the group's fleet.launch_template/fleet.subnets, or "
		                          "provider.launch_template/provider.subnets)", name);
	if (o->tags && strlen(o->tags) > 256)
		return mdeploy__error_set(MDEPLOY_EINVALID, CLS,
		                          "aws: fleet %s: its tags take %zu characters, an Auto Scaling tag 256", name,
		                          strlen(o->tags));
	if (o->min > o->desired || o->desired > o->max)
		return mdeploy__error_set(MDEPLOY_EINVALID, CLS, "aws: fleet %s: sizes %u <= %u <= %u do not hold",
		                          name, o->min, o->desired, o->max);
	/* Asked first: AlreadyExists is the only answer AWS gives, and not every
	 * implementation gives it (moto replaces the group). */
	if ((rc = groups_foreach(p, name, count_group, &exists)))
		return rc;
	if (exists)
		return mdeploy__error_set(MDEPLOY_EEXISTS, CLS, "aws: Auto Scaling group %s exists", name);
	{
		const char *q[] = { "LaunchTemplateName.1", lt, NULL };
		if ((rc = mdeploy_awsp__ec2(p, "DescribeLaunchTemplates", q, &doc)))
			return rc;
	}
	if (!(ver = mdeploy_aws__xml_text(doc, "launchTemplates/item/latestVersionNumber"))) {
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS, "aws: launch template '%s' has no version", lt);
		goto out;
	}
	if (o->agent) {
		/* The instances install the release themselves: a version of the template
		 * (from its default one) whose user data runs the agent (agent.c). */
		char *def = mdeploy_aws__xml_text(doc, "launchTemplates/item/defaultVersionNumber"), *mine = NULL;
		rc = mdeploy_awsp__agent_stage(p, o->agent, lt, def ? def : ver, &mine);
		xmlFree(def);
		if (rc)
			goto out;
		xmlFree(ver);
		ver = mine;
	}
	xmlFreeDoc(doc);
	doc = NULL;
	snprintf(smin, sizeof(smin), "%u", o->min);
	snprintf(smax, sizeof(smax), "%u", o->max);
	snprintf(sdes, sizeof(sdes), "%u", o->desired);
	snprintf(sport, sizeof(sport), "%u", o->port);
	{
		const char *q[] = {
			"AutoScalingGroupName", name,
			"LaunchTemplate.LaunchTemplateName", lt,
			"LaunchTemplate.Version", ver, /* pinned: never $Latest */
			"MinSize", smin, "MaxSize", smax, "DesiredCapacity", sdes,
			"VPCZoneIdentifier", subnets,
			"Tags.member.1.Key", "mdeploy:port", "Tags.member.1.Value", sport,
			"Tags.member.1.PropagateAtLaunch", "true",
			"Tags.member.2.Key", "mdeploy:fleet", "Tags.member.2.Value", name,
			"Tags.member.2.PropagateAtLaunch", "true",
			"Tags.member.3.Key", "mdeploy:tags", "Tags.member.3.Value", o->tags ? o->tags : "{}",
			"Tags.member.3.PropagateAtLaunch", "false",
			NULL,
		};
		rc = mdeploy_awsp__autoscaling(p, "CreateAutoScalingGroup", q, &doc);
		if (rc && mdeploy_error_last()->message && strstr(mdeploy_error_last()->message, "AlreadyExists"))
			rc = mdeploy__error_set(MDEPLOY_EEXISTS, CLS, "aws: Auto Scaling group %s exists", name);
	}
out:
	xmlFree(ver);
	xmlFreeDoc(doc);
	return rc;
}

int mdeploy_awsp__fleet_scale(mdeploy_provider *p, const char *name, unsigned int desired, unsigned int min,
                              unsigned int max)
{
	xmlDoc *doc = NULL;
	char smin[16], smax[16], sdes[16];
	int rc;

	snprintf(smin, sizeof(smin), "%u", min);
	snprintf(smax, sizeof(smax), "%u", max);
	snprintf(sdes, sizeof(sdes), "%u", desired);
	if ((min && desired < min) || (max && desired > max))
		return mdeploy__error_set(MDEPLOY_EINVALID, CLS, "aws: fleet %s: desired %u is outside %u-%u", name,
		                          desired, min, max);
	if (min || max) {
		const char *q[] = { "AutoScalingGroupName", name, "DesiredCapacity", sdes,
		                    min ? "MinSize" : NULL, smin, max ? "MaxSize" : NULL, smax, NULL };
		if (!min) { q[4] = "MaxSize"; q[5] = smax; q[6] = NULL; }
		rc = mdeploy_awsp__autoscaling(p, "UpdateAutoScalingGroup", q, &doc);
	} else {
		const char *q[] = { "AutoScalingGroupName", name, "DesiredCapacity", sdes, NULL };
		rc = mdeploy_awsp__autoscaling(p, "SetDesiredCapacity", q, &doc);
	}
	xmlFreeDoc(doc);
	return rc;
}

int mdeploy_awsp__fleet_terminate(mdeploy_provider *p, const char *name)
{
	xmlDoc *doc = NULL;
	const char *q[] = { "AutoScalingGroupName", name, "ForceDelete", "true", NULL };
	int rc = mdeploy_awsp__autoscaling(p, "DeleteAutoScalingGroup", q, &doc);
	xmlFreeDoc(doc);
	if (rc && mdeploy_error_last()->message && strstr(mdeploy_error_last()->message, "not found"))
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS, "aws: no Auto Scaling group %s", name);
	return rc;
}

/* Each Auto Scaling group (one by name, or all, page by page). */
static int groups_foreach(mdeploy_provider *p, const char *exact, group_cb cb, void *payload)
{
	char *token = NULL;
	int rc = 0;

	do {
		const char *q[7];
		size_t n = 0;
		xmlDoc *doc = NULL;
		xmlXPathObjectPtr res;
		int i;

		if (exact) { q[n++] = "AutoScalingGroupNames.member.1"; q[n++] = exact; }
		if (token) { q[n++] = "NextToken"; q[n++] = token; }
		q[n] = NULL;
		if ((rc = mdeploy_awsp__autoscaling(p, "DescribeAutoScalingGroups", q, &doc)))
			break;
		xmlFree(token);
		token = mdeploy_aws__xml_text(doc, "DescribeAutoScalingGroupsResult/NextToken");
		res = select_nodes(doc, "//*[local-name()='AutoScalingGroups']/*[local-name()='member']");
		for (i = 0; !rc && res && res->nodesetval && i < res->nodesetval->nodeNr; i++)
			rc = cb(res->nodesetval->nodeTab[i], payload);
		xmlXPathFreeObject(res);
		xmlFreeDoc(doc);
	} while (!rc && token && *token);
	xmlFree(token);
	return rc;
}

struct fleet_walk {
	const char *prefix;
	mdeploy_fleet_cb cb;
	void *payload;
	unsigned int seen;
};

/* The value of tag `key` of a group, or NULL (caller frees). */
static char *tag_value(xmlNodePtr g, const char *key)
{
	xmlNodePtr t, tags = child(g, "Tags");
	for (t = tags ? tags->children : NULL; t; t = t->next) {
		char *k = child_text(t, "Key");
		int match = k && !strcmp(k, key);
		xmlFree(k);
		if (match)
			return child_text(t, "Value");
	}
	return NULL;
}

static int fleet_one(xmlNodePtr g, void *payload)
{
	struct fleet_walk *w = payload;
	mdeploy_fleet_info fi;
	char *name = child_text(g, "AutoScalingGroupName"), *port = tag_value(g, "mdeploy:port");
	char *tags = tag_value(g, "mdeploy:tags");
	xmlNodePtr insts = child(g, "Instances"), m;
	int rc = 0;

	memset(&fi, 0, sizeof(fi));
	if (name && (!w->prefix || !strncmp(name, w->prefix, strlen(w->prefix)))) {
		w->seen++;
		fi.name = name;
		fi.desired = uint_of(g, "DesiredCapacity");
		fi.min = uint_of(g, "MinSize");
		fi.max = uint_of(g, "MaxSize");
		fi.port = port ? (unsigned int)strtoul(port, NULL, 10) : 0;
		/* the fleet's tags (JSON), kept whole in one tag */
		fi.tags = tags && tags[0] == '{' ? tags : "{}";
		for (m = insts ? insts->children : NULL; m; m = m->next) {
			char *st = m->type == XML_ELEMENT_NODE ? child_text(m, "LifecycleState") : NULL;
			if (st && !strcmp(st, "InService"))
				fi.running++;
			xmlFree(st);
		}
		{
			char *ct = child_text(g, "CreatedTime");
			int64_t t = 0;
			if (ct && !mdeploy_aws__parse_time(&t, ct))
				fi.created_at = t;
			xmlFree(ct);
		}
		if (w->cb(&fi, w->payload))
			rc = MDEPLOY_EUSER;
	}
	xmlFree(name);
	xmlFree(port);
	xmlFree(tags);
	return rc;
}

int mdeploy_awsp__fleet_set_tags(mdeploy_provider *p, const char *name, const char *tags)
{
	xmlDoc *doc = NULL;
	const char *q[] = { "Tags.member.1.ResourceId", name, "Tags.member.1.ResourceType", "auto-scaling-group",
	                    "Tags.member.1.Key", "mdeploy:tags", "Tags.member.1.Value", tags,
	                    "Tags.member.1.PropagateAtLaunch", "false", NULL };
	unsigned int exists = 0;
	int rc;
	if (strlen(tags) > 256)
		return mdeploy__error_set(MDEPLOY_EINVALID, CLS,
		                          "aws: fleet %s: its tags take %zu characters, an Auto Scaling tag 256", name,
		                          strlen(tags));
	/* CreateOrUpdateTags would tag a group that does not exist on some implementations. */
	if ((rc = groups_foreach(p, name, count_group, &exists)))
		return rc;
	if (!exists)
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS, "aws: no Auto Scaling group %s", name);
	rc = mdeploy_awsp__autoscaling(p, "CreateOrUpdateTags", q, &doc);
	xmlFreeDoc(doc);
	return rc;
}

int mdeploy_awsp__fleet_foreach(mdeploy_provider *p, const char *prefix, const char *exact, mdeploy_fleet_cb cb,
                                void *payload)
{
	struct fleet_walk w = { prefix, cb, payload, 0 };
	int rc = groups_foreach(p, exact, fleet_one, &w);
	/* DescribeAutoScalingGroups answers an unknown name with an empty list. */
	if (!rc && exact && !w.seen)
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS, "aws: no Auto Scaling group %s", exact);
	return rc;
}

/* ---- instances: the group's members, addresses from EC2 ---- */

struct inst_walk {
	mdeploy_provider *p;
	const char *id;
	mdeploy_instance_cb cb;
	void *payload;
	unsigned int seen;
};

/* EC2's view of some instances: private address and launch time, one DescribeInstances a
 * hundred instances (never one call per instance). */
struct ec2_info { char *id, *addr, *launched; };

static int ec2_describe(mdeploy_provider *p, struct ec2_info *in, size_t n)
{
	size_t i, j;
	int rc = 0;
	for (i = 0; !rc && i < n; i += 100) {
		const char **q = calloc(2 * 100 + 1, sizeof(*q));
		char (*keys)[24] = calloc(100, sizeof(*keys));
		xmlDoc *doc = NULL;
		xmlXPathObjectPtr res;
		size_t k = 0;
		int m;
		if (!q || !keys) {
			free(q);
			free(keys);
			return mdeploy__error_oom();
		}
		for (j = i; j < n && j < i + 100; j++, k++) {
			snprintf(keys[k], sizeof(keys[k]), "InstanceId.%zu", k + 1);
			q[2 * k] = keys[k];
			q[2 * k + 1] = in[j].id;
		}
		q[2 * k] = NULL;
		rc = mdeploy_awsp__ec2(p, "DescribeInstances", q, &doc);
		free(q);
		free(keys);
		if (rc)
			break;
		res = select_nodes(doc, "//*[local-name()='instancesSet']/*[local-name()='item']");
		for (m = 0; res && res->nodesetval && m < res->nodesetval->nodeNr; m++) {
			xmlNodePtr it = res->nodesetval->nodeTab[m];
			char *iid = child_text(it, "instanceId");
			for (j = i; iid && j < n && j < i + 100; j++)
				if (!strcmp(in[j].id, iid) && !in[j].addr) {
					in[j].addr = child_text(it, "privateIpAddress");
					in[j].launched = child_text(it, "launchTime");
				}
			xmlFree(iid);
		}
		xmlXPathFreeObject(res);
		xmlFreeDoc(doc);
	}
	return rc;
}

static int inst_group(xmlNodePtr g, void *payload)
{
	struct inst_walk *w = payload;
	char *name = child_text(g, "AutoScalingGroupName"), *port = tag_value(g, "mdeploy:port");
	xmlNodePtr insts = child(g, "Instances"), m;
	struct ec2_info *info = NULL;
	char **life = NULL;
	size_t n = 0, cap = 0, i;
	int rc = 0;

	for (m = insts ? insts->children : NULL; !rc && m; m = m->next) {
		char *iid;
		if (m->type != XML_ELEMENT_NODE)
			continue;
		iid = child_text(m, "InstanceId");
		if (!iid || (w->id && strcmp(w->id, iid))) {
			xmlFree(iid);
			continue;
		}
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 8;
			struct ec2_info *ni = realloc(info, nc * sizeof(*ni));
			char **nl = ni ? realloc(life, nc * sizeof(*nl)) : NULL;
			if (ni)
				info = ni;
			if (nl)
				life = nl;
			if (!ni || !nl) {
				xmlFree(iid);
				rc = mdeploy__error_oom();
				break;
			}
			cap = nc;
		}
		memset(&info[n], 0, sizeof(info[n]));
		info[n].id = iid;
		life[n] = child_text(m, "LifecycleState");
		n++;
	}
	if (!rc && n)
		rc = ec2_describe(w->p, info, n);
	for (i = 0; !rc && i < n; i++) {
		mdeploy_instance_info ii;
		int64_t t = 0;
		w->seen++;
		memset(&ii, 0, sizeof(ii));
		ii.id = info[i].id;
		ii.fleet = name;
		if (name)
			mdeploy_awsp__remember_instance(w->p, info[i].id, name);
		ii.address = info[i].addr ? info[i].addr : "";
		ii.port = port ? (unsigned int)strtoul(port, NULL, 10) : 0;
		ii.root = "";
		/* InService: serving; Pending*: booting; anything else (Terminating...): stopped */
		ii.state = life[i] && !strcmp(life[i], "InService") ? "running"
		         : life[i] && !strncmp(life[i], "Pending", 7) ? "pending" : "stopped";
		if (info[i].launched && !mdeploy_aws__parse_time(&t, info[i].launched))
			ii.created_at = t;
		if (w->cb(&ii, w->payload))
			rc = MDEPLOY_EUSER;
	}
	for (i = 0; i < n; i++) {
		xmlFree(info[i].id);
		xmlFree(info[i].addr);
		xmlFree(info[i].launched);
		xmlFree(life[i]);
	}
	free(info);
	free(life);
	xmlFree(name);
	xmlFree(port);
	return rc;
}

int mdeploy_awsp__instance_foreach(mdeploy_provider *p, const char *fleet, const char *id, mdeploy_instance_cb cb,
                                   void *payload)
{
	struct inst_walk w = { p, id, cb, payload, 0 };
	int rc = groups_foreach(p, fleet, inst_group, &w);
	if (!rc && id && !w.seen)
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS, "aws: no instance %s in an Auto Scaling group", id);
	return rc;
}
