/*
 * source_private.h - internals of the source module: a virtual file tree
 * over git trees and directories, and the Moodle model built on it.
 */
#ifndef MDEPLOY_SOURCE_PRIVATE_H
#define MDEPLOY_SOURCE_PRIVATE_H

#include "mdeploy_private.h"
#include "mdeploy/moodle.h"

#include <git2.h>

/* Make sure libgit2 is initialised once for the process. */
void mdeploy__git_init(void);
/* Set an mdeploy error from libgit2's last error, prefixed by `what`. */
int mdeploy__git_error(int gitrc, const char *fmt, ...) MDEPLOY_FORMAT_PRINTF(2, 3);

/* Resolve `rev` to an object: commit id, reference shorthand, else rev-parse. */
int mdeploy__git_lookup(git_object **out, git_repository *repo, const char *rev);

/*
 * A file tree assembled from git trees (each at a prefix) or read from a
 * directory: every file and symlink with its path, mode and where to
 * read it. Paths use '/', have no leading slash, and are sorted once
 * mdeploy__vtree_sort() ran.
 */
typedef struct mdeploy__ventry {
	char *path;
	uint32_t mode;       /* 0100644, 0100755 or 0120000 */
	git_oid oid;         /* git trees; zero for directories on disk */
	unsigned int origin; /* index in origins */
} mdeploy__ventry;

typedef struct mdeploy__vorigin {
	git_repository *repo; /* borrowed; NULL for a directory on disk */
	char *dir;            /* directory on disk, or NULL */
	char *name;           /* "core" or a plugin component */
	char *prefix;         /* where its files are in the tree, "" or "mod/x/" */
} mdeploy__vorigin;

typedef struct mdeploy__vtree {
	mdeploy__ventry *e;
	size_t n, alloc;
	mdeploy__vorigin *origins;
	size_t norigins;
} mdeploy__vtree;

void mdeploy__vtree_init(mdeploy__vtree *vt);
void mdeploy__vtree_dispose(mdeploy__vtree *vt);
/* Add every file of `tree` under `prefix` ("" or "dir/"). */
int mdeploy__vtree_add_git(mdeploy__vtree *vt, git_repository *repo, const git_tree *tree,
                           const char *prefix, const char *name);
/* Add every file under directory `dir` (skipping .git). */
int mdeploy__vtree_add_dir(mdeploy__vtree *vt, const char *dir, const char *name);
void mdeploy__vtree_sort(mdeploy__vtree *vt);
const mdeploy__ventry *mdeploy__vtree_find(const mdeploy__vtree *vt, const char *path);
/* Index of the first entry whose path is >= `prefix`. */
size_t mdeploy__vtree_lower(const mdeploy__vtree *vt, const char *prefix);
/* Non-zero when some entry lies under directory `dir` ("mod/x", no slash). */
int mdeploy__vtree_has_dir(const mdeploy__vtree *vt, const char *dir);

/* Contents of an entry; release with mdeploy__vdata_release(). */
typedef struct mdeploy__vdata {
	const char *data;
	size_t len;
	git_blob *blob;
	char *owned;
} mdeploy__vdata;
int mdeploy__vtree_read(const mdeploy__vtree *vt, const mdeploy__ventry *e, mdeploy__vdata *out);
void mdeploy__vdata_release(mdeploy__vdata *d);

/* Build the Moodle model of `vt`, which it takes over (also on failure). */
int mdeploy__moodle_build(mdeploy_moodle **out, mdeploy__vtree *vt);

/* The tree a model was built from. */
const mdeploy__vtree *mdeploy__moodle_vtree(const mdeploy_moodle *m);

/* Add a problem found by a caller (e.g. the manifest checks of source validate). */
int mdeploy__moodle_add_problem(mdeploy_moodle *m, const char *code, const char *component,
                                const char *file, unsigned int line, const char *fmt, ...)
	MDEPLOY_FORMAT_PRINTF(6, 7);

