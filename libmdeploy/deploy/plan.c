/*
 * plan.c - the Moodle upgrade gate: does a release change any component
 * version (or add or remove a plugin)? Read from the bundle manifests,
 * never from the instances.
 *
 * The source stage records components in the manifest's "source" object
 * as {"components": {"core": "2024100700", "mod_forum": "2024100700"}}.
 * Bundles without that are compared by their version.php files: any one
 * added, removed or changed counts as a version change.
 *
 * A version lower than the live one is a downgrade: Moodle refuses to run
 * code older than the database ("The code you are using is OLDER than the
 * version that made these databases"), so the deployment is refused
 * unless the caller allows it (having restored the database to match).
 *
 * A group that has never had a live release gets a first install: the
 * plan reads that from the store, not from the database (the control host
 * may not reach it), and says so. The install hook probes the database on
 * the one instance that installs, installs only into an empty one, and
 * fails on a partial install; see mdeploy-hooks(7).
 */
#include "deploy_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct plan_change {
	mdeploy_plan_change pub;
	char *component, *from, *to;
};

struct plan_op {
	mdeploy_plan_op pub;
	char *step, *call, *target, *detail;
};

struct mdeploy_plan {
	int upgrade;
	mdeploy_plan_kind kind;
	char *reason;
	char *checked;
	char *live_bundle;
	char *key_id;            /* the new bundle's signature key id; NULL: unsigned */
	struct plan_change *v;
	size_t n;
	struct plan_op *ops;     /* plan_ops.c */
	size_t nops;
};

int mdeploy_deploy__plan_op_add(mdeploy_plan *plan, const char *step, const char *call, const char *target,
                                const char *detail, const char *how)
{
	struct plan_op *nv = realloc(plan->ops, (plan->nops + 1) * sizeof(*nv)), *o;
	if (!nv)
		return mdeploy__error_oom();
	plan->ops = nv;
	o = &plan->ops[plan->nops];
	memset(o, 0, sizeof(*o));
	o->step = mdeploy__strdup(step);
	o->call = mdeploy__strdup(call);
	o->target = mdeploy__strdup(target);
	o->detail = mdeploy__strdup(detail ? detail : "");
	if (!o->step || !o->call || !o->target || !o->detail) {
		free(o->step);
		free(o->call);
		free(o->target);
		free(o->detail);
		return mdeploy__error_oom();
	}
	o->pub.step = o->step;
	o->pub.call = o->call;
	o->pub.target = o->target;
	o->pub.detail = o->detail;
	o->pub.how = how;
	plan->nops++;
	return 0;
}

size_t mdeploy_plan_op_count(const mdeploy_plan *plan)
{
	return plan ? plan->nops : 0;
}

const mdeploy_plan_op *mdeploy_plan_op_at(const mdeploy_plan *plan, size_t i)
{
	return plan && i < plan->nops ? &plan->ops[i].pub : NULL;
}

int mdeploy_deploy__plan_upgrade_gate(const mdeploy_plan *plan)
{
	return plan->upgrade;
}

void mdeploy_plan_free(mdeploy_plan *plan)
{
	size_t i;
	if (!plan)
		return;
	for (i = 0; i < plan->n; i++) {
		free(plan->v[i].component);
		free(plan->v[i].from);
		free(plan->v[i].to);
	}
	free(plan->v);
	for (i = 0; i < plan->nops; i++) {
		free(plan->ops[i].step);
		free(plan->ops[i].call);
		free(plan->ops[i].target);
		free(plan->ops[i].detail);
	}
	free(plan->ops);
	free(plan->reason);
	free(plan->checked);
	free(plan->live_bundle);
	free(plan->key_id);
	free(plan);
}

int mdeploy_plan_upgrade(const mdeploy_plan *plan) { return plan->upgrade; }
const char *mdeploy_deploy__plan_key_id(const mdeploy_plan *plan) { return plan->key_id; }
mdeploy_plan_kind mdeploy_plan_kind_of(const mdeploy_plan *plan) { return plan->kind; }

