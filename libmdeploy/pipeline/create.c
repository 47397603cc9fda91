/*
 * create.c - making an execution: options, the pipeline's variables
 * resolved against --var values, the rows of the execution and its actions
 * written in one transaction; and the namespaces (#{ns.name}) actions
 * substitute from. The runner (runner.c) drives what is made here.
 */
#include "pipeline_private.h"
#include "store/store_private.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mdeploy_pipeline_run_options_init(mdeploy_pipeline_run_options *opts, unsigned int version)
{
	mdeploy_pipeline_run_options def = MDEPLOY_PIPELINE_RUN_OPTIONS_INIT;
	int rc;
	if ((rc = mdeploy__options_check(version, MDEPLOY_PIPELINE_RUN_OPTIONS_VERSION,
	                                 "mdeploy_pipeline_run_options")))
		return rc;
	*opts = def;
	opts->version = version;
	return 0;
}

int mdeploy_pipeline_watch_options_init(mdeploy_pipeline_watch_options *opts, unsigned int version)
{
	mdeploy_pipeline_watch_options def = MDEPLOY_PIPELINE_WATCH_OPTIONS_INIT;
	int rc;
	if ((rc = mdeploy__options_check(version, MDEPLOY_PIPELINE_WATCH_OPTIONS_VERSION,
	                                 "mdeploy_pipeline_watch_options")))
		return rc;
	*opts = def;
	opts->version = version;
	return 0;
}

static int resolve_variables(const mdeploy_pipeline *p, const char *const *given, json_t **out)
{
	json_t *vars = json_object();
	mdeploy__buf missing = MDEPLOY__BUF_INIT;
	size_t i;
	int rc = 0;

	*out = NULL;
	if (!vars)
		return mdeploy__error_oom();
	for (i = 0; given && given[i]; i++) {
		const char *eq = strchr(given[i], '=');
		char name[101];
		size_t j, n = eq ? (size_t)(eq - given[i]) : 0;
		if (!eq || !mdeploy_pipeline__ident_ok(given[i], n)) {
			rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PIPELINE,
			                        "'%s' is not NAME=VALUE", given[i]);
			goto out;
		}
		memcpy(name, given[i], n);
		name[n] = '\0';
		for (j = 0; j < mdeploy_pipeline_variable_count(p); j++)
			if (!strcmp(mdeploy_pipeline_variable_at(p, j)->name, name))
				break;
		if (j == mdeploy_pipeline_variable_count(p)) {
			rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PIPELINE,
			                        "pipeline '%s' has no variable '%s' (%s declares its variables)",
			                        mdeploy_pipeline_name(p), name, mdeploy_pipeline_path(p));
			goto out;
		}
		json_object_set_new(vars, name, json_string(eq + 1));
	}
	for (i = 0; i < mdeploy_pipeline_variable_count(p); i++) {
		const mdeploy_pipeline_variable *v = mdeploy_pipeline_variable_at(p, i);
		if (json_object_get(vars, v->name))
			continue;
		if (v->default_value)
			json_object_set_new(vars, v->name, json_string(v->default_value));
		else
			mdeploy__buf_printf(&missing, "%s%s", missing.size ? ", " : "", v->name);
	}
	if (missing.size)
		rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PIPELINE,
		                        "pipeline '%s' needs a value for %s (give --var NAME=VALUE)",
		                        mdeploy_pipeline_name(p), mdeploy__buf_cstr(&missing));
out:
	mdeploy__buf_dispose(&missing);
	if (rc)
		json_decref(vars);
	else
		*out = vars;
	return rc;
}

