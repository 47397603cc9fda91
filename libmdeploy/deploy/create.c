/*
 * create.c - starting and driving deployments: validation before anything
 * changes, the deployment record and its plan (green, blue, bundle), and the
 * public create, resume, stop and promote calls.
 */
#include "deploy_private.h"
#include "store/store_private.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLS MDEPLOY_ERROR_CLASS_DEPLOY

const char *const *mdeploy_deploy__trusted_keys(const mdeploy_deploy__run *r)
{
	if (r->g && r->g->trusted_keys)
		return r->g->trusted_keys;
	return r->opts ? r->opts->trusted_keys : NULL;
}

/* Everything that can be checked before an instance changes. */
int mdeploy_deploy__validate(mdeploy_deploy__run *r, const char *bundle)
{
	mdeploy_bundle_verify_options vo = MDEPLOY_BUNDLE_VERIFY_OPTIONS_INIT;
	int rc;
	vo.trusted_keys = mdeploy_deploy__trusted_keys(r);
	if (!bundle)
		return mdeploy__error_set(MDEPLOY_EINVALID, CLS, "no bundle given");
	if (!realpath(bundle, r->bundle))
		return mdeploy__error_os(CLS, "%s", bundle);
	/* A parameter or secret the hooks cannot get stops the deployment here. */
	if ((rc = mdeploy_deploy__env_load(r)) || (rc = mdeploy_bundle_verify(r->bundle, &vo))) {
		if (rc == MDEPLOY_EVERIFY && vo.trusted_keys && r->g->trusted_keys)
			mdeploy__error_prefix("group '%s' has trusted_keys", r->g->name);
		return rc;
	}
	/* --trusted-key beside the group's keys: the bundle must satisfy both. */
	if (r->g->trusted_keys && r->opts && r->opts->trusted_keys) {
		vo.trusted_keys = r->opts->trusted_keys;
		if ((rc = mdeploy_bundle_verify(r->bundle, &vo)))
			return rc;
	}
	/* What the record says was deployed: the bytes of the file, as sha256sum gives them. */
	if ((rc = mdeploy__file_sha256(r->bundle, r->bundle_sha256)))
		return rc;
	/*
	 * The appspec, as the agent will read it, straight from the archive:
	 * verify has checked every entry (safe to extract, as the manifest says),
	 * so extracting the whole release here (seconds, and as long again to
	 * remove, on a Moodle tree) would check nothing more.
	 */
	{
		mdeploy_appspec *as = NULL;
		rc = mdeploy_appspec_load(&as, r->bundle);
		mdeploy_appspec_free(as);
	}
	return rc;
}

static int next_fleet_name(mdeploy_deploy__run *r, char *out, size_t n)
{
	char *v = NULL, num[16];
	unsigned int seq = 0;
	unsigned int sizes[3];
	if (mdeploy_deploy__value_get(r, "seq", &v) == 0)
		seq = (unsigned int)strtoul(v, NULL, 10);
	free(v);
	mdeploy_error_clear();
	do {
		seq++;
		snprintf(out, n, "%s-%s-v%03u", r->app, r->g->name, seq);
	} while (mdeploy_deploy__fleet_sizes(r, out, sizes) == 0);
	mdeploy_error_clear();
	snprintf(num, sizeof(num), "%u", seq);
	return mdeploy_deploy__value_set(r, "seq", num);
}

int mdeploy_deploy__record_insert(mdeploy_deploy__run *r, const char *status, const char *strategy,
                                  const char *bundle, const char *previous)
{
	mdeploy_deployment_record rec;
	memset(&rec, 0, sizeof(rec));
	rec.id = r->id;
	rec.application = r->app;
	rec.group = r->g->name;
	rec.status = status;
	rec.strategy = strategy;
	rec.revision = bundle;
	rec.bundle = bundle;
	rec.previous_revision = previous;
	rec.created_by = r->by[0] ? r->by : NULL;
	rec.bundle_sha256 = r->bundle_sha256[0] ? r->bundle_sha256 : NULL;
	rec.bundle_key_id = r->bundle_key_id[0] ? r->bundle_key_id : NULL;
	return mdeploy_store_deployment_insert(r->store, &rec);
}

struct origin { mdeploy_deploy__run *r; const char *fleet; };

