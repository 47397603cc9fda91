/*
 * lb.c - the load balancer on AWS: an ALB listener whose default action
 * forwards to weighted target groups, one target group per fleet (named
 * for it, tagged mdeploy:fleet and mdeploy:lb). Traffic moves between
 * fleets with ModifyListener, fleet weights 0-999 given to ELBv2 as they
 * are: one call per shift, whatever the number of instances.
 *
 * A fleet's target group is made when its first instance registers, with
 * the health check lb_ensure was given (within ALB's limits: interval 5-300
 * s, timeout 2-120 s, thresholds 2-10), and joins the listener at weight 0.
 * It leaves the listener and is deleted with its last target, once its
 * weight is 0. Its deregistration delay is the group's drain_timeout
 * (ELB's default would be 300 s), set again when a group found differs.
 * Health is DescribeTargetHealth's: only "healthy" (real checks passed
 * since the target registered) is UP; "initial",
 * "unhealthy", "unused" and a missing state are DOWN, with ELB's reason as
 * the check status.
 *
 * An ALB has no per-target state: ready is registered, drain and maint are
 * deregistered (ELB drains them for the target group's deregistration
 * delay); a fleet drained by its weight (0) keeps its targets registered,
 * so a rollback is one ModifyListener. Responses and sessions per target
 * are not in ELBv2's API (CloudWatch metrics are): the 5xx alarm of
 * mdeploy.yml is CloudWatch's here (provider.alarms, lb_alarms below).
 * The load balancer and its listener are infrastructure: lb_ensure finds
 * them (elbv2_view.c) and never creates one.
 */
#include "elbv2.h"

#include <libxml/tree.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLS MDEPLOY_ERROR_CLASS_PROVIDER

static unsigned int clamp(unsigned int v, unsigned int lo, unsigned int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

int mdeploy_awsp__lb_ensure(mdeploy_provider *p, const char *name, const mdeploy_lb_options *o)
{
	mdeploy_awsp__health *h = &MDEPLOY_AWSP(p)->health;
	int rc;
	/* A target group's health check has no header settings: what is asked could not be done. */
	if (o->health_host)
		return mdeploy__error_set(MDEPLOY_EUNSUPPORTED, CLS, "load balancer %s: an ALB's health checks cannot send a "
		                          "Host header (health_check.host '%s'): remove it for provider aws", name,
		                          o->health_host);
	if ((rc = mdeploy_awsp__resolve(p, name)))
		return rc;
	free(h->lb);
	free(h->path);
	h->o = *o;
	h->lb = mdeploy__strdup(name);
	h->path = mdeploy__strdup(o->health_path ? o->health_path : "/");
	h->o.health_path = h->path;
	if (!h->lb || !h->path) {
		free(h->lb);
		h->lb = NULL;
		return MDEPLOY_ENOMEM;
	}
	return 0;
}

int mdeploy_awsp__lb_running(mdeploy_provider *p, const char *name)
{
	if (mdeploy_awsp__resolve(p, name)) {
		mdeploy_error_clear();
		return 0;
	}
	return 1;
}

int mdeploy_awsp__lb_bind(mdeploy_provider *p, const char *lb, char *out, size_t n)
{
	mdeploy_awsp__lbcache *c = &MDEPLOY_AWSP(p)->lbc;
	int rc;
	if ((rc = mdeploy_awsp__resolve(p, lb)))
		return rc;
	snprintf(out, n, "%s:%u", c->dns ? c->dns : "", c->port);
	return 0;
}

/* An ALB fails open by itself (every target of a target group unhealthy: it
 * forwards to all of them), which is what a hold asks for. */
int mdeploy_awsp__lb_hold(mdeploy_provider *p, const char *lb, int on)
{
	(void)on;
	return mdeploy_awsp__resolve(p, lb);
}

/* The Auto Scaling group of each instance, in one DescribeAutoScalingInstances. */
static int fleets_of(mdeploy_provider *p, const char *const *ids, size_t n, char **fleet)
{
	elbv2_params q = { 0 };
	xmlDoc *doc = NULL;
	xmlNodePtr m;
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		fleet[i] = NULL;
		mdeploy_awsp__params_addf(&q, ids[i], "InstanceIds.member.%zu", i + 1);
	}
	if (q.failed)
		rc = MDEPLOY_ENOMEM;
	else
		rc = mdeploy_awsp__autoscaling(p, "DescribeAutoScalingInstances", mdeploy_awsp__params(&q), &doc);
	mdeploy_awsp__params_dispose(&q);
	if (rc)
		return rc;
	MDEPLOY_AWSP__FOREACH(m, mdeploy_awsp__xml_root(doc, "DescribeAutoScalingInstancesResult/AutoScalingInstances")) {
		char *id = mdeploy_awsp__xml_child_text(m, "InstanceId");
		char *g = mdeploy_awsp__xml_child_text(m, "AutoScalingGroupName");
		for (i = 0; id && g && i < n; i++)
			if (!strcmp(ids[i], id) && !fleet[i])
				fleet[i] = strdup(g);
		xmlFree(id);
		xmlFree(g);
	}
	xmlFreeDoc(doc);
	for (i = 0; i < n; i++)
		if (!fleet[i]) {
			size_t j;
			for (j = 0; j < i; j++) {
				free(fleet[j]);
				fleet[j] = NULL;
			}
			for (j = i + 1; j < n; j++) {
				free(fleet[j]);
				fleet[j] = NULL;
			}
			return mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS,
				"aws: instance %s is in no Auto Scaling group (autoscaling:DescribeAutoScalingInstances)",
				ids[i]);
		}
	return 0;
}

