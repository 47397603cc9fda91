/* cmd_deploy.c - mdeploy deploy create|plan|status|promote|stop|rollback|resume|history|cleanup. */
#include "config.h"
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct dopts {
	int wait, keep_failed, rollback, allow_downgrade, restore_database;
	unsigned int limit;
	const char *keys[9];
	int nkeys;
};

static int opt_cb(int c, const char *arg, void *data)
{
	struct dopts *o = data;
	switch (c) {
	case CLI_OPT_CMD: o->wait = 1; break;
	case CLI_OPT_CMD + 1: o->keep_failed = 1; break;
	case CLI_OPT_CMD + 2:
		if (o->nkeys >= 8)
			return cli_usage_error("deploy", "at most 8 --trusted-key options");
		o->keys[o->nkeys++] = arg;
		break;
	case CLI_OPT_CMD + 3: o->rollback = 1; break;
	case CLI_OPT_CMD + 5: o->allow_downgrade = 1; break;
	case CLI_OPT_CMD + 6: o->restore_database = 1; break;
	case CLI_OPT_CMD + 4: {
		char *end;
		unsigned long v = strtoul(arg, &end, 10);
		if (!*arg || *end || v > 100000)
			return cli_usage_error("deploy", "--limit '%s' is not a number", arg);
		o->limit = (unsigned int)v;
		break;
	}
	default: return CLI_EXIT_USAGE;
	}
	return 0;
}

static int load_config(mdeploy_ctx *ctx, mdeploy_config **cfg)
{
	if (mdeploy_config_load(cfg, mdeploy_ctx_config_path(ctx), NULL)) {
		cli_lib_error(NULL);
		return CLI_EXIT_FAILURE;
	}
	return 0;
}

static const char *when(int64_t t, char *buf, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!t)
		return "-";
	gmtime_r(&tt, &tm);
	strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

static mdeploy_store *history_store; /* to tell interrupted deployments apart */

/* "Interrupted" for an unfinished deployment whose process is gone, else its status. */
static const char *shown_status(mdeploy_store *st, const mdeploy_deployment_record *r)
{
	char step[64];
	if (!st || !mdeploy_deploy_interrupted(st, r, step))
		return r->status;
	return "Interrupted";
}

static int history_cb(const mdeploy_deployment_record *r, void *payload)
{
	json_t *arr = payload;
	char b[32];
	if (arr) {
		json_array_append_new(arr, mdeploy_deployment_to_json(history_store, r));
	} else {
		printf("%-12s %-12s %-11s %-10s %s  %s\n", r->id, r->group, shown_status(history_store, r),
		       r->strategy ? r->strategy : "-", when(r->created_at, b, sizeof(b)), r->bundle ? r->bundle : "");
	}
	return 0;
}

static int latest_cb(const mdeploy_deployment_record *r, void *payload)
{
	snprintf(payload, 12, "%s", r->id);
	return 0;
}

/* A journal step in text (--json: mdeploy_deployment_status_to_json()). */
static int journal_cb(const mdeploy_journal_entry *e, void *payload)
{
	json_t *data = e->data ? json_loads(e->data, 0, NULL) : NULL;
	(void)payload;
	printf("  %3lld %-17s %-28s %-8s %6lld ms%s%s\n", (long long)e->seq, e->step, e->target ? e->target : "",
	       e->state, e->finished_at ? (long long)(e->finished_at - e->started_at) : 0LL,
	       e->error ? "  " : "", e->error ? e->error : "");
	if (data && !strcmp(e->step, "backup")) {
		const char *path = json_string_value(json_object_get(data, "path"));
		printf("      %s of %s: %s (%lld bytes, sha256 %s)%s\n",
		       json_string_value(json_object_get(data, "method")), json_string_value(json_object_get(data, "database")),
		       path, (long long)json_integer_value(json_object_get(data, "bytes")),
		       json_string_value(json_object_get(data, "sha256")),
		       path && access(path, F_OK) ? "; the file is gone" : "");
	}
	json_decref(data);
	return 0;
}

/* Touching a group retires its retained fleet once its time is up (best effort:
 * without mdeploy.yml for it, or while a deployment holds the lock, nothing goes). */