static int origin_cb(const mdeploy_deployment_record *rec, void *payload)
{
	struct origin *o = payload;
	const char *live;
	json_t *data;
	int found;
	if (!rec->status || strcmp(rec->status, "Succeeded") || !rec->bundle_sha256 || !rec->data)
		return 0;
	/* The fleet it put live: green, or blue for a rollback that went back to it. */
	data = json_loads(rec->data, 0, NULL);
	live = json_string_value(json_object_get(data, json_is_true(json_object_get(data, "back")) ? "blue" : "green"));
	found = live && !strcmp(live, o->fleet);
	json_decref(data);
	if (!found)
		return 0;
	snprintf(o->r->bundle_sha256, sizeof(o->r->bundle_sha256), "%s", rec->bundle_sha256);
	snprintf(o->r->bundle_key_id, sizeof(o->r->bundle_key_id), "%s", rec->bundle_key_id ? rec->bundle_key_id : "");
	return 1;
}

void mdeploy_deploy__origin_of_fleet(mdeploy_deploy__run *r, const char *fleet)
{
	struct origin o = { r, fleet };
	r->bundle_sha256[0] = r->bundle_key_id[0] = '\0';
	if (fleet && fleet[0])
		mdeploy_store_deployment_foreach(r->store, r->app, r->g->name, 0, origin_cb, &o);
	mdeploy_error_clear();
}

int mdeploy_deploy__save_data(mdeploy_deploy__run *r)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:b, s:s}", "green", r->green, "blue", r->blue, "bundle", r->bundle,
	                      "upgrade", r->upgrade, "kind", mdeploy_plan_kind_name(r->kind));
	char *s;
	if (o && r->back)
		json_object_set_new(o, "back", json_true());
	if (o && (r->t_queued || r->t_validate || r->t_plan || r->t_heal || r->t_retire))
		json_object_set_new(o, "timings", json_pack("{s:I, s:I, s:I, s:I, s:I}", "queued_ms", (json_int_t)r->t_queued,
		                    "validate_ms", (json_int_t)r->t_validate, "plan_ms", (json_int_t)r->t_plan,
		                    "heal_ms", (json_int_t)r->t_heal, "retire_ms", (json_int_t)r->t_retire));
	s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	int rc = s ? mdeploy_store_deployment_set_data(r->store, r->id, s) : mdeploy__error_oom();
	free(s);
	json_decref(o);
	return rc;
}

static int load_data(mdeploy_deploy__run *r, const char *data)
{
	json_t *o = data ? json_loads(data, 0, NULL) : NULL;
	const char *g, *b, *bu;
	if (!o || json_unpack(o, "{s:s, s:s, s:s}", "green", &g, "blue", &b, "bundle", &bu)) {
		json_decref(o);
		return mdeploy__error_set(MDEPLOY_ECORRUPT, CLS, "deployment %s: its record has no plan to resume", r->id);
	}
	snprintf(r->green, sizeof(r->green), "%s", g);
	snprintf(r->blue, sizeof(r->blue), "%s", b);
	snprintf(r->bundle, sizeof(r->bundle), "%s", bu);
	r->upgrade = json_is_true(json_object_get(o, "upgrade"));
	r->back = json_is_true(json_object_get(o, "back"));
	{
		json_t *t = json_object_get(o, "timings");
		r->t_queued = json_integer_value(json_object_get(t, "queued_ms"));
		r->t_validate = json_integer_value(json_object_get(t, "validate_ms"));
		r->t_plan = json_integer_value(json_object_get(t, "plan_ms"));
		r->t_heal = json_integer_value(json_object_get(t, "heal_ms"));
		r->t_retire = json_integer_value(json_object_get(t, "retire_ms"));
	}
	{
		/* Records before the kind was kept: an upgrade or a code-only swap. */
		const char *k = json_string_value(json_object_get(o, "kind"));
		r->kind = r->upgrade ? MDEPLOY_PLAN_UPGRADE : MDEPLOY_PLAN_CODE_ONLY;
		if (k && !strcmp(k, "install"))
			r->kind = MDEPLOY_PLAN_INSTALL;
		else if (k && !strcmp(k, "downgrade"))
			r->kind = MDEPLOY_PLAN_DOWNGRADE;
	}
	json_decref(o);
	return 0;
}

