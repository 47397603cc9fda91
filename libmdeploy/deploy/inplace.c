/*
 * inplace.c - in-place deployments: batches of the live fleet blocked,
 * installed and allowed back, and their revert.
 */
#include "deploy_private.h"
#include "store/store_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLS MDEPLOY_ERROR_CLASS_DEPLOY

/* BeforeBlockTraffic, drain, AfterBlockTraffic, out of rotation. */
static int s_block(mdeploy_deploy__run *r, const char *target, void *arg)
{
	struct inst_arg *ia = arg;
	mdeploy_lb_change ch = { NULL, -1, MDEPLOY_TARGET_DRAIN };
	target_list t;
	uint64_t t0;
	size_t i;
	int rc;

	ch.instance = target;
	if ((rc = mdeploy_deploy__agent_event(r, target, ia->root, ia->addr, "BeforeBlockTraffic")))
		return rc;
	if ((rc = mdeploy_lb_apply(r->p, r->lb, &ch, 1)))
		return rc;
	for (t0 = mdeploy__now_ms();;) {
		uint64_t sessions = 0;
		if ((rc = mdeploy_deploy__targets(r, &t)))
			return rc;
		for (i = 0; i < t.n; i++)
			if (!strcmp(t.t[i].instance, target))
				sessions += t.t[i].sessions;
		if (sessions == 0 || mdeploy__now_ms() - t0 > r->g->drain_timeout_ms)
			break;
		if ((rc = mdeploy_deploy__wait_for(r, mdeploy_deploy__lb_poll_ms(r))))
			return rc;
	}
	ch.state = MDEPLOY_TARGET_MAINT;
	if ((rc = mdeploy_lb_apply(r->p, r->lb, &ch, 1)))
		return rc;
	return mdeploy_deploy__agent_event(r, target, ia->root, ia->addr, "AfterBlockTraffic");
}

/* BeforeAllowTraffic, back in rotation once healthy, AfterAllowTraffic. */
static int s_allow(mdeploy_deploy__run *r, const char *target, void *arg)
{
	struct inst_arg *ia = arg;
	mdeploy_lb_change ch = { NULL, -1, MDEPLOY_TARGET_READY };
	uint64_t t0 = mdeploy__now_ms();
	unsigned int limit = r->g->health_interval_ms * (r->g->healthy_threshold + 2) + r->g->health_timeout_ms + 10000;
	target_list t;
	size_t i;
	int rc, up = 0;

	ch.instance = target;
	if ((rc = mdeploy_deploy__agent_event(r, target, ia->root, ia->addr, "BeforeAllowTraffic")))
		return rc;
	if ((rc = mdeploy_lb_apply(r->p, r->lb, &ch, 1)))
		return rc;
	while (!up) {
		if ((rc = mdeploy_deploy__targets(r, &t)))
			return rc;
		for (i = 0; i < t.n; i++)
			if (!strcmp(t.t[i].instance, target) && !strncmp(t.t[i].health, "UP", 2))
				up = 1;
		if (up)
			break;
		if (mdeploy__now_ms() - t0 > limit)
			return mdeploy__error_set(MDEPLOY_ETIMEOUT, CLS, "instance %s did not pass the health check (%s) in %u ms",
			                          target, r->g->health_path, limit);
		if ((rc = mdeploy_deploy__wait_for(r, mdeploy_deploy__lb_poll_ms(r))))
			return rc;
	}
	return mdeploy_deploy__agent_event(r, target, ia->root, ia->addr, "AfterAllowTraffic");
}

/* Put an instance back on the release it had before this deployment. */
static int s_revert(mdeploy_deploy__run *r, const char *target, void *arg)
{
	struct inst_arg *ia = arg;
	mdeploy_agent_options ao = MDEPLOY_AGENT_OPTIONS_INIT;
	mdeploy_agent_deployment d;
	mdeploy_agent *agent = NULL;
	char gid[160];
	int rc;
	ao.ctx = r->ctx;
	if ((rc = mdeploy_agent_open(&agent, ia->root, &ao)))
		return rc;
	/* The agent already restored a failed install; roll back only what went live
	 * (the previous release's hooks get the group's environment too). */
	if (mdeploy_agent_last_successful(agent) && !strcmp(mdeploy_agent_last_successful(agent), r->id) &&
	    (rc = mdeploy_deploy__agent_deployment(r, &d, target, ia->addr, gid, sizeof(gid), 0)) == 0)
		rc = mdeploy_agent_rollback(agent, &d);
	mdeploy_agent_free(agent);
	if (rc == MDEPLOY_ENOTFOUND)
		rc = 0;
	if (!rc)
		rc = mdeploy_instance_restart(r->p, target);
	return rc;
}

