/*
 * elbv2_view.c - the listener mdeploy shifts traffic on and its forward
 * action (see elbv2.h), target groups' names and health, and Query
 * parameter lists built at run time.
 */
#include "elbv2.h"

#include <libxml/tree.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLS MDEPLOY_ERROR_CLASS_PROVIDER
#define C_(n, p) mdeploy_awsp__xml_child((n), (p))
#define T_(n, p) mdeploy_awsp__xml_child_text((n), (p))

/* ---- parameters ---- */

int mdeploy_awsp__params_add(elbv2_params *q, const char *key, const char *value)
{
	char *k, *v;
	if (q->failed)
		return MDEPLOY_ENOMEM;
	if (q->n + 3 > q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 16;
		char **nv = realloc(q->v, cap * sizeof(*nv));
		if (!nv)
			goto oom;
		q->v = nv;
		q->cap = cap;
	}
	k = strdup(key);
	v = strdup(value);
	if (!k || !v) {
		free(k);
		free(v);
		goto oom;
	}
	q->v[q->n++] = k;
	q->v[q->n++] = v;
	q->v[q->n] = NULL;
	return 0;
oom:
	q->failed = 1;
	return mdeploy__error_oom();
}

int mdeploy_awsp__params_addf(elbv2_params *q, const char *value, const char *keyfmt, ...)
{
	char key[256];
	va_list ap;
	va_start(ap, keyfmt);
	vsnprintf(key, sizeof(key), keyfmt, ap);
	va_end(ap);
	return mdeploy_awsp__params_add(q, key, value);
}

const char *const *mdeploy_awsp__params(elbv2_params *q)
{
	static const char *const none[] = { NULL };
	return q->n ? (const char *const *)q->v : none;
}

void mdeploy_awsp__params_dispose(elbv2_params *q)
{
	size_t i;
	for (i = 0; i < q->n; i++)
		free(q->v[i]);
	free(q->v);
	memset(q, 0, sizeof(*q));
}

/* ---- the handle's cache ---- */

void mdeploy_awsp__lbcache_dispose(mdeploy_awsp__lbcache *c)
{
	size_t i;
	free(c->name);
	free(c->listener_arn);
	free(c->lb_arn);
	free(c->vpc_id);
	free(c->dns);
	for (i = 0; i < c->ntg; i++) {
		free(c->tg_arn[i]);
		free(c->tg_fleet[i]);
	}
	free(c->tg_arn);
	free(c->tg_fleet);
	memset(c, 0, sizeof(*c));
}

static char *dupx(xmlChar *s)
{
	char *d = s ? strdup((const char *)s) : NULL;
	xmlFree(s);
	return d;
}

/* Is the listener's first default action a forward (to target groups)? */
static int forwards(xmlNodePtr listener)
{
	char *type = T_(listener, "DefaultActions/member/Type");
	int yes = type && !strcmp(type, "forward");
	xmlFree(type);
	return yes;
}

