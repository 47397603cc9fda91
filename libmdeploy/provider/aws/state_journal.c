/*
 * state_journal.c - deployment records and their journal as DynamoDB items
 * (the layout is in state.h): a record is the item (id, 0), its steps are
 * (id, 1), (id, 2)... A step's number is the last one + 1, written on
 * condition that the item does not exist yet, so two writers never share
 * a number. Reads of one deployment are strongly consistent; the history of
 * a group comes from the by-group index (newest first).
 */
#include "provider/aws/state.h"
#include "store/store_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLS MDEPLOY_ERROR_CLASS_STORE

static void set_s(json_t *item, const char *name, const char *v)
{
	if (v)
		json_object_set_new(item, name, mdeploy_awsp__av_s(v));
}

static void set_n(json_t *item, const char *name, int64_t v)
{
	json_object_set_new(item, name, mdeploy_awsp__av_n(v));
}

int mdeploy_awsp__deployment_insert(void *impl, const mdeploy_deployment_record *rec)
{
	mdeploy_awsp__state *s = impl;
	int64_t now = mdeploy_awsp__ddb_now_ms(s);
	json_t *item = json_object(), *resp = NULL;
	char *gpk = mdeploy__sprintf("%s/%s", rec->application, rec->group);
	int rc;

	if (!item || !gpk) {
		json_decref(item);
		free(gpk);
		return mdeploy__error_oom();
	}
	set_s(item, "pk", rec->id);
	set_n(item, "sk", 0);
	set_s(item, "gpk", gpk);
	set_s(item, "application", rec->application);
	set_s(item, "group_name", rec->group);
	set_s(item, "status", rec->status ? rec->status : "Created");
	set_s(item, "strategy", rec->strategy);
	set_s(item, "revision", rec->revision);
	set_s(item, "bundle", rec->bundle);
	set_s(item, "previous_revision", rec->previous_revision);
	set_s(item, "error", rec->error);
	set_s(item, "data", rec->data);
	set_s(item, "created_by", rec->created_by);
	set_s(item, "bundle_sha256", rec->bundle_sha256);
	set_s(item, "bundle_key_id", rec->bundle_key_id);
	set_n(item, "created_at", rec->created_at ? rec->created_at : now / 1000);
	set_n(item, "created_ms", rec->created_at ? rec->created_at * 1000 : now);
	set_n(item, "updated_at", now / 1000);
	set_n(item, "completed_at", 0);
	free(gpk);
	rc = mdeploy_awsp__ddb(s, "PutItem", json_pack("{s:o, s:s}", "Item", item, "ConditionExpression",
	                                              "attribute_not_exists(pk)"), &resp);
	json_decref(resp);
	if (rc == MDEPLOY_EEXISTS)
		return mdeploy__error_set(MDEPLOY_EEXISTS, CLS, "deployment '%s' exists (state table '%s')", rec->id,
		                          s->table);
	return rc;
}

int mdeploy_awsp__deployment_update(void *impl, const char *id, const char *status, const char *error,
                                    const char *data)
{
	mdeploy_awsp__state *s = impl;
	int64_t now = mdeploy_awsp__ddb_now_ms(s) / 1000;
	json_t *names = json_object(), *values = json_object(), *resp = NULL;
	mdeploy__buf expr = MDEPLOY__BUF_INIT;
	int rc;

	if (!names || !values) {
		json_decref(names);
		json_decref(values);
		return mdeploy__error_oom();
	}
	json_object_set_new(names, "#ua", json_string("updated_at"));
	set_n(values, ":ua", now);
	mdeploy__buf_printf(&expr, "SET #ua = :ua");
	if (status) {
		json_object_set_new(names, "#st", json_string("status"));
		json_object_set_new(names, "#ca", json_string("completed_at"));
		set_s(values, ":st", status);
		set_n(values, ":ca", mdeploy_deployment_status_is_final(status) ? now : 0);
		mdeploy__buf_printf(&expr, ", #st = :st, #ca = :ca");
		if (error) {
			json_object_set_new(names, "#er", json_string("error"));
			set_s(values, ":er", error);
			mdeploy__buf_printf(&expr, ", #er = :er");
		}
	} else {
		json_object_set_new(names, "#d", json_string("data"));
		if (data && *data) {
			set_s(values, ":d", data);
			mdeploy__buf_printf(&expr, ", #d = :d");
		} else {
			mdeploy__buf_printf(&expr, " REMOVE #d");
		}
	}
	rc = mdeploy_awsp__ddb(s, "UpdateItem",
		json_pack("{s:o, s:s, s:s, s:o, s:o}", "Key", mdeploy_awsp__key(id, 0), "UpdateExpression",
		          mdeploy__buf_cstr(&expr), "ConditionExpression", "attribute_exists(pk)",
		          "ExpressionAttributeNames", names, "ExpressionAttributeValues", values), &resp);
	mdeploy__buf_dispose(&expr);
	json_decref(resp);
	if (rc == MDEPLOY_EEXISTS)
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS, "deployment '%s' not found", id);
	return rc;
}