/* The port of a fleet's instances (its mdeploy:port tag). */
static int port_cb(const mdeploy_fleet_info *f, void *payload)
{
	*(unsigned int *)payload = f->port;
	return 0;
}

/* The target group's deregistration delay in seconds (DescribeTargetGroupAttributes); 0 when not shown. */
static int tg_delay(mdeploy_provider *p, const char *arn, unsigned int *secs)
{
	const char *q[] = { "TargetGroupArn", arn, NULL };
	xmlDoc *doc = NULL;
	xmlNodePtr m;
	int rc;
	*secs = 0;
	if ((rc = mdeploy_awsp__elbv2(p, "DescribeTargetGroupAttributes", q, &doc)))
		return rc;
	MDEPLOY_AWSP__FOREACH(m, mdeploy_awsp__xml_root(doc, "DescribeTargetGroupAttributesResult/Attributes")) {
		char *k = mdeploy_awsp__xml_child_text(m, "Key");
		char *val = mdeploy_awsp__xml_child_text(m, "Value");
		if (k && val && !strcmp(k, "deregistration_delay.timeout_seconds"))
			*secs = (unsigned int)strtoul(val, NULL, 10);
		xmlFree(k);
		xmlFree(val);
	}
	xmlFreeDoc(doc);
	return 0;
}

/* The health check and deregistration delay of the heaviest target group in `v`
 * (DescribeTargetGroups, DescribeTargetGroupAttributes). */
