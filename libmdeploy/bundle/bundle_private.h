/*
 * bundle_private.h - internals shared by the bundle module's files.
 */
#ifndef MDEPLOY_BUNDLE_PRIVATE_H
#define MDEPLOY_BUNDLE_PRIVATE_H

#include "mdeploy_private.h"
#include "mdeploy/bundle.h"

struct archive;
struct archive_entry;

#define MDEPLOY_BUNDLE__MANIFEST  ".mdeploy/manifest.json"
#define MDEPLOY_BUNDLE__SIGNATURE ".mdeploy/signature.json"
#define MDEPLOY_BUNDLE__META_DIR  ".mdeploy"
/* What mdeploy_release_export() leaves at the root of an exported tree. */
#define MDEPLOY_BUNDLE__RELEASE_FILE ".mdeploy-release.json"
/* 1980-01-01T00:00:00Z: the earliest time zip can store. */
#define MDEPLOY_BUNDLE__DEFAULT_MTIME 315532800
#define MDEPLOY_BUNDLE__MAX_META (256u * 1024 * 1024)

/* An entry as written, as listed by a manifest, or as found in an archive. */
typedef struct mdeploy_bundle__item {
	char *path;
	int type;               /* mdeploy_bundle_entry_type */
	uint64_t size;
	unsigned int mode;
	int has_sha;
	char sha256[65];
	char *target;           /* symlink target */
} mdeploy_bundle__item;

typedef struct mdeploy_bundle__list {
	mdeploy_bundle__item *v;
	size_t n, alloc;
} mdeploy_bundle__list;

mdeploy_bundle__item *mdeploy_bundle__list_push(mdeploy_bundle__list *l);
void mdeploy_bundle__list_sort(mdeploy_bundle__list *l);
void mdeploy_bundle__list_dispose(mdeploy_bundle__list *l);
const mdeploy_bundle__item *mdeploy_bundle__list_find(const mdeploy_bundle__list *l, const char *path);

/* path.c */
/* Normalise an archive entry name ("./a//b/" -> "a/b"); refuses absolute
 * paths, ".." components and empty names (MDEPLOY_EINVALID). */
/* True for a name that is only the root: ".", "./", "./.". */
bool mdeploy_bundle__path_is_root(const char *raw);
int mdeploy_bundle__path_normalize(char **out, const char *raw);
/*
 * The order of a bundle's entries: git's, where a directory sorts as its
 * name with a '/' ("admin/settings.php" < "admin/settings/" <
 * "admin/settings/x.php"), so a bundle streamed from git objects and one of
 * the exported tree come out the same.
 */
int mdeploy_bundle__path_cmp(const char *a, int a_dir, const char *b, int b_dir);
/* 0 when a symlink at `path` with `target` stays inside the tree. */
int mdeploy_bundle__symlink_check(const char *path, const char *target);
const char *mdeploy_bundle__type_name(int type);
void mdeploy_bundle__hex(char *out, const unsigned char *in, size_t n);

/* manifest.c */
typedef struct mdeploy_bundle__manifest {
	mdeploy_bundle__list entries;   /* sorted by path */
	char *build_id;
	char *builder;
	int64_t build_time;
	char *source_json;              /* compact */
} mdeploy_bundle__manifest;

int mdeploy_bundle__manifest_build(char **out, size_t *len, mdeploy_bundle__list *entries,
                                   const mdeploy_bundle_create_options *opts);
int mdeploy_bundle__manifest_parse(mdeploy_bundle__manifest *m, const char *data, size_t len);
void mdeploy_bundle__manifest_dispose(mdeploy_bundle__manifest *m);

/* sign.c */
/* 0 when `key_path` holds an Ed25519 private key, before anything is written. */
int mdeploy_bundle__signing_key_check(const char *key_path);
int mdeploy_bundle__sign(char **out, size_t *out_len, const char *key_path,
                         const void *data, size_t len);
/* Checks signature.json against `data`. `trusted_keys` NULL: only checks
 * it is well formed. Sets *key_id (caller frees) when non-NULL. */
int mdeploy_bundle__signature_check(const char *sig, size_t sig_len, const void *data, size_t len,
                                    const char *const *trusted_keys, char **key_id);

/* appspec_check.c: the agent's parser; with `items`, the scripts and
 * sources it names must be among them (sorts `items`). */
int mdeploy_bundle__appspec_check(const char *data, size_t len, mdeploy_bundle__list *items);

/* create.c: a directory tree in entry order (mdeploy_bundle__path_cmp),
 * without .git, a top-level .mdeploy and a top-level .mdeploy-release.json
 * (the release manifest of an exported tree, which goes into the bundle's
 * manifest as its source instead). */
typedef struct mdeploy_bundle__tree_entry {
	char *rel;
	mode_t mode;
	uint64_t size;
} mdeploy_bundle__tree_entry;
typedef struct mdeploy_bundle__tree {
	mdeploy_bundle__tree_entry *v;
	size_t n, alloc;
} mdeploy_bundle__tree;
int mdeploy_bundle__tree_read(mdeploy_bundle__tree *t, const char *root);
void mdeploy_bundle__tree_dispose(mdeploy_bundle__tree *t);
/* Adds tree entry `e` under `root` to `w`. */
int mdeploy_bundle__writer_add_path(mdeploy_bundle_writer *w, const char *root, const mdeploy_bundle__tree_entry *e);

/* readahead.c: a thread that walks `root` in entry order (without .git, a
 * top-level .mdeploy and .mdeploy-release.json, as tree_read) and reads
 * and hashes its files ahead of the writer. _next gives the next entry
 * (the caller gives it back with _done, in the order received), 1 at the
 * end, or the thread's error (set on the calling thread); _stop ends the
 * thread and frees everything. */
