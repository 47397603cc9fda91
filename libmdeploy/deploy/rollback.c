/*
 * rollback.c - going back: the rollback of a failed or stopped deployment,
 * and `deploy rollback` after success (the warm retained fleet, or the
 * previous bundle deployed again).
 */
#include "deploy_private.h"
#include "store/store_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLS MDEPLOY_ERROR_CLASS_DEPLOY

static int s_rollback_traffic(mdeploy_deploy__run *r, const char *target, void *arg)
{
	(void)target; (void)arg;
	if (!r->blue[0])
		return 0;
	return mdeploy_deploy__apply_split(r, r->green, r->blue, 100);
}

int mdeploy_deploy__rollback(mdeploy_deploy__run *r, const char *why)
{
	int rc, upgraded = mdeploy_deploy__upgrade_begun(r);
	char msg[2048], ref[32];
	/*
	 * Once the database upgrade has started, the old code cannot serve it:
	 * traffic goes back to blue but maintenance stays on (users get the
	 * maintenance page), until the database backup is restored.
	 */
	if (upgraded) {
		mdeploy_deploy__backup b;
		int have = mdeploy_deploy__backup_of(r->store, r->id, &b) == 0;
		mdeploy_error_clear();
		if (have && b.restorable)
			snprintf(msg, sizeof(msg), "%s; the database upgrade had started, so the site stays in maintenance: "
			         "restore the database from the backup taken before the upgrade (%s) with 'mdeploy deploy rollback "
			         "--restore-database %s', which turns maintenance off once it is back", why, b.path, r->g->name);
		else
			snprintf(msg, sizeof(msg), "%s; the database upgrade had started, so the site stays in maintenance: "
			         "restore the database from %s%s, then run 'php admin/cli/maintenance.php --disable' on %s",
			         why, have ? "the backup taken before the upgrade, " : "a backup taken before the upgrade",
			         have ? b.path : "", r->blue);
	} else
		snprintf(msg, sizeof(msg), "%s", why);
	mdeploy__log(r->ctx, MDEPLOY_LOG_WARN, "deploy", "%s: rolling back: %s", r->id, msg);
	/* A stop request must not stop the rollback itself. */
	mdeploy_deploy__flag_set(r->store, r->id, "stop", NULL);
	if (r->blue[0] && !strcmp(r->blue, r->green)) {
		if ((rc = mdeploy_deploy__inplace_revert(r)))
			return rc;
	} else if ((rc = mdeploy_deploy__step(r, "rollback-traffic", r->blue[0] ? r->blue : "-", s_rollback_traffic, NULL)) ||
	           /* The CDN was told of green's cutover: blue's pages are back. */
	           (r->g->cdn_distribution && mdeploy_deploy__is_done(r, "cdn-invalidate", r->g->cdn_distribution) &&
	            (rc = mdeploy_deploy__step(r, "rollback-cdn-invalidate", r->g->cdn_distribution, mdeploy_deploy__s_cdn,
	                                       (snprintf(ref, sizeof(ref), "%s-rollback", r->id), ref)))) ||
	           (!upgraded && mdeploy_deploy__is_done(r, "maintenance-on", r->blue) && !mdeploy_deploy__is_done(r, "maintenance-off", r->green) &&
	            !mdeploy_deploy__is_done(r, "maintenance-off", r->blue) &&
	            (rc = mdeploy_deploy__step(r, "rollback-maintenance-off", r->blue, mdeploy_deploy__s_moodle_cli, (void *)"maintenance-off"))) ||
	           /* Maintenance off: the health checks decide again. (On, the hold keeps Moodle's page served.) */
	           (!upgraded && mdeploy_deploy__held(r) &&
	            (rc = mdeploy_deploy__step(r, "lb-release", r->lb, mdeploy_deploy__s_lb_release, r->blue))) ||
	           (rc = mdeploy_deploy__step(r, "retire-green", r->green, mdeploy_deploy__s_retire, NULL))) {
		mdeploy_store_deployment_set_status(r->store, r->id, "Failed", mdeploy_error_last()->message);
		return rc;
	}
	mdeploy_store_deployment_set_status(r->store, r->id, "RolledBack", msg);
	mdeploy__error_set(MDEPLOY_EHOOK, CLS, "deployment %s rolled back: %s", r->id, msg);
	return MDEPLOY_EHOOK;
}

