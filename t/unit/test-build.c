/* The buildspec runner: parsing, phases, environment, masking, artifacts. */
#include "build_private.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *tmp;
static mdeploy__buf output;

static char *P(const char *rel)
{
	static char bufs[32][4096];
	static int i;
	char *b = bufs[i++ & 31];
	snprintf(b, 4096, "%s/%s", tmp, rel);
	return b;
}

static void put(const char *rel, const char *content, mode_t mode)
{
	char *p = P(rel), *s = strrchr(p, '/');
	*s = '\0';
	mdeploy__mkdir_p(p, 0755);
	*s = '/';
	mdeploy__file_write_atomic(p, content, strlen(content), mode);
}

static int on_line(const char *phase, mdeploy_exec_stream stream, const char *line, void *payload)
{
	(void)payload;
	mdeploy__buf_printf(&output, "%s%s:%s\n", phase, stream == MDEPLOY_EXEC_STDERR ? "!" : "", line);
	return 0;
}

static int parse_error(const char *yaml, const char *expect)
{
	mdeploy_buildspec *spec = NULL;
	int rc = mdeploy_buildspec_parse(&spec, yaml, strlen(yaml), "buildspec.yml");
	mdeploy_buildspec_free(spec);
	if (rc != MDEPLOY_EINVALID) {
		diag("expected EINVALID, got %d", rc);
		return 0;
	}
	return like(mdeploy_error_last()->message, expect, "parse error: %s", expect);
}

static mdeploy_build_result *build(mdeploy_ctx *ctx, const char *spec, mdeploy_build_options *o, int *rc)
{
	mdeploy_build_result *res = NULL;
	put("src/buildspec.yml", spec, 0644);
	mdeploy__buf_clear(&output);
	o->src_dir = P("src");
	o->output_cb = on_line;
	*rc = mdeploy_build_run(&res, ctx, o);
	if (*rc)
		diag("build_run: %s", mdeploy_error_last()->message);
	return res;
}

static const char *phase_status(mdeploy_build_result *r, int i)
{
	const mdeploy_build_phase *p = mdeploy_build_result_phase(r, (size_t)i);
	return p ? p->status : "none";
}

