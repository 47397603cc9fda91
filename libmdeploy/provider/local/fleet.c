/*
 * fleet.c - local fleets with Auto Scaling group semantics: desired, min
 * and max sizes; scaling out boots new instances (the boot callback installs
 * the live revision, as user data would), scaling in removes the newest.
 */
#include "local.h"

#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

static int fleet_row(mdeploy_provider *p, const char *name, unsigned int *desired, unsigned int *min,
                     unsigned int *max, unsigned int *port)
{
	sqlite3_stmt *st = mdeploy_store__prepare(p->store,
		"SELECT desired, min_size, max_size, port FROM local_fleets WHERE name = ?");
	int rc;
	if (!st)
		return MDEPLOY_ERROR;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*desired = (unsigned int)sqlite3_column_int(st, 0);
		*min = (unsigned int)sqlite3_column_int(st, 1);
		*max = (unsigned int)sqlite3_column_int(st, 2);
		*port = (unsigned int)sqlite3_column_int(st, 3);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PROVIDER, "fleet '%s' not found", name);
	} else {
		rc = mdeploy_store__error(p->store, "cannot read fleets");
	}
	sqlite3_finalize(st);
	return rc;
}

static int exec_fleet(mdeploy_provider *p, const char *sql, const char *name, int a, int b, int c)
{
	sqlite3_stmt *st = mdeploy_store__prepare(p->store, sql);
	int rc;
	if (!st)
		return MDEPLOY_ERROR;
	sqlite3_bind_int(st, 1, a);
	sqlite3_bind_int(st, 2, b);
	sqlite3_bind_int(st, 3, c);
	sqlite3_bind_text(st, 4, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : mdeploy_store__error(p->store, "cannot update a fleet");
	sqlite3_finalize(st);
	return rc;
}

/* Count instances of a fleet. */
static int count_instances(mdeploy_provider *p, const char *name, unsigned int *n)
{
	sqlite3_stmt *st = mdeploy_store__prepare(p->store, "SELECT COUNT(*) FROM local_instances WHERE fleet = ?");
	int rc;
	if (!st)
		return MDEPLOY_ERROR;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_ROW ? 0 : mdeploy_store__error(p->store, "cannot count instances");
	*n = rc ? 0 : (unsigned int)sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return rc;
}

struct sibling { char current[1100]; };

static int find_sibling(const mdeploy_instance_info *inst, void *payload)
{
	struct sibling *sb = payload;
	char path[1100], real[PATH_MAX];
	if (sb->current[0])
		return 0;
	snprintf(path, sizeof(path), "%s/current", inst->root);
	if (realpath(path, real) && strlen(real) < sizeof(sb->current))
		snprintf(sb->current, sizeof(sb->current), "%s", real);
	return 0;
}

/*
 * With no boot callback a new instance gets a copy of the release its
 * oldest sibling serves, as a launch template would give it.
 */
static int clone_sibling(mdeploy_provider *p, const local_instance *li)
{
	struct sibling sb;
	mdeploy_exec_options eo = MDEPLOY_EXEC_OPTIONS_INIT;
	mdeploy_exec_result *r = NULL;
	char *releases = NULL, *dest = NULL, *link = NULL, *rel = NULL;
	const char *base;
	int rc;

	memset(&sb, 0, sizeof(sb));
	if ((rc = mdeploy_local__instance_foreach(p, li->fleet, NULL, find_sibling, &sb)))
		return rc;
	if (!sb.current[0])
		return 0;
	base = strrchr(sb.current, '/') + 1;
	releases = mdeploy__sprintf("%s/releases", li->root);
	dest = mdeploy__sprintf("%s/releases/%s", li->root, base);
	link = mdeploy__sprintf("%s/current", li->root);
	rel = mdeploy__sprintf("releases/%s", base);
	if (!releases || !dest || !link || !rel) {
		rc = mdeploy__error_oom();
		goto out;
	}
	if ((rc = mdeploy__mkdir_p(releases, 0755)))
		goto out;
	{
		const char *argv[] = { "cp", "-a", "--", sb.current, dest, NULL };
		eo.search_path = 1;
		eo.merge_stderr = 1;
		if ((rc = mdeploy_exec_run(&r, argv, &eo)))
			goto out;
		if (!mdeploy_exec_result_success(r)) {
			rc = mdeploy__error_set(MDEPLOY_EHOOK, MDEPLOY_ERROR_CLASS_PROVIDER,
				"instance '%s': copying %s failed: %s", li->id, sb.current,
				mdeploy_exec_result_stdout(r, NULL));
			goto out;
		}
	}
	if (symlink(rel, link) != 0)
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_PROVIDER, "%s", link);
out:
	mdeploy_exec_result_free(r);
	free(releases);
	free(dest);
	free(link);
	free(rel);
	return rc;
}