static int health_of_tg(mdeploy_provider *p, const elbv2_view *v, mdeploy_lb_options *o, char **path)
{
	mdeploy_lb_options def = MDEPLOY_LB_OPTIONS_INIT;
	const char *arn;
	xmlDoc *doc = NULL;
	xmlNodePtr m;
	size_t i;
	int rc;
	static const struct { const char *field; size_t off; unsigned int scale; } f[] = {
		{ "HealthCheckIntervalSeconds", offsetof(mdeploy_lb_options, health_interval_ms), 1000 },
		{ "HealthCheckTimeoutSeconds", offsetof(mdeploy_lb_options, health_timeout_ms), 1000 },
		{ "HealthyThresholdCount", offsetof(mdeploy_lb_options, healthy_threshold), 1 },
		{ "UnhealthyThresholdCount", offsetof(mdeploy_lb_options, unhealthy_threshold), 1 },
		{ "Matcher/HttpCode", offsetof(mdeploy_lb_options, health_status), 1 },
	};

	size_t best = 0;
	for (i = 1; i < v->n; i++)
		if (v->tg[i].weight > v->tg[best].weight)
			best = i;
	arn = v->tg[best].arn;
	{
		const char *q[] = { "TargetGroupArns.member.1", arn, NULL };
		if ((rc = mdeploy_awsp__elbv2(p, "DescribeTargetGroups", q, &doc)))
			return rc;
	}
	*o = def;
	m = mdeploy_awsp__xml_root(doc, "DescribeTargetGroupsResult/TargetGroups/member");
	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		char *t = mdeploy_awsp__xml_child_text(m, f[i].field);
		if (t && strtoul(t, NULL, 10) > 0)
			*(unsigned int *)((char *)o + f[i].off) = (unsigned int)strtoul(t, NULL, 10) * f[i].scale;
		xmlFree(t);
	}
	{
		char *t = mdeploy_awsp__xml_child_text(m, "HealthCheckPath");
		*path = t ? strdup(t) : NULL;
		xmlFree(t);
	}
	o->health_path = *path ? *path : "/";
	xmlFreeDoc(doc);
	{
		unsigned int secs;
		if ((rc = tg_delay(p, arn, &secs))) {
			free(*path);
			*path = NULL;
			return rc;
		}
		o->drain_timeout_ms = secs * 1000;
	}
	return 0;
}

/* The target group's deregistration delay from drain_timeout (0: left as it is): one
 * ModifyTargetGroupAttributes for a group just made, and for one found (a replayed step, or a
 * drain_timeout changed since) only when DescribeTargetGroupAttributes shows another value. */
static int tg_drain(mdeploy_provider *p, const char *arn, unsigned int ms, int made)
{
	unsigned int want = clamp((ms + 999) / 1000, 0, 3600), now; /* ELB takes 0-3600 whole seconds */
	char secs[16];
	xmlDoc *doc = NULL;
	int rc;
	if (!ms)
		return 0;
	if (!made) {
		if ((rc = tg_delay(p, arn, &now)))
			return rc;
		if (now == want)
			return 0;
	}
	snprintf(secs, sizeof(secs), "%u", want);
	{
		const char *q[] = {
			"TargetGroupArn", arn,
			"Attributes.member.1.Key", "deregistration_delay.timeout_seconds",
			"Attributes.member.1.Value", secs,
			NULL,
		};
		rc = mdeploy_awsp__elbv2(p, "ModifyTargetGroupAttributes", q, &doc);
	}
	xmlFreeDoc(doc);
	return rc;
}

/* Make the target group of `fleet` and put it in the listener at weight 0 (a crash in between
 * is replayed: an existing group of that name is taken). */
