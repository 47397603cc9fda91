/*
 * infra_groups.c - what the local infrastructure gives each deployment
 * group: its database name, its moodledata directory, and the parameters
 * and secrets its hooks read (/APP/GROUP/MOODLE_DB*, MOODLE_REDIS_*,
 * MOODLE_DATAROOT; secrets APP/GROUP/MOODLE_DBPASS, MOODLE_REDIS_PASSWORD),
 * written by apply, listed by outputs, deleted (with the Redis password's
 * secret) by destroy --delete-data.
 */
#include "infra.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const param_keys[] = {
	"MOODLE_DBTYPE", "MOODLE_DBHOST", "MOODLE_DBPORT", "MOODLE_DBNAME", "MOODLE_DBUSER", "MOODLE_DATAROOT",
	"MOODLE_REDIS_HOST", "MOODLE_REDIS_PORT", "MOODLE_REDIS_PREFIX",
};
static const char *const secret_keys[] = { "MOODLE_DBPASS", "MOODLE_REDIS_PASSWORD" };

/* A secret apply generated or copied: gone from the store (Secrets Manager's included), reported. */
static int secret_delete(infra_run *r, const char *name)
{
	char res[600];
	int rc = mdeploy_secrets_delete(r->secrets, name);
	if (rc == MDEPLOY_ENOTFOUND) {
		mdeploy_error_clear();
		return 0;
	}
	snprintf(res, sizeof(res), "secret %s", name);
	return rc ? rc : mdeploy_local__infra_change(r, res, "secret", "delete", 0, "(value not shown)");
}

int mdeploy_local__infra_groups_forget(infra_run *r)
{
	const char *app = r->cfg ? mdeploy_config_application_name(r->cfg) : NULL;
	size_t i, k;
	int rc;
	for (i = 0; app && i < mdeploy_local__infra_groups(r); i++) {
		const mdeploy_group *g = mdeploy_config_group_at(r->cfg, i);
		for (k = 0; k < MDEPLOY__ARRAY_SIZE(param_keys); k++) {
			char *name = mdeploy__sprintf("/%s/%s/%s", app, g->name, param_keys[k]), res[600];
			if (!name)
				return mdeploy__error_oom();
			rc = mdeploy_params_delete(r->params, name);
			snprintf(res, sizeof(res), "parameter %s", name);
			free(name);
			if (rc == MDEPLOY_ENOTFOUND)
				continue;
			if (rc || (rc = mdeploy_local__infra_change(r, res, "parameter", "delete", 0, NULL)))
				return rc;
		}
		for (k = 0; k < MDEPLOY__ARRAY_SIZE(secret_keys); k++) {
			char *name = mdeploy__sprintf("%s/%s/%s", app, g->name, secret_keys[k]);
			if (!name)
				return mdeploy__error_oom();
			rc = secret_delete(r, name);
			free(name);
			if (rc)
				return rc;
		}
	}
	return secret_delete(r, REDIS_SECRET);
}


/* The database (and role) of a group: APP_GROUP in [a-z0-9_], at most 63 bytes. */
void mdeploy_local__infra_db_name(const mdeploy_config *cfg, const mdeploy_group *g, char out[64])
{
	const char *app = mdeploy_config_application_name(cfg);
	char *p;
	snprintf(out, 64, "%s_%s", app ? app : "moodle", g->name);
	for (p = out; *p; p++) {
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
		else if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
			*p = '_';
	}
	if (out[0] >= '0' && out[0] <= '9')
		out[0] = '_';
}

size_t mdeploy_local__infra_groups(infra_run *r)
{
	return r->cfg ? mdeploy_config_group_count(r->cfg) : 0;
}

/* ---- moodledata ------------------------------------------------------- */

