/* cmd_group.c - mdeploy group stop|start: take a deployment group down and bring it back. */
#include "config.h"
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct gopts { int wait; };

static int opt_cb(int c, const char *arg, void *data)
{
	struct gopts *o = data;
	(void)arg;
	if (c != CLI_OPT_CMD)
		return CLI_EXIT_USAGE;
	o->wait = 1;
	return 0;
}

int cmd_group(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "wait", no_argument, NULL, CLI_OPT_CMD },
		{ NULL, 0, NULL, 0 }
	};
	mdeploy_deploy_options o = MDEPLOY_DEPLOY_OPTIONS_INIT;
	mdeploy_ctx *ctx = NULL;
	mdeploy_config *cfg = NULL;
	struct gopts g = { 0 };
	const char *sub;
	size_t n = 0;
	int rc, stop;

	if ((rc = cli_parse(argc, argv, "group", "", longopts, opt_cb, &g)) >= 0)
		return rc;
	if (optind >= argc)
		return cli_usage_error("group", "missing subcommand");
	sub = argv[optind++];
	if (strcmp(sub, "stop") && strcmp(sub, "start"))
		return cli_usage_error("group", "unknown subcommand '%s'", sub);
	if (argc - optind != 1)
		return cli_usage_error("group", "%s", argc - optind < 1 ? "missing GROUP" : "too many arguments");
	stop = !strcmp(sub, "stop");
	if ((rc = cli_ctx_open(&ctx)))
		return rc;
	if (mdeploy_config_load(&cfg, mdeploy_ctx_config_path(ctx), NULL)) {
		rc = cli_lib_error(NULL);
		goto out;
	}
	o.group = argv[optind];
	o.lock_wait_ms = g.wait ? 24u * 3600u * 1000u : 0;
	if ((stop ? mdeploy_group_stop : mdeploy_group_start)(ctx, cfg, &o, &n)) {
		rc = cli_lib_error(stop ? "cannot stop the group" : "cannot start the group");
		goto out;
	}
	if (cli.json) {
		rc = cli_json_print(json_pack("{s:s, s:s, s:I}", "group", o.group, "state", stop ? "stopped" : "running",
		                              stop ? "instances_stopped" : "instances_started", (json_int_t)n));
	} else {
		cli_info("group %s %s: %zu instance%s %s", o.group, stop ? "stopped" : "running", n, n == 1 ? "" : "s",
		         stop ? "stopped" : "started");
		rc = CLI_EXIT_OK;
	}
out:
	cli_progress_end();
	mdeploy_config_free(cfg);
	mdeploy_ctx_free(ctx);
	return rc;
}
