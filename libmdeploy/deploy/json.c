/*
 * json.c - the JSON documents of deployments and fleets: what `deploy
 * history|status --json` and `fleet list|show --json` print and what the
 * web console's API answers (one builder for both, so they cannot drift).
 */
#include "deploy_private.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

json_t *mdeploy_deployment_to_json(mdeploy_store *store, const mdeploy_deployment_record *r)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:I, s:I, s:I, s:s?, s:s?, s:s?}",
		"id", r->id, "application", r->application, "group", r->group, "status", r->status,
		"strategy", r->strategy, "bundle", r->bundle, "previous_bundle", r->previous_revision,
		"error", r->error, "created_at", (json_int_t)r->created_at, "updated_at", (json_int_t)r->updated_at,
		"completed_at", (json_int_t)r->completed_at, "created_by", r->created_by,
		"bundle_sha256", r->bundle_sha256, "bundle_key_id", r->bundle_key_id);
	json_t *data = r->data ? json_loads(r->data, 0, NULL) : NULL;
	char step[64];
	if (o && data) {
		json_t *g = json_object_get(data, "green"), *b = json_object_get(data, "blue");
		json_t *t = json_object_get(data, "timings");
		if (g) json_object_set(o, "green_fleet", g);
		if (b) json_object_set(o, "blue_fleet", b);
		if (t) json_object_set(o, "timings", t);
	}
	json_decref(data);
	/* Its status stays what the record says; these tell that nobody runs it any more. */
	if (o && store && mdeploy_deploy_interrupted(store, r, step)) {
		json_object_set_new(o, "interrupted", json_true());
		json_object_set_new(o, "interrupted_at", json_string(step));
	}
	return o;
}

static int journal_cb(const mdeploy_journal_entry *e, void *payload)
{
	json_t *o = json_pack("{s:I, s:s, s:s?, s:s, s:s?, s:I, s:I}", "seq", (json_int_t)e->seq,
		"step", e->step, "target", e->target, "state", e->state, "error", e->error,
		"started_at_ms", (json_int_t)e->started_at, "finished_at_ms", (json_int_t)e->finished_at);
	json_t *data = e->data ? json_loads(e->data, 0, NULL) : NULL;
	if (o && data && !strcmp(e->step, "backup")) {
		/* Removed once no rollback can restore it (backup_prune.c). */
		const char *path = json_string_value(json_object_get(data, "path"));
		if (path)
			json_object_set_new(data, "present", json_boolean(access(path, F_OK) == 0));
		json_object_set(o, "backup", data);
	}
	json_decref(data);
	json_array_append_new(payload, o);
	return 0;
}

static int log_cb(const char *path, void *payload)
{
	json_array_append_new(payload, json_string(path));
	return 0;
}

json_t *mdeploy_deployment_status_to_json(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_deployment_record *r)
{
	json_t *o = mdeploy_deployment_to_json(store, r), *steps, *logs;
	char fleet[128];
	int64_t until = 0;
	if (!o)
		return NULL;
	json_object_set_new(o, "group_stopped", json_boolean(mdeploy_group_stopped(ctx, r->application, r->group, NULL)));
	if (mdeploy_deploy_retained(ctx, r->application, r->group, fleet, &until) == 0 && fleet[0])
		json_object_set_new(o, "retained", json_pack("{s:s, s:I}", "fleet", fleet, "expires_at_ms", (json_int_t)until));
	mdeploy_error_clear();
	steps = json_array();
	if (mdeploy_store_journal_foreach(store, r->id, journal_cb, steps))
		mdeploy_error_clear();
	json_object_set_new(o, "steps", steps);
	logs = json_array();
	if (mdeploy_deploy_logs(ctx, r->id, log_cb, logs))
		mdeploy_error_clear();
	json_object_set_new(o, "logs", logs);
	return o;
}

json_t *mdeploy_fleet_to_json(mdeploy_store *store, const mdeploy_fleet_info *f)
{
	mdeploy_fleet_role role = MDEPLOY_FLEET_UNMANAGED;
	json_t *o, *tags;
	if (store && mdeploy_deploy_fleet_role(store, f, &role))
		mdeploy_error_clear();
	o = json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:I, s:s}", "name", f->name, "desired", (int)f->desired,
	              "min", (int)f->min, "max", (int)f->max, "port", (int)f->port, "running", (int)f->running,
	              "created_at", (json_int_t)f->created_at, "role", mdeploy_fleet_role_name(role));
	tags = json_loads(f->tags ? f->tags : "{}", 0, NULL);
	if (o)
		json_object_set_new(o, "tags", tags ? tags : json_object());
	else
		json_decref(tags);
	return o;
}

/* ---- fleet show: the fleet, its instances, its weight at its group's load balancer ---- */

struct show { mdeploy_store *store; json_t *doc; };

static int show_cb(const mdeploy_fleet_info *f, void *payload)
{
	struct show *s = payload;
	s->doc = mdeploy_fleet_to_json(s->store, f);
	return 0;
}

static int inst_cb(const mdeploy_instance_info *i, void *payload)
{
	json_array_append_new(payload, mdeploy_instance_to_json(i));
	return 0;
}

struct lbw { const char *fleet; int found; mdeploy_lb_fleet_status st; };

static int lbw_cb(const mdeploy_lb_fleet_status *st, void *payload)
{
	struct lbw *w = payload;
	if (!strcmp(st->fleet, w->fleet)) {
		w->st = *st;
		w->found = 1;
	}
	return 0;
}

/* The load balancer is APP-GROUP from the fleet's tags; null when none weighs it. */
static json_t *fleet_lb(mdeploy_provider *p, json_t *fleet, const char *name)
{
	json_t *tags = json_object_get(fleet, "tags");
	const char *app = json_string_value(json_object_get(tags, "application"));
	const char *g = json_string_value(json_object_get(tags, "group"));
	struct lbw w = { name, 0, { 0 } };
	char lb[160];
	if (!app || !g)
		return json_null();
	snprintf(lb, sizeof(lb), "%s-%s", app, g);
	if (!mdeploy_lb_running(p, lb) || mdeploy_lb_fleets(p, lb, lbw_cb, &w) || !w.found) {
		mdeploy_error_clear();
		return json_null();
	}
	return json_pack("{s:s, s:i, s:f, s:i, s:i}", "name", lb, "weight", (int)w.st.weight,
	                 "share_percent", w.st.share_permille / 10.0, "targets", (int)w.st.targets,
	                 "in_rotation", (int)w.st.in_rotation);
}

int mdeploy_fleet_show_to_json(mdeploy_provider *p, mdeploy_store *store, const char *fleet, json_t **out)
{
	struct show s = { store, NULL };
	json_t *insts;
	int rc;
	*out = NULL;
	if ((rc = mdeploy_fleet_get(p, fleet, show_cb, &s)))
		return rc;
	if (!s.doc)
		return mdeploy__error_oom();
	insts = json_array();
	if ((rc = mdeploy_instance_foreach(p, fleet, inst_cb, insts))) {
		json_decref(insts);
		json_decref(s.doc);
		return rc;
	}
	json_object_set_new(s.doc, "instances", insts);
	json_object_set_new(s.doc, "load_balancer", fleet_lb(p, s.doc, fleet));
	*out = s.doc;
	return 0;
}
