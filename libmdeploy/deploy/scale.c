/*
 * scale.c - scaling a live fleet: new instances boot with the group's live
 * release through the agent and join after validation; scale-in drains first.
 */
#include "deploy_private.h"
#include "store/store_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLS MDEPLOY_ERROR_CLASS_DEPLOY

struct boot_ctx { mdeploy_deploy__run *r; const char *bundle; const char *deployment; };

/* Boot callback: the group's live release, installed by the agent up to ApplicationStart. */
static int boot_install(mdeploy_provider *p, const mdeploy_instance_info *inst, void *payload)
{
	struct boot_ctx *bc = payload;
	mdeploy_agent_options ao = MDEPLOY_AGENT_OPTIONS_INIT;
	mdeploy_agent_deployment d;
	mdeploy_agent *agent = NULL;
	char gid[160], saved[12];
	size_t i;
	int rc;
	(void)p;

	ao.ctx = bc->r->ctx;
	ao.trusted_keys = bc->r->opts ? bc->r->opts->trusted_keys : NULL;
	if ((rc = mdeploy_agent_open(&agent, inst->root, &ao)))
		return rc;
	memcpy(saved, bc->r->id, sizeof(saved));
	snprintf(bc->r->id, sizeof(bc->r->id), "%s", bc->deployment);
	rc = mdeploy_deploy__agent_deployment(bc->r, &d, inst->id, inst->address, gid, sizeof(gid), 0);
	for (i = 0; i < MDEPLOY__ARRAY_SIZE(mdeploy_deploy__install_events) && !rc; i++)
		rc = mdeploy_agent_run_event(agent, mdeploy_deploy__install_events[i], i == 1 ? bc->bundle : NULL, &d);
	memcpy(bc->r->id, saved, sizeof(saved));
	if (rc)
		mdeploy__error_prefix("instance %s", inst->id);
	mdeploy_agent_free(agent);
	return rc;
}

int mdeploy_deploy_scale(mdeploy_ctx *ctx, const mdeploy_config *cfg, const mdeploy_deploy_options *opts,
                         const char *fleet, unsigned int desired, unsigned int min, unsigned int max)
{
	mdeploy_deploy__run r;
	mdeploy_provider *boot = NULL;
	mdeploy_provider_options po = MDEPLOY_PROVIDER_OPTIONS_INIT;
	struct boot_ctx bc;
	char *live = NULL, *bundle = NULL, *dep = NULL, owner[64];
	inst_list before, after;
	target_list t;
	unsigned int weight = 100;
	size_t i, j;
	int rc;

	if (!opts)
		return mdeploy__error_set(MDEPLOY_EINVALID, CLS, "scale options are required");
	if ((rc = mdeploy_deploy__run_open(&r, ctx, cfg, opts, opts->group)))
		goto out;
	snprintf(owner, sizeof(owner), "scale-%ld", (long)getpid());
	if ((rc = mdeploy_deploy__lock_take_new(&r, owner, opts->lock_wait_ms)))
		goto out;
	if ((rc = mdeploy_deploy__refuse_stopped(&r)))
		goto unlock;
	if (mdeploy_deploy__value_get(&r, "live", &live) || mdeploy_deploy__value_get(&r, "live_bundle", &bundle) ||
	    mdeploy_deploy__value_get(&r, "live_deployment", &dep)) {
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS, "group %s has no live release to scale", r.g->name);
		goto unlock;
	}
	if (fleet && strcmp(fleet, live)) {
		rc = mdeploy__error_set(MDEPLOY_ECONFLICT, CLS, "fleet %s is not the live fleet of group %s (%s is)",
		                        fleet, r.g->name, live);
		goto unlock;
	}
	snprintf(r.green, sizeof(r.green), "%s", live);
	if ((rc = mdeploy_deploy__instances(&r, live, &before)) || (rc = mdeploy_deploy__targets(&r, &t)))
		goto unlock;
	for (i = 0; i < t.n; i++)
		if (mdeploy_deploy__in_list(&before, t.t[i].instance) && t.t[i].weight > 0) {
			weight = t.t[i].weight;
			break;
		}
	if (desired < before.n) {
		/* The newest go: out of the load balancer first. */
		for (i = desired; i < before.n; i++) {
			mdeploy_lb_change ch = { NULL, 0, MDEPLOY_TARGET_DRAIN };
			int reg = 0;
			ch.instance = before.id[i];
			for (j = 0; j < t.n; j++)
				reg |= !strcmp(t.t[j].instance, before.id[i]);
			if (!reg)
				continue;
			if ((rc = mdeploy_lb_apply(r.p, r.lb, &ch, 1)))
				goto unlock;
		}
		{
			uint64_t t0 = mdeploy__now_ms();
			for (;;) {
				uint64_t sessions = 0;
				if ((rc = mdeploy_deploy__targets(&r, &t)))
					goto unlock;
				for (i = 0; i < t.n; i++)
					for (j = desired; j < before.n; j++)
						if (!strcmp(t.t[i].instance, before.id[j]))
							sessions += t.t[i].sessions;
				if (!sessions || mdeploy__now_ms() - t0 > r.g->drain_timeout_ms)
					break;
				if ((rc = mdeploy_deploy__wait_for(&r, 50)))
					goto unlock;
			}
		}
		for (i = desired; i < before.n; i++)
			for (j = 0; j < t.n; j++)
				if (!strcmp(t.t[j].instance, before.id[i]) &&
				    (rc = mdeploy_lb_deregister(r.p, r.lb, before.id[i])))
					goto unlock;
		rc = mdeploy_fleet_scale(r.p, live, desired, min, max);
		goto unlock;
	}
	bc.r = &r;
	bc.bundle = bundle;
	bc.deployment = dep;
	po.boot_cb = boot_install;
	po.payload = &bc;
	if ((rc = mdeploy_provider_open(&boot, ctx, r.store, &po)) ||
	    (rc = mdeploy_fleet_scale(boot, live, desired, min, max)))
		goto unlock;
	if ((rc = mdeploy_deploy__instances(&r, live, &after)))
		goto unlock;
	for (i = 0; i < after.n; i++) {
		if (mdeploy_deploy__in_list(&before, after.id[i]))
			continue;
		snprintf(r.id, sizeof(r.id), "%s", dep);
		if ((rc = mdeploy_deploy__agent_event(&r, after.id[i], after.root[i], after.addr[i], "ValidateService")) ||
		    (rc = mdeploy_lb_register(r.p, r.lb, after.id[i], weight, MDEPLOY_TARGET_READY)))
			goto unlock;
	}
	r.id[0] = '\0';
	rc = mdeploy_deploy__wait_healthy(&r, live);
unlock:
	mdeploy_deploy__unlock_keep_error(&r, rc);
	mdeploy_deploy__retire_after(&r, rc);
out:
	mdeploy_provider_free(boot);
	free(live);
	free(bundle);
	free(dep);
	mdeploy_deploy__run_dispose(&r);
	return rc;
}
