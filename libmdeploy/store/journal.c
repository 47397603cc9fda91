/* journal.c - deployment records, their step journal, and named values. */
#include "store_private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

struct mdeploy_deployment {
	mdeploy_deployment_record rec;
	char *strings[13];
};

static const char *const final_states[] = { "Succeeded", "Failed", "Stopped", "RolledBack" };

int mdeploy_deployment_status_is_final(const char *status)
{
	size_t i;
	for (i = 0; status && i < MDEPLOY__ARRAY_SIZE(final_states); i++)
		if (!strcmp(status, final_states[i]))
			return 1;
	return 0;
}

int mdeploy_deployment_id_new(char out[12])
{
	static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
	unsigned char r[9];
	size_t i;

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return mdeploy__error_os(MDEPLOY_ERROR_CLASS_OS, "getrandom");
	out[0] = 'd';
	out[1] = '-';
	for (i = 0; i < 9; i++)
		out[2 + i] = b32[r[i] & 31];
	out[11] = '\0';
	return 0;
}

static void bind_opt(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

static int step_done(mdeploy_store *store, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		rc = 0;
	else
		rc = mdeploy_store__error(store, what);
	sqlite3_finalize(st);
	return rc;
}

int mdeploy_store_deployment_insert(mdeploy_store *store, const mdeploy_deployment_record *rec)
{
	sqlite3_stmt *st;
	int64_t now = mdeploy_store__unix_ms() / 1000;

	if (!rec->id || !rec->application || !rec->group)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_STORE,
		                          "a deployment needs an id, an application and a group");
	if (store->shared)
		return store->shared->deployment_insert(store->shared_impl, rec);
	st = mdeploy_store__prepare(store,
		"INSERT INTO deployments (id, application, group_name, status, strategy, revision, bundle,"
		" previous_revision, error, data, created_at, updated_at, created_by, bundle_sha256, bundle_key_id)"
		" VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
	if (!st)
		return MDEPLOY_ERROR;
	sqlite3_bind_text(st, 1, rec->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, rec->application, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, rec->group, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, rec->status ? rec->status : "Created", -1, SQLITE_STATIC);
	bind_opt(st, 5, rec->strategy);
	bind_opt(st, 6, rec->revision);
	bind_opt(st, 7, rec->bundle);
	bind_opt(st, 8, rec->previous_revision);
	bind_opt(st, 9, rec->error);
	bind_opt(st, 10, rec->data);
	sqlite3_bind_int64(st, 11, rec->created_at ? rec->created_at : now);
	sqlite3_bind_int64(st, 12, now);
	bind_opt(st, 13, rec->created_by);
	bind_opt(st, 14, rec->bundle_sha256);
	bind_opt(st, 15, rec->bundle_key_id);
	return step_done(store, st, "cannot insert a deployment");
}

static int check_changed(mdeploy_store *store, const char *id)
{
	if (sqlite3_changes(store->db) == 0)
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_STORE,
		                          "deployment '%s' not found", id);
	return 0;
}

int mdeploy_store_deployment_set_status(mdeploy_store *store, const char *id,
                                        const char *status, const char *error)
{
	int64_t now = mdeploy_store__unix_ms() / 1000;
	sqlite3_stmt *st;
	int rc;

	if (!status)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_STORE, "no status for deployment '%s'", id);
	if (store->shared)
		return store->shared->deployment_update(store->shared_impl, id, status, error, NULL);
	st = mdeploy_store__prepare(store,
		"UPDATE deployments SET status = ?, error = COALESCE(?, error), updated_at = ?,"
		" completed_at = ? WHERE id = ?");
	if (!st)
		return MDEPLOY_ERROR;
	sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
	bind_opt(st, 2, error);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_int64(st, 4, mdeploy_deployment_status_is_final(status) ? now : 0);
	sqlite3_bind_text(st, 5, id, -1, SQLITE_STATIC);
	if ((rc = step_done(store, st, "cannot update a deployment")))
		return rc;
	return check_changed(store, id);
}