/* Launch one instance: create, boot, start. A failed launch leaves nothing. */
static int launch(mdeploy_provider *p, const char *fleet, unsigned int port, int start)
{
	local_instance li;
	int rc;

	if ((rc = mdeploy_local__instance_create(p, fleet, port, &li)))
		return rc;
	if (p->opts.boot_cb) {
		mdeploy_instance_info info;
		mdeploy_error_clear();
		mdeploy_local__instance_info(&li, &info);
		if (p->opts.boot_cb(p, &info, p->opts.payload)) {
			if (mdeploy_error_last()->code == 0)
				mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_CALLBACK,
				                   "instance '%s': boot aborted", li.id);
			rc = MDEPLOY_EUSER;
			goto fail;
		}
	} else if ((rc = clone_sibling(p, &li))) {
		goto fail;
	}
	if (start && (rc = mdeploy_local__instance_start(p, li.id)))
		goto fail;
	return 0;
fail:
	{
		/* Keep the launch error, not the cleanup's. */
		char msg[1024];
		int code = mdeploy_error_last()->code, klass = mdeploy_error_last()->klass;
		snprintf(msg, sizeof(msg), "%s", mdeploy_error_last()->message);
		mdeploy_local__instance_destroy(p, li.id);
		mdeploy__error_set(code ? code : rc, klass, "%s", msg);
	}
	return rc;
}

/* Launch `n` instances, then record `desired`; on failure remove what was launched. */
static int grow(mdeploy_provider *p, const char *name, unsigned int port, unsigned int n, int start)
{
	unsigned int i;
	int rc = 0;
	for (i = 0; i < n; i++) {
		if ((rc = launch(p, name, port, start)))
			break;
		mdeploy__progress(p->ctx, "launch", name, "instances", i + 1, n, 0, i + 1 == n);
	}
	return rc;
}

