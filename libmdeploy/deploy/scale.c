/*
 * scale.c - scaling and healing a live fleet, as an Auto Scaling group
 * behind a load balancer: new instances boot with the group's live release
 * through the agent and join after validation and real health checks;
 * scale-in removes unhealthy instances first, then the newest, each drained
 * out of the load balancer first; healing replaces dead and unhealthy
 * instances.
 *
 * Unhealthy: its server is not running (killed, crashed), or its target
 * takes traffic (ready, weight > 0) and the load balancer has it DOWN while
 * another instance of the fleet is UP. A fleet whose every instance fails
 * its health check is not replaced wholesale: that is the release's fault
 * (or the database's), and new instances of it would fail the same way.
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
	ao.trusted_keys = mdeploy_deploy__trusted_keys(bc->r);
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

struct live_info {
	char fleet[128];
	char *bundle, *dep;
	unsigned int sizes[3];      /* desired, min, max */
};

static void live_dispose(struct live_info *li)
{
	free(li->bundle);
	free(li->dep);
	memset(li, 0, sizeof(*li));
}

/* The group's live fleet and release. */
static int live_load(mdeploy_deploy__run *r, const char *fleet, struct live_info *li)
{
	char *live = NULL;
	int rc;

	memset(li, 0, sizeof(*li));
	if (mdeploy_deploy__value_get(r, "live", &live) || mdeploy_deploy__value_get(r, "live_bundle", &li->bundle) ||
	    mdeploy_deploy__value_get(r, "live_deployment", &li->dep) ||
	    mdeploy_deploy__fleet_sizes(r, live, li->sizes)) {
		free(live);
		live_dispose(li);
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS, "group %s has no live release", r->g->name);
	}
	snprintf(li->fleet, sizeof(li->fleet), "%s", live);
	free(live);
	if (fleet && strcmp(fleet, li->fleet)) {
		rc = mdeploy__error_set(MDEPLOY_ECONFLICT, CLS, "fleet %s is not the live fleet of group %s (%s is)",
		                        fleet, r->g->name, li->fleet);
		live_dispose(li);
		return rc;
	}
	snprintf(r->green, sizeof(r->green), "%s", li->fleet);
	return 0;
}

/* bad[i] = why instance i of `l` is unhealthy, or NULL. */
static size_t find_unhealthy(const inst_list *l, const target_list *t, const char **bad)
{
	size_t i, j, n = 0, up = 0;
	for (j = 0; j < t->n; j++)
		up += mdeploy_deploy__in_list(l, t->t[j].instance) && !strncmp(t->t[j].health, "UP", 2);
	for (i = 0; i < l->n; i++) {
		bad[i] = NULL;
		if (!l->running[i]) {
			bad[i] = "its server is not running";
		} else if (up) {
			for (j = 0; j < t->n; j++)
				if (!strcmp(t->t[j].instance, l->id[i]) && !strcmp(t->t[j].state, "ready") && t->t[j].weight > 0 &&
				    !strcmp(t->t[j].health, "DOWN"))
					bad[i] = "the load balancer has it DOWN";
		}
		n += bad[i] != NULL;
	}
	return n;
}