static void touch_group(mdeploy_ctx *ctx, const char *app, const char *group)
{
	mdeploy_config *cfg = NULL;
	const char *name;
	if (mdeploy_config_load(&cfg, mdeploy_ctx_config_path(ctx), NULL) == 0 &&
	    (name = mdeploy_config_application_name(cfg)) && (!app || !strcmp(name, app)) &&
	    mdeploy_config_group_find(cfg, group)) {
		mdeploy_deploy_options o = MDEPLOY_DEPLOY_OPTIONS_INIT;
		mdeploy_deploy_cleanup(ctx, cfg, group, NULL);
		/* Dead instances are replaced, as an Auto Scaling group would. */
		o.group = group;
		if (mdeploy_deploy_heal(ctx, cfg, &o, NULL, NULL) && mdeploy_error_last()->code != MDEPLOY_ELOCKED &&
		    mdeploy_error_last()->code != MDEPLOY_ECONFLICT)
			cli_warn("group %s: healing the live fleet failed: %s", group, mdeploy_error_last()->message);
	}
	mdeploy_config_free(cfg);
	mdeploy_error_clear();
}

static int log_cb(const char *path, void *payload)
{
	(void)payload;
	printf("  %s\n", path);
	return 0;
}

static int log_first_cb(const char *path, void *payload)
{
	(void)path; (void)payload;
	return 1; /* there is one: stop */
}

static int status(mdeploy_ctx *ctx, const char *id_arg)
{
	mdeploy_store *st = NULL;
	mdeploy_deployment *d = NULL;
	char id[12] = "", b[32];
	int rc = CLI_EXIT_OK;

	if (mdeploy_store_open(&st, ctx, NULL))
		return cli_lib_error("cannot open the state store");
	if (id_arg)
		snprintf(id, sizeof(id), "%s", id_arg);
	else if (mdeploy_store_deployment_foreach(st, NULL, NULL, 1, latest_cb, id) || !id[0]) {
		mdeploy_store_free(st);
		return cli_error("no deployments yet");
	}
	if (mdeploy_store_deployment_get(st, id, &d)) {
		rc = cli_lib_error(NULL);
	} else {
		const mdeploy_deployment_record *r = mdeploy_deployment_record_of(d);
		char fleet[128];
		int64_t until = 0;
		touch_group(ctx, r->application, r->group);
		if (cli.json) {
			rc = cli_json_print(mdeploy_deployment_status_to_json(ctx, st, r));
		} else {
			char step[64];
			int intr = mdeploy_deploy_interrupted(st, r, step);
			printf("deployment %s: %s\n", r->id, intr ? "Interrupted" : r->status);
			if (intr)
				printf("  interrupted at step %s (its process is gone): run 'mdeploy deploy resume %s' or "
				       "'mdeploy deploy stop %s'\n", step, r->id, r->id);
			printf("  group %s/%s, %s\n  bundle %s\n", r->application, r->group, r->strategy ? r->strategy : "",
			       r->bundle ? r->bundle : "-");
			/* Records from before schema 5 do not say. */
			printf("  sha256 %s, %s%s\n", r->bundle_sha256 ? r->bundle_sha256 : "(not recorded)",
			       r->bundle_key_id ? "signed by key " : r->bundle_sha256 ? "unsigned" : "signer not recorded",
			       r->bundle_key_id ? r->bundle_key_id : "");
			printf("  created %s by %s", when(r->created_at, b, sizeof(b)), r->created_by ? r->created_by : "(not recorded)");
			printf(", completed %s\n", when(r->completed_at, b, sizeof(b)));
			if (r->error)
				printf("  error: %s\n", r->error);
			if (mdeploy_group_stopped(ctx, r->application, r->group, &until))
				printf("  group %s is stopped since %s: 'mdeploy group start %s' brings it back\n", r->group,
				       when(until / 1000, b, sizeof(b)), r->group);
			if (mdeploy_deploy_retained(ctx, r->application, r->group, fleet, &until))
				fleet[0] = '\0';
			mdeploy_error_clear();
			if (fleet[0])
				printf("  group %s retains %s until %s\n", r->group, fleet, when(until / 1000, b, sizeof(b)));
			{
				/* Where the time went outside the steps. */
				json_t *data = r->data ? json_loads(r->data, 0, NULL) : NULL, *t = json_object_get(data, "timings");
				if (t)
					printf("  before the steps: waited %lld ms for the group, validated the bundle in %lld ms, "
					       "planned in %lld ms, healed the live fleet in %lld ms;\n  after them: the old fleet "
					       "retired in %lld ms (the group already released)\n",
					       (long long)json_integer_value(json_object_get(t, "queued_ms")),
					       (long long)json_integer_value(json_object_get(t, "validate_ms")),
					       (long long)json_integer_value(json_object_get(t, "plan_ms")),
					       (long long)json_integer_value(json_object_get(t, "heal_ms")),
					       (long long)json_integer_value(json_object_get(t, "retire_ms")));
				json_decref(data);
			}
			printf("steps:\n");
			mdeploy_store_journal_foreach(st, id, journal_cb, NULL);
			if (mdeploy_deploy_logs(ctx, id, log_first_cb, NULL) == MDEPLOY_EUSER) {
				printf("logs kept:\n");
				mdeploy_deploy_logs(ctx, id, log_cb, NULL);
			}
			mdeploy_error_clear();
		}
	}
	mdeploy_deployment_free(d);
	mdeploy_store_free(st);
	return rc;
}

