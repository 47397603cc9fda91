/*
 * mdeploy/bundle.h - deployable bundles: create, inspect, verify, extract.
 *
 * A bundle is an archive (tar.zst by default; tgz, tar and zip are what AWS
 * CodeDeploy accepts) holding a revision: appspec.yml at its root, the
 * application files, and, as its last entries:
 *
 *   .mdeploy/manifest.json   every entry's path, type, size, mode, SHA-256
 *                            (files) or target (symlinks), the build id,
 *                            time and builder, and the source stage's info
 *   .mdeploy/signature.json  optional Ed25519 signature of manifest.json
 *
 * Bundles are reproducible: entries are sorted by path (byte order), every
 * entry has uid/gid 0, no user or group names, no atime/ctime, the same
 * mtime (the build time, or 1980-01-01T00:00:00Z when none is given), and
 * modes are normalised to 0644/0755 (files, by the owner's x bit), 0755
 * (directories) and 0777 (symlinks). The same input and options give a
 * byte-identical file. (zip stores local-time DOS dates beside the UTC
 * ones, so zip bundles are identical for the same TZ only.)
 *
 * Entry paths are relative, '/'-separated, without "." or ".." components.
 *
 * Thread-safety: one thread per handle; distinct handles and the stateless
 * functions (create, verify, extract) may run in parallel.
 */
#ifndef MDEPLOY_BUNDLE_H
#define MDEPLOY_BUNDLE_H

#include "common.h"
#include "context.h"
#include "log.h"

MDEPLOY_BEGIN_DECL

typedef enum {
	MDEPLOY_BUNDLE_FORMAT_AUTO    = 0, /* create: from the file name, else tar.zst; read: detect */
	MDEPLOY_BUNDLE_FORMAT_TAR_ZST = 1,
	MDEPLOY_BUNDLE_FORMAT_TGZ     = 2,
	MDEPLOY_BUNDLE_FORMAT_TAR     = 3,
	MDEPLOY_BUNDLE_FORMAT_ZIP     = 4
} mdeploy_bundle_format;

/* "tar.zst", "tgz", "tar", "zip"; "auto" for 0; NULL for unknown values. */
MDEPLOY_EXTERN(const char *) mdeploy_bundle_format_name(int format);
/* Parse "tar.zst" (or "zst", "tzst"), "tgz" (or "tar.gz"), "tar", "zip".
 * Returns MDEPLOY_EINVALID for anything else. */
MDEPLOY_EXTERN(int) mdeploy_bundle_format_parse(mdeploy_bundle_format *out, const char *name);
/* The format a file name's extension names, else MDEPLOY_BUNDLE_FORMAT_AUTO. */
MDEPLOY_EXTERN(mdeploy_bundle_format) mdeploy_bundle_format_from_path(const char *path);

typedef enum {
	MDEPLOY_BUNDLE_ENTRY_FILE    = 1,
	MDEPLOY_BUNDLE_ENTRY_DIR     = 2,
	MDEPLOY_BUNDLE_ENTRY_SYMLINK = 3
} mdeploy_bundle_entry_type;

/*
 * Names are bytes: a path or link target may hold any byte but NUL, as in
 * git. Returns 1 when `name` is valid UTF-8 (RFC 3629), else 0. The
 * manifest (and the CLI's --json output) carry a name that is not as
 * "path_hex"/"target_hex", its bytes in lowercase hexadecimal, instead of
 * "path"/"target".
 */
MDEPLOY_EXTERN(int) mdeploy_bundle_name_is_utf8(const char *name);

/* One manifest entry. Strings are borrowed from the bundle that returned it. */
typedef struct mdeploy_bundle_entry {
	const char *path;
	mdeploy_bundle_entry_type type;
	uint64_t size;          /* files; 0 otherwise */
	unsigned int mode;      /* permission bits */
	const char *sha256;     /* files: 64 lowercase hex digits; else NULL */
	const char *target;     /* symlinks: the link text; else NULL */
} mdeploy_bundle_entry;

/* ------------------------------------------------------------------ */
/* Creating                                                             */