static int dataroot_apply(infra_run *r, const mdeploy_group *g, char **path)
{
	char name[256], *dir, owner[64];
	struct stat st;
	json_t *rec;
	uid_t uid = geteuid();
	gid_t gid = getegid();
	int rc;

	if (r->icfg.dataroot_owner) {
		struct passwd *pw = getpwnam(r->icfg.dataroot_owner);
		if (!pw)
			return mdeploy__error_set(MDEPLOY_ENOTFOUND, INFRA_CLS, "%s: no user '%s' on this machine",
			                          mdeploy_config_where(r->cfg, "infrastructure.dataroot_owner"),
			                          r->icfg.dataroot_owner);
		uid = pw->pw_uid;
		gid = pw->pw_gid;
		snprintf(owner, sizeof(owner), "%s", r->icfg.dataroot_owner);
	} else {
		snprintf(owner, sizeof(owner), "uid %ld, mdeploy's user", (long)uid);
	}

	snprintf(name, sizeof(name), "dataroot/%s", g->name);
	if (!(*path = mdeploy__sprintf("%s/moodledata/%s", r->dir, g->name)))
		return mdeploy__error_oom();
	dir = *path;
	rec = mdeploy_local__infra_rec(r, name);
	if (rec && !strcmp(mdeploy_local__infra_str(rec, "state"), "ready") && stat(dir, &st) == 0 &&
	    S_ISDIR(st.st_mode) && st.st_uid == uid && (st.st_mode & 07777) == 02770)
		return 0;
	if ((rc = mdeploy_local__infra_change(r, name, "directory",
	                                      !rec ? "create" : strcmp(mdeploy_local__infra_str(rec, "state"), "ready")
	                                      ? "resume" : "update", 0, "%s (mode 2770, owner %s)", dir, owner)))
		return rc;
	if (!r->apply)
		return 0;
	if (!rec && (rc = mdeploy_local__infra_rec_save(r, name, json_pack("{s:s, s:s, s:s, s:s}", "type", "directory",
	                                                                  "state", "creating", "dir", dir,
	                                                                  "group", g->name))))
		return rc;
	{
		/* The owner must reach its directory: the directories above let others through. */
		char *parent = mdeploy__sprintf("%s/moodledata", r->dir);
		if (!parent)
			return mdeploy__error_oom();
		rc = mdeploy__mkdir_p(parent, 0711);
		if (!rc && chmod(parent, 0711))
			rc = mdeploy__error_os(INFRA_CLS, "chmod 0711 %s", parent);
		free(parent);
		if (!rc && uid != geteuid())
			rc = mdeploy_local__infra_traversable(r);
		if (rc || (rc = mdeploy__mkdir_p(dir, 02770)))
			return rc;
		if (stat(dir, &st))
			return mdeploy__error_os(INFRA_CLS, "stat %s", dir);
	}
	/* The hooks run as mdeploy's user (appspec runas aside) and write there. */
	if ((st.st_uid != uid || st.st_gid != gid) && chown(dir, uid, gid))
		return mdeploy__error_os(INFRA_CLS, "chown %s %s", owner, dir);
	if (chmod(dir, 02770))
		return mdeploy__error_os(INFRA_CLS, "chmod %s", dir);
	return mdeploy_local__infra_rec_state(r, name, "ready");
}

/* ---- parameters and secrets for the hooks -------------------------------- */

static int param_apply(infra_run *r, const char *group, const char *key, const char *value)
{
	const char *app = mdeploy_config_application_name(r->cfg);
	mdeploy_param *cur = NULL;
	char *name;
	int rc;

	if (!(name = mdeploy__sprintf("/%s/%s/%s", app, group, key)))
		return mdeploy__error_oom();
	rc = mdeploy_params_get(&cur, r->params, name);
	if (rc && rc != MDEPLOY_ENOTFOUND)
		goto out;
	if (!rc && !strcmp(cur->value, value)) {
		rc = 0;
		goto out;
	}
	{
		char res[600];
		snprintf(res, sizeof(res), "parameter %s", name);
		if ((rc = mdeploy_local__infra_change(r, res, "parameter", cur ? "update" : "create", 0, "%s", value)))
			goto out;
	}
	if (r->apply)
		rc = mdeploy_params_put(r->params, name, value, MDEPLOY_PARAMS_OVERWRITE, NULL);
out:
	mdeploy_param_free(cur);
	free(name);
	return rc;
}

/* The secret APP/GROUP/KEY holds `value` (a copy of an infrastructure secret). */
static int secret_apply(infra_run *r, const char *group, const char *key, const char *value)
{
	const char *app = mdeploy_config_application_name(r->cfg);
	char *name, *cur = NULL;
	int rc;

	if (!(name = mdeploy__sprintf("%s/%s/%s", app, group, key)))
		return mdeploy__error_oom();
	if ((rc = mdeploy_local__infra_secret(r, name, &cur)) || (cur && !strcmp(cur, value)))
		goto out;
	{
		char res[600];
		snprintf(res, sizeof(res), "secret %s", name);
		if ((rc = mdeploy_local__infra_change(r, res, "secret", cur ? "update" : "create", 0, "(value not shown)")))
			goto out;
	}
	if (r->apply)
		rc = mdeploy_secrets_put(r->secrets, name, value, NULL);
out:
	mdeploy_secret_value_free(cur);
	free(name);
	return rc;
}

