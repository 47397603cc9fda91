/*
 * provider/store.h - the store half of the provider interface: parameter,
 * secret and artifact stores. The public handles (mdeploy/params.h,
 * secrets.h, artifacts.h) check arguments, choose a store provider from the
 * registry below and dispatch to its operations; provider/local/ implements
 * them on files, provider/aws/ on SSM Parameter Store, Secrets Manager and
 * S3. (Fleets, instances and the load balancer are in provider/provider.h.)
 *
 * HOW A PROVIDER ADDS ITS STORES
 *
 * Nothing outside provider/<name>/ names a provider: store.c, config/ and
 * the CLI find stores by name in the table of provider/registry.c. To add
 * the stores of a provider `aws`:
 *
 *  1. In provider/aws/stores.c define
 *       const mdeploy_provider__stores mdeploy_provider__aws_stores = {
 *           "aws",
 *           { aws_params_keys, aws_secrets_keys, aws_artifacts_keys },
 *           aws_check,
 *           aws_params_new, aws_secrets_new, aws_artifacts_new,
 *       };
 *     where each *_keys is a NULL-terminated list of the keys that
 *     mdeploy.yml's `stores.<kind>` mapping may hold for that provider
 *     besides `provider:` (e.g. "region", "prefix", "bucket", "kms_key",
 *     "endpoint"). A NULL list and a NULL constructor mean "no store of that
 *     kind" (asking for it is an error naming the field).
 *  2. Declare it below (extern) and add one line to the table in
 *     provider/registry.c; add the files to provider/Makefile-store.inc.
 *
 * That is all: the `stores:` section of mdeploy.yml (config/config_stores.c)
 * accepts every key some registered provider declares, and reports
 * "file:line:col: stores.<kind>.<key>: ..." for a key the chosen provider
 * does not take, for an unknown provider, and for what `check` refuses.
 * Values are YAML scalars, given to the provider as strings.
 *
 * A constructor gets a mdeploy_provider__store_args: the context (state
 * directory), the kind, the public options' dir/key_file (local only), and
 * mdeploy_provider__store_option() to read its keys from mdeploy.yml
 * (NULL when unset). It fills *impl and *ops, or returns an error with
 * mdeploy__error_set() (class PROVIDER) saying what is wrong and where.
 * Credentials never come from mdeploy.yml options and are never logged.
 *
 * Choosing the store (mdeploy_params_open() and the others): the public
 * options' `provider` when set; else `stores.<kind>.provider` of the
 * mdeploy.yml the context names (mdeploy_ctx_config_path(), when that file
 * exists; a broken file is an error, never a silent fall back); else
 * "local".
 */
#ifndef MDEPLOY_PROVIDER_STORE_H
#define MDEPLOY_PROVIDER_STORE_H

#include "mdeploy_private.h"
#include "mdeploy/params.h"
#include "mdeploy/secrets.h"
#include "mdeploy/artifacts.h"
#include "mdeploy/config.h"
#include "store/store_shared.h"

typedef struct mdeploy_provider__params_ops {
	const char *name;
	int (*put)(void *impl, const char *name, const char *value, unsigned int flags, uint64_t *version);
	/* version 0: the newest */
	int (*get)(void *impl, mdeploy_param **out, const char *name, uint64_t version);
	int (*list)(void *impl, const char *path, int recursive, mdeploy_params_cb cb, void *payload);
	int (*del)(void *impl, const char *name);
	void (*free)(void *impl);
} mdeploy_provider__params_ops;

typedef struct mdeploy_provider__secrets_ops {
	const char *name;
	/* must_exist: rotation. */
	int (*put)(void *impl, const char *name, const char *value, int must_exist, char version_id[33]);
	int (*get)(void *impl, char **value, const char *name, mdeploy_secret_stage stage, const char *version_id);
	int (*list)(void *impl, mdeploy_secrets_cb cb, void *payload);
	/* every version; MDEPLOY_ENOTFOUND when there is no such secret */
	int (*del)(void *impl, const char *name);
	void (*free)(void *impl);
} mdeploy_provider__secrets_ops;

typedef struct mdeploy_provider__artifacts_ops {
	const char *name;
	int (*put)(void *impl, mdeploy_artifact **out, const char *name, const char *file);
	int (*get)(void *impl, mdeploy_artifact **out, const char *ref);
	int (*fetch)(void *impl, const char *ref, const char *dest);
	int (*list)(void *impl, const char *name, mdeploy_artifacts_cb cb, void *payload);
	/*
	 * Deleting for gc (which revisions go is decided in store.c, the same
	 * for every provider): remove the revisions `doomed` (by name and
	 * revision; one already gone is skipped) from the index, then the
	 * objects nothing left in the index points at, except the digests in
	 * `keep` (NULL-terminated, may be NULL). dry_run: change nothing, only
	 * count. *freed (may be NULL) grows by the bytes of the objects removed.
	 */
	int (*remove)(void *impl, const mdeploy_artifact *const *doomed, size_t n, const char *const *keep,
	              int dry_run, uint64_t *freed);
	void (*free)(void *impl);
} mdeploy_provider__artifacts_ops;

