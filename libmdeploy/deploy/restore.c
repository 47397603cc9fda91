/*
 * restore.c - `deploy rollback` across a database upgrade: the previous
 * release cannot run on the upgraded database, so either the backup the
 * upgrade gate took (backup.c) is restored with it (--restore-database:
 * what was written since the upgrade is lost), or the rollback is refused
 * with the exact command. Never silently.
 *
 * With the previous fleet still retained, one deployment does it all:
 * targets held in rotation, maintenance on through the live (upgraded)
 * release, the backup restored, traffic back to the retained fleet and the
 * live one drained, caches purged and maintenance off through the previous
 * release (purged in maintenance: see gate.c), the hold released, and the fleet that ran the upgraded code
 * terminated (it must not come back on the restored database). Without a
 * retained fleet: the same up to the restore, then the previous bundle is
 * deployed again through the upgrade gate (a downgrade the restore allows),
 * which turns maintenance off once it serves.
 */
#include "deploy_private.h"
#include "store/store_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLS MDEPLOY_ERROR_CLASS_DEPLOY

/* The restored release is live; the fleet that ran the upgraded code goes. */
static int s_restored_state(mdeploy_deploy__run *r, const char *target, void *arg)
{
	int rc;
	(void)target; (void)arg;
	if ((rc = mdeploy_deploy__value_set(r, "live", r->blue)) ||
	    (rc = mdeploy_deploy__value_set(r, "live_bundle", r->bundle)) ||
	    (rc = mdeploy_deploy__value_set(r, "live_deployment", r->id)) ||
	    (rc = mdeploy_deploy__retained_set(r, NULL, 0, NULL)))
		return rc;
	return 0;
}

/* Out of the load balancer now; terminated once the lock is released (retire.c). */
static int s_retire_upgraded(mdeploy_deploy__run *r, const char *target, void *arg)
{
	(void)arg;
	return mdeploy_deploy__retire_record(r, target);
}

/* Steps shared by both ways back: hold, maintenance on through the live release, restore. */
static int restore_steps(mdeploy_deploy__run *r, const char *live, mdeploy_deploy__backup *b)
{
	int rc;
	if ((rc = mdeploy_deploy__step(r, "lb-hold", r->lb, mdeploy_deploy__s_lb_hold, NULL)) ||
	    (rc = mdeploy_deploy__step(r, "maintenance-on", live, mdeploy_deploy__s_moodle_cli, (void *)"maintenance-on")) ||
	    (rc = mdeploy_deploy__step(r, "restore", live, mdeploy_deploy__s_restore, b)))
		return rc;
	mdeploy__log(r->ctx, MDEPLOY_LOG_INFO, "deploy", "%s: database %s restored from %s", r->id, b->database, b->path);
	return 0;
}

/* After the restore, with the previous fleet retained: traffic to it, caches purged and maintenance off through it. */
static int warm_steps(mdeploy_deploy__run *r, const char *live, const char *fleet)
{
	int rc;
	if ((rc = mdeploy_deploy__step(r, "rollback-shift", fleet, mdeploy_deploy__s_swap_back, NULL)) ||
	    (rc = mdeploy_deploy__step(r, "drain", live, mdeploy_deploy__s_drain, NULL)) ||
	    (rc = mdeploy_deploy__step(r, "purge-caches", fleet, mdeploy_deploy__s_moodle_cli, (void *)"purge-caches")) ||
	    (rc = mdeploy_deploy__step(r, "maintenance-off", fleet, mdeploy_deploy__s_moodle_cli, (void *)"maintenance-off")) ||
	    (rc = mdeploy_deploy__step(r, "lb-release", r->lb, mdeploy_deploy__s_lb_release, (void *)fleet)) ||
	    (rc = mdeploy_deploy__step(r, "swap", fleet, s_restored_state, NULL)) ||
	    (rc = mdeploy_deploy__step(r, "retire", live, s_retire_upgraded, NULL)))
		return rc;
	return 0;
}

/* After the restore of a failed upgrade's backup: the live release serves again. */
static int failed_steps(mdeploy_deploy__run *r, const char *live)
{
	int rc;
	if ((rc = mdeploy_deploy__step(r, "purge-caches", live, mdeploy_deploy__s_moodle_cli, (void *)"purge-caches")) ||
	    (rc = mdeploy_deploy__step(r, "maintenance-off", live, mdeploy_deploy__s_moodle_cli, (void *)"maintenance-off")) ||
	    (rc = mdeploy_deploy__step(r, "lb-release", r->lb, mdeploy_deploy__s_lb_release, (void *)live)))
		return rc;
	return 0;
}

