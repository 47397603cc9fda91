/*
 * infra.c - the local provider's infrastructure: plan, apply, destroy,
 * status and outputs over the resources of infra_pg.c, infra_redis.c,
 * infra_tls.c and infra_groups.c (what each group gets), with the records
 * in the state store (infra_util.c). See infra.h and mdeploy-infra(1).
 */
#include "infra.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOCK_NAME "infra/local"

/* ---- the run ------------------------------------------------------------ */

static void run_dispose(infra_run *r)
{
	json_decref(r->doc);
	free(r->dir);
	mdeploy_params_free(r->params);
	mdeploy_secrets_free(r->secrets);
}

static int run_init(infra_run *r, mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                    const mdeploy_infra_options *opts, int apply)
{
	char *text = NULL;
	int rc;

	memset(r, 0, sizeof(*r));
	r->ctx = ctx;
	r->store = store;
	r->cfg = cfg;
	r->opts = opts;
	r->apply = apply;
	r->runas = geteuid() == 0 ? "postgres" : NULL;
	{
		const char *engine = mdeploy_config_infrastructure_setting(cfg, "cache_engine");
		if (engine && strcmp(engine, "redis") && strcmp(engine, "none"))
			return mdeploy__error_set(MDEPLOY_EUNSUPPORTED, INFRA_CLS,
			                          "%s: infrastructure.cache.engine: %s is not built locally (redis or none)",
			                          mdeploy_config_where(cfg, "infrastructure.cache.engine"), engine);
		r->icfg.cache = !engine || strcmp(engine, "none");
		r->icfg.dataroot_owner = mdeploy_config_infrastructure_setting(cfg, "dataroot_owner");
	}
	if (!(r->dir = mdeploy__path_join(mdeploy_ctx_state_dir(ctx), "infra")))
		return mdeploy__error_oom();
	rc = mdeploy_store_value_get(store, DOC_KEY, &text);
	if (rc == MDEPLOY_ENOTFOUND) {
		r->doc = json_pack("{s:{}}", "resources");
	} else if (rc) {
		return rc;
	} else {
		json_error_t je;
		r->doc = json_loads(text, 0, &je);
		free(text);
		if (!r->doc || !json_is_object(json_object_get(r->doc, "resources")))
			return mdeploy__error_set(MDEPLOY_ECORRUPT, INFRA_CLS,
			                          "the infrastructure record in the state store is damaged");
	}
	if (!r->doc)
		return mdeploy__error_oom();
	if ((rc = mdeploy_params_open(&r->params, ctx, NULL)) || (rc = mdeploy_secrets_open(&r->secrets, ctx, NULL)))
		return rc;
	return 0;
}

/* ---- plan / apply ------------------------------------------------------- */

static int steps(infra_run *r)
{
	size_t i;
	int rc;

	if ((rc = mdeploy_local__pg_apply(r)) || (r->icfg.cache && (rc = mdeploy_local__redis_apply(r))) ||
	    (rc = mdeploy_local__tls_apply(r)))
		return rc;
	for (i = 0; i < mdeploy_local__infra_groups(r); i++)
		if ((rc = mdeploy_local__infra_group_apply(r, mdeploy_config_group_at(r->cfg, i))))
			return rc;
	return 0;
}

static int lock(infra_run *r)
{
	mdeploy_lock_options lo = MDEPLOY_LOCK_OPTIONS_INIT;
	int rc = mdeploy_store_lock_acquire(r->store, LOCK_NAME, &lo, NULL);
	if (rc == MDEPLOY_ELOCKED)
		mdeploy__error_prefix("another mdeploy changes the infrastructure");
	return rc;
}

static int apply_or_plan(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                         const mdeploy_infra_options *opts, mdeploy_infra_change_cb cb, void *payload,
                         size_t *n, int apply)
{
	infra_run r;
	int rc, locked = 0;

	if (n)
		*n = 0;
	if (apply && (rc = mdeploy_ctx_ensure_state_dir(ctx)))
		return rc;
	if ((rc = run_init(&r, ctx, store, cfg, opts, apply)))
		goto out;
	r.cb = cb;
	r.payload = payload;
	if (apply) {
		if ((rc = lock(&r)))
			goto out;
		locked = 1;
		if ((rc = mdeploy__mkdir_p(r.dir, 0700)))
			goto out;
	}
	rc = steps(&r);
	if (n)
		*n = r.n;
out:
	if (locked)
		mdeploy_store_lock_release(store, LOCK_NAME);
	run_dispose(&r);
	return rc;
}

