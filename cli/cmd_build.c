/* cmd_build.c - mdeploy build: run a buildspec and bundle its artifacts. */
#include "config.h"
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	O_BUILDSPEC = CLI_OPT_CMD, O_SRC, O_OUTPUT, O_FORMAT, O_SIGN, O_STORE, O_BUILD_ID, O_BUILD_NUMBER,
	O_SOURCE_VERSION, O_TIMEOUT, O_ENV, O_LOG, O_ALLOW_EMPTY, O_NO_ARTIFACTS
};

#define MAX_ENV 64

struct bopts {
	mdeploy_build_options b;
	const char *env[MAX_ENV + 1];
	size_t nenv;
	int no_artifacts;
};

static int build_opt(int c, const char *arg, void *data)
{
	struct bopts *o = data;
	char *end;
	unsigned long long v;
	switch (c) {
	case O_BUILDSPEC: o->b.buildspec = arg; return 0;
	case O_SRC: o->b.src_dir = arg; return 0;
	case 'o':
	case O_OUTPUT: o->b.artifacts_dir = arg; return 0;
	case O_FORMAT:
		if (mdeploy_bundle_format_parse(&o->b.format, arg) != 0)
			return cli_usage_error("build", "'%s' is not a bundle format (tar.zst, tgz, tar, zip)", arg);
		return 0;
	case O_SIGN: o->b.signing_key = arg; return 0;
	case O_STORE: o->b.store_name = arg; return 0;
	case O_BUILD_ID: o->b.build_id = arg; return 0;
	case O_SOURCE_VERSION: o->b.resolved_source_version = arg; return 0;
	case O_LOG: o->b.log_path = arg; return 0;
	case O_ALLOW_EMPTY: o->b.allow_empty_artifacts = 1; return 0;
	case O_NO_ARTIFACTS: o->no_artifacts = 1; return 0;
	case O_BUILD_NUMBER:
	case O_TIMEOUT:
		errno = 0;
		v = strtoull(arg, &end, 10);
		if (errno || *end || !v || *arg == '-')
			return cli_usage_error("build", "%s wants a positive number", c == O_TIMEOUT ? "--timeout" : "--build-number");
		if (c == O_TIMEOUT)
			o->b.timeout_s = v > 8 * 3600 ? 8 * 3600 : (unsigned int)v;
		else
			o->b.build_number = v;
		return 0;
	case O_ENV:
		if (!strchr(arg, '=') || arg[0] == '=')
			return cli_usage_error("build", "--env wants KEY=VALUE, not '%s'", arg);
		if (o->nenv == MAX_ENV)
			return cli_usage_error("build", "at most %d --env options", MAX_ENV);
		o->env[o->nenv++] = arg;
		return 0;
	default: return cli_usage_error("build", "unknown option");
	}
}

static int on_line(const char *phase, mdeploy_exec_stream stream, const char *line, void *payload)
{
	(void)payload;
	(void)stream;
	if (!cli.quiet) {
		cli_progress_end();
		fprintf(stderr, "[%s] %s\n", phase, line);
	}
	return 0;
}

