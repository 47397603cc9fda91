/* cmd_doctor.c - mdeploy doctor: is this host ready for mdeploy? */
#include "config.h"
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct check {
	const char *name;
	const char *const *argv;
	int required;
	const char *package;
};

/* First line of the program's output, which for all of these is its version. */
static int probe(const struct check *c, char *detail, size_t n)
{
	mdeploy_exec_options o = MDEPLOY_EXEC_OPTIONS_INIT;
	mdeploy_exec_result *r = NULL;
	const char *s;
	size_t len;
	int ok;

	o.search_path = 1;
	o.timeout_ms = 10000;
	o.merge_stderr = 1;
	if (mdeploy_exec_run(&r, c->argv, &o) != 0) {
		snprintf(detail, n, "%s", mdeploy_error_last()->message);
		return 0;
	}
	ok = mdeploy_exec_result_success(r);
	s = mdeploy_exec_result_stdout(r, NULL);
	len = strcspn(s, "\n");
	if (ok)
		snprintf(detail, n, "%.*s", (int)len, s);
	else
		snprintf(detail, n, "'%s' %s", c->argv[0], mdeploy_exec_result_describe(r));
	mdeploy_exec_result_free(r);
	return ok;
}

struct php_out { json_t *arr; int failed; };

static int php_req_cb(const mdeploy_php_requirement *q, void *payload)
{
	struct php_out *po = payload;
	char check[128], detail[512];
	snprintf(check, sizeof(check), "php-%s%s%s", q->kind, strcmp(q->kind, "php") ? ":" : "",
	         strcmp(q->kind, "php") ? q->name : "version");
	if (!strcmp(q->kind, "php"))
		snprintf(check, sizeof(check), "php-version");
	snprintf(detail, sizeof(detail), "%s, wants %s (%s)", q->have, q->want, q->source);
	json_array_append_new(po->arr, json_pack("{s:s, s:b, s:b, s:s, s:s, s:s, s:s}", "check", check, "ok", q->ok,
	                                         "required", q->required, "detail", detail, "want", q->want,
	                                         "have", q->have, "source", q->source));
	if (!cli.json)
		printf("%-26s %-8s %s\n", check, q->ok ? "ok" : q->required ? "FAILED" : "warning", detail);
	po->failed += !q->ok && q->required;
	return 0;
}

struct doctor_opts {
	const char *php;
	int aws;
};

static int opt_cb(int c, const char *arg, void *data)
{
	struct doctor_opts *o = data;
	if (c == CLI_OPT_CMD)
		o->php = arg;
	else if (c == CLI_OPT_CMD + 1)
		o->aws = 1;
	else
		return CLI_EXIT_USAGE;
	return 0;
}

static void aws_line(json_t *arr, const char *name, int ok, const mdeploy_aws_identity *id, const char *error)
{
	char detail[2048];
	if (ok)
		snprintf(detail, sizeof(detail), "%s (account %s, region %s, credentials from the %s, endpoint %s)",
		         id->arn, id->account, id->region, id->credentials_source, id->endpoint);
	else
		snprintf(detail, sizeof(detail), "%s", error ? error : "failed");
	json_array_append_new(arr, json_pack("{s:s, s:b, s:b, s:s}", "check", name, "ok", ok, "required", 1,
	                                     "detail", detail));
	if (!cli.json) {
		printf("%-26s %-8s %s\n", name, ok ? "ok" : "FAILED", detail);
		if (!ok)
			cli_hint("see mdeploy-aws(7) for where credentials, region and endpoints are read from");
	}
}

struct aws_stores_out {
	json_t *arr;
	int failed;
};

static int aws_store_cb(const char *store, int result, const mdeploy_aws_identity *id, const char *error, void *payload)
{
	struct aws_stores_out *o = payload;
	char name[64];
	snprintf(name, sizeof(name), "aws-sts:stores.%s", store);
	aws_line(o->arr, name, result == 0, id, error);
	o->failed += result != 0;
	return 0;
}

/* STS GetCallerIdentity: with --aws as the AWS CLI would (environment,
 * profile), and for each store of mdeploy.yml on aws with its settings. */
static int check_aws(mdeploy_ctx *ctx, json_t *arr, int forced)
{
	struct aws_stores_out o = { arr, 0 };
	unsigned int n = 0;
	if (forced) {
		mdeploy_aws_identity id;
		int ok = mdeploy_aws_whoami(&id, NULL, NULL, NULL) == 0;
		aws_line(arr, "aws-sts", ok, &id, ok ? NULL : mdeploy_error_last()->message);
		o.failed += !ok;
	}
	if (mdeploy_aws_check_stores(ctx, aws_store_cb, &o, &n) && mdeploy_error_last()->code != MDEPLOY_EUSER) {
		aws_line(arr, "aws-sts:stores", 0, NULL, mdeploy_error_last()->message);
		o.failed++;
	}
	return o.failed;
}

