/*
 * fleets.c - what the state store knows each fleet as, and deleting a fleet
 * nothing else would remove.
 *
 * A fleet tagged with an application and a group belongs to that group. It is
 * its live fleet, the blue fleet retained for an instant rollback, or a fleet
 * of an unfinished deployment (green being built, or blue being replaced).
 * Anything else is orphaned: left by a crash or a takeover, it may still take
 * traffic and no deployment command will ever remove it. `fleet list` shows
 * it, `fleet delete` removes it.
 */
#include "deploy_private.h"
#include "store/store_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLS MDEPLOY_ERROR_CLASS_DEPLOY

const char *mdeploy_fleet_role_name(mdeploy_fleet_role role)
{
	switch (role) {
	case MDEPLOY_FLEET_LIVE: return "live";
	case MDEPLOY_FLEET_RETAINED: return "retained";
	case MDEPLOY_FLEET_DEPLOYING: return "deploying";
	case MDEPLOY_FLEET_ORPHANED: return "orphaned";
	case MDEPLOY_FLEET_RETIRING: return "retiring";
	default: return "-";
	}
}

/* The application and group of a fleet from its tags; 0 when it has both. */
static int owner_of(const mdeploy_fleet_info *f, char *app, size_t na, char *group, size_t ng)
{
	json_t *tags = json_loads(f->tags ? f->tags : "{}", 0, NULL);
	const char *a = tags ? json_string_value(json_object_get(tags, "application")) : NULL;
	const char *g = tags ? json_string_value(json_object_get(tags, "group")) : NULL;
	int rc = a && g ? 0 : MDEPLOY_ENOTFOUND;
	if (!rc) {
		snprintf(app, na, "%s", a);
		snprintf(group, ng, "%s", g);
	}
	json_decref(tags);
	return rc;
}

struct inflight {
	const char *fleet;
	char id[12];
};

static int inflight_cb(const mdeploy_deployment_record *r, void *payload)
{
	struct inflight *in = payload;
	json_t *o;
	const char *g = NULL, *b = NULL;
	if (mdeploy_deployment_status_is_final(r->status) || !r->data)
		return 0;
	if (!(o = json_loads(r->data, 0, NULL)))
		return 0;
	json_unpack(o, "{s?:s, s?:s}", "green", &g, "blue", &b);
	if ((g && !strcmp(g, in->fleet)) || (b && !strcmp(b, in->fleet)))
		snprintf(in->id, sizeof(in->id), "%s", r->id);
	json_decref(o);
	return in->id[0] != '\0';
}

/* The role of `f` and, for a deploying one, the deployment in `dep` (may be NULL). */
static int role_of(mdeploy_store *store, const mdeploy_fleet_info *f, mdeploy_fleet_role *out, char dep[12])
{
	char app[64], group[128], key[400], *v = NULL;
	struct inflight in;
	int rc;

	*out = MDEPLOY_FLEET_UNMANAGED;
	if (dep)
		dep[0] = '\0';
	if (owner_of(f, app, sizeof(app), group, sizeof(group)))
		return 0;
	snprintf(key, sizeof(key), "deploy/%s/%s/live", app, group);
	if (mdeploy_store_value_get(store, key, &v) == 0 && !strcmp(v, f->name)) {
		free(v);
		*out = MDEPLOY_FLEET_LIVE;
		return 0;
	}
	free(v);
	v = NULL;
	snprintf(key, sizeof(key), "deploy/%s/%s/retained", app, group);
	if (mdeploy_store_value_get(store, key, &v) == 0 && !strncmp(v, f->name, strlen(f->name)) &&
	    v[strlen(f->name)] == '\t') {
		free(v);
		*out = MDEPLOY_FLEET_RETAINED;
		return 0;
	}
	free(v);
	v = NULL;
	snprintf(key, sizeof(key), "deploy/%s/%s/retiring/%s", app, group, f->name);
	if (mdeploy_store_value_get(store, key, &v) == 0) {
		free(v);
		*out = MDEPLOY_FLEET_RETIRING;
		return 0;
	}
	mdeploy_error_clear();
	memset(&in, 0, sizeof(in));
	in.fleet = f->name;
	rc = mdeploy_store_deployment_foreach(store, app, group, 0, inflight_cb, &in);
	if (rc && rc != MDEPLOY_EUSER)
		return rc;
	mdeploy_error_clear();
	if (in.id[0]) {
		*out = MDEPLOY_FLEET_DEPLOYING;
		if (dep)
			memcpy(dep, in.id, sizeof(in.id));
		return 0;
	}
	*out = MDEPLOY_FLEET_ORPHANED;
	return 0;
}

int mdeploy_deploy_fleet_role(mdeploy_store *store, const mdeploy_fleet_info *fleet, mdeploy_fleet_role *out)
{
	if (!store || !fleet || !fleet->name || !out)
		return mdeploy__error_set(MDEPLOY_EINVALID, CLS, "store, fleet and output are required");
	return role_of(store, fleet, out, NULL);
}

struct fleet_copy {
	char name[128];
	char tags[1024];
	unsigned int desired;
};