/* Remove the newest `n` instances. */
static int shrink(mdeploy_provider *p, const char *name, unsigned int n)
{
	sqlite3_stmt *st = mdeploy_store__prepare(p->store,
		"SELECT id FROM local_instances WHERE fleet = ? ORDER BY created_at DESC, rowid DESC LIMIT ?");
	char (*ids)[32] = NULL;
	unsigned int k = 0, i;
	int rc = 0;

	if (!st)
		return MDEPLOY_ERROR;
	if (!(ids = calloc(n ? n : 1, sizeof(*ids)))) {
		sqlite3_finalize(st);
		return mdeploy__error_oom();
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, (int)n);
	while (k < n && sqlite3_step(st) == SQLITE_ROW)
		snprintf(ids[k++], sizeof(ids[0]), "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	for (i = 0; i < k && !rc; i++)
		rc = mdeploy_local__instance_destroy(p, ids[i]);
	free(ids);
	return rc;
}

int mdeploy_local__fleet_create(mdeploy_provider *p, const char *name, const mdeploy_fleet_options *o)
{
	sqlite3_stmt *st;
	int rc;

	/* Settings it would silently ignore are refused: this provider has neither. */
	if (o->launch_template || o->subnets)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
		                          "fleet '%s': a launch template and subnets (fleet.launch_template, "
		                          "fleet.subnets) are for the aws provider, not local", name);
	if (o->agent)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
		                          "fleet '%s': the local provider's instances are installed by the "
		                          "orchestrator, they run no agent of their own at boot", name);
	if (!(st = mdeploy_store__prepare(p->store,
		"INSERT INTO local_fleets (name, desired, min_size, max_size, port, tags, created_at)"
		" VALUES (?, ?, ?, ?, ?, ?, ?)")))
		return MDEPLOY_ERROR;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, (int)o->desired);
	sqlite3_bind_int(st, 3, (int)o->min);
	sqlite3_bind_int(st, 4, (int)o->max);
	sqlite3_bind_int(st, 5, (int)o->port);
	sqlite3_bind_text(st, 6, o->tags ? o->tags : "{}", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, mdeploy_store__unix_ms() / 1000);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_CONSTRAINT)
		return mdeploy__error_set(MDEPLOY_EEXISTS, MDEPLOY_ERROR_CLASS_PROVIDER, "fleet '%s' already exists", name);
	if (rc != SQLITE_DONE)
		return mdeploy_store__error(p->store, "cannot record a fleet");
	/* A new fleet weighs 0 at every load balancer until it is given traffic. */
	if ((rc = mdeploy_local__weights_forget(p, name))) {
		mdeploy_local__fleet_terminate(p, name);
		return rc;
	}
	mdeploy__log(p->ctx, MDEPLOY_LOG_INFO, "provider", "fleet %s: launching %u instance%s",
	             name, o->desired, o->desired == 1 ? "" : "s");
	if ((rc = grow(p, name, o->port, o->desired, o->start))) {
		char msg[1024];
		int code = mdeploy_error_last()->code, klass = mdeploy_error_last()->klass;
		snprintf(msg, sizeof(msg), "%s", mdeploy_error_last()->message);
		mdeploy_local__fleet_terminate(p, name);
		return mdeploy__error_set(code ? code : rc, klass, "fleet '%s': %s", name, msg);
	}
	return 0;
}

int mdeploy_local__fleet_scale(mdeploy_provider *p, const char *name, unsigned int desired,
                               unsigned int min, unsigned int max)
{
	unsigned int cur_desired, cur_min, cur_max, port, have;
	int rc;

	if ((rc = fleet_row(p, name, &cur_desired, &cur_min, &cur_max, &port)))
		return rc;
	if (min == 0 && max == 0) {
		min = cur_min;
		max = cur_max;
	} else if (max == 0) {
		max = cur_max;
	}
	if (min > desired || desired > max)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
			"fleet '%s': desired %u is outside min %u and max %u", name, desired, min, max);
	if ((rc = count_instances(p, name, &have)))
		return rc;
	if (desired > have) {
		mdeploy__log(p->ctx, MDEPLOY_LOG_INFO, "provider", "fleet %s: scaling out from %u to %u",
		             name, have, desired);
		if ((rc = grow(p, name, port, desired - have, 1)))
			return rc;
	} else if (desired < have) {
		mdeploy__log(p->ctx, MDEPLOY_LOG_INFO, "provider", "fleet %s: scaling in from %u to %u",
		             name, have, desired);
		if ((rc = shrink(p, name, have - desired)))
			return rc;
	}
	return exec_fleet(p, "UPDATE local_fleets SET desired = ?, min_size = ?, max_size = ? WHERE name = ?",
	                  name, (int)desired, (int)min, (int)max);
}

int mdeploy_local__fleet_terminate(mdeploy_provider *p, const char *name)
{
	unsigned int d, mi, ma, port, have;
	sqlite3_stmt *st;
	int rc;

	if ((rc = fleet_row(p, name, &d, &mi, &ma, &port)))
		return rc;
	if ((rc = count_instances(p, name, &have)) || (rc = shrink(p, name, have)))
		return rc;
	if (!(st = mdeploy_store__prepare(p->store, "DELETE FROM local_fleets WHERE name = ?")))
		return MDEPLOY_ERROR;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : mdeploy_store__error(p->store, "cannot remove a fleet");
	sqlite3_finalize(st);
	if (!rc)
		rc = mdeploy_local__weights_forget(p, name);
	if (!rc)
		mdeploy__log(p->ctx, MDEPLOY_LOG_INFO, "provider", "fleet %s terminated", name);
	return rc;
}