/* Namespaces for substitution: variables, pipeline, and each finished action's. */
json_t *mdeploy_pipeline__namespaces(mdeploy_store *store, const mdeploy_pipeline *p, const char *id)
{
	json_t *all = json_object(), *v;
	sqlite3_stmt *st;

	if (!all)
		return NULL;
	st = mdeploy_store__prepare(store, "SELECT variables, pipeline FROM pipeline_executions WHERE id = ?");
	if (st) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW) {
			v = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
			json_object_set_new(all, "variables", v ? v : json_object());
			json_object_set_new(all, "pipeline", json_pack("{s:s, s:s}", "execution_id", id, "name",
			                                               (const char *)sqlite3_column_text(st, 1)));
		}
		sqlite3_finalize(st);
	}
	st = mdeploy_store__prepare(store, "SELECT stage, action, variables FROM pipeline_actions"
	                            " WHERE execution_id = ? AND status = 'Succeeded' AND variables IS NOT NULL");
	if (st) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		while (sqlite3_step(st) == SQLITE_ROW) {
			const mdeploy_pipeline_action *a = mdeploy_pipeline_action_find(p,
				(const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1));
			if (a && a->namespace_name &&
			    (v = json_loads((const char *)sqlite3_column_text(st, 2), 0, NULL)))
				json_object_set_new(all, a->namespace_name, v);
		}
		sqlite3_finalize(st);
	}
	return all;
}

const char *mdeploy_pipeline__lookup(const char *ns, const char *name, void *payload)
{
	json_t *all = payload;
	return json_string_value(json_object_get(json_object_get(all, ns), name));
}

/* ---- creating ----------------------------------------------------------- */

static int bind_exec_insert(mdeploy_store *store, const mdeploy_pipeline *p, const char *id,
                            const char *vars, const mdeploy_pipeline_run_options *opts)
{
	sqlite3_stmt *st = mdeploy_store__prepare(store,
		"INSERT INTO pipeline_executions (id, seq, pipeline, definition, text, mode, status, trigger,"
		" revision, variables, created_at, updated_at)"
		" VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM pipeline_executions), ?2, ?3, ?4, ?5,"
		" 'InProgress', ?6, ?7, ?8, ?9, ?9)");
	int rc = 0;
	if (!st)
		return MDEPLOY_ERROR;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, mdeploy_pipeline_name(p), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, mdeploy_pipeline_path(p), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, p->text, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, mdeploy_pipeline_mode_name(p->mode), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, opts && opts->trigger ? opts->trigger : "manual", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, opts ? opts->revision : NULL, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, vars, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 9, mdeploy_store__unix_ms());
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = mdeploy_store__error(store, "cannot record the execution");
	sqlite3_finalize(st);
	return rc;
}

int mdeploy_pipeline__create(mdeploy_store *store, const mdeploy_pipeline *p,
                             const mdeploy_pipeline_run_options *opts, char id[37])
{
	json_t *vars = NULL;
	char *vtext = NULL;
	sqlite3_stmt *st = NULL;
	size_t i;
	int rc;

	if ((rc = resolve_variables(p, opts ? opts->variables : NULL, &vars)) != 0)
		return rc;
	if (!(vtext = json_dumps(vars, JSON_COMPACT | JSON_SORT_KEYS))) {
		json_decref(vars);
		return mdeploy__error_oom();
	}
	json_decref(vars);
	if ((rc = mdeploy_pipeline__uuid(id)) != 0 || (rc = mdeploy_store__begin(store)) != 0)
		goto out;
	if ((rc = bind_exec_insert(store, p, id, vtext, opts)) != 0)
		goto fail;
	if (!(st = mdeploy_store__prepare(store,
		"INSERT INTO pipeline_actions (execution_id, idx, stage, action, stage_index, type, run_order, status)"
		" VALUES (?, ?, ?, ?, ?, ?, ?, 'Pending')"))) {
		rc = MDEPLOY_ERROR;
		goto fail;
	}
	for (i = 0; i < p->nactions; i++) {
		const mdeploy_pipeline_action *a = &p->actions[i];
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
		sqlite3_bind_text(st, 3, a->stage, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, a->name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, (sqlite3_int64)a->stage_index);
		sqlite3_bind_text(st, 6, mdeploy_pipeline_action_type_name(a->type), -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 7, (int)a->run_order);
		if (sqlite3_step(st) != SQLITE_DONE) {
			rc = mdeploy_store__error(store, "cannot record the actions");
			goto fail;
		}
	}
	sqlite3_finalize(st);
	st = NULL;
	rc = mdeploy_store__commit(store);
	goto out;
fail:
	mdeploy_store__rollback(store);
out:
	sqlite3_finalize(st);
	free(vtext);
	return rc;
}
