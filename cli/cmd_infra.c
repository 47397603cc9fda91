/* cmd_infra.c - mdeploy infra plan|apply|status|outputs|destroy: the servers under the groups. */
#include "config.h"
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct iopts { int delete_data; unsigned int timeout; };

static int opt_cb(int c, const char *arg, void *data)
{
	struct iopts *o = data;
	char *end;
	unsigned long v;
	switch (c) {
	case CLI_OPT_CMD:
		o->delete_data = 1;
		return 0;
	case CLI_OPT_CMD + 1:
		v = strtoul(arg, &end, 10);
		if (!*arg || *end || *arg == '-' || v == 0 || v > 86400)
			return cli_usage_error("infra", "--timeout '%s' is not a number of seconds (1 to 86400)", arg);
		o->timeout = (unsigned int)v;
		return 0;
	default:
		return CLI_EXIT_USAGE;
	}
}

/* A CloudFormation stack event: a line on stderr, or an element of --json's "events". */
static int event_cb(const mdeploy_infra_event *e, void *payload)
{
	json_t *arr = payload;
	if (arr) {
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s}", "stack", e->stack, "resource",
		                                     e->resource, "type", e->type, "status", e->status, "reason", e->reason,
		                                     "time", e->time));
		return 0;
	}
	cli_progress_end();
	if (cli.quiet)
		return 0;
	if (!strcmp(e->resource, e->stack))
		fprintf(stderr, "%s: %s%s%s\n", e->stack, e->status, e->reason ? ": " : "", e->reason ? e->reason : "");
	else
		fprintf(stderr, "%s: %s (%s): %s%s%s\n", e->stack, e->resource, e->type, e->status,
		        e->reason ? ": " : "", e->reason ? e->reason : "");
	return 0;
}

struct changes { json_t *arr; const char *verb; };

static int change_cb(const mdeploy_infra_change *c, void *payload)
{
	struct changes *ch = payload;
	if (ch->arr) {
		json_array_append_new(ch->arr, json_pack("{s:s, s:s, s:s, s:s, s:b}", "resource", c->resource,
		                                         "type", c->type, "action", c->action,
		                                         "detail", c->detail ? c->detail : "", "data_loss", c->data_loss));
		return 0;
	}
	if (c->data_loss)
		fprintf(stderr, "mdeploy: warning: %s %s DELETES DATA: %s\n", c->action, c->resource, c->detail);
	printf("%s%-7s %s%s%s\n", ch->verb, c->action, c->resource, c->detail && *c->detail ? ": " : "",
	       c->detail ? c->detail : "");
	fflush(stdout);
	return 0;
}

static int resource_cb(const mdeploy_infra_resource *r, void *payload)
{
	json_t *arr = payload;
	if (arr) {
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:b, s:s?, s:s?, s:I, s:s?}", "name", r->name,
		                                     "type", r->type ? r->type : "", "state", r->state ? r->state : "",
		                                     "up", r->up, "endpoint", r->endpoint, "dir", r->dir,
		                                     "pid", (json_int_t)r->pid, "problem", r->problem));
		return 0;
	}
	printf("%-22s %-11s %-9s %-5s %-22s %s\n", r->name, r->type ? r->type : "", r->state ? r->state : "",
	       r->up ? "up" : "DOWN", r->endpoint ? r->endpoint : "-", r->up ? (r->dir ? r->dir : "") :
	       (r->problem ? r->problem : ""));
	return 0;
}

static int down_cb(const mdeploy_infra_resource *r, void *payload)
{
	struct { json_t *arr; int down; } *d = payload;
	if (!r->up)
		d->down++;
	return resource_cb(r, d->arr);
}

static int output_cb(const mdeploy_infra_output *o, void *payload)
{
	json_t *obj = payload;
	if (obj) {
		json_object_set_new(obj, o->name, o->secret ? json_pack("{s:b}", "secret", 1) : json_string(o->value));
		return 0;
	}
	if (o->secret)
		printf("%s (secret)\n", o->name);
	else
		printf("%s=%s\n", o->name, o->value);
	return 0;
}