typedef struct mdeploy_bundle__ra mdeploy_bundle__ra;
typedef struct mdeploy_bundle__ra_item {
	char *rel;
	mode_t kind;                    /* S_IFREG, S_IFDIR or S_IFLNK */
	int exec;
	uint64_t size;
	unsigned char *data;            /* a file's content, read whole... */
	unsigned char md[32];           /* ... and its SHA-256 (hashed = 1) */
	int hashed;
	int in_ring;                    /* data is in the thread's ring */
	size_t ring_len, ring_end;
	int fd;                         /* or a large file, open, to stream */
	char *target;                   /* symlink */
	struct mdeploy_bundle__ra_item *next;
} mdeploy_bundle__ra_item;
int mdeploy_bundle__ra_start(mdeploy_bundle__ra **out, const char *root);
/* The same queue fed by `fn` on the thread instead of a tree walk: it
 * calls _put for each entry in entry order, and returns 0, 1 when _put
 * said the writer stopped, or an error (set on its thread). _put copies
 * and hashes a file's content (or takes a symlink's target). */
typedef int (*mdeploy_bundle__ra_fn)(mdeploy_bundle__ra *r, void *arg);
int mdeploy_bundle__ra_start_fn(mdeploy_bundle__ra **out, mdeploy_bundle__ra_fn fn, void *arg);
int mdeploy_bundle__ra_put(mdeploy_bundle__ra *r, const char *rel, mode_t kind, int exec, const void *data,
                           size_t len);
int mdeploy_bundle__ra_next(mdeploy_bundle__ra *r, mdeploy_bundle__ra_item **out);
void mdeploy_bundle__ra_done(mdeploy_bundle__ra *r, mdeploy_bundle__ra_item *it);
void mdeploy_bundle__ra_stop(mdeploy_bundle__ra *r);

/* writer.c: a file whose content and SHA-256 the caller has already. */
int mdeploy_bundle__writer_add_hashed(mdeploy_bundle_writer *w, const char *path, int executable,
                                      const void *data, size_t size, const unsigned char md[32]);

/* gzpipe.c: tgz output to `fd` through a deflate thread; new returns -1
 * when the thread cannot start; write and close are libarchive's client
 * callbacks (the client is the pipe); free ends the thread. */
typedef struct mdeploy_bundle__gz mdeploy_bundle__gz;
int mdeploy_bundle__gz_new(mdeploy_bundle__gz **out, int fd, int level);
ssize_t mdeploy_bundle__gz_write(struct archive *a, void *client, const void *buf, size_t len);
int mdeploy_bundle__gz_close(struct archive *a, void *client);
void mdeploy_bundle__gz_free(mdeploy_bundle__gz *g);

/* head.c: the manifest's entries, compressed as `format` wants (tar:
 * none), without an end-of-archive marker, written to `fd`; and the copy of
 * a whole file (from offset 0) after them. `path` names `fd` in errors. */
int mdeploy_bundle__head_write(int fd, mdeploy_bundle_format format, int level, const char *manifest,
                               size_t mlen, const char *sig, size_t slen, int64_t mtime, const char *path);
int mdeploy_bundle__copy_fd(int out, int in, const char *path);

/* tmp.c: lock a temporary for the life of the run (0, or -1 when another
 * process holds it); remove the temporaries PREFIX + 6 characters in `dir`
 * ("" or NULL: the current directory) that nobody holds. */
int mdeploy_bundle__tmp_lock(int fd);
void mdeploy_bundle__tmp_sweep(const char *dir, const char *prefix);

/* scan.c: one streaming pass over an archive. */
typedef struct mdeploy_bundle__scan_hooks {
	/* A file, dir, symlink or hard link (item->type FILE with `link`
	 * set) begins. Files then get data chunks and an end call. */
	int (*begin)(const mdeploy_bundle__item *item, const char *link, void *payload);
	int (*data)(const void *buf, size_t len, void *payload);
	int (*end)(const mdeploy_bundle__item *item, int64_t mtime, void *payload);
	/* May be NULL. Before anything of the contents is written: `bytes` of
	 * files in `entries` entries, as a manifest at the front declares them
	 * (whole = 1), or as the next file's header declares it (whole = 0,
	 * entries 1, `path` that file). Non-zero refuses the bundle. */
	int (*declared)(uint64_t bytes, uint64_t entries, int whole, const char *path, void *payload);
	void *payload;
} mdeploy_bundle__scan_hooks;

typedef struct mdeploy_bundle__scan {
	/* in */
	int hash;                       /* compute SHA-256 of files */
	uint64_t max_entries, max_total_size;
	const mdeploy_bundle__scan_hooks *hooks;  /* may be NULL */
	mdeploy_progress_cb progress_cb;
	void *payload;
	const char *operation;
	/* out */
	mdeploy_bundle_format format;
	mdeploy_bundle__list items;     /* sorted; without .mdeploy/ */
	mdeploy_bundle__manifest *front; /* the manifest, parsed, when it came first */
	char *manifest, *signature;
	size_t manifest_len, signature_len;
} mdeploy_bundle__scan;

int mdeploy_bundle__scan_run(mdeploy_bundle__scan *s, const char *bundle_path);
void mdeploy_bundle__scan_dispose(mdeploy_bundle__scan *s);
/* Compare a finished scan with its manifest and signature. */
int mdeploy_bundle__scan_check(mdeploy_bundle__scan *s, const char *bundle_path,
                               const char *const *trusted_keys, int require_signature,
                               int require_manifest);

#endif
