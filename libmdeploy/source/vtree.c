/*
 * vtree.c - one sorted list of files over git trees and directories, so
 * the Moodle model, validation, export and diff read any source alike.
 */
#include "source_private.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void mdeploy__vtree_init(mdeploy__vtree *vt)
{
	memset(vt, 0, sizeof(*vt));
}

void mdeploy__vtree_dispose(mdeploy__vtree *vt)
{
	size_t i;
	for (i = 0; i < vt->n; i++)
		free(vt->e[i].path);
	free(vt->e);
	for (i = 0; i < vt->norigins; i++) {
		free(vt->origins[i].dir);
		free(vt->origins[i].name);
		free(vt->origins[i].prefix);
	}
	free(vt->origins);
	memset(vt, 0, sizeof(*vt));
}

static int add_origin(mdeploy__vtree *vt, git_repository *repo, const char *dir, const char *name,
                      const char *prefix)
{
	mdeploy__vorigin *o = realloc(vt->origins, (vt->norigins + 1) * sizeof(*o));
	if (!o)
		return mdeploy__error_oom();
	vt->origins = o;
	o += vt->norigins;
	memset(o, 0, sizeof(*o));
	o->repo = repo;
	o->dir = dir ? mdeploy__strdup(dir) : NULL;
	o->name = mdeploy__strdup(name ? name : "core");
	o->prefix = mdeploy__strdup(prefix ? prefix : "");
	vt->norigins++;
	if ((dir && !o->dir) || !o->name || !o->prefix)
		return MDEPLOY_ENOMEM;
	return 0;
}

static int add_entry(mdeploy__vtree *vt, char *path, uint32_t mode, const git_oid *oid)
{
	mdeploy__ventry *e;
	if (!path)
		return mdeploy__error_oom();
	if (vt->n == vt->alloc) {
		size_t na = vt->alloc ? vt->alloc * 2 : 1024;
		e = realloc(vt->e, na * sizeof(*e));
		if (!e) {
			free(path);
			return mdeploy__error_oom();
		}
		vt->e = e;
		vt->alloc = na;
	}
	e = &vt->e[vt->n++];
	e->path = path;
	e->mode = mode;
	if (oid)
		git_oid_cpy(&e->oid, oid);
	else
		memset(&e->oid, 0, sizeof(e->oid));
	e->origin = (unsigned int)vt->norigins - 1;
	return 0;
}

struct git_walk {
	mdeploy__vtree *vt;
	const char *prefix;
	int rc;
};

static int git_walk_cb(const char *root, const git_tree_entry *te, void *payload)
{
	struct git_walk *w = payload;
	git_filemode_t mode = git_tree_entry_filemode(te);
	if (mode == GIT_FILEMODE_TREE)
		return 0;
	if (mode == GIT_FILEMODE_COMMIT)
		return 0; /* submodules are not part of the tree's content */
	if ((w->rc = add_entry(w->vt, mdeploy__sprintf("%s%s%s", w->prefix, root, git_tree_entry_name(te)),
	                       mode == GIT_FILEMODE_BLOB_EXECUTABLE ? 0100755
	                       : mode == GIT_FILEMODE_LINK ? 0120000 : 0100644,
	                       git_tree_entry_id(te))) != 0)
		return -1;
	return 0;
}

int mdeploy__vtree_add_git(mdeploy__vtree *vt, git_repository *repo, const git_tree *tree,
                           const char *prefix, const char *name)
{
	struct git_walk w = { vt, prefix ? prefix : "", 0 };
	int rc;
	if ((rc = add_origin(vt, repo, NULL, name, prefix)) != 0)
		return rc;
	if ((rc = git_tree_walk(tree, GIT_TREEWALK_PRE, git_walk_cb, &w)) != 0)
		return w.rc ? w.rc : mdeploy__git_error(rc, "cannot read tree of %s", name ? name : "core");
	return 0;
}

