/* cmd_pipeline.c - mdeploy pipeline: validate, run and follow pipelines. */
#include "config.h"
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { O_VAR = CLI_OPT_CMD, O_DETACH, O_COMMENT, O_FAILED_ONLY, O_ALL, O_ABANDON, O_LIMIT, O_POLL,
       O_TAGS, O_INTERVAL, O_POLLS };

struct opts {
	const char **vars;
	size_t nvars;
	int detach;
	const char *comment;
	int all;
	int failed_only;
	int abandon;
	unsigned int limit;
	unsigned int poll_ms;
	const char *tags;
	unsigned int interval_ms;
	unsigned int polls;
};

static int on_opt(int c, const char *arg, void *data)
{
	struct opts *o = data;
	char *end;
	switch (c) {
	case O_VAR: {
		const char **n = realloc(o->vars, (o->nvars + 2) * sizeof(*n));
		if (!n)
			return cli_error("out of memory");
		o->vars = n;
		o->vars[o->nvars++] = arg;
		o->vars[o->nvars] = NULL;
		return 0;
	}
	case O_DETACH: o->detach = 1; return 0;
	case O_COMMENT: o->comment = arg; return 0;
	case O_FAILED_ONLY: o->failed_only = 1; return 0;
	case O_ALL: o->all = 1; return 0;
	case O_ABANDON: o->abandon = 1; return 0;
	case O_TAGS: o->tags = arg; return 0;
	case O_INTERVAL: {
		double v = strtod(arg, &end);
		/* Written so NaN fails too (every comparison with it is false). */
		if (!*arg || *end || !(v >= 0.01 && v <= 86400))
			return cli_usage_error("pipeline", "'%s' is not a number of seconds", arg);
		o->interval_ms = (unsigned int)(v * 1000);
		return 0;
	}
	case O_LIMIT:
	case O_POLL:
	case O_POLLS: {
		unsigned long v = strtoul(arg, &end, 10);
		if (!*arg || *end || v > 1000000)
			return cli_usage_error("pipeline", "'%s' is not a number", arg);
		if (c == O_LIMIT)
			o->limit = (unsigned int)v;
		else if (c == O_POLLS)
			o->polls = (unsigned int)v;
		else
			o->poll_ms = (unsigned int)v;
		return 0;
	}
	}
	return cli_usage_error("pipeline", "unknown option");
}

static int load(mdeploy_pipeline **p, const char *name)
{
	char *path = NULL;
	int rc;
	if (mdeploy_pipeline_find(&path, NULL, name) != 0)
		return cli_lib_error(NULL);
	rc = mdeploy_pipeline_load(p, path, NULL);
	free(path);
	if (rc) {
		if (cli.json) {
			const mdeploy_error *e = mdeploy_error_last();
			cli_json_print(json_pack("{s:b, s:s, s:s}", "valid", 0, "error", e->message, "code",
			                         mdeploy_strerror(e->code)));
		}
		return cli_lib_error(NULL);
	}
	return 0;
}

static json_t *str_list(const char *const *l, size_t n)
{
	json_t *a = json_array();
	size_t i;
	for (i = 0; i < n; i++)
		json_array_append_new(a, json_string(l[i]));
	return a;
}

static json_t *describe(const mdeploy_pipeline *p)
{
	json_t *doc = json_object(), *vars = json_array(), *stages = json_array();
	size_t i, j;
	json_object_set_new(doc, "valid", json_true());
	json_object_set_new(doc, "name", json_string(mdeploy_pipeline_name(p)));
	json_object_set_new(doc, "path", json_string(mdeploy_pipeline_path(p)));
	json_object_set_new(doc, "execution_mode", json_string(mdeploy_pipeline_mode_name(mdeploy_pipeline_execution_mode(p))));
	for (i = 0; i < mdeploy_pipeline_variable_count(p); i++) {
		const mdeploy_pipeline_variable *v = mdeploy_pipeline_variable_at(p, i);
		json_array_append_new(vars, json_pack("{s:s, s:s?, s:s?}", "name", v->name, "default",
		                                      v->default_value, "description", v->description));
	}
	for (i = 0; i < mdeploy_pipeline_stage_count(p); i++) {
		const mdeploy_pipeline_stage *s = mdeploy_pipeline_stage_at(p, i);
		json_t *acts = json_array();
		for (j = 0; j < s->action_count; j++) {
			const mdeploy_pipeline_action *a = &s->actions[j];
			json_t *o = json_pack("{s:s, s:s, s:i, s:o, s:o}", "name", a->name, "type",
			                      mdeploy_pipeline_action_type_name(a->type), "run_order", (int)a->run_order,
			                      "inputs", str_list(a->inputs, a->input_count),
			                      "outputs", str_list(a->outputs, a->output_count));
			if (a->namespace_name)
				json_object_set_new(o, "namespace", json_string(a->namespace_name));
			if (a->timeout)
				json_object_set_new(o, "timeout", json_integer(a->timeout));
			json_array_append_new(acts, o);
		}
		json_array_append_new(stages, json_pack("{s:s, s:o}", "name", s->name, "actions", acts));
	}
	json_object_set_new(doc, "variables", vars);
	json_object_set_new(doc, "stages", stages);
	return doc;
}

