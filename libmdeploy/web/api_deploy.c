/*
 * api_deploy.c - GET /api/deployments[/ID], /api/groups[/NAME],
 * /api/fleets[/NAME], /api/lb/NAME: the documents of `deploy history|status
 * --json`, `fleet list|show --json` and `lb show --json`, plus per group
 * the live release and the live weights of its fleets. The documents come
 * from the library's builders the CLI prints with (mdeploy_deployment_to_json
 * and the others), so the two cannot drift. Reading never heals or retires
 * anything (the CLI's commands do; a page view must not).
 */
#include "web_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct list { mdeploy_store *st; json_t *arr; };

static int history_cb(const mdeploy_deployment_record *rec, void *payload)
{
	struct list *l = payload;
	json_array_append_new(l->arr, mdeploy_deployment_to_json(l->st, rec));
	return 0;
}

void mdeploy_web__api_deployments(web_req *r, web_reply *out)
{
	const char *group = mdeploy_web__arg(r, "group");
	int limit = mdeploy_web__arg_limit(r, out, 50, 10000);
	struct list l = { NULL, NULL };
	if (limit < 0)
		return;
	if (group && !mdeploy_web__name_ok(group)) {
		mdeploy_web__reply_error(out, 400, "group '%.64s' is not a group name", group);
		return;
	}
	if (mdeploy_web__store(r, &l.st)) {
		mdeploy_web__reply_lib_error(out, "cannot open the state store");
		return;
	}
	l.arr = json_array();
	if (mdeploy_store_deployment_foreach(l.st, NULL, group, (unsigned int)limit, history_cb, &l))
		mdeploy_web__reply_lib_error(out, "cannot read the history");
	else
		mdeploy_web__reply_json(out, 200, json_pack("{s:O}", "deployments", l.arr));
	json_decref(l.arr);
	mdeploy_store_free(l.st);
}

/* The same document as `mdeploy deploy status ID --json`. */
void mdeploy_web__api_deployment(web_req *r, web_reply *out, const char *id)
{
	mdeploy_store *st = NULL;
	mdeploy_deployment *d = NULL;

	if (!mdeploy_web__name_ok(id) || strchr(id, '/') || strlen(id) > 32) {
		mdeploy_web__reply_error(out, 400, "'%.64s' is not a deployment id", id);
		return;
	}
	if (mdeploy_web__store(r, &st)) {
		mdeploy_web__reply_lib_error(out, "cannot open the state store");
		return;
	}
	if (mdeploy_store_deployment_get(st, id, &d)) {
		mdeploy_web__reply_lib_error(out, NULL);
		mdeploy_store_free(st);
		return;
	}
	mdeploy_web__reply_json(out, 200, mdeploy_deployment_status_to_json(r->ctx, st, mdeploy_deployment_record_of(d)));
	mdeploy_deployment_free(d);
	mdeploy_store_free(st);
}

/* ---- load balancers, with the weight each fleet gets ---- */

/* Each target's "fleet" is set below from the instances' owners. */
static int target_cb(const mdeploy_target_status *t, void *payload)
{
	json_array_append_new(payload, mdeploy_target_status_to_json(t));
	return 0;
}

static int inst_fleet_cb(const mdeploy_instance_info *i, void *payload)
{
	json_object_set_new(payload, i->id, json_string(i->fleet));
	return 0;
}

static int share_cb(const mdeploy_lb_fleet_status *st, void *payload)
{
	json_t *v = json_object_get(payload, st->fleet);
	if (v) {
		json_object_set_new(v, "fleet_weight", json_integer(st->weight));
		json_object_set_new(v, "share_percent", json_real(st->share_permille / 10.0));
		json_object_set_new(v, "percent", json_integer((st->share_permille + 5) / 10));
	}
	return 0;
}