static int tg_create(mdeploy_provider *p, const char *lb, const char *fleet, elbv2_view *v)
{
	mdeploy_awsp__lbcache *c = &MDEPLOY_AWSP(p)->lbc;
	mdeploy_awsp__health *h = &MDEPLOY_AWSP(p)->health;
	mdeploy_lb_options def = MDEPLOY_LB_OPTIONS_INIT;
	mdeploy_lb_options copy;
	char *copy_path = NULL;
	const mdeploy_lb_options *o = h->lb && !strcmp(h->lb, lb) ? &h->o : &def;
	char name[33], interval[16], timeout[16], up[16], down[16], code[16], port[16];
	unsigned int fport = 0, iv, to;
	xmlDoc *doc = NULL;
	char *arn = NULL;
	elbv2_tg *ntg;
	int rc, made = 0;

	mdeploy_awsp__tg_name(name, fleet);
	{
		const char *q[] = { "Names.member.1", name, NULL };
		rc = mdeploy_awsp__elbv2(p, "DescribeTargetGroups", q, &doc);
		if (rc == 0)
			arn = mdeploy_aws__xml_text(doc, "TargetGroups/member/TargetGroupArn");
		else if (strstr(mdeploy_error_last()->message, "TargetGroupNotFound")) {
			mdeploy_error_clear();
			rc = 0;
		}
		xmlFreeDoc(doc);
		doc = NULL;
		if (rc)
			return rc;
	}
	/* Not ensured by this handle (a resumed deployment): the health check and drain of the fleet
	 * with the most weight, as lb_ensure gave them then. */
	if (o == &def && v->n) {
		if ((rc = health_of_tg(p, v, &copy, &copy_path))) {
			xmlFree(arn);
			return rc;
		}
		o = &copy;
	}
	if (!arn) {
		if ((rc = mdeploy_awsp__fleet_foreach(p, NULL, fleet, port_cb, &fport))) {
			free(copy_path);
			return rc;
		}
		iv = clamp((o->health_interval_ms + 999) / 1000, 5, 300);
		to = clamp((o->health_timeout_ms + 999) / 1000, 2, 120);
		if (to >= iv)
			to = iv - 1;
		snprintf(interval, sizeof(interval), "%u", iv);
		snprintf(timeout, sizeof(timeout), "%u", to);
		snprintf(up, sizeof(up), "%u", clamp(o->healthy_threshold, 2, 10));
		snprintf(down, sizeof(down), "%u", clamp(o->unhealthy_threshold, 2, 10));
		snprintf(code, sizeof(code), "%u", o->health_status ? o->health_status : 200);
		snprintf(port, sizeof(port), "%u", fport ? fport : 80);
		{
			const char *q[] = {
				"Name", name, "Protocol", "HTTP", "Port", port, "VpcId", c->vpc_id ? c->vpc_id : "",
				"TargetType", "instance", "HealthCheckProtocol", "HTTP",
				"HealthCheckPath", o->health_path ? o->health_path : "/",
				"HealthCheckIntervalSeconds", interval, "HealthCheckTimeoutSeconds", timeout,
				"HealthyThresholdCount", up, "UnhealthyThresholdCount", down, "Matcher.HttpCode", code,
				"Tags.member.1.Key", "mdeploy:fleet", "Tags.member.1.Value", fleet,
				"Tags.member.2.Key", "mdeploy:lb", "Tags.member.2.Value", lb,
				NULL,
			};
			rc = mdeploy_awsp__elbv2(p, "CreateTargetGroup", q, &doc);
			if (rc) {
				free(copy_path);
				return rc;
			}
		}
		arn = mdeploy_aws__xml_text(doc, "TargetGroups/member/TargetGroupArn");
		xmlFreeDoc(doc);
		if (!arn) {
			free(copy_path);
			return mdeploy__error_set(MDEPLOY_ENETWORK, CLS, "aws: CreateTargetGroup %s gave no ARN", name);
		}
		made = 1;
	}
	rc = tg_drain(p, arn, o->drain_timeout_ms, made);
	free(copy_path);
	if (rc) {
		xmlFree(arn);
		return rc;
	}
	if (!(ntg = realloc(v->tg, (v->n + 1) * sizeof(*ntg)))) {
		xmlFree(arn);
		return mdeploy__error_oom();
	}
	v->tg = ntg;
	ntg[v->n].arn = strdup(arn);
	ntg[v->n].fleet = strdup(fleet);
	ntg[v->n].weight = 0;
	xmlFree(arn);
	if (!ntg[v->n].arn || !ntg[v->n].fleet) {
		free(ntg[v->n].arn);
		free(ntg[v->n].fleet);
		return mdeploy__error_oom();
	}
	v->n++;
	if ((rc = mdeploy_awsp__view_write(p, v)))
		return rc;
	return mdeploy_awsp__cache_fleet(c, ntg[v->n - 1].arn, fleet);
}