static int plan(mdeploy_ctx *ctx, mdeploy_config *cfg, mdeploy_deploy_options *o)
{
	mdeploy_plan *p = NULL;
	mdeploy_plan_kind kind;
	int refused;
	size_t i;
	if (mdeploy_deploy_plan(ctx, cfg, o, &p))
		return cli_lib_error("cannot plan");
	kind = mdeploy_plan_kind_of(p);
	refused = kind == MDEPLOY_PLAN_DOWNGRADE && !o->allow_downgrade;
	if (cli.json) {
		json_t *ch = json_array();
		for (i = 0; i < mdeploy_plan_change_count(p); i++) {
			const mdeploy_plan_change *c = mdeploy_plan_change_at(p, i);
			json_array_append_new(ch, json_pack("{s:s, s:s?, s:s?, s:b}", "component", c->component, "from", c->from,
			                                    "to", c->to, "downgrade", c->downgrade));
		}
		json_t *ops = json_array();
		for (i = 0; i < mdeploy_plan_op_count(p); i++) {
			const mdeploy_plan_op *op = mdeploy_plan_op_at(p, i);
			json_array_append_new(ops, json_pack("{s:s, s:s, s:s, s:s, s:s?}", "step", op->step, "call", op->call,
			                                     "target", op->target, "detail", op->detail, "how", op->how));
		}
		cli_json_print(json_pack("{s:s, s:s, s:s, s:b, s:b, s:s, s:s, s:s?, s:o, s:o}", "group", o->group, "bundle", o->bundle,
		                         "kind", mdeploy_plan_kind_name(kind), "upgrade", mdeploy_plan_upgrade(p),
		                         "refused", refused, "reason", mdeploy_plan_reason(p), "checked", mdeploy_plan_checked(p),
		                         "live_bundle", mdeploy_plan_live_bundle(p), "changes", ch, "operations", ops));
	} else {
		printf("%s: %s\n  %s\n  checked: %s\n", o->group,
		       kind == MDEPLOY_PLAN_DOWNGRADE ? (refused ? "downgrade (refused)" : "downgrade (allowed, maintenance window)") :
		       kind == MDEPLOY_PLAN_INSTALL ? "install (first install of the site)" :
		       mdeploy_plan_upgrade(p) ? "upgrade (maintenance window)" : "zero-downtime swap",
		       mdeploy_plan_reason(p), mdeploy_plan_checked(p));
		for (i = 0; i < mdeploy_plan_change_count(p); i++) {
			const mdeploy_plan_change *c = mdeploy_plan_change_at(p, i);
			printf("  %-30s %s -> %s%s\n", c->component, c->from ? c->from : "(none)", c->to ? c->to : "(removed)",
			       c->downgrade ? "  (downgrade)" : "");
		}
		if (mdeploy_plan_op_count(p))
			printf("  provider operations (dry run):\n");
		for (i = 0; i < mdeploy_plan_op_count(p); i++) {
			const mdeploy_plan_op *op = mdeploy_plan_op_at(p, i);
			printf("  %2zu. %-14s %-21s %s: %s\n", i + 1, op->step, op->call, op->target, op->detail);
			if (op->how && cli.verbose)
				printf("      %s\n", op->how);
		}
	}
	mdeploy_plan_free(p);
	if (refused) {
		cli_error("deployment of '%s' to '%s' would be refused: it is a downgrade", o->bundle, o->group);
		cli_hint("restore a database that matches the release, then deploy with --allow-downgrade");
		return CLI_EXIT_FAILURE;
	}
	return CLI_EXIT_OK;
}

