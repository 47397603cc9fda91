/*
 * cmd_lb.c - mdeploy lb show: the fleets' weights at the load balancer and
 * its targets, as it reports them.
 */
#include "config.h"
#include "cli.h"

#include <stdio.h>
#include <string.h>

static int target_cb(const mdeploy_target_status *t, void *payload)
{
	json_t *arr = payload;
	if (arr)
		json_array_append_new(arr, mdeploy_target_status_to_json(t));
	else
		printf("%-16s %21s %6u %-6s %-10s %8llu %10llu %8llu\n", t->instance, t->address, t->weight,
		       t->state, t->health, (unsigned long long)t->sessions,
		       (unsigned long long)t->responses_total, (unsigned long long)t->responses_5xx);
	return 0;
}

static int fleet_cb(const mdeploy_lb_fleet_status *f, void *payload)
{
	json_t *arr = payload;
	if (arr)
		json_array_append_new(arr, json_pack("{s:s, s:i, s:i, s:i, s:f}", "fleet", f->fleet,
			"weight", (int)f->weight, "targets", (int)f->targets, "in_rotation", (int)f->in_rotation,
			"share_percent", f->share_permille / 10.0));
	else
		printf("%-28s %6u %6.1f%% %7u %11u\n", f->fleet, f->weight, f->share_permille / 10.0, f->targets,
		       f->in_rotation);
	return 0;
}

int cmd_lb(int argc, char **argv)
{
	mdeploy_ctx *ctx = NULL;
	mdeploy_store *store = NULL;
	mdeploy_provider *p = NULL;
	char bind[128] = "";
	json_t *arr = NULL, *fleets = NULL;
	int rc = cli_parse(argc, argv, "lb", "", NULL, NULL, NULL);

	if (rc >= 0)
		return rc;
	if (optind >= argc)
		return cli_usage_error("lb", "missing subcommand");
	if (strcmp(argv[optind], "show"))
		return cli_usage_error("lb", "unknown subcommand '%s'", argv[optind]);
	if (optind + 2 != argc)
		return cli_usage_error("lb", optind + 2 > argc ? "missing NAME" : "too many arguments");
	if ((rc = cli_ctx_open(&ctx)))
		return rc;
	if (mdeploy_store_open(&store, ctx, NULL) || mdeploy_provider_open_configured(&p, ctx, store)) {
		rc = cli_lib_error("cannot open the provider");
		goto out;
	}
	if (mdeploy_lb_bind(p, argv[optind + 1], bind, sizeof(bind))) {
		rc = cli_lib_error(NULL);
		goto out;
	}
	if (cli.json) {
		arr = json_array();
		fleets = json_array();
	} else {
		printf("load balancer %s on %s (%s)\n%-28s %6s %7s %7s %11s\n", argv[optind + 1], bind,
		       mdeploy_lb_running(p, argv[optind + 1]) ? "running" : "stopped",
		       "FLEET", "WEIGHT", "SHARE", "TARGETS", "IN-ROTATION");
	}
	if (mdeploy_lb_fleets(p, argv[optind + 1], fleet_cb, fleets)) {
		rc = cli_lib_error("cannot read the load balancer");
		goto out;
	}
	if (!cli.json)
		printf("\n%-16s %21s %6s %-6s %-10s %8s %10s %8s\n", "INSTANCE", "ADDRESS", "WEIGHT", "STATE",
		       "HEALTH", "SESSIONS", "RESPONSES", "5XX");
	if (mdeploy_lb_targets(p, argv[optind + 1], target_cb, arr)) {
		rc = cli_lib_error("cannot read the load balancer");
		goto out;
	}
	if (arr) {
		rc = cli_json_print(json_pack("{s:s, s:s, s:b, s:o, s:o}", "name", argv[optind + 1], "bind", bind,
		                              "running", 1, "fleets", fleets, "targets", arr));
		arr = fleets = NULL;
	}
out:
	json_decref(arr);
	json_decref(fleets);
	mdeploy_provider_free(p);
	mdeploy_store_free(store);
	mdeploy_ctx_free(ctx);
	return rc;
}
