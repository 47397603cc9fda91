/*
 * mdeploy/params.h - the parameter store (what AWS SSM Parameter Store is
 * to CodeBuild): hierarchical names, versions, get-by-path.
 *
 * Names are paths: "/moodle/prod/dbhost" - a leading '/', components of
 * letters, digits and "_.-", at most 15 levels and 1011 characters. Every
 * put of a new value makes a new version (1, 2, ...); the newest 100 are
 * kept. "NAME:N" selects version N wherever a name is read.
 *
 * Values are plain text: secrets belong in the secret store
 * (mdeploy/secrets.h), which encrypts them.
 *
 * Provider: `local` keeps the store in one JSON file (params.json, mode
 * 0600) in a directory, updated atomically under a lock so concurrent
 * processes are safe. Thread-safety: one thread per handle.
 */
#ifndef MDEPLOY_PARAMS_H
#define MDEPLOY_PARAMS_H

#include "common.h"
#include "context.h"

MDEPLOY_BEGIN_DECL

typedef struct mdeploy_params mdeploy_params;

typedef struct mdeploy_params_options {
	unsigned int version;
	const char *provider;   /* NULL: stores.params of the context's mdeploy.yml
	                           (when it exists), else "local"; or a
	                           store provider this build has */
	const char *dir;        /* local: NULL means stores.params.dir, else <state_dir>/params */
} mdeploy_params_options;

#define MDEPLOY_PARAMS_OPTIONS_VERSION 1
#define MDEPLOY_PARAMS_OPTIONS_INIT { MDEPLOY_PARAMS_OPTIONS_VERSION, NULL, NULL }

MDEPLOY_EXTERN(int) mdeploy_params_options_init(mdeploy_params_options *opts, unsigned int version);

/* `ctx` gives the state directory when opts->dir is NULL; `opts` may be NULL. */
MDEPLOY_EXTERN(int) mdeploy_params_open(mdeploy_params **out, mdeploy_ctx *ctx,
                                        const mdeploy_params_options *opts);
MDEPLOY_EXTERN(void) mdeploy_params_free(mdeploy_params *params);

typedef struct mdeploy_param {
	const char *name;
	const char *value;
	const char *type;        /* "String" or "StringList" */
	uint64_t version;
	int64_t modified;        /* seconds since the epoch */
} mdeploy_param;

/* Flags of mdeploy_params_put(). */
#define MDEPLOY_PARAMS_OVERWRITE  1u  /* add a version to an existing parameter */
#define MDEPLOY_PARAMS_STRINGLIST 2u  /* type StringList (comma-separated) */

/*
 * Store `value` under `name`. Without MDEPLOY_PARAMS_OVERWRITE an existing
 * parameter is MDEPLOY_EEXISTS. The same value as the newest version adds
 * no version. `*version` (may be NULL) gets the version now current.
 */
MDEPLOY_EXTERN(int) mdeploy_params_put(mdeploy_params *params, const char *name, const char *value,
                                       unsigned int flags, uint64_t *version);

/* The newest version of `name`, or version N of "name:N". MDEPLOY_ENOTFOUND
 * when missing. Free with mdeploy_param_free(). */
MDEPLOY_EXTERN(int) mdeploy_params_get(mdeploy_param **out, mdeploy_params *params, const char *name);
MDEPLOY_EXTERN(void) mdeploy_param_free(mdeploy_param *param);

/* Newest versions of the parameters under `path` ("/" for all), sorted by
 * name; only direct children unless `recursive`. `cb` returning non-zero
 * stops with MDEPLOY_EUSER. */
typedef int (*mdeploy_params_cb)(const mdeploy_param *param, void *payload);
MDEPLOY_EXTERN(int) mdeploy_params_list(mdeploy_params *params, const char *path, int recursive,
                                        mdeploy_params_cb cb, void *payload);

/* Remove `name` with all its versions. MDEPLOY_ENOTFOUND when missing. */
MDEPLOY_EXTERN(int) mdeploy_params_delete(mdeploy_params *params, const char *name);

MDEPLOY_END_DECL

#endif
