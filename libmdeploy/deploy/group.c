/*
 * group.c - stopping and starting a deployment group without losing it.
 *
 * Stop: the group is marked stopped first (so an interrupted stop is
 * finished by running it again, and nothing deploys, scales or heals it
 * meanwhile), its cron runner ends (cron.c: it sees the mark; a run in
 * progress finishes first), the live fleet's targets drain and go into maintenance at the
 * load balancer (which then answers 503 and reports them MAINT; the fleets
 * keep their weights), the retained fleet's too, and every instance of both is
 * stopped. Fleets, releases and the group's state stay.
 *
 * Start: the instances start again on the release they hold (`current`),
 * the live targets leave maintenance, which makes them unhealthy until
 * `healthy_threshold` real checks passed (see mdeploy_lb_register()), and
 * the group is marked running only once every live instance passed them.
 */
#include "deploy_private.h"
#include "store/store_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLS MDEPLOY_ERROR_CLASS_DEPLOY

int mdeploy_deploy__refuse_stopped(mdeploy_deploy__run *r)
{
	char *v = NULL;
	if (mdeploy_deploy__value_get(r, "stopped", &v)) {
		mdeploy_error_clear();
		return 0;
	}
	free(v);
	return mdeploy__error_set(MDEPLOY_ECONFLICT, CLS, "group %s is stopped: run 'mdeploy group start %s' first",
	                          r->g->name, r->g->name);
}

/* Set the state of every registered target of `fleet`; weights are the fleets' and stay. */
static int fleet_state(mdeploy_deploy__run *r, const char *fleet, mdeploy_target_state state)
{
	inst_list l;
	target_list t;
	mdeploy_lb_change ch[128];
	size_t i, n = 0;
	int rc;

	if (!mdeploy_lb_running(r->p, r->lb))
		return 0;
	if ((rc = mdeploy_deploy__instances(r, fleet, &l)) || (rc = mdeploy_deploy__targets(r, &t)))
		return rc;
	for (i = 0; i < t.n && n < 128; i++)
		if (mdeploy_deploy__in_list(&l, t.t[i].instance) &&
		    strcmp(t.t[i].state, state == MDEPLOY_TARGET_MAINT ? "maint" : state == MDEPLOY_TARGET_DRAIN ? "drain" : "ready")) {
			ch[n].instance = t.t[i].instance;
			ch[n].weight = -1;
			ch[n].state = (int)state;
			n++;
		}
	return n ? mdeploy_lb_apply(r->p, r->lb, ch, n) : 0;
}

/* Wait until the targets of `fleet` hold no session, at most drain_timeout. */
static int wait_drained(mdeploy_deploy__run *r, const char *fleet)
{
	uint64_t t0 = mdeploy__now_ms(), sessions;
	inst_list l;
	target_list t;
	size_t i;
	int rc;

	if (!mdeploy_lb_running(r->p, r->lb))
		return 0;
	if ((rc = mdeploy_deploy__instances(r, fleet, &l)))
		return rc;
	for (;;) {
		if ((rc = mdeploy_deploy__targets(r, &t)))
			return rc;
		for (i = 0, sessions = 0; i < t.n; i++)
			if (mdeploy_deploy__in_list(&l, t.t[i].instance))
				sessions += t.t[i].sessions;
		if (!sessions || mdeploy__now_ms() - t0 > r->g->drain_timeout_ms)
			return 0;
		if ((rc = mdeploy_deploy__wait_for(r, mdeploy_deploy__lb_poll_ms(r))))
			return rc;
	}
}

static int fleet_instances(mdeploy_deploy__run *r, const char *fleet, int start, size_t *count)
{
	inst_list l;
	size_t i;
	int rc;
	if ((rc = mdeploy_deploy__instances(r, fleet, &l)))
		return rc;
	for (i = 0; i < l.n; i++) {
		if (l.running[i] == start)
			continue;
		if ((rc = start ? mdeploy_instance_start(r->p, l.id[i]) : mdeploy_instance_stop(r->p, l.id[i])))
			return rc;
		if (count)
			(*count)++;
	}
	return 0;
}

/* The group's live and retained fleets (retained "" when none, or gone). */
static int group_fleets(mdeploy_deploy__run *r, char *live, size_t nl, char *retained, size_t nr)
{
	char *v = NULL, bundle[8];
	unsigned int sizes[3];
	int64_t until;
	if (mdeploy_deploy__value_get(r, "live", &v) || mdeploy_deploy__fleet_sizes(r, v, sizes)) {
		free(v);
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS, "group %s has no live fleet", r->g->name);
	}
	snprintf(live, nl, "%s", v);
	free(v);
	retained[0] = '\0';
	if (mdeploy_deploy__retained_get(r, retained, nr, &until, bundle, sizeof(bundle)) ||
	    !strcmp(retained, live) || mdeploy_deploy__fleet_sizes(r, retained, sizes))
		retained[0] = '\0';
	mdeploy_error_clear();
	return 0;
}

static int group_open(mdeploy_deploy__run *r, mdeploy_ctx *ctx, const mdeploy_config *cfg,
                      const mdeploy_deploy_options *opts, const char *what)
{
	char owner[64];
	int rc;
	if (!ctx || !cfg || !opts)
		return mdeploy__error_set(MDEPLOY_EINVALID, CLS, "context, configuration and options are required");
	if ((rc = mdeploy_deploy__run_open(r, ctx, cfg, opts, opts->group)))
		return rc;
	snprintf(owner, sizeof(owner), "%s-%ld", what, (long)getpid());
	return mdeploy_deploy__lock_take_new(r, owner, opts->lock_wait_ms);
}