int mdeploy_local__infra_plan(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                              const mdeploy_infra_options *opts, mdeploy_infra_change_cb cb, void *payload,
                              size_t *n)
{
	return apply_or_plan(ctx, store, cfg, opts, cb, payload, n, 0);
}

int mdeploy_local__infra_apply(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                               const mdeploy_infra_options *opts, mdeploy_infra_change_cb cb, void *payload,
                               size_t *n)
{
	return apply_or_plan(ctx, store, cfg, opts, cb, payload, n, 1);
}

/* ---- destroy -------------------------------------------------------------- */

int mdeploy_local__infra_destroy(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                                 const mdeploy_infra_options *opts, mdeploy_infra_change_cb cb, void *payload,
                                 size_t *n)
{
	infra_run r;
	json_t *pg;
	int rc, locked = 0, stopped = 0;

	if (n)
		*n = 0;
	if ((rc = run_init(&r, ctx, store, cfg, opts, 1)))
		goto out;
	r.cb = cb;
	r.payload = payload;
	if ((rc = lock(&r)))
		goto out;
	locked = 1;
	if ((pg = mdeploy_local__infra_rec(&r, "redis"))) {
		if ((rc = mdeploy_local__redis_stop(&r, pg, &stopped)))
			goto out;
		if (stopped && (rc = mdeploy_local__infra_change(&r, "redis", "redis", "stop", 0, "127.0.0.1:%u",
		                                                 mdeploy_local__infra_port(pg))))
			goto out;
		if ((rc = mdeploy_local__infra_rec_state(&r, "redis", "stopped")))
			goto out;
	}
	if ((pg = mdeploy_local__infra_rec(&r, "postgresql"))) {
		if ((rc = mdeploy_local__pg_stop(&r, pg, &stopped)))
			goto out;
		if (stopped && (rc = mdeploy_local__infra_change(&r, "postgresql", "postgresql", "stop", 0,
		                                                 "127.0.0.1:%u", mdeploy_local__infra_port(pg))))
			goto out;
		if ((rc = mdeploy_local__infra_rec_state(&r, "postgresql", "stopped")))
			goto out;
	}
	if (opts && opts->delete_data) {
		const char *name;
		json_t *rec, *res = json_object_get(r.doc, "resources");
		json_object_foreach(res, name, rec) {
			if ((rc = mdeploy_local__infra_change(&r, name, json_string_value(json_object_get(rec, "type")) ?
			                                      json_string_value(json_object_get(rec, "type")) : "resource",
			                                      "delete", 1, "%s", mdeploy_local__infra_str(rec, "dir") ?
			                                      mdeploy_local__infra_str(rec, "dir") : "")))
				goto out;
		}
		if ((rc = mdeploy__rm_rf(r.dir)) || (rc = mdeploy_local__infra_groups_forget(&r)))
			goto out;
		json_object_clear(res);
		if ((rc = mdeploy_store_value_set(store, DOC_KEY, NULL)))
			goto out;
	}
	if (n)
		*n = r.n;
out:
	if (locked)
		mdeploy_store_lock_release(store, LOCK_NAME);
	run_dispose(&r);
	return rc;
}

/* ---- status and outputs ---------------------------------------------------- */