static int do_validate(const char *name)
{
	mdeploy_pipeline *p = NULL;
	size_t i, n = 0;
	int rc;
	if ((rc = load(&p, name)) != 0)
		return rc;
	for (i = 0; i < mdeploy_pipeline_stage_count(p); i++)
		n += mdeploy_pipeline_stage_at(p, i)->action_count;
	if (cli.json) {
		rc = cli_json_print(describe(p));
	} else {
		printf("%s: valid (pipeline %s, %zu stages, %zu actions, %zu variables, %s)\n",
		       mdeploy_pipeline_path(p), mdeploy_pipeline_name(p), mdeploy_pipeline_stage_count(p), n,
		       mdeploy_pipeline_variable_count(p),
		       mdeploy_pipeline_mode_name(mdeploy_pipeline_execution_mode(p)));
	}
	mdeploy_pipeline_free(p);
	return rc;
}

static const char *when(int64_t ms)
{
	static char buf[32];
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	if (!ms)
		return "-";
	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%SZ", &tm);
	return buf;
}

static void print_status(const mdeploy_pipeline_execution_info *i)
{
	size_t k;
	const char *last = NULL;
	printf("execution %s\n", i->id);
	printf("  pipeline:  %s (%s)\n", i->pipeline, i->mode);
	printf("  status:    %s%s%s\n", i->status, i->current_stage ? ", at " : "",
	       i->current_stage ? i->current_stage : "");
	printf("  trigger:   %s%s%s\n", i->trigger, i->revision ? " " : "", i->revision ? i->revision : "");
	printf("  variables: %s\n", i->variables);
	printf("  started:   %s\n", when(i->created_at));
	if (i->completed_at)
		printf("  finished:  %s\n", when(i->completed_at));
	if (i->error)
		printf("  error:     %s\n", i->error);
	for (k = 0; k < i->action_count; k++) {
		const mdeploy_pipeline_action_state *a = &i->actions[k];
		if (!last || strcmp(last, a->stage))
			printf("  stage %s\n", a->stage);
		last = a->stage;
		printf("    %-20s %-9s %-10s%s%s\n", a->action, a->type, a->status,
		       a->error ? "  " : a->summary ? "  " : "", a->error ? a->error : a->summary ? a->summary : "");
	}
}

static int show(mdeploy_ctx *ctx, const char *id)
{
	mdeploy_pipeline_execution *e = NULL;
	int rc = id ? mdeploy_pipeline_execution_get(ctx, id, &e) : mdeploy_pipeline_execution_latest(ctx, NULL, &e);
	if (rc)
		return cli_lib_error(NULL);
	if (cli.json)
		rc = cli_json_print(mdeploy_pipeline_execution_to_json(mdeploy_pipeline_execution_info_of(e)));
	else
		print_status(mdeploy_pipeline_execution_info_of(e));
	mdeploy_pipeline_execution_free(e);
	return rc;
}

/* After run/resume/retry: the final state, and the exit code from the library's result. */
static int finish(mdeploy_ctx *ctx, const char *id, int rc, char *msg)
{
	mdeploy_pipeline_execution *e = NULL;

	if (id && *id && mdeploy_pipeline_execution_get(ctx, id, &e) == 0) {
		const mdeploy_pipeline_execution_info *i = mdeploy_pipeline_execution_info_of(e);
		if (cli.json)
			cli_json_print(mdeploy_pipeline_execution_to_json(i));
		else if (!cli.quiet)
			cli_info("execution %s: %s", i->id, i->status);
		mdeploy_pipeline_execution_free(e);
	}
	if (rc) {
		cli_error("%s", msg ? msg : "pipeline failed");
		if (id && *id)
			cli_hint("see 'mdeploy pipeline status %s'", id);
		free(msg);
		return CLI_EXIT_FAILURE;
	}
	free(msg);
	return CLI_EXIT_OK;
}

