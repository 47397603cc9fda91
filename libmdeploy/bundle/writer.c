/* writer.c - reproducible bundle archives, entry by entry; the manifest goes
 * in front of them at the end (head.c). */
#include "bundle_private.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK (256 * 1024)


struct mdeploy_bundle_writer {
	mdeploy_bundle_create_options opts;
	char *build_id, *builder, *source_json, *signing_key; /* owned copies */
	char *path, *tmp;
	int fd;
	struct archive *a;
	struct archive_entry *entry;
	mdeploy_bundle__list items;
	char *last;               /* last explicitly added path */
	int last_dir;             /* ... a directory */
	char **dirs;              /* open-addressing set of added directories */
	size_t dirs_alloc, dirs_n;
	char *appspec;            /* copy of appspec.yml */
	size_t appspec_len;
	int have_appspec, failed, finished;
	unsigned char *chunk;
	uint64_t files, bytes;
	mdeploy_bundle__gz *gz;       /* tgz: the deflate thread */
};

const char *mdeploy_bundle_format_name(int format)
{
	switch (format) {
	case MDEPLOY_BUNDLE_FORMAT_AUTO: return "auto";
	case MDEPLOY_BUNDLE_FORMAT_TAR_ZST: return "tar.zst";
	case MDEPLOY_BUNDLE_FORMAT_TGZ: return "tgz";
	case MDEPLOY_BUNDLE_FORMAT_TAR: return "tar";
	case MDEPLOY_BUNDLE_FORMAT_ZIP: return "zip";
	default: return NULL;
	}
}

int mdeploy_bundle_format_parse(mdeploy_bundle_format *out, const char *name)
{
	static const struct { const char *name; mdeploy_bundle_format f; } names[] = {
		{ "tar.zst", MDEPLOY_BUNDLE_FORMAT_TAR_ZST }, { "zst", MDEPLOY_BUNDLE_FORMAT_TAR_ZST },
		{ "tzst", MDEPLOY_BUNDLE_FORMAT_TAR_ZST }, { "tgz", MDEPLOY_BUNDLE_FORMAT_TGZ },
		{ "tar.gz", MDEPLOY_BUNDLE_FORMAT_TGZ }, { "tar", MDEPLOY_BUNDLE_FORMAT_TAR },
		{ "zip", MDEPLOY_BUNDLE_FORMAT_ZIP },
	};
	size_t i;
	for (i = 0; name && i < MDEPLOY__ARRAY_SIZE(names); i++)
		if (!strcmp(name, names[i].name)) {
			*out = names[i].f;
			return 0;
		}
	return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE,
	                          "'%s' is not a bundle format (tar.zst, tgz, tar, zip)", name ? name : "");
}

static int ends_with(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);
	return ls >= lx && !strcmp(s + ls - lx, suffix);
}

mdeploy_bundle_format mdeploy_bundle_format_from_path(const char *path)
{
	if (!path)
		return MDEPLOY_BUNDLE_FORMAT_AUTO;
	if (ends_with(path, ".tar.zst") || ends_with(path, ".tzst"))
		return MDEPLOY_BUNDLE_FORMAT_TAR_ZST;
	if (ends_with(path, ".tgz") || ends_with(path, ".tar.gz"))
		return MDEPLOY_BUNDLE_FORMAT_TGZ;
	if (ends_with(path, ".tar"))
		return MDEPLOY_BUNDLE_FORMAT_TAR;
	if (ends_with(path, ".zip"))
		return MDEPLOY_BUNDLE_FORMAT_ZIP;
	return MDEPLOY_BUNDLE_FORMAT_AUTO;
}

int mdeploy_bundle_create_options_init(mdeploy_bundle_create_options *opts, unsigned int version)
{
	mdeploy_bundle_create_options d = MDEPLOY_BUNDLE_CREATE_OPTIONS_INIT;
	int rc = mdeploy__options_check(version, MDEPLOY_BUNDLE_CREATE_OPTIONS_VERSION,
	                                "mdeploy_bundle_create_options");
	if (rc)
		return rc;
	*opts = d;
	opts->version = version;
	return 0;
}