/* What `resume` and `stop` need to finish a restore whose process died: "KIND\tUPGRADED_BY\tLIVE\tFLEET". */
static int mark(mdeploy_deploy__run *r, const char *kind, const char *upgraded_by, const char *live, const char *fleet)
{
	char v[600];
	snprintf(v, sizeof(v), "%s\t%s\t%s\t%s", kind, upgraded_by, live, fleet);
	return mdeploy_deploy__flag_set(r->store, r->id, "restore", v);
}

static void fail(mdeploy_deploy__run *r, const char *live)
{
	char msg[2048];
	/* Maintenance stays on (the database may be half restored): say so, with what to do. */
	snprintf(msg, sizeof(msg), "%s; the site stays in maintenance: fix the cause and run 'mdeploy deploy rollback "
	         "--restore-database %s' again, or restore the database by hand and turn maintenance off "
	         "('php admin/cli/maintenance.php --disable' on %s's release that matches it)",
	         mdeploy_error_last()->message, r->g->name, live);
	mdeploy_store_deployment_set_status(r->store, r->id, "Failed", msg);
	mdeploy__error_set(mdeploy_error_last()->code ? mdeploy_error_last()->code : MDEPLOY_EHOOK, CLS, "%s", msg);
}

int mdeploy_deploy__refuse_or_restore(mdeploy_deploy__run *r, const mdeploy_deploy_options *opts, const char *live,
                                      const char *upgraded_by, char *id, char *redeploy, size_t n)
{
	mdeploy_deploy__backup b;
	char fleet[128], bundle[4096], *prev = NULL;
	unsigned int sizes[3];
	int64_t until;
	int have_backup, retained, rc;

	redeploy[0] = '\0';
	have_backup = mdeploy_deploy__backup_of(r->store, upgraded_by, &b) == 0;
	mdeploy_error_clear();
	if (mdeploy_deploy__value_get(r, "previous_bundle", &prev))
		mdeploy_error_clear();
	if (!(opts->version >= 3 && opts->restore_database)) {
		if (have_backup && b.restorable)
			rc = mdeploy__error_set(MDEPLOY_ECONFLICT, CLS, "group %s: refused: deployment %s upgraded the database, and "
			                        "the previous release's code cannot run on it; 'mdeploy deploy rollback "
			                        "--restore-database %s' restores the backup taken before the upgrade (%s, %llu bytes) "
			                        "and puts the previous release back: what was written since the upgrade is lost",
			                        r->g->name, upgraded_by, r->g->name, b.path, (unsigned long long)b.bytes);
		else if (have_backup)
			rc = mdeploy__error_set(MDEPLOY_ECONFLICT, CLS, "group %s: refused: deployment %s upgraded the database, and "
			                        "the previous release's code cannot run on it; with maintenance on, restore the "
			                        "%s backup %s by hand (mdeploy cannot restore it), then run 'mdeploy deploy create "
			                        "--allow-downgrade %s %s'", r->g->name, upgraded_by, b.method, b.path, r->g->name,
			                        prev ? prev : "PREVIOUS-BUNDLE");
		else
			rc = mdeploy__error_set(MDEPLOY_ECONFLICT, CLS, "group %s: refused: deployment %s upgraded the database, and "
			                        "the previous release's code cannot run on it, and it recorded no backup; restore a "
			                        "backup taken before %s (with maintenance on), then run 'mdeploy deploy create "
			                        "--allow-downgrade %s %s'", r->g->name, upgraded_by, upgraded_by, r->g->name,
			                        prev ? prev : "PREVIOUS-BUNDLE");
		free(prev);
		return rc;
	}
	if (!have_backup || !b.restorable) {
		rc = mdeploy__error_set(MDEPLOY_ECONFLICT, CLS, "group %s: --restore-database: deployment %s %s", r->g->name,
		                        upgraded_by, have_backup ? "took a backup mdeploy cannot restore; restore it by hand" :
		                        "recorded no database backup");
		free(prev);
		return rc;
	}
	/* Checked before anything changes (and again by the restore step itself). */
	if ((rc = mdeploy_deploy__backup_verify(&b))) {
		free(prev);
		return rc;
	}
	retained = mdeploy_deploy__retained_get(r, fleet, sizeof(fleet), &until, bundle, sizeof(bundle)) == 0 &&
	           strcmp(fleet, live) && mdeploy_deploy__fleet_sizes(r, fleet, sizes) == 0;
	if (!retained && !prev)
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS, "group %s: no retained fleet and no previous bundle to roll "
		                          "back to", r->g->name);
	snprintf(r->green, sizeof(r->green), "%s", live);               /* what we leave */
	snprintf(r->blue, sizeof(r->blue), "%s", retained ? fleet : ""); /* what we go back to */
	snprintf(r->bundle, sizeof(r->bundle), "%s", retained ? bundle : prev);
	r->back = retained;
	mdeploy_deploy__origin_of_fleet(r, retained ? fleet : NULL);
	if ((rc = mdeploy_deploy__record_insert(r, "InProgress", "rollback", r->bundle, NULL)) ||
	    (rc = mdeploy_deploy__save_data(r)))
		goto out;
	if (id)
		memcpy(id, r->id, 12);
	if ((rc = mark(r, "back", upgraded_by, live, retained ? fleet : "")))
		goto out;
	mdeploy__log(r->ctx, MDEPLOY_LOG_WARN, "deploy", "%s: restoring the database backup of %s (%s): what was written "
	             "since the upgrade is lost", r->id, upgraded_by, b.path);
	if ((rc = restore_steps(r, live, &b))) {
		fail(r, live);
		goto out;
	}
	if (!retained) {
		/* The previous bundle again, through the gate (the caller runs it): it turns maintenance off once it serves. */
		mdeploy_store_deployment_set_status(r->store, r->id, "Succeeded", NULL);
		snprintf(redeploy, n, "%s", prev);
		goto out;
	}
	if ((rc = warm_steps(r, live, fleet))) {
		fail(r, live);
		goto out;
	}
	mdeploy_store_deployment_set_status(r->store, r->id, "Succeeded", NULL);
	mdeploy__log(r->ctx, MDEPLOY_LOG_INFO, "deploy", "%s: back on %s with the database restored", r->id, fleet);