static int history_cb(const mdeploy_pipeline_execution_info *i, void *payload)
{
	json_t *arr = payload;
	if (arr)
		json_array_append_new(arr, mdeploy_pipeline_execution_to_json(i));
	else
		printf("%-36s  %-16s  %-10s  %-20s  %s%s%s\n", i->id, i->pipeline, i->status, when(i->created_at),
		       i->trigger, i->revision ? " " : "", i->revision ? i->revision : "");
	return 0;
}

struct watch_count {
	unsigned int polls, started;
};

static int watch_cb(unsigned int started, void *payload)
{
	struct watch_count *wc = payload;
	wc->polls++;
	wc->started = started;
	return 0;
}

int cmd_pipeline(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "var", required_argument, NULL, O_VAR },
		{ "detach", no_argument, NULL, O_DETACH },
		{ "comment", required_argument, NULL, O_COMMENT },
		{ "failed-only", no_argument, NULL, O_FAILED_ONLY },
		{ "all", no_argument, NULL, O_ALL },
		{ "abandon", no_argument, NULL, O_ABANDON },
		{ "limit", required_argument, NULL, O_LIMIT },
		{ "poll-ms", required_argument, NULL, O_POLL },
		{ "tags", required_argument, NULL, O_TAGS },
		{ "interval", required_argument, NULL, O_INTERVAL },
		{ "polls", required_argument, NULL, O_POLLS },
		{ NULL, 0, NULL, 0 }
	};
	struct opts o;
	mdeploy_ctx *ctx = NULL;
	mdeploy_pipeline_run_options ro = MDEPLOY_PIPELINE_RUN_OPTIONS_INIT;
	const char *sub, *const *args;
	char id[37] = "", *msg = NULL;
	int rc, nargs;

	memset(&o, 0, sizeof(o));
	rc = cli_parse(argc, argv, "pipeline", "", longopts, on_opt, &o);
	if (rc >= 0)
		goto out;
	if (optind >= argc) {
		rc = cli_usage_error("pipeline", "missing subcommand");
		goto out;
	}
	sub = argv[optind];
	args = (const char *const *)argv + optind + 1;
	nargs = argc - optind - 1;
	ro.variables = o.vars;
	ro.detach = o.detach;
	ro.poll_ms = o.poll_ms;