static int arc_error(mdeploy_bundle_writer *w, const char *what)
{
	w->failed = 1;
	return mdeploy__error_set(MDEPLOY_EOS, MDEPLOY_ERROR_CLASS_BUNDLE, "%s: %s: %s", w->path, what,
	                          archive_error_string(w->a) ? archive_error_string(w->a) : "archive error");
}

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}

/* Returns 1 when `dir` was in the set, 0 when just added, <0 on error. */
static int dirs_add(mdeploy_bundle_writer *w, const char *dir)
{
	size_t i, mask;
	if (w->dirs_n * 2 >= w->dirs_alloc) {
		size_t na = w->dirs_alloc ? w->dirs_alloc * 2 : 256, j;
		char **nd = calloc(na, sizeof(*nd));
		if (!nd)
			return mdeploy__error_oom();
		for (j = 0; j < w->dirs_alloc; j++)
			if (w->dirs[j]) {
				size_t k = (size_t)hash_str(w->dirs[j]) & (na - 1);
				while (nd[k])
					k = (k + 1) & (na - 1);
				nd[k] = w->dirs[j];
			}
		free(w->dirs);
		w->dirs = nd;
		w->dirs_alloc = na;
	}
	mask = w->dirs_alloc - 1;
	for (i = (size_t)hash_str(dir) & mask; w->dirs[i]; i = (i + 1) & mask)
		if (!strcmp(w->dirs[i], dir))
			return 1;
	if (!(w->dirs[i] = mdeploy__strdup(dir)))
		return MDEPLOY_ENOMEM;
	w->dirs_n++;
	return 0;
}

static void entry_reset(mdeploy_bundle_writer *w, const char *path, mode_t type, unsigned int perm)
{
	int64_t t = w->opts.build_time ? w->opts.build_time : MDEPLOY_BUNDLE__DEFAULT_MTIME;
	archive_entry_clear(w->entry);
	/* libarchive's zip reader takes a name without '/' but with '\\' for
	 * a Windows path and turns each '\\' into '/': a "./" prefix (which
	 * readers drop) keeps such a top-level name as it is. */
	if (w->opts.format == MDEPLOY_BUNDLE_FORMAT_ZIP && type != AE_IFDIR && strchr(path, '\\') &&
	    !strchr(path, '/')) {
		char *p = mdeploy__sprintf("./%s", path);
		archive_entry_set_pathname(w->entry, p ? p : path);
		free(p);
	} else {
		archive_entry_set_pathname(w->entry, path);
	}
	archive_entry_set_filetype(w->entry, type);
	archive_entry_set_perm(w->entry, perm);
	archive_entry_set_uid(w->entry, 0);
	archive_entry_set_gid(w->entry, 0);
	archive_entry_set_mtime(w->entry, (time_t)t, 0);
}

/*
 * Writes the header set up in w->entry for `name` (and symlink `target`).
 * Names are bytes (see core/charset.c): tar stores a UTF-8 name as pax
 * defines it, and any other one as raw bytes under hdrcharset=BINARY (the
 * fallback libarchive takes, with a warning, when a name does not convert);
 * zip flags a non-ASCII UTF-8 name as UTF-8 and stores any other one raw,
 * unflagged, for which the locale must not claim UTF-8.
 */
static int write_header(mdeploy_bundle_writer *w, const char *name, const char *target)
{
	bool utf8 = mdeploy__utf8_str(name) && mdeploy__utf8_str(target);
	mdeploy__locale old;
	int r;

	old = mdeploy__locale_enter(w->opts.format == MDEPLOY_BUNDLE_FORMAT_ZIP ? mdeploy__utf8_str(name) : true);
	r = archive_write_header(w->a, w->entry);
	mdeploy__locale_leave(old);
	/* Without a UTF-8 locale (a system lacking C.UTF-8), every non-ASCII
	 * name takes the raw-bytes fallback. */
	if (r == ARCHIVE_OK || (r == ARCHIVE_WARN && (!utf8 || !mdeploy__locale_have_utf8())))
		return 0;
	return arc_error(w, name);
}