int mdeploy_store_deployment_set_data(mdeploy_store *store, const char *id, const char *json)
{
	sqlite3_stmt *st;
	int rc;

	if (store->shared)
		return store->shared->deployment_update(store->shared_impl, id, NULL, NULL, json ? json : "");
	st = mdeploy_store__prepare(store, "UPDATE deployments SET data = ?, updated_at = ? WHERE id = ?");
	if (!st)
		return MDEPLOY_ERROR;
	bind_opt(st, 1, json);
	sqlite3_bind_int64(st, 2, mdeploy_store__unix_ms() / 1000);
	sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
	if ((rc = step_done(store, st, "cannot update a deployment")))
		return rc;
	return check_changed(store, id);
}

#define DEPLOYMENT_COLUMNS "id, application, group_name, status, strategy, revision, bundle," \
	" previous_revision, error, data, created_at, updated_at, completed_at, created_by, bundle_sha256," \
	" bundle_key_id"

static const char *col(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

static void row_to_record(sqlite3_stmt *st, mdeploy_deployment_record *r)
{
	r->id = col(st, 0);
	r->application = col(st, 1);
	r->group = col(st, 2);
	r->status = col(st, 3);
	r->strategy = col(st, 4);
	r->revision = col(st, 5);
	r->bundle = col(st, 6);
	r->previous_revision = col(st, 7);
	r->error = col(st, 8);
	r->data = col(st, 9);
	r->created_at = sqlite3_column_int64(st, 10);
	r->updated_at = sqlite3_column_int64(st, 11);
	r->completed_at = sqlite3_column_int64(st, 12);
	r->created_by = col(st, 13);
	r->bundle_sha256 = col(st, 14);
	r->bundle_key_id = col(st, 15);
}

/* A copy of `tmp` the caller owns. */
static int record_copy(mdeploy_deployment **out, const mdeploy_deployment_record *tmp)
{
	mdeploy_deployment *d;
	const char **src[13];
	int i;

	if (!(d = calloc(1, sizeof(*d))))
		return mdeploy__error_oom();
	d->rec = *tmp;
	src[0] = &d->rec.id; src[1] = &d->rec.application; src[2] = &d->rec.group;
	src[3] = &d->rec.status; src[4] = &d->rec.strategy; src[5] = &d->rec.revision;
	src[6] = &d->rec.bundle; src[7] = &d->rec.previous_revision; src[8] = &d->rec.error;
	src[9] = &d->rec.data; src[10] = &d->rec.created_by; src[11] = &d->rec.bundle_sha256;
	src[12] = &d->rec.bundle_key_id;
	for (i = 0; i < 13; i++) {
		if (*src[i] && !(d->strings[i] = mdeploy__strdup(*src[i]))) {
			mdeploy_deployment_free(d);
			return mdeploy__error_oom();
		}
		*src[i] = d->strings[i];
	}
	*out = d;
	return 0;
}

static int record_copy_cb(const mdeploy_deployment_record *rec, void *payload)
{
	return record_copy(payload, rec) ? 1 : 0;
}

int mdeploy_store_deployment_get(mdeploy_store *store, const char *id, mdeploy_deployment **out)
{
	sqlite3_stmt *st;
	mdeploy_deployment_record tmp;
	int rc;

	*out = NULL;
	if (store->shared) {
		rc = store->shared->deployment_get(store->shared_impl, id, record_copy_cb, out);
		if (rc == MDEPLOY_EUSER && !*out)
			return MDEPLOY_ENOMEM;
		return rc;
	}
	if (!(st = mdeploy_store__prepare(store, "SELECT " DEPLOYMENT_COLUMNS " FROM deployments WHERE id = ?")))
		return MDEPLOY_ERROR;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		sqlite3_finalize(st);
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_STORE,
		                          "deployment '%s' not found", id);
	}
	if (rc != SQLITE_ROW) {
		rc = mdeploy_store__error(store, "cannot read a deployment");
		sqlite3_finalize(st);
		return rc;
	}
	row_to_record(st, &tmp);
	rc = record_copy(out, &tmp);
	sqlite3_finalize(st);
	return rc;
}

const mdeploy_deployment_record *mdeploy_deployment_record_of(const mdeploy_deployment *d)
{
	return &d->rec;
}

