/*
 * json.c - an execution as JSON: what `pipeline status|history --json`
 * print and the web console's API answers.
 */
#include "pipeline_private.h"

#include <jansson.h>

json_t *mdeploy_pipeline_execution_to_json(const mdeploy_pipeline_execution_info *i)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:s?, s:s?, s:I, s:I, s:I}",
	                      "id", i->id, "pipeline", i->pipeline, "status", i->status, "mode", i->mode,
	                      "trigger", i->trigger, "revision", i->revision, "error", i->error,
	                      "current_stage", i->current_stage, "created_at", (json_int_t)i->created_at,
	                      "updated_at", (json_int_t)i->updated_at, "completed_at", (json_int_t)i->completed_at);
	json_t *vars = i->variables ? json_loads(i->variables, 0, NULL) : NULL;
	size_t k;
	if (!o) {
		json_decref(vars);
		return NULL;
	}
	json_object_set_new(o, "variables", vars ? vars : json_object());
	if (i->action_count) {
		json_t *acts = json_array();
		for (k = 0; k < i->action_count; k++) {
			const mdeploy_pipeline_action_state *a = &i->actions[k];
			json_t *v = a->variables ? json_loads(a->variables, 0, NULL) : NULL;
			json_t *art = a->artifacts ? json_loads(a->artifacts, 0, NULL) : NULL;
			json_array_append_new(acts, json_pack("{s:s, s:s, s:s, s:i, s:s, s:i, s:s?, s:s?, s:s?, s:s?,"
			                                      " s:o, s:o, s:I, s:I, s:I, s:I}",
				"stage", a->stage, "action", a->action, "type", a->type, "run_order", (int)a->run_order,
				"status", a->status, "attempt", (int)a->attempt, "error", a->error, "summary", a->summary,
				"comment", a->comment, "log", a->log_path, "variables", v ? v : json_object(),
				"artifacts", art ? art : json_object(), "started_at", (json_int_t)a->started_at,
				"finished_at", (json_int_t)a->finished_at, "deadline", (json_int_t)a->deadline,
				"worker_pid", (json_int_t)a->worker_pid));
		}
		json_object_set_new(o, "actions", acts);
	}
	return o;
}
