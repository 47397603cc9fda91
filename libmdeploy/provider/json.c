/*
 * json.c - instances and load balancer targets as JSON: the elements of
 * `fleet show --json` .instances and `lb show --json` .targets, which the
 * web console's API answers too.
 */
#include "provider.h"

#include <jansson.h>

json_t *mdeploy_instance_to_json(const mdeploy_instance_info *i)
{
	return json_pack("{s:s, s:s, s:i, s:s, s:I, s:s, s:I}", "id", i->id, "address", i->address,
	                 "port", (int)i->port, "state", i->state, "pid", (json_int_t)i->pid, "root", i->root,
	                 "created_at", (json_int_t)i->created_at);
}

json_t *mdeploy_target_status_to_json(const mdeploy_target_status *t)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:s, s:i, s:s}",
		"slot", t->slot, "instance", t->instance, "fleet", t->fleet ? t->fleet : "",
		"address", t->address, "port", (int)t->port,
		"weight", (int)t->weight, "state", t->state, "health", t->health,
		"sessions", (json_int_t)t->sessions, "sessions_total", (json_int_t)t->sessions_total,
		"responses_total", (json_int_t)t->responses_total, "responses_5xx", (json_int_t)t->responses_5xx,
		"check_failures", (json_int_t)t->check_failures, "check_status", t->check_status ? t->check_status : "",
		"check_code", (int)t->check_code, "check_output", t->check_output ? t->check_output : "");
}