int mdeploy_awsp__resolve(mdeploy_provider *p, const char *lb)
{
	mdeploy_awsp *a = MDEPLOY_AWSP(p);
	mdeploy_awsp__lbcache *c = &a->lbc;
	xmlDoc *doc = NULL;
	xmlNodePtr l, pick = NULL;
	char ports[256] = "";
	size_t nfwd = 0;
	int rc;

	if (c->name && !strcmp(c->name, lb) && c->listener_arn)
		return 0;
	mdeploy_awsp__lbcache_dispose(c);
	if (!(c->name = mdeploy__strdup(lb)))
		return MDEPLOY_ENOMEM;
	if (a->listener) {
		const char *q[] = { "ListenerArns.member.1", a->listener, NULL };
		if ((rc = mdeploy_awsp__elbv2(p, "DescribeListeners", q, &doc)))
			goto out;
	} else {
		const char *q[] = { "Names.member.1", lb, NULL };
		char *arn;
		if ((rc = mdeploy_awsp__elbv2(p, "DescribeLoadBalancers", q, &doc))) {
			if (strstr(mdeploy_error_last()->message, "LoadBalancerNotFound"))
				rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS,
					"aws: no Application Load Balancer named '%s' (elasticloadbalancing:"
					"DescribeLoadBalancers: LoadBalancerNotFound); set provider.listener in mdeploy.yml "
					"to the ARN of the listener to shift traffic on", lb);
			goto out;
		}
		arn = T_(mdeploy_awsp__xml_root(doc, "DescribeLoadBalancersResult/LoadBalancers"), "member/LoadBalancerArn");
		{
			/* found by name: its VPC and DNS name are here already (no second call below) */
			xmlNodePtr m = mdeploy_awsp__xml_root(doc, "DescribeLoadBalancersResult/LoadBalancers/member");
			c->vpc_id = dupx(xmlNodeGetContent(C_(m, "VpcId")));
			c->dns = dupx(xmlNodeGetContent(C_(m, "DNSName")));
		}
		xmlFreeDoc(doc);
		doc = NULL;
		if (!arn) {
			rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS, "aws: no Application Load Balancer named '%s'", lb);
			goto out;
		}
		{
			const char *q2[] = { "LoadBalancerArn", arn, NULL };
			rc = mdeploy_awsp__elbv2(p, "DescribeListeners", q2, &doc);
		}
		xmlFree(arn);
		if (rc)
			goto out;
	}
	MDEPLOY_AWSP__FOREACH(l, mdeploy_awsp__xml_root(doc, "DescribeListenersResult/Listeners")) {
		char *port = T_(l, "Port");
		size_t len = strlen(ports);
		snprintf(ports + len, sizeof(ports) - len, "%s%s%s", len ? ", " : "", port ? port : "?",
		         forwards(l) ? " (forward)" : "");
		xmlFree(port);
		if (forwards(l)) {
			nfwd++;
			pick = l;
		}
	}
	if (nfwd != 1) {
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS,
			"aws: load balancer '%s': %zu listeners forward to target groups (listeners: %s); "
			"set provider.listener in mdeploy.yml to the ARN of the one to shift traffic on", lb, nfwd,
			ports[0] ? ports : "none");
		goto out;
	}
	c->listener_arn = dupx(xmlNodeGetContent(C_(pick, "ListenerArn")));
	c->lb_arn = dupx(xmlNodeGetContent(C_(pick, "LoadBalancerArn")));
	{
		char *port = T_(pick, "Port");
		c->port = port ? (unsigned int)strtoul(port, NULL, 10) : 0;
		xmlFree(port);
	}
	xmlFreeDoc(doc);
	doc = NULL;
	if (!c->listener_arn || !c->lb_arn) {
		rc = mdeploy__error_set(MDEPLOY_ENETWORK, CLS, "aws: DescribeListeners gave no listener/load balancer ARN");
		goto out;
	}
	if (!c->vpc_id) {
		const char *q[] = { "LoadBalancerArns.member.1", c->lb_arn, NULL };
		xmlNodePtr m;
		if ((rc = mdeploy_awsp__elbv2(p, "DescribeLoadBalancers", q, &doc)))
			goto out;
		m = mdeploy_awsp__xml_root(doc, "DescribeLoadBalancersResult/LoadBalancers/member");
		c->vpc_id = dupx(xmlNodeGetContent(C_(m, "VpcId")));
		c->dns = dupx(xmlNodeGetContent(C_(m, "DNSName")));
	}
out:
	xmlFreeDoc(doc);
	if (rc) {
		free(c->listener_arn);
		c->listener_arn = NULL; /* not resolved: asked again next time */
	}
	return rc;
}

/* ---- the forward action ---- */

void mdeploy_awsp__view_dispose(elbv2_view *v)
{
	size_t i;
	for (i = 0; i < v->n; i++) {
		free(v->tg[i].arn);
		free(v->tg[i].fleet);
	}
	free(v->tg);
	free(v->sticky_enabled);
	free(v->sticky_seconds);
	memset(v, 0, sizeof(*v));
}