static int write_dir(mdeploy_bundle_writer *w, const char *dir)
{
	mdeploy_bundle__item *it;
	int rc = dirs_add(w, dir);
	if (rc)
		return rc < 0 ? rc : 0;
	entry_reset(w, dir, AE_IFDIR, 0755);
	if ((rc = write_header(w, dir, NULL)) != 0)
		return rc;
	if (!(it = mdeploy_bundle__list_push(&w->items)) || !(it->path = mdeploy__strdup(dir)))
		return MDEPLOY_ENOMEM;
	it->type = MDEPLOY_BUNDLE_ENTRY_DIR;
	it->mode = 0755;
	return 0;
}

/* Writes the parent directories of `path` that are not in the archive yet. */
static int write_parents(mdeploy_bundle_writer *w, const char *path)
{
	char *p = mdeploy__strdup(path), *s;
	int rc = 0;
	if (!p)
		return MDEPLOY_ENOMEM;
	for (s = strchr(p, '/'); s && !rc; s = strchr(s + 1, '/')) {
		*s = '\0';
		rc = write_dir(w, p);
		*s = '/';
	}
	free(p);
	return rc;
}

/* Checks the order and name of an explicitly added entry. */
static int begin_entry(mdeploy_bundle_writer *w, const char *path, int is_dir, char **norm)
{
	int rc;
	*norm = NULL;
	if (w->failed || w->finished)
		return mdeploy__error_set(MDEPLOY_ECONFLICT, MDEPLOY_ERROR_CLASS_BUNDLE,
		                          "%s: the writer has %s", w->path, w->finished ? "finished" : "failed");
	if ((rc = mdeploy__interrupt_check(w->path)) != 0 || (rc = mdeploy_bundle__path_normalize(norm, path)) != 0) {
		w->failed = 1;
		return rc;
	}
	if (!strcmp(*norm, MDEPLOY_BUNDLE__META_DIR) || !strncmp(*norm, MDEPLOY_BUNDLE__META_DIR "/", 9)) {
		rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE,
		                        "'%s': the .mdeploy directory is reserved for the manifest", *norm);
		goto fail;
	}
	if (w->last && mdeploy_bundle__path_cmp(w->last, w->last_dir, *norm, is_dir) >= 0) {
		rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE,
		                        "'%s' added after '%s': entries must come in increasing path order",
		                        *norm, w->last);
		goto fail;
	}
	free(w->last);
	w->last_dir = is_dir;
	if (!(w->last = mdeploy__strdup(*norm))) {
		rc = MDEPLOY_ENOMEM;
		goto fail;
	}
	if ((rc = write_parents(w, *norm)) != 0)
		goto fail;
	return 0;
fail:
	w->failed = 1;
	free(*norm);
	*norm = NULL;
	return rc;
}

static int progress(mdeploy_bundle_writer *w, int done)
{
	mdeploy_progress p;
	if (!w->opts.progress_cb || (!done && (w->files & 255)))
		return 0;
	memset(&p, 0, sizeof(p));
	p.version = MDEPLOY_PROGRESS_VERSION;
	p.operation = "bundle";
	p.subject = w->path;
	p.unit = "files";
	p.current = w->files;
	p.bytes = w->bytes;
	p.done = done;
	if (w->opts.progress_cb(&p, w->opts.payload)) {
		w->failed = 1;
		return mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_CALLBACK, "bundle: aborted by the progress callback");
	}
	return 0;
}

