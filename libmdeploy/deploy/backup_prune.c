/*
 * backup_prune.c - retention of the database backups the upgrade gate
 * takes (backup.c): a backup is kept while a rollback can still restore
 * it, and removed once none can.
 *
 * A rollback restores only these (rollback.c, restore.c):
 *  - the backup of the live deployment, when it upgraded the database
 *    (`deploy rollback --restore-database` goes back across it);
 *  - the backup of the group's last deployment when it failed after its
 *    upgrade began (the rollback of that failure restores it);
 *  - the backup an unfinished restore is putting back (resume or stop
 *    finishes it), and the backups of deployments not finished yet.
 * Any other backup of the group belongs to a deployment no rollback goes
 * back to any more: an older upgrade superseded by a newer one, or one a
 * restore already put back. Those files are removed, under the group's
 * lock, when a deployment or rollback of the group succeeds.
 *
 * Only files named as the gate names them (d-XXXXXXXXX.pgdump or .sql,
 * and their .tmp while written) are looked at: anything else in the
 * directory is the operator's.
 */
#include "deploy_private.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLS MDEPLOY_ERROR_CLASS_DEPLOY
#define KEEP_MAX 64

struct keep {
	char id[KEEP_MAX][12];
	size_t n;
};

static void keep_add(struct keep *k, const char *id)
{
	size_t i;
	if (!id || strlen(id) != 11 || k->n >= KEEP_MAX)
		return;
	for (i = 0; i < k->n; i++)
		if (!strcmp(k->id[i], id))
			return;
	memcpy(k->id[k->n++], id, 12);
}

static int kept(const struct keep *k, const char *id)
{
	size_t i;
	for (i = 0; i < k->n; i++)
		if (!strcmp(k->id[i], id))
			return 1;
	return 0;
}

struct scan {
	mdeploy_deploy__run *r;
	struct keep *k;
	int overflow;
};

/* Deployments not finished: their own backup, and the one a restore among them puts back. */
static int unfinished_cb(const mdeploy_deployment_record *rec, void *payload)
{
	struct scan *s = payload;
	char *v = NULL, *tab;
	if (!rec->status || (strcmp(rec->status, "Created") && strcmp(rec->status, "InProgress")))
		return 0;
	if (s->k->n + 2 > KEEP_MAX) {
		s->overflow = 1;
		return 1;
	}
	keep_add(s->k, rec->id);
	/* "KIND\tUPGRADED_BY\tLIVE\tFLEET" (restore.c) */
	if (mdeploy_deploy__flag_get(s->r->store, rec->id, "restore", &v) == 0 && (tab = strchr(v, '\t'))) {
		char *end = strchr(tab + 1, '\t');
		if (end)
			*end = '\0';
		keep_add(s->k, tab + 1);
	}
	free(v);
	mdeploy_error_clear();
	return 0;
}

/* d-XXXXXXXXX.pgdump, .sql, or either with .tmp: the id in `id`. */
static int backup_name(const char *name, char id[12])
{
	const char *ext;
	if (strncmp(name, "d-", 2) || strlen(name) < 12 || name[11] != '.')
		return 0;
	ext = name + 12;
	if (strcmp(ext, "pgdump") && strcmp(ext, "sql") && strcmp(ext, "pgdump.tmp") && strcmp(ext, "sql.tmp"))
		return 0;
	memcpy(id, name, 11);
	id[11] = '\0';
	return 1;
}

int mdeploy_deploy__backups_prune(mdeploy_deploy__run *r, size_t *removed)
{
	struct keep k;
	struct scan s;
	char dir[1024], path[1400], id[12], fid[12], *ld = NULL;
	struct dirent *de;
	DIR *d;
	int rc = 0;

	if (removed)
		*removed = 0;
	memset(&k, 0, sizeof(k));
	snprintf(dir, sizeof(dir), "%s/backups/%s/%s", mdeploy_ctx_state_dir(r->ctx), r->app, r->g->name);
	if (!(d = opendir(dir)))
		return errno == ENOENT ? 0 : mdeploy__error_os(CLS, "cannot read the backups in '%s'", dir);
	if (mdeploy_deploy__value_get(r, "live_deployment", &ld) == 0)
		keep_add(&k, ld);
	free(ld);
	mdeploy_error_clear();
	if (mdeploy_deploy__failed_upgrade(r, fid))
		keep_add(&k, fid);
	s.r = r;
	s.k = &k;
	s.overflow = 0;
	if (mdeploy_store_deployment_foreach(r->store, r->app, r->g->name, 0, unfinished_cb, &s) && !s.overflow) {
		/* Not knowing what is unfinished, remove nothing. */
		rc = mdeploy_error_last()->code ? mdeploy_error_last()->code : MDEPLOY_ERROR;
		closedir(d);
		return rc;
	}
	mdeploy_error_clear();
	if (s.overflow) {
		closedir(d);
		return 0;
	}
	while ((de = readdir(d))) {
		if (!backup_name(de->d_name, id) || kept(&k, id))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (unlink(path) < 0 && errno != ENOENT) {
			rc = mdeploy__error_os(CLS, "cannot remove the backup '%s'", path);
			break;
		}
		if (removed)
			(*removed)++;
		mdeploy__log(r->ctx, MDEPLOY_LOG_INFO, "deploy", "group %s: backup %s of deployment %s removed: no rollback "
		             "can restore it any more", r->g->name, path, id);
	}
	closedir(d);
	return rc;
}

/* After a command that succeeded, under its lock: a failed prune is a warning, never the command's failure. */
void mdeploy_deploy__backups_prune_after(mdeploy_deploy__run *r, int rc)
{
	if (rc || !r->g)
		return;
	if (mdeploy_deploy__backups_prune(r, NULL))
		mdeploy__log(r->ctx, MDEPLOY_LOG_WARN, "deploy", "group %s: old database backups not pruned: %s", r->g->name,
		             mdeploy_error_last()->message);
	mdeploy_error_clear();
}
