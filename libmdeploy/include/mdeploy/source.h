/*
 * mdeploy/source.h - Moodle core and plugins from git, reproducibly.
 *
 * The `source` section of mdeploy.yml names repositories and refs. This
 * module keeps one bare mirror per remote URL under
 * <state dir>/mirrors/ (shared by every application on the host), writes
 * mdeploy.lock with the exact commit of every ref, and assembles the
 * locked commits into one Moodle tree: a release. A release is read
 * straight from the object database; there is no checkout.
 *
 * Mirrors are safe against crashes and concurrency: a first clone is
 * made in a temporary directory and renamed into place; each mirror has a
 * lock file held (flock) while it is fetched, so two processes fetching
 * the same URL take turns; stale git lock files left by a killed fetch
 * are removed under that lock, and the next fetch completes the work.
 *
 * Credentials: https uses $MDEPLOY_GIT_TOKEN as the password (user from
 * the URL, else $MDEPLOY_GIT_USER, else "x-access-token"), else what
 * git's credential helpers give (`git credential fill`, never a prompt);
 * ssh uses
 * $MDEPLOY_SSH_KEY (a private key file, passphrase in
 * $MDEPLOY_SSH_PASSPHRASE) or else the SSH agent. Local paths and file://
 * need none. Relative paths are relative to the directory of mdeploy.yml.
 *
 * Progress of fetches goes to the context's progress callback as
 * operation "fetch", subject the URL, unit "objects", with bytes.
 */
#ifndef MDEPLOY_SOURCE_H
#define MDEPLOY_SOURCE_H

#include "common.h"
#include "context.h"
#include "config.h"
#include "moodle.h"

MDEPLOY_BEGIN_DECL

typedef struct mdeploy_source mdeploy_source;
typedef struct mdeploy_release mdeploy_release;

typedef struct mdeploy_source_options {
	unsigned int version;
	/* mdeploy.lock; NULL: "mdeploy.lock" next to mdeploy.yml. */
	const char *lock_path;
} mdeploy_source_options;

#define MDEPLOY_SOURCE_OPTIONS_VERSION 1
#define MDEPLOY_SOURCE_OPTIONS_INIT { MDEPLOY_SOURCE_OPTIONS_VERSION, NULL }

MDEPLOY_EXTERN(int) mdeploy_source_options_init(mdeploy_source_options *opts, unsigned int version);

/*
 * Load the context's mdeploy.yml (mdeploy_ctx_config_path()) and check
 * it has a source section. `opts` may be NULL. The context must outlive
 * the handle. Free with mdeploy_source_free().
 */
MDEPLOY_EXTERN(int) mdeploy_source_open(mdeploy_source **out, mdeploy_ctx *ctx,
                                        const mdeploy_source_options *opts);
MDEPLOY_EXTERN(void) mdeploy_source_free(mdeploy_source *src);
MDEPLOY_EXTERN(const mdeploy_config *) mdeploy_source_config(const mdeploy_source *src);
MDEPLOY_EXTERN(const char *) mdeploy_source_lock_path(const mdeploy_source *src);

/*
 * Fetch every repository of mdeploy.yml into its mirror (clone on first
 * use, incremental after). With MDEPLOY_SOURCE_LOCKED, fetch the
 * repositories of mdeploy.lock instead and check every locked commit is
 * there: a commit gone upstream fails with MDEPLOY_ENOTFOUND naming it.
 */
#define MDEPLOY_SOURCE_LOCKED 1u
MDEPLOY_EXTERN(int) mdeploy_source_fetch(mdeploy_source *src, unsigned int flags);

/*
 * Fetch, resolve every ref of mdeploy.yml to a commit and write
 * mdeploy.lock atomically (plugins sorted by component; URL, ref, commit
 * and tree of each). A missing ref fails naming mdeploy.yml's line.
 */
MDEPLOY_EXTERN(int) mdeploy_source_lock(mdeploy_source *src);