void mdeploy_deployment_free(mdeploy_deployment *d)
{
	int i;
	if (!d)
		return;
	for (i = 0; i < 13; i++)
		free(d->strings[i]);
	free(d);
}

int mdeploy_store_deployment_foreach(mdeploy_store *store, const char *application,
                                     const char *group, unsigned int limit,
                                     mdeploy_deployment_cb cb, void *payload)
{
	sqlite3_stmt *st;
	int rc;

	if (store->shared)
		return store->shared->deployment_foreach(store->shared_impl, application, group, limit, cb, payload);
	st = mdeploy_store__prepare(store,
		"SELECT " DEPLOYMENT_COLUMNS " FROM deployments"
		" WHERE (?1 IS NULL OR application = ?1) AND (?2 IS NULL OR group_name = ?2)"
		" ORDER BY created_at DESC, rowid DESC LIMIT ?3");
	if (!st)
		return MDEPLOY_ERROR;
	bind_opt(st, 1, application);
	bind_opt(st, 2, group);
	sqlite3_bind_int64(st, 3, limit ? (sqlite3_int64)limit : -1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		mdeploy_deployment_record r;
		row_to_record(st, &r);
		if (cb(&r, payload)) {
			sqlite3_finalize(st);
			if (mdeploy_error_last()->code == 0)
				mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_CALLBACK, "aborted by callback");
			return MDEPLOY_EUSER;
		}
	}
	if (rc != SQLITE_DONE)
		rc = mdeploy_store__error(store, "cannot list deployments");
	else
		rc = 0;
	sqlite3_finalize(st);
	return rc;
}

int mdeploy_store_journal_begin(mdeploy_store *store, const char *deployment_id, const char *step,
                                const char *target, const char *data, int64_t *seq)
{
	sqlite3_stmt *st;
	int rc;

	if (store->shared)
		return store->shared->journal_begin(store->shared_impl, deployment_id, step, target, data, seq);
	if ((rc = mdeploy_store__begin(store)))
		return rc;
	st = mdeploy_store__prepare(store,
		"INSERT INTO journal (deployment_id, seq, step, target, state, data, started_at)"
		" SELECT ?1, COALESCE(MAX(seq), 0) + 1, ?2, ?3, 'started', ?4, ?5 FROM journal"
		" WHERE deployment_id = ?1");
	if (!st) {
		mdeploy_store__rollback(store);
		return MDEPLOY_ERROR;
	}
	sqlite3_bind_text(st, 1, deployment_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, step, -1, SQLITE_STATIC);
	bind_opt(st, 3, target);
	bind_opt(st, 4, data);
	sqlite3_bind_int64(st, 5, mdeploy_store__unix_ms());
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		rc = 0;
	} else {
		rc = mdeploy_store__error(store, "cannot write the journal");
		if (sqlite3_extended_errcode(store->db) == SQLITE_CONSTRAINT_FOREIGNKEY)
			rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_STORE,
			                        "deployment '%s' not found", deployment_id);
	}
	sqlite3_finalize(st);
	st = NULL;
	if (!rc && seq) {
		st = mdeploy_store__prepare(store, "SELECT seq FROM journal WHERE rowid = last_insert_rowid()");
		if (!st || sqlite3_step(st) != SQLITE_ROW)
			rc = st ? mdeploy_store__error(store, "cannot read the journal") : MDEPLOY_ERROR;
		else
			*seq = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	if (rc) {
		mdeploy_store__rollback(store);
		return rc;
	}
	return mdeploy_store__commit(store);
}

int mdeploy_store_journal_end(mdeploy_store *store, const char *deployment_id, int64_t seq,
                              int ok, const char *error)
{
	sqlite3_stmt *st;
	int rc;

	if (store->shared)
		return store->shared->journal_end(store->shared_impl, deployment_id, seq, ok, error);
	st = mdeploy_store__prepare(store,
		"UPDATE journal SET state = ?, error = ?, finished_at = ? WHERE deployment_id = ? AND seq = ?");
	if (!st)
		return MDEPLOY_ERROR;
	sqlite3_bind_text(st, 1, ok ? "done" : "failed", -1, SQLITE_STATIC);
	bind_opt(st, 2, ok ? NULL : error);
	sqlite3_bind_int64(st, 3, mdeploy_store__unix_ms());
	sqlite3_bind_text(st, 4, deployment_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, seq);
	if ((rc = step_done(store, st, "cannot write the journal")))
		return rc;
	if (sqlite3_changes(store->db) == 0)
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_STORE,
		                          "journal step %lld of '%s' not found", (long long)seq, deployment_id);
	return 0;
}

