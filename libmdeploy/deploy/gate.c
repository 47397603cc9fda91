/*
 * gate.c - the Moodle upgrade gate's steps: Moodle's own CLI (maintenance
 * mode, cache purge) run on a fleet's instance, the database upgrade (the
 * release's `scope: once` hooks) on one green instance, and the deferred
 * validation of every green instance once the database is upgraded.
 *
 * The sequence (bluegreen.c), for any deployment configuration: every
 * green instance installed without ValidateService (its database-dependent
 * checks cannot pass before the upgrade); any install failure stops here,
 * the database untouched; maintenance on through blue's release; the
 * upgrade once; ValidateService on every green instance; traffic to green
 * all at once and blue drained; caches purged through green, then
 * maintenance off. Old code never answers on the upgraded database: blue
 * takes no request after the shift, and maintenance stays on until then.
 * The purge runs in maintenance because then no web request gets past
 * Moodle's maintenance check (lib/setup.php) to a cache or a template:
 * purging under load fails requests (s_purge_code_only).
 *
 * A first deployment (no live release: the site is installed) takes the
 * same path without blue and without maintenance: no instance is behind
 * the load balancer until the install ran once and every green instance
 * was validated against the installed database.
 */
#include "deploy_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLS MDEPLOY_ERROR_CLASS_DEPLOY

/*
 * The instance of fleet `target` to run a step on: running, and for the
 * green fleet one whose install succeeded (it has the new release as
 * `current`). None is an error naming the step: a step the gate needs is
 * never skipped.
 */
int mdeploy_deploy__pick_instance(mdeploy_deploy__run *r, const char *target, const char *what, inst_list *l, size_t *out)
{
	size_t i;
	int rc, green = !strcmp(target, r->green);
	if ((rc = mdeploy_deploy__instances(r, target, l)))
		return rc;
	for (i = 0; i < l->n; i++) {
		if (!l->running[i])
			continue;
		/* (A fleet this run did not create, e.g. the live one of a rollback, has no install to check.) */
		if (green && mdeploy_deploy__is_done(r, "create-fleet", r->green) && !mdeploy_deploy__is_done(r, "install", l->id[i]))
			continue;
		*out = i;
		return 0;
	}
	return mdeploy__error_set(MDEPLOY_ECONFLICT, CLS, "fleet %s has no running instance%s to run %s on", target,
	                          green ? " whose install succeeded" : "", what);
}

/*
 * Moodle's own CLI on an instance of fleet `target`: maintenance on or off
 * (a shared dataroot makes it apply to every fleet), or purging caches.
 * "purge-caches" runs in maintenance (no web request gets past Moodle's
 * maintenance check in lib/setup.php to a cache or a template then) and
 * bumps the theme revision too; "purge-caches-live" is the purge a serving
 * site survives (s_purge_code_only says what it leaves and why). Neither
 * purges "other": that empties the local cache directories, and sets
 * localcachedirpurged so every instance empties its own on its next
 * request, under load; each release has a fresh local cache of its own
 * (after-install.sh), which the upgrade's own purge (upgrade.php) and the
 * ValidateService hook settle before the instance serves. A release without
 * the script cannot go through the gate: an error, never a silent skip.
 */
int mdeploy_deploy__s_moodle_cli(mdeploy_deploy__run *r, const char *target, void *arg)
{
	const char *what = arg;
	int purge = !strcmp(what, "purge-caches"), live = !strcmp(what, "purge-caches-live");
	const char *script = purge || live ? "admin/cli/purge_caches.php" : "admin/cli/maintenance.php";
	const char *flag = !strcmp(what, "maintenance-on") ? "--enable" : !strcmp(what, "maintenance-off") ? "--disable" :
	                   purge ? "--muc --theme --lang --js --filter" : "--muc --lang --js --filter";
	mdeploy_exec_options eo = MDEPLOY_EXEC_OPTIONS_INIT;
	mdeploy_exec_result *res = NULL;
	inst_list l;
	char cwd[1100], path[1200];
	size_t i = 0;
	int rc;

	if ((rc = mdeploy_deploy__pick_instance(r, target, what, &l, &i)))
		return rc;
	/* Moodle 5.1 keeps admin/ under public/. */
	snprintf(cwd, sizeof(cwd), "%s/current/public", l.root[i]);
	snprintf(path, sizeof(path), "%s/%s", cwd, script);
	if (!mdeploy__path_exists(path)) {
		snprintf(cwd, sizeof(cwd), "%s/current", l.root[i]);
		snprintf(path, sizeof(path), "%s/%s", cwd, script);
	}
	if (!mdeploy__path_exists(path))
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS, "%s on %s: the release has no %s (%s): the upgrade gate "
		                          "needs Moodle's CLI", what, l.id[i], script, path);
	{
		const char *argv[9] = { "php", script, NULL };
		char flags[64], *save = NULL, *f;
		size_t n = 2;
		/* One argument per option of `flag`. */
		snprintf(flags, sizeof(flags), "%s", flag);
		for (f = strtok_r(flags, " ", &save); f && n < 8; f = strtok_r(NULL, " ", &save))
			argv[n++] = f;
		argv[n] = NULL;
		eo.cwd = cwd;
		eo.search_path = 1;
		eo.merge_stderr = 1;
		eo.timeout_ms = 600000;
		if ((rc = mdeploy_exec_run(&res, argv, &eo)))
			return rc;
	}
	if (!mdeploy_exec_result_success(res))
		rc = mdeploy__error_set(MDEPLOY_EHOOK, CLS, "%s on %s: php %s %s %s: %.400s", what, l.id[i], script,
		                        flag, mdeploy_exec_result_describe(res), mdeploy_exec_result_stdout(res, NULL));
	mdeploy_exec_result_free(res);
	return rc;
}