/* Every instance that went live on this deployment's release goes back, one at a time. */
int mdeploy_deploy__inplace_revert(mdeploy_deploy__run *r)
{
	inst_list l;
	size_t i;
	int rc;
	if ((rc = mdeploy_deploy__instances(r, r->green, &l)))
		return rc;
	for (i = 0; i < l.n; i++) {
		struct inst_arg ia = { l.root[i], l.addr[i] };
		if (!mdeploy_deploy__is_done(r, "install", l.id[i]))
			continue;
		if ((rc = mdeploy_deploy__step(r, "rollback-block", l.id[i], s_block, &ia)) ||
		    (rc = mdeploy_deploy__step(r, "rollback-instance", l.id[i], s_revert, &ia)) ||
		    (rc = mdeploy_deploy__step(r, "rollback-allow", l.id[i], s_allow, &ia))) {
			mdeploy_store_deployment_set_status(r->store, r->id, "Failed", mdeploy_error_last()->message);
			return rc;
		}
	}
	/* And any instance left out of rotation comes back. */
	for (i = 0; i < l.n; i++) {
		struct inst_arg ia = { l.root[i], l.addr[i] };
		if (mdeploy_deploy__is_done(r, "block", l.id[i]) && !mdeploy_deploy__is_done(r, "allow", l.id[i]) &&
		    (rc = mdeploy_deploy__step(r, "rollback-allow", l.id[i], s_allow, &ia))) {
			mdeploy_store_deployment_set_status(r->store, r->id, "Failed", mdeploy_error_last()->message);
			return rc;
		}
	}
	return 0;
}

