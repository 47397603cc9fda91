/*
 * mdeploy/build.h - run a buildspec (AWS CodeBuild's buildspec version 0.2,
 * off AWS) and turn its artifacts into bundles. See mdeploy-buildspec(5).
 *
 * Phases install, pre_build, build and post_build run in that order, each
 * with `commands`, `finally`, `on-failure` and `run-as`. A failure in
 * install or pre_build skips to the end; a failure in build still runs
 * post_build with MDEPLOY_BUILD_SUCCEEDING=0 (and CODEBUILD_BUILD_SUCCEEDING);
 * `finally` runs in every phase that started. Each command is its own
 * script in env.shell (default bash, else sh); variables it sets and its
 * working directory carry over to later commands and phases.
 *
 * env.parameter-store and env.secrets-manager are resolved through the
 * parameter and secret stores (mdeploy/params.h, mdeploy/secrets.h) before
 * the first phase; a missing one fails the build naming the buildspec line.
 * Secret values are replaced by "***" in everything the build reports: the
 * output callback, the build log, exported variables and error messages.
 *
 * Thread-safety: one thread per build.
 */
#ifndef MDEPLOY_BUILD_H
#define MDEPLOY_BUILD_H

#include "common.h"
#include "context.h"
#include "exec.h"
#include "bundle.h"
#include "params.h"
#include "secrets.h"
#include "artifacts.h"

MDEPLOY_BEGIN_DECL

typedef struct mdeploy_buildspec mdeploy_buildspec;

/*
 * Parse a buildspec. `name` is used in messages ("buildspec.yml" when
 * NULL). Errors are MDEPLOY_EINVALID with "name:line:col: field: problem".
 */
MDEPLOY_EXTERN(int) mdeploy_buildspec_parse(mdeploy_buildspec **out, const char *data, size_t len,
                                            const char *name);
MDEPLOY_EXTERN(int) mdeploy_buildspec_load(mdeploy_buildspec **out, const char *path);
MDEPLOY_EXTERN(void) mdeploy_buildspec_free(mdeploy_buildspec *spec);

/* One line of command output (without its newline), secrets masked.
 * `phase` is "INSTALL", "PRE_BUILD", "BUILD" or "POST_BUILD". Non-zero
 * stops the build (MDEPLOY_EUSER). */
typedef int (*mdeploy_build_output_cb)(const char *phase, mdeploy_exec_stream stream,
                                       const char *line, void *payload);

typedef struct mdeploy_build_options {
	unsigned int version;
	const char *src_dir;          /* the source tree; NULL: the current directory */
	const char *buildspec;        /* NULL: <src_dir>/buildspec.yml */
	const char *build_id;         /* NULL: "mdeploy-build:<32 hex>" */
	uint64_t build_number;        /* 0: 1 */
	const char *resolved_source_version; /* commit id given to commands; may be NULL */
	unsigned int timeout_s;       /* whole build; 0: 3600 */
	const char *log_path;         /* NULL: <state_dir>/builds/<id>/build.log */
	const char *const *env;       /* extra "K=V" for commands (after env.variables) */
	mdeploy_build_output_cb output_cb;
	void *payload;
	/* Artifacts: each artifact (primary and secondaries) becomes a bundle
	 * in artifacts_dir named <name>.<format> (name: artifacts.name, else
	 * "primary" or the secondary identifier). NULL: no bundles made. */
	const char *artifacts_dir;
	mdeploy_bundle_format format; /* AUTO: tar.zst */
	const char *signing_key;      /* signs the bundles; may be NULL */
	const char *source_json;      /* recorded in the manifests; NULL: the
	                                 source directory's .mdeploy-release.json
	                                 (written by the source stage's export) */
	int allow_empty_artifacts;    /* a `files` glob matching nothing is fine */
	/* Put the primary bundle in the artifact store under this name. */
	const char *store_name;
	/* Stores; NULL: opened from the context (local). Borrowed. */
	mdeploy_params *params;
	mdeploy_secrets *secrets;
	mdeploy_artifacts *artifacts;
} mdeploy_build_options;