/* Take `ids` out of the load balancer (drained first when `drain`) and terminate them. */
static int remove_instances(mdeploy_deploy__run *r, char (*ids)[32], size_t n, int drain)
{
	target_list t;
	size_t i, j;
	int rc;

	if ((rc = mdeploy_deploy__targets(r, &t)))
		return rc;
	if (drain) {
		uint64_t t0 = mdeploy__now_ms(), sessions;
		for (i = 0; i < n; i++)
			for (j = 0; j < t.n; j++)
				if (!strcmp(t.t[j].instance, ids[i])) {
					mdeploy_lb_change ch = { NULL, -1, MDEPLOY_TARGET_DRAIN };
					ch.instance = ids[i];
					if ((rc = mdeploy_lb_apply(r->p, r->lb, &ch, 1)))
						return rc;
				}
		for (;;) {
			if ((rc = mdeploy_deploy__targets(r, &t)))
				return rc;
			for (j = 0, sessions = 0; j < t.n; j++)
				for (i = 0; i < n; i++)
					if (!strcmp(t.t[j].instance, ids[i]))
						sessions += t.t[j].sessions;
			if (!sessions || mdeploy__now_ms() - t0 > r->g->drain_timeout_ms)
				break;
			if ((rc = mdeploy_deploy__wait_for(r, mdeploy_deploy__lb_poll_ms(r))))
				return rc;
		}
	}
	for (i = 0; i < n; i++) {
		for (j = 0; j < t.n; j++)
			if (!strcmp(t.t[j].instance, ids[i]) && (rc = mdeploy_lb_deregister(r->p, r->lb, ids[i])))
				return rc;
		if ((rc = mdeploy_instance_terminate(r->p, ids[i])))
			return rc;
	}
	return 0;
}

/* Grow the live fleet to `desired`: boot, validate, join at the fleet's weight, pass real health checks. */
static int add_instances(mdeploy_deploy__run *r, const struct live_info *li, unsigned int desired, unsigned int min,
                         unsigned int max)
{
	mdeploy_provider *boot = NULL;
	mdeploy_provider_options po = MDEPLOY_PROVIDER_OPTIONS_INIT;
	struct boot_ctx bc;
	inst_list before, after;
	char saved[12];
	size_t i;
	int rc;

	if ((rc = mdeploy_deploy__instances(r, li->fleet, &before)))
		return rc;
	if (mdeploy_provider_pulls(r->p)) {
		/* The new instances run the fleet's user data: the live deployment's agent installs
		 * and validates its release, and reports (pull.c). */
		if ((rc = mdeploy_fleet_scale(r->p, li->fleet, desired, min, max)) ||
		    (rc = mdeploy_deploy__pull_wait_new(r, li->fleet, li->dep, &before, desired, &after)))
			return rc;
		for (i = 0; i < after.n; i++)
			if (!mdeploy_deploy__in_list(&before, after.id[i]) &&
			    (rc = mdeploy_lb_register(r->p, r->lb, after.id[i], 0, MDEPLOY_TARGET_READY)))
				return rc;
		return mdeploy_deploy__wait_healthy(r, li->fleet);
	}
	memcpy(saved, r->id, sizeof(saved));
	bc.r = r;
	bc.bundle = li->bundle;
	bc.deployment = li->dep;
	po.name = mdeploy_config_provider_name(r->cfg);
	po.settings = mdeploy_config_provider_settings(r->cfg);
	po.boot_cb = boot_install;
	po.payload = &bc;
	if ((rc = mdeploy_provider_open(&boot, r->ctx, r->store, &po)) ||
	    (rc = mdeploy_fleet_scale(boot, li->fleet, desired, min, max)))
		goto out;
	if ((rc = mdeploy_deploy__instances(r, li->fleet, &after)))
		goto out;
	for (i = 0; i < after.n; i++) {
		if (mdeploy_deploy__in_list(&before, after.id[i]))
			continue;
		/* The hooks see the deployment that made the release live. */
		snprintf(r->id, sizeof(r->id), "%s", li->dep);
		rc = mdeploy_deploy__agent_event(r, after.id[i], after.root[i], after.addr[i], "ValidateService");
		memcpy(r->id, saved, sizeof(saved));
		if (rc || (rc = mdeploy_lb_register(r->p, r->lb, after.id[i], 0, MDEPLOY_TARGET_READY)))
			goto out;
	}
	rc = mdeploy_deploy__wait_healthy(r, li->fleet);
out:
	memcpy(r->id, saved, sizeof(saved));
	mdeploy_provider_free(boot);
	return rc;
}

