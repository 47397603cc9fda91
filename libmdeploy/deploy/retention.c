/*
 * retention.c - what happens to fleets after a deployment: the live pointer,
 * the retained (warm) blue fleet and its expiry, retiring fleets, and the
 * public cleanup call.
 */
#include "deploy_private.h"
#include "store/store_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLS MDEPLOY_ERROR_CLASS_DEPLOY

/* Terminate a fleet after taking its instances out of the load balancer. */
int mdeploy_deploy__retire_fleet(mdeploy_deploy__run *r, const char *fleet)
{
	inst_list l;
	target_list t;
	size_t i, j;
	unsigned int sizes[3];
	int rc;

	if (mdeploy_deploy__fleet_sizes(r, fleet, sizes) == MDEPLOY_ENOTFOUND)
		return 0;
	if ((rc = mdeploy_deploy__instances(r, fleet, &l)))
		return rc;
	if (mdeploy_lb_running(r->p, r->lb) && mdeploy_deploy__targets(r, &t) == 0)
		for (i = 0; i < t.n; i++)
			for (j = 0; j < l.n; j++)
				if (!strcmp(t.t[i].instance, l.id[j]) &&
				    (rc = mdeploy_lb_deregister(r->p, r->lb, l.id[j])))
					return rc;
	return mdeploy_fleet_terminate(r->p, fleet);
}

/* Retained fleet value: "fleet\tuntil_ms\tbundle". */
int mdeploy_deploy__retained_get(mdeploy_deploy__run *r, char *fleet, size_t nf, int64_t *until, char *bundle, size_t nb)
{
	char *v = NULL, *t1, *t2;
	if (mdeploy_deploy__value_get(r, "retained", &v)) {
		mdeploy_error_clear();
		return MDEPLOY_ENOTFOUND;
	}
	t1 = strchr(v, '\t');
	t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
	if (!t1 || !t2) {
		free(v);
		return MDEPLOY_ENOTFOUND;
	}
	snprintf(fleet, nf, "%.*s", (int)(t1 - v), v);
	*until = strtoll(t1 + 1, NULL, 10);
	snprintf(bundle, nb, "%s", t2 + 1);
	free(v);
	return 0;
}

int mdeploy_deploy__retained_set(mdeploy_deploy__run *r, const char *fleet, int64_t until, const char *bundle)
{
	char *v;
	int rc;
	if (!fleet)
		return mdeploy_deploy__value_set(r, "retained", NULL);
	if (!(v = mdeploy__sprintf("%s\t%lld\t%s", fleet, (long long)until, bundle ? bundle : "")))
		return mdeploy__error_oom();
	rc = mdeploy_deploy__value_set(r, "retained", v);
	free(v);
	return rc;
}

int mdeploy_deploy__s_finish(mdeploy_deploy__run *r, const char *target, void *arg)
{
	char old[128], oldb[4096], *live_bundle = NULL;
	int64_t until;
	int rc;
	(void)target; (void)arg;

	/* Only one fleet is kept warm: an older retained one goes now. */
	if (mdeploy_deploy__retained_get(r, old, sizeof(old), &until, oldb, sizeof(oldb)) == 0 && strcmp(old, r->blue) &&
	    strcmp(old, r->green)) {
		if ((rc = mdeploy_deploy__retire_record(r, old)))
			return rc;
	}
	if (mdeploy_deploy__value_get(r, "live_bundle", &live_bundle))
		mdeploy_error_clear();
	if ((rc = mdeploy_deploy__value_set(r, "live", r->green)) ||
	    (rc = mdeploy_deploy__value_set(r, "live_bundle", r->bundle)) ||
	    (rc = mdeploy_deploy__value_set(r, "live_deployment", r->id)))
		goto out;
	if (live_bundle && strcmp(live_bundle, r->bundle) && (rc = mdeploy_deploy__value_set(r, "previous_bundle", live_bundle)))
		goto out;
	if (r->blue[0] && strcmp(r->blue, r->green)) {
		if (r->g->blue_retention_ms == 0) {
			/* Recorded and out of the load balancer; terminated once the lock is released. */
			if ((rc = mdeploy_deploy__retire_record(r, r->blue)) || (rc = mdeploy_deploy__retained_set(r, NULL, 0, NULL)))
				goto out;
		} else if ((rc = mdeploy_deploy__retained_set(r, r->blue, mdeploy_store__unix_ms() + r->g->blue_retention_ms, live_bundle))) {
			goto out;
		}
	} else if (!r->blue[0]) {
		mdeploy_deploy__retained_set(r, NULL, 0, NULL);
	}
out:
	free(live_bundle);
	return rc;
}

int mdeploy_deploy__s_retire(mdeploy_deploy__run *r, const char *target, void *arg)
{
	(void)arg;
	/* Resumed after a crash, the failure path may not have kept them yet. */
	mdeploy_deploy__keep_fleet_logs(r, target, NULL, 0);
	if (r->opts && r->opts->keep_failed) {
		/* Kept for inspection: out of the load balancer, still running. */
		inst_list l;
		target_list t;
		size_t i;
		int rc;
		if ((rc = mdeploy_deploy__instances(r, target, &l)) || (rc = mdeploy_deploy__targets(r, &t)))
			return rc;
		for (i = 0; i < t.n; i++)
			if (mdeploy_deploy__in_list(&l, t.t[i].instance) && (rc = mdeploy_lb_deregister(r->p, r->lb, t.t[i].instance)))
				return rc;
		return 0;
	}
	return mdeploy_deploy__retire_record(r, target);
}

