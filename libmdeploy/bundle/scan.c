/*
 * scan.c - one streaming pass over a bundle: every entry's name and type
 * checked, file digests computed, the manifest and signature kept; then
 * the comparison with the manifest that verify and extract share.
 */
#include "bundle_private.h"

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK (256 * 1024)

static int mismatch(const char *bundle_path, const char *path, const char *what);

static int is_meta(const char *path)
{
	return !strcmp(path, MDEPLOY_BUNDLE__META_DIR) || !strcmp(path, MDEPLOY_BUNDLE__MANIFEST) ||
	       !strcmp(path, MDEPLOY_BUNDLE__SIGNATURE);
}

static int scan_progress(mdeploy_bundle__scan *s, const char *path, uint64_t n, uint64_t bytes, int done)
{
	mdeploy_progress p;
	if (!s->progress_cb || (!done && (n & 255)))
		return 0;
	memset(&p, 0, sizeof(p));
	p.version = MDEPLOY_PROGRESS_VERSION;
	p.operation = s->operation;
	p.subject = path;
	p.unit = "files";
	p.current = n;
	p.bytes = bytes;
	p.done = done;
	if (s->progress_cb(&p, s->payload))
		return mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_CALLBACK,
		                          "%s: aborted by the progress callback", s->operation);
	return 0;
}

static int read_meta(struct archive *a, const char *bundle_path, const char *name, char **out, size_t *len)
{
	mdeploy__buf b = MDEPLOY__BUF_INIT;
	char chunk[65536];
	la_ssize_t n;
	if (*out)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE,
		                          "%s: '%s' appears twice", bundle_path, name);
	while ((n = archive_read_data(a, chunk, sizeof(chunk))) > 0) {
		if (b.size + (size_t)n > MDEPLOY_BUNDLE__MAX_META) {
			mdeploy__buf_dispose(&b);
			return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE,
			                          "%s: '%s' is too large", bundle_path, name);
		}
		if (mdeploy__buf_put(&b, chunk, (size_t)n)) {
			mdeploy__buf_dispose(&b);
			return MDEPLOY_ENOMEM;
		}
	}
	if (n < 0) {
		mdeploy__buf_dispose(&b);
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE, "%s: %s: %s",
		                          bundle_path, name, archive_error_string(a));
	}
	*len = b.size;
	if (!(*out = mdeploy__buf_detach(&b)))
		return MDEPLOY_ENOMEM;
	return 0;
}

static int bomb(const char *bundle_path, const char *path, const char *what, uint64_t n, uint64_t limit)
{
	return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE,
	                          "%s%s%s%s: %s %llu, over the limit of %llu: refused as an archive bomb, "
	                          "before anything was written", bundle_path, path ? ": '" : "", path ? path : "",
	                          path ? "'" : "", what, (unsigned long long)n, (unsigned long long)limit);
}

/*
 * A manifest met before any file (as every bundle mdeploy writes has it)
 * declares what follows: its sizes and count are checked against the
 * limits, and handed to the caller (free space), before anything is
 * written; each entry is then held to it as its header arrives.
 */
static int front_manifest(mdeploy_bundle__scan *s, const char *bundle_path)
{
	const mdeploy_bundle__scan_hooks *h = s->hooks;
	uint64_t total = 0;
	size_t i;
	int rc;

	if (!(s->front = calloc(1, sizeof(*s->front))))
		return mdeploy__error_oom();
	if ((rc = mdeploy_bundle__manifest_parse(s->front, s->manifest, s->manifest_len)) != 0) {
		free(s->front);
		s->front = NULL;
		mdeploy__error_prefix("%s", bundle_path);
		return rc == MDEPLOY_EINVALID ? MDEPLOY_EVERIFY : rc;
	}
	for (i = 0; i < s->front->entries.n; i++)
		if (s->front->entries.v[i].type == MDEPLOY_BUNDLE_ENTRY_FILE) {
			uint64_t sz = s->front->entries.v[i].size;
			total = total + sz < total ? UINT64_MAX : total + sz;
		}
	if (s->front->entries.n > s->max_entries)
		return bomb(bundle_path, NULL, "its manifest declares entries:", s->front->entries.n, s->max_entries);
	if (total > s->max_total_size)
		return bomb(bundle_path, NULL, "its manifest declares bytes of files:", total, s->max_total_size);
	if (h && h->declared)
		return h->declared(total, s->front->entries.n, 1, NULL, h->payload);
	return 0;
}