typedef struct mdeploy_bundle_create_options {
	unsigned int version;
	mdeploy_bundle_format format; /* AUTO: from the output name, else tar.zst */
	int level;                    /* compression level; 0: zstd 3, gzip 6, zip 6 */
	unsigned int threads;         /* zstd workers; 0: one per CPU. Output does
	                                 not depend on it. */
	int64_t build_time;           /* seconds since the epoch; recorded in the
	                                 manifest and used as every entry's mtime.
	                                 0: not recorded, mtime 1980-01-01 */
	const char *build_id;         /* recorded in the manifest; may be NULL */
	const char *builder;          /* recorded in the manifest; may be NULL */
	const char *source_json;      /* a JSON object recorded as the manifest's
	                                 "source" (commits, Moodle components);
	                                 NULL: for a tree exported by the source
	                                 stage, its .mdeploy-release.json */
	const char *signing_key;      /* Ed25519 private key (PEM file) that signs
	                                 the manifest; NULL: unsigned */
	int skip_appspec_check;       /* non-zero: no appspec.yml needed */
	mdeploy_progress_cb progress_cb; /* "bundle", unit "files"; may be NULL */
	void *payload;
} mdeploy_bundle_create_options;

#define MDEPLOY_BUNDLE_CREATE_OPTIONS_VERSION 1
#define MDEPLOY_BUNDLE_CREATE_OPTIONS_INIT { MDEPLOY_BUNDLE_CREATE_OPTIONS_VERSION, \
	MDEPLOY_BUNDLE_FORMAT_AUTO, 0, 0, 0, NULL, NULL, NULL, NULL, 0, NULL, NULL }

MDEPLOY_EXTERN(int) mdeploy_bundle_create_options_init(mdeploy_bundle_create_options *opts,
                                                       unsigned int version);

/*
 * Bundle the tree under `src_dir` into `bundle_path` (replaced atomically:
 * on failure nothing is left at or beside it). Regular files, directories
 * and symlinks are taken; `.git` entries (at any depth) and a top-level
 * `.mdeploy` directory are left out. Symlinks whose target is absolute or
 * leaves the tree, and other file types, are refused (MDEPLOY_EINVALID),
 * since extraction would refuse them. Unless skip_appspec_check is set,
 * `src_dir/appspec.yml` must exist and pass the agent's validation
 * (mdeploy_appspec_parse()), and the hook scripts and `files` sources it
 * names must be in the bundle, else MDEPLOY_EINVALID naming
 * appspec.yml:line:col. `opts` may be NULL.
 */
MDEPLOY_EXTERN(int) mdeploy_bundle_create(const char *bundle_path, const char *src_dir,
                                          const mdeploy_bundle_create_options *opts);

/*
 * Bundle a release (mdeploy/source.h) straight from the source stage's
 * object databases, with mdeploy_release_walk(): no tree is written to
 * disk. `overlay_dir` (may be NULL) adds files the release does not hold -
 * appspec.yml, hook scripts - merged in path order; a file in both is
 * MDEPLOY_ECONFLICT. opts->source_json defaults to the release manifest
 * (commits and Moodle component versions). The same release, overlay and
 * options give the same bytes as mdeploy_bundle_create() of the exported
 * tree with the overlay copied in.
 */
struct mdeploy_release;
MDEPLOY_EXTERN(int) mdeploy_bundle_create_from_release(const char *bundle_path, const struct mdeploy_release *rel,
                                                       const char *overlay_dir,
                                                       const mdeploy_bundle_create_options *opts);

/*
 * A writer for callers that produce entries themselves (for example from a
 * git object database, without writing a tree to disk). Entries must be
 * added in git's order: strictly increasing byte order of their paths, a
 * directory counting as its path with a '/' ("a/b.php" < "a/b/" <
 * "a/b/c.php"; a pre-order walk of a git tree gives that); parent
 * directories are added automatically.
 * The output is replaced only by mdeploy_bundle_writer_finish(); freeing an
 * unfinished writer removes its temporary file. appspec.yml is checked by
 * finish() unless skip_appspec_check.
 */
typedef struct mdeploy_bundle_writer mdeploy_bundle_writer;

MDEPLOY_EXTERN(int) mdeploy_bundle_writer_new(mdeploy_bundle_writer **out, const char *bundle_path,
                                              const mdeploy_bundle_create_options *opts);
/* A regular file of `size` bytes from memory; `executable` gives mode 0755. */
MDEPLOY_EXTERN(int) mdeploy_bundle_writer_add_file(mdeploy_bundle_writer *w, const char *path,
                                                   int executable, const void *data, size_t size);
/* A regular file of exactly `size` bytes, read with `read_cb` until it returns
 * 0. `read_cb` returns the bytes put in `buf` (at most `len`), or -1 to fail
 * (MDEPLOY_EUSER). */
typedef long long (*mdeploy_bundle_read_cb)(void *buf, size_t len, void *payload);
MDEPLOY_EXTERN(int) mdeploy_bundle_writer_add_stream(mdeploy_bundle_writer *w, const char *path,
                                                     int executable, uint64_t size,
                                                     mdeploy_bundle_read_cb read_cb, void *payload);