/* Hand a repository the model's tree reads from over to the model. */
int mdeploy__moodle_own_repo(mdeploy_moodle *m, git_repository *repo);
/* gitfetch.c: fetch `url` into the bare repository `gitdir` with git(1)
 * when that is faster (paths, file://, git://): 0 done, 1 not done (use
 * libgit2), <0 on an error to stop at. `lock_fd` is the mirror's lock. */
int mdeploy__gitcli_fetch(mdeploy_ctx *ctx, const char *gitdir, const char *url, int lock_fd);

/*
 * When `component`'s version could not be read (unreadable version.php, or
 * none set), why (the problem's message), and the tree paths of its
 * version.php and of every file it includes (*n of them); NULL when the
 * version was read or there is no such plugin.
 */
/* Marks the problems with `code` (and `component`, and a file matching
 * `file_glob`, when given) accepted for `reason`; returns how many match. */
int mdeploy__moodle_accept(mdeploy_moodle *m, const char *code, const char *component, const char *file_glob,
                           const char *reason);
const char *mdeploy__moodle_version_unread(const mdeploy_moodle *m, const char *component,
                                           const char *const **files, size_t *n);

/* ---- mirrors (mirror.c) ---------------------------------------------- */

/*
 * The URL a mirror is keyed by: local paths made absolute against
 * `base_dir` (the directory of mdeploy.yml or of the lock), others as
 * written. Caller frees.
 */
char *mdeploy__mirror_url(const char *url, const char *base_dir);
/* <state>/mirrors/<hash>-<name>.git for a keyed URL. Caller frees. */
char *mdeploy__mirror_path(mdeploy_ctx *ctx, const char *keyed_url);
/* Clone or fetch `keyed_url` into its mirror, under the mirror's lock. */
int mdeploy__mirror_fetch(mdeploy_ctx *ctx, const char *keyed_url);
/* Open an existing mirror; MDEPLOY_ENOTFOUND (with a hint) when never fetched. */
int mdeploy__mirror_open(git_repository **out, mdeploy_ctx *ctx, const char *keyed_url);
/*
 * Resolve `ref` (tag, branch or full commit id) in a mirror to a commit.
 * MDEPLOY_ENOTFOUND when it is not there.
 */
int mdeploy__mirror_resolve(git_oid *commit, git_oid *tree, git_repository *repo, const char *ref,
                            const char *url);
/* Credentials for an https URL from git's credential helpers; 0 when found (caller frees). */
int mdeploy__git_credential_fill(const char *url, char **user, char **pass);

/* Non-zero when `commit` is reachable from a branch or tag of the mirror. */
int mdeploy__mirror_reachable(git_repository *repo, const git_oid *commit);

/* ---- locks and releases (source.c, release.c) ---------------------------- */

/* One repository of a lock or release manifest. */
typedef struct mdeploy__lockrepo {
	char *component;   /* "core" for core */
	char *url;         /* as written */
	char *ref;
	char *path;        /* plugins: install path relative to the Moodle root, or NULL */
	char *commit;      /* hex */
	char *tree;        /* hex, or NULL when not recorded */
} mdeploy__lockrepo;

typedef struct mdeploy__lock {
	char *application;
	mdeploy__lockrepo *repos;  /* [0] is core */
	size_t n;
	char *base_dir;            /* relative URLs are relative to this */
	char *file;                /* for messages */
} mdeploy__lock;

void mdeploy__lock_dispose(mdeploy__lock *l);
/* Read a lock or a release manifest. MDEPLOY_ENOTFOUND when missing. */
int mdeploy__lock_read(mdeploy__lock *l, const char *path);

/* Assemble a release from a lock's repositories, reading the mirrors of `ctx`. */
int mdeploy__release_assemble(mdeploy_release **out, mdeploy_ctx *ctx, const mdeploy__lock *l,
                              const mdeploy_config *cfg);

#endif