int mdeploy_deploy__create_with(mdeploy_ctx *ctx, const mdeploy_config *cfg, const mdeploy_deploy_options *opts,
                                const char *bundle, const char *strategy, char id[12])
{
	mdeploy_deploy__run r;
	char *live = NULL, *live_bundle = NULL;
	unsigned int sizes[3];
	int rc;

	if (id)
		id[0] = '\0';
	uint64_t t = mdeploy__now_ms();
	int recorded = 0;

	if ((rc = mdeploy_deploy__run_open(&r, ctx, cfg, opts, opts->group)))
		goto out;
	/* The lock (or a place in its queue) before any slow work: commands are served in arrival order. */
	if ((rc = mdeploy_deployment_id_new(r.id)) || (rc = mdeploy_deploy__lock_take_new(&r, r.id, opts->lock_wait_ms)))
		goto out;
	r.t_queued = (int64_t)(mdeploy__now_ms() - t);
	t = mdeploy__now_ms();
	if ((rc = mdeploy_deploy__refuse_stopped(&r)))
		goto unlock;
	if ((rc = mdeploy_deploy__validate(&r, bundle)))
		goto unlock;
	r.t_validate = (int64_t)(mdeploy__now_ms() - t);
	t = mdeploy__now_ms();
	{
		/* Which path: a code-only swap, or the upgrade gate. */
		mdeploy_deploy_options po = *opts;
		mdeploy_plan *plan = NULL;
		po.bundle = r.bundle;
		if ((rc = mdeploy_deploy__plan(ctx, cfg, &po, &plan)))
			goto unlock;
		r.upgrade = mdeploy_plan_upgrade(plan);
		r.kind = mdeploy_plan_kind_of(plan);
		snprintf(r.bundle_key_id, sizeof(r.bundle_key_id), "%s",
		         mdeploy_deploy__plan_key_id(plan) ? mdeploy_deploy__plan_key_id(plan) : "");
		if (r.kind == MDEPLOY_PLAN_DOWNGRADE) {
			if (opts->version < 2 || !opts->allow_downgrade) {
				rc = mdeploy__error_set(MDEPLOY_EINVALID, CLS, "%s: refused: %s (allow it with --allow-downgrade "
				                        "once the database matches the release)", bundle, mdeploy_plan_reason(plan));
				mdeploy_plan_free(plan);
				goto unlock;
			}
			/* Allowed: the database is the operator's to match; the window applies. */
			r.upgrade = 1;
		}
		mdeploy__log(ctx, MDEPLOY_LOG_INFO, "deploy", "%s", mdeploy_plan_reason(plan));
		mdeploy_plan_free(plan);
	}
	r.t_plan = (int64_t)(mdeploy__now_ms() - t);
	if ((rc = mdeploy_deploy__cleanup_expired(&r, NULL)))
		goto unlock;
	t = mdeploy__now_ms();
	/* Blue at full strength: it serves until the shift, and again on a rollback. */
	if (mdeploy_deploy__heal_live(&r))
		mdeploy__log(ctx, MDEPLOY_LOG_WARN, "deploy", "group %s: healing the live fleet failed, deploying anyway: %s",
		             r.g->name, mdeploy_error_last()->message);
	mdeploy_error_clear();
	r.t_heal = (int64_t)(mdeploy__now_ms() - t);
	if (mdeploy_deploy__value_get(&r, "live", &live) == 0 && mdeploy_deploy__fleet_sizes(&r, live, sizes) == 0)
		snprintf(r.blue, sizeof(r.blue), "%s", live);
	if (mdeploy_deploy__value_get(&r, "live_bundle", &live_bundle))
		mdeploy_error_clear();
	mdeploy_error_clear();
	if (r.g->strategy == MDEPLOY_STRATEGY_IN_PLACE && r.blue[0]) {
		/* In place: the live fleet itself gets the release. */
		snprintf(r.green, sizeof(r.green), "%s", r.blue);
		strategy = "in-place";
	} else if ((rc = next_fleet_name(&r, r.green, sizeof(r.green)))) {
		goto unlock;
	}
	if ((rc = mdeploy_deploy__record_insert(&r, "Created", strategy, r.bundle, live_bundle)) ||
	    (rc = mdeploy_deploy__save_data(&r)))
		goto unlock;
	if (id)
		memcpy(id, r.id, 12);
	recorded = 1;
	mdeploy__log(ctx, MDEPLOY_LOG_INFO, "deploy", "%s: %s to group %s: %s -> %s", r.id, r.bundle, r.g->name,
	             r.blue[0] ? r.blue : "(no live fleet)", r.green);
	rc = !strcmp(r.green, r.blue) ? mdeploy_deploy__in_place(&r) : mdeploy_deploy__blue_green(&r);
	mdeploy_deploy__backups_prune_after(&r, rc);
unlock:
	mdeploy_deploy__unlock_keep_error(&r, rc);
	t = mdeploy__now_ms();
	mdeploy_deploy__retire_after(&r, rc);
	if (recorded) {
		/* Recorded once the record exists: the retirement's share, after the lock. */
		char msg[2048];
		int code = mdeploy_error_last()->code, klass = mdeploy_error_last()->klass;
		snprintf(msg, sizeof(msg), "%s", mdeploy_error_last()->message);
		r.t_retire = (int64_t)(mdeploy__now_ms() - t);
		mdeploy_deploy__save_data(&r);
		if (rc)
			mdeploy__error_set(code ? code : rc, klass, "%s", msg);
		else
			mdeploy_error_clear();
	}
out:
	free(live);
	free(live_bundle);
	mdeploy_deploy__run_dispose(&r);
	return rc;
}