/* (De)register targets of one target group in one call. */
static int targets_call(mdeploy_provider *p, const char *action, const char *arn, const char *const *ids, size_t n)
{
	elbv2_params q = { 0 };
	xmlDoc *doc = NULL;
	size_t i;
	int rc;
	mdeploy_awsp__params_add(&q, "TargetGroupArn", arn);
	for (i = 0; i < n; i++)
		mdeploy_awsp__params_addf(&q, ids[i], "Targets.member.%zu.Id", i + 1);
	rc = q.failed ? MDEPLOY_ENOMEM : mdeploy_awsp__elbv2(p, action, mdeploy_awsp__params(&q), &doc);
	xmlFreeDoc(doc);
	mdeploy_awsp__params_dispose(&q);
	return rc;
}

int mdeploy_awsp__lb_register(mdeploy_provider *p, const char *lb, const char *instance, mdeploy_target_state state)
{
	mdeploy_awsp__lbcache *c = &MDEPLOY_AWSP(p)->lbc;
	const char *known = mdeploy_awsp__instance_fleet(p, instance), *arn;
	elbv2_view v;
	elbv2_tg *tg;
	char *fleet = NULL;
	int rc;

	/* One call per instance when the handle knows the instance's fleet (it listed it) and the
	 * fleet's target group (it read or made it): registering N instances is N calls, not 4N. */
	if (known && c->name && !strcmp(c->name, lb) && (arn = mdeploy_awsp__cached_tg(c, known))) {
		char *a2 = mdeploy__strdup(arn);
		if (!a2)
			return MDEPLOY_ENOMEM;
		rc = targets_call(p, state == MDEPLOY_TARGET_READY ? "RegisterTargets" : "DeregisterTargets", a2,
		                  &instance, 1);
		if (rc && strstr(mdeploy_error_last()->message, "TargetGroupNotFound")) {
			mdeploy_awsp__uncache_tg(c, a2); /* deleted meanwhile: the long way */
			mdeploy_error_clear();
		} else {
			free(a2);
			return rc;
		}
		free(a2);
	}
	if ((rc = mdeploy_awsp__view_read(p, lb, &v)))
		return rc;
	if (known && !(fleet = mdeploy__strdup(known)))
		rc = MDEPLOY_ENOMEM;
	else if (!known)
		rc = fleets_of(p, &instance, 1, &fleet);
	if (rc)
		goto out;
	if (!(tg = mdeploy_awsp__view_fleet(&v, fleet))) {
		if ((rc = tg_create(p, lb, fleet, &v)))
			goto out;
		tg = &v.tg[v.n - 1];
	}
	rc = targets_call(p, state == MDEPLOY_TARGET_READY ? "RegisterTargets" : "DeregisterTargets", tg->arn,
	                  &instance, 1);
out:
	free(fleet);
	mdeploy_awsp__view_dispose(&v);
	return rc;
}