const char *mdeploy_plan_kind_name(mdeploy_plan_kind kind)
{
	switch (kind) {
	case MDEPLOY_PLAN_CODE_ONLY: return "code-only";
	case MDEPLOY_PLAN_UPGRADE: return "upgrade";
	case MDEPLOY_PLAN_INSTALL: return "install";
	case MDEPLOY_PLAN_DOWNGRADE: return "downgrade";
	}
	return "unknown";
}

/*
 * Moodle versions are decimals, YYYYMMDDRR[.XX] ("2024100705.01"): compare
 * the integer parts by value, then the fractions digit by digit. Returns
 * -1, 0 or 1, or 2 when either is not such a number.
 */
int mdeploy_deploy__version_cmp(const char *a, const char *b)
{
	const char *ai = a, *bi = b, *af, *bf;
	size_t la, lb;
	int c;
	if (!a || !b)
		return 2;
	while (*ai == '0' && ai[1] >= '0' && ai[1] <= '9')
		ai++;
	while (*bi == '0' && bi[1] >= '0' && bi[1] <= '9')
		bi++;
	la = strspn(ai, "0123456789");
	lb = strspn(bi, "0123456789");
	if (!la || !lb || (ai[la] && ai[la] != '.') || (bi[lb] && bi[lb] != '.'))
		return 2;
	af = ai[la] ? ai + la + 1 : "";
	bf = bi[lb] ? bi + lb + 1 : "";
	if (strspn(af, "0123456789") != strlen(af) || strspn(bf, "0123456789") != strlen(bf))
		return 2;
	if (la != lb)
		return la < lb ? -1 : 1;
	if ((c = strncmp(ai, bi, la)))
		return c < 0 ? -1 : 1;
	while (*af || *bf) {
		char x = *af ? *af++ : '0', y = *bf ? *bf++ : '0';
		if (x != y)
			return x < y ? -1 : 1;
	}
	return 0;
}
const char *mdeploy_plan_reason(const mdeploy_plan *plan) { return plan->reason; }
const char *mdeploy_plan_checked(const mdeploy_plan *plan) { return plan->checked; }
const char *mdeploy_plan_live_bundle(const mdeploy_plan *plan) { return plan->live_bundle; }
size_t mdeploy_plan_change_count(const mdeploy_plan *plan) { return plan->n; }

const mdeploy_plan_change *mdeploy_plan_change_at(const mdeploy_plan *plan, size_t i)
{
	return i < plan->n ? &plan->v[i].pub : NULL;
}

static int add_change(mdeploy_plan *plan, const char *component, const char *from, const char *to)
{
	struct plan_change *nv = realloc(plan->v, (plan->n + 1) * sizeof(*nv)), *c;
	if (!nv)
		return mdeploy__error_oom();
	plan->v = nv;
	c = &plan->v[plan->n];
	memset(c, 0, sizeof(*c));
	c->component = mdeploy__strdup(component);
	c->from = from ? mdeploy__strdup(from) : NULL;
	c->to = to ? mdeploy__strdup(to) : NULL;
	if (!c->component || (from && !c->from) || (to && !c->to)) {
		free(c->component);
		free(c->from);
		free(c->to);
		return mdeploy__error_oom();
	}
	c->pub.component = c->component;
	c->pub.from = c->from;
	c->pub.to = c->to;
	c->pub.downgrade = mdeploy_deploy__version_cmp(c->to, c->from) == -1;
	plan->n++;
	return 0;
}

static json_t *components_of(const mdeploy_bundle *b)
{
	const char *src = mdeploy_bundle_source_json(b);
	json_t *o, *c;
	if (!src || !(o = json_loads(src, 0, NULL)))
		return NULL;
	c = json_object_get(o, "components");
	if (c && json_is_object(c))
		json_incref(c);
	else
		c = NULL;
	json_decref(o);
	return c;
}