/* What an interrupted writer of the same bundle left (tmp.c). */
static void sweep_tmp(const char *bundle_path)
{
	const char *slash = strrchr(bundle_path, '/');
	char *dir = slash ? mdeploy__sprintf("%.*s", (int)(slash - bundle_path + (slash == bundle_path)), bundle_path) : NULL;
	char *prefix = mdeploy__sprintf("%s.tmp-", slash ? slash + 1 : bundle_path);
	if (prefix && (dir || !slash))
		mdeploy_bundle__tmp_sweep(dir, prefix);
	free(dir);
	free(prefix);
}

int mdeploy_bundle_writer_new(mdeploy_bundle_writer **out, const char *bundle_path,
                              const mdeploy_bundle_create_options *opts)
{
	mdeploy_bundle_create_options defaults = MDEPLOY_BUNDLE_CREATE_OPTIONS_INIT;
	mdeploy_bundle_writer *w;
	char buf[32];
	int rc = 0, r;

	*out = NULL;
	if (!opts)
		opts = &defaults;
	if ((rc = mdeploy__options_check(opts->version, MDEPLOY_BUNDLE_CREATE_OPTIONS_VERSION,
	                                 "mdeploy_bundle_create_options")) != 0)
		return rc;
	if (!bundle_path || !*bundle_path)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE, "no bundle path given");
	if (opts->signing_key && !mdeploy__path_exists(opts->signing_key))
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_CRYPTO,
		                          "signing key '%s' does not exist", opts->signing_key);
	if (opts->signing_key && (rc = mdeploy_bundle__signing_key_check(opts->signing_key)) != 0)
		return rc;
	if (!(w = calloc(1, sizeof(*w))))
		return mdeploy__error_oom();
	w->fd = -1;
	w->opts = *opts;
	if (w->opts.format == MDEPLOY_BUNDLE_FORMAT_AUTO)
		w->opts.format = mdeploy_bundle_format_from_path(bundle_path);
	if (w->opts.format == MDEPLOY_BUNDLE_FORMAT_AUTO)
		w->opts.format = MDEPLOY_BUNDLE_FORMAT_TAR_ZST;
	if (!mdeploy_bundle_format_name(w->opts.format)) {
		rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE, "unknown bundle format %d",
		                        (int)w->opts.format);
		goto fail;
	}
	if ((opts->build_id && !(w->build_id = mdeploy__strdup(opts->build_id))) ||
	    (opts->builder && !(w->builder = mdeploy__strdup(opts->builder))) ||
	    (opts->source_json && !(w->source_json = mdeploy__strdup(opts->source_json))) ||
	    (opts->signing_key && !(w->signing_key = mdeploy__strdup(opts->signing_key))) ||
	    !(w->path = mdeploy__strdup(bundle_path)) ||
	    !(w->tmp = mdeploy__sprintf("%s.tmp-XXXXXX", bundle_path)) ||
	    !(w->chunk = malloc(CHUNK)) || !(w->entry = archive_entry_new()) || !(w->a = archive_write_new())) {
		rc = mdeploy__error_oom();
		goto fail;
	}
	w->opts.build_id = w->build_id;
	w->opts.builder = w->builder;
	w->opts.source_json = w->source_json;
	w->opts.signing_key = w->signing_key;
	sweep_tmp(bundle_path);
	if ((w->fd = mkostemp(w->tmp, O_CLOEXEC)) < 0) {
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_BUNDLE, "cannot create '%s'", w->tmp);
		free(w->tmp);
		w->tmp = NULL;
		goto fail;
	}
	(void)mdeploy_bundle__tmp_lock(w->fd);
	(void)fchmod(w->fd, 0644);

	switch (w->opts.format) {
	case MDEPLOY_BUNDLE_FORMAT_TAR_ZST:
		r = archive_write_set_format_pax_restricted(w->a);
		if (r == ARCHIVE_OK)
			r = archive_write_add_filter_zstd(w->a);
		snprintf(buf, sizeof(buf), "%d", opts->level ? opts->level : 3);
		if (r == ARCHIVE_OK)
			r = archive_write_set_filter_option(w->a, "zstd", "compression-level", buf);
		/* zstd's output is the same for any number of workers >= 1. */
		{
			long n = opts->threads ? (long)opts->threads : sysconf(_SC_NPROCESSORS_ONLN);
			snprintf(buf, sizeof(buf), "%ld", n < 1 ? 1L : n);
		}
		if (r == ARCHIVE_OK)
			r = archive_write_set_filter_option(w->a, "zstd", "threads", buf);
		break;
	case MDEPLOY_BUNDLE_FORMAT_TGZ:
		r = archive_write_set_format_pax_restricted(w->a);
		if (r == ARCHIVE_OK)
			r = archive_write_add_filter_none(w->a);
		if (r == ARCHIVE_OK && opts->level > 9) {
			rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE,
			                        "gzip levels go from 1 to 9, not %d", opts->level);
			goto fail;
		}
		if (r == ARCHIVE_OK) {
			if (mdeploy_bundle__gz_new(&w->gz, w->fd, opts->level ? opts->level : 6) != 0) {
				rc = mdeploy__error_set(MDEPLOY_EOS, MDEPLOY_ERROR_CLASS_BUNDLE, "cannot start the gzip thread");
				goto fail;
			}
			if (archive_write_open(w->a, w->gz, NULL, mdeploy_bundle__gz_write, mdeploy_bundle__gz_close) != ARCHIVE_OK) {
				rc = arc_error(w, "cannot set up the archive");
				goto fail;
			}
			*out = w;
			return 0;
		}
		break;
	case MDEPLOY_BUNDLE_FORMAT_TAR:
		r = archive_write_set_format_pax_restricted(w->a);
		if (r == ARCHIVE_OK)
			r = archive_write_add_filter_none(w->a);
		break;
	default:
		r = archive_write_set_format_zip(w->a);
		snprintf(buf, sizeof(buf), "%d", opts->level ? opts->level : 6);
		if (r == ARCHIVE_OK)
			r = archive_write_set_format_option(w->a, "zip", "compression", "deflate");
		if (r == ARCHIVE_OK && archive_write_set_format_option(w->a, "zip", "compression-level", buf) == ARCHIVE_FATAL)
			r = ARCHIVE_FATAL;
		break;
	}
	if (r != ARCHIVE_OK || archive_write_open_fd(w->a, w->fd) != ARCHIVE_OK) {
		rc = arc_error(w, "cannot set up the archive");
		goto fail;
	}
	*out = w;
	return 0;