MDEPLOY_EXTERN(int) mdeploy_bundle_writer_add_symlink(mdeploy_bundle_writer *w, const char *path,
                                                      const char *target);
MDEPLOY_EXTERN(int) mdeploy_bundle_writer_add_dir(mdeploy_bundle_writer *w, const char *path);
/* Write the manifest (and signature), close the archive, rename into place. */
MDEPLOY_EXTERN(int) mdeploy_bundle_writer_finish(mdeploy_bundle_writer *w);
/* Accepts NULL. */
MDEPLOY_EXTERN(void) mdeploy_bundle_writer_free(mdeploy_bundle_writer *w);

/* ------------------------------------------------------------------ */
/* Reading                                                              */

typedef struct mdeploy_bundle mdeploy_bundle;

/*
 * Read a bundle's entry list and manifest (no digests are checked: use
 * mdeploy_bundle_verify()). A bundle without a manifest (a plain CodeDeploy
 * archive) opens with the entries the archive lists, without digests.
 * MDEPLOY_EINVALID for an unreadable, truncated or unsafe archive, with the
 * entry named. Free with mdeploy_bundle_free().
 */
MDEPLOY_EXTERN(int) mdeploy_bundle_open(mdeploy_bundle **out, const char *bundle_path);
MDEPLOY_EXTERN(void) mdeploy_bundle_free(mdeploy_bundle *b);

MDEPLOY_EXTERN(const char *) mdeploy_bundle_path(const mdeploy_bundle *b);
MDEPLOY_EXTERN(mdeploy_bundle_format) mdeploy_bundle_get_format(const mdeploy_bundle *b);
/* Non-zero when the bundle has .mdeploy/manifest.json. */
MDEPLOY_EXTERN(int) mdeploy_bundle_has_manifest(const mdeploy_bundle *b);
/* Entries, sorted by path (the manifest's when there is one). */
MDEPLOY_EXTERN(size_t) mdeploy_bundle_entry_count(const mdeploy_bundle *b);
MDEPLOY_EXTERN(const mdeploy_bundle_entry *) mdeploy_bundle_entry_byindex(const mdeploy_bundle *b, size_t i);
MDEPLOY_EXTERN(const mdeploy_bundle_entry *) mdeploy_bundle_entry_bypath(const mdeploy_bundle *b, const char *path);
/* Manifest fields; NULL (0) when absent. Borrowed. */
MDEPLOY_EXTERN(const char *) mdeploy_bundle_build_id(const mdeploy_bundle *b);
MDEPLOY_EXTERN(const char *) mdeploy_bundle_builder(const mdeploy_bundle *b);
MDEPLOY_EXTERN(int64_t) mdeploy_bundle_build_time(const mdeploy_bundle *b);
/* The "source" object as compact JSON, or NULL. */
MDEPLOY_EXTERN(const char *) mdeploy_bundle_source_json(const mdeploy_bundle *b);
/* The key id (16 hex digits) of the signature, or NULL when unsigned. */
MDEPLOY_EXTERN(const char *) mdeploy_bundle_key_id(const mdeploy_bundle *b);
/* Total bytes of file data. */
MDEPLOY_EXTERN(uint64_t) mdeploy_bundle_content_size(const mdeploy_bundle *b);

/*
 * Differences between two bundles' entry lists, in path order: `status` is
 * 'A' (only in `to`), 'D' (only in `from`) or 'M' (type, size, mode,
 * digest or target differ). `old`/`new_` are NULL where absent. A non-zero
 * return from `cb` stops with MDEPLOY_EUSER.
 */
typedef int (*mdeploy_bundle_diff_cb)(char status, const mdeploy_bundle_entry *old,
                                      const mdeploy_bundle_entry *new_, void *payload);
MDEPLOY_EXTERN(int) mdeploy_bundle_diff(const mdeploy_bundle *from, const mdeploy_bundle *to,
                                        mdeploy_bundle_diff_cb cb, void *payload);

/* ------------------------------------------------------------------ */
/* Verifying and extracting                                             */

typedef struct mdeploy_bundle_verify_options {
	unsigned int version;
	/* NULL-terminated list of trusted Ed25519 public keys (PEM files).
	 * Non-NULL: the bundle must be signed by one of them. */
	const char *const *trusted_keys;
	int require_signature;        /* non-zero: unsigned bundles fail even
	                                 without trusted_keys (then any
	                                 well-formed signature is refused) */
	mdeploy_progress_cb progress_cb; /* "verify", unit "files" */
	void *payload;
} mdeploy_bundle_verify_options;