elbv2_tg *mdeploy_awsp__view_fleet(const elbv2_view *v, const char *fleet)
{
	size_t i;
	for (i = 0; i < v->n; i++)
		if (v->tg[i].fleet && !strcmp(v->tg[i].fleet, fleet))
			return &v->tg[i];
	return NULL;
}

static const char *cached_fleet(const mdeploy_awsp__lbcache *c, const char *arn)
{
	size_t i;
	for (i = 0; i < c->ntg; i++)
		if (!strcmp(c->tg_arn[i], arn))
			return c->tg_fleet[i];
	return NULL;
}

int mdeploy_awsp__cache_fleet(mdeploy_awsp__lbcache *c, const char *arn, const char *fleet)
{
	char **na, **nf, *a2, *f2;
	if (cached_fleet(c, arn))
		return 0;
	na = realloc(c->tg_arn, (c->ntg + 1) * sizeof(*na));
	if (na)
		c->tg_arn = na;
	nf = realloc(c->tg_fleet, (c->ntg + 1) * sizeof(*nf));
	if (nf)
		c->tg_fleet = nf;
	a2 = strdup(arn);
	f2 = strdup(fleet);
	if (!na || !nf || !a2 || !f2) {
		free(a2);
		free(f2);
		return mdeploy__error_oom();
	}
	c->tg_arn[c->ntg] = a2;
	c->tg_fleet[c->ntg] = f2;
	c->ntg++;
	return 0;
}

const char *mdeploy_awsp__cached_tg(const mdeploy_awsp__lbcache *c, const char *fleet)
{
	size_t i;
	for (i = 0; i < c->ntg; i++)
		if (!strcmp(c->tg_fleet[i], fleet))
			return c->tg_arn[i];
	return NULL;
}

void mdeploy_awsp__uncache_tg(mdeploy_awsp__lbcache *c, const char *arn)
{
	size_t i;
	for (i = 0; i < c->ntg; i++)
		if (!strcmp(c->tg_arn[i], arn)) {
			free(c->tg_arn[i]);
			free(c->tg_fleet[i]);
			c->tg_arn[i] = c->tg_arn[c->ntg - 1];
			c->tg_fleet[i] = c->tg_fleet[c->ntg - 1];
			c->ntg--;
			return;
		}
}

/* arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID -> NAME */
static void name_of_arn(char *out, size_t n, const char *arn)
{
	const char *s = strstr(arn, ":targetgroup/"), *e;
	out[0] = '\0';
	if (!s)
		return;
	s += strlen(":targetgroup/");
	e = strchr(s, '/');
	snprintf(out, n, "%.*s", (int)(e ? (size_t)(e - s) : strlen(s)), s);
}

/* The fleets of target groups the cache does not know yet: DescribeTags, 20 ARNs a call. */
static int learn_fleets(mdeploy_provider *p, elbv2_view *v)
{
	mdeploy_awsp__lbcache *c = &MDEPLOY_AWSP(p)->lbc;
	size_t i = 0;
	int rc = 0;

	while (!rc && i < v->n) {
		elbv2_params q = { 0 };
		xmlDoc *doc = NULL;
		xmlNodePtr d, t;
		size_t k = 0, first = i;
		for (; i < v->n && k < 20; i++)
			if (!cached_fleet(c, v->tg[i].arn))
				mdeploy_awsp__params_addf(&q, v->tg[i].arn, "ResourceArns.member.%zu", ++k);
		if (k && !(rc = mdeploy_awsp__elbv2(p, "DescribeTags", mdeploy_awsp__params(&q), &doc))) {
			MDEPLOY_AWSP__FOREACH(d, mdeploy_awsp__xml_root(doc, "DescribeTagsResult/TagDescriptions")) {
				char *arn = T_(d, "ResourceArn"), *fleet = NULL;
				MDEPLOY_AWSP__FOREACH(t, C_(d, "Tags")) {
					char *key = T_(t, "Key");
					if (key && !strcmp(key, "mdeploy:fleet") && !fleet)
						fleet = T_(t, "Value");
					xmlFree(key);
				}
				if (arn && fleet && !rc)
					rc = mdeploy_awsp__cache_fleet(c, arn, fleet);
				xmlFree(arn);
				xmlFree(fleet);
			}
		}
		/* Not made by mdeploy (infra's first target group): the fleet is its name. */
		for (; !rc && first < i; first++)
			if (!cached_fleet(c, v->tg[first].arn)) {
				char name[64];
				name_of_arn(name, sizeof(name), v->tg[first].arn);
				rc = mdeploy_awsp__cache_fleet(c, v->tg[first].arn, name);
			}
		xmlFreeDoc(doc);
		mdeploy_awsp__params_dispose(&q);
	}
	for (i = 0; !rc && i < v->n; i++)
		if (!(v->tg[i].fleet = mdeploy__strdup(cached_fleet(c, v->tg[i].arn))))
			rc = MDEPLOY_ENOMEM;
	return rc;
}