out:
	free(prev);
	return rc;
}

/* ---- a deployment that failed after its upgrade began ---- */

struct latest {
	char id[12], status[16];
	int n;
};

static int latest_cb(const mdeploy_deployment_record *rec, void *payload)
{
	struct latest *l = payload;
	if (l->n++ == 0) {
		snprintf(l->id, sizeof(l->id), "%s", rec->id);
		snprintf(l->status, sizeof(l->status), "%s", rec->status ? rec->status : "");
	}
	return 0;
}

static int upgrade_cb(const mdeploy_journal_entry *e, void *payload)
{
	if (!strcmp(e->step, "upgrade"))
		*(int *)payload = 1;
	return 0;
}

/*
 * The group's last deployment failed (or stopped) after its database
 * upgrade began: the previous release is live, in maintenance, on a
 * database that may be half upgraded. `failed` gets its id.
 */
int mdeploy_deploy__failed_upgrade(mdeploy_deploy__run *r, char failed[12])
{
	struct latest l;
	char *ld = NULL;
	int upgraded = 0, rc;
	memset(&l, 0, sizeof(l));
	if (mdeploy_store_deployment_foreach(r->store, r->app, r->g->name, 1, latest_cb, &l) || !l.n ||
	    (strcmp(l.status, "RolledBack") && strcmp(l.status, "Failed") && strcmp(l.status, "Stopped"))) {
		mdeploy_error_clear();
		return 0;
	}
	if (mdeploy_deploy__value_get(r, "live_deployment", &ld))
		mdeploy_error_clear();
	rc = ld && !strcmp(ld, l.id);
	free(ld);
	if (rc)
		return 0;
	mdeploy_store_journal_foreach(r->store, l.id, upgrade_cb, &upgraded);
	mdeploy_error_clear();
	if (upgraded)
		memcpy(failed, l.id, 12);
	return upgraded;
}

/*
 * Rollback after such a failure: the live release stays; with
 * --restore-database the backup the failed deployment took comes back and
 * maintenance goes off through the live release; else a refusal naming it.
 */