#define MDEPLOY_BUILD_OPTIONS_VERSION 1
#define MDEPLOY_BUILD_OPTIONS_INIT { MDEPLOY_BUILD_OPTIONS_VERSION, NULL, NULL, NULL, 0, NULL, 0, NULL, \
	NULL, NULL, NULL, NULL, MDEPLOY_BUNDLE_FORMAT_AUTO, NULL, NULL, 0, NULL, NULL, NULL, NULL }

MDEPLOY_EXTERN(int) mdeploy_build_options_init(mdeploy_build_options *opts, unsigned int version);

typedef struct mdeploy_build_result mdeploy_build_result;

typedef enum {
	MDEPLOY_BUILD_SUCCEEDED = 0,
	MDEPLOY_BUILD_FAILED = 1,
	MDEPLOY_BUILD_TIMED_OUT = 2
} mdeploy_build_status;

/*
 * Run a build. Returns 0 when the build ran to an end, whatever its
 * status (read the result); an error code when it could not run: a bad
 * buildspec, a missing parameter or secret, an unreadable store, a log that
 * cannot be written (then *out may still be set and must be freed).
 * `ctx` gives the state directory and log callback; it may be NULL when
 * opts give log_path and the stores.
 */
MDEPLOY_EXTERN(int) mdeploy_build_run(mdeploy_build_result **out, mdeploy_ctx *ctx,
                                      const mdeploy_build_options *opts);
MDEPLOY_EXTERN(void) mdeploy_build_result_free(mdeploy_build_result *result);

MDEPLOY_EXTERN(mdeploy_build_status) mdeploy_build_result_status(const mdeploy_build_result *r);
/* "SUCCEEDED", "FAILED", "TIMED_OUT". */
MDEPLOY_EXTERN(const char *) mdeploy_build_status_name(mdeploy_build_status status);
MDEPLOY_EXTERN(const char *) mdeploy_build_result_id(const mdeploy_build_result *r);
MDEPLOY_EXTERN(const char *) mdeploy_build_result_log_path(const mdeploy_build_result *r);
MDEPLOY_EXTERN(uint64_t) mdeploy_build_result_duration_ms(const mdeploy_build_result *r);
/* Why the build failed (masked), or NULL when it succeeded. */
MDEPLOY_EXTERN(const char *) mdeploy_build_result_reason(const mdeploy_build_result *r);

typedef struct mdeploy_build_phase {
	const char *name;        /* "INSTALL" ... */
	const char *status;      /* "SUCCEEDED", "FAILED", "TIMED_OUT", "SKIPPED" */
	uint64_t duration_ms;
	unsigned int attempts;   /* > 1 after RETRY */
} mdeploy_build_phase;

/* The four phases in order. Borrowed. */
MDEPLOY_EXTERN(size_t) mdeploy_build_result_phase_count(const mdeploy_build_result *r);
MDEPLOY_EXTERN(const mdeploy_build_phase *) mdeploy_build_result_phase(const mdeploy_build_result *r, size_t i);

/* env.exported-variables with their values at the end of the build
 * (secrets masked; unset ones are empty). Borrowed. */
MDEPLOY_EXTERN(size_t) mdeploy_build_result_exported_count(const mdeploy_build_result *r);
MDEPLOY_EXTERN(const char *) mdeploy_build_result_exported(const mdeploy_build_result *r, size_t i,
                                                           const char **value);

typedef struct mdeploy_build_artifact {
	const char *identifier;  /* "primary" or the secondary's identifier */
	const char *path;        /* the bundle file */
	uint64_t files;
	const char *sha256;      /* of the bundle file */
	uint64_t store_revision; /* artifact store revision, 0 when not stored */
} mdeploy_build_artifact;

MDEPLOY_EXTERN(size_t) mdeploy_build_result_artifact_count(const mdeploy_build_result *r);
MDEPLOY_EXTERN(const mdeploy_build_artifact *) mdeploy_build_result_artifact(const mdeploy_build_result *r, size_t i);

MDEPLOY_END_DECL

#endif
