/* jsonfile.c - the local stores' files: one JSON document, read and
 * rewritten atomically under an flock(2) on a lock file beside it. */
#include "local.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int mdeploy_local__jsonfile_init(mdeploy_local__jsonfile *f, const char *dir, const char *file, mode_t mode)
{
	int rc;
	memset(f, 0, sizeof(*f));
	f->lock_fd = -1;
	f->mode = mode;
	if ((rc = mdeploy__mkdir_p(dir, 0700)) != 0)
		return rc;
	if (!(f->path = mdeploy__path_join(dir, file)) || !(f->lock_path = mdeploy__sprintf("%s.lock", f->path))) {
		mdeploy_local__jsonfile_dispose(f);
		return MDEPLOY_ENOMEM;
	}
	return 0;
}

void mdeploy_local__jsonfile_dispose(mdeploy_local__jsonfile *f)
{
	if (f->lock_fd >= 0)
		close(f->lock_fd);
	free(f->path);
	free(f->lock_path);
	memset(f, 0, sizeof(*f));
	f->lock_fd = -1;
}

int mdeploy_local__jsonfile_begin(mdeploy_local__jsonfile *f, int write, void **out)
{
	json_error_t jerr;
	json_t *doc;
	char *data = NULL;
	size_t len;
	int rc;

	*out = NULL;
	f->lock_fd = open(f->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (f->lock_fd < 0)
		return mdeploy__error_os(MDEPLOY_ERROR_CLASS_PROVIDER, "cannot open '%s'", f->lock_path);
	while (flock(f->lock_fd, write ? LOCK_EX : LOCK_SH) < 0) {
		if (errno != EINTR) {
			rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_PROVIDER, "cannot lock '%s'", f->lock_path);
			close(f->lock_fd);
			f->lock_fd = -1;
			return rc;
		}
	}
	if (!mdeploy__path_exists(f->path)) {
		doc = json_object();
	} else {
		if ((rc = mdeploy__file_read(&data, &len, f->path)) != 0)
			goto fail;
		doc = json_loadb(data, len, 0, &jerr);
		free(data);
		if (!doc || !json_is_object(doc)) {
			json_decref(doc);
			rc = mdeploy__error_set(MDEPLOY_ECORRUPT, MDEPLOY_ERROR_CLASS_PROVIDER, "%s:%d:%d: %s", f->path,
			                        jerr.line, jerr.column, doc ? "not a JSON object" : jerr.text);
			goto fail;
		}
	}
	if (!doc) {
		rc = mdeploy__error_oom();
		goto fail;
	}
	*out = doc;
	return 0;
fail:
	close(f->lock_fd);
	f->lock_fd = -1;
	return rc;
}

int mdeploy_local__jsonfile_end(mdeploy_local__jsonfile *f, void *doc)
{
	int rc = 0;
	if (doc) {
		char *s = json_dumps(doc, JSON_INDENT(1) | JSON_SORT_KEYS);
		if (!s)
			rc = mdeploy__error_oom();
		else {
			size_t n = strlen(s);
			s[n] = '\n'; /* the NUL becomes the final newline: n + 1 bytes are ours */
			rc = mdeploy__file_write_atomic(f->path, s, n + 1, f->mode);
			free(s);
		}
	}
	if (f->lock_fd >= 0) {
		close(f->lock_fd);
		f->lock_fd = -1;
	}
	return rc;
}