int cmd_build(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "buildspec", required_argument, NULL, O_BUILDSPEC },
		{ "src", required_argument, NULL, O_SRC },
		{ "output", required_argument, NULL, O_OUTPUT },
		{ "format", required_argument, NULL, O_FORMAT },
		{ "sign", required_argument, NULL, O_SIGN },
		{ "store", required_argument, NULL, O_STORE },
		{ "build-id", required_argument, NULL, O_BUILD_ID },
		{ "build-number", required_argument, NULL, O_BUILD_NUMBER },
		{ "source-version", required_argument, NULL, O_SOURCE_VERSION },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "env", required_argument, NULL, O_ENV },
		{ "log", required_argument, NULL, O_LOG },
		{ "allow-empty-artifacts", no_argument, NULL, O_ALLOW_EMPTY },
		{ "no-artifacts", no_argument, NULL, O_NO_ARTIFACTS },
		{ NULL, 0, NULL, 0 }
	};
	mdeploy_build_options d = MDEPLOY_BUILD_OPTIONS_INIT;
	mdeploy_build_result *r = NULL;
	mdeploy_ctx *ctx = NULL;
	struct bopts o;
	size_t i;
	int rc;

	memset(&o, 0, sizeof(o));
	o.b = d;
	if ((rc = cli_parse(argc, argv, "build", "o:", longopts, build_opt, &o)) >= 0)
		return rc;
	if (optind < argc)
		return cli_usage_error("build", "unexpected argument '%s'", argv[optind]);
	if (!o.b.artifacts_dir)
		o.b.artifacts_dir = "artifacts";
	if (o.no_artifacts)
		o.b.artifacts_dir = NULL;
	o.b.env = o.nenv ? o.env : NULL;
	o.b.output_cb = on_line;
	if ((rc = cli_ctx_open(&ctx)) != 0)
		return rc;
	rc = mdeploy_build_run(&r, ctx, &o.b);
	if (rc) {
		rc = cli_lib_error("build");
		goto out;
	}
	if (cli.json) {
		json_t *doc = json_object(), *phases = json_array(), *exported = json_object(), *arts = json_array();
		json_object_set_new(doc, "build_id", json_string(mdeploy_build_result_id(r)));
		json_object_set_new(doc, "status", json_string(mdeploy_build_status_name(mdeploy_build_result_status(r))));
		json_object_set_new(doc, "duration_ms", json_integer((json_int_t)mdeploy_build_result_duration_ms(r)));
		json_object_set_new(doc, "log", json_string(mdeploy_build_result_log_path(r)));
		if (mdeploy_build_result_reason(r))
			json_object_set_new(doc, "reason", json_string(mdeploy_build_result_reason(r)));
		for (i = 0; i < mdeploy_build_result_phase_count(r); i++) {
			const mdeploy_build_phase *p = mdeploy_build_result_phase(r, i);
			json_array_append_new(phases, json_pack("{s:s, s:s, s:I, s:i}", "name", p->name, "status", p->status,
			                                        "duration_ms", (json_int_t)p->duration_ms, "attempts", (int)p->attempts));
		}
		for (i = 0; i < mdeploy_build_result_exported_count(r); i++) {
			const char *v, *n = mdeploy_build_result_exported(r, i, &v);
			json_object_set_new(exported, n, json_string(v));
		}
		for (i = 0; i < mdeploy_build_result_artifact_count(r); i++) {
			const mdeploy_build_artifact *a = mdeploy_build_result_artifact(r, i);
			json_t *ao = json_pack("{s:s, s:s, s:I, s:s}", "identifier", a->identifier, "path", a->path,
			                       "files", (json_int_t)a->files, "sha256", a->sha256);
			if (a->store_revision)
				json_object_set_new(ao, "store_revision", json_integer((json_int_t)a->store_revision));
			json_array_append_new(arts, ao);
		}
		json_object_set_new(doc, "phases", phases);
		json_object_set_new(doc, "exported_variables", exported);
		json_object_set_new(doc, "artifacts", arts);
		cli_json_print(doc);
	} else {
		printf("build %s: %s in %.1f s\n", mdeploy_build_result_id(r),
		       mdeploy_build_status_name(mdeploy_build_result_status(r)),
		       (double)mdeploy_build_result_duration_ms(r) / 1000.0);
		for (i = 0; i < mdeploy_build_result_artifact_count(r); i++) {
			const mdeploy_build_artifact *a = mdeploy_build_result_artifact(r, i);
			printf("  %s: %s (%llu files, sha256 %.12s)\n", a->identifier, a->path, (unsigned long long)a->files,
			       a->sha256);
		}
		for (i = 0; i < mdeploy_build_result_exported_count(r); i++) {
			const char *v, *n = mdeploy_build_result_exported(r, i, &v);
			printf("  %s=%s\n", n, v);
		}
		printf("  log: %s\n", mdeploy_build_result_log_path(r));
	}
	if (mdeploy_build_result_status(r) != MDEPLOY_BUILD_SUCCEEDED) {
		rc = cli_error("build %s: %s", mdeploy_build_status_name(mdeploy_build_result_status(r)),
		               mdeploy_build_result_reason(r) ? mdeploy_build_result_reason(r) : "see the log");
	}
out:
	mdeploy_build_result_free(r);
	mdeploy_ctx_free(ctx);
	return rc;
}