/* ---- the store registry ---- */

/* Kinds of store, and their key in mdeploy.yml's `stores:` mapping. */
typedef enum {
	MDEPLOY_PROVIDER__STORE_PARAMS = 0,    /* "params" */
	MDEPLOY_PROVIDER__STORE_SECRETS = 1,   /* "secrets" */
	MDEPLOY_PROVIDER__STORE_ARTIFACTS = 2, /* "artifacts" */
	MDEPLOY_PROVIDER__STORE_STATE = 3,     /* "state": locks and the journal (store/store_shared.h) */
	MDEPLOY_PROVIDER__STORE_KINDS = 4
} mdeploy_provider__store_kind;

/* "params", "secrets", "artifacts", "state"; and "parameter", "secret", "artifact", "state" for messages. */
const char *mdeploy_provider__store_kind_key(mdeploy_provider__store_kind kind);
const char *mdeploy_provider__store_kind_noun(mdeploy_provider__store_kind kind);

typedef struct mdeploy_provider__store_args {
	mdeploy_ctx *ctx;                   /* may be NULL (then `dir` is given) */
	mdeploy_provider__store_kind kind;
	const mdeploy_config *config;       /* the mdeploy.yml options come from; may be NULL */
	const char *dir;                    /* public options' dir; may be NULL */
	const char *key_file;               /* secrets: public options' key_file; may be NULL */
} mdeploy_provider__store_args;

/* stores.<kind>.<key> of the configuration, NULL when unset. */
const char *mdeploy_provider__store_option(const mdeploy_provider__store_args *a, const char *key);
/* Where stores.<kind>.<key> is ("mdeploy.yml:12:10: stores.params.dir"), for messages. */
const char *mdeploy_provider__store_where(const mdeploy_provider__store_args *a, const char *key);

typedef struct mdeploy_provider__stores {
	const char *name;
	/* Per kind: NULL-terminated keys stores.<kind> may hold besides `provider`;
	 * NULL: the provider has no store of that kind. */
	const char *const *keys[MDEPLOY_PROVIDER__STORE_KINDS];
	/* May be NULL. Check one value when mdeploy.yml is loaded: return 0, or
	 * non-zero with why[] saying what is wrong ("must be an absolute path"). */
	int (*check)(mdeploy_provider__store_kind kind, const char *key, const char *value, char *why, size_t n);
	int (*params_new)(void **impl, const mdeploy_provider__params_ops **ops, const mdeploy_provider__store_args *a);
	int (*secrets_new)(void **impl, const mdeploy_provider__secrets_ops **ops, const mdeploy_provider__store_args *a);
	int (*artifacts_new)(void **impl, const mdeploy_provider__artifacts_ops **ops,
	                     const mdeploy_provider__store_args *a);
	/* The shared state backend (stores.state); NULL: the embedded SQLite
	 * store is this provider's state store (keys[STATE] then lists no key). */
	int (*state_new)(void **impl, const mdeploy_store__shared_ops **ops, const mdeploy_provider__store_args *a);
} mdeploy_provider__stores;

/* provider/registry.c: the table; NULL when `name` is not registered. */
const mdeploy_provider__stores *mdeploy_provider__stores_find(const char *name);
/* The i-th registered store provider, NULL past the end. */
const mdeploy_provider__stores *mdeploy_provider__stores_at(size_t i);
/* "local, aws": the registered names, for messages (a static string). */
const char *mdeploy_provider__stores_names(void);

/* The registered providers (one line each in registry.c). */
extern const mdeploy_provider__stores mdeploy_provider__local_stores;
extern const mdeploy_provider__stores mdeploy_provider__aws_stores;

/* config/config_stores.c: stores.<kind> of a loaded mdeploy.yml. The
 * provider is NULL when the section or the kind is absent. */
const char *mdeploy_config__store_provider(const mdeploy_config *cfg, mdeploy_provider__store_kind kind);
const char *mdeploy_config__store_value(const mdeploy_config *cfg, mdeploy_provider__store_kind kind,
                                        const char *key);


int64_t mdeploy_provider__now(void);

#endif