int mdeploy_awsp__view_read(mdeploy_provider *p, const char *lb, elbv2_view *v)
{
	mdeploy_awsp__lbcache *c = &MDEPLOY_AWSP(p)->lbc;
	xmlDoc *doc = NULL;
	xmlNodePtr act, m, fc;
	int rc;

	memset(v, 0, sizeof(*v));
	if ((rc = mdeploy_awsp__resolve(p, lb)))
		return rc;
	{
		const char *q[] = { "ListenerArns.member.1", c->listener_arn, NULL };
		if ((rc = mdeploy_awsp__elbv2(p, "DescribeListeners", q, &doc)))
			return rc;
	}
	act = mdeploy_awsp__xml_root(doc, "DescribeListenersResult/Listeners/member/DefaultActions/member");
	fc = C_(act, "ForwardConfig");
	MDEPLOY_AWSP__FOREACH(m, C_(fc, "TargetGroups")) {
		elbv2_tg *ntg = realloc(v->tg, (v->n + 1) * sizeof(*ntg));
		char *w;
		if (!ntg) {
			rc = mdeploy__error_oom();
			break;
		}
		v->tg = ntg;
		memset(&v->tg[v->n], 0, sizeof(v->tg[v->n]));
		v->tg[v->n].arn = dupx(xmlNodeGetContent(C_(m, "TargetGroupArn")));
		w = T_(m, "Weight");
		/* No weight given means 1 to ELBv2. */
		v->tg[v->n].weight = w ? (unsigned int)strtoul(w, NULL, 10) : 1;
		xmlFree(w);
		if (v->tg[v->n].arn)
			v->n++;
	}
	if (!rc && v->n == 0) {
		/* a plain forward to one target group */
		char *arn = T_(act, "TargetGroupArn");
		if (arn) {
			if (!(v->tg = calloc(1, sizeof(*v->tg))) || !(v->tg[0].arn = strdup(arn)))
				rc = mdeploy__error_oom();
			else {
				v->tg[0].weight = 1;
				v->n = 1;
			}
		}
		xmlFree(arn);
	}
	if (!rc && C_(fc, "TargetGroupStickinessConfig")) {
		v->sticky_enabled = dupx(xmlNodeGetContent(C_(fc, "TargetGroupStickinessConfig/Enabled")));
		v->sticky_seconds = dupx(xmlNodeGetContent(C_(fc, "TargetGroupStickinessConfig/DurationSeconds")));
	}
	xmlFreeDoc(doc);
	if (!rc)
		rc = learn_fleets(p, v);
	if (rc)
		mdeploy_awsp__view_dispose(v);
	return rc;
}