/* `lb show --json` plus "fleets": weight, share of traffic (percent), targets, 5xx per fleet. */
static json_t *lb_doc(mdeploy_provider *p, const char *name)
{
	char bind[128] = "";
	json_t *targets = json_array(), *owners = json_object(), *fleets = json_object(), *arr = json_array(), *t, *v;
	size_t i;
	const char *k;
	json_int_t total = 0;
	int running = mdeploy_lb_running(p, name);
	if (mdeploy_lb_bind(p, name, bind, sizeof(bind)))
		mdeploy_error_clear();
	if (running && mdeploy_lb_targets(p, name, target_cb, targets))
		mdeploy_error_clear();
	if (mdeploy_instance_foreach(p, NULL, inst_fleet_cb, owners))
		mdeploy_error_clear();
	json_array_foreach(targets, i, t) {
		const char *f = json_string_value(json_object_get(owners, json_string_value(json_object_get(t, "instance"))));
		json_t *agg;
		json_int_t w = json_integer_value(json_object_get(t, "weight"));
		const char *state = json_string_value(json_object_get(t, "state"));
		if (state && strcmp(state, "ready"))
			w = 0; /* a drained or maintained target takes no new requests */
		if (!f)
			f = "(unknown)";
		if (!(agg = json_object_get(fleets, f))) {
			agg = json_pack("{s:s, s:I, s:i, s:i, s:I, s:I}", "fleet", f, "weight", (json_int_t)0, "targets", 0,
			                "up", 0, "responses_total", (json_int_t)0, "responses_5xx", (json_int_t)0);
			json_object_set_new(fleets, f, agg);
		}
		json_object_set_new(agg, "weight", json_integer(json_integer_value(json_object_get(agg, "weight")) + w));
		json_object_set_new(agg, "targets", json_integer(json_integer_value(json_object_get(agg, "targets")) + 1));
		if (!strcmp(json_string_value(json_object_get(t, "health")), "UP"))
			json_object_set_new(agg, "up", json_integer(json_integer_value(json_object_get(agg, "up")) + 1));
		json_object_set_new(agg, "responses_total", json_integer(json_integer_value(json_object_get(agg, "responses_total")) +
			json_integer_value(json_object_get(t, "responses_total"))));
		json_object_set_new(agg, "responses_5xx", json_integer(json_integer_value(json_object_get(agg, "responses_5xx")) +
			json_integer_value(json_object_get(t, "responses_5xx"))));
		json_object_set_new(t, "fleet", json_string(f));
		total += w;
	}
	json_object_foreach(fleets, k, v) {
		json_int_t w = json_integer_value(json_object_get(v, "weight"));
		json_object_set_new(v, "percent", json_integer(total ? (w * 100 + total / 2) / total : 0));
		json_array_append(arr, v);
	}
	/* The load balancer's own figures per fleet, where the provider gives them:
	 * the fleet weight and the share of new requests (as `fleet show`). */
	if (running && mdeploy_lb_fleets(p, name, share_cb, fleets))
		mdeploy_error_clear();
	json_decref(owners);
	json_decref(fleets);
	return json_pack("{s:s, s:s, s:b, s:o, s:o}", "name", name, "bind", bind, "running", running,
	                 "targets", targets, "fleets", arr);
}

static int open_provider(web_req *r, web_reply *out, mdeploy_store **st, mdeploy_provider **p)
{
	if (mdeploy_web__store(r, st) || mdeploy_provider_open_configured(p, r->ctx, *st)) {
		mdeploy_web__reply_lib_error(out, "cannot open the provider");
		mdeploy_store_free(*st);
		*st = NULL;
		return -1;
	}
	return 0;
}

void mdeploy_web__api_lb(web_req *r, web_reply *out, const char *name)
{
	mdeploy_store *st = NULL;
	mdeploy_provider *p = NULL;
	char bind[128];
	if (!mdeploy_web__name_ok(name) || strchr(name, '/')) {
		mdeploy_web__reply_error(out, 400, "'%.64s' is not a load balancer name", name);
		return;
	}
	if (open_provider(r, out, &st, &p))
		return;
	if (mdeploy_lb_bind(p, name, bind, sizeof(bind)))
		mdeploy_web__reply_lib_error(out, NULL);
	else
		mdeploy_web__reply_json(out, 200, lb_doc(p, name));
	mdeploy_provider_free(p);
	mdeploy_store_free(st);
}

/* ---- groups ---- */

static int live_cb(const mdeploy_deployment_record *rec, void *payload)
{
	json_t **live = payload;
	if (strcmp(rec->status, "Succeeded"))
		return 0;
	*live = mdeploy_deployment_to_json(NULL, rec);
	json_object_set_new(*live, "revision", rec->revision ? json_string(rec->revision) : json_null());
	return 1;
}