static const char *version_text(json_t *v, char *buf, size_t n)
{
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v)) {
		snprintf(buf, n, "%lld", (long long)json_integer_value(v));
		return buf;
	}
	if (json_is_object(v) && json_is_string(json_object_get(v, "version")))
		return json_string_value(json_object_get(v, "version"));
	if (json_is_object(v) && json_is_integer(json_object_get(v, "version"))) {
		snprintf(buf, n, "%lld", (long long)json_integer_value(json_object_get(v, "version")));
		return buf;
	}
	return "?";
}

static int compare_components(mdeploy_plan *plan, json_t *from, json_t *to)
{
	const char *k;
	json_t *v;
	char b1[32], b2[32];
	int rc;
	json_object_foreach(to, k, v) {
		json_t *old = json_object_get(from, k);
		const char *nv = version_text(v, b2, sizeof(b2));
		if (!old) {
			if ((rc = add_change(plan, k, NULL, nv)))
				return rc;
		} else if (strcmp(version_text(old, b1, sizeof(b1)), nv)) {
			if ((rc = add_change(plan, k, version_text(old, b1, sizeof(b1)), nv)))
				return rc;
		}
	}
	json_object_foreach(from, k, v) {
		if (!json_object_get(to, k) && (rc = add_change(plan, k, version_text(v, b1, sizeof(b1)), NULL)))
			return rc;
	}
	return 0;
}

static int is_version_php(const char *path)
{
	size_t n = strlen(path);
	return n >= 11 && !strcmp(path + n - 11, "version.php") && (n == 11 || path[n - 12] == '/');
}

static int diff_cb(char status, const mdeploy_bundle_entry *old, const mdeploy_bundle_entry *new_, void *payload)
{
	mdeploy_plan *plan = payload;
	const char *path = new_ ? new_->path : old->path;
	char a[16], b[16];
	if (!is_version_php(path))
		return 0;
	snprintf(a, sizeof(a), "%.12s", old && old->sha256 ? old->sha256 : "");
	snprintf(b, sizeof(b), "%.12s", new_ && new_->sha256 ? new_->sha256 : "");
	return add_change(plan, path, status == 'A' ? NULL : a, status == 'D' ? NULL : b) ? 1 : 0;
}

int mdeploy_deploy_plan(mdeploy_ctx *ctx, const mdeploy_config *cfg, const mdeploy_deploy_options *opts,
                        mdeploy_plan **out)
{
	int rc = mdeploy_deploy__plan(ctx, cfg, opts, out);
	if (rc == 0 && (rc = mdeploy_deploy__plan_ops(ctx, cfg, opts, *out))) {
		mdeploy_plan_free(*out);
		*out = NULL;
	}
	return rc;
}

