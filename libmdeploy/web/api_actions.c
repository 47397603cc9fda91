/*
 * api_actions.c - the requests that change something: approve or reject
 * an approval (mdeploy_pipeline_approve, as `pipeline approve`), stop a
 * deployment with or without rolling back (mdeploy_deploy_stop, as `deploy
 * stop [--rollback]`), roll a group back (mdeploy_deploy_rollback, as
 * `deploy rollback`). The router has checked the token, its right to write
 * and the CSRF token; each decision goes to the audit trail with who took it.
 */
#include "web_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The body as a JSON object; NULL after a 400 reply. An empty body is {}. */
static json_t *body_object(web_req *r, web_reply *out)
{
	json_error_t err;
	json_t *o;
	if (!r->body || !r->body_len)
		return json_object();
	if (!(o = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &err))) {
		mdeploy_web__reply_error(out, 400, "the body is not JSON: line %d column %d: %s", err.line, err.column, err.text);
		return NULL;
	}
	if (!json_is_object(o)) {
		json_decref(o);
		mdeploy_web__reply_error(out, 400, "the body must be a JSON object");
		return NULL;
	}
	return o;
}

static void audit(web_req *r, const char *action, const char *target, int ok, const char *detail)
{
	if (mdeploy_audit_record(r->ctx, r->who.who, action, target, ok ? "done" : "failed", detail))
		mdeploy_error_clear(); /* the reply says what happened; a full disk must not hide it */
}

void mdeploy_web__act_decide(web_req *r, web_reply *out, const char *id, int approve)
{
	json_t *body = body_object(r, out), *a, *c;
	const char *action, *comment = NULL, *verb = approve ? "approve" : "reject";
	char target[512];
	if (!body)
		return;
	a = json_object_get(body, "action");
	c = json_object_get(body, "comment");
	if (!json_is_string(a) || !strchr(json_string_value(a), '/') || strlen(json_string_value(a)) > 256) {
		mdeploy_web__reply_error(out, 400, "\"action\" must be the approval's \"STAGE/ACTION\"");
		goto out;
	}
	if (c && !json_is_null(c) && (!json_is_string(c) || strlen(json_string_value(c)) > 4096)) {
		mdeploy_web__reply_error(out, 400, "\"comment\" must be a string of at most 4096 bytes");
		goto out;
	}
	action = json_string_value(a);
	if (json_is_string(c) && *json_string_value(c))
		comment = json_string_value(c);
	snprintf(target, sizeof(target), "%.64s %s", id, action);
	if (mdeploy_pipeline_decide(r->ctx, id, action, approve, comment, r->who.who)) {
		char *msg = mdeploy__strdup(mdeploy_error_last()->message);
		mdeploy_web__reply_lib_error(out, NULL);
		audit(r, verb, target, 0, msg);
		free(msg);
		goto out;
	}
	audit(r, verb, target, 1, comment);
	mdeploy_web__reply_json(out, 200, json_pack("{s:s, s:s, s:s, s:s?, s:s}", "execution", id, "action", action,
	                                            "decision", approve ? "approved" : "rejected", "comment", comment,
	                                            "by", r->who.who));
out:
	json_decref(body);
}

static mdeploy_config *config(web_req *r, web_reply *out)
{
	mdeploy_config *cfg = NULL;
	if (mdeploy_config_load(&cfg, mdeploy_ctx_config_path(r->ctx), NULL)) {
		mdeploy_web__reply_lib_error(out, NULL);
		return NULL;
	}
	return cfg;
}

void mdeploy_web__act_stop(web_req *r, web_reply *out, const char *id)
{
	json_t *body = body_object(r, out), *rb;
	mdeploy_config *cfg = NULL;
	int rollback;
	if (!body)
		return;
	rb = json_object_get(body, "rollback");
	if (rb && !json_is_boolean(rb)) {
		mdeploy_web__reply_error(out, 400, "\"rollback\" must be true or false");
		goto out;
	}
	rollback = json_is_true(rb);
	if (!mdeploy_web__name_ok(id) || strchr(id, '/') || strlen(id) > 32) {
		mdeploy_web__reply_error(out, 400, "'%.64s' is not a deployment id", id);
		goto out;
	}
	if (!(cfg = config(r, out)))
		goto out;
	if (mdeploy_deploy_stop(r->ctx, cfg, id, rollback)) {
		char *msg = mdeploy__strdup(mdeploy_error_last()->message);
		mdeploy_web__reply_lib_error(out, "cannot stop");
		audit(r, rollback ? "stop-rollback" : "stop", id, 0, msg);
		free(msg);
		goto out;
	}
	audit(r, rollback ? "stop-rollback" : "stop", id, 1, NULL);
	mdeploy_web__reply_json(out, 200, json_pack("{s:s, s:b, s:s}", "id", id, "rollback", rollback, "by", r->who.who));
out:
	mdeploy_config_free(cfg);
	json_decref(body);
}

void mdeploy_web__act_rollback(web_req *r, web_reply *out, const char *group)
{
	json_t *body = body_object(r, out);
	mdeploy_config *cfg = NULL;
	mdeploy_deploy_options o = MDEPLOY_DEPLOY_OPTIONS_INIT;
	char id[12] = "";
	if (!body)
		return;
	if (!mdeploy_web__name_ok(group) || strchr(group, '/')) {
		mdeploy_web__reply_error(out, 400, "'%.64s' is not a group name", group);
		goto out;
	}
	if (!(cfg = config(r, out)))
		goto out;
	if (!mdeploy_config_group_find(cfg, group)) {
		mdeploy_web__reply_error(out, 404, "no group '%s' in %s", group, mdeploy_ctx_config_path(r->ctx));
		goto out;
	}
	o.group = group;
	o.by = r->who.who;
	if (mdeploy_deploy_rollback(r->ctx, cfg, &o, id)) {
		char *msg = mdeploy__strdup(mdeploy_error_last()->message);
		mdeploy_web__reply_lib_error(out, "rollback failed");
		if (id[0])
			json_object_set_new(out->json, "id", json_string(id));
		audit(r, "rollback", group, 0, msg);
		free(msg);
		goto out;
	}
	audit(r, "rollback", group, 1, id);
	mdeploy_web__reply_json(out, 200, json_pack("{s:s, s:s, s:s, s:s}", "id", id, "group", group,
	                                            "status", "Succeeded", "by", r->who.who));
out:
	mdeploy_config_free(cfg);
	json_decref(body);
}