int mdeploy_deploy_create(mdeploy_ctx *ctx, const mdeploy_config *cfg, const mdeploy_deploy_options *opts, char id[12])
{
	int rc;
	if (!opts)
		return mdeploy__error_set(MDEPLOY_EINVALID, CLS, "deployment options are required");
	if ((rc = mdeploy__options_check(opts->version, MDEPLOY_DEPLOY_OPTIONS_VERSION, "mdeploy_deploy_options")))
		return rc;
	return mdeploy_deploy__create_with(ctx, cfg, opts, opts->bundle, "blue-green", id);
}

/* Open a run for an existing deployment, its lock taken. */
static int reopen(mdeploy_deploy__run *r, mdeploy_ctx *ctx, const mdeploy_config *cfg, const char *id,
                  const mdeploy_deploy_options *opts, mdeploy_deployment **dout)
{
	mdeploy_store *st = NULL;
	mdeploy_deployment *d = NULL;
	const mdeploy_deployment_record *rec;
	int rc;

	memset(r, 0, sizeof(*r));
	if ((rc = mdeploy_store_open(&st, ctx, NULL)))
		return rc;
	rc = mdeploy_store_deployment_get(st, id, &d);
	mdeploy_store_free(st);
	if (rc)
		return rc;
	rec = mdeploy_deployment_record_of(d);
	if ((rc = mdeploy_deploy__run_open(r, ctx, cfg, opts, rec->group))) {
		mdeploy_deployment_free(d);
		return rc;
	}
	snprintf(r->id, sizeof(r->id), "%s", rec->id);
	if ((rc = load_data(r, rec->data))) {
		mdeploy_deployment_free(d);
		return rc;
	}
	*dout = d;
	return 0;
}

int mdeploy_deploy_resume(mdeploy_ctx *ctx, const mdeploy_config *cfg, const char *id,
                          const mdeploy_deploy_options *opts)
{
	mdeploy_deploy_options def = MDEPLOY_DEPLOY_OPTIONS_INIT;
	mdeploy_deploy__run r;
	mdeploy_deployment *d = NULL;
	int rc;

	if (!opts)
		opts = &def;
	if ((rc = reopen(&r, ctx, cfg, id, opts, &d)))
		goto out;
	if (mdeploy_deployment_status_is_final(mdeploy_deployment_record_of(d)->status)) {
		mdeploy__log(ctx, MDEPLOY_LOG_INFO, "deploy", "%s already ended: %s", id,
		             mdeploy_deployment_record_of(d)->status);
		goto out;
	}
	if ((rc = mdeploy_deploy__lock_take(&r, r.id, opts->lock_wait_ms)))
		goto out;
	if ((rc = mdeploy_store_journal_foreach(r.store, r.id, mdeploy_deploy__load_done, &r)))
		goto unlock;
	mdeploy__log(ctx, MDEPLOY_LOG_INFO, "deploy", "%s: resuming (%zu steps done)", r.id, r.ndone);
	{
		/* A database restore (restore.c) is finished, not deployed. */
		int is_restore = 0;
		if ((rc = mdeploy_deploy__restore_continue(&r, &is_restore)) || is_restore)
			goto unlock;
	}
	rc = r.blue[0] && !strcmp(r.green, r.blue) ? mdeploy_deploy__in_place(&r) : mdeploy_deploy__blue_green(&r);
	mdeploy_deploy__backups_prune_after(&r, rc);
unlock:
	mdeploy_deploy__unlock_keep_error(&r, rc);
	mdeploy_deploy__retire_after(&r, rc);
out:
	mdeploy_deployment_free(d);
	mdeploy_deploy__run_dispose(&r);
	return rc;
}