/*
 * Whether fleet `target` runs Moodle (its release has Moodle's
 * admin/cli/purge_caches.php, under public/ for 5.1): a code-only release
 * of Moodle needs its caches purged (language strings and theme files are
 * cached by revision in the shared dataroot), anything else has none.
 */
int mdeploy_deploy__has_moodle_cli(mdeploy_deploy__run *r, const char *target)
{
	inst_list l;
	size_t i = 0;
	char path[1200];
	if (mdeploy_deploy__pick_instance(r, target, "purge-caches", &l, &i)) {
		mdeploy_error_clear();
		return 0;
	}
	snprintf(path, sizeof(path), "%s/current/public/admin/cli/purge_caches.php", l.root[i]);
	if (mdeploy__path_exists(path))
		return 1;
	snprintf(path, sizeof(path), "%s/current/admin/cli/purge_caches.php", l.root[i]);
	return mdeploy__path_exists(path);
}

/*
 * The caches of a code-only Moodle release, purged through green once blue
 * is drained. Blue leaves the load balancer's rotation first (maint: no
 * request and no health check reaches it): the old code answering a check
 * would fill the purged caches again, under the new revisions, with its
 * own strings and theme. A rollback to blue registers it again (rollback.c),
 * and purges the same way through blue with green out of rotation (arg:
 * the fleet that left): the new code's strings would be served otherwise.
 *
 * Green serves while this runs, so only what Moodle survives under load is
 * purged: MUC (language strings, plugin, hook and class caches), the
 * language and JavaScript revisions, filters. Not the theme revision:
 * requests that began before the bump still render with the old one, and
 * Moodle's renderer (get_mustache) deletes the compiled templates of older
 * theme revisions from the local cache under them: require_once of a
 * deleted template, or "Failed to create cache directory", Moodle's error
 * page (measured in t9015: 3 of 25 theme purges under load failed a
 * request). Not "other" either (the local cache directories emptied on every
 * instance while it serves): green's local cache is its release's own,
 * fresh. The theme is built from green's code (MUC purged, fresh local
 * cache); a browser that cached the old theme files keeps them until the
 * next theme revision (an upgrade, or a purge by an administrator).
 */
int mdeploy_deploy__s_purge_code_only(mdeploy_deploy__run *r, const char *target, void *arg)
{
	/* The fleet that left: blue, or what a rollback leaves (arg). */
	const char *left = arg ? (const char *)arg : r->blue;
	inst_list l;
	target_list t;
	mdeploy_lb_change ch[128];
	size_t i, n = 0;
	int rc;
	if (left[0] && mdeploy_lb_running(r->p, r->lb)) {
		if ((rc = mdeploy_deploy__instances(r, left, &l)) || (rc = mdeploy_deploy__targets(r, &t)))
			return rc;
		for (i = 0; i < t.n && n < 128; i++)
			if (mdeploy_deploy__in_list(&l, t.t[i].instance) && strcmp(t.t[i].state, "maint")) {
				ch[n].instance = t.t[i].instance;
				ch[n].weight = -1; /* blue's fleet weight is 0 since the shift */
				ch[n].state = MDEPLOY_TARGET_MAINT;
				n++;
			}
		if (n && (rc = mdeploy_lb_apply(r->p, r->lb, ch, n)))
			return rc;
	}
	return mdeploy_deploy__s_moodle_cli(r, target, (void *)"purge-caches-live");
}

