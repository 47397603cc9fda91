/* Versioned options structs and opaque handles. */
#include "mdeploy_private.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int main(void)
{
	mdeploy_exec_options eo;
	mdeploy_ctx_options co;
	mdeploy_ctx *ctx = NULL;
	mdeploy_exec_result *r = NULL;
	const char *argv[] = { "/bin/true", NULL };
	char *sd;
	struct stat st;
	int rc;

	plan_lazy();

	memset(&eo, 0xff, sizeof(eo));
	is_int(0, mdeploy_exec_options_init(&eo, MDEPLOY_EXEC_OPTIONS_VERSION), "exec options init");
	is_int(MDEPLOY_EXEC_OPTIONS_VERSION, eo.version, "init sets the version");
	is_int(3000, eo.kill_grace_ms, "init sets default kill grace");
	is_int(500, eo.drain_ms, "init sets default drain");
	ok(eo.cwd == NULL && eo.env == NULL && eo.output_cb == NULL && eo.user == NULL, "init clears pointers");

	rc = mdeploy_exec_options_init(&eo, MDEPLOY_EXEC_OPTIONS_VERSION + 1);
	is_int(MDEPLOY_EVERSION, rc, "a future options version is refused");
	like(mdeploy_error_last()->message, "mdeploy_exec_options", "message names the struct");
	is_int(MDEPLOY_EVERSION, mdeploy_exec_options_init(&eo, 0), "version 0 is refused");

	mdeploy_exec_options_init(&eo, MDEPLOY_EXEC_OPTIONS_VERSION);
	eo.version = 42;
	rc = mdeploy_exec_run(&r, argv, &eo);
	is_int(MDEPLOY_EVERSION, rc, "exec_run refuses an unknown options version");
	ok(r == NULL, "no result on refusal");

	{
		mdeploy_exec_options stat_init = MDEPLOY_EXEC_OPTIONS_INIT;
		mdeploy_exec_options_init(&eo, MDEPLOY_EXEC_OPTIONS_VERSION);
		ok(stat_init.version == eo.version && stat_init.timeout_ms == eo.timeout_ms &&
		   stat_init.kill_grace_ms == eo.kill_grace_ms && stat_init.drain_ms == eo.drain_ms &&
		   stat_init.capture_max == eo.capture_max && stat_init.user == eo.user,
		   "INIT macro equals options_init()");
	}

	is_int(0, mdeploy_exec_run(&r, argv, NULL), "NULL options mean defaults");
	ok(r && mdeploy_exec_result_success(r), "default run succeeds");
	mdeploy_exec_result_free(r);
	mdeploy_exec_result_free(NULL);
	ok(1, "result_free(NULL) is safe");

	is_int(0, mdeploy_ctx_options_init(&co, MDEPLOY_CTX_OPTIONS_VERSION), "ctx options init");
	is_int(MDEPLOY_LOG_INFO, co.log_level, "ctx default log level");
	is_int(MDEPLOY_EVERSION, mdeploy_ctx_options_init(&co, 7), "ctx options: unknown version refused");

	sd = malloc(4200);
	snprintf(sd, 4200, "%s/state/nested", test_tmpdir());
	setenv("MDEPLOY_STATE_DIR", sd, 1);
	is_int(0, mdeploy_ctx_new(&ctx, NULL), "ctx_new with NULL options");
	is_str(sd, mdeploy_ctx_state_dir(ctx), "state dir from $MDEPLOY_STATE_DIR");
	is_str("mdeploy.yml", mdeploy_ctx_config_path(ctx), "config defaults to ./mdeploy.yml");
	ok(!mdeploy__path_exists(sd), "state dir not created eagerly");
	is_int(0, mdeploy_ctx_ensure_state_dir(ctx), "ensure state dir");
	ok(stat(sd, &st) == 0 && (st.st_mode & 0777) == 0700, "state dir is 0700");
	mdeploy_ctx_free(ctx);
	mdeploy_ctx_free(NULL);
	ok(1, "ctx_free(NULL) is safe");

	unsetenv("MDEPLOY_STATE_DIR");
	setenv("HOME", "/home/example", 1);
	unsetenv("XDG_STATE_HOME");
	mdeploy_ctx_new(&ctx, NULL);
	is_str("/home/example/.local/state/mdeploy", mdeploy_ctx_state_dir(ctx), "state dir default under HOME");
	mdeploy_ctx_free(ctx);

	co.version = MDEPLOY_CTX_OPTIONS_VERSION;
	co.state_dir = "/explicit";
	co.config_path = "/etc/app/mdeploy.yml";
	is_int(0, mdeploy_ctx_new(&ctx, &co), "ctx_new with options");
	is_str("/explicit", mdeploy_ctx_state_dir(ctx), "explicit state dir wins");
	is_str("/etc/app/mdeploy.yml", mdeploy_ctx_config_path(ctx), "explicit config path");
	mdeploy_ctx_free(ctx);
	co.version = 0;
	ctx = (mdeploy_ctx *)1;
	is_int(MDEPLOY_EVERSION, mdeploy_ctx_new(&ctx, &co), "ctx_new refuses version 0");
	ok(ctx == NULL, "output cleared on failure");
	free(sd);
	return done();
}