int cmd_doctor(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "php", required_argument, NULL, CLI_OPT_CMD },
		{ "aws", no_argument, NULL, CLI_OPT_CMD + 1 },
		{ NULL, 0, NULL, 0 }
	};
	struct doctor_opts o = { NULL, 0 };
	const char *release = NULL;
	static const char *const haproxy_v[] = { "haproxy", "-v", NULL };
	static const char *const php_v[] = { "php", "-v", NULL };
	static const char *const git_v[] = { "git", "--version", NULL };
	static const struct check checks[] = {
		{ "haproxy", haproxy_v, 1, "haproxy" },
		{ "php", php_v, 1, "php-cli" },
		{ "git", git_v, 0, "git" },
	};
	mdeploy_ctx *ctx = NULL;
	json_t *doc = json_object(), *arr = json_array();
	char detail[512];
	int rc, failed = 0;
	size_t i;
	const char *path = getenv("PATH");

	if ((rc = cli_parse(argc, argv, "doctor", "", longopts, opt_cb, &o)) >= 0)
		goto out;
	if (optind + 1 < argc) {
		rc = cli_usage_error("doctor", "too many arguments");
		goto out;
	}
	release = optind < argc ? argv[optind] : NULL;
	/* haproxy lives in /usr/sbin, which a non-root PATH often lacks. */
	if (path && !strstr(path, "/usr/sbin")) {
		char *np = malloc(strlen(path) + 32);
		if (np) {
			sprintf(np, "%s:/usr/sbin:/sbin", path);
			setenv("PATH", np, 1);
			free(np);
		}
	}
	if ((rc = cli_ctx_open(&ctx)) != 0)
		goto out;

	{
		int ok = mdeploy_ctx_ensure_state_dir(ctx) == 0 && access(mdeploy_ctx_state_dir(ctx), W_OK) == 0;
		snprintf(detail, sizeof(detail), "%s%s", mdeploy_ctx_state_dir(ctx),
		         ok ? "" : " (cannot create or write)");
		json_array_append_new(arr, json_pack("{s:s, s:b, s:b, s:s}", "check", "state-dir",
		                                     "ok", ok, "required", 1, "detail", detail));
		if (!cli.json)
			printf("%-26s %-8s %s\n", "state-dir", ok ? "ok" : "FAILED", detail);
		failed += !ok;
	}
	{
		size_t n;
		const mdeploy_dependency *d = mdeploy_dependencies(&n);
		for (i = 0; i < n; i++) {
			json_array_append_new(arr, json_pack("{s:s, s:b, s:b, s:s}", "check", d[i].name,
			                                     "ok", 1, "required", 1, "detail", d[i].version));
			if (!cli.json)
				printf("%-26s %-8s %s\n", d[i].name, "ok", d[i].version);
		}
	}
	for (i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
		int ok = probe(&checks[i], detail, sizeof(detail));
		json_array_append_new(arr, json_pack("{s:s, s:b, s:b, s:s}", "check", checks[i].name,
		                                     "ok", ok, "required", checks[i].required, "detail", detail));
		if (!cli.json)
			printf("%-26s %-8s %s\n", checks[i].name,
			       ok ? "ok" : checks[i].required ? "MISSING" : "missing", detail);
		if (!ok && checks[i].required) {
			failed++;
			if (!cli.json)
				cli_hint("install it with: apt-get install -y %s", checks[i].package);
		}
	}
	{
		/* What Moodle needs of PHP: always max_input_vars, and what the release's environment.xml lists. */
		struct php_out po = { arr, 0 };
		if (mdeploy_moodle_php_check(ctx, o.php, release, php_req_cb, &po)) {
			snprintf(detail, sizeof(detail), "%s", mdeploy_error_last()->message);
			json_array_append_new(arr, json_pack("{s:s, s:b, s:b, s:s}", "check", "php-moodle", "ok", 0,
			                                     "required", 1, "detail", detail));
			if (!cli.json)
				printf("%-26s %-8s %s\n", "php-moodle", "FAILED", detail);
			failed++;
		}
		failed += po.failed;
		if (po.failed && !cli.json)
			cli_hint("install a missing extension with: apt-get install -y php-NAME; set ini values in a "
			         "file of PHP's conf.d (php --ini lists them), e.g. max_input_vars = 5000");
	}
	failed += check_aws(ctx, arr, o.aws);
	json_object_set_new(doc, "checks", arr);
	arr = NULL;
	json_object_set_new(doc, "ok", json_boolean(!failed));
	if (cli.json) {
		rc = cli_json_print(doc);
		doc = NULL;
		if (rc)
			goto out;
	}
	rc = failed ? cli_error("%d required check%s failed", failed, failed == 1 ? "" : "s") : CLI_EXIT_OK;
out:
	json_decref(arr);
	json_decref(doc);
	mdeploy_ctx_free(ctx);
	return rc;
}