#define MDEPLOY_BUNDLE_VERIFY_OPTIONS_VERSION 1
#define MDEPLOY_BUNDLE_VERIFY_OPTIONS_INIT { MDEPLOY_BUNDLE_VERIFY_OPTIONS_VERSION, NULL, 0, NULL, NULL }

MDEPLOY_EXTERN(int) mdeploy_bundle_verify_options_init(mdeploy_bundle_verify_options *opts,
                                                       unsigned int version);

/*
 * Check a bundle: it has a manifest; the signature verifies against a
 * trusted key (when trusted_keys is given); every entry is safe to extract
 * and matches the manifest (type, size, mode, SHA-256, symlink target);
 * nothing is missing or extra. Returns 0, or MDEPLOY_EVERIFY with a message
 * naming the first entry (in path order) that does not match, e.g.
 * "b.tar.zst: admin/index.php: SHA-256 does not match the manifest", or
 * MDEPLOY_EINVALID for a damaged archive. `opts` may be NULL.
 */
MDEPLOY_EXTERN(int) mdeploy_bundle_verify(const char *bundle_path, const mdeploy_bundle_verify_options *opts);

typedef struct mdeploy_bundle_extract_options {
	unsigned int version;
	uint64_t max_entries;     /* 0: default 1,000,000 */
	uint64_t max_total_size;  /* bytes of file data written; 0: default 8 GiB */
	/* As in mdeploy_bundle_verify_options: non-NULL requires a signature
	 * by one of these keys. */
	const char *const *trusted_keys;
	int require_manifest;     /* non-zero: a bundle without manifest fails */
	mdeploy_progress_cb progress_cb; /* "extract", unit "files" */
	void *payload;
	/* Version 2. Non-zero: write the bundle's .mdeploy/manifest.json (and
	 * signature.json) into the tree too, as the agent does in a release
	 * so that it says which build it holds. By default the tree holds the
	 * application's files only. */
	int keep_manifest;
} mdeploy_bundle_extract_options;

#define MDEPLOY_BUNDLE_EXTRACT_OPTIONS_VERSION 2
#define MDEPLOY_BUNDLE_EXTRACT_OPTIONS_INIT { MDEPLOY_BUNDLE_EXTRACT_OPTIONS_VERSION, 0, 0, NULL, 0, NULL, NULL, 0 }

MDEPLOY_EXTERN(int) mdeploy_bundle_extract_options_init(mdeploy_bundle_extract_options *opts,
                                                        unsigned int version);

/*
 * Extract `bundle_path` so that `dest_dir` (which must not exist; its
 * parent must) holds the revision, safely:
 *
 *  - entries with absolute paths, ".." components, or empty names are
 *    refused; so are symlinks whose target is absolute or resolves outside
 *    the tree, hard links to anything but a regular file already extracted,
 *    devices, fifos and sockets, duplicate entries, and paths that would
 *    pass through a symlink;
 *  - more than max_entries entries, or more than max_total_size bytes of
 *    data actually written, stop the extraction (archive bombs); sizes
 *    declared (by a manifest at the front, or by each file's header) over
 *    the limit, or over the destination filesystem's free space, refuse it
 *    before anything is written (MDEPLOY_EINVALID; MDEPLOY_ECONFLICT for
 *    space);
 *  - setuid/setgid/sticky bits are dropped, no ownership is applied;
 *  - when the bundle has a manifest, every file is checked against it while
 *    written (and the signature when trusted_keys is given);
 *  - everything goes to a temporary directory beside `dest_dir`, which is
 *    synced to disk (syncfs) and renamed into place only when all of it
 *    succeeded. On any failure nothing is left: no `dest_dir`, no
 *    temporary directory.
 *
 * The manifest is checked but not written into the tree, unless
 * keep_manifest asks for .mdeploy/manifest.json (and signature.json).
 * Returns 0; MDEPLOY_EEXISTS when dest_dir exists; MDEPLOY_EINVALID for unsafe or damaged input (the message names
 * the entry); MDEPLOY_EVERIFY for a manifest or signature mismatch;
 * MDEPLOY_EOS for a system error. `opts` may be NULL.
 */
MDEPLOY_EXTERN(int) mdeploy_bundle_extract(const char *bundle_path, const char *dest_dir,
                                           const mdeploy_bundle_extract_options *opts);

MDEPLOY_END_DECL

#endif