/* One repository as `source status` reports it. */
typedef struct mdeploy_source_state {
	const char *component;      /* "core" or the plugin */
	const char *url;
	const char *ref;
	const char *locked;         /* commit in mdeploy.lock, or NULL when not locked */
	const char *upstream;       /* commit the ref points to now, or NULL when gone */
	int moved;                  /* locked and upstream differ (or one is missing) */
} mdeploy_source_state;

typedef int (*mdeploy_source_state_cb)(const mdeploy_source_state *state, void *payload);

/* Fetch, then report each repository of mdeploy.yml against the lock. */
MDEPLOY_EXTERN(int) mdeploy_source_status(mdeploy_source *src, mdeploy_source_state_cb cb,
                                          void *payload);

/*
 * Assemble the release of mdeploy.lock from the mirrors (no network):
 * core plus every plugin at its install path, and the Moodle model of the
 * whole, whose problems include the manifest checks (component named in
 * mdeploy.yml differs from version.php, unknown plugin type, two plugins
 * into one path, a plugin path colliding with a core directory).
 * MDEPLOY_ENOTFOUND when there is no lock or a mirror lacks a commit,
 * MDEPLOY_ECONFLICT when the lock no longer matches mdeploy.yml (a
 * repository added, removed, or its URL, ref or path changed).
 */
MDEPLOY_EXTERN(int) mdeploy_source_assemble(mdeploy_release **out, mdeploy_source *src);

/*
 * Open a release described by a file: an mdeploy.lock or a release
 * manifest written by mdeploy_release_export() (relative URLs in it are
 * taken relative to its directory). Reads the context's mirrors.
 */
MDEPLOY_EXTERN(int) mdeploy_release_open_file(mdeploy_release **out, mdeploy_ctx *ctx, const char *path);

/*
 * Open the tree of `rev` in a git repository as a release of core alone
 * (plugins committed into it included). `repository` is a path.
 */
MDEPLOY_EXTERN(int) mdeploy_release_open_rev(mdeploy_release **out, const char *repository,
                                             const char *rev);

/* Open `rev` of mdeploy.yml's core repository, from its mirror (fetched if missing). */
MDEPLOY_EXTERN(int) mdeploy_source_open_core_ref(mdeploy_moodle **out, mdeploy_source *src,
                                                 const char *rev);

/* The same for a release: `rev` of the core mirror, as mdeploy_release_open_rev() reads it. */
MDEPLOY_EXTERN(int) mdeploy_release_open_core_rev(mdeploy_release **out, mdeploy_source *src,
                                                  const char *rev);

MDEPLOY_EXTERN(void) mdeploy_release_free(mdeploy_release *rel);

/* The Moodle model of the release (borrowed). */
MDEPLOY_EXTERN(const mdeploy_moodle *) mdeploy_release_moodle(const mdeploy_release *rel);

/*
 * The release manifest, a JSON document: format, application, layout,
 * core {url, ref, commit, tree, version, release, branch}, plugins
 * [{component, url, ref, commit, tree, path, version}] and components
 * {component: version} for every component in the tree. Borrowed.
 */
MDEPLOY_EXTERN(const char *) mdeploy_release_manifest(const mdeploy_release *rel);

/* ---- walking the tree: the stream the bundle stage writes archives from ---- */

typedef struct mdeploy_source_entry {
	unsigned int version;   /* MDEPLOY_SOURCE_ENTRY_VERSION */
	const char *path;       /* "public/mod/certx/lib.php": relative, '/'-separated */
	unsigned int mode;      /* 0100644, 0100755 or 0120000 (symlink; content is the target) */
	uint64_t size;          /* bytes of content */
	const char *origin;     /* "core" or the plugin component whose repository holds it */
	const char *oid;        /* git blob id (hex), or "" for directories on disk */
} mdeploy_source_entry;
#define MDEPLOY_SOURCE_ENTRY_VERSION 1

typedef struct mdeploy_source_reader mdeploy_source_reader;

/*
 * Called for each file and symlink, sorted by path (directories are
 * implied by paths). `reader` gives the content and is valid only during
 * the call. Non-zero aborts the walk with MDEPLOY_EUSER.
 */