static int report(int rc, const char *what, const char *id);

struct traffic_at { int64_t ms; };

static int traffic_cb(const mdeploy_journal_entry *e, void *payload)
{
	struct traffic_at *t = payload;
	if (e->finished_at && !strcmp(e->state, "done") &&
	    (!strcmp(e->step, "rollback-shift") || !strcmp(e->step, "rollback-traffic") ||
	     (!strcmp(e->step, "shift") && e->target && !strcmp(e->target, "100"))))
		t->ms = e->finished_at;
	return 0;
}

/*
 * Where the time of a create or rollback went, from the command's start:
 * when traffic reached its fleet (the journal's time for the step that moved
 * it) and the whole command. Per-step durations are in 'deploy status'.
 */
static void timing(mdeploy_ctx *ctx, const char *id, json_int_t *traffic_ms, json_int_t *total_ms)
{
	mdeploy_store *st = NULL;
	struct traffic_at t = { 0 };
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	*total_ms = (json_int_t)((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 - cli.started_ms);
	*traffic_ms = -1;
	if (id && id[0] && mdeploy_store_open(&st, ctx, NULL) == 0 &&
	    mdeploy_store_journal_foreach(st, id, traffic_cb, &t) == 0 && t.ms)
		*traffic_ms = (json_int_t)(t.ms - cli.started_ms);
	mdeploy_store_free(st);
	mdeploy_error_clear();
}

static int report_timed(mdeploy_ctx *ctx, int rc, const char *what, const char *id, const char *verb)
{
	json_int_t traffic, total;
	if (rc || !id[0])
		return report(rc, what, id);
	timing(ctx, id, &traffic, &total);
	if (cli.json)
		return cli_json_print(json_pack("{s:s, s:s, s:I, s:I}", "id", id, "status", "Succeeded",
		                                "traffic_applied_ms", traffic, "command_ms", total));
	if (traffic >= 0)
		cli_info("deployment %s: %s: traffic moved %lld ms after the command started; it took %lld ms in all",
		         id, verb, (long long)traffic, (long long)total);
	printf("%s\n", id);
	return CLI_EXIT_OK;
}

static int report(int rc, const char *what, const char *id)
{
	if (rc) {
		if (cli.json)
			cli_json_print(json_pack("{s:s, s:s, s:s}", "id", id, "status", "Failed",
			                         "error", mdeploy_error_last()->message));
		return cli_lib_error(what);
	}
	if (cli.json)
		return cli_json_print(json_pack("{s:s, s:s}", "id", id, "status", "Succeeded"));
	printf("%s\n", id);
	return CLI_EXIT_OK;
}

int cmd_deploy(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "wait", no_argument, NULL, CLI_OPT_CMD },
		{ "keep-failed", no_argument, NULL, CLI_OPT_CMD + 1 },
		{ "trusted-key", required_argument, NULL, CLI_OPT_CMD + 2 },
		{ "rollback", no_argument, NULL, CLI_OPT_CMD + 3 },
		{ "limit", required_argument, NULL, CLI_OPT_CMD + 4 },
		{ "allow-downgrade", no_argument, NULL, CLI_OPT_CMD + 5 },
		{ "restore-database", no_argument, NULL, CLI_OPT_CMD + 6 },
		{ NULL, 0, NULL, 0 }
	};
	struct dopts d;
	mdeploy_deploy_options o = MDEPLOY_DEPLOY_OPTIONS_INIT;
	mdeploy_ctx *ctx = NULL;
	mdeploy_config *cfg = NULL;
	const char *sub;
	char id[12] = "", who[160];
	int rc, nargs;

	memset(&d, 0, sizeof(d));
	if ((rc = cli_parse(argc, argv, "deploy", "", longopts, opt_cb, &d)) >= 0)
		return rc;
	if (optind >= argc)
		return cli_usage_error("deploy", "missing subcommand");
	sub = argv[optind++];
	nargs = argc - optind;
#define NEED(n, what) do { if (nargs != (n)) return cli_usage_error("deploy", nargs < (n) ? "missing " what : "too many arguments"); } while (0)
	if (!strcmp(sub, "create") || !strcmp(sub, "plan"))
		NEED(2, "GROUP or BUNDLE");
	else if (!strcmp(sub, "promote") || !strcmp(sub, "stop") || !strcmp(sub, "resume"))
		NEED(1, "ID");
	else if (!strcmp(sub, "rollback"))
		NEED(1, "GROUP");
	else if (!strcmp(sub, "status") || !strcmp(sub, "history") || !strcmp(sub, "cleanup")) {
		if (nargs > 1)
			return cli_usage_error("deploy", "too many arguments");
	} else
		return cli_usage_error("deploy", "unknown subcommand '%s'", sub);