/* Replace the dead and unhealthy instances of the live fleet; the group lock is held. */
static int heal_locked(mdeploy_deploy__run *r, const struct live_info *li, size_t *replaced)
{
	char (*ids)[32] = NULL;
	const char *bad[64];
	inst_list l;
	target_list t;
	size_t i, n, k = 0;
	int rc;

	if ((rc = mdeploy_deploy__instances(r, li->fleet, &l)) || (rc = mdeploy_deploy__targets(r, &t)))
		return rc;
	if (!(n = find_unhealthy(&l, &t, bad)))
		return 0;
	if (!(ids = calloc(n, sizeof(*ids))))
		return mdeploy__error_oom();
	for (i = 0; i < l.n; i++)
		if (bad[i]) {
			mdeploy__log(r->ctx, MDEPLOY_LOG_WARN, "deploy", "group %s: replacing instance %s of %s: %s",
			             r->g->name, l.id[i], li->fleet, bad[i]);
			snprintf(ids[k++], sizeof(ids[0]), "%s", l.id[i]);
		}
	/* Nothing to drain: a dead or DOWN instance takes no request. */
	if ((rc = remove_instances(r, ids, k, 0)) == 0)
		rc = add_instances(r, li, li->sizes[0], li->sizes[1], li->sizes[2]);
	if (rc == 0 && replaced)
		*replaced += k;
	free(ids);
	return rc;
}

/* Heal the live fleet of a run holding the group lock (deploy create); nothing live: nothing to do. */
int mdeploy_deploy__heal_live(mdeploy_deploy__run *r)
{
	struct live_info li;
	char green[128];
	int rc;
	snprintf(green, sizeof(green), "%s", r->green);
	if (live_load(r, NULL, &li)) {
		mdeploy_error_clear();
		snprintf(r->green, sizeof(r->green), "%s", green);
		return 0;
	}
	rc = heal_locked(r, &li, NULL);
	snprintf(r->green, sizeof(r->green), "%s", green);
	live_dispose(&li);
	return rc;
}

int mdeploy_deploy_scale(mdeploy_ctx *ctx, const mdeploy_config *cfg, const mdeploy_deploy_options *opts,
                         const char *fleet, unsigned int desired, unsigned int min, unsigned int max)
{
	mdeploy_deploy__run r;
	struct live_info li;
	char owner[64];
	inst_list l;
	target_list t;
	int rc;

	memset(&li, 0, sizeof(li));
	if (!opts)
		return mdeploy__error_set(MDEPLOY_EINVALID, CLS, "scale options are required");
	if ((rc = mdeploy_deploy__run_open(&r, ctx, cfg, opts, opts->group)))
		goto out;
	snprintf(owner, sizeof(owner), "scale-%ld", (long)getpid());
	if ((rc = mdeploy_deploy__lock_take_new(&r, owner, opts->lock_wait_ms)))
		goto out;
	if ((rc = mdeploy_deploy__refuse_stopped(&r)) || (rc = live_load(&r, fleet, &li)))
		goto unlock;
	if ((rc = mdeploy_deploy__instances(&r, li.fleet, &l)) || (rc = mdeploy_deploy__targets(&r, &t)))
		goto unlock;
	if (desired < l.n) {
		/* Scale-in: unhealthy instances first, then the newest. */
		char (*ids)[32] = calloc(l.n, sizeof(*ids));
		const char *bad[64];
		size_t i, k = 0, go = l.n - desired;
		if (!ids) {
			rc = mdeploy__error_oom();
			goto unlock;
		}
		find_unhealthy(&l, &t, bad);
		for (i = 0; i < l.n && k < go; i++)
			if (bad[i])
				snprintf(ids[k++], sizeof(ids[0]), "%s", l.id[i]);
		for (i = l.n; i-- > 0 && k < go;)
			if (!bad[i])
				snprintf(ids[k++], sizeof(ids[0]), "%s", l.id[i]);
		rc = remove_instances(&r, ids, k, 1);
		free(ids);
		if (rc || (rc = mdeploy_fleet_scale(r.p, li.fleet, desired, min ? min : li.sizes[1], max)) ||
		    (rc = mdeploy_deploy__fleet_sizes(&r, li.fleet, li.sizes)))
			goto unlock;
		/* More unhealthy instances than surplus ones: the rest are replaced. */
		rc = heal_locked(&r, &li, NULL);
		goto unlock;
	}
	/* A dead instance is replaced first: it would fail the health gate of the new size. */
	if ((rc = heal_locked(&r, &li, NULL)))
		goto unlock;
	rc = add_instances(&r, &li, desired, min, max);
unlock:
	mdeploy_deploy__unlock_keep_error(&r, rc);
	mdeploy_deploy__retire_after(&r, rc);
out:
	live_dispose(&li);
	mdeploy_deploy__run_dispose(&r);
	return rc;
}