/* A file's header, before its data: within the limit, and as the manifest
 * at the front says. */
static int declared_file(mdeploy_bundle__scan *s, const char *bundle_path, const char *path,
                         struct archive_entry *e, uint64_t total)
{
	const mdeploy_bundle__scan_hooks *h = s->hooks;
	uint64_t size;
	if (!archive_entry_size_is_set(e) || archive_entry_size(e) < 0)
		return 0;
	size = (uint64_t)archive_entry_size(e);
	if (size > s->max_total_size - total)
		return bomb(bundle_path, path, "declares bytes:", size, s->max_total_size - total);
	if (s->front) {
		const mdeploy_bundle__item *want = mdeploy_bundle__list_find(&s->front->entries, path);
		if (!want)
			return mismatch(bundle_path, path, "not listed in the manifest");
		if (want->type != MDEPLOY_BUNDLE_ENTRY_FILE)
			return mismatch(bundle_path, path, "type does not match the manifest");
		if (want->size != size)
			return mismatch(bundle_path, path, "size does not match the manifest");
		return 0;
	}
	if (h && h->declared)
		return h->declared(size, 1, 0, path, h->payload);
	return 0;
}

/* `n` bytes of the file `path`'s contents: counted against the limit, hashed
 * (md not NULL) and handed to the data hook. */
static int feed(mdeploy_bundle__scan *s, const char *bundle_path, const char *path, EVP_MD_CTX *md,
                const void *buf, size_t n, uint64_t *size, uint64_t *total)
{
	const mdeploy_bundle__scan_hooks *h = s->hooks;
	int rc;
	if ((rc = mdeploy__interrupt_check(bundle_path)) != 0)
		return rc;
	*size += (uint64_t)n;
	*total += (uint64_t)n;
	if (*total > s->max_total_size)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE,
		                          "%s: '%s': contents exceed %llu bytes: refused as an archive bomb",
		                          bundle_path, path, (unsigned long long)s->max_total_size);
	if (md)
		EVP_DigestUpdate(md, buf, n);
	if (h && h->data && (rc = h->data(buf, n, h->payload)) != 0)
		return rc;
	return 0;
}