int mdeploy_deploy__plan(mdeploy_ctx *ctx, const mdeploy_config *cfg, const mdeploy_deploy_options *opts,
                         mdeploy_plan **out)
{
	mdeploy_store *st = NULL;
	mdeploy_bundle *nb = NULL, *lb = NULL;
	mdeploy_plan *plan;
	const mdeploy_group *g;
	json_t *cn = NULL, *cl = NULL;
	char key[256];
	int rc;

	*out = NULL;
	if (!opts || !opts->bundle)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_DEPLOY, "no bundle given");
	if (!(g = mdeploy_config_group_find(cfg, opts->group)))
		return MDEPLOY_ENOTFOUND;
	if (!(plan = calloc(1, sizeof(*plan))))
		return mdeploy__error_oom();
	if ((rc = mdeploy_bundle_open(&nb, opts->bundle)))
		goto out;
	if (mdeploy_bundle_key_id(nb) && !(plan->key_id = mdeploy__strdup(mdeploy_bundle_key_id(nb)))) {
		rc = MDEPLOY_ENOMEM;
		goto out;
	}
	if ((rc = mdeploy_store_open(&st, ctx, NULL)))
		goto out;
	snprintf(key, sizeof(key), "deploy/%s/%s/live_bundle", mdeploy_config_application_name(cfg), g->name);
	if (mdeploy_store_value_get(st, key, &plan->live_bundle)) {
		char *by = NULL;
		mdeploy_error_clear();
		plan->upgrade = 1;
		plan->kind = MDEPLOY_PLAN_INSTALL;
		snprintf(key, sizeof(key), "deploy/%s/%s/site_installed_by", mdeploy_config_application_name(cfg), g->name);
		if (mdeploy_store_value_get(st, key, &by) == 0) {
			/* An earlier deployment ran the install step, and failed after it. */
			plan->reason = mdeploy__sprintf("first live release of group %s; deployment %s already ran the site "
			                                "install (then failed), so the install step should find a site and "
			                                "install nothing, upgrading it if this release needs it", g->name, by);
			plan->checked = mdeploy__sprintf("the group has no live release recorded, and deployment %s's install "
			                                 "step succeeded; the database was not probed", by);
			free(by);
		} else {
			mdeploy_error_clear();
			plan->reason = mdeploy__sprintf("first deployment to group %s: Moodle installs the site into an empty "
			                                "database, once, on one instance, before any instance serves", g->name);
			plan->checked = mdeploy__strdup("the group has no live release recorded; the database was not probed "
			                                "(the install step probes it and installs only into an empty one)");
		}
		goto out;
	}
	if ((rc = mdeploy_bundle_open(&lb, plan->live_bundle))) {
		mdeploy__error_prefix("the live bundle");
		goto out;
	}
	cn = components_of(nb);
	cl = components_of(lb);
	if (cn && cl) {
		rc = compare_components(plan, cl, cn);
		plan->checked = mdeploy__strdup("component versions in the manifests of this bundle and the live one");
	} else {
		rc = mdeploy_bundle_diff(lb, nb, diff_cb, plan);
		plan->checked = mdeploy__strdup("the version.php files of this bundle and the live one");
	}
	if (rc)
		goto out;
	plan->upgrade = plan->n > 0;
	plan->kind = plan->n > 0 ? MDEPLOY_PLAN_UPGRADE : MDEPLOY_PLAN_CODE_ONLY;
	{
		size_t i, nd = 0;
		char first[256] = "";
		for (i = 0; i < plan->n; i++) {
			if (!plan->v[i].pub.downgrade)
				continue;
			if (!nd++)
				snprintf(first, sizeof(first), "%s %s -> %s", plan->v[i].component, plan->v[i].from, plan->v[i].to);
		}
		if (nd) {
			plan->kind = MDEPLOY_PLAN_DOWNGRADE;
			plan->upgrade = 0;
			plan->reason = mdeploy__sprintf("downgrade: %zu component version%s lower than the live release's "
			                                "(%s%s): Moodle refuses to run code older than its database; "
			                                "restore a matching database first",
			                                nd, nd == 1 ? " is" : "s are", first, nd > 1 ? ", ..." : "");
			goto out;
		}
	}
	if (plan->n == 0)
		plan->reason = mdeploy__strdup("no component version changes: code-only swap with no downtime");
	else
		plan->reason = mdeploy__sprintf("%zu component version change%s: database upgrade with a short "
		                                "maintenance window", plan->n, plan->n == 1 ? "" : "s");
out:
	json_decref(cn);
	json_decref(cl);
	mdeploy_bundle_free(nb);
	mdeploy_bundle_free(lb);
	mdeploy_store_free(st);
	if (!rc && (!plan->reason || !plan->checked))
		rc = mdeploy__error_oom();
	if (rc) {
		mdeploy_plan_free(plan);
		return rc;
	}
	*out = plan;
	return 0;
}