typedef int (*mdeploy_source_walk_cb)(const mdeploy_source_entry *entry,
                                      mdeploy_source_reader *reader, void *payload);

/*
 * Copy up to `len` bytes of the entry's content to `buf`; *nread is 0 at
 * the end. Reading is sequential; the whole content is available.
 */
MDEPLOY_EXTERN(int) mdeploy_source_read(mdeploy_source_reader *reader, void *buf, size_t len,
                                        size_t *nread);
/* The whole content at once (borrowed, valid during the callback). */
MDEPLOY_EXTERN(const void *) mdeploy_source_content(mdeploy_source_reader *reader, size_t *len);

MDEPLOY_EXTERN(int) mdeploy_release_walk(const mdeploy_release *rel, mdeploy_source_walk_cb cb,
                                         void *payload);

/* Assemble the lock's release and walk it. */
MDEPLOY_EXTERN(int) mdeploy_source_walk(mdeploy_source *src, mdeploy_source_walk_cb cb, void *payload);

/*
 * Write the release into directory `dir` (which must not exist, or be
 * empty), with modes and symlinks, plus the manifest as
 * `dir`/.mdeploy-release.json. Written beside `dir` and renamed: `dir`
 * is complete or absent, even when the process is killed (files are not
 * fsynced: after a power loss, export again).
 */
MDEPLOY_EXTERN(int) mdeploy_release_export(const mdeploy_release *rel, const char *dir);

/* ---- what a release changes ---------------------------------------------- */

typedef enum {
	MDEPLOY_CHANGE_NONE = 0,
	MDEPLOY_CHANGE_ADDED,
	MDEPLOY_CHANGE_REMOVED,
	MDEPLOY_CHANGE_CHANGED
} mdeploy_change_kind;

typedef struct mdeploy_component_change {
	const char *component;
	mdeploy_change_kind kind;
	const char *old_version;    /* NULL when added */
	const char *new_version;    /* NULL when removed */
	size_t files_changed;       /* files added, removed or modified under it */
	int upgrade;                /* this component makes Moodle's DB upgrade pending */
	int files_counted;          /* 0 when only versions were compared (manifests) */
	/* Why it is an upgrade ("version 2024100700 -> 2024100705", "added",
	 * "removed", or why a version that cannot be read counts as changed);
	 * NULL when it is not. */
	const char *reason;
} mdeploy_component_change;

typedef struct mdeploy_release_diff mdeploy_release_diff;

/*
 * Compare two releases. Following Moodle's rule, the release is an
 * upgrade when any version number changed or a plugin was added or
 * removed; otherwise it is code-only and can be swapped with no downtime.
 */
MDEPLOY_EXTERN(int) mdeploy_release_diff_new(mdeploy_release_diff **out, const mdeploy_release *a,
                                             const mdeploy_release *b);
/*
 * The same from two release manifests alone (JSON text, as
 * mdeploy_release_manifest() gives), without any git: versions and
 * components only, so files_changed is 0 and files_counted is 0. For
 * hosts that have bundles but no mirrors, e.g. a deployment's upgrade gate.
 */
MDEPLOY_EXTERN(int) mdeploy_release_diff_manifests(mdeploy_release_diff **out, const char *a,
                                                   const char *b);
MDEPLOY_EXTERN(void) mdeploy_release_diff_free(mdeploy_release_diff *d);
/* Non-zero for an upgrade, 0 for code-only. */
MDEPLOY_EXTERN(int) mdeploy_release_diff_upgrade(const mdeploy_release_diff *d);
/* Components that differ (files or version), sorted by component, "core" first. */
MDEPLOY_EXTERN(size_t) mdeploy_release_diff_count(const mdeploy_release_diff *d);
MDEPLOY_EXTERN(const mdeploy_component_change *) mdeploy_release_diff_get(const mdeploy_release_diff *d,
                                                                          size_t i);

MDEPLOY_END_DECL

#endif