static void item_to_record(const json_t *item, mdeploy_deployment_record *r)
{
	memset(r, 0, sizeof(*r));
	r->id = mdeploy_awsp__item_s(item, "pk");
	r->application = mdeploy_awsp__item_s(item, "application");
	r->group = mdeploy_awsp__item_s(item, "group_name");
	r->status = mdeploy_awsp__item_s(item, "status");
	r->strategy = mdeploy_awsp__item_s(item, "strategy");
	r->revision = mdeploy_awsp__item_s(item, "revision");
	r->bundle = mdeploy_awsp__item_s(item, "bundle");
	r->previous_revision = mdeploy_awsp__item_s(item, "previous_revision");
	r->error = mdeploy_awsp__item_s(item, "error");
	r->data = mdeploy_awsp__item_s(item, "data");
	r->created_at = mdeploy_awsp__item_n(item, "created_at");
	r->updated_at = mdeploy_awsp__item_n(item, "updated_at");
	r->completed_at = mdeploy_awsp__item_n(item, "completed_at");
	r->created_by = mdeploy_awsp__item_s(item, "created_by");
	r->bundle_sha256 = mdeploy_awsp__item_s(item, "bundle_sha256");
	r->bundle_key_id = mdeploy_awsp__item_s(item, "bundle_key_id");
}

/* A record must have what the SQLite schema requires. */
static int item_is_record(const json_t *item)
{
	return mdeploy_awsp__item_s(item, "pk") && mdeploy_awsp__item_s(item, "application") &&
	       mdeploy_awsp__item_s(item, "group_name") && mdeploy_awsp__item_s(item, "status") &&
	       mdeploy_awsp__item_n(item, "sk") == 0;
}

static int callback_abort(void)
{
	if (mdeploy_error_last()->code == 0)
		mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_CALLBACK, "aborted by callback");
	return MDEPLOY_EUSER;
}

int mdeploy_awsp__deployment_get(void *impl, const char *id, mdeploy_deployment_cb cb, void *payload)
{
	mdeploy_awsp__state *s = impl;
	mdeploy_deployment_record r;
	json_t *resp = NULL, *item;
	int rc;

	if ((rc = mdeploy_awsp__ddb(s, "GetItem",
	                            json_pack("{s:o, s:b}", "Key", mdeploy_awsp__key(id, 0), "ConsistentRead", 1), &resp)))
		return rc;
	item = json_object_get(resp, "Item");
	if (!json_is_object(item) || !item_is_record(item)) {
		json_decref(resp);
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS, "deployment '%s' not found", id);
	}
	item_to_record(item, &r);
	rc = cb(&r, payload) ? callback_abort() : 0;
	json_decref(resp);
	return rc;
}

static int by_created_desc(const void *a, const void *b)
{
	int64_t x = mdeploy_awsp__item_n(*(json_t *const *)a, "created_ms");
	int64_t y = mdeploy_awsp__item_n(*(json_t *const *)b, "created_ms");
	return x < y ? 1 : x > y ? -1 : 0;
}

/*
 * Records newest first. With an application and a group: the by-group index,
 * page by page until `limit`. Otherwise (every group): a scan of the records,
 * sorted here.
 */
