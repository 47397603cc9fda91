/*
 * mdeploy/artifacts.h - the artifact store: where bundles live between the
 * build and the deployments (what S3 is to CodeBuild and CodeDeploy).
 *
 * Objects are addressed by their SHA-256; a name index records, per name
 * (e.g. "moodle"), numbered revisions 1, 2, ... pointing at objects. The
 * same content put again under a name adds no revision.
 *
 * A reference names an artifact: "NAME" (its newest revision),
 * "NAME@N" (revision N), or "sha256:HEX" / "HEX" (a digest or a unique
 * prefix of at least 8 hex digits).
 *
 * Provider `local`: a directory with objects/<2 hex>/<64 hex> (read-only
 * files) and index.json, updated atomically under a lock.
 * Thread-safety: one thread per handle.
 */
#ifndef MDEPLOY_ARTIFACTS_H
#define MDEPLOY_ARTIFACTS_H

#include "common.h"
#include "context.h"

MDEPLOY_BEGIN_DECL

typedef struct mdeploy_artifacts mdeploy_artifacts;

typedef struct mdeploy_artifacts_options {
	unsigned int version;
	const char *provider;   /* NULL: stores.artifacts of the context's mdeploy.yml
	                           (when it exists), else "local"; or a
	                           store provider this build has */
	const char *dir;        /* local: NULL means stores.artifacts.dir, else <state_dir>/artifacts */
} mdeploy_artifacts_options;

#define MDEPLOY_ARTIFACTS_OPTIONS_VERSION 1
#define MDEPLOY_ARTIFACTS_OPTIONS_INIT { MDEPLOY_ARTIFACTS_OPTIONS_VERSION, NULL, NULL }

MDEPLOY_EXTERN(int) mdeploy_artifacts_options_init(mdeploy_artifacts_options *opts, unsigned int version);

MDEPLOY_EXTERN(int) mdeploy_artifacts_open(mdeploy_artifacts **out, mdeploy_ctx *ctx,
                                           const mdeploy_artifacts_options *opts);
MDEPLOY_EXTERN(void) mdeploy_artifacts_free(mdeploy_artifacts *artifacts);

typedef struct mdeploy_artifact {
	const char *name;
	uint64_t revision;
	const char *sha256;      /* 64 hex digits */
	uint64_t size;
	int64_t created;         /* seconds since the epoch */
	const char *path;        /* local provider: the object file (read-only);
	                            NULL for remote stores */
} mdeploy_artifact;

/* Store the file `file` as a new revision of `name` (letters, digits and
 * "._-", 1 to 128). `*out` (may be NULL) describes it; free with
 * mdeploy_artifact_free(). */
MDEPLOY_EXTERN(int) mdeploy_artifacts_put(mdeploy_artifact **out, mdeploy_artifacts *artifacts,
                                          const char *name, const char *file);

/* Look up a reference (see above). MDEPLOY_ENOTFOUND when nothing matches,
 * MDEPLOY_EINVALID when a digest prefix is ambiguous. */
MDEPLOY_EXTERN(int) mdeploy_artifacts_get(mdeploy_artifact **out, mdeploy_artifacts *artifacts,
                                          const char *ref);
MDEPLOY_EXTERN(void) mdeploy_artifact_free(mdeploy_artifact *artifact);

/* Copy an artifact to `dest` (replaced atomically), checking its digest on
 * the way (MDEPLOY_ECORRUPT when the stored object was damaged). */
MDEPLOY_EXTERN(int) mdeploy_artifacts_fetch(mdeploy_artifacts *artifacts, const char *ref, const char *dest);

/* Revisions of `name` (NULL: of every name), by name, newest first. */
typedef int (*mdeploy_artifacts_cb)(const mdeploy_artifact *artifact, void *payload);
MDEPLOY_EXTERN(int) mdeploy_artifacts_list(mdeploy_artifacts *artifacts, const char *name,
                                           mdeploy_artifacts_cb cb, void *payload);

typedef struct mdeploy_artifacts_gc_options {
	unsigned int version;
	unsigned int keep;              /* newest revisions kept per name; 0: 5 */
	const char *const *in_use;      /* NULL-terminated digests to keep whatever
	                                   their age (what deployment groups run) */
	int dry_run;                    /* report, remove nothing */
} mdeploy_artifacts_gc_options;

#define MDEPLOY_ARTIFACTS_GC_OPTIONS_VERSION 1
#define MDEPLOY_ARTIFACTS_GC_OPTIONS_INIT { MDEPLOY_ARTIFACTS_GC_OPTIONS_VERSION, 0, NULL, 0 }

MDEPLOY_EXTERN(int) mdeploy_artifacts_gc_options_init(mdeploy_artifacts_gc_options *opts, unsigned int version);

/* Drop revisions beyond the newest `keep` of each name unless in use, then
 * objects no revision points at. `cb` (may be NULL) sees each revision
 * removed; `*freed` (may be NULL) gets the bytes of objects removed. */
MDEPLOY_EXTERN(int) mdeploy_artifacts_gc(mdeploy_artifacts *artifacts, const mdeploy_artifacts_gc_options *opts,
                                         mdeploy_artifacts_cb cb, void *payload, uint64_t *freed);

/*
 * The digests of the bundles deployment groups still use, read from the
 * state store (mdeploy/store.h): for each group, every deployment not yet
 * finished and the two newest that succeeded (what runs, and what a
 * rollback returns to). Digests are the SHA-256 of each deployment's bundle
 * file, or its revision when that is a digest. *out is NULL-terminated
 * (empty when there is no state store yet); free it with
 * mdeploy_artifacts_in_use_free(). Pass it as gc's in_use.
 */
MDEPLOY_EXTERN(int) mdeploy_artifacts_in_use(char ***out, mdeploy_ctx *ctx);
MDEPLOY_EXTERN(void) mdeploy_artifacts_in_use_free(char **list);

MDEPLOY_END_DECL

#endif
