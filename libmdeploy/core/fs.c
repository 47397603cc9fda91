/* fs.c - path and file helpers. */
#include "mdeploy_private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

char *mdeploy__strdup(const char *s)
{
	char *p;
	if (!s)
		return NULL;
	if (!(p = strdup(s)))
		mdeploy__error_oom();
	return p;
}

char *mdeploy__sprintf(const char *fmt, ...)
{
	mdeploy__buf b = MDEPLOY__BUF_INIT;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = mdeploy__buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (rc) {
		mdeploy__buf_dispose(&b);
		return NULL;
	}
	return mdeploy__buf_detach(&b);
}

char *mdeploy__path_join(const char *a, const char *b)
{
	size_t la = strlen(a);
	if (!la)
		return mdeploy__strdup(b);
	if (b[0] == '/')
		return mdeploy__strdup(b);
	return mdeploy__sprintf("%s%s%s", a, a[la - 1] == '/' ? "" : "/", b);
}

int mdeploy__mkdir_p(const char *path, mode_t mode)
{
	char *p, *s;
	int rc = 0;

	if (!(p = mdeploy__strdup(path)))
		return MDEPLOY_ENOMEM;
	for (s = p + 1; ; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;
			*s = '\0';
			if (mkdir(p, mode) < 0 && errno != EEXIST) {
				rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_OS, "cannot create directory '%s'", p);
				break;
			}
			*s = c;
			if (c == '\0')
				break;
		}
	}
	if (!rc && !mdeploy__is_dir(path))
		rc = mdeploy__error_set(MDEPLOY_EEXISTS, MDEPLOY_ERROR_CLASS_OS,
		                        "'%s' exists and is not a directory", path);
	free(p);
	return rc;
}

int mdeploy__file_read(char **out, size_t *len, const char *path)
{
	return mdeploy__file_read_max(out, len, path, MDEPLOY__FILE_READ_MAX);
}

/*
 * The cap is checked while reading, not from stat(): /dev/zero, a FIFO or
 * a growing file have no size to trust.
 */
int mdeploy__file_read_max(char **out, size_t *len, const char *path, size_t max)
{
	mdeploy__buf b = MDEPLOY__BUF_INIT;
	char chunk[65536];
	ssize_t n;
	int fd, rc = 0;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return mdeploy__error_os(MDEPLOY_ERROR_CLASS_OS, "cannot open '%s'", path);
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_OS, "cannot read '%s'", path);
			break;
		}
		if (n == 0)
			break;
		if ((size_t)n > max - b.size) {
			rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_OS,
			                        "'%s' is larger than %zu bytes, the most mdeploy reads of such a file",
			                        path, max);
			break;
		}
		if ((rc = mdeploy__buf_put(&b, chunk, (size_t)n)) != 0)
			break;
	}
	close(fd);
	if (rc) {
		mdeploy__buf_dispose(&b);
		return rc;
	}
	if (len)
		*len = b.size;
	*out = mdeploy__buf_detach(&b);
	return *out ? 0 : mdeploy__error_oom();
}

int mdeploy__file_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	char *tmp;
	const char *p = data;
	int fd, rc = 0;

	if (!(tmp = mdeploy__sprintf("%s.tmp.%ld", path, (long)getpid())))
		return MDEPLOY_ENOMEM;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_OS, "cannot create '%s'", tmp);
		free(tmp);
		return rc;
	}
	/* open() applies the umask; the caller's mode is what it asked for. */
	if (fchmod(fd, mode) < 0)
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_OS, "cannot chmod '%s'", tmp);
	while (!rc && len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_OS, "cannot write '%s'", tmp);
			break;
		}
		p += n;
		len -= (size_t)n;
	}
	if (!rc && fsync(fd) < 0)
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_OS, "cannot sync '%s'", tmp);
	if (close(fd) < 0 && !rc)
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_OS, "cannot close '%s'", tmp);
	if (!rc && rename(tmp, path) < 0)
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_OS, "cannot rename '%s' to '%s'", tmp, path);
	if (rc)
		unlink(tmp);
	free(tmp);
	return rc;
}

int mdeploy__rm_rf(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *de;
	int rc = 0;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : mdeploy__error_os(MDEPLOY_ERROR_CLASS_OS, "cannot stat '%s'", path);
	if (!S_ISDIR(st.st_mode)) {
		if (unlink(path) < 0 && errno != ENOENT)
			return mdeploy__error_os(MDEPLOY_ERROR_CLASS_OS, "cannot remove '%s'", path);
		return 0;
	}
	if (!(d = opendir(path)))
		return mdeploy__error_os(MDEPLOY_ERROR_CLASS_OS, "cannot open directory '%s'", path);
	while (!rc && (de = readdir(d)) != NULL) {
		char *child;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!(child = mdeploy__path_join(path, de->d_name))) {
			rc = MDEPLOY_ENOMEM;
			break;
		}
		rc = mdeploy__rm_rf(child);
		free(child);
	}
	closedir(d);
	if (!rc && rmdir(path) < 0 && errno != ENOENT)
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_OS, "cannot remove directory '%s'", path);
	return rc;
}

bool mdeploy__path_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

bool mdeploy__is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

uint64_t mdeploy__now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int mdeploy__file_sha256(const char *path, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char buf[65536], d[32];
	EVP_MD_CTX *md;
	ssize_t n;
	int fd, i;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return mdeploy__error_os(MDEPLOY_ERROR_CLASS_OS, "%s", path);
	if (!(md = EVP_MD_CTX_new()) || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(md);
		close(fd);
		return mdeploy__error_oom();
	}
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		EVP_DigestUpdate(md, buf, (size_t)n);
	}
	if (n < 0) {
		int rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_OS, "%s", path);
		EVP_MD_CTX_free(md);
		close(fd);
		return rc;
	}
	close(fd);
	EVP_DigestFinal_ex(md, d, NULL);
	EVP_MD_CTX_free(md);
	for (i = 0; i < 32; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[64] = '\0';
	return 0;
}
