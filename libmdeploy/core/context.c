/* context.c - the handle that carries state dir, config path and callbacks. */
#include "mdeploy_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <unistd.h>

int mdeploy_ctx_options_init(mdeploy_ctx_options *opts, unsigned int version)
{
	mdeploy_ctx_options tmpl = MDEPLOY_CTX_OPTIONS_INIT;
	int rc = mdeploy__options_check(version, MDEPLOY_CTX_OPTIONS_VERSION, "mdeploy_ctx_options");
	if (rc)
		return rc;
	*opts = tmpl;
	opts->version = version;
	return 0;
}

static char *default_state_dir(void)
{
	const char *env = getenv("MDEPLOY_STATE_DIR"), *home;
	struct passwd *pw;

	if (env && *env)
		return mdeploy__strdup(env);
	env = getenv("XDG_STATE_HOME");
	if (env && *env == '/')
		return mdeploy__sprintf("%s/mdeploy", env);
	home = getenv("HOME");
	if ((!home || !*home) && (pw = getpwuid(getuid())) != NULL)
		home = pw->pw_dir;
	if (!home || !*home)
		home = "/";
	return mdeploy__sprintf("%s/.local/state/mdeploy", home);
}

int mdeploy_ctx_new(mdeploy_ctx **out, const mdeploy_ctx_options *opts)
{
	mdeploy_ctx_options defaults = MDEPLOY_CTX_OPTIONS_INIT;
	mdeploy_ctx *ctx;
	int rc;

	*out = NULL;
	if (!opts)
		opts = &defaults;
	if ((rc = mdeploy__options_check(opts->version, MDEPLOY_CTX_OPTIONS_VERSION, "mdeploy_ctx_options")))
		return rc;
	if (!(ctx = calloc(1, sizeof(*ctx))))
		return mdeploy__error_oom();
	ctx->state_dir = opts->state_dir ? mdeploy__strdup(opts->state_dir) : default_state_dir();
	ctx->config_path = mdeploy__strdup(opts->config_path ? opts->config_path : "mdeploy.yml");
	if (!ctx->state_dir || !ctx->config_path) {
		mdeploy_ctx_free(ctx);
		return MDEPLOY_ENOMEM;
	}
	ctx->log_cb = opts->log_cb;
	ctx->progress_cb = opts->progress_cb;
	ctx->payload = opts->payload;
	ctx->log_level = opts->log_level;
	*out = ctx;
	return 0;
}

void mdeploy_ctx_free(mdeploy_ctx *ctx)
{
	if (!ctx)
		return;
	free(ctx->state_dir);
	free(ctx->config_path);
	free(ctx);
}

const char *mdeploy_ctx_state_dir(const mdeploy_ctx *ctx)
{
	return ctx->state_dir;
}

const char *mdeploy_ctx_config_path(const mdeploy_ctx *ctx)
{
	return ctx->config_path;
}

int mdeploy_ctx_ensure_state_dir(mdeploy_ctx *ctx)
{
	return mdeploy__mkdir_p(ctx->state_dir, 0700);
}

int mdeploy__log(mdeploy_ctx *ctx, mdeploy_log_level level, const char *component,
                 const char *fmt, ...)
{
	mdeploy__buf b = MDEPLOY__BUF_INIT;
	va_list ap;
	int rc;

	if (!ctx || !ctx->log_cb || level > ctx->log_level)
		return 0;
	va_start(ap, fmt);
	rc = mdeploy__buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (rc)
		return 0; /* a log line that cannot be formatted is not worth failing for */
	rc = ctx->log_cb(level, component, mdeploy__buf_cstr(&b), ctx->payload);
	mdeploy__buf_dispose(&b);
	if (rc)
		return mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_CALLBACK,
		                          "log callback aborted (returned %d)", rc);
	return 0;
}

int mdeploy__progress(mdeploy_ctx *ctx, const char *operation, const char *subject,
                      const char *unit, uint64_t current, uint64_t total,
                      uint64_t bytes, int done)
{
	mdeploy_progress p;
	int rc;

	if (!ctx || !ctx->progress_cb)
		return 0;
	p.version = MDEPLOY_PROGRESS_VERSION;
	p.operation = operation;
	p.subject = subject;
	p.unit = unit;
	p.current = current;
	p.total = total;
	p.bytes = bytes;
	p.done = done;
	if ((rc = ctx->progress_cb(&p, ctx->payload)) != 0)
		return mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_CALLBACK,
		                          "%s aborted by progress callback (returned %d)", operation, rc);
	return 0;
}
