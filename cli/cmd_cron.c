/* cmd_cron.c - mdeploy cron run: Moodle's cron for a group, one runner per group. */
#include "config.h"
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct cron_args {
	mdeploy_cron_options o;
	int have_count;
};

struct cron_out {
	json_t *runs;
	unsigned int ran, failed;
};

static int seconds(const char *opt, const char *arg, unsigned int *out)
{
	char *end;
	double v = strtod(arg, &end);
	if (!*arg || *end || v <= 0 || v > 86400 * 7)
		return cli_usage_error("cron", "%s '%s' is not a number of seconds", opt, arg);
	*out = (unsigned int)(v * 1000 + 0.5);
	return 0;
}

static int opt_cb(int c, const char *arg, void *data)
{
	struct cron_args *a = data;
	switch (c) {
	case CLI_OPT_CMD + 0: return seconds("--every", arg, &a->o.every_ms);
	case CLI_OPT_CMD + 1: {
		char *end;
		unsigned long v = strtoul(arg, &end, 10);
		if (!*arg || *end || v == 0 || v > 1000000)
			return cli_usage_error("cron", "--count '%s' is not a positive number", arg);
		a->o.count = (unsigned int)v;
		a->have_count = 1;
		return 0;
	}
	case CLI_OPT_CMD + 2: return seconds("--timeout", arg, &a->o.timeout_ms);
	case CLI_OPT_CMD + 3: a->o.php = arg; return 0;
	default: return CLI_EXIT_USAGE;
	}
}

static int report(const mdeploy_cron_result *r, void *payload)
{
	struct cron_out *out = payload;
	char when[32];
	time_t t = (time_t)(r->started_ms / 1000);
	struct tm tm;
	out->ran++;
	if (r->status)
		out->failed++;
	if (out->runs) {
		json_array_append_new(out->runs, json_pack("{s:s, s:s, s:s, s:b, s:i, s:I, s:I, s:s?, s:s}",
			"instance", r->instance, "fleet", r->fleet, "release", r->release, "ok", !r->status,
			"exit_code", r->exit_code, "started_ms", (json_int_t)r->started_ms,
			"duration_ms", (json_int_t)r->duration_ms, "error", r->status ? r->error : NULL,
			"output_tail", r->output_tail));
		return 0;
	}
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (r->status)
		printf("%s failed after %.1f s: %s\n", when, r->duration_ms / 1000.0, r->error);
	else
		printf("%s cron.php on %s (%s, release %s): ok in %.1f s\n", when, r->instance, r->fleet,
		       r->release[0] ? r->release : "?", r->duration_ms / 1000.0);
	fflush(stdout);
	return 0;
}

int cmd_cron(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "every", required_argument, NULL, CLI_OPT_CMD + 0 },
		{ "count", required_argument, NULL, CLI_OPT_CMD + 1 },
		{ "timeout", required_argument, NULL, CLI_OPT_CMD + 2 },
		{ "php", required_argument, NULL, CLI_OPT_CMD + 3 },
		{ NULL, 0, NULL, 0 }
	};
	struct cron_args a;
	struct cron_out out = { NULL, 0, 0 };
	mdeploy_ctx *ctx = NULL;
	mdeploy_config *cfg = NULL;
	int rc;

	memset(&a, 0, sizeof(a));
	mdeploy_cron_options_init(&a.o, MDEPLOY_CRON_OPTIONS_VERSION);
	if ((rc = cli_parse(argc, argv, "cron", "", longopts, opt_cb, &a)) >= 0)
		return rc;
	if (optind >= argc)
		return cli_usage_error("cron", "missing subcommand");
	if (strcmp(argv[optind], "run"))
		return cli_usage_error("cron", "unknown subcommand '%s'", argv[optind]);
	if (optind + 2 != argc)
		return cli_usage_error("cron", optind + 2 > argc ? "missing GROUP" : "too many arguments");
	if (a.have_count && !a.o.every_ms)
		return cli_usage_error("cron", "--count needs --every");
	if (cli.json && a.o.every_ms && !a.have_count)
		return cli_usage_error("cron", "--json with --every needs --count (one document at the end)");
	if ((rc = cli_ctx_open(&ctx)))
		return rc;
	if (mdeploy_config_load(&cfg, mdeploy_ctx_config_path(ctx), NULL)) {
		rc = cli_lib_error(NULL);
		goto done;
	}
	if (cli.json)
		out.runs = json_array();
	rc = mdeploy_cron_run(ctx, cfg, argv[optind + 1], &a.o, report, &out);
	if (rc && !out.ran) {
		/* Refused before any run: the lock, the group. */
		rc = cli_lib_error("cannot run cron");
		if (mdeploy_error_last()->code == MDEPLOY_ELOCKED)
			cli_hint("one runner per group: stop the other one, or let it be");
		goto done;
	}
	if (out.runs) {
		int lib = rc;
		if (lib)
			cli_lib_error(a.o.every_ms ? "cron stopped" : "cron failed");
		rc = cli_json_print(json_pack("{s:s, s:i, s:i, s:o}", "group", argv[optind + 1], "runs_total",
		                              (int)out.ran, "failed", (int)out.failed, "runs", out.runs));
		out.runs = NULL;
		if (!rc && (lib || out.failed))
			rc = CLI_EXIT_FAILURE;
	} else if (rc) {
		/* The run failed (its line is printed), or the runner lost its lock. */
		rc = cli_lib_error(a.o.every_ms ? "cron stopped" : "cron failed");
	} else {
		rc = out.failed ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
	}
done:
	json_decref(out.runs);
	mdeploy_config_free(cfg);
	mdeploy_ctx_free(ctx);
	return rc;
}