int mdeploy_deploy__in_place(mdeploy_deploy__run *r)
{
	const mdeploy_deployment_config *c = &r->g->config;
	inst_list l;
	unsigned int min_healthy = 0, batch = 1, succeeded = 0, failed = 0;
	size_t k, i;
	int rc = 0, last_failed_only = 0;
	char err[2048] = "", *flag = NULL;

	if (r->g->cdn_distribution)
		(void)mdeploy__error_set(MDEPLOY_EUNSUPPORTED, MDEPLOY_ERROR_CLASS_DEPLOY, "group %s names a CDN "
		                         "(cdn.distribution): its invalidation after a cutover is done by blue/green "
		                         "deployments only", r->g->name);
	if (r->g->cdn_distribution || (mdeploy_provider_pulls(r->p) && (rc = mdeploy_deploy__pull_check(r, 0, 1)))) {
		char msg[2048];
		rc = rc ? rc : MDEPLOY_EUNSUPPORTED;
		snprintf(msg, sizeof(msg), "%s", mdeploy_error_last()->message);
		mdeploy_store_deployment_set_status(r->store, r->id, "Failed", msg);
		return mdeploy__error_set(rc, MDEPLOY_ERROR_CLASS_DEPLOY, "%s", msg);
	}
	{
		int rolling = 0;
		mdeploy_store_journal_foreach(r->store, r->id, mdeploy_deploy__is_rollback_journal, &rolling);
		if (mdeploy_deploy__flag_get(r->store, r->id, "stop", &flag) == 0 && !strcmp(flag, "rollback"))
			rolling = 1;
		free(flag);
		mdeploy_error_clear();
		if (rolling)
			return mdeploy_deploy__rollback(r, "resumed an interrupted rollback");
	}
	mdeploy_store_deployment_set_status(r->store, r->id, "InProgress", NULL);
	if ((rc = mdeploy_deploy__step(r, "load-balancer", r->lb, mdeploy_deploy__s_lb, NULL)))
		goto failed;
	if ((rc = mdeploy_deploy__instances(r, r->green, &l)))
		goto failed;
	if ((rc = mdeploy_deployment_config_plan(c, (unsigned int)l.n, &min_healthy, &batch)))
		goto failed;
	mdeploy__log(r->ctx, MDEPLOY_LOG_INFO, "deploy", "%s: in place on %s: %zu instances, batches of %u, %u kept healthy",
	             r->id, r->green, l.n, batch, min_healthy);
	for (k = 0; k < l.n; k += batch) {
		size_t end = k + batch < l.n ? k + batch : l.n;
		for (i = k; i < end; i++) {
			struct inst_arg ia = { l.root[i], l.addr[i] };
			if ((rc = mdeploy_deploy__step(r, "block", l.id[i], s_block, &ia)))
				goto failed;
		}
		for (i = k; i < end; i++) {
			struct install_arg ia = { l.root[i], l.addr[i], i == 0, 0 };
			struct inst_arg ib = { l.root[i], l.addr[i] };
			if (mdeploy_deploy__step(r, "install", l.id[i], mdeploy_deploy__s_install, &ia) == 0) {
				succeeded++;
				last_failed_only = 0;
			} else {
				if (mdeploy_error_last()->code == MDEPLOY_ECONFLICT && strstr(mdeploy_error_last()->message, "stopped")) {
					rc = MDEPLOY_ECONFLICT;
					goto failed;
				}
				if (!err[0])
					snprintf(err, sizeof(err), "%s", mdeploy_error_last()->message);
				mdeploy__log(r->ctx, MDEPLOY_LOG_WARN, "deploy", "%s", mdeploy_error_last()->message);
				failed++;
				last_failed_only = i + 1 == l.n;
				/* The agent put the old release back; the server must serve it again. */
				if ((rc = mdeploy_deploy__step(r, "revert", l.id[i], s_revert, &ib)))
					goto failed;
			}
		}
		for (i = k; i < end; i++) {
			struct inst_arg ia = { l.root[i], l.addr[i] };
			if ((rc = mdeploy_deploy__step(r, "allow", l.id[i], s_allow, &ia)))
				goto failed;
		}
		/* CodeDeploy stops once the healthy hosts would fall below the minimum. */
		if (failed && l.n - failed < min_healthy) {
			rc = mdeploy__error_set(MDEPLOY_EHOOK, CLS, "%u instance%s failed; fewer than %u would stay healthy: %s",
			                        failed, failed == 1 ? "" : "s", min_healthy, err);
			goto failed;
		}
	}
	if (!mdeploy_deployment_config_succeeded(c, (unsigned int)l.n, succeeded, last_failed_only)) {
		rc = mdeploy__error_set(MDEPLOY_EHOOK, CLS, "%u of %zu instances succeeded, %s needs more: %s",
		                        succeeded, l.n, c->name, err);
		goto failed;
	}
	if ((rc = mdeploy_deploy__step(r, "finish", r->green, mdeploy_deploy__s_finish, NULL)))
		goto failed;
	mdeploy_store_deployment_set_status(r->store, r->id, "Succeeded", failed ? err : NULL);
	return 0;
failed:
	{
		char msg[2048];
		int code = mdeploy_error_last()->code ? mdeploy_error_last()->code : rc;
		snprintf(msg, sizeof(msg), "%s", mdeploy_error_last()->message);
		mdeploy_deploy__keep_fleet_logs(r, r->green, msg, sizeof(msg));
		mdeploy_deploy__flag_set(r->store, r->id, "stop", NULL);
		if (r->g->rollback_on_failure) {
			if (mdeploy_deploy__inplace_revert(r))
				return mdeploy_error_last()->code ? mdeploy_error_last()->code : MDEPLOY_ERROR;
			mdeploy_store_deployment_set_status(r->store, r->id, "RolledBack", msg);
			return mdeploy__error_set(MDEPLOY_EHOOK, CLS, "deployment %s rolled back: %s", r->id, msg);
		}
		mdeploy_store_deployment_set_status(r->store, r->id, "Failed", msg);
		return mdeploy__error_set(code, CLS, "%s", msg);
	}
}