int mdeploy_bundle__scan_run(mdeploy_bundle__scan *s, const char *bundle_path)
{
	const mdeploy_bundle__scan_hooks *h = s->hooks;
	struct archive *a;
	struct archive_entry *e;
	EVP_MD_CTX *md = NULL;
	unsigned char *chunk = NULL;
	uint64_t count = 0, total = 0;
	char *path = NULL;
	int rc = 0, r;
	/* Names are bytes: read under a UTF-8 locale, a pax name (UTF-8) and a
	 * zip name flagged UTF-8 come out unchanged, and raw ones
	 * (hdrcharset=BINARY, unflagged zip) as they are. See core/charset.c. */
	mdeploy__locale old_locale = mdeploy__locale_enter(true);

	if (!s->max_entries)
		s->max_entries = 1000000;
	if (!s->max_total_size)
		s->max_total_size = 8ULL << 30;
	if (!(a = archive_read_new()) || !(md = EVP_MD_CTX_new()) || !(chunk = malloc(CHUNK))) {
		rc = mdeploy__error_oom();
		goto out;
	}
	archive_read_support_filter_none(a);
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_filter_bzip2(a);
	archive_read_support_filter_xz(a);
	archive_read_support_format_tar(a);
	archive_read_support_format_zip(a);
	if (archive_read_open_filename(a, bundle_path, CHUNK) != ARCHIVE_OK) {
		rc = mdeploy__error_set(mdeploy__path_exists(bundle_path) ? MDEPLOY_EINVALID : MDEPLOY_ENOTFOUND,
		                        MDEPLOY_ERROR_CLASS_BUNDLE, "%s: %s", bundle_path, archive_error_string(a));
		goto out;
	}
	for (;;) {
		mdeploy_bundle__item *it;
		const char *raw;
		mode_t ft;

		if ((rc = mdeploy__interrupt_check(bundle_path)) != 0)
			goto out;
		r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
			rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE, "%s: %s%s%s%s",
			                        bundle_path, path ? "after '" : "", path ? path : "",
			                        path ? "': " : "", archive_error_string(a));
			goto out;
		}
		if (count == 0) {
			int f = archive_format(a) & ARCHIVE_FORMAT_BASE_MASK;
			int filt = archive_filter_code(a, 0);
			if (f == ARCHIVE_FORMAT_ZIP)
				s->format = MDEPLOY_BUNDLE_FORMAT_ZIP;
			else if (filt == ARCHIVE_FILTER_ZSTD)
				s->format = MDEPLOY_BUNDLE_FORMAT_TAR_ZST;
			else if (filt == ARCHIVE_FILTER_GZIP)
				s->format = MDEPLOY_BUNDLE_FORMAT_TGZ;
			else
				s->format = MDEPLOY_BUNDLE_FORMAT_TAR;
		}
		if (++count > s->max_entries) {
			rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE,
			                        "%s: more than %llu entries: refused as an archive bomb", bundle_path,
			                        (unsigned long long)s->max_entries);
			goto out;
		}
		free(path);
		path = NULL;
		raw = archive_entry_pathname(e);
		ft = archive_entry_filetype(e);
		/* `tar -czf bundle.tgz .` starts with a "./" entry for the root
		 * itself; CodeDeploy accepts such bundles, and the root exists
		 * anyway, so a directory entry that names it is skipped. */
		if (ft == AE_IFDIR && mdeploy_bundle__path_is_root(raw)) {
			if (archive_read_data_skip(a) != ARCHIVE_OK) {
				rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE, "%s: %s",
				                        bundle_path, archive_error_string(a));
				goto out;
			}
			continue;
		}
		if ((rc = mdeploy_bundle__path_normalize(&path, raw)) != 0) {
			mdeploy__error_prefix("%s", bundle_path);
			goto out;
		}
		if (archive_entry_hardlink(e)) {
			char *lt = NULL;
			const mdeploy_bundle__item *t = NULL;
			size_t i;
			if ((rc = mdeploy_bundle__path_normalize(&lt, archive_entry_hardlink(e))) != 0) {
				mdeploy__error_prefix("%s: hard link '%s'", bundle_path, path);
				goto out;
			}
			for (i = s->items.n; i-- > 0;)
				if (!strcmp(s->items.v[i].path, lt)) {
					t = &s->items.v[i];
					break;
				}
			if (!t || t->type != MDEPLOY_BUNDLE_ENTRY_FILE) {
				rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE,
				                        "%s: '%s': hard link to '%s', which is not a file earlier in the archive",
				                        bundle_path, path, lt);
				free(lt);
				goto out;
			}
			if (!(it = mdeploy_bundle__list_push(&s->items))) {
				free(lt);
				rc = MDEPLOY_ENOMEM;
				goto out;
			}
			t = &s->items.v[i]; /* the push may have moved it */
			it->type = t->type;
			it->size = t->size;
			it->mode = t->mode;
			it->has_sha = t->has_sha;
			memcpy(it->sha256, t->sha256, sizeof(it->sha256));
			if (!(it->path = mdeploy__strdup(path))) {
				free(lt);
				rc = MDEPLOY_ENOMEM;
				goto out;
			}
			rc = h && h->begin ? h->begin(it, lt, h->payload) : 0;
			free(lt);
			if (rc)
				goto out;
			continue;
		}
		if (ft != AE_IFREG && ft != AE_IFDIR && ft != AE_IFLNK) {
			rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE,
			                        "%s: '%s': %s entries are refused", bundle_path, path,
			                        ft == AE_IFIFO ? "fifo" : ft == AE_IFCHR ? "character device" :
			                        ft == AE_IFBLK ? "block device" : ft == AE_IFSOCK ? "socket" : "unknown");
			goto out;
		}
		if (is_meta(path)) {
			if (ft == AE_IFREG && !strcmp(path, MDEPLOY_BUNDLE__MANIFEST)) {
				rc = read_meta(a, bundle_path, path, &s->manifest, &s->manifest_len);
				if (!rc && s->items.n == 0)
					rc = front_manifest(s, bundle_path);
			}
			else if (ft == AE_IFREG && !strcmp(path, MDEPLOY_BUNDLE__SIGNATURE))
				rc = read_meta(a, bundle_path, path, &s->signature, &s->signature_len);
			else if (ft != AE_IFDIR)
				rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE,
				                        "%s: '%s' has the wrong type", bundle_path, path);
			if (rc)
				goto out;
			continue;
		}
		if (!(it = mdeploy_bundle__list_push(&s->items)) || !(it->path = mdeploy__strdup(path))) {
			rc = MDEPLOY_ENOMEM;
			goto out;
		}
		it->mode = archive_entry_perm(e) & 07777;
		if (ft == AE_IFDIR) {
			it->type = MDEPLOY_BUNDLE_ENTRY_DIR;
		} else if (ft == AE_IFLNK) {
			const char *t = archive_entry_symlink(e);
			it->type = MDEPLOY_BUNDLE_ENTRY_SYMLINK;
			if ((rc = mdeploy_bundle__symlink_check(path, t)) != 0) {
				mdeploy__error_prefix("%s", bundle_path);
				goto out;
			}
			if (!(it->target = mdeploy__strdup(t))) {
				rc = MDEPLOY_ENOMEM;
				goto out;
			}
		} else {
			it->type = MDEPLOY_BUNDLE_ENTRY_FILE;
		}
		if (ft == AE_IFREG && (rc = declared_file(s, bundle_path, path, e, total)) != 0)
			goto out;
		if (h && h->begin && (rc = h->begin(it, NULL, h->payload)) != 0)
			goto out;
		if (ft == AE_IFREG) {
			unsigned char digest[32];
			uint64_t size = 0;
			int hash = s->hash;
			if (hash)
				EVP_DigestInit_ex(md, EVP_sha256(), NULL);
			if (!hash && !(h && h->data)) {
				if (archive_read_data_skip(a) != ARCHIVE_OK) {
					rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE, "%s: '%s': %s",
					                        bundle_path, path, archive_error_string(a));
					goto out;
				}
				it = &s->items.v[s->items.n - 1];
				it->size = archive_entry_size_is_set(e) ? (uint64_t)archive_entry_size(e) : 0;
			} else {
				/* Blocks as libarchive holds them, not copied out; a
				 * hole (a sparse entry's) as zeros, as
				 * archive_read_data() gives it. */
				const void *blk;
				size_t bn;
				la_int64_t boff;
				int zeroed = 0;
				/* At the end, boff is the entry's size: a hole may
				 * end it too. */
				while ((r = archive_read_data_block(a, &blk, &bn, &boff)) == ARCHIVE_OK ||
				       (r == ARCHIVE_EOF && boff > 0 && (uint64_t)boff > size)) {
					if (r == ARCHIVE_EOF)
						bn = 0;
					if (boff < 0 || (uint64_t)boff < size) {
						rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE,
						                        "%s: '%s': out-of-order sparse blocks", bundle_path, path);
						goto out;
					}
					while ((uint64_t)boff > size) {
						size_t z = (uint64_t)boff - size > CHUNK ? CHUNK : (size_t)((uint64_t)boff - size);
						if (!zeroed) {
							memset(chunk, 0, CHUNK);
							zeroed = 1;
						}
						if ((rc = feed(s, bundle_path, path, hash ? md : NULL, chunk, z, &size, &total)) != 0)
							goto out;
					}
					if (r == ARCHIVE_EOF)
						break;
					if (bn && (rc = feed(s, bundle_path, path, hash ? md : NULL, blk, bn, &size, &total)) != 0)
						goto out;
				}
				if (r != ARCHIVE_EOF) {
					rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE, "%s: '%s': %s",
					                        bundle_path, path, archive_error_string(a));
					goto out;
				}
				it = &s->items.v[s->items.n - 1];
				it->size = size;
				if (s->hash) {
					EVP_DigestFinal_ex(md, digest, NULL);
					mdeploy_bundle__hex(it->sha256, digest, 32);
					it->has_sha = 1;
				}
			}
			if (h && h->end && (rc = h->end(it, (int64_t)archive_entry_mtime(e), h->payload)) != 0)
				goto out;
		} else if (h && h->end && (rc = h->end(it, (int64_t)archive_entry_mtime(e), h->payload)) != 0) {
			goto out;
		}
		if ((rc = scan_progress(s, path, count, total, 0)) != 0)
			goto out;
	}
	mdeploy_bundle__list_sort(&s->items);
	{
		size_t i;
		for (i = 1; i < s->items.n; i++)
			if (!strcmp(s->items.v[i - 1].path, s->items.v[i].path)) {
				rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE,
				                        "%s: '%s' appears twice", bundle_path, s->items.v[i].path);
				goto out;
			}
	}
	rc = scan_progress(s, NULL, count, total, 1);