fail:
	mdeploy_bundle_writer_free(w);
	return rc;
}

static int add_item(mdeploy_bundle_writer *w, char *norm, int type, uint64_t size, unsigned int mode,
                    const unsigned char *md, const char *target)
{
	mdeploy_bundle__item *it = mdeploy_bundle__list_push(&w->items);
	if (!it) {
		free(norm);
		return MDEPLOY_ENOMEM;
	}
	it->path = norm;
	it->type = type;
	it->size = size;
	it->mode = mode;
	if (md) {
		mdeploy_bundle__hex(it->sha256, md, 32);
		it->has_sha = 1;
	}
	if (target && !(it->target = mdeploy__strdup(target)))
		return MDEPLOY_ENOMEM;
	return 0;
}

/* Content from `read_cb`, or `data` with its digest `given` already known. */
static int add_content(mdeploy_bundle_writer *w, const char *path, int executable, uint64_t size,
                       mdeploy_bundle_read_cb read_cb, void *payload, const unsigned char *data,
                       const unsigned char *given)
{
	EVP_MD_CTX *md = NULL;
	unsigned char digest[32];
	unsigned int mode = executable ? 0755 : 0644;
	uint64_t left = size;
	char *norm;
	int rc, is_appspec;

	if ((rc = begin_entry(w, path, 0, &norm)) != 0)
		return rc;
	is_appspec = !strcmp(norm, "appspec.yml");
	if (is_appspec) {
		if (size > MDEPLOY_BUNDLE__MAX_META) {
			rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE, "appspec.yml is too large");
			goto out;
		}
		if (!(w->appspec = malloc((size_t)size + 1))) {
			rc = mdeploy__error_oom();
			goto out;
		}
		w->appspec_len = 0;
		w->have_appspec = 1;
	}
	entry_reset(w, norm, AE_IFREG, mode);
	archive_entry_set_size(w->entry, (la_int64_t)size);
	if ((rc = write_header(w, norm, NULL)) != 0)
		goto out;
	if (given) {
		/* In memory already: no copy, no hashing, bounded writes. */
		while (left) {
			size_t n = left < CHUNK ? (size_t)left : CHUNK;
			if ((rc = mdeploy__interrupt_check(w->path)) != 0)
				goto out;
			if (is_appspec) {
				memcpy(w->appspec + w->appspec_len, data, n);
				w->appspec_len += n;
			}
			if (archive_write_data(w->a, data, n) != (la_ssize_t)n) {
				rc = arc_error(w, norm);
				goto out;
			}
			data += n;
			left -= n;
			w->bytes += n;
		}
		memcpy(digest, given, sizeof(digest));
	}
	if (!given && (!(md = EVP_MD_CTX_new()) || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)) {
		rc = mdeploy__error_oom();
		goto out;
	}
	while (left) {
		size_t want = left < CHUNK ? (size_t)left : CHUNK;
		long long n;
		if ((rc = mdeploy__interrupt_check(w->path)) != 0)
			goto out;
		n = read_cb(w->chunk, want, payload);
		if (n < 0) {
			if (mdeploy_error_last()->code == MDEPLOY_OK)
				mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_CALLBACK,
				                   "'%s': reading the content failed", norm);
			rc = MDEPLOY_EUSER;
			goto out;
		}
		if (n == 0) {
			rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE,
			                        "'%s': content ended %llu bytes short of its size",
			                        norm, (unsigned long long)left);
			goto out;
		}
		if ((size_t)n > want)
			n = (long long)want;
		EVP_DigestUpdate(md, w->chunk, (size_t)n);
		if (is_appspec) {
			memcpy(w->appspec + w->appspec_len, w->chunk, (size_t)n);
			w->appspec_len += (size_t)n;
		}
		if (archive_write_data(w->a, w->chunk, (size_t)n) != (la_ssize_t)n) {
			rc = arc_error(w, norm);
			goto out;
		}
		left -= (uint64_t)n;
		w->bytes += (uint64_t)n;
	}
	if (!given)
		EVP_DigestFinal_ex(md, digest, NULL);
	if (is_appspec)
		w->appspec[w->appspec_len] = '\0';
	rc = add_item(w, norm, MDEPLOY_BUNDLE_ENTRY_FILE, size, mode, digest, NULL);
	norm = NULL;
	w->files++;
	if (!rc)
		rc = progress(w, 0);