int mdeploy_local__fleet_set_tags(mdeploy_provider *p, const char *name, const char *tags)
{
	sqlite3_stmt *st = mdeploy_store__prepare(p->store, "UPDATE local_fleets SET tags = ? WHERE name = ?");
	int rc;
	if (!st)
		return MDEPLOY_ERROR;
	sqlite3_bind_text(st, 1, tags, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : mdeploy_store__error(p->store, "cannot update a fleet");
	sqlite3_finalize(st);
	if (!rc && sqlite3_changes(mdeploy_store__db(p->store)) == 0)
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PROVIDER, "fleet '%s' not found", name);
	return rc;
}

struct fleet_row_copy {
	mdeploy_fleet_info info;
	char *name, *tags;
};

static int count_running(const mdeploy_instance_info *inst, void *payload)
{
	if (!strcmp(inst->state, "running"))
		(*(unsigned int *)payload)++;
	return 0;
}

int mdeploy_local__fleet_foreach(mdeploy_provider *p, const char *prefix, const char *exact,
                                 mdeploy_fleet_cb cb, void *payload)
{
	sqlite3_stmt *st = mdeploy_store__prepare(p->store,
		"SELECT name, desired, min_size, max_size, port, tags, created_at FROM local_fleets"
		" WHERE (?1 IS NULL OR substr(name, 1, length(?1)) = ?1) AND (?2 IS NULL OR name = ?2) ORDER BY name");
	struct fleet_row_copy *rows = NULL;
	size_t n = 0, i;
	int rc;

	if (!st)
		return MDEPLOY_ERROR;
	if (prefix)
		sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
	if (exact)
		sqlite3_bind_text(st, 2, exact, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct fleet_row_copy *nr = realloc(rows, (n + 1) * sizeof(*rows)), *r;
		if (!nr) {
			rc = SQLITE_NOMEM;
			break;
		}
		rows = nr;
		r = &rows[n++];
		memset(r, 0, sizeof(*r));
		r->name = mdeploy__strdup((const char *)sqlite3_column_text(st, 0));
		r->tags = mdeploy__strdup((const char *)sqlite3_column_text(st, 5));
		r->info.desired = (unsigned int)sqlite3_column_int(st, 1);
		r->info.min = (unsigned int)sqlite3_column_int(st, 2);
		r->info.max = (unsigned int)sqlite3_column_int(st, 3);
		r->info.port = (unsigned int)sqlite3_column_int(st, 4);
		r->info.created_at = sqlite3_column_int64(st, 6);
		if (!r->name || !r->tags) {
			rc = SQLITE_NOMEM;
			break;
		}
	}
	if (rc == SQLITE_NOMEM)
		rc = mdeploy__error_oom();
	else
		rc = rc == SQLITE_DONE ? 0 : mdeploy_store__error(p->store, "cannot list fleets");
	sqlite3_finalize(st);
	if (!rc && exact && n == 0)
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PROVIDER, "fleet '%s' not found", exact);
	for (i = 0; !rc && i < n; i++) {
		rows[i].info.name = rows[i].name;
		rows[i].info.tags = rows[i].tags;
		if ((rc = mdeploy_local__instance_foreach(p, rows[i].name, NULL, count_running, &rows[i].info.running)))
			break;
		if (cb(&rows[i].info, payload))
			rc = mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_CALLBACK, "aborted by callback");
	}
	for (i = 0; i < n; i++) {
		free(rows[i].name);
		free(rows[i].tags);
	}
	free(rows);
	return rc;
}