int mdeploy_local__infra_status(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                                const mdeploy_infra_options *opts, mdeploy_infra_resource_cb cb, void *payload)
{
	infra_run r;
	const char *name;
	json_t *rec;
	int rc;

	if ((rc = run_init(&r, ctx, store, cfg, opts, 0)))
		goto out;
	if (!json_object_size(json_object_get(r.doc, "resources"))) {
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, INFRA_CLS, "no infrastructure here: run 'mdeploy infra apply'");
		goto out;
	}
	json_object_foreach(json_object_get(r.doc, "resources"), name, rec) {
		mdeploy_infra_resource res;
		char endpoint[64] = "";
		memset(&res, 0, sizeof(res));
		res.name = name;
		res.type = mdeploy_local__infra_str(rec, "type");
		res.state = mdeploy_local__infra_str(rec, "state");
		res.dir = mdeploy_local__infra_str(rec, "dir");
		if (mdeploy_local__infra_port(rec)) {
			snprintf(endpoint, sizeof(endpoint), "127.0.0.1:%u", mdeploy_local__infra_port(rec));
			res.endpoint = endpoint;
		}
		if ((rc = mdeploy_local__infra_check(&r, name, rec, &res)))
			goto out;
		if (cb && cb(&res, payload)) {
			rc = mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_CALLBACK, "infra status: the callback aborted");
			goto out;
		}
	}
out:
	run_dispose(&r);
	return rc;
}

int mdeploy_local__infra_check(infra_run *r, const char *name, json_t *rec, mdeploy_infra_resource *res)
{
	const char *type = res->type ? res->type : "";
	struct stat st;
	if (strcmp(res->state ? res->state : "", "ready")) {
		res->problem = res->state && !strcmp(res->state, "stopped") ? "stopped (infra destroy): run infra apply"
		                                                          : "not finished: run infra apply";
		return 0;
	}
	if (!strcmp(type, "postgresql")) {
		res->up = mdeploy_local__pg_up(r, rec, &res->pid, &res->problem) == 0;
	} else if (!strcmp(type, "database")) {
		char secret[600];
		const char *app = r->cfg ? mdeploy_config_application_name(r->cfg) : NULL;
		const char *group = mdeploy_local__infra_str(rec, "group");
		json_t *pg = mdeploy_local__infra_rec(r, "postgresql");
		snprintf(secret, sizeof(secret), "%s/%s/MOODLE_DBPASS", app ? app : "", group ? group : "");
		if (pg && mdeploy_local__pg_up(r, pg, NULL, &res->problem) == 0)
			res->up = mdeploy_local__pg_login(r, mdeploy_local__infra_str(rec, "name"), secret,
			                                  &res->problem) == 0;
		res->endpoint = mdeploy_local__infra_str(rec, "name");
	} else if (!strcmp(type, "redis")) {
		res->up = mdeploy_local__redis_up(r, rec, &res->pid, &res->problem) == 0;
	} else if (!strcmp(type, "certificate")) {
		static __thread char lb[1100];
		snprintf(lb, sizeof(lb), "%s/lb.pem", res->dir ? res->dir : "");
		res->endpoint = lb;
		res->up = mdeploy_local__tls_up(r, &res->problem) == 0;
	} else if (!strcmp(type, "directory")) {
		res->up = res->dir && stat(res->dir, &st) == 0 && S_ISDIR(st.st_mode);
		if (!res->up)
			res->problem = "the directory is missing";
	} else {
		res->problem = "unknown resource type";
	}
	(void)name;
	return 0;
}

int mdeploy_local__infra_outputs(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                                 const mdeploy_infra_options *opts, mdeploy_infra_output_cb cb, void *payload)
{
	infra_run r;
	int rc;

	if ((rc = run_init(&r, ctx, store, cfg, opts, 0)))
		goto out;
	if (!mdeploy_local__infra_rec(&r, "postgresql")) {
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, INFRA_CLS, "no infrastructure here: run 'mdeploy infra apply'");
		goto out;
	}
	rc = mdeploy_local__infra_groups_outputs(&r, cb, payload);
	if (!rc && mdeploy_local__infra_rec(&r, "certificate")) {
		char ca[1100], lb[1100];
		mdeploy_infra_output o1 = { "ca_certificate", ca, 0 }, o2 = { "lb_certificate", lb, 0 };
		snprintf(ca, sizeof(ca), "%s/tls/ca.pem", r.dir);
		snprintf(lb, sizeof(lb), "%s/tls/lb.pem", r.dir);
		if (cb && (cb(&o1, payload) || cb(&o2, payload)))
			rc = mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_CALLBACK, "infra outputs: the callback aborted");
	}
out:
	run_dispose(&r);
	return rc;
}