int mdeploy_awsp__lb_deregister(mdeploy_provider *p, const char *lb, const char *instance)
{
	elbv2_view v;
	size_t i, j;
	int rc, found = 0;

	if ((rc = mdeploy_awsp__view_read(p, lb, &v)))
		return rc;
	for (i = 0; !rc && !found && i < v.n; i++) {
		elbv2_targets t;
		size_t left = 0;
		if ((rc = mdeploy_awsp__tg_targets(p, v.tg[i].arn, &t)))
			break;
		for (j = 0; j < t.n; j++) {
			if (!strcmp(t.t[j].id, instance))
				found = 1;
			else if (strcmp(t.t[j].state, "draining"))
				left++;
		}
		free(t.t);
		if (!found)
			continue;
		if ((rc = targets_call(p, "DeregisterTargets", v.tg[i].arn, &instance, 1)))
			break;
		/* Its last target gone and no weight: the fleet's target group leaves. */
		if (left == 0 && v.tg[i].weight == 0 && v.n > 1) {
			char *arn = v.tg[i].arn;
			xmlDoc *doc = NULL;
			free(v.tg[i].fleet);
			memmove(&v.tg[i], &v.tg[i + 1], (v.n - i - 1) * sizeof(v.tg[0]));
			v.n--;
			mdeploy_awsp__uncache_tg(&MDEPLOY_AWSP(p)->lbc, arn);
			if (!(rc = mdeploy_awsp__view_write(p, &v))) {
				const char *q[] = { "TargetGroupArn", arn, NULL };
				rc = mdeploy_awsp__elbv2(p, "DeleteTargetGroup", q, &doc);
				xmlFreeDoc(doc);
			}
			free(arn);
		}
	}
	mdeploy_awsp__view_dispose(&v);
	if (!rc && !found)
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS, "aws: instance %s is not a target at load balancer %s",
		                        instance, lb);
	return rc;
}

int mdeploy_awsp__lb_set_states(mdeploy_provider *p, const char *lb, const mdeploy_lb_change *c, size_t n)
{
	elbv2_view v;
	const char **ids = NULL;
	char **fleet = NULL;
	size_t i, j, k;
	int rc;

	if (n == 0)
		return 0;
	if ((rc = mdeploy_awsp__view_read(p, lb, &v)))
		return rc;
	ids = calloc(n, sizeof(*ids));
	fleet = calloc(n, sizeof(*fleet));
	if (!ids || !fleet) {
		rc = mdeploy__error_oom();
		goto out;
	}
	for (i = 0; i < n; i++)
		ids[i] = c[i].instance;
	if ((rc = fleets_of(p, ids, n, fleet)))
		goto out;
	/* Checked before anything changes: each instance's fleet has its target group here. */
	for (i = 0; i < n; i++)
		if (!mdeploy_awsp__view_fleet(&v, fleet[i])) {
			rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS,
				"aws: instance %s: its fleet %s has no target group at load balancer %s", c[i].instance,
				fleet[i], lb);
			goto out;
		}
	/* One call per target group and direction. */
	for (j = 0; !rc && j < v.n; j++) {
		int ready;
		for (ready = 0; !rc && ready < 2; ready++) {
			const char *tmp[64];
			for (i = 0, k = 0; !rc && i <= n; i++) {
				if (i < n) {
					int st = c[i].state;
					if (st < 0 || strcmp(fleet[i], v.tg[j].fleet) || (st == MDEPLOY_TARGET_READY) != ready)
						continue;
					tmp[k++] = c[i].instance;
				}
				if (k && (k == 64 || i == n)) {
					rc = targets_call(p, ready ? "RegisterTargets" : "DeregisterTargets", v.tg[j].arn,
					                  tmp, k);
					k = 0;
				}
			}
		}
	}
out:
	for (i = 0; fleet && i < n; i++)
		free(fleet[i]);
	free(fleet);
	free(ids);
	mdeploy_awsp__view_dispose(&v);
	return rc;
}