static int copy_fleet(const mdeploy_fleet_info *f, void *payload)
{
	struct fleet_copy *c = payload;
	snprintf(c->name, sizeof(c->name), "%s", f->name);
	snprintf(c->tags, sizeof(c->tags), "%s", f->tags ? f->tags : "{}");
	c->desired = f->desired;
	return 0;
}

struct dereg {
	char ids[64][32];
	int registered[64];
	size_t n;
};

static int collect_ids(const mdeploy_instance_info *i, void *payload)
{
	struct dereg *d = payload;
	if (d->n < 64)
		snprintf(d->ids[d->n++], sizeof(d->ids[0]), "%s", i->id);
	return 0;
}

static int dereg_cb(const mdeploy_target_status *t, void *payload)
{
	struct dereg *d = payload;
	size_t i;
	for (i = 0; i < d->n; i++)
		if (!strcmp(d->ids[i], t->instance))
			d->registered[i] = 1;
	return 0;
}

/* Take every instance of `fleet` out of load balancer `lb`, then terminate the fleet. */
static int remove_fleet(mdeploy_provider *p, const char *lb, const char *fleet)
{
	struct dereg d;
	size_t i;
	int rc;

	memset(&d, 0, sizeof(d));
	if ((rc = mdeploy_instance_foreach(p, fleet, collect_ids, &d)))
		return rc;
	if (lb && mdeploy_lb_running(p, lb)) {
		if ((rc = mdeploy_lb_targets(p, lb, dereg_cb, &d)))
			return rc;
		for (i = 0; i < d.n; i++)
			if (d.registered[i] && (rc = mdeploy_lb_deregister(p, lb, d.ids[i])))
				return rc;
	}
	return mdeploy_fleet_terminate(p, fleet);
}

int mdeploy_deploy_fleet_delete(mdeploy_ctx *ctx, const char *fleet)
{
	mdeploy_store *store = NULL;
	mdeploy_provider *p = NULL;
	mdeploy_fleet_info fi;
	mdeploy_fleet_role role;
	mdeploy_lock_options lo = MDEPLOY_LOCK_OPTIONS_INIT;
	struct fleet_copy fc;
	char app[64], group[128], lock[320], lb[200], dep[12], key[400];
	int rc, locked = 0;

	if (!ctx || !fleet)
		return mdeploy__error_set(MDEPLOY_EINVALID, CLS, "context and fleet are required");
	if ((rc = mdeploy_store_open(&store, ctx, NULL)) || (rc = mdeploy_provider_open_configured(&p, ctx, store)))
		goto out;
	memset(&fc, 0, sizeof(fc));
	if ((rc = mdeploy_fleet_get(p, fleet, copy_fleet, &fc)))
		goto out;
	memset(&fi, 0, sizeof(fi));
	fi.name = fc.name;
	fi.tags = fc.tags;
	if (owner_of(&fi, app, sizeof(app), group, sizeof(group))) {
		/* Not a deployment group's: nothing else refers to it. */
		rc = mdeploy_fleet_terminate(p, fleet);
		goto out;
	}
	/* The group's lock, so that no deployment picks the fleet up meanwhile; never a dead owner's. */
	snprintf(lock, sizeof(lock), "group/%s/%s", app, group);
	lo.owner = "fleet-delete";
	lo.flags = MDEPLOY_LOCK_NO_TAKEOVER;
	if ((rc = mdeploy_store_lock_acquire(store, lock, &lo, NULL)))
		goto out;
	locked = 1;
	if ((rc = role_of(store, &fi, &role, dep)))
		goto out;
	if (role == MDEPLOY_FLEET_LIVE) {
		rc = mdeploy__error_set(MDEPLOY_ECONFLICT, CLS,
			"fleet %s is the live fleet of group %s: deploy another release or roll back first", fleet, group);
		goto out;
	}
	if (role == MDEPLOY_FLEET_DEPLOYING) {
		rc = mdeploy__error_set(MDEPLOY_ECONFLICT, CLS,
			"fleet %s belongs to deployment %s, which has not finished: run 'mdeploy deploy stop --rollback %s'",
			fleet, dep, dep);
		goto out;
	}
	snprintf(lb, sizeof(lb), "%s-%s", app, group);
	if ((rc = remove_fleet(p, lb, fleet)))
		goto out;
	if (role == MDEPLOY_FLEET_RETAINED) {
		snprintf(key, sizeof(key), "deploy/%s/%s/retained", app, group);
		rc = mdeploy_store_value_set(store, key, NULL);
	} else if (role == MDEPLOY_FLEET_RETIRING) {
		snprintf(key, sizeof(key), "deploy/%s/%s/retiring/%s", app, group, fleet);
		rc = mdeploy_store_value_set(store, key, NULL);
	}
	mdeploy__log(ctx, MDEPLOY_LOG_INFO, "deploy", "fleet %s (%s) of group %s deleted", fleet,
	             mdeploy_fleet_role_name(role), group);
out:
	if (locked) {
		char msg[1024];
		int code = mdeploy_error_last()->code, klass = mdeploy_error_last()->klass;
		snprintf(msg, sizeof(msg), "%s", mdeploy_error_last()->message);
		mdeploy_store_lock_release(store, lock);
		if (rc)
			mdeploy__error_set(code ? code : rc, klass, "%s", msg);
	}
	mdeploy_provider_free(p);
	mdeploy_store_free(store);
	return rc;
}