int mdeploy_deploy_stop(mdeploy_ctx *ctx, const mdeploy_config *cfg, const char *id, int rollback_)
{
	mdeploy_deploy_options opts = MDEPLOY_DEPLOY_OPTIONS_INIT;
	mdeploy_deploy__run r;
	mdeploy_deployment *d = NULL;
	mdeploy_lock_info li;
	int rc;

	if ((rc = reopen(&r, ctx, cfg, id, &opts, &d)))
		goto out;
	if (mdeploy_deployment_status_is_final(mdeploy_deployment_record_of(d)->status)) {
		rc = mdeploy__error_set(MDEPLOY_ECONFLICT, CLS, "deployment %s already ended (%s)", id,
		                        mdeploy_deployment_record_of(d)->status);
		goto out;
	}
	if ((rc = mdeploy_deploy__flag_set(r.store, r.id, "stop", rollback_ ? "rollback" : "stop")))
		goto out;
	/* A live owner acts on the flag itself; wait for it to finish. */
	if (mdeploy_store_lock_get(r.store, r.lock, &li) == 0 && !strcmp(li.owner, r.id)) {
		mdeploy_lock_options lo = MDEPLOY_LOCK_OPTIONS_INIT;
		lo.owner = "stop";
		lo.wait_ms = 120000;
		if ((rc = mdeploy_store_lock_acquire(r.store, r.lock, &lo, NULL)))
			goto out;
		mdeploy_store_lock_release(r.store, r.lock);
		mdeploy_deployment_free(d);
		d = NULL;
		if ((rc = mdeploy_store_deployment_get(r.store, id, &d)))
			goto out;
		if (mdeploy_deployment_status_is_final(mdeploy_deployment_record_of(d)->status))
			goto out;
	}
	mdeploy_error_clear();
	/* Nobody runs it: do it here. */
	if ((rc = mdeploy_deploy__lock_take(&r, r.id, 0)))
		goto out;
	mdeploy_store_journal_foreach(r.store, r.id, mdeploy_deploy__load_done, &r);
	{
		/* A database restore cannot stop halfway (the database would be neither): it is finished. */
		int is_restore = 0;
		if ((rc = mdeploy_deploy__restore_continue(&r, &is_restore)) || is_restore) {
			mdeploy_deploy__unlock_keep_error(&r, rc);
			mdeploy_deploy__retire_after(&r, rc);
			goto out;
		}
	}
	if (rollback_) {
		rc = mdeploy_deploy__rollback(&r, "stopped on request");
		if (rc == MDEPLOY_EHOOK)
			rc = 0;
	} else {
		mdeploy_deploy__flag_set(r.store, r.id, "stop", NULL);
		rc = mdeploy_store_deployment_set_status(r.store, r.id, "Stopped", "stopped on request");
	}
	mdeploy_deploy__unlock_keep_error(&r, rc);
	mdeploy_deploy__retire_after(&r, rc);
out:
	mdeploy_deployment_free(d);
	mdeploy_deploy__run_dispose(&r);
	return rc;
}

int mdeploy_deploy_promote(mdeploy_ctx *ctx, const char *id)
{
	mdeploy_store *st = NULL;
	mdeploy_deployment *d = NULL;
	int rc;
	if ((rc = mdeploy_store_open(&st, ctx, NULL)))
		return rc;
	if ((rc = mdeploy_store_deployment_get(st, id, &d)))
		goto out;
	if (mdeploy_deployment_status_is_final(mdeploy_deployment_record_of(d)->status)) {
		rc = mdeploy__error_set(MDEPLOY_ECONFLICT, CLS, "deployment %s already ended (%s)", id,
		                        mdeploy_deployment_record_of(d)->status);
		goto out;
	}
	rc = mdeploy_deploy__flag_set(st, id, "promote", "1");
out:
	mdeploy_deployment_free(d);
	mdeploy_store_free(st);
	return rc;
}