static int heal_group(mdeploy_ctx *ctx, const mdeploy_config *cfg, const mdeploy_deploy_options *opts,
                      const char *group, const char *fleet, size_t *replaced)
{
	mdeploy_deploy__run r;
	struct live_info li;
	char owner[64];
	int rc;

	memset(&li, 0, sizeof(li));
	if ((rc = mdeploy_deploy__run_open(&r, ctx, cfg, opts, group)))
		goto out;
	{
		/* Look first, lock only when something needs replacing: a healthy group is never held. */
		inst_list l;
		target_list t;
		const char *bad[64];
		/* Without its load balancer (a host restarted, a test torn down) no health can be verified:
		 * 'group start' or a deployment brings the group back. */
		if (!mdeploy_lb_running(r.p, r.lb))
			goto out;
		if (live_load(&r, fleet, &li)) {
			rc = fleet ? mdeploy_error_last()->code : 0;
			if (!rc)
				mdeploy_error_clear();
			goto out;
		}
		if ((rc = mdeploy_deploy__instances(&r, li.fleet, &l)) || (rc = mdeploy_deploy__targets(&r, &t)))
			goto out;
		if (!find_unhealthy(&l, &t, bad))
			goto out;
		live_dispose(&li);
	}
	snprintf(owner, sizeof(owner), "heal-%ld", (long)getpid());
	if ((rc = mdeploy_deploy__lock_take_new(&r, owner, opts->lock_wait_ms)))
		goto out;
	/* A stopped group's instances are stopped on purpose; a group with nothing live has nothing to heal. */
	if (mdeploy_deploy__refuse_stopped(&r)) {
		mdeploy_error_clear();
		goto unlock;
	}
	if ((rc = live_load(&r, fleet, &li))) {
		if (rc == MDEPLOY_ENOTFOUND && !fleet) {
			mdeploy_error_clear();
			rc = 0;
		}
		goto unlock;
	}
	rc = heal_locked(&r, &li, replaced);
unlock:
	mdeploy_deploy__unlock_keep_error(&r, rc);
	mdeploy_deploy__retire_after(&r, rc);
out:
	live_dispose(&li);
	mdeploy_deploy__run_dispose(&r);
	return rc;
}

int mdeploy_deploy_heal(mdeploy_ctx *ctx, const mdeploy_config *cfg, const mdeploy_deploy_options *opts,
                        const char *fleet, size_t *replaced)
{
	mdeploy_deploy_options def = MDEPLOY_DEPLOY_OPTIONS_INIT;
	size_t i;
	int rc;

	if (replaced)
		*replaced = 0;
	if (!ctx || !cfg)
		return mdeploy__error_set(MDEPLOY_EINVALID, CLS, "context and configuration are required");
	if (!opts)
		opts = &def;
	if (opts->group)
		return heal_group(ctx, cfg, opts, opts->group, fleet, replaced);
	for (i = 0; i < mdeploy_config_group_count(cfg); i++) {
		rc = heal_group(ctx, cfg, opts, mdeploy_config_group_at(cfg, i)->name, NULL, replaced);
		/* A group busy with a deployment heals after it; an interrupted one waits for resume or stop. */
		if (rc == MDEPLOY_ELOCKED || rc == MDEPLOY_ECONFLICT)
			mdeploy_error_clear();
		else if (rc)
			return rc;
	}
	return 0;
}