int mdeploy_awsp__lb_set_fleet_weights(mdeploy_provider *p, const char *lb, const mdeploy_fleet_weight *w, size_t n)
{
	elbv2_view v;
	size_t i, j;
	int rc;

	if ((rc = mdeploy_awsp__view_read(p, lb, &v)))
		return rc;
	/* Every name checked before the one call that changes anything. */
	for (i = 0; !rc && i < n; i++) {
		elbv2_tg *tg = mdeploy_awsp__view_fleet(&v, w[i].fleet);
		elbv2_targets t;
		size_t reg = 0;
		if (!tg) {
			rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS,
				"aws: fleet %s has no target group at load balancer %s", w[i].fleet, lb);
			break;
		}
		if ((rc = mdeploy_awsp__tg_targets(p, tg->arn, &t)))
			break;
		for (j = 0; j < t.n; j++)
			reg += strcmp(t.t[j].state, "draining") != 0;
		free(t.t);
		if (reg == 0)
			rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS,
				"aws: fleet %s has no registered target at load balancer %s", w[i].fleet, lb);
	}
	/* A target group with no target and weight (infra's first one, a fleet gone) would get
	 * requests no one answers: ALB sends a target group its share whatever its targets. */
	for (i = 0; !rc && i < v.n; i++) {
		elbv2_targets t;
		size_t k;
		int named = 0;
		for (k = 0; k < n; k++)
			named |= !strcmp(w[k].fleet, v.tg[i].fleet);
		if (named || v.tg[i].weight == 0 || (rc = mdeploy_awsp__tg_targets(p, v.tg[i].arn, &t)))
			continue;
		if (t.n == 0)
			v.tg[i].weight = 0;
		free(t.t);
	}
	for (i = 0; !rc && i < n; i++)
		mdeploy_awsp__view_fleet(&v, w[i].fleet)->weight = w[i].weight;
	if (!rc)
		rc = mdeploy_awsp__view_write(p, &v);
	mdeploy_awsp__view_dispose(&v);
	return rc;
}

/* ELB's target health as mdeploy's: only "healthy" is UP. */
static const char *health_of(const elbv2_target *t)
{
	if (!strcmp(t->state, "healthy"))
		return "UP";
	if (!strcmp(t->state, "draining"))
		return "DRAIN";
	return "DOWN";
}

int mdeploy_awsp__lb_targets(mdeploy_provider *p, const char *lb, mdeploy_target_cb cb, void *payload)
{
	elbv2_view v;
	size_t i, j;
	int rc;

	if ((rc = mdeploy_awsp__view_read(p, lb, &v)))
		return rc;
	for (i = 0; !rc && i < v.n; i++) {
		elbv2_targets t;
		char slot[33];
		mdeploy_awsp__tg_name(slot, v.tg[i].fleet);
		if ((rc = mdeploy_awsp__tg_targets(p, v.tg[i].arn, &t)))
			break;
		for (j = 0; !rc && j < t.n; j++) {
			mdeploy_target_status s;
			int healthy = !strcmp(t.t[j].state, "healthy");
			memset(&s, 0, sizeof(s));
			s.slot = slot;
			s.instance = t.t[j].id;
			s.address = "";
			s.port = t.t[j].port;
			s.weight = !strcmp(t.t[j].state, "draining") ? 0 : v.tg[i].weight;
			s.state = !strcmp(t.t[j].state, "draining") ? "drain" : "ready";
			s.health = health_of(&t.t[j]);
			s.check_status = healthy ? "L7OK" : t.t[j].reason[0] ? t.t[j].reason : t.t[j].state;
			s.check_output = t.t[j].description;
			s.fleet = v.tg[i].fleet;
			if (cb(&s, payload))
				rc = MDEPLOY_EUSER;
		}
		free(t.t);
	}
	mdeploy_awsp__view_dispose(&v);
	return rc;
}

int mdeploy_awsp__lb_fleets(mdeploy_provider *p, const char *lb, mdeploy_lb_fleet_cb cb, void *payload)
{
	elbv2_view v;
	mdeploy_lb_fleet_status *f = NULL;
	unsigned int sum = 0;
	size_t i, j;
	int rc;

	if ((rc = mdeploy_awsp__view_read(p, lb, &v)))
		return rc;
	if (v.n && !(f = calloc(v.n, sizeof(*f))))
		rc = mdeploy__error_oom();
	for (i = 0; !rc && i < v.n; i++) {
		elbv2_targets t;
		if ((rc = mdeploy_awsp__tg_targets(p, v.tg[i].arn, &t)))
			break;
		f[i].fleet = v.tg[i].fleet;
		f[i].weight = v.tg[i].weight;
		for (j = 0; j < t.n; j++) {
			f[i].targets++;
			f[i].in_rotation += !strcmp(t.t[j].state, "healthy");
		}
		free(t.t);
		if (f[i].in_rotation)
			sum += f[i].weight;
	}
	for (i = 0; !rc && i < v.n; i++) {
		if (!f[i].targets)
			continue;
		f[i].share_permille = f[i].in_rotation && sum ? (unsigned int)((f[i].weight * 1000ull + sum / 2) / sum) : 0;
		if (cb(&f[i], payload))
			rc = MDEPLOY_EUSER;
	}
	free(f);
	mdeploy_awsp__view_dispose(&v);
	return rc;
}