#undef NEED
	if ((rc = cli_ctx_open(&ctx)))
		return rc;
	d.keys[d.nkeys] = NULL;
	o.trusted_keys = d.nkeys ? d.keys : NULL;
	o.lock_wait_ms = d.wait ? 24u * 3600u * 1000u : 0;
	o.keep_failed = d.keep_failed;
	o.allow_downgrade = d.allow_downgrade;
	o.restore_database = d.restore_database;
	o.by = cli_who(who, sizeof(who));

	if (!strcmp(sub, "status")) {
		rc = status(ctx, nargs ? argv[optind] : NULL);
	} else if (!strcmp(sub, "history")) {
		mdeploy_store *st = NULL;
		json_t *arr = cli.json ? json_array() : NULL;
		if (nargs)
			touch_group(ctx, NULL, argv[optind]);
		if (mdeploy_store_open(&st, ctx, NULL)) {
			rc = cli_lib_error("cannot open the state store");
		} else {
			history_store = st;
			if (!cli.json)
				printf("%-12s %-12s %-11s %-10s %-20s  %s\n", "ID", "GROUP", "STATUS", "STRATEGY", "CREATED", "BUNDLE");
			if (mdeploy_store_deployment_foreach(st, NULL, nargs ? argv[optind] : NULL, d.limit, history_cb, arr))
				rc = cli_lib_error("cannot read the history");
			else if (arr)
				rc = cli_json_print(json_pack("{s:O}", "deployments", arr));
		}
		json_decref(arr);
		mdeploy_store_free(st);
	} else if (!strcmp(sub, "promote")) {
		rc = mdeploy_deploy_promote(ctx, argv[optind]) ? cli_lib_error("cannot promote") : CLI_EXIT_OK;
		if (!rc)
			cli_info("deployment %s: promotion requested", argv[optind]);
	} else if ((rc = load_config(ctx, &cfg)) == 0) {
		if (!strcmp(sub, "create")) {
			o.group = argv[optind];
			o.bundle = argv[optind + 1];
			rc = mdeploy_deploy_create(ctx, cfg, &o, id);
			rc = report_timed(ctx, rc, id[0] ? id : "deployment failed", id, "deployed");
		} else if (!strcmp(sub, "plan")) {
			o.group = argv[optind];
			o.bundle = argv[optind + 1];
			rc = plan(ctx, cfg, &o);
		} else if (!strcmp(sub, "rollback")) {
			o.group = argv[optind];
			rc = mdeploy_deploy_rollback(ctx, cfg, &o, id);
			cli_audit(ctx, "rollback", o.group, rc == 0, rc ? mdeploy_error_last()->message : id);
			rc = report_timed(ctx, rc, "rollback failed", id, "rolled back");
		} else if (!strcmp(sub, "resume")) {
			rc = mdeploy_deploy_resume(ctx, cfg, argv[optind], &o);
			rc = report(rc, argv[optind], argv[optind]);
		} else if (!strcmp(sub, "cleanup")) {
			size_t n = 0;
			if (mdeploy_deploy_cleanup(ctx, cfg, nargs ? argv[optind] : NULL, &n))
				rc = cli_lib_error("cannot clean up");
			else if (cli.json)
				rc = cli_json_print(json_pack("{s:I}", "terminated", (json_int_t)n));
			else
				cli_info("%zu retained fleet%s terminated", n, n == 1 ? "" : "s");
		} else if (!strcmp(sub, "stop")) {
			rc = mdeploy_deploy_stop(ctx, cfg, argv[optind], d.rollback);
			cli_audit(ctx, d.rollback ? "stop-rollback" : "stop", argv[optind], rc == 0,
			          rc ? mdeploy_error_last()->message : NULL);
			rc = rc ? cli_lib_error("cannot stop") : CLI_EXIT_OK;
			if (!rc)
				cli_info("deployment %s: stopped%s", argv[optind], d.rollback ? " and rolled back" : "");
		}
	}
	cli_progress_end();
	mdeploy_config_free(cfg);
	mdeploy_ctx_free(ctx);
	return rc;
}
