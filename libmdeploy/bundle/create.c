/* create.c - bundle a directory tree. */
#include "bundle_private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef mdeploy_bundle__tree_entry walk_entry;
typedef mdeploy_bundle__tree walk_t;

static int walk_push(walk_t *w, char *rel, const struct stat *st)
{
	if (w->n == w->alloc) {
		size_t na = w->alloc ? w->alloc * 2 : 1024;
		walk_entry *nv = realloc(w->v, na * sizeof(*nv));
		if (!nv) {
			free(rel);
			return mdeploy__error_oom();
		}
		w->v = nv;
		w->alloc = na;
	}
	w->v[w->n].rel = rel;
	w->v[w->n].mode = st->st_mode;
	w->v[w->n].size = (uint64_t)st->st_size;
	w->n++;
	return 0;
}

static int walk_dir(walk_t *w, const char *root, const char *rel)
{
	char *abs = rel ? mdeploy__path_join(root, rel) : mdeploy__strdup(root);
	DIR *d;
	struct dirent *de;
	int rc = 0;

	if (!abs)
		return MDEPLOY_ENOMEM;
	if (!(d = opendir(abs))) {
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_BUNDLE, "cannot open directory '%s'", abs);
		free(abs);
		return rc;
	}
	while (!rc && (errno = 0, de = readdir(d)) != NULL) {
		struct stat st;
		char *child, *childabs;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || !strcmp(de->d_name, ".git"))
			continue;
		if (!rel && (!strcmp(de->d_name, MDEPLOY_BUNDLE__META_DIR) ||
		             !strcmp(de->d_name, MDEPLOY_BUNDLE__RELEASE_FILE)))
			continue;
		child = rel ? mdeploy__sprintf("%s/%s", rel, de->d_name) : mdeploy__strdup(de->d_name);
		if (!child || !(childabs = mdeploy__path_join(root, child))) {
			free(child);
			rc = MDEPLOY_ENOMEM;
			break;
		}
		if (lstat(childabs, &st) < 0) {
			rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_BUNDLE, "cannot stat '%s'", childabs);
			free(childabs);
			free(child);
			break;
		}
		free(childabs);
		if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode)) {
			rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE,
			                        "'%s': only files, directories and symlinks can be bundled", child);
			free(child);
			break;
		}
		if ((rc = walk_push(w, child, &st)) != 0)
			break;
		if (S_ISDIR(st.st_mode))
			rc = walk_dir(w, root, w->v[w->n - 1].rel);
	}
	if (!rc && errno && !de)
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_BUNDLE, "cannot read directory '%s'", abs);
	closedir(d);
	free(abs);
	return rc;
}

static int walk_cmp(const void *a, const void *b)
{
	const walk_entry *x = a, *y = b;
	return mdeploy_bundle__path_cmp(x->rel, S_ISDIR(x->mode), y->rel, S_ISDIR(y->mode));
}

int mdeploy_bundle__tree_read(mdeploy_bundle__tree *t, const char *root)
{
	int rc;
	memset(t, 0, sizeof(*t));
	if ((rc = walk_dir(t, root, NULL)) != 0) {
		mdeploy_bundle__tree_dispose(t);
		return rc;
	}
	if (t->n > 1)
		qsort(t->v, t->n, sizeof(*t->v), walk_cmp);
	return 0;
}

void mdeploy_bundle__tree_dispose(mdeploy_bundle__tree *t)
{
	size_t i;
	for (i = 0; i < t->n; i++)
		free(t->v[i].rel);
	free(t->v);
	memset(t, 0, sizeof(*t));
}

static long long fd_read(void *buf, size_t len, void *payload)
{
	int fd = *(int *)payload;
	for (;;) {
		ssize_t n = read(fd, buf, len);
		if (n >= 0)
			return n;
		if (errno != EINTR) {
			mdeploy__error_os(MDEPLOY_ERROR_CLASS_BUNDLE, "read failed");
			return -1;
		}
	}
}

/* A large file is read ahead further; a small one is read in one call
 * anyway, and the advice would cost a system call per file. */
static int add_fd(mdeploy_bundle_writer *w, const char *rel, int fd, const struct stat *st)
{
	if (st->st_size >= 1024 * 1024)
		posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	return mdeploy_bundle_writer_add_stream(w, rel, (st->st_mode & S_IXUSR) != 0, (uint64_t)st->st_size,
	                                        fd_read, &fd);
}