/* ---- CloudWatch alarms (provider.alarms: "name,name") ---- */

int mdeploy_awsp__lb_alarms(mdeploy_provider *p, const char *lb, mdeploy_lb_alarm_cb cb, void *payload)
{
	const char *names = MDEPLOY_AWSP(p)->alarms;
	elbv2_params q = { 0 };
	xmlDoc *doc = NULL;
	xmlNodePtr m;
	char *list = NULL, *tok, *save = NULL;
	size_t k = 0;
	int rc = 0;

	(void)lb;
	if (!names || !*names)
		return 0;
	if (!(list = mdeploy__strdup(names)))
		return MDEPLOY_ENOMEM;
	for (tok = strtok_r(list, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save))
		mdeploy_awsp__params_addf(&q, tok, "AlarmNames.member.%zu", ++k);
	if (q.failed)
		rc = MDEPLOY_ENOMEM;
	else if (k)
		rc = mdeploy_awsp__cloudwatch(p, "DescribeAlarms", mdeploy_awsp__params(&q), &doc);
	/* Each alarm named must exist: one that does not is never in ALARM, and watches nothing. */
	for (size_t i = 1; !rc && i < q.n; i += 2) {
		int seen = 0;
		MDEPLOY_AWSP__FOREACH(m, mdeploy_awsp__xml_root(doc, "DescribeAlarmsResult/MetricAlarms")) {
			char *name = mdeploy_awsp__xml_child_text(m, "AlarmName");
			seen |= name && !strcmp(name, q.v[i]);
			xmlFree(name);
		}
		MDEPLOY_AWSP__FOREACH(m, mdeploy_awsp__xml_root(doc, "DescribeAlarmsResult/CompositeAlarms")) {
			char *name = mdeploy_awsp__xml_child_text(m, "AlarmName");
			seen |= name && !strcmp(name, q.v[i]);
			xmlFree(name);
		}
		if (!seen)
			rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS,
				"aws: CloudWatch alarm '%s' (mdeploy.yml provider.alarms) does not exist "
				"(cloudwatch:DescribeAlarms)", q.v[i]);
	}
	{
		static const char *const kinds[] = { "DescribeAlarmsResult/MetricAlarms",
		                                     "DescribeAlarmsResult/CompositeAlarms" };
		size_t kk;
		for (kk = 0; !rc && kk < 2; kk++)
			MDEPLOY_AWSP__FOREACH(m, mdeploy_awsp__xml_root(doc, kinds[kk])) {
				mdeploy_lb_alarm al;
				char *name = mdeploy_awsp__xml_child_text(m, "AlarmName");
				char *state = mdeploy_awsp__xml_child_text(m, "StateValue");
				char *reason = mdeploy_awsp__xml_child_text(m, "StateReason");
				al.name = name ? name : "";
				/* No state is not OK: said as it is. */
				al.state = state ? state : "INSUFFICIENT_DATA";
				al.reason = reason ? reason : "";
				if (!rc && cb(&al, payload))
					rc = MDEPLOY_EUSER;
				xmlFree(name);
				xmlFree(state);
				xmlFree(reason);
			}
	}
	xmlFreeDoc(doc);
	mdeploy_awsp__params_dispose(&q);
	free(list);
	return rc;
}
