/*
 * bluegreen.c - the blue/green flow: load balancer, green fleet, installs,
 * registration, health, optional manual promotion, traffic shift, watch,
 * drain of blue and finish; on failure, stop or roll back.
 */
#include "deploy_private.h"
#include "store/store_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLS MDEPLOY_ERROR_CLASS_DEPLOY

int mdeploy_deploy__s_lb(mdeploy_deploy__run *r, const char *target, void *arg)
{
	mdeploy_lb_options lo = MDEPLOY_LB_OPTIONS_INIT;
	char *cert;
	int rc;
	(void)target; (void)arg;
	lo.bind = r->g->listen;
	lo.slots = r->g->slots;
	lo.health_path = r->g->health_path;
	lo.health_status = r->g->health_status;
	lo.health_interval_ms = r->g->health_interval_ms;
	lo.health_timeout_ms = r->g->health_timeout_ms;
	lo.healthy_threshold = r->g->healthy_threshold;
	lo.unhealthy_threshold = r->g->unhealthy_threshold;
	lo.health_host = r->g->health_host;
	lo.drain_timeout_ms = r->g->drain_timeout_ms;
	cert = mdeploy_deploy__lb_cert(r->p, r->g);
	lo.tls_cert = cert;
	rc = mdeploy_lb_ensure(r->p, r->lb, &lo);
	free(cert);
	return rc;
}

static int s_create(mdeploy_deploy__run *r, const char *target, void *arg)
{
	mdeploy_fleet_options fo = MDEPLOY_FLEET_OPTIONS_INIT;
	unsigned int sizes[3] = { r->g->size, r->g->min, r->g->max }, have[3];
	inst_list l;
	char tags[512];
	int rc;
	(void)arg;

	/* Green is a copy of blue's size; a first fleet takes the group's. */
	if (r->blue[0] && mdeploy_deploy__fleet_sizes(r, r->blue, sizes) != 0)
		memcpy(sizes, (unsigned int[3]){ r->g->size, r->g->min, r->g->max }, sizeof(sizes));
	if (mdeploy_deploy__fleet_sizes(r, target, have) == 0) {
		/* A crash during creation: keep a complete fleet, redo a partial one. */
		if ((rc = mdeploy_deploy__instances(r, target, &l)))
			return rc;
		if (l.n == have[0])
			return 0;
		if ((rc = mdeploy_deploy__retire_fleet(r, target)))
			return rc;
	}
	fo.desired = sizes[0];
	fo.min = sizes[1];
	fo.max = sizes[2];
	fo.port = r->g->port;
	fo.start = 0;
	fo.launch_template = r->g->launch_template;
	fo.subnets = r->g->subnets;
	snprintf(tags, sizeof(tags), "{\"application\":\"%s\",\"group\":\"%s\",\"deployment\":\"%s\"}",
	         r->app, r->g->name, r->id);
	fo.tags = tags;
	if (mdeploy_provider_pulls(r->p)) {
		/* Its instances install the release themselves at boot (pull.c). */
		mdeploy_agent_boot boot;
		if ((rc = mdeploy_deploy__pull_boot(r, &boot)))
			return rc;
		fo.agent = &boot;
		rc = mdeploy_fleet_create(r->p, target, &fo);
		mdeploy_deploy__pull_boot_free(&boot);
		return rc;
	}
	return mdeploy_fleet_create(r->p, target, &fo);
}

static int s_register(mdeploy_deploy__run *r, const char *target, void *arg)
{
	target_list t;
	size_t i;
	int rc;
	(void)arg;
	if ((rc = mdeploy_deploy__targets(r, &t)))
		return rc;
	for (i = 0; i < t.n; i++)
		if (!strcmp(t.t[i].instance, target))
			return 0; /* registered before a crash, and maybe already weighted */
	return mdeploy_lb_register(r->p, r->lb, target, 0, MDEPLOY_TARGET_READY);
}