int mdeploy_awsp__view_write(mdeploy_provider *p, const elbv2_view *v)
{
	mdeploy_awsp__lbcache *c = &MDEPLOY_AWSP(p)->lbc;
	elbv2_params q = { 0 };
	xmlDoc *doc = NULL;
	size_t i;
	int rc;

	if (v->n == 0)
		return mdeploy__error_set(MDEPLOY_EINVALID, CLS, "aws: the listener would forward to no target group");
	mdeploy_awsp__params_add(&q, "ListenerArn", c->listener_arn);
	mdeploy_awsp__params_add(&q, "DefaultActions.member.1.Type", "forward");
	for (i = 0; i < v->n; i++) {
		char w[16];
		snprintf(w, sizeof(w), "%u", v->tg[i].weight);
		mdeploy_awsp__params_addf(&q, v->tg[i].arn,
		                          "DefaultActions.member.1.ForwardConfig.TargetGroups.member.%zu.TargetGroupArn", i + 1);
		mdeploy_awsp__params_addf(&q, w, "DefaultActions.member.1.ForwardConfig.TargetGroups.member.%zu.Weight",
		                          i + 1);
	}
	if (v->sticky_enabled)
		mdeploy_awsp__params_add(&q, "DefaultActions.member.1.ForwardConfig.TargetGroupStickinessConfig.Enabled",
		                         v->sticky_enabled);
	if (v->sticky_seconds)
		mdeploy_awsp__params_add(&q,
			"DefaultActions.member.1.ForwardConfig.TargetGroupStickinessConfig.DurationSeconds", v->sticky_seconds);
	rc = q.failed ? MDEPLOY_ENOMEM : mdeploy_awsp__elbv2(p, "ModifyListener", mdeploy_awsp__params(&q), &doc);
	xmlFreeDoc(doc);
	mdeploy_awsp__params_dispose(&q);
	return rc;
}

/* ---- target groups ---- */

int mdeploy_awsp__tg_targets(mdeploy_provider *p, const char *arn, elbv2_targets *out)
{
	const char *q[] = { "TargetGroupArn", arn, NULL };
	xmlDoc *doc = NULL;
	xmlNodePtr m;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = mdeploy_awsp__elbv2(p, "DescribeTargetHealth", q, &doc)))
		return rc;
	MDEPLOY_AWSP__FOREACH(m, mdeploy_awsp__xml_root(doc, "DescribeTargetHealthResult/TargetHealthDescriptions")) {
		elbv2_target *nt = realloc(out->t, (out->n + 1) * sizeof(*nt)), *t;
		char *id, *port, *state, *reason, *desc;
		if (!nt) {
			rc = mdeploy__error_oom();
			break;
		}
		out->t = nt;
		t = &out->t[out->n];
		memset(t, 0, sizeof(*t));
		id = T_(m, "Target/Id");
		port = T_(m, "Target/Port");
		state = T_(m, "TargetHealth/State");
		reason = T_(m, "TargetHealth/Reason");
		desc = T_(m, "TargetHealth/Description");
		snprintf(t->id, sizeof(t->id), "%s", id ? id : "");
		t->port = port ? (unsigned int)strtoul(port, NULL, 10) : 0;
		/* No state is no health: never read as healthy. */
		snprintf(t->state, sizeof(t->state), "%s", state ? state : "unavailable");
		snprintf(t->reason, sizeof(t->reason), "%s", reason ? reason : "");
		snprintf(t->description, sizeof(t->description), "%s", desc ? desc : "");
		xmlFree(id);
		xmlFree(port);
		xmlFree(state);
		xmlFree(reason);
		xmlFree(desc);
		if (t->id[0])
			out->n++;
	}
	xmlFreeDoc(doc);
	if (rc) {
		free(out->t);
		memset(out, 0, sizeof(*out));
	}
	return rc;
}

void mdeploy_awsp__tg_name(char out[33], const char *fleet)
{
	size_t i, len = strlen(fleet);
	int fits = len >= 1 && len <= 32 && fleet[0] != '-' && fleet[len - 1] != '-';
	uint32_t h = 2166136261u;

	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)fleet[i];
		h = (h ^ ch) * 16777619u;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-'))
			fits = 0;
	}
	if (fits) {
		memcpy(out, fleet, len + 1);
		return;
	}
	for (i = 0; i < 23 && fleet[i]; i++) {
		unsigned char ch = (unsigned char)fleet[i];
		out[i] = ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')) ? (char)ch : '-';
	}
	if (i == 0 || out[0] == '-')
		out[0] = 'f';
	snprintf(out + i, 33 - i, "-%08x", (unsigned int)h);
}