int main(void)
{
	mdeploy_ctx_options co = MDEPLOY_CTX_OPTIONS_INIT;
	mdeploy_build_options o = MDEPLOY_BUILD_OPTIONS_INIT;
	mdeploy_ctx *ctx = NULL;
	mdeploy_params *params = NULL;
	mdeploy_secrets *secrets = NULL;
	mdeploy_build_result *r;
	const char *value;
	char *log, *state;
	size_t len;
	int rc;

	plan_lazy();
	tmp = test_tmpdir();
	state = mdeploy__sprintf("%s/state", tmp);
	co.state_dir = state;
	mdeploy_ctx_new(&ctx, &co);

	/* Parse errors say file:line:col. */
	parse_error("version: 0.1\nphases: {}\n", "buildspec.yml:1:10: version: only buildspec version 0.2");
	parse_error("version: 0.2\nphases:\n  compile:\n    commands: [make]\n", "buildspec.yml:3:3: phases: unknown phase 'compile'");
	parse_error("version: 0.2\nphases:\n  build:\n    on-failure: MAYBE\n", "buildspec.yml:4:17: phases.build.on-failure: must be ABORT");
	parse_error("version: 0.2\nphases:\n  build:\n    commands:\n      - {a: b}\n", "buildspec.yml:5:9: phases.build.commands[0]: must be a string");
	parse_error("version: 0.2\nenv:\n  variables:\n    1X: y\nphases: {}\n", "buildspec.yml:4:5: env.variables: '1X' is not a variable name");
	parse_error("version: 0.2\nphases:\n  build:\n    commands: [x\n", "buildspec.yml:5:1:");
	parse_error("version: 0.2\n", "phases: missing");
	parse_error("version: 0.2\nphases: {}\nartifacts:\n  name: x\n", "artifacts: needs files");

	/* Stores for parameter-store and secrets-manager. */
	mdeploy_params_open(&params, ctx, NULL);
	mdeploy_secrets_open(&secrets, ctx, NULL);
	mdeploy_params_put(params, "/moodle/build/theme", "boost", 0, NULL);
	mdeploy_secrets_put(secrets, "moodle/db", "{\"password\":\"hunter2-very-secret\",\"user\":\"moodle\"}", NULL);
	mdeploy_secrets_put(secrets, "deploy-token", "tok-123456", NULL);
	o.params = params;
	o.secrets = secrets;
	o.build_id = "b-test";
	o.resolved_source_version = "abc123";

	/* Environment and cwd carry over; secrets are masked everywhere. */
	r = build(ctx,
	          "version: 0.2\n"
	          "env:\n"
	          "  variables:\n"
	          "    GREETING: hello\n"
	          "  parameter-store:\n"
	          "    THEME: /moodle/build/theme\n"
	          "  secrets-manager:\n"
	          "    DB_PASS: moodle/db:password\n"
	          "    TOKEN: deploy-token\n"
	          "  exported-variables: [OUT, TOKEN]\n"
	          "phases:\n"
	          "  install:\n"
	          "    commands:\n"
	          "      - FOO=carried\n"
	          "      - mkdir -p sub && cd sub\n"
	          "  build:\n"
	          "    commands:\n"
	          "      - echo \"$GREETING $FOO $THEME in $(basename $(pwd))\"\n"
	          "      - echo \"pass=$DB_PASS\"; echo \"tok=$TOKEN\" >&2\n"
	          "      - echo \"$MDEPLOY_BUILD_ID $CODEBUILD_BUILD_ID $MDEPLOY_RESOLVED_SOURCE_VERSION $MDEPLOY_BUILD_NUMBER\"\n"
	          "      - OUT=made-$FOO\n",
	          &o, &rc);
	is_int(0, rc, "build ran");
	is_int(MDEPLOY_BUILD_SUCCEEDED, mdeploy_build_result_status(r), "build succeeded");
	like(mdeploy__buf_cstr(&output), "BUILD:hello carried boost in sub\n", "variables, parameters and cwd carry over");
	like(mdeploy__buf_cstr(&output), "BUILD:pass=***\n", "secret masked in output");
	like(mdeploy__buf_cstr(&output), "BUILD!:tok=***\n", "secret masked on stderr");
	like(mdeploy__buf_cstr(&output), "BUILD:b-test b-test abc123 1\n", "build variables");
	ok(!strstr(mdeploy__buf_cstr(&output), "hunter2") && !strstr(mdeploy__buf_cstr(&output), "tok-123456"),
	   "no secret value in any output line");
	is_str("OUT", mdeploy_build_result_exported(r, 0, &value), "exported variable");
	is_str("made-carried", value, "its final value");
	mdeploy_build_result_exported(r, 1, &value);
	is_str("***", value, "exported secret is masked");
	ok(mdeploy__file_read(&log, &len, mdeploy_build_result_log_path(r)) == 0, "build log written");
	like(log, "BUILD      pass=***", "log has the output with its phase");
	like(log, "Phase complete: INSTALL State: SUCCEEDED", "log has phase transitions");
	ok(!strstr(log, "hunter2") && !strstr(log, "tok-123456"), "no secret in the log");
	free(log);
	mdeploy_build_result_free(r);

	/* Transitions: install failure skips to the end, finally still runs. */
	r = build(ctx,
	          "version: 0.2\n"
	          "phases:\n"
	          "  install:\n"
	          "    commands: [\"echo installing\", \"false\", \"echo never\"]\n"
	          "    finally: [\"echo install-finally\"]\n"
	          "  build:\n"
	          "    commands: [\"echo building\"]\n"
	          "  post_build:\n"
	          "    commands: [\"echo post\"]\n",
	          &o, &rc);
	is_int(MDEPLOY_BUILD_FAILED, mdeploy_build_result_status(r), "install failure fails the build");
	is_str("FAILED", phase_status(r, 0), "install failed");
	is_str("SKIPPED", phase_status(r, 2), "build skipped");
	is_str("SKIPPED", phase_status(r, 3), "post_build skipped");
	like(mdeploy__buf_cstr(&output), "INSTALL:install-finally\n", "finally ran");
	ok(!strstr(mdeploy__buf_cstr(&output), "never") && !strstr(mdeploy__buf_cstr(&output), "building"), "nothing after the failure");
	like(mdeploy_build_result_reason(r) ? mdeploy_build_result_reason(r) : "", "INSTALL: command 'false' exited with status 1", "reason");
	mdeploy_build_result_free(r);

	/* A build failure still runs post_build, with SUCCEEDING=0. */
	r = build(ctx,
	          "version: 0.2\n"
	          "phases:\n"
	          "  build:\n"
	          "    commands: [\"exit 3\"]\n"
	          "  post_build:\n"
	          "    commands: [\"echo post $MDEPLOY_BUILD_SUCCEEDING $CODEBUILD_BUILD_SUCCEEDING\"]\n",
	          &o, &rc);
	is_int(MDEPLOY_BUILD_FAILED, mdeploy_build_result_status(r), "build failure fails the build");
	is_str("SUCCEEDED", phase_status(r, 3), "post_build ran");
	like(mdeploy__buf_cstr(&output), "POST_BUILD:post 0 0\n", "with SUCCEEDING=0");
	mdeploy_build_result_free(r);

	/* on-failure: CONTINUE and RETRY-n-regex. */
	put("src/count", "", 0644);
	r = build(ctx,
	          "version: 0.2\n"
	          "phases:\n"
	          "  pre_build:\n"
	          "    on-failure: CONTINUE\n"
	          "    commands: [\"false\"]\n"
	          "  build:\n"
	          "    on-failure: RETRY-2-flaky\n"
	          "    commands:\n"
	          "      - echo x >> count; n=$(wc -l < count); echo \"try $n\"; if [ $n -lt 3 ]; then echo flaky >&2; exit 1; fi\n",
	          &o, &rc);
	is_str("FAILED", phase_status(r, 1), "pre_build failed");
	is_str("SUCCEEDED", phase_status(r, 2), "build ran after CONTINUE and succeeded on retry");
	is_int(3, (long long)mdeploy_build_result_phase(r, 2)->attempts, "three attempts");
	is_int(MDEPLOY_BUILD_FAILED, mdeploy_build_result_status(r), "the build still counts as failed");
	mdeploy_build_result_free(r);
	put("src/count", "", 0644);
	r = build(ctx,
	          "version: 0.2\n"
	          "phases:\n"
	          "  build:\n"
	          "    on-failure: RETRY-5-neverseen\n"
	          "    commands: [\"echo x >> count; exit 1\"]\n",
	          &o, &rc);
	is_int(1, (long long)mdeploy_build_result_phase(r, 2)->attempts, "RETRY-regex not matching: no retry");
	mdeploy_build_result_free(r);

	/* run-as: the command runs as that user and its state still carries over. */
	if (geteuid() == 0) {
		chmod(tmp, 0755); /* nobody must reach the source directory */
		r = build(ctx,
		          "version: 0.2\nphases:\n  build:\n    run-as: nobody\n    commands:\n"
		          "      - WHO=$(id -un)\n      - echo \"as $WHO\"\n  post_build:\n    commands: [\"echo after $WHO $(id -un)\"]\n",
		          &o, &rc);
		is_int(MDEPLOY_BUILD_SUCCEEDED, mdeploy_build_result_status(r), "run-as build succeeded");
		if (mdeploy_build_result_reason(r))
			diag("%s", mdeploy_build_result_reason(r));
		like(mdeploy__buf_cstr(&output), "BUILD:as nobody\n", "command ran as nobody");
		like(mdeploy__buf_cstr(&output), "POST_BUILD:after nobody root\n", "its variables carried over to a root phase");
		mdeploy_build_result_free(r);
	} else {
		skip(3, "run-as needs root");
	}

	/* Timeout. */
	o.timeout_s = 1;
	r = build(ctx, "version: 0.2\nphases:\n  build:\n    commands: [\"sleep 30\"]\n  post_build:\n    commands: [\"echo post\"]\n", &o, &rc);
	is_int(MDEPLOY_BUILD_TIMED_OUT, mdeploy_build_result_status(r), "timed out");
	ok(mdeploy_build_result_duration_ms(r) < 10000, "stopped promptly");
	ok(!strstr(mdeploy__buf_cstr(&output), "post"), "nothing ran after the timeout");
	like(mdeploy_build_result_reason(r) ? mdeploy_build_result_reason(r) : "", "BUILD: build timed out after 1 seconds", "reason says so");
	mdeploy_build_result_free(r);
	o.timeout_s = 0;

	/* A missing secret fails before any command, naming the line. */
	r = build(ctx,
	          "version: 0.2\nenv:\n  secrets-manager:\n    X: nosuch/secret\nphases:\n  build:\n    commands: [\"echo ran\"]\n",
	          &o, &rc);
	is_int(MDEPLOY_ENOTFOUND, rc, "missing secret: the build does not run");
	like(mdeploy_error_last()->message, "buildspec.yml:4:8: env.secrets-manager.X: secret 'nosuch/secret' does not exist", "error names it");
	ok(!strstr(mdeploy__buf_cstr(&output), "ran"), "no command ran");
	mdeploy_build_result_free(r);
	r = build(ctx,
	          "version: 0.2\nenv:\n  parameter-store:\n    X: /no/such\nphases:\n  build:\n    commands: [\"echo ran\"]\n",
	          &o, &rc);
	is_int(MDEPLOY_ENOTFOUND, rc, "missing parameter: the build does not run");
	like(mdeploy_error_last()->message, "env.parameter-store.X: parameter '/no/such' does not exist", "error names it");
	mdeploy_build_result_free(r);

	/* Artifacts: globs, base-directory, exclude-paths, discard-paths, secondaries. */
	o.artifacts_dir = P("out");
	r = build(ctx,
	          "version: 0.2\n"
	          "phases:\n"
	          "  build:\n"
	          "    commands:\n"
	          "      - mkdir -p dist/lib/deep dist/cache docs\n"
	          "      - \"printf 'version: 0.0\\\\nos: linux\\\\n' > dist/appspec.yml\"\n"
	          "      - echo a > dist/lib/a.php; echo b > dist/lib/deep/b.php; echo c > dist/cache/c.tmp\n"
	          "      - echo r > docs/readme.txt; echo n > docs/notes.txt\n"
	          "artifacts:\n"
	          "  base-directory: dist\n"
	          "  files: ['**/*']\n"
	          "  exclude-paths: ['cache/**/*']\n"
	          "  name: moodle\n"
	          "  secondary-artifacts:\n"
	          "    docs:\n"
	          "      files: ['docs/*.txt']\n"
	          "      discard-paths: yes\n",
	          &o, &rc);
	is_int(MDEPLOY_BUILD_SUCCEEDED, mdeploy_build_result_status(r), "build with artifacts");
	if (mdeploy_build_result_reason(r))
		diag("%s", mdeploy_build_result_reason(r));
	is_int(2, (long long)mdeploy_build_result_artifact_count(r), "two artifacts");
	if (mdeploy_build_result_artifact_count(r) == 2) {
		const mdeploy_build_artifact *a = mdeploy_build_result_artifact(r, 0);
		mdeploy_bundle *b = NULL;
		is_str("primary", a->identifier, "primary first");
		is_int(3, (long long)a->files, "3 files (cache excluded)");
		like(a->path, "out/moodle.tar.zst", "named by artifacts.name");
		is_int(0, mdeploy_bundle_open(&b, a->path), "primary bundle opens");
		ok(mdeploy_bundle_entry_bypath(b, "lib/deep/b.php") && mdeploy_bundle_entry_bypath(b, "appspec.yml"),
		   "paths relative to base-directory");
		ok(!mdeploy_bundle_entry_bypath(b, "cache/c.tmp"), "excluded path left out");
		is_str("b-test", mdeploy_bundle_build_id(b), "bundle records the build id");
		mdeploy_bundle_free(b);
		is_int(0, mdeploy_bundle_verify(a->path, NULL), "primary bundle verifies");
		a = mdeploy_build_result_artifact(r, 1);
		is_str("docs", a->identifier, "secondary");
		is_int(0, mdeploy_bundle_open(&b, a->path), "secondary opens");
		ok(mdeploy_bundle_entry_bypath(b, "readme.txt") && mdeploy_bundle_entry_bypath(b, "notes.txt"), "discard-paths");
		mdeploy_bundle_free(b);
	}
	mdeploy_build_result_free(r);
	put("src/appspec.yml", "version: 0.0\nos: linux\n", 0644);
	r = build(ctx,
	          "version: 0.2\nphases:\n  build:\n    commands: [\"true\"]\nartifacts:\n  files:\n    - appspec.yml\n    - 'nothing/**/*.php'\n",
	          &o, &rc);
	is_int(MDEPLOY_BUILD_FAILED, mdeploy_build_result_status(r), "glob matching nothing fails the build");
	like(mdeploy_build_result_reason(r) ? mdeploy_build_result_reason(r) : "",
	     "buildspec.yml:8:7: artifacts.files[1]: 'nothing/**/*.php' matched no file", "reason names the glob");
	mdeploy_build_result_free(r);

	mdeploy_params_free(params);
	mdeploy_secrets_free(secrets);
	mdeploy_ctx_free(ctx);
	mdeploy__buf_dispose(&output);
	free(state);
	return done();
}