out:
	free(path);
	free(chunk);
	EVP_MD_CTX_free(md);
	archive_read_free(a);
	mdeploy__locale_leave(old_locale);
	return rc;
}

void mdeploy_bundle__scan_dispose(mdeploy_bundle__scan *s)
{
	mdeploy_bundle__list_dispose(&s->items);
	if (s->front) {
		mdeploy_bundle__manifest_dispose(s->front);
		free(s->front);
		s->front = NULL;
	}
	free(s->manifest);
	free(s->signature);
	s->manifest = s->signature = NULL;
}

static int mismatch(const char *bundle_path, const char *path, const char *what)
{
	return mdeploy__error_set(MDEPLOY_EVERIFY, MDEPLOY_ERROR_CLASS_BUNDLE, "%s: %s: %s",
	                          bundle_path, path, what);
}

int mdeploy_bundle__scan_check(mdeploy_bundle__scan *s, const char *bundle_path,
                               const char *const *trusted_keys, int require_signature,
                               int require_manifest)
{
	mdeploy_bundle__manifest m, *mp;
	size_t i = 0, j = 0;
	int rc;

	if (!s->manifest) {
		if (require_manifest || trusted_keys || require_signature)
			return mdeploy__error_set(MDEPLOY_EVERIFY, MDEPLOY_ERROR_CLASS_BUNDLE,
			                          "%s: the bundle has no %s", bundle_path, MDEPLOY_BUNDLE__MANIFEST);
		if (s->signature)
			return mdeploy__error_set(MDEPLOY_EVERIFY, MDEPLOY_ERROR_CLASS_BUNDLE,
			                          "%s: a signature without a manifest", bundle_path);
		return 0;
	}
	if (!s->signature) {
		if (trusted_keys || require_signature)
			return mdeploy__error_set(MDEPLOY_EVERIFY, MDEPLOY_ERROR_CLASS_CRYPTO,
			                          "%s: the bundle is not signed", bundle_path);
	} else if ((rc = mdeploy_bundle__signature_check(s->signature, s->signature_len, s->manifest,
	                                                 s->manifest_len, trusted_keys, NULL)) != 0) {
		mdeploy__error_prefix("%s", bundle_path);
		return rc;
	}
	/* A manifest met first was parsed then (front_manifest): from the same
	 * bytes, since a second one is refused. Parsing it again was a tenth
	 * of extracting Moodle. */
	if (s->front) {
		mp = s->front;
	} else {
		if ((rc = mdeploy_bundle__manifest_parse(&m, s->manifest, s->manifest_len)) != 0) {
			mdeploy__error_prefix("%s", bundle_path);
			return rc == MDEPLOY_EINVALID ? MDEPLOY_EVERIFY : rc;
		}
		mp = &m;
	}
	/* Both lists are sorted: the first difference in path order is reported. */
	while (!rc && (i < mp->entries.n || j < s->items.n)) {
		const mdeploy_bundle__item *want = i < mp->entries.n ? &mp->entries.v[i] : NULL;
		const mdeploy_bundle__item *got = j < s->items.n ? &s->items.v[j] : NULL;
		int c = !want ? 1 : !got ? -1 : strcmp(want->path, got->path);
		if (c < 0) {
			rc = mismatch(bundle_path, want->path, "listed in the manifest but missing from the bundle");
		} else if (c > 0) {
			rc = mismatch(bundle_path, got->path, "not listed in the manifest");
		} else {
			if (want->type != got->type)
				rc = mismatch(bundle_path, got->path, "type does not match the manifest");
			else if (want->mode != got->mode)
				rc = mismatch(bundle_path, got->path, "mode does not match the manifest");
			else if (want->type == MDEPLOY_BUNDLE_ENTRY_FILE && want->size != got->size)
				rc = mismatch(bundle_path, got->path, "size does not match the manifest");
			else if (want->type == MDEPLOY_BUNDLE_ENTRY_FILE && got->has_sha &&
			         strcmp(want->sha256, got->sha256))
				rc = mismatch(bundle_path, got->path, "SHA-256 does not match the manifest");
			else if (want->type == MDEPLOY_BUNDLE_ENTRY_SYMLINK && strcmp(want->target, got->target))
				rc = mismatch(bundle_path, got->path, "symlink target does not match the manifest");
			i++;
			j++;
		}
	}
	if (mp == &m)
		mdeploy_bundle__manifest_dispose(&m);
	return rc;
}