int mdeploy_deploy__is_rollback_journal(const mdeploy_journal_entry *e, void *payload)
{
	if (!strncmp(e->step, "rollback", 8) || !strcmp(e->step, "retire-green"))
		*(int *)payload = 1;
	return 0;
}

/*
 * Did the last deployment on this instance succeed? An instance of the
 * retained fleet whose install failed (a deployment config that tolerates
 * failures) was never put behind the load balancer and must not be now.
 */
static int install_succeeded(mdeploy_deploy__run *r, const char *root)
{
	mdeploy_agent_options ao = MDEPLOY_AGENT_OPTIONS_INIT;
	mdeploy_agent *agent = NULL;
	const mdeploy_agent_history_entry *h;
	size_t n;
	int ok = 0;
	ao.ctx = r->ctx;
	if (mdeploy_agent_open(&agent, root, &ao) == 0 && (n = mdeploy_agent_history_count(agent)) > 0 &&
	    (h = mdeploy_agent_history_at(agent, n - 1)) && h->status && !strcmp(h->status, "Succeeded") &&
	    mdeploy_agent_live(agent))
		ok = 1;
	mdeploy_agent_free(agent);
	mdeploy_error_clear();
	return ok;
}

int mdeploy_deploy__s_swap_back(mdeploy_deploy__run *r, const char *target, void *arg)
{
	inst_list l;
	target_list t;
	size_t i, j, usable = 0;
	int rc;
	(void)arg;
	/* The retained fleet may have been taken out: put it back, wait for health, then switch. */
	if ((rc = mdeploy_deploy__instances(r, target, &l)) || (rc = mdeploy_deploy__targets(r, &t)))
		return rc;
	for (i = 0; i < l.n; i++) {
		int reg = 0;
		for (j = 0; j < t.n; j++)
			if (!strcmp(t.t[j].instance, l.id[i])) {
				/* Out of rotation (a code-only Moodle release purged its caches, gate.c): registered
				 * again, so it starts unhealthy and real checks must pass, not maint's optimism. */
				if (!strcmp(t.t[j].state, "maint") && (rc = mdeploy_lb_deregister(r->p, r->lb, l.id[i])))
					return rc;
				reg |= strcmp(t.t[j].state, "maint") != 0;
			}
		if (!reg && !install_succeeded(r, l.root[i])) {
			mdeploy__log(r->ctx, MDEPLOY_LOG_WARN, "deploy", "%s: instance %s of %s failed its install: left out",
			             r->id, l.id[i], target);
			continue;
		}
		usable++;
		if (!l.running[i] && (rc = mdeploy_instance_start(r->p, l.id[i])))
			return rc;
		if (!reg && (rc = mdeploy_lb_register(r->p, r->lb, l.id[i], 0, MDEPLOY_TARGET_READY)))
			return rc;
	}
	if (!usable)
		return mdeploy__error_set(MDEPLOY_ECONFLICT, CLS, "retained fleet %s has no instance whose install succeeded",
		                          target);
	if ((rc = mdeploy_deploy__wait_healthy(r, target)))
		return rc;
	return mdeploy_deploy__apply_split(r, r->green, target, 100);
}

static int s_swap_state(mdeploy_deploy__run *r, const char *target, void *arg)
{
	char *lb_old = NULL;
	const char *back_bundle = arg;
	int rc;
	(void)target;
	if (mdeploy_deploy__value_get(r, "live_bundle", &lb_old))
		mdeploy_error_clear();
	if ((rc = mdeploy_deploy__value_set(r, "live", r->blue)) ||
	    (rc = mdeploy_deploy__value_set(r, "live_bundle", back_bundle)) ||
	    (rc = mdeploy_deploy__value_set(r, "live_deployment", r->id)) ||
	    (rc = mdeploy_deploy__retained_set(r, r->green, mdeploy_store__unix_ms() + r->g->blue_retention_ms, lb_old))) {
		free(lb_old);
		return rc;
	}
	free(lb_old);
	return rc;
}