static int s_promote(mdeploy_deploy__run *r, const char *target, void *arg)
{
	char *flag = NULL;
	int rc;
	(void)target; (void)arg;
	mdeploy_store_deployment_set_status(r->store, r->id, "Ready", NULL);
	mdeploy__log(r->ctx, MDEPLOY_LOG_INFO, "deploy", "%s: green fleet %s is ready; waiting for 'mdeploy deploy promote %s'",
	             r->id, r->green, r->id);
	while (mdeploy_deploy__flag_get(r->store, r->id, "promote", &flag) != 0) {
		if ((rc = mdeploy_deploy__wait_for(r, 100)))
			return rc;
	}
	free(flag);
	mdeploy_error_clear();
	return mdeploy_store_deployment_set_status(r->store, r->id, "InProgress", NULL);
}

/*
 * As CodeDeploy does: the next batch of `width` instances starts only if,
 * with the `failed` ones and the batch itself out, `min_healthy` can still
 * be met. Otherwise installing goes no further and the deployment fails
 * (and rolls back) with the first failure `err`.
 */
static int batch_allowed(mdeploy_deploy__run *r, const inst_list *l, size_t failed, size_t width,
                         unsigned int min_healthy, const char *err)
{
	if (!failed || (long)l->n - (long)failed - (long)width >= (long)min_healthy)
		return 0;
	return mdeploy__error_set(MDEPLOY_EHOOK, MDEPLOY_ERROR_CLASS_DEPLOY,
		"%zu of %zu instances failed and %s needs %u healthy: the next batch of %zu was not installed: %s",
		failed, l->n, r->g->config.name, min_healthy, width, err);
}