int cmd_infra(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "delete-data", no_argument, NULL, CLI_OPT_CMD },
		{ "timeout", required_argument, NULL, CLI_OPT_CMD + 1 },
		{ NULL, 0, NULL, 0 }
	};
	mdeploy_infra_options io = MDEPLOY_INFRA_OPTIONS_INIT;
	mdeploy_ctx *ctx = NULL;
	mdeploy_store *store = NULL;
	mdeploy_config *cfg = NULL;
	struct iopts o = { 0 };
	struct changes ch = { NULL, "" };
	const char *sub;
	size_t n = 0;
	json_t *events = NULL;
	int rc;

	if ((rc = cli_parse(argc, argv, "infra", "", longopts, opt_cb, &o)) >= 0)
		return rc;
	if (optind >= argc)
		return cli_usage_error("infra", "missing subcommand");
	sub = argv[optind++];
	if (strcmp(sub, "plan") && strcmp(sub, "apply") && strcmp(sub, "status") && strcmp(sub, "outputs") &&
	    strcmp(sub, "destroy"))
		return cli_usage_error("infra", "unknown subcommand '%s'", sub);
	if (optind != argc)
		return cli_usage_error("infra", "too many arguments");
	if (o.delete_data && strcmp(sub, "destroy"))
		return cli_usage_error("infra", "--delete-data goes with destroy");
	if (o.timeout && strcmp(sub, "apply") && strcmp(sub, "destroy"))
		return cli_usage_error("infra", "--timeout goes with apply and destroy");
	io.delete_data = o.delete_data;
	io.timeout = o.timeout;
	if ((rc = cli_ctx_open(&ctx)))
		return rc;
	if (mdeploy_config_load(&cfg, mdeploy_ctx_config_path(ctx), NULL)) {
		rc = cli_lib_error(NULL);
		goto out;
	}
	if (mdeploy_store_open(&store, ctx, NULL)) {
		rc = cli_lib_error("cannot open the state store");
		goto out;
	}
	if (cli.json) {
		ch.arr = json_array();
		events = json_array();
	}
	io.event_cb = event_cb;
	io.event_payload = events;
	if (!strcmp(sub, "plan") || !strcmp(sub, "apply") || !strcmp(sub, "destroy")) {
		int plan = !strcmp(sub, "plan"), destroy = !strcmp(sub, "destroy");
		int64_t t0 = cli.started_ms;
		ch.verb = plan ? "would " : "";
		rc = (plan ? mdeploy_infra_plan : destroy ? mdeploy_infra_destroy : mdeploy_infra_apply)(
			ctx, store, cfg, &io, change_cb, &ch, &n);
		(void)t0;
		if (rc) {
			/* --json: what was done and seen before the failure, with the error */
			if (cli.json) {
				const mdeploy_error *e = mdeploy_error_last();
				cli_json_print(json_pack("{s:s, s:o, s:I, s:b, s:O, s:s, s:s}", "operation", sub, "changes",
				                         ch.arr, "count", (json_int_t)n, "changed", n > 0 && !plan, "events",
				                         events, "error", e->message, "code", mdeploy_strerror(e->code)));
				ch.arr = NULL;
			}
			rc = cli_lib_error(plan ? "cannot plan the infrastructure" : destroy ?
			                   "cannot destroy the infrastructure" : "cannot apply the infrastructure");
			goto out;
		}
		if (cli.json) {
			rc = cli_json_print(json_pack("{s:s, s:o, s:I, s:b, s:O}", "operation", sub, "changes", ch.arr,
			                              "count", (json_int_t)n, "changed", n > 0 && !plan, "events", events));
			ch.arr = NULL;
		} else {
			if (!n)
				printf("%s\n", plan ? "no changes: the infrastructure is as declared" :
				       destroy ? "nothing to destroy" : "no changes: the infrastructure is as declared");
			else
				cli_info("%zu change%s %s", n, n == 1 ? "" : "s", plan ? "planned (nothing done)" :
				         destroy ? (io.delete_data ? "made (data deleted)" : "made (data kept)") : "made");
			rc = CLI_EXIT_OK;
		}
	} else if (!strcmp(sub, "status")) {
		struct { json_t *arr; int down; } d = { ch.arr, 0 };
		if (!cli.json)
			printf("%-22s %-11s %-9s %-5s %-22s %s\n", "RESOURCE", "TYPE", "STATE", "LIVE", "ENDPOINT", "DETAIL");
		if (mdeploy_infra_status(ctx, store, cfg, &io, down_cb, &d)) {
			rc = cli_lib_error("cannot read the infrastructure");
			goto out;
		}
		if (cli.json) {
			rc = cli_json_print(json_pack("{s:o, s:b}", "resources", ch.arr, "up", d.down == 0));
			ch.arr = NULL;
		}
		/* A status must be true: anything down is a failure. */
		if (d.down) {
			if (!cli.json)
				cli_error("%d resource%s not up", d.down, d.down == 1 ? " is" : "s are");
			rc = CLI_EXIT_FAILURE;
		} else if (!cli.json) {
			rc = CLI_EXIT_OK;
		}
	} else {
		json_t *obj = cli.json ? json_object() : NULL;
		if (mdeploy_infra_outputs(ctx, store, cfg, &io, output_cb, obj)) {
			json_decref(obj);
			rc = cli_lib_error("cannot read the infrastructure's outputs");
			goto out;
		}
		rc = obj ? cli_json_print(json_pack("{s:o}", "outputs", obj)) : CLI_EXIT_OK;
	}
out:
	json_decref(events);
	json_decref(ch.arr);
	mdeploy_store_free(store);
	mdeploy_config_free(cfg);
	mdeploy_ctx_free(ctx);
	return rc;
}