int mdeploy_store__journal_data(mdeploy_store *store, const char *deployment_id, int64_t seq, const char *data)
{
	sqlite3_stmt *st;
	int rc;
	if (store->shared)
		return store->shared->journal_data(store->shared_impl, deployment_id, seq, data);
	if (!(st = mdeploy_store__prepare(store, "UPDATE journal SET data = ? WHERE deployment_id = ? AND seq = ?")))
		return MDEPLOY_ERROR;
	bind_opt(st, 1, data);
	sqlite3_bind_text(st, 2, deployment_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, seq);
	if ((rc = step_done(store, st, "cannot write the journal")))
		return rc;
	if (sqlite3_changes(store->db) == 0)
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_STORE,
		                          "journal step %lld of '%s' not found", (long long)seq, deployment_id);
	return 0;
}

int mdeploy_store_journal_foreach(mdeploy_store *store, const char *deployment_id,
                                  mdeploy_journal_cb cb, void *payload)
{
	sqlite3_stmt *st;
	int rc;

	if (store->shared)
		return store->shared->journal_foreach(store->shared_impl, deployment_id, cb, payload);
	st = mdeploy_store__prepare(store,
		"SELECT deployment_id, seq, step, target, state, data, error, started_at, finished_at"
		" FROM journal WHERE deployment_id = ? ORDER BY seq");
	if (!st)
		return MDEPLOY_ERROR;
	sqlite3_bind_text(st, 1, deployment_id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		mdeploy_journal_entry e;
		e.deployment_id = col(st, 0);
		e.seq = sqlite3_column_int64(st, 1);
		e.step = col(st, 2);
		e.target = col(st, 3);
		e.state = col(st, 4);
		e.data = col(st, 5);
		e.error = col(st, 6);
		e.started_at = sqlite3_column_int64(st, 7);
		e.finished_at = sqlite3_column_int64(st, 8);
		if (cb(&e, payload)) {
			sqlite3_finalize(st);
			return mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_CALLBACK, "aborted by callback");
		}
	}
	rc = rc == SQLITE_DONE ? 0 : mdeploy_store__error(store, "cannot read the journal");
	sqlite3_finalize(st);
	return rc;
}

int mdeploy_store_value_set(mdeploy_store *store, const char *key, const char *value)
{
	sqlite3_stmt *st;
	if (store->shared && mdeploy_store__shared_key(key))
		return store->shared->value_set(store->shared_impl, key, value);
	st = mdeploy_store__prepare(store, value
		? "INSERT OR REPLACE INTO kv (key, value, updated_at) VALUES (?1, ?2, ?3)"
		: "DELETE FROM kv WHERE key = ?1");
	if (!st)
		return MDEPLOY_ERROR;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (value) {
		sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, mdeploy_store__unix_ms() / 1000);
	}
	return step_done(store, st, "cannot write a value");
}

int mdeploy_store_value_get(mdeploy_store *store, const char *key, char **out)
{
	sqlite3_stmt *st;
	int rc;

	*out = NULL;
	if (store->shared && mdeploy_store__shared_key(key))
		return store->shared->value_get(store->shared_impl, key, out);
	st = mdeploy_store__prepare(store, "SELECT value FROM kv WHERE key = ?");
	if (!st)
		return MDEPLOY_ERROR;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		rc = (*out = mdeploy__strdup(col(st, 0))) ? 0 : MDEPLOY_ENOMEM;
	} else if (rc == SQLITE_DONE) {
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_STORE, "'%s' is not set", key);
	} else {
		rc = mdeploy_store__error(store, "cannot read a value");
	}
	sqlite3_finalize(st);
	return rc;
}
