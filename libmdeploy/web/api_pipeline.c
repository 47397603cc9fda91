/*
 * api_pipeline.c - GET /api/pipelines, /api/executions[/ID[/log]],
 * /api/approvals: the documents of `pipeline history|status --json`.
 */
#include "web_private.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int history_cb(const mdeploy_pipeline_execution_info *i, void *payload)
{
	json_array_append_new(payload, mdeploy_pipeline_execution_to_json(i));
	return 0;
}

void mdeploy_web__api_executions(web_req *r, web_reply *out)
{
	const char *pipeline = mdeploy_web__arg(r, "pipeline");
	int limit = mdeploy_web__arg_limit(r, out, 20, 1000);
	json_t *arr;
	if (limit < 0)
		return;
	if (pipeline && !mdeploy_web__name_ok(pipeline)) {
		mdeploy_web__reply_error(out, 400, "pipeline '%.64s' is not a pipeline name", pipeline);
		return;
	}
	arr = json_array();
	if (mdeploy_pipeline_history(r->ctx, pipeline, (unsigned int)limit, history_cb, arr)) {
		json_decref(arr);
		mdeploy_web__reply_lib_error(out, "cannot read the executions");
		return;
	}
	mdeploy_web__reply_json(out, 200, json_pack("{s:o}", "executions", arr));
}

static int id_ok(web_reply *out, const char *id)
{
	size_t n;
	for (n = 0; id[n]; n++)
		if (n >= 64 || !((id[n] >= '0' && id[n] <= '9') || (id[n] >= 'a' && id[n] <= 'f') ||
		                 (id[n] >= 'A' && id[n] <= 'F') || id[n] == '-'))
			break;
	if (!n || id[n]) {
		mdeploy_web__reply_error(out, 400, "'%.64s' is not an execution id", id);
		return 0;
	}
	return 1;
}

void mdeploy_web__api_execution(web_req *r, web_reply *out, const char *id)
{
	mdeploy_pipeline_execution *e = NULL;
	if (!id_ok(out, id))
		return;
	if (mdeploy_pipeline_execution_get(r->ctx, id, &e)) {
		mdeploy_web__reply_lib_error(out, NULL);
		return;
	}
	mdeploy_web__reply_json(out, 200, mdeploy_pipeline_execution_to_json(mdeploy_pipeline_execution_info_of(e)));
	mdeploy_pipeline_execution_free(e);
}

/* Bytes as a JSON string: invalid UTF-8 becomes U+FFFD. */
static json_t *text_json(const char *s, size_t n)
{
	mdeploy__buf b = MDEPLOY__BUF_INIT;
	size_t i = 0;
	json_t *j;
	while (i < n) {
		size_t k = 1;
		unsigned char c = (unsigned char)s[i];
		if (c >= 0xc2 && c <= 0xdf) k = 2;
		else if (c >= 0xe0 && c <= 0xef) k = 3;
		else if (c >= 0xf0 && c <= 0xf4) k = 4;
		if ((c < 0x80 && c) || (k > 1 && i + k <= n && mdeploy__utf8_valid(s + i, k))) {
			mdeploy__buf_put(&b, s + i, k);
			i += k;
		} else {
			mdeploy__buf_puts(&b, "\xef\xbf\xbd");
			i++;
		}
	}
	j = json_stringn(b.ptr ? b.ptr : "", b.size);
	mdeploy__buf_dispose(&b);
	return j;
}