int mdeploy_group_stop(mdeploy_ctx *ctx, const mdeploy_config *cfg, const mdeploy_deploy_options *opts,
                       size_t *stopped)
{
	mdeploy_deploy__run r;
	char live[128], retained[128], since[48], *v = NULL;
	int rc;

	if (stopped)
		*stopped = 0;
	memset(&r, 0, sizeof(r));
	if ((rc = group_open(&r, ctx, cfg, opts, "group-stop")))
		goto out;
	if ((rc = group_fleets(&r, live, sizeof(live), retained, sizeof(retained))))
		goto unlock;
	/* First the mark: a stop interrupted half-way is finished by the next one. */
	if (mdeploy_deploy__value_get(&r, "stopped", &v)) {
		mdeploy_error_clear();
		/* "since_ms": the fleets keep their weights at the load balancer meanwhile. */
		snprintf(since, sizeof(since), "%lld", (long long)mdeploy_store__unix_ms());
		if ((rc = mdeploy_deploy__value_set(&r, "stopped", since)))
			goto unlock;
	}
	free(v);
	/* The group's cron runner ends once it sees the mark (a run in progress finishes first). */
	if ((rc = mdeploy_deploy__cron_runner_wait(&r, 600000)))
		goto unlock;
	mdeploy__log(ctx, MDEPLOY_LOG_INFO, "deploy", "group %s: stopping %s%s%s", r.g->name, live,
	             retained[0] ? " and the retained " : "", retained);
	if ((rc = fleet_state(&r, live, MDEPLOY_TARGET_DRAIN)) || (rc = wait_drained(&r, live)) ||
	    (rc = fleet_state(&r, live, MDEPLOY_TARGET_MAINT)) ||
	    (retained[0] && (rc = fleet_state(&r, retained, MDEPLOY_TARGET_MAINT))) ||
	    (rc = fleet_instances(&r, live, 0, stopped)) ||
	    (retained[0] && (rc = fleet_instances(&r, retained, 0, stopped))))
		goto unlock;
	mdeploy__log(ctx, MDEPLOY_LOG_INFO, "deploy", "group %s is stopped; 'mdeploy group start %s' brings %s back",
	             r.g->name, r.g->name, live);
unlock:
	mdeploy_deploy__unlock_keep_error(&r, rc);
	mdeploy_deploy__retire_after(&r, rc);
out:
	mdeploy_deploy__run_dispose(&r);
	return rc;
}

int mdeploy_group_start(mdeploy_ctx *ctx, const mdeploy_config *cfg, const mdeploy_deploy_options *opts,
                        size_t *started)
{
	mdeploy_deploy__run r;
	char live[128], retained[128], *v = NULL;
	int rc;

	if (started)
		*started = 0;
	memset(&r, 0, sizeof(r));
	if ((rc = group_open(&r, ctx, cfg, opts, "group-start")))
		goto out;
	if (mdeploy_deploy__value_get(&r, "stopped", &v)) {
		mdeploy_error_clear();
		mdeploy__log(ctx, MDEPLOY_LOG_INFO, "deploy", "group %s is not stopped", r.g->name);
		goto unlock;
	}
	free(v);
	if ((rc = group_fleets(&r, live, sizeof(live), retained, sizeof(retained))))
		goto unlock;
	/* The load balancer may have gone with the host: from its saved configuration and state. */
	if ((rc = mdeploy_deploy__s_lb(&r, r.lb, NULL)))
		goto unlock;
	if ((rc = fleet_instances(&r, live, 1, started)) || (rc = fleet_state(&r, live, MDEPLOY_TARGET_READY)))
		goto unlock;
	if ((rc = mdeploy_deploy__wait_healthy(&r, live))) {
		mdeploy__error_prefix("group %s stays stopped", r.g->name);
		goto unlock;
	}
	/* The retained fleet as it was: warm, drained, fleet weight 0, for an instant rollback. */
	if (retained[0] && ((rc = fleet_instances(&r, retained, 1, started)) ||
	                    (rc = fleet_state(&r, retained, MDEPLOY_TARGET_DRAIN))))
		goto unlock;
	if ((rc = mdeploy_deploy__value_set(&r, "stopped", NULL)))
		goto unlock;
	mdeploy__log(ctx, MDEPLOY_LOG_INFO, "deploy", "group %s runs again on %s", r.g->name, live);
unlock:
	mdeploy_deploy__unlock_keep_error(&r, rc);
	mdeploy_deploy__retire_after(&r, rc);
out:
	mdeploy_deploy__run_dispose(&r);
	return rc;
}

int mdeploy_group_stopped(mdeploy_ctx *ctx, const char *application, const char *group, int64_t *since_ms)
{
	mdeploy_store *st = NULL;
	char key[320], *v = NULL;
	int rc;
	if (since_ms)
		*since_ms = 0;
	if (!ctx || !application || !group)
		return 0;
	if (mdeploy_store_open(&st, ctx, NULL)) {
		mdeploy_error_clear();
		return 0;
	}
	snprintf(key, sizeof(key), "deploy/%s/%s/stopped", application, group);
	rc = mdeploy_store_value_get(st, key, &v) == 0;
	if (rc && since_ms)
		*since_ms = strtoll(v, NULL, 10);
	free(v);
	mdeploy_store_free(st);
	mdeploy_error_clear();
	return rc;
}