static int dir_walk(mdeploy__vtree *vt, const char *base, const char *rel)
{
	char *full = *rel ? mdeploy__path_join(base, rel) : mdeploy__strdup(base);
	DIR *d;
	struct dirent *de;
	int rc = 0;

	if (!full)
		return mdeploy__error_oom();
	if (!(d = opendir(full))) {
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_SOURCE, "cannot read directory %s", full);
		free(full);
		return rc;
	}
	while (rc == 0 && (errno = 0, de = readdir(d))) {
		struct stat st;
		char *p, *rp;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!*rel && !strcmp(de->d_name, ".git"))
			continue;
		rp = *rel ? mdeploy__sprintf("%s/%s", rel, de->d_name) : mdeploy__strdup(de->d_name);
		p = rp ? mdeploy__path_join(base, rp) : NULL;
		if (!p) {
			free(rp);
			rc = mdeploy__error_oom();
			break;
		}
		if (lstat(p, &st) != 0) {
			rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_SOURCE, "cannot stat %s", p);
			free(rp);
		} else if (!strcmp(de->d_name, "version.php") && !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
			/* Where Moodle reads a version, a directory or a fifo would
			 * make the plugin silently disappear from the tree. */
			rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_SOURCE,
			                        "%s: a %s, not a file: Moodle reads versions from version.php files", p,
			                        S_ISDIR(st.st_mode) ? "directory" : S_ISFIFO(st.st_mode) ? "fifo" :
			                        S_ISSOCK(st.st_mode) ? "socket" : "device");
			free(rp);
		} else if (S_ISDIR(st.st_mode)) {
			rc = dir_walk(vt, base, rp);
			free(rp);
		} else if (S_ISLNK(st.st_mode)) {
			rc = add_entry(vt, rp, 0120000, NULL);
		} else if (S_ISREG(st.st_mode)) {
			rc = add_entry(vt, rp, (st.st_mode & 0111) ? 0100755 : 0100644, NULL);
		} else {
			free(rp); /* sockets, fifos: not source */
		}
		free(p);
	}
	closedir(d);
	free(full);
	return rc;
}

int mdeploy__vtree_add_dir(mdeploy__vtree *vt, const char *dir, const char *name)
{
	int rc;
	if ((rc = add_origin(vt, NULL, dir, name, "")) != 0)
		return rc;
	return dir_walk(vt, dir, "");
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const mdeploy__ventry *)a)->path, ((const mdeploy__ventry *)b)->path);
}

void mdeploy__vtree_sort(mdeploy__vtree *vt)
{
	if (vt->n)
		qsort(vt->e, vt->n, sizeof(*vt->e), entry_cmp);
}

size_t mdeploy__vtree_lower(const mdeploy__vtree *vt, const char *prefix)
{
	size_t lo = 0, hi = vt->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(vt->e[mid].path, prefix) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const mdeploy__ventry *mdeploy__vtree_find(const mdeploy__vtree *vt, const char *path)
{
	size_t i = mdeploy__vtree_lower(vt, path);
	return i < vt->n && !strcmp(vt->e[i].path, path) ? &vt->e[i] : NULL;
}

int mdeploy__vtree_has_dir(const mdeploy__vtree *vt, const char *dir)
{
	char *p = mdeploy__sprintf("%s/", dir);
	size_t i;
	int found;
	if (!p)
		return 0;
	i = mdeploy__vtree_lower(vt, p);
	found = i < vt->n && !strncmp(vt->e[i].path, p, strlen(p));
	free(p);
	return found;
}

int mdeploy__vtree_read(const mdeploy__vtree *vt, const mdeploy__ventry *e, mdeploy__vdata *out)
{
	const mdeploy__vorigin *o = &vt->origins[e->origin];
	int rc;

	memset(out, 0, sizeof(*out));
	if (o->repo) {
		if ((rc = git_blob_lookup(&out->blob, o->repo, &e->oid)) != 0)
			return mdeploy__git_error(rc, "cannot read %s", e->path);
		out->data = git_blob_rawcontent(out->blob);
		out->len = (size_t)git_blob_rawsize(out->blob);
		return 0;
	} else {
		char *p = mdeploy__path_join(o->dir, e->path + strlen(o->prefix));
		if (!p)
			return mdeploy__error_oom();
		if (e->mode == 0120000) {
			char target[4096];
			ssize_t n = readlink(p, target, sizeof(target) - 1);
			if (n < 0) {
				rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_SOURCE, "cannot read link %s", p);
				free(p);
				return rc;
			}
			out->owned = malloc((size_t)n + 1);
			if (!out->owned) {
				free(p);
				return mdeploy__error_oom();
			}
			memcpy(out->owned, target, (size_t)n);
			out->owned[n] = '\0';
			out->len = (size_t)n;
		} else if ((rc = mdeploy__file_read(&out->owned, &out->len, p)) != 0) {
			free(p);
			return rc;
		}
		free(p);
		out->data = out->owned;
		return 0;
	}
}

void mdeploy__vdata_release(mdeploy__vdata *d)
{
	if (d->blob)
		git_blob_free(d->blob);
	free(d->owned);
	memset(d, 0, sizeof(*d));
}
