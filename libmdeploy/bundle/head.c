/*
 * head.c - the manifest at the front of a bundle.
 *
 * A bundle's manifest is only known once every file has been read, but a
 * reader must meet it first: then a bundle cut short at an entry boundary
 * still starts with the list of what it should hold, and fails verification
 * instead of passing for a plain archive with fewer files; and the sizes it
 * declares can be checked against limits and free space before anything is
 * written. So the writer streams the files into a body (a tar stream with
 * its end-of-archive marker, compressed as one zstd frame or gzip member),
 * and at the end writes the head - the .mdeploy/ entries as tar headers and
 * data, without an end marker, compressed on their own - followed by the
 * body. Concatenated zstd frames and gzip members are one stream to every
 * reader (zstd -d, gzip -d, GNU tar, libarchive), so the result is an
 * ordinary tar.zst, tgz or tar whose first entries are the manifest.
 *
 * zip is different: its central directory, at the end, is what libarchive
 * reads a zip file through, so a zip cut short has none and is refused
 * ("Truncated ZIP end-of-file record"); its manifest stays the last entry.
 */
#include "bundle_private.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static int write_all(int fd, const void *data, size_t len)
{
	const unsigned char *p = data;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static la_ssize_t mem_write(struct archive *a, void *client, const void *buf, size_t len)
{
	(void)a;
	return mdeploy__buf_put(client, buf, len) ? -1 : (la_ssize_t)len;
}

static void head_entry(struct archive_entry *e, const char *path, mode_t type, size_t size, int64_t mtime)
{
	archive_entry_clear(e);
	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, type == AE_IFDIR ? 0755 : 0644);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	archive_entry_set_mtime(e, (time_t)mtime, 0);
	if (type == AE_IFREG)
		archive_entry_set_size(e, (la_int64_t)size);
}

/* The .mdeploy/ entries as a tar stream without its end-of-archive marker. */
static int head_tar(mdeploy__buf *out, const char *manifest, size_t mlen, const char *sig, size_t slen,
                    int64_t mtime)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	int ok = a && e;

	ok = ok && archive_write_set_format_pax_restricted(a) == ARCHIVE_OK &&
	     archive_write_add_filter_none(a) == ARCHIVE_OK &&
	     archive_write_set_bytes_per_block(a, 0) == ARCHIVE_OK &&
	     archive_write_open2(a, out, NULL, mem_write, NULL, NULL) == ARCHIVE_OK;
	if (ok) {
		head_entry(e, MDEPLOY_BUNDLE__META_DIR, AE_IFDIR, 0, mtime);
		ok = archive_write_header(a, e) == ARCHIVE_OK;
	}
	if (ok) {
		head_entry(e, MDEPLOY_BUNDLE__MANIFEST, AE_IFREG, mlen, mtime);
		ok = archive_write_header(a, e) == ARCHIVE_OK &&
		     archive_write_data(a, manifest, mlen) == (la_ssize_t)mlen;
	}
	if (ok && sig) {
		head_entry(e, MDEPLOY_BUNDLE__SIGNATURE, AE_IFREG, slen, mtime);
		ok = archive_write_header(a, e) == ARCHIVE_OK &&
		     archive_write_data(a, sig, slen) == (la_ssize_t)slen;
	}
	ok = ok && archive_write_close(a) == ARCHIVE_OK;
	archive_entry_free(e);
	if (a)
		archive_write_free(a);
	/* Unblocked pax: the entries, then two zero blocks that end the archive. */
	if (!ok || out->size < 1024 + 512)
		return mdeploy__error_set(MDEPLOY_EOS, MDEPLOY_ERROR_CLASS_BUNDLE,
		                          "cannot frame the bundle's manifest");
	out->size -= 1024;
	return 0;
}

static int gzip_to(int fd, const mdeploy__buf *in, int level)
{
	z_stream z;
	unsigned char out[65536];
	int zrc;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	z.next_in = (unsigned char *)in->ptr;
	z.avail_in = (uInt)in->size;
	do {
		z.next_out = out;
		z.avail_out = sizeof(out);
		zrc = deflate(&z, Z_FINISH);
		if (zrc == Z_STREAM_ERROR || write_all(fd, out, sizeof(out) - z.avail_out) < 0) {
			deflateEnd(&z);
			return -1;
		}
	} while (zrc != Z_STREAM_END);
	deflateEnd(&z);
	return 0;
}

/* One zstd frame of `in`: libarchive's raw format through its zstd filter. */
static int zstd_to(int fd, const mdeploy__buf *in, int level)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	char buf[16];
	int ok = a && e;

	snprintf(buf, sizeof(buf), "%d", level);
	ok = ok && archive_write_set_format_raw(a) == ARCHIVE_OK && archive_write_add_filter_zstd(a) == ARCHIVE_OK &&
	     archive_write_set_filter_option(a, "zstd", "compression-level", buf) == ARCHIVE_OK &&
	     archive_write_set_bytes_per_block(a, 0) == ARCHIVE_OK && archive_write_open_fd(a, fd) == ARCHIVE_OK;
	if (ok) {
		archive_entry_set_pathname(e, "head");
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_size(e, (la_int64_t)in->size);
		ok = archive_write_header(a, e) == ARCHIVE_OK &&
		     archive_write_data(a, in->ptr, in->size) == (la_ssize_t)in->size;
	}
	ok = ok && archive_write_close(a) == ARCHIVE_OK;
	archive_entry_free(e);
	if (a)
		archive_write_free(a);
	return ok ? 0 : -1;
}

int mdeploy_bundle__head_write(int fd, mdeploy_bundle_format format, int level, const char *manifest,
                               size_t mlen, const char *sig, size_t slen, int64_t mtime, const char *path)
{
	mdeploy__buf tar = MDEPLOY__BUF_INIT;
	int rc, r;

	if ((rc = head_tar(&tar, manifest, mlen, sig, slen, mtime)) != 0)
		return rc;
	if (format == MDEPLOY_BUNDLE_FORMAT_TAR_ZST)
		r = zstd_to(fd, &tar, level ? level : 3);
	else if (format == MDEPLOY_BUNDLE_FORMAT_TGZ)
		r = gzip_to(fd, &tar, level ? level : 6);
	else
		r = write_all(fd, tar.ptr, tar.size);
	mdeploy__buf_dispose(&tar);
	if (r < 0)
		return mdeploy__error_os(MDEPLOY_ERROR_CLASS_BUNDLE, "cannot write '%s'", path);
	return 0;
}

int mdeploy_bundle__copy_fd(int out, int in, const char *path)
{
	char buf[256 * 1024];
	off_t off = 0;
	ssize_t n;

	/* In the kernel where it can (same filesystem: often a reflink). */
	for (;;) {
		n = copy_file_range(in, &off, out, NULL, 1 << 30, 0);
		if (n > 0)
			continue;
		if (n == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EXDEV && errno != ENOSYS && errno != EOPNOTSUPP && errno != EINVAL)
			return mdeploy__error_os(MDEPLOY_ERROR_CLASS_BUNDLE, "cannot write '%s'", path);
		break;
	}
	if (lseek(in, off, SEEK_SET) < 0)
		return mdeploy__error_os(MDEPLOY_ERROR_CLASS_BUNDLE, "cannot read back '%s'", path);
	while ((n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return mdeploy__error_os(MDEPLOY_ERROR_CLASS_BUNDLE, "cannot read back '%s'", path);
		}
		if (write_all(out, buf, (size_t)n) < 0)
			return mdeploy__error_os(MDEPLOY_ERROR_CLASS_BUNDLE, "cannot write '%s'", path);
	}
	return 0;
}