static int group_params(infra_run *r, const mdeploy_group *g, const char *dbname, const char *dataroot)
{
	json_t *pg = mdeploy_local__infra_rec(r, "postgresql");
	char port[16];
	int rc;

	snprintf(port, sizeof(port), "%u", mdeploy_local__infra_port(pg));
	if ((rc = param_apply(r, g->name, "MOODLE_DBTYPE", "pgsql")) ||
	    (rc = param_apply(r, g->name, "MOODLE_DBHOST", "127.0.0.1")) ||
	    (rc = param_apply(r, g->name, "MOODLE_DBPORT", pg ? port : "(the new cluster's port)")) ||
	    (rc = param_apply(r, g->name, "MOODLE_DBNAME", dbname)) ||
	    (rc = param_apply(r, g->name, "MOODLE_DBUSER", dbname)) ||
	    (rc = param_apply(r, g->name, "MOODLE_DATAROOT", dataroot)))
		return rc;
	if (r->icfg.cache) {
		json_t *redis = mdeploy_local__infra_rec(r, "redis");
		char rport[16], prefix[80], *pw = NULL;
		snprintf(rport, sizeof(rport), "%u", mdeploy_local__infra_port(redis));
		/* Groups share the server: each its own keys. */
		snprintf(prefix, sizeof(prefix), "%s_sess_", dbname);
		if ((rc = param_apply(r, g->name, "MOODLE_REDIS_HOST", "127.0.0.1")) ||
		    (rc = param_apply(r, g->name, "MOODLE_REDIS_PORT", redis ? rport : "(the new server's port)")) ||
		    (rc = param_apply(r, g->name, "MOODLE_REDIS_PREFIX", prefix)) ||
		    (rc = mdeploy_local__infra_secret(r, REDIS_SECRET, &pw)))
			return rc;
		rc = secret_apply(r, g->name, "MOODLE_REDIS_PASSWORD", pw ? pw : "");
		mdeploy_secret_value_free(pw);
	}
	return rc;
}


int mdeploy_local__infra_group_apply(infra_run *r, const mdeploy_group *g)
{
	char dbname[64], *dataroot = NULL;
	int rc;
	mdeploy_local__infra_db_name(r->cfg, g, dbname);
	if (!(rc = mdeploy_local__pg_database_apply(r, g, dbname)) && !(rc = dataroot_apply(r, g, &dataroot)))
		rc = group_params(r, g, dbname, dataroot);
	free(dataroot);
	return rc;
}

int mdeploy_local__infra_groups_outputs(infra_run *r, mdeploy_infra_output_cb cb, void *payload)
{
	size_t i, k;
	int rc = 0;
	for (i = 0; i < mdeploy_local__infra_groups(r) && !rc; i++) {
		const mdeploy_group *g = mdeploy_config_group_at(r->cfg, i);
		const char *app = mdeploy_config_application_name(r->cfg);
		for (k = 0; k < MDEPLOY__ARRAY_SIZE(param_keys) && !rc; k++) {
			mdeploy_infra_output o = { NULL, NULL, 0 };
			mdeploy_param *prm = NULL;
			char *name = mdeploy__sprintf("/%s/%s/%s", app, g->name, param_keys[k]);
			if (!name) {
				rc = mdeploy__error_oom();
				break;
			}
			rc = mdeploy_params_get(&prm, r->params, name);
			if (!rc) {
				o.name = name;
				o.value = prm->value;
				if (cb && cb(&o, payload))
					rc = mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_CALLBACK, "infra outputs: the callback aborted");
			} else if (rc == MDEPLOY_ENOTFOUND) {
				rc = 0;
			}
			mdeploy_param_free(prm);
			free(name);
		}
		for (k = 0; k < MDEPLOY__ARRAY_SIZE(secret_keys) && !rc; k++) {
			mdeploy_infra_output o = { NULL, NULL, 1 };
			char *name = mdeploy__sprintf("%s/%s/%s", app, g->name, secret_keys[k]), *v = NULL;
			if (!name) {
				rc = mdeploy__error_oom();
				break;
			}
			if (!(rc = mdeploy_local__infra_secret(r, name, &v)) && v) {
				o.name = name;
				if (cb && cb(&o, payload))
					rc = mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_CALLBACK, "infra outputs: the callback aborted");
			}
			mdeploy_secret_value_free(v);
			free(name);
		}
	}
	return rc;
}
