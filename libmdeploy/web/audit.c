/*
 * audit.c - the audit trail: every decision taken (or refused) through the
 * console, with who took it, in the state store; and the web module's
 * tables (a migration store.c applies).
 */
#include "web_private.h"
#include "store/store_private.h"

#include <stdlib.h>
#include <string.h>

/* Never edit once shipped: add a migration instead. */
const char mdeploy_web__schema[] =
	/* Console tokens: only the SHA-256 of the secret is kept. */
	"CREATE TABLE web_tokens ("
	" name TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, read_only INTEGER NOT NULL,"
	" created_at INTEGER NOT NULL, last_used_at INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE audit ("
	" seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, who TEXT NOT NULL,"
	" action TEXT NOT NULL, target TEXT NOT NULL, outcome TEXT NOT NULL, detail TEXT);";

int mdeploy_audit_record(mdeploy_ctx *ctx, const char *who, const char *action, const char *target,
                         const char *outcome, const char *detail)
{
	mdeploy_store *st = NULL;
	sqlite3_stmt *q;
	int rc;
	if (!who || !action || !target || !outcome)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_INVALID, "an audit entry needs who, action, target, outcome");
	if ((rc = mdeploy_store_open(&st, ctx, NULL)))
		return rc;
	if (!(q = mdeploy_store__prepare(st, "INSERT INTO audit (at, who, action, target, outcome, detail) VALUES (?, ?, ?, ?, ?, ?)"))) {
		mdeploy_store_free(st);
		return mdeploy_error_last()->code;
	}
	sqlite3_bind_int64(q, 1, mdeploy_store__unix_ms());
	sqlite3_bind_text(q, 2, who, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, action, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, target, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 5, outcome, -1, SQLITE_STATIC);
	if (detail)
		sqlite3_bind_text(q, 6, detail, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(q, 6);
	rc = sqlite3_step(q) == SQLITE_DONE ? 0 : mdeploy_store__error(st, "cannot write the audit trail");
	sqlite3_finalize(q);
	mdeploy_store_free(st);
	return rc;
}

int mdeploy_audit_foreach(mdeploy_ctx *ctx, unsigned int limit, mdeploy_audit_cb cb, void *payload)
{
	mdeploy_store *st = NULL;
	sqlite3_stmt *q;
	int rc;
	if ((rc = mdeploy_store_open(&st, ctx, NULL)))
		return rc;
	if (!(q = mdeploy_store__prepare(st, "SELECT seq, at, who, action, target, outcome, detail FROM audit"
	                                     " ORDER BY seq DESC LIMIT ?"))) {
		mdeploy_store_free(st);
		return mdeploy_error_last()->code;
	}
	sqlite3_bind_int64(q, 1, limit ? (sqlite3_int64)limit : -1);
	rc = 0;
	while (sqlite3_step(q) == SQLITE_ROW) {
		mdeploy_audit_entry e;
		e.seq = sqlite3_column_int64(q, 0);
		e.at = sqlite3_column_int64(q, 1);
		e.who = (const char *)sqlite3_column_text(q, 2);
		e.action = (const char *)sqlite3_column_text(q, 3);
		e.target = (const char *)sqlite3_column_text(q, 4);
		e.outcome = (const char *)sqlite3_column_text(q, 5);
		e.detail = (const char *)sqlite3_column_text(q, 6);
		if (cb(&e, payload)) {
			rc = mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_CALLBACK, "audit listing stopped by the callback");
			break;
		}
	}
	sqlite3_finalize(q);
	mdeploy_store_free(st);
	return rc;
}

json_t *mdeploy_audit_entry_to_json(const mdeploy_audit_entry *e)
{
	return json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:s?}", "seq", (json_int_t)e->seq, "at", (json_int_t)e->at,
	                 "who", e->who, "action", e->action, "target", e->target, "outcome", e->outcome,
	                 "detail", e->detail);
}

static int audit_cb(const mdeploy_audit_entry *e, void *payload)
{
	json_array_append_new(payload, mdeploy_audit_entry_to_json(e));
	return 0;
}

void mdeploy_web__api_audit(web_req *r, web_reply *out)
{
	int limit = mdeploy_web__arg_limit(r, out, 100, 10000);
	json_t *arr;
	if (limit < 0)
		return;
	arr = json_array();
	if (mdeploy_audit_foreach(r->ctx, (unsigned int)limit, audit_cb, arr)) {
		json_decref(arr);
		mdeploy_web__reply_lib_error(out, "cannot read the audit trail");
		return;
	}
	mdeploy_web__reply_json(out, 200, json_pack("{s:o}", "audit", arr));
}