out:
	EVP_MD_CTX_free(md);
	free(norm);
	if (rc)
		w->failed = 1;
	return rc;
}

int mdeploy_bundle_writer_add_stream(mdeploy_bundle_writer *w, const char *path, int executable,
                                     uint64_t size, mdeploy_bundle_read_cb read_cb, void *payload)
{
	return add_content(w, path, executable, size, read_cb, payload, NULL, NULL);
}

int mdeploy_bundle__writer_add_hashed(mdeploy_bundle_writer *w, const char *path, int executable,
                                      const void *data, size_t size, const unsigned char md[32])
{
	return add_content(w, path, executable, size, NULL, NULL, data, md);
}

struct mem_reader {
	const unsigned char *p;
	size_t left;
};

static long long mem_read(void *buf, size_t len, void *payload)
{
	struct mem_reader *m = payload;
	size_t n = len < m->left ? len : m->left;
	memcpy(buf, m->p, n);
	m->p += n;
	m->left -= n;
	return (long long)n;
}

int mdeploy_bundle_writer_add_file(mdeploy_bundle_writer *w, const char *path, int executable,
                                   const void *data, size_t size)
{
	struct mem_reader m;
	m.p = data;
	m.left = size;
	return mdeploy_bundle_writer_add_stream(w, path, executable, size, mem_read, &m);
}