static int find(mdeploy_deploy__run *r, const char *id, inst_list *l, size_t *out)
{
	size_t i;
	int rc;
	if ((rc = mdeploy_deploy__instances(r, r->green, l)))
		return rc;
	for (i = 0; i < l->n; i++)
		if (!strcmp(l->id[i], id)) {
			*out = i;
			return 0;
		}
	return mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS, "instance %s is not in fleet %s", id, r->green);
}

/*
 * The release's `scope: once` AfterInstall scripts on instance `target`:
 * the database upgrade, or on a first deployment the site install.
 */
int mdeploy_deploy__s_upgrade(mdeploy_deploy__run *r, const char *target, void *arg)
{
	mdeploy_agent_options ao = MDEPLOY_AGENT_OPTIONS_INIT;
	mdeploy_agent_deployment d;
	mdeploy_agent *agent = NULL;
	inst_list l;
	char gid[160];
	size_t i = 0;
	int rc;
	(void)arg;
	if ((rc = find(r, target, &l, &i)))
		return rc;
	ao.ctx = r->ctx;
	if ((rc = mdeploy_agent_open(&agent, l.root[i], &ao)))
		return rc;
	rc = mdeploy_deploy__agent_deployment(r, &d, target, l.addr[i], gid, sizeof(gid), 1);
	d.once_hooks_only = 1;
	if (rc || (rc = mdeploy_agent_run_event(agent, "AfterInstall", NULL, &d)))
		mdeploy__error_prefix("%s on instance %s", r->kind == MDEPLOY_PLAN_INSTALL ? "site install" : "upgrade", target);
	mdeploy_agent_free(agent);
	/* The group has a site now, even if this deployment never goes live: `deploy plan` says so. */
	if (!rc && r->kind == MDEPLOY_PLAN_INSTALL)
		rc = mdeploy_deploy__value_set(r, "site_installed_by", r->id);
	return rc;
}

/* ValidateService on green instance `target`, after the upgrade. */
int mdeploy_deploy__s_validate(mdeploy_deploy__run *r, const char *target, void *arg)
{
	inst_list l;
	size_t i = 0;
	int rc;
	(void)arg;
	if ((rc = find(r, target, &l, &i)))
		return rc;
	return mdeploy_deploy__agent_event(r, target, l.root[i], l.addr[i], "ValidateService");
}

static int upgrade_begun_cb(const mdeploy_journal_entry *e, void *payload)
{
	if (!strcmp(e->step, "upgrade"))
		*(int *)payload = 1;
	return 0;
}

/* Non-zero once the deployment's database upgrade has started (even if it failed). */
int mdeploy_deploy__upgrade_begun(mdeploy_deploy__run *r)
{
	int begun = 0;
	mdeploy_store_journal_foreach(r->store, r->id, upgrade_begun_cb, &begun);
	return begun;
}

/*
 * The maintenance window at the load balancer. Moodle answers every request
 * with its maintenance page and 503 while climaintenance.html exists, so
 * the health checks would take every instance out and users would get the
 * load balancer's bare 503. The gate holds the targets in rotation before
 * maintenance goes on (each is healthy then) and releases them once it is
 * off: users get Moodle's page with its Retry-After.
 */
int mdeploy_deploy__s_lb_hold(mdeploy_deploy__run *r, const char *target, void *arg)
{
	(void)target; (void)arg;
	return mdeploy_lb_hold(r->p, r->lb, 1);
}

/* Non-zero while this run holds the load balancer's targets. */
int mdeploy_deploy__held(mdeploy_deploy__run *r)
{
	return mdeploy_deploy__is_done(r, "lb-hold", r->lb) && !mdeploy_deploy__is_done(r, "lb-release", r->lb);
}

/*
 * Release the hold, then wait until every target of fleet `arg` passed a
 * health check run after the release: a read right away would show what
 * the hold set, not what a check found.
 */
int mdeploy_deploy__s_lb_release(mdeploy_deploy__run *r, const char *target, void *arg)
{
	int rc;
	(void)target;
	if ((rc = mdeploy_lb_hold(r->p, r->lb, 0)) ||
	    (rc = mdeploy_deploy__wait_for(r, r->g->health_interval_ms + r->g->health_timeout_ms + 100)))
		return rc;
	return arg ? mdeploy_deploy__wait_checked(r, arg) : 0;
}