void mdeploy_web__api_execution_log(web_req *r, web_reply *out, const char *id)
{
	const char *action = mdeploy_web__arg(r, "action"), *tail_s = mdeploy_web__arg(r, "tail");
	const mdeploy_pipeline_action_state *a = NULL;
	char *running_log = NULL;
	const mdeploy_pipeline_execution_info *info;
	mdeploy_pipeline_execution *e = NULL;
	const char *a_log;
	unsigned long tail = 16384;
	size_t k, slash;
	char *buf = NULL, *end;
	struct stat sb;
	ssize_t got = 0;
	off_t from = 0;
	int fd;

	if (!id_ok(out, id))
		return;
	if (!action || !strchr(action, '/')) {
		mdeploy_web__reply_error(out, 400, "action=STAGE/ACTION is needed");
		return;
	}
	if (tail_s) {
		tail = strtoul(tail_s, &end, 10);
		if (!*tail_s || *end || *tail_s == '-' || tail < 1 || tail > 1048576) {
			mdeploy_web__reply_error(out, 400, "tail '%.40s' is not a number of bytes from 1 to 1048576", tail_s);
			return;
		}
	}
	if (mdeploy_pipeline_execution_get(r->ctx, id, &e)) {
		mdeploy_web__reply_lib_error(out, NULL);
		return;
	}
	info = mdeploy_pipeline_execution_info_of(e);
	slash = (size_t)(strchr(action, '/') - action);
	for (k = 0; k < info->action_count; k++)
		if (strlen(info->actions[k].stage) == slash && !strncmp(info->actions[k].stage, action, slash) &&
		    !strcmp(info->actions[k].action, action + slash + 1))
			break;
	a = k < info->action_count ? &info->actions[k] : NULL;
	if (!a) {
		mdeploy_web__reply_error(out, 404, "execution %s has no action '%.128s'", info->id, action);
		goto done;
	}
	/* A shell action's output is recorded when it ends; while it runs the
	 * worker writes it to its directory (pipeline/worker.c): the k-th action. */
	if (!a->log_path && !strcmp(a->type, "shell") && a->started_at)
		running_log = mdeploy__sprintf("%s/pipelines/%s/%zu/output.log", mdeploy_ctx_state_dir(r->ctx), info->id, k);
	if (running_log)
		a_log = running_log;
	else
		a_log = a->log_path;
	if (!a_log || (fd = open(a_log, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		mdeploy_web__reply_json(out, 200, json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:b}", "execution", info->id,
			"action", action, "status", a->status, "log", "", "size", (json_int_t)0, "offset", (json_int_t)0,
			"truncated", 0));
		goto done;
	}
	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode)) {
		from = sb.st_size > (off_t)tail ? sb.st_size - (off_t)tail : 0;
		if ((buf = malloc((size_t)(sb.st_size - from) + 1)))
			got = pread(fd, buf, (size_t)(sb.st_size - from), from);
	}
	close(fd);
	mdeploy_web__reply_json(out, 200, json_pack("{s:s, s:s, s:s, s:o, s:I, s:I, s:b}", "execution", info->id,
		"action", action, "status", a->status, "log", text_json(buf ? buf : "", got > 0 ? (size_t)got : 0),
		"size", (json_int_t)sb.st_size, "offset", (json_int_t)from, "truncated", from > 0));
	free(buf);
done:
	free(running_log);
	mdeploy_pipeline_execution_free(e);
}

struct approvals {
	web_req *r;
	json_t *arr;
};

static int approvals_cb(const mdeploy_pipeline_execution_info *i, void *payload)
{
	struct approvals *ap = payload;
	mdeploy_pipeline_execution *e = NULL;
	const mdeploy_pipeline_execution_info *full;
	size_t k;
	if (mdeploy_pipeline_status_is_final(i->status))
		return 0;
	if (mdeploy_pipeline_execution_get(ap->r->ctx, i->id, &e)) {
		mdeploy_error_clear();
		return 0;
	}
	full = mdeploy_pipeline_execution_info_of(e);
	for (k = 0; k < full->action_count; k++) {
		const mdeploy_pipeline_action_state *a = &full->actions[k];
		char name[512];
		if (strcmp(a->status, "Waiting"))
			continue;
		snprintf(name, sizeof(name), "%s/%s", a->stage, a->action);
		json_array_append_new(ap->arr, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:s?, s:I, s:I}",
			"execution", full->id, "pipeline", full->pipeline, "action", name, "stage", a->stage,
			"name", a->action, "summary", a->summary, "revision", full->revision,
			"started_at", (json_int_t)a->started_at, "deadline", (json_int_t)a->deadline));
	}
	mdeploy_pipeline_execution_free(e);
	return 0;
}

void mdeploy_web__api_approvals(web_req *r, web_reply *out)
{
	struct approvals ap = { r, json_array() };
	if (mdeploy_pipeline_history(r->ctx, NULL, 200, approvals_cb, &ap)) {
		json_decref(ap.arr);
		mdeploy_web__reply_lib_error(out, "cannot read the executions");
		return;
	}
	mdeploy_web__reply_json(out, 200, json_pack("{s:o}", "approvals", ap.arr));
}

static int pipelines_cb(const mdeploy_pipeline_execution_info *i, void *payload)
{
	json_t *obj = payload;
	if (!json_object_get(obj, i->pipeline))
		json_object_set_new(obj, i->pipeline, mdeploy_pipeline_execution_to_json(i));
	return 0;
}

void mdeploy_web__api_pipelines(web_req *r, web_reply *out)
{
	json_t *latest = json_object(), *arr = json_array(), *v;
	const char *k;
	if (mdeploy_pipeline_history(r->ctx, NULL, 1000, pipelines_cb, latest)) {
		json_decref(latest);
		json_decref(arr);
		mdeploy_web__reply_lib_error(out, "cannot read the executions");
		return;
	}
	json_object_foreach(latest, k, v)
		json_array_append_new(arr, json_pack("{s:s, s:O}", "name", k, "latest", v));
	json_decref(latest);
	mdeploy_web__reply_json(out, 200, json_pack("{s:o}", "pipelines", arr));
}