static json_t *group_doc(web_req *r, mdeploy_store *st, mdeploy_provider *p, const char *app,
                         const mdeploy_group *g, int full)
{
	json_t *o = json_pack("{s:s, s:s, s:s?, s:b}", "name", g->name, "strategy",
	                      g->strategy == MDEPLOY_STRATEGY_BLUE_GREEN ? "blue-green" : "in-place",
	                      "listen", g->listen, "stopped", mdeploy_group_stopped(r->ctx, app, g->name, NULL));
	json_t *live = NULL;
	char lb[256], fleet[128];
	int64_t until = 0;
	snprintf(lb, sizeof(lb), "%s-%s", app, g->name);
	json_object_set_new(o, "lb", json_string(lb));
	mdeploy_store_deployment_foreach(st, app, g->name, 0, live_cb, &live);
	mdeploy_error_clear();
	json_object_set_new(o, "live", live ? live : json_null());
	if (mdeploy_deploy_retained(r->ctx, app, g->name, fleet, &until) == 0 && fleet[0])
		json_object_set_new(o, "retained", json_pack("{s:s, s:I}", "fleet", fleet, "expires_at_ms", (json_int_t)until));
	mdeploy_error_clear();
	json_object_set_new(o, "traffic", lb_doc(p, lb));
	if (full) {
		struct list l = { st, json_array() };
		mdeploy_store_deployment_foreach(st, app, g->name, 20, history_cb, &l);
		mdeploy_error_clear();
		json_object_set_new(o, "history", l.arr);
	}
	return o;
}

void mdeploy_web__api_groups(web_req *r, web_reply *out, const char *name)
{
	mdeploy_config *cfg = NULL;
	mdeploy_store *st = NULL;
	mdeploy_provider *p = NULL;
	const char *app;
	size_t i;

	if (name && (!mdeploy_web__name_ok(name) || strchr(name, '/'))) {
		mdeploy_web__reply_error(out, 400, "'%.64s' is not a group name", name);
		return;
	}
	if (mdeploy_config_load(&cfg, mdeploy_ctx_config_path(r->ctx), NULL)) {
		mdeploy_web__reply_lib_error(out, NULL);
		return;
	}
	app = mdeploy_config_application_name(cfg);
	if (open_provider(r, out, &st, &p) == 0) {
		if (name) {
			const mdeploy_group *g = mdeploy_config_group_find(cfg, name);
			if (!g)
				mdeploy_web__reply_error(out, 404, "no group '%s' in %s", name, mdeploy_ctx_config_path(r->ctx));
			else
				mdeploy_web__reply_json(out, 200, group_doc(r, st, p, app, g, 1));
		} else {
			json_t *arr = json_array();
			for (i = 0; i < mdeploy_config_group_count(cfg); i++)
				json_array_append_new(arr, group_doc(r, st, p, app, mdeploy_config_group_at(cfg, i), 0));
			mdeploy_web__reply_json(out, 200, json_pack("{s:s, s:o}", "application", app, "groups", arr));
		}
	}
	mdeploy_provider_free(p);
	mdeploy_store_free(st);
	mdeploy_config_free(cfg);
}

/* ---- fleets: `fleet list|show --json` ---- */

struct fleets { mdeploy_store *st; json_t *arr; };

static int fleet_cb(const mdeploy_fleet_info *f, void *payload)
{
	struct fleets *fl = payload;
	json_array_append_new(fl->arr, mdeploy_fleet_to_json(fl->st, f));
	return 0;
}

void mdeploy_web__api_fleets(web_req *r, web_reply *out, const char *name)
{
	struct fleets fl = { NULL, NULL };
	mdeploy_provider *p = NULL;
	json_t *doc = NULL;
	if (name && (!mdeploy_web__name_ok(name) || strchr(name, '/'))) {
		mdeploy_web__reply_error(out, 400, "'%.64s' is not a fleet name", name);
		return;
	}
	if (open_provider(r, out, &fl.st, &p))
		return;
	if (!name) {
		fl.arr = json_array();
		if (mdeploy_fleet_foreach(p, NULL, fleet_cb, &fl)) {
			json_decref(fl.arr);
			mdeploy_web__reply_lib_error(out, "cannot list fleets");
		} else {
			mdeploy_web__reply_json(out, 200, json_pack("{s:o}", "fleets", fl.arr));
		}
	} else if (mdeploy_fleet_show_to_json(p, fl.st, name, &doc)) {
		mdeploy_web__reply_lib_error(out, NULL);
	} else {
		mdeploy_web__reply_json(out, 200, doc);
	}
	mdeploy_provider_free(p);
	mdeploy_store_free(fl.st);
}