#define NARGS(min, max, what) \
	if (nargs < (min) || nargs > (max)) { \
		rc = cli_usage_error("pipeline", nargs < (min) ? "missing %s" : "too many arguments", what); \
		goto out; \
	}
	if (!strcmp(sub, "validate")) {
		NARGS(1, 1, "NAME|FILE");
		rc = do_validate(args[0]);
		goto out;
	}
	if (strcmp(sub, "run") && strcmp(sub, "status") && strcmp(sub, "history") && strcmp(sub, "approve") &&
	    strcmp(sub, "reject") && strcmp(sub, "retry") && strcmp(sub, "stop") && strcmp(sub, "resume") &&
	    strcmp(sub, "watch")) {
		rc = cli_usage_error("pipeline", "unknown subcommand '%s'", sub);
		goto out;
	}
	if ((rc = cli_ctx_open(&ctx)) != 0)
		goto out;
	if (!strcmp(sub, "run")) {
		mdeploy_pipeline *p = NULL;
		NARGS(1, 1, "NAME");
		if ((rc = load(&p, args[0])) != 0)
			goto out;
		rc = mdeploy_pipeline_run(ctx, p, &ro, id);
		mdeploy_pipeline_free(p);
		if (o.detach && rc == 0) {
			if (cli.json)
				cli_json_print(json_pack("{s:s, s:s}", "id", id, "status", "InProgress"));
			else
				printf("%s\n", id);
			rc = CLI_EXIT_OK;
			goto out;
		}
		if (!*id) {
			rc = cli_lib_error(NULL);
			goto out;
		}
		rc = finish(ctx, id, rc, rc ? strdup(mdeploy_error_last()->message) : NULL);
	} else if (!strcmp(sub, "watch")) {
		mdeploy_pipeline_watch_options wo = MDEPLOY_PIPELINE_WATCH_OPTIONS_INIT;
		mdeploy_pipeline *p = NULL;
		struct watch_count wc = { 0 };
		NARGS(1, 1, "NAME");
		if ((rc = load(&p, args[0])) != 0)
			goto out;
		wo.tag_pattern = o.tags;
		if (o.interval_ms)
			wo.interval_ms = o.interval_ms;
		wo.max_polls = o.polls;
		wo.detach = o.detach;
		wo.poll_cb = watch_cb;
		wo.payload = &wc;
		rc = mdeploy_pipeline_watch(ctx, p, &wo);
		mdeploy_pipeline_free(p);
		if (rc) {
			rc = cli_lib_error(NULL);
			goto out;
		}
		if (cli.json)
			rc = cli_json_print(json_pack("{s:i, s:i}", "polls", (int)wc.polls, "started", (int)wc.started));
		else
			rc = CLI_EXIT_OK;
	} else if (!strcmp(sub, "status")) {
		NARGS(0, 1, "EXECUTION");
		rc = show(ctx, nargs ? args[0] : NULL);
	} else if (!strcmp(sub, "history")) {
		json_t *arr = cli.json ? json_array() : NULL;
		NARGS(0, 1, "NAME");
		if (mdeploy_pipeline_history(ctx, nargs ? args[0] : NULL, o.limit ? o.limit : 20, history_cb, arr)) {
			json_decref(arr);
			rc = cli_lib_error(NULL);
			goto out;
		}
		rc = arr ? cli_json_print(arr) : CLI_EXIT_OK;
	} else if (!strcmp(sub, "approve") || !strcmp(sub, "reject")) {
		int yes = !strcmp(sub, "approve");
		NARGS(2, 2, "EXECUTION or STAGE/ACTION");
		char target[512], who[160];
		snprintf(target, sizeof(target), "%.64s %s", args[0], args[1]);
		if (mdeploy_pipeline_decide(ctx, args[0], args[1], yes, o.comment, cli_who(who, sizeof(who)))) {
			char *m = strdup(mdeploy_error_last()->message);
			rc = cli_lib_error(NULL);
			cli_audit(ctx, yes ? "approve" : "reject", target, 0, m);
			free(m);
			goto out;
		}
		cli_audit(ctx, yes ? "approve" : "reject", target, 1, o.comment);
		if (cli.json)
			rc = cli_json_print(json_pack("{s:s, s:s, s:s, s:s?}", "execution", args[0], "action", args[1],
			                              "decision", yes ? "approved" : "rejected", "comment", o.comment));
		else
			printf("%s %s in %s\n", yes ? "approved" : "rejected", args[1], args[0]);
	} else if (!strcmp(sub, "retry")) {
		NARGS(2, 2, "EXECUTION or STAGE");
		if (o.all && o.failed_only) {
			rc = cli_usage_error("pipeline", "--all and --failed-only exclude each other");
			goto out;
		}
		rc = mdeploy_pipeline_retry(ctx, args[0], args[1], o.all, &ro);
		msg = rc ? strdup(mdeploy_error_last()->message) : NULL;
		{
			mdeploy_pipeline_execution *e = NULL;
			if (mdeploy_error_last()->code != MDEPLOY_ENOTFOUND &&
			    mdeploy_pipeline_execution_get(ctx, args[0], &e) == 0) {
				snprintf(id, sizeof(id), "%s", mdeploy_pipeline_execution_info_of(e)->id);
				mdeploy_pipeline_execution_free(e);
			}
		}
		if (rc && (rc == MDEPLOY_ENOTFOUND || rc == MDEPLOY_ECONFLICT)) {
			rc = cli_error("%s", msg);
			goto out;
		}
		rc = finish(ctx, id, rc, msg);
		msg = NULL;
	} else if (!strcmp(sub, "stop")) {
		NARGS(1, 1, "EXECUTION");
		if (mdeploy_pipeline_stop(ctx, args[0], o.abandon)) {
			rc = cli_lib_error(NULL);
			goto out;
		}
		if (cli.json)
			rc = cli_json_print(json_pack("{s:s, s:b}", "execution", args[0], "abandon", o.abandon));
		else
			printf("stop requested for %s%s\n", args[0], o.abandon ? " (abandoning running actions)" : "");
	} else {
		NARGS(0, 1, "EXECUTION");
		rc = mdeploy_pipeline_resume(ctx, nargs ? args[0] : NULL, &ro);
		msg = rc ? strdup(mdeploy_error_last()->message) : NULL;
		if (nargs) {
			mdeploy_pipeline_execution *e = NULL;
			if (mdeploy_pipeline_execution_get(ctx, args[0], &e) == 0) {
				snprintf(id, sizeof(id), "%s", mdeploy_pipeline_execution_info_of(e)->id);
				mdeploy_pipeline_execution_free(e);
			}
			if (!*id) {
				rc = cli_error("%s", msg ? msg : mdeploy_error_last()->message);
				goto out;
			}
			rc = finish(ctx, id, rc, msg);
			msg = NULL;
		} else if (rc) {
			rc = cli_error("%s", msg);
		} else if (cli.json) {
			rc = cli_json_print(json_pack("{s:b}", "resumed", 1));
		}
	}
#undef NARGS
out:
	mdeploy_ctx_free(ctx);
	free(o.vars);
	free(msg);
	return rc;
}