int mdeploy_awsp__deployment_foreach(void *impl, const char *application, const char *group, unsigned int limit,
                                     mdeploy_deployment_cb cb, void *payload)
{
	mdeploy_awsp__state *s = impl;
	json_t *start = NULL, *all = json_array();
	unsigned int n = 0;
	int rc = 0, indexed = application && group;
	size_t i;

	if (!all)
		return mdeploy__error_oom();
	do {
		json_t *req, *resp = NULL, *items, *item;
		if (indexed) {
			char *gpk = mdeploy__sprintf("%s/%s", application, group);
			req = json_pack("{s:s, s:s, s:{s:o}, s:b}", "IndexName", "by-group", "KeyConditionExpression",
			                "gpk = :g", "ExpressionAttributeValues", ":g", mdeploy_awsp__av_s(gpk ? gpk : ""),
			                "ScanIndexForward", 0);
			free(gpk);
		} else if (application) {
			req = json_pack("{s:s, s:{s:s}, s:{s:o, s:o}, s:b}", "FilterExpression",
			                "sk = :z AND attribute_exists(gpk) AND #a = :a", "ExpressionAttributeNames", "#a",
			                "application", "ExpressionAttributeValues", ":z", mdeploy_awsp__av_n(0), ":a",
			                mdeploy_awsp__av_s(application), "ConsistentRead", 1);
		} else {
			req = json_pack("{s:s, s:{s:o}, s:b}", "FilterExpression", "sk = :z AND attribute_exists(gpk)",
			                "ExpressionAttributeValues", ":z", mdeploy_awsp__av_n(0), "ConsistentRead", 1);
		}
		if (req && start)
			json_object_set_new(req, "ExclusiveStartKey", start);
		else
			json_decref(start);
		start = NULL;
		if ((rc = mdeploy_awsp__ddb(s, indexed ? "Query" : "Scan", req, &resp)))
			break;
		items = json_object_get(resp, "Items");
		json_array_foreach(items, i, item) {
			if (!item_is_record(item) || (group && strcmp(mdeploy_awsp__item_s(item, "group_name"), group)))
				continue;
			json_array_append(all, item);
		}
		if ((start = json_object_get(resp, "LastEvaluatedKey")))
			json_incref(start);
		json_decref(resp);
		if (indexed && limit && json_array_size(all) >= limit)
			break;
	} while (start);
	json_decref(start);
	if (!rc) {
		json_t *item;
		json_t **v = calloc(json_array_size(all) + 1, sizeof(*v));
		size_t cnt = json_array_size(all);
		if (!v) {
			json_decref(all);
			return mdeploy__error_oom();
		}
		json_array_foreach(all, i, item)
			v[i] = item;
		/* Stable order for equal times: the index gives them in its own order, keep it. */
		if (!indexed)
			qsort(v, cnt, sizeof(*v), by_created_desc);
		for (i = 0; i < cnt && (!limit || n < limit); i++, n++) {
			mdeploy_deployment_record r;
			item_to_record(v[i], &r);
			if (cb(&r, payload)) {
				rc = callback_abort();
				break;
			}
		}
		free(v);
	}
	json_decref(all);
	return rc;
}

/* The journal */

int mdeploy_awsp__journal_begin(void *impl, const char *id, const char *step, const char *target,
                                const char *data, int64_t *seq)
{
	mdeploy_awsp__state *s = impl;
	int attempt, rc = 0;

	for (attempt = 0; attempt < 20; attempt++) {
		json_t *resp = NULL, *items, *item;
		int64_t next;

		rc = mdeploy_awsp__ddb(s, "Query",
			json_pack("{s:s, s:{s:o}, s:b, s:i, s:b}", "KeyConditionExpression", "pk = :d",
			          "ExpressionAttributeValues", ":d", mdeploy_awsp__av_s(id), "ScanIndexForward", 0,
			          "Limit", 1, "ConsistentRead", 1), &resp);
		if (rc)
			return rc;
		items = json_object_get(resp, "Items");
		if (json_array_size(items) == 0) {
			json_decref(resp);
			return mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS, "deployment '%s' not found", id);
		}
		next = mdeploy_awsp__item_n(json_array_get(items, 0), "sk") + 1;
		json_decref(resp);
		resp = NULL;
		if (!(item = json_object()))
			return mdeploy__error_oom();
		set_s(item, "pk", id);
		set_n(item, "sk", next);
		set_s(item, "step", step);
		set_s(item, "target", target);
		set_s(item, "state", "started");
		set_s(item, "data", data);
		set_n(item, "started_at", mdeploy_awsp__ddb_now_ms(s));
		set_n(item, "finished_at", 0);
		rc = mdeploy_awsp__ddb(s, "PutItem", json_pack("{s:o, s:s}", "Item", item, "ConditionExpression",
		                                              "attribute_not_exists(pk)"), &resp);
		json_decref(resp);
		if (rc == 0) {
			if (seq)
				*seq = next;
			return 0;
		}
		if (rc != MDEPLOY_EEXISTS)
			return rc;
		/* Another writer took this number: read the last one again. */
	}
	return mdeploy__error_set(MDEPLOY_ECONFLICT, CLS, "journal of '%s': no free step number after %d attempts",
	                          id, attempt);
}