int mdeploy_deploy__s_retire_retained(mdeploy_deploy__run *r, const char *target, void *arg)
{
	int rc;
	(void)arg;
	if ((rc = mdeploy_deploy__retire_record(r, target)))
		return rc;
	return mdeploy_deploy__retained_set(r, NULL, 0, NULL);
}

/* Expired retained fleets go when the next command touches the group. */
int mdeploy_deploy__cleanup_expired(mdeploy_deploy__run *r, size_t *terminated)
{
	char fleet[128], bundle[4096], live[128] = "", *v = NULL;
	int64_t until;
	int rc;
	if (mdeploy_deploy__retained_get(r, fleet, sizeof(fleet), &until, bundle, sizeof(bundle)) != 0)
		return 0;
	if (until > mdeploy_store__unix_ms())
		return 0;
	if (mdeploy_deploy__value_get(r, "live", &v) == 0) {
		snprintf(live, sizeof(live), "%s", v);
		free(v);
	}
	mdeploy_error_clear();
	if (!strcmp(live, fleet))
		return mdeploy_deploy__retained_set(r, NULL, 0, NULL);
	mdeploy__log(r->ctx, MDEPLOY_LOG_INFO, "deploy", "group %s: retention of %s is over; terminating it",
	             r->g->name, fleet);
	if ((rc = mdeploy_deploy__retire_record(r, fleet)))
		return rc;
	if (terminated)
		(*terminated)++;
	return mdeploy_deploy__retained_set(r, NULL, 0, NULL);
}

static int cleanup_group(mdeploy_ctx *ctx, const mdeploy_config *cfg, const char *group, size_t *terminated)
{
	mdeploy_deploy_options opts = MDEPLOY_DEPLOY_OPTIONS_INIT;
	mdeploy_deploy__run r;
	mdeploy_lock_info li;
	int rc;
	if ((rc = mdeploy_deploy__run_open(&r, ctx, cfg, &opts, group)))
		goto out;
	{
		/* Nothing expired: the group's lock is not taken (a status call must not hold off a deployment). */
		char fleet[128], bundle[8];
		int64_t until;
		if (mdeploy_deploy__retained_get(&r, fleet, sizeof(fleet), &until, bundle, sizeof(bundle)) != 0 ||
		    until > mdeploy_store__unix_ms()) {
			mdeploy_error_clear();
			rc = mdeploy_deploy__retire_pending(&r, NULL);
			goto out;
		}
	}
	/* Never take over the lock of a crashed deployment: resume does that, with its journal. */
	if (mdeploy_store_lock_get(r.store, r.lock, &li) == 0) {
		rc = mdeploy__error_set(MDEPLOY_ELOCKED, CLS, "group %s is locked by %s (pid %ld on %s)", group,
		                        li.owner, li.pid, li.host);
	} else {
		mdeploy_error_clear();
		if ((rc = mdeploy_deploy__lock_take(&r, "cleanup", 0)) == 0) {
			rc = mdeploy_deploy__cleanup_expired(&r, terminated);
			mdeploy_deploy__unlock_keep_error(&r, rc);
		}
	}
	/* Retirements need no group lock: finish those recorded (by us, or by a command that died). */
	if (!rc || rc == MDEPLOY_ELOCKED) {
		char msg[1024];
		int code = mdeploy_error_last()->code, rc1;
		snprintf(msg, sizeof(msg), "%s", mdeploy_error_last()->message);
		if ((rc1 = mdeploy_deploy__retire_pending(&r, NULL)))
			rc = rc1;
		else if (rc)
			mdeploy__error_set(code ? code : rc, MDEPLOY_ERROR_CLASS_DEPLOY, "%s", msg);
	}
out:
	mdeploy_deploy__run_dispose(&r);
	return rc;
}

int mdeploy_deploy_retained(mdeploy_ctx *ctx, const char *application, const char *group, char fleet[128],
                            int64_t *until_ms)
{
	mdeploy_deploy__run r;
	char bundle[8];
	int rc;
	fleet[0] = '\0';
	*until_ms = 0;
	if (!ctx || !application || !group)
		return mdeploy__error_set(MDEPLOY_EINVALID, CLS, "context, application and group are required");
	memset(&r, 0, sizeof(r));
	snprintf(r.key, sizeof(r.key), "deploy/%s/%s", application, group);
	if ((rc = mdeploy_store_open(&r.store, ctx, NULL)))
		return rc;
	rc = mdeploy_deploy__retained_get(&r, fleet, 128, until_ms, bundle, sizeof(bundle));
	mdeploy_store_free(r.store);
	return rc;
}

int mdeploy_deploy_cleanup(mdeploy_ctx *ctx, const mdeploy_config *cfg, const char *group, size_t *terminated)
{
	size_t i;
	int rc;
	if (terminated)
		*terminated = 0;
	if (!ctx || !cfg)
		return mdeploy__error_set(MDEPLOY_EINVALID, CLS, "context and configuration are required");
	if (group) {
		if (!mdeploy_config_group_find(cfg, group))
			return mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS, "%s: no deployment group '%s'",
			                          mdeploy_config_path(cfg), group);
		return cleanup_group(ctx, cfg, group, terminated);
	}
	for (i = 0; i < mdeploy_config_group_count(cfg); i++) {
		rc = cleanup_group(ctx, cfg, mdeploy_config_group_at(cfg, i)->name, terminated);
		/* A group busy with a deployment cleans up after itself. */
		if (rc == MDEPLOY_ELOCKED)
			mdeploy_error_clear();
		else if (rc)
			return rc;
	}
	return 0;
}