static int upgrade_step_cb(const mdeploy_journal_entry *e, void *payload)
{
	if (!strcmp(e->step, "upgrade"))
		*(int *)payload = 1;
	return 0;
}

int mdeploy_deploy_rollback(mdeploy_ctx *ctx, const mdeploy_config *cfg, const mdeploy_deploy_options *opts,
                            char id[12])
{
	mdeploy_deploy__run r;
	char fleet[128], bundle[4096], *live = NULL, *prev = NULL;
	unsigned int sizes[3];
	int64_t until;
	uint64_t t0 = mdeploy__now_ms();
	int rc;

	if (id)
		id[0] = '\0';
	if (!opts)
		return mdeploy__error_set(MDEPLOY_EINVALID, CLS, "rollback options are required");
	if ((rc = mdeploy_deploy__run_open(&r, ctx, cfg, opts, opts->group)))
		goto out;
	{
		/* An interrupted deployment is undone first, and that is the rollback: the group
		 * stays on the release it had before it. */
		char iid[12], step[64];
		if (mdeploy_deploy__find_interrupted(&r, NULL, iid, step)) {
			mdeploy__log(ctx, MDEPLOY_LOG_WARN, "deploy", "deployment %s was interrupted at step %s: rolling it back",
			             iid, step);
			mdeploy_deploy__run_dispose(&r);
			if ((rc = mdeploy_deploy_stop(ctx, cfg, iid, 1)) == 0 && id)
				memcpy(id, iid, 12);
			goto out;
		}
	}
	if ((rc = mdeploy_deployment_id_new(r.id)) || (rc = mdeploy_deploy__lock_take(&r, r.id, opts->lock_wait_ms)))
		goto out;
	if ((rc = mdeploy_deploy__refuse_stopped(&r)))
		goto unlock;
	if ((rc = mdeploy_deploy__cleanup_expired(&r, NULL)))
		goto unlock;
	if (mdeploy_deploy__value_get(&r, "live", &live)) {
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS, "group %s has no live release to roll back", r.g->name);
		goto unlock;
	}
	{
		/* The last deployment failed after its upgrade began: the database first, the code is the live one. */
		char fid[12];
		if (mdeploy_deploy__failed_upgrade(&r, fid)) {
			rc = mdeploy_deploy__restore_failed(&r, opts, live, fid, id);
			goto unlock;
		}
	}
	{
		/* Old code cannot run on a database the live release upgraded: restore it or refuse, never silently. */
		char *ld = NULL;
		int upgraded = 0;
		if (mdeploy_deploy__value_get(&r, "live_deployment", &ld) == 0)
			mdeploy_store_journal_foreach(r.store, ld, upgrade_step_cb, &upgraded);
		mdeploy_error_clear();
		if (upgraded) {
			rc = mdeploy_deploy__refuse_or_restore(&r, opts, live, ld, id, bundle, sizeof(bundle));
			free(ld);
			if (rc || !bundle[0])
				goto unlock;
			/* The restore is done: the previous bundle again, through the gate. */
			mdeploy_store_lock_release(r.store, r.lock);
			mdeploy_deploy__run_dispose(&r);
			{
				/* Field by field: a caller's older (shorter) options end before the newer fields. */
				mdeploy_deploy_options o = MDEPLOY_DEPLOY_OPTIONS_INIT;
				o.group = opts->group;
				o.bundle = opts->bundle;
				o.trusted_keys = opts->trusted_keys;
				o.lock_wait_ms = opts->lock_wait_ms;
				o.keep_failed = opts->keep_failed;
				o.restore_database = opts->version >= 3 ? opts->restore_database : 0;
				o.by = opts->version >= 4 ? opts->by : NULL;
				o.allow_downgrade = 1;
				rc = mdeploy_deploy__create_with(ctx, cfg, &o, bundle, "rollback", id);
			}
			goto out;
		}
		free(ld);
	}
	if (mdeploy_deploy__retained_get(&r, fleet, sizeof(fleet), &until, bundle, sizeof(bundle)) == 0 && strcmp(fleet, live) &&
	    mdeploy_deploy__fleet_sizes(&r, fleet, sizes) == 0) {
		/* Instant: the previous fleet is still warm. */
		snprintf(r.green, sizeof(r.green), "%s", live);  /* what we leave */
		snprintf(r.blue, sizeof(r.blue), "%s", fleet);   /* what we go back to */
		snprintf(r.bundle, sizeof(r.bundle), "%s", bundle);
		r.back = 1;
		mdeploy_deploy__origin_of_fleet(&r, fleet);
		if ((rc = mdeploy_deploy__record_insert(&r, "InProgress", "rollback", bundle, NULL)) ||
		    (rc = mdeploy_deploy__save_data(&r)))
			goto unlock;
		if (id)
			memcpy(id, r.id, 12);
		/* Moodle's caches hold what the code left behind cached (its language strings): purged
		 * through the fleet going back once the other is drained and out of rotation (gate.c). */
		if ((r.g->cdn_distribution && !mdeploy_provider_cdn(r.p) &&
		     (rc = mdeploy__error_set(MDEPLOY_EUNSUPPORTED, CLS, "group %s names a CDN (cdn.distribution %s) and "
		                              "provider %s has none", r.g->name, r.g->cdn_distribution,
		                              mdeploy_provider_name(r.p)))) ||
		    (rc = mdeploy_deploy__step(&r, "rollback-shift", fleet, mdeploy_deploy__s_swap_back, NULL)) ||
		    /* Users get the retained fleet's pages again: the CDN's copies go. */
		    (r.g->cdn_distribution &&
		     (rc = mdeploy_deploy__step(&r, "cdn-invalidate", r.g->cdn_distribution, mdeploy_deploy__s_cdn, NULL))) ||
		    (rc = mdeploy_deploy__step(&r, "drain", live, mdeploy_deploy__s_drain, NULL)) ||
		    ((mdeploy_deploy__is_done(&r, "purge-caches", fleet) || mdeploy_deploy__has_moodle_cli(&r, fleet)) &&
		     (rc = mdeploy_deploy__step(&r, "purge-caches", fleet, mdeploy_deploy__s_purge_code_only, live))) ||
		    (rc = mdeploy_deploy__step(&r, "swap", fleet, s_swap_state, bundle))) {
			mdeploy_store_deployment_set_status(r.store, r.id, "Failed", mdeploy_error_last()->message);
			goto unlock;
		}
		mdeploy_store_deployment_set_status(r.store, r.id, "Succeeded", NULL);
		/* Counted from this call; the CLI reports from the command's start (journal times). */
		mdeploy__log(ctx, MDEPLOY_LOG_INFO, "deploy", "%s: back on %s, %llu ms after the rollback call; %s is retained",
		             r.id, fleet, (unsigned long long)(mdeploy__now_ms() - t0), live);
		goto unlock;
	}
	/* The old fleet is gone: deploy the previous bundle again. */
	if (mdeploy_deploy__value_get(&r, "previous_bundle", &prev)) {
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS,
			"group %s: no retained fleet and no previous bundle to roll back to", r.g->name);
		goto unlock;
	}
	mdeploy_store_lock_release(r.store, r.lock);
	mdeploy_deploy__run_dispose(&r);
	rc = mdeploy_deploy__create_with(ctx, cfg, opts, prev, "rollback", id);
	goto out;
unlock:
	mdeploy_deploy__backups_prune_after(&r, rc);
	mdeploy_deploy__unlock_keep_error(&r, rc);
	mdeploy_deploy__retire_after(&r, rc);
out:
	free(live);
	free(prev);
	mdeploy_deploy__run_dispose(&r);
	return rc;
}
