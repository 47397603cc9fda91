/*
 * provider/store.h - the store half of the provider interface: parameter,
 * secret and artifact stores. The public handles (mdeploy/params.h,
 * secrets.h, artifacts.h) check arguments and dispatch to these operations;
 * provider/local/ implements them on files, an aws provider would on SSM,
 * Secrets Manager and S3. (Fleets, instances and the load balancer are in
 * provider/provider.h.)
 */
#ifndef MDEPLOY_PROVIDER_STORE_H
#define MDEPLOY_PROVIDER_STORE_H

#include "mdeploy_private.h"
#include "mdeploy/params.h"
#include "mdeploy/secrets.h"
#include "mdeploy/artifacts.h"

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
	void (*free)(void *impl);
} mdeploy_provider__secrets_ops;

typedef struct mdeploy_provider__artifacts_ops {
	const char *name;
	int (*put)(void *impl, mdeploy_artifact **out, const char *name, const char *file);
	int (*get)(void *impl, mdeploy_artifact **out, const char *ref);
	int (*fetch)(void *impl, const char *ref, const char *dest);
	int (*list)(void *impl, const char *name, mdeploy_artifacts_cb cb, void *payload);
	int (*gc)(void *impl, const mdeploy_artifacts_gc_options *opts, mdeploy_artifacts_cb cb,
	          void *payload, uint64_t *freed);
	void (*free)(void *impl);
} mdeploy_provider__artifacts_ops;

/* provider/local/ */
int mdeploy_local__params_new(void **impl, const mdeploy_provider__params_ops **ops, const char *dir);
int mdeploy_local__secrets_new(void **impl, const mdeploy_provider__secrets_ops **ops, const char *dir,
                               const char *key_file);
int mdeploy_local__artifacts_new(void **impl, const mdeploy_provider__artifacts_ops **ops, const char *dir);

/* provider/local/jsonfile.c: a JSON document in a file, changed under a lock. */
typedef struct mdeploy_local__jsonfile {
	char *path;
	char *lock_path;
	int lock_fd;
	mode_t mode;
} mdeploy_local__jsonfile;

int mdeploy_local__jsonfile_init(mdeploy_local__jsonfile *f, const char *dir, const char *file, mode_t mode);
void mdeploy_local__jsonfile_dispose(mdeploy_local__jsonfile *f);
/* Lock (exclusive when `write`), then load; a missing file gives `{}`.
 * The returned document (a jansson json_t *) is the caller's. */
int mdeploy_local__jsonfile_begin(mdeploy_local__jsonfile *f, int write, void **doc);
/* Write `doc` atomically (when not NULL) and unlock. */
int mdeploy_local__jsonfile_end(mdeploy_local__jsonfile *f, void *doc);

/* provider/store.c: resolving a store's directory. */
int mdeploy_provider__store_dir(char **out, mdeploy_ctx *ctx, const char *dir, const char *sub);
int64_t mdeploy_provider__now(void);

#endif