int mdeploy_bundle__writer_add_path(mdeploy_bundle_writer *w, const char *root, const mdeploy_bundle__tree_entry *e)
{
	char *abs = mdeploy__path_join(root, e->rel);
	int rc = 0;
	if (!abs)
		return MDEPLOY_ENOMEM;
	if (S_ISDIR(e->mode)) {
		rc = mdeploy_bundle_writer_add_dir(w, e->rel);
	} else if (S_ISLNK(e->mode)) {
		char target[4096];
		ssize_t n = readlink(abs, target, sizeof(target) - 1);
		if (n < 0)
			rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_BUNDLE, "cannot read link '%s'", abs);
		else {
			target[n] = '\0';
			rc = mdeploy_bundle_writer_add_symlink(w, e->rel, target);
		}
	} else {
		int fd = open(abs, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0) {
			rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_BUNDLE, "cannot open '%s'", abs);
		} else {
			rc = add_fd(w, e->rel, fd, &st);
		}
		if (fd >= 0)
			close(fd);
	}
	free(abs);
	return rc;
}

/* Writes what the read-ahead thread (readahead.c) gives, in its order. */
static int write_tree(mdeploy_bundle_writer *w, mdeploy_bundle__ra *r)
{
	mdeploy_bundle__ra_item *it;
	int rc;
	while ((rc = mdeploy_bundle__ra_next(r, &it)) == 0) {
		if (S_ISDIR(it->kind))
			rc = mdeploy_bundle_writer_add_dir(w, it->rel);
		else if (S_ISLNK(it->kind))
			rc = mdeploy_bundle_writer_add_symlink(w, it->rel, it->target);
		else if (it->hashed)
			rc = mdeploy_bundle__writer_add_hashed(w, it->rel, it->exec, it->data, (size_t)it->size, it->md);
		else
			rc = mdeploy_bundle_writer_add_stream(w, it->rel, it->exec, it->size, fd_read, &it->fd);
		mdeploy_bundle__ra_done(r, it);
		if (rc)
			return rc;
	}
	return rc < 0 ? rc : 0;
}

int mdeploy_bundle_create(const char *bundle_path, const char *src_dir,
                          const mdeploy_bundle_create_options *opts)
{
	mdeploy_bundle_create_options o = MDEPLOY_BUNDLE_CREATE_OPTIONS_INIT;
	mdeploy_bundle_writer *w = NULL;
	mdeploy_bundle__ra *ra = NULL;
	char *release_json = NULL;
	int rc;

	if (opts) {
		if ((rc = mdeploy__options_check(opts->version, MDEPLOY_BUNDLE_CREATE_OPTIONS_VERSION,
		                                 "mdeploy_bundle_create_options")) != 0)
			return rc;
		o = *opts;
	}
	if (!src_dir || !mdeploy__is_dir(src_dir))
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_BUNDLE,
		                          "'%s' is not a directory", src_dir ? src_dir : "");
	/* A tree exported by the source stage says where it came from. */
	if (!o.source_json) {
		char *p = mdeploy__path_join(src_dir, MDEPLOY_BUNDLE__RELEASE_FILE);
		if (!p)
			return MDEPLOY_ENOMEM;
		if (mdeploy__path_exists(p) && (rc = mdeploy__file_read(&release_json, NULL, p)) != 0) {
			free(p);
			return rc;
		}
		free(p);
		o.source_json = release_json;
	}
	/* Check appspec.yml before reading the whole tree. */
	if (!o.skip_appspec_check) {
		char *p = mdeploy__path_join(src_dir, "appspec.yml"), *data = NULL;
		size_t len;
		struct stat st;
		if (!p) {
			free(release_json);
			return MDEPLOY_ENOMEM;
		}
		if (lstat(p, &st) < 0 || !S_ISREG(st.st_mode)) {
			free(p);
			free(release_json);
			return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE,
			                          "no appspec.yml at the root of '%s'", src_dir);
		}
		rc = mdeploy__file_read(&data, &len, p);
		free(p);
		if (!rc)
			rc = mdeploy_bundle__appspec_check(data, len, NULL);
		free(data);
		if (rc) {
			free(release_json);
			return rc;
		}
	}
	if ((rc = mdeploy_bundle__ra_start(&ra, src_dir)) != 0)
		goto out;
	if ((rc = mdeploy_bundle_writer_new(&w, bundle_path, &o)) != 0)
		goto out;
	rc = write_tree(w, ra);
	if (!rc)
		rc = mdeploy_bundle_writer_finish(w);
out:
	mdeploy_bundle__ra_stop(ra);
	mdeploy_bundle_writer_free(w);
	free(release_json);
	return rc;
}