int mdeploy_deploy__blue_green(mdeploy_deploy__run *r)
{
	mdeploy_deployment_config *c = (mdeploy_deployment_config *)&r->g->config;
	inst_list l;
	int ires[64];
	char (*imsg)[1024] = NULL;
	/* The upgrade gate (gate.c); a first install takes it too, without blue. */
	int gate = r->upgrade && (r->blue[0] || r->kind == MDEPLOY_PLAN_INSTALL);
	const char *dbstep = r->kind == MDEPLOY_PLAN_INSTALL ? "install-site" : "upgrade";
	unsigned int pcts[101], npct = 0, pct, succeeded = 0;
	size_t i;
	int rc, last_failed_only = 0;
	char err[2048] = "", stop[16] = "", *flag = NULL;

	if (mdeploy_deploy__flag_get(r->store, r->id, "stop", &flag) == 0) {
		snprintf(stop, sizeof(stop), "%s", flag);
		free(flag);
	}
	mdeploy_error_clear();
	{
		int rolling = 0;
		mdeploy_store_journal_foreach(r->store, r->id, mdeploy_deploy__is_rollback_journal, &rolling);
		if (rolling || !strcmp(stop, "rollback"))
			return mdeploy_deploy__rollback(r, rolling ? "resumed an interrupted rollback" : "stopped on request");
	}
	if (r->g->cdn_distribution && !mdeploy_provider_cdn(r->p)) {
		/* Before anything changed: a cutover the CDN would not hear of is refused. */
		rc = mdeploy__error_set(MDEPLOY_EUNSUPPORTED, CLS, "group %s names a CDN (cdn.distribution %s) and "
		                        "provider %s has none", r->g->name, r->g->cdn_distribution,
		                        mdeploy_provider_name(r->p));
		mdeploy_store_deployment_set_status(r->store, r->id, "Failed", mdeploy_error_last()->message);
		return rc;
	}
	if (mdeploy_provider_pulls(r->p)) {
		/* The gate of a first release without blue and without `scope: once` hooks (refused
		 * here) has nothing to do but validate after installing: the agents do that. */
		if ((rc = mdeploy_deploy__pull_check(r, gate && r->blue[0], 0))) {
			/* Before anything changed: nothing to roll back. */
			char msg[2048];
			snprintf(msg, sizeof(msg), "%s", mdeploy_error_last()->message);
			mdeploy_store_deployment_set_status(r->store, r->id, "Failed", msg);
			return mdeploy__error_set(rc, CLS, "%s", msg);
		}
		gate = 0;
	}
	mdeploy_store_deployment_set_status(r->store, r->id, "InProgress", NULL);

	if ((rc = mdeploy_deploy__step(r, "load-balancer", r->lb, mdeploy_deploy__s_lb, NULL)))
		goto failed;
	{
		/* An older retained fleet goes early when green needs its load balancer slots. */
		char old[128], oldb[4096];
		unsigned int sizes[3] = { r->g->size, r->g->min, r->g->max };
		int64_t until;
		target_list t;
		if (mdeploy_deploy__retained_get(r, old, sizeof(old), &until, oldb, sizeof(oldb)) == 0 && strcmp(old, r->blue) &&
		    strcmp(old, r->green) && !mdeploy_deploy__is_done(r, "create-fleet", r->green)) {
			if (r->blue[0])
				mdeploy_deploy__fleet_sizes(r, r->blue, sizes);
			if ((rc = mdeploy_deploy__targets(r, &t)))
				goto failed;
			if (t.n + sizes[0] > r->g->slots && (rc = mdeploy_deploy__step(r, "retire-retained", old, mdeploy_deploy__s_retire_retained, NULL)))
				goto failed;
		}
	}
	if ((rc = mdeploy_deploy__step(r, "create-fleet", r->green, s_create, NULL)))
		goto failed;
	if ((rc = mdeploy_deploy__instances(r, r->green, &l)))
		goto failed;
	{
		/* Batches as wide as the deployment configuration allows, in parallel. */
		unsigned int width = 1, min_healthy = 0;
		size_t k, installed = 0;
		if (mdeploy_deployment_config_plan(c, (unsigned int)l.n, &min_healthy, &width) || width == 0)
			width = 1;
		if (width > 32)
			width = 32;
		if (!(imsg = calloc(64, sizeof(*imsg)))) {
			rc = mdeploy__error_oom();
			goto failed;
		}
		/*
		 * The Moodle upgrade gate (see gate.c): every green instance is
		 * installed without its `scope: once` (upgrade) hooks and without
		 * ValidateService, whose checks need the upgraded database.
		 */
		r->install_no_validate = gate;
		if (mdeploy_provider_pulls(r->p)) {
			/* The instances install themselves, all at once as they boot: their reports. */
			if ((rc = mdeploy_deploy__pull_wait(r, &l, ires, imsg)))
				goto failed;
			for (i = 0; i < l.n; i++)
				mdeploy_deploy__tally(r, &l, i, ires, imsg, &succeeded, &last_failed_only, err, sizeof(err));
			installed = l.n;
		}
		for (k = installed; k < l.n; k += width) {
			size_t end = k + width < l.n ? k + width : l.n;
			if ((rc = batch_allowed(r, &l, installed - succeeded, end - k, min_healthy, err)))
				goto failed;
			if ((rc = mdeploy_deploy__install_batch(r, &l, k, end, gate ? (size_t)-1 : 0, ires, imsg)))
				goto failed;
			for (i = k; i < end; i++)
				mdeploy_deploy__tally(r, &l, i, ires, imsg, &succeeded, &last_failed_only, err, sizeof(err));
			installed += end - k;
		}
		r->install_no_validate = 0;
		free(imsg);
		imsg = NULL;
		if (gate && succeeded < l.n) {
			/* Before maintenance and the upgrade: the database is untouched. */
			rc = mdeploy__error_set(MDEPLOY_EHOOK, CLS, "%zu of %zu green instances failed to install; the "
			                        "database %s needs them all and did not run (the database is untouched): %s",
			                        l.n - succeeded, l.n, r->kind == MDEPLOY_PLAN_INSTALL ? "install" : "upgrade", err);
			goto failed;
		}
		if (gate && l.n > 0) {
			/* Maintenance through blue's release; a first install has no blue, and nothing serves. */
			if (r->blue[0] && ((rc = mdeploy_deploy__step(r, "lb-hold", r->lb, mdeploy_deploy__s_lb_hold, NULL)) ||
			                   (rc = mdeploy_deploy__step(r, "maintenance-on", r->blue, mdeploy_deploy__s_moodle_cli, (void *)"maintenance-on"))))
				goto failed;
			/* No scheduled task runs while the database changes: a cron run begun before maintenance ends first. */
			if (r->blue[0] && !mdeploy_deploy__is_done(r, dbstep, l.id[0]) &&
			    (rc = mdeploy_deploy__cron_wait(r, 600000)))
				goto failed;
			/* A first install has nothing to back up. */
			if (r->blue[0] && (rc = mdeploy_deploy__step(r, "backup", r->green, mdeploy_deploy__s_backup, NULL))) {
				/* No backup, no upgrade: the database is untouched and blue serves again. */
				char why[2048];
				snprintf(why, sizeof(why), "%s; the upgrade did not run (the database is untouched)",
				         mdeploy_error_last()->message);
				if (mdeploy_deploy__step(r, "maintenance-off", r->blue, mdeploy_deploy__s_moodle_cli, (void *)"maintenance-off"))
					snprintf(why + strlen(why), sizeof(why) - strlen(why), "; and maintenance mode could not be "
					         "turned off: %s", mdeploy_error_last()->message);
				else if (mdeploy_deploy__step(r, "lb-release", r->lb, mdeploy_deploy__s_lb_release, r->blue))
					snprintf(why + strlen(why), sizeof(why) - strlen(why), "; and the load balancer's health "
					         "checks could not be restored: %s", mdeploy_error_last()->message);
				mdeploy__error_set(rc, CLS, "%s", why);
				goto failed;
			}
			if ((rc = mdeploy_deploy__step(r, dbstep, l.id[0], mdeploy_deploy__s_upgrade, NULL)))
				goto failed;
			for (i = 0; i < l.n; i++)
				if ((rc = mdeploy_deploy__step(r, "validate", l.id[i], mdeploy_deploy__s_validate, NULL)))
					goto failed;
		}
	}
	if (!mdeploy_deployment_config_succeeded(c, (unsigned int)l.n, succeeded, last_failed_only)) {
		rc = mdeploy__error_set(MDEPLOY_EHOOK, CLS, "%u of %zu instances succeeded, %s needs more: %s",
		                        succeeded, l.n, c->name, err);
		goto failed;
	}
	for (i = 0; i < l.n; i++) {
		if (!mdeploy_deploy__is_done(r, "install", l.id[i]))
			continue; /* failed: not put behind the load balancer */
		if ((rc = mdeploy_deploy__step(r, "register", l.id[i], s_register, NULL)))
			goto failed;
	}
	if ((rc = mdeploy_deploy__step(r, "health", r->green, mdeploy_deploy__s_health, NULL)))
		goto failed;
	if (r->g->manual_promotion && r->blue[0] && (rc = mdeploy_deploy__step(r, "promote", r->green, s_promote, NULL)))
		goto failed;
	/* After a database upgrade the old code cannot serve: all at once. */
	if (gate) {
		;
	} else if (r->g->traffic == MDEPLOY_TRAFFIC_CANARY && r->blue[0]) {
		pcts[npct++] = r->g->traffic_percent;
	} else if (r->g->traffic == MDEPLOY_TRAFFIC_LINEAR && r->blue[0]) {
		for (pct = r->g->traffic_percent; pct < 100; pct += r->g->traffic_percent)
			pcts[npct++] = pct;
	}
	pcts[npct++] = 100;
	for (i = 0; i < npct; i++) {
		char t[8];
		snprintf(t, sizeof(t), "%u", pcts[i]);
		if ((rc = mdeploy_deploy__step(r, "shift", t, mdeploy_deploy__s_shift, NULL)))
			goto failed;
	}
	/* Users now get green's pages: the CDN's copies of the paths the group names go. */
	if (r->g->cdn_distribution &&
	    (rc = mdeploy_deploy__step(r, "cdn-invalidate", r->g->cdn_distribution, mdeploy_deploy__s_cdn, NULL)))
		goto failed;
	/* Blue takes no request on the upgraded database: drained before maintenance goes off.
	 * Caches are purged while still in maintenance: no request reads them then (gate.c). */
	if (gate && r->blue[0] && ((rc = mdeploy_deploy__step(r, "drain-blue", r->blue, mdeploy_deploy__s_drain, NULL)) ||
	             (rc = mdeploy_deploy__step(r, "purge-caches", r->green, mdeploy_deploy__s_moodle_cli, (void *)"purge-caches")) ||
	             (rc = mdeploy_deploy__step(r, "maintenance-off", r->green, mdeploy_deploy__s_moodle_cli, (void *)"maintenance-off")) ||
	             (rc = mdeploy_deploy__step(r, "lb-release", r->lb, mdeploy_deploy__s_lb_release, r->green))))
		goto failed;
	if ((rc = mdeploy_deploy__step(r, "watch", r->green, mdeploy_deploy__s_watch, NULL)))
		goto failed;
	if (r->blue[0] && (rc = mdeploy_deploy__step(r, "drain-blue", r->blue, mdeploy_deploy__s_drain, NULL)))
		goto failed;
	/* A code-only release of Moodle: cached language strings and theme files
	 * are the old code's until caches are purged; after blue is drained and
	 * out of rotation, so the old code cannot fill them again (gate.c). */
	if (!gate && r->blue[0] && r->kind == MDEPLOY_PLAN_CODE_ONLY &&
	    (mdeploy_deploy__is_done(r, "purge-caches", r->green) || mdeploy_deploy__has_moodle_cli(r, r->green)) &&
	    (rc = mdeploy_deploy__step(r, "purge-caches", r->green, mdeploy_deploy__s_purge_code_only, NULL)))
		goto failed;
	if ((rc = mdeploy_deploy__step(r, "finish", r->green, mdeploy_deploy__s_finish, NULL)))
		goto failed;
	mdeploy_store_deployment_set_status(r->store, r->id, "Succeeded", NULL);
	mdeploy__progress(r->ctx, "deploy", r->id, "steps", r->steps, r->steps, 0, 1);
	mdeploy__log(r->ctx, MDEPLOY_LOG_INFO, "deploy", "%s: %s is live on %s", r->id, r->bundle, r->green);
	return 0;

failed:
	free(imsg);
	{
		const mdeploy_error *e = mdeploy_error_last();
		char msg[2048];
		int code = e->code ? e->code : rc, klass = e->klass;
		int is_stop = code == MDEPLOY_ECONFLICT && strstr(e->message, "stopped");
		int is_alarm = code == MDEPLOY_ECONFLICT && !strncmp(e->message, "alarm:", 6);
		snprintf(msg, sizeof(msg), "%s", e->message);
		/* Before green is retired: the logs its error names stay with the deployment. */
		mdeploy_deploy__keep_fleet_logs(r, r->green, msg, sizeof(msg));
		if (is_stop) {
			char *f = NULL;
			if (mdeploy_deploy__flag_get(r->store, r->id, "stop", &f) == 0 && !strcmp(f, "rollback")) {
				free(f);
				return mdeploy_deploy__rollback(r, "stopped on request");
			}
			free(f);
			mdeploy_error_clear();
			mdeploy_store_deployment_set_status(r->store, r->id, "Stopped", msg);
			return mdeploy__error_set(MDEPLOY_ECONFLICT, CLS, "%s", msg);
		}
		if ((is_alarm && r->g->rollback_on_alarm) || (!is_alarm && r->g->rollback_on_failure))
			return mdeploy_deploy__rollback(r, msg);
		mdeploy_store_deployment_set_status(r->store, r->id, "Failed", msg);
		return mdeploy__error_set(code, klass, "%s", msg);
	}
}