static int journal_update(mdeploy_awsp__state *s, const char *id, int64_t seq, const char *expr, json_t *names,
                          json_t *values)
{
	json_t *req, *resp = NULL;
	int rc;

	if (seq <= 0)
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS, "journal step %lld of '%s' not found", (long long)seq, id);
	req = json_pack("{s:o, s:s, s:s, s:o}", "Key", mdeploy_awsp__key(id, seq), "UpdateExpression", expr,
	                "ConditionExpression", "attribute_exists(pk)", "ExpressionAttributeNames", names);
	if (req && values && json_object_size(values))
		json_object_set(req, "ExpressionAttributeValues", values);
	json_decref(values);
	rc = mdeploy_awsp__ddb(s, "UpdateItem", req, &resp);
	json_decref(resp);
	if (rc == MDEPLOY_EEXISTS)
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS, "journal step %lld of '%s' not found", (long long)seq, id);
	return rc;
}

int mdeploy_awsp__journal_end(void *impl, const char *id, int64_t seq, int ok, const char *error)
{
	mdeploy_awsp__state *s = impl;
	json_t *values = json_object();

	if (!values)
		return mdeploy__error_oom();
	set_s(values, ":s", ok ? "done" : "failed");
	set_n(values, ":f", mdeploy_awsp__ddb_now_ms(s));
	if (!ok && error)
		set_s(values, ":e", error);
	return journal_update(s, id, seq, !ok && error ? "SET #s = :s, #f = :f, #e = :e" : "SET #s = :s, #f = :f REMOVE #e",
	                      json_pack("{s:s, s:s, s:s}", "#s", "state", "#f", "finished_at", "#e", "error"), values);
}

int mdeploy_awsp__journal_data(void *impl, const char *id, int64_t seq, const char *data)
{
	mdeploy_awsp__state *s = impl;
	json_t *values = json_object();

	if (!values)
		return mdeploy__error_oom();
	if (data)
		set_s(values, ":d", data);
	return journal_update(s, id, seq, data ? "SET #d = :d" : "REMOVE #d", json_pack("{s:s}", "#d", "data"), values);
}

int mdeploy_awsp__journal_foreach(void *impl, const char *id, mdeploy_journal_cb cb, void *payload)
{
	mdeploy_awsp__state *s = impl;
	json_t *start = NULL;
	int rc = 0;

	do {
		json_t *req, *resp = NULL, *items, *item;
		size_t i;
		req = json_pack("{s:s, s:{s:o, s:o}, s:b}", "KeyConditionExpression", "pk = :d AND sk > :z",
		                "ExpressionAttributeValues", ":d", mdeploy_awsp__av_s(id), ":z", mdeploy_awsp__av_n(0),
		                "ConsistentRead", 1);
		if (req && start)
			json_object_set_new(req, "ExclusiveStartKey", start);
		else
			json_decref(start);
		start = NULL;
		if ((rc = mdeploy_awsp__ddb(s, "Query", req, &resp)))
			break;
		items = json_object_get(resp, "Items");
		json_array_foreach(items, i, item) {
			mdeploy_journal_entry e;
			e.deployment_id = id;
			e.seq = mdeploy_awsp__item_n(item, "sk");
			e.step = mdeploy_awsp__item_s(item, "step");
			e.target = mdeploy_awsp__item_s(item, "target");
			e.state = mdeploy_awsp__item_s(item, "state");
			e.data = mdeploy_awsp__item_s(item, "data");
			e.error = mdeploy_awsp__item_s(item, "error");
			e.started_at = mdeploy_awsp__item_n(item, "started_at");
			e.finished_at = mdeploy_awsp__item_n(item, "finished_at");
			if (!e.step || !e.state)
				continue; /* not a step written by mdeploy */
			if (cb(&e, payload)) {
				rc = mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_CALLBACK, "aborted by callback");
				break;
			}
		}
		if (!rc && (start = json_object_get(resp, "LastEvaluatedKey")))
			json_incref(start);
		json_decref(resp);
	} while (!rc && start);
	json_decref(start);
	return rc;
}
