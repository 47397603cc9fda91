/*
 * mdeploy/context.h - the handle most library calls take.
 *
 * A context carries what every operation needs: the state directory (cache
 * of mirrors, state store, artifact store), the path of mdeploy.yml, and
 * the log and progress callbacks. One thread per context.
 */
#ifndef MDEPLOY_CONTEXT_H
#define MDEPLOY_CONTEXT_H

#include "common.h"
#include "log.h"

MDEPLOY_BEGIN_DECL

typedef struct mdeploy_ctx mdeploy_ctx;

typedef struct mdeploy_ctx_options {
	unsigned int version;
	/* State directory; NULL means $MDEPLOY_STATE_DIR, else
	 * $XDG_STATE_HOME/mdeploy, else ~/.local/state/mdeploy. */
	const char *state_dir;
	/* mdeploy.yml; NULL means ./mdeploy.yml. */
	const char *config_path;
	mdeploy_log_cb log_cb;
	mdeploy_progress_cb progress_cb;
	void *payload;            /* given to both callbacks */
	mdeploy_log_level log_level; /* most verbose level passed to log_cb */
} mdeploy_ctx_options;

#define MDEPLOY_CTX_OPTIONS_VERSION 1
#define MDEPLOY_CTX_OPTIONS_INIT { MDEPLOY_CTX_OPTIONS_VERSION, NULL, NULL, NULL, NULL, NULL, MDEPLOY_LOG_INFO }

/* Fill `opts` with defaults for `version`. Returns MDEPLOY_EVERSION if unknown. */
MDEPLOY_EXTERN(int) mdeploy_ctx_options_init(mdeploy_ctx_options *opts, unsigned int version);

/*
 * Create a context. `opts` may be NULL for defaults. The state directory is
 * not created here, only when an operation needs it. Free with
 * mdeploy_ctx_free().
 */
MDEPLOY_EXTERN(int) mdeploy_ctx_new(mdeploy_ctx **out, const mdeploy_ctx_options *opts);

/* Accepts NULL. */
MDEPLOY_EXTERN(void) mdeploy_ctx_free(mdeploy_ctx *ctx);

/* Borrowed strings, valid for the context's life. */
MDEPLOY_EXTERN(const char *) mdeploy_ctx_state_dir(const mdeploy_ctx *ctx);
MDEPLOY_EXTERN(const char *) mdeploy_ctx_config_path(const mdeploy_ctx *ctx);

/* Create the state directory (mode 0700) if missing. */
MDEPLOY_EXTERN(int) mdeploy_ctx_ensure_state_dir(mdeploy_ctx *ctx);

MDEPLOY_END_DECL

#endif