int mdeploy_bundle_writer_add_symlink(mdeploy_bundle_writer *w, const char *path, const char *target)
{
	char *norm;
	int rc;
	if ((rc = begin_entry(w, path, 0, &norm)) != 0)
		return rc;
	if ((rc = mdeploy_bundle__symlink_check(norm, target)) != 0) {
		free(norm);
		w->failed = 1;
		return rc;
	}
	entry_reset(w, norm, AE_IFLNK, 0777);
	archive_entry_set_symlink(w->entry, target);
	if ((rc = write_header(w, norm, target)) != 0) {
		free(norm);
		return rc;
	}
	w->files++;
	if ((rc = add_item(w, norm, MDEPLOY_BUNDLE_ENTRY_SYMLINK, 0, 0777, NULL, target)) != 0)
		w->failed = 1;
	return rc;
}

int mdeploy_bundle_writer_add_dir(mdeploy_bundle_writer *w, const char *path)
{
	char *norm;
	int rc;
	if ((rc = begin_entry(w, path, 1, &norm)) != 0)
		return rc;
	rc = write_dir(w, norm);
	free(norm);
	if (rc)
		w->failed = 1;
	return rc;
}

static int write_meta(mdeploy_bundle_writer *w, const char *path, const char *data, size_t len)
{
	entry_reset(w, path, AE_IFREG, 0644);
	archive_entry_set_size(w->entry, (la_int64_t)len);
	if (write_header(w, path, NULL) != 0 || archive_write_data(w->a, data, len) != (la_ssize_t)len)
		return arc_error(w, path);
	return 0;
}

/*
 * tar, tgz, tar.zst: w->fd holds the body; the bundle becomes a new file
 * holding the head (the manifest's entries) and then the body, and w->fd
 * and w->tmp are that file's.
 */
static int put_head(mdeploy_bundle_writer *w, const char *manifest, size_t mlen, const char *sig, size_t slen)
{
	int64_t t = w->opts.build_time ? w->opts.build_time : MDEPLOY_BUNDLE__DEFAULT_MTIME;
	char *tmp = mdeploy__sprintf("%s.tmp-XXXXXX", w->path);
	int fd, rc;

	if (!tmp)
		return MDEPLOY_ENOMEM;
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_BUNDLE, "cannot create '%s'", tmp);
		free(tmp);
		return rc;
	}
	(void)mdeploy_bundle__tmp_lock(fd);
	(void)fchmod(fd, 0644);
	if ((rc = mdeploy_bundle__head_write(fd, w->opts.format, w->opts.level, manifest, mlen, sig, slen, t,
	                                     tmp)) != 0 ||
	    (rc = mdeploy_bundle__copy_fd(fd, w->fd, tmp)) != 0) {
		close(fd);
		unlink(tmp);
		free(tmp);
		return rc;
	}
	close(w->fd);
	unlink(w->tmp);
	free(w->tmp);
	w->fd = fd;
	w->tmp = tmp;
	return 0;
}