int mdeploy_deploy__restore_failed(mdeploy_deploy__run *r, const mdeploy_deploy_options *opts, const char *live,
                                   const char *failed, char *id)
{
	mdeploy_deploy__backup b;
	char *live_bundle = NULL;
	int rc;

	if (mdeploy_deploy__backup_of(r->store, failed, &b) || !b.restorable) {
		mdeploy_error_clear();
		return mdeploy__error_set(MDEPLOY_ECONFLICT, CLS, "group %s: deployment %s failed after its database upgrade "
		                          "began and %s: restore a backup taken before it by hand (with maintenance on), then "
		                          "run 'php admin/cli/maintenance.php --disable' on %s", r->g->name, failed,
		                          b.method[0] ? "mdeploy cannot restore its backup" : "recorded no backup", live);
	}
	if (!(opts->version >= 3 && opts->restore_database))
		return mdeploy__error_set(MDEPLOY_ECONFLICT, CLS, "group %s: refused: deployment %s failed after its database "
		                          "upgrade began; the previous release serves the maintenance page on a database that "
		                          "may be half upgraded; 'mdeploy deploy rollback --restore-database %s' restores the "
		                          "backup taken before that upgrade (%s, %llu bytes) and turns maintenance off",
		                          r->g->name, failed, r->g->name, b.path, (unsigned long long)b.bytes);
	if ((rc = mdeploy_deploy__backup_verify(&b)))
		return rc;
	if (mdeploy_deploy__value_get(r, "live_bundle", &live_bundle))
		mdeploy_error_clear();
	snprintf(r->green, sizeof(r->green), "%s", live);
	snprintf(r->bundle, sizeof(r->bundle), "%s", live_bundle ? live_bundle : "");
	free(live_bundle);
	mdeploy_deploy__origin_of_fleet(r, live);
	if ((rc = mdeploy_deploy__record_insert(r, "InProgress", "rollback", r->bundle, NULL)) ||
	    (rc = mdeploy_deploy__save_data(r)))
		return rc;
	if (id)
		memcpy(id, r->id, 12);
	if ((rc = mark(r, "failed", failed, live, "")) || (rc = restore_steps(r, live, &b)) || (rc = failed_steps(r, live))) {
		fail(r, live);
		return rc;
	}
	mdeploy_store_deployment_set_status(r->store, r->id, "Succeeded", NULL);
	return 0;
}

/*
 * `resume` or `stop` of a restore whose process died: it is finished, never
 * undone (the database may be half restored). Steps done are skipped; the
 * restore itself starts over. `*is_restore` says whether `r` was one.
 */
int mdeploy_deploy__restore_continue(mdeploy_deploy__run *r, int *is_restore)
{
	mdeploy_deploy__backup b;
	char *v = NULL, *f[4];
	int n = 0, rc;

	*is_restore = 0;
	if (mdeploy_deploy__flag_get(r->store, r->id, "restore", &v)) {
		mdeploy_error_clear();
		return 0;
	}
	*is_restore = 1;
	/* strsep keeps the empty last field (no retained fleet). */
	{
		char *p = v;
		while (n < 4 && (f[n] = strsep(&p, "\t")))
			n++;
	}
	if (n < 3) {
		free(v);
		return mdeploy__error_set(MDEPLOY_ECORRUPT, CLS, "deployment %s: unreadable restore record", r->id);
	}
	if (n == 3)
		f[3] = "";
	mdeploy__log(r->ctx, MDEPLOY_LOG_WARN, "deploy", "%s: finishing the database restore (backup of %s)", r->id, f[1]);
	if ((rc = mdeploy_deploy__backup_of(r->store, f[1], &b)) || (rc = restore_steps(r, f[2], &b)) ||
	    (rc = !strcmp(f[0], "failed") ? failed_steps(r, f[2]) : f[3][0] ? warm_steps(r, f[2], f[3]) : 0)) {
		fail(r, f[2]);
		free(v);
		return rc;
	}
	if (!strcmp(f[0], "back") && !f[3][0])
		mdeploy__log(r->ctx, MDEPLOY_LOG_WARN, "deploy", "%s: the database is restored; put the previous release back "
		             "with 'mdeploy deploy create --allow-downgrade %s %s'", r->id, r->g->name, r->bundle);
	mdeploy_store_deployment_set_status(r->store, r->id, "Succeeded", NULL);
	free(v);
	return 0;
}