int mdeploy_bundle_writer_finish(mdeploy_bundle_writer *w)
{
	char *manifest = NULL, *sig = NULL;
	size_t mlen = 0, slen = 0;
	int rc;

	if (w->failed || w->finished)
		return mdeploy__error_set(MDEPLOY_ECONFLICT, MDEPLOY_ERROR_CLASS_BUNDLE,
		                          "%s: the writer has %s", w->path, w->finished ? "finished" : "failed");
	if ((rc = mdeploy__interrupt_check(w->path)) != 0)
		goto out;
	if (!w->opts.skip_appspec_check) {
		if (!w->have_appspec) {
			rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE,
			                        "no appspec.yml at the root of the bundle");
			goto out;
		}
		if ((rc = mdeploy_bundle__appspec_check(w->appspec, w->appspec_len, &w->items)) != 0)
			goto out;
	}
	/* Sorting items for the manifest keeps .mdeploy's entry out of it. */
	if ((rc = mdeploy_bundle__manifest_build(&manifest, &mlen, &w->items, &w->opts)) != 0)
		goto out;
	if (w->opts.signing_key &&
	    (rc = mdeploy_bundle__sign(&sig, &slen, w->opts.signing_key, manifest, mlen)) != 0)
		goto out;
	if (w->opts.format == MDEPLOY_BUNDLE_FORMAT_ZIP) {
		/* zip: the central directory comes last anyway (head.c). */
		entry_reset(w, MDEPLOY_BUNDLE__META_DIR, AE_IFDIR, 0755);
		if ((rc = write_header(w, MDEPLOY_BUNDLE__META_DIR, NULL)) != 0)
			goto out;
		if ((rc = write_meta(w, MDEPLOY_BUNDLE__MANIFEST, manifest, mlen)) != 0 ||
		    (sig && (rc = write_meta(w, MDEPLOY_BUNDLE__SIGNATURE, sig, slen)) != 0))
			goto out;
	}
	if (archive_write_close(w->a) != ARCHIVE_OK) {
		rc = arc_error(w, "cannot finish the archive");
		goto out;
	}
	if (w->opts.format != MDEPLOY_BUNDLE_FORMAT_ZIP && (rc = put_head(w, manifest, mlen, sig, slen)) != 0)
		goto out;
	/* No fsync: it doubled the time of a large bundle, and a bundle torn
	 * by a crash fails verification anyway. What must survive a crash is
	 * the artifact store's copy, which is synced. */
	if (close(w->fd) < 0) {
		w->fd = -1;
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_BUNDLE, "cannot write '%s'", w->tmp);
		goto out;
	}
	w->fd = -1;
	if ((rc = mdeploy__interrupt_check(w->path)) != 0)
		goto out;
	if (rename(w->tmp, w->path) < 0) {
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_BUNDLE, "cannot rename '%s' to '%s'", w->tmp, w->path);
		goto out;
	}
	free(w->tmp);
	w->tmp = NULL;
	w->finished = 1;
	rc = progress(w, 1);
out:
	if (rc)
		w->failed = 1;
	free(manifest);
	free(sig);
	return rc;
}

void mdeploy_bundle_writer_free(mdeploy_bundle_writer *w)
{
	size_t i;
	if (!w)
		return;
	if (w->a) {
		/* Not archive_write_fail(): libarchive 3.6 then skips the
		 * client's close and leaks its buffer. The file is removed
		 * anyway. Except when interrupted: closing would have the
		 * compressor finish what it holds (seconds at a high zstd
		 * level) for a file about to go; tgz's client close ends the
		 * deflate thread's input, so it is always closed. */
		if (!w->finished) {
			if (mdeploy_interrupted() && !w->gz)
				(void)archive_write_fail(w->a);
			else
				(void)archive_write_close(w->a);
		}
		archive_write_free(w->a);
	}
	mdeploy_bundle__gz_free(w->gz);
	if (w->fd >= 0)
		close(w->fd);
	if (w->tmp) {
		unlink(w->tmp);
		free(w->tmp);
	}
	archive_entry_free(w->entry);
	mdeploy_bundle__list_dispose(&w->items);
	for (i = 0; i < w->dirs_alloc; i++)
		free(w->dirs[i]);
	free(w->dirs);
	free(w->last);
	free(w->appspec);
	free(w->chunk);
	free(w->build_id);
	free(w->builder);
	free(w->source_json);
	free(w->signing_key);
	free(w->path);
	free(w);
}
