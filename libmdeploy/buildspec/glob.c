/*
 * glob.c - artifact `files` and `exclude-paths`: globs where `**` matches
 * any number of directories (also none) and other components follow
 * fnmatch(3); a pattern naming a directory takes everything under it.
 */
#include "build_private.h"

#include <dirent.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Matches component lists: pat[0..np) against path[0..nq). */
static int match_parts(char **pat, size_t np, char **path, size_t nq)
{
	if (np == 0)
		return nq == 0;
	if (!strcmp(pat[0], "**")) {
		size_t k;
		for (k = 0; k <= nq; k++)
			if (match_parts(pat + 1, np - 1, path + k, nq - k))
				return 1;
		return 0;
	}
	if (nq == 0)
		return 0;
	if (fnmatch(pat[0], path[0], 0) != 0)
		return 0;
	return match_parts(pat + 1, np - 1, path + 1, nq - 1);
}

static size_t split(char *s, char **parts, size_t max)
{
	size_t n = 0;
	char *save = NULL, *t;
	for (t = strtok_r(s, "/", &save); t && n < max; t = strtok_r(NULL, "/", &save))
		if (strcmp(t, "."))
			parts[n++] = t;
	return n;
}

int mdeploy_build__glob_match(const char *pattern, const char *path)
{
	char *pc = strdup(pattern), *qc = strdup(path);
	char *pp[128], *qp[128];
	size_t np, nq, k;
	int m = 0;
	if (!pc || !qc) {
		free(pc);
		free(qc);
		return 0;
	}
	np = split(pc, pp, 128);
	nq = split(qc, qp, 128);
	m = match_parts(pp, np, qp, nq);
	/* A pattern naming a directory ("vendor", "public/build") takes all
	 * under it; one ending in a wildcard names only what it matches. */
	if (np > 0 && !strpbrk(pp[np - 1], "*?["))
		for (k = nq; !m && k-- > 1;)
			m = match_parts(pp, np, qp, k);
	free(pc);
	free(qc);
	return m;
}

struct walk {
	char **v;
	size_t n, alloc;
};

static int walk_push(struct walk *w, char *s)
{
	if (w->n == w->alloc) {
		size_t na = w->alloc ? w->alloc * 2 : 256;
		char **nv = realloc(w->v, na * sizeof(*nv));
		if (!nv) {
			free(s);
			return mdeploy__error_oom();
		}
		w->v = nv;
		w->alloc = na;
	}
	w->v[w->n++] = s;
	return 0;
}

/* Every non-directory under root (relative paths), skipping .git. */
static int walk(struct walk *w, const char *root, const char *rel)
{
	char *abs = rel ? mdeploy__path_join(root, rel) : mdeploy__strdup(root);
	DIR *d;
	struct dirent *de;
	int rc = 0;
	if (!abs)
		return MDEPLOY_ENOMEM;
	if (!(d = opendir(abs))) {
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_BUILD, "cannot open directory '%s'", abs);
		free(abs);
		return rc;
	}
	while (!rc && (de = readdir(d)) != NULL) {
		struct stat st;
		char *child, *cabs;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || !strcmp(de->d_name, ".git"))
			continue;
		child = rel ? mdeploy__sprintf("%s/%s", rel, de->d_name) : mdeploy__strdup(de->d_name);
		if (!child || !(cabs = mdeploy__path_join(root, child))) {
			free(child);
			rc = MDEPLOY_ENOMEM;
			break;
		}
		if (lstat(cabs, &st) == 0 && S_ISDIR(st.st_mode)) {
			rc = walk(w, root, child);
			free(child);
		} else {
			rc = walk_push(w, child);
		}
		free(cabs);
	}
	closedir(d);
	free(abs);
	return rc;
}

/* `path` is `root` or under it (both resolved). */
static int within(const char *root, const char *path)
{
	size_t n = strlen(root);
	if (n == 1 && root[0] == '/')
		return 1;
	return !strncmp(root, path, n) && (path[n] == '\0' || path[n] == '/');
}

static const char *art_label(const mdeploy_build__artifact *art)
{
	return strcmp(art->id, "primary") ? art->id : "artifacts";
}

static int file_cmp(const void *a, const void *b)
{
	return strcmp(((const mdeploy_build__file *)a)->rel, ((const mdeploy_build__file *)b)->rel);
}

int mdeploy_build__collect(mdeploy_build__files *out, const mdeploy_buildspec *spec,
                           const mdeploy_build__artifact *art, const char *src_dir, int allow_empty)
{
	struct walk w = { NULL, 0, 0 };
	char *base, *root = NULL, *rbase = NULL;
	size_t i, j, *hits = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	base = art->base_dir ? mdeploy__path_join(src_dir, art->base_dir) : mdeploy__strdup(src_dir);
	if (!base)
		return MDEPLOY_ENOMEM;
	if (!mdeploy__is_dir(base)) {
		rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUILD,
		                        "%s:%d: artifacts%s%s: base-directory '%s' does not exist after the build",
		                        spec->name, art->line, strcmp(art->id, "primary") ? ".secondary-artifacts." : "",
		                        strcmp(art->id, "primary") ? art->id : "", art->base_dir);
		free(base);
		return rc;
	}
	/*
	 * Nothing is read outside the source tree: a base-directory or a link
	 * (followed without enable-symlinks) resolving elsewhere is refused.
	 */
	if (!(root = realpath(src_dir, NULL)) || !(rbase = realpath(base, NULL))) {
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_BUILD, "cannot resolve '%s'", root ? base : src_dir);
		goto out;
	}
	if (!within(root, rbase)) {
		rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUILD,
		                        "%s:%d: %s: base-directory '%s' leaves the source tree (resolves to '%s')",
		                        spec->name, art->line, art_label(art), art->base_dir, rbase);
		goto out;
	}
	if ((rc = walk(&w, base, NULL)) != 0)
		goto out;
	if (!(hits = calloc(art->files.n, sizeof(*hits)))) {
		rc = mdeploy__error_oom();
		goto out;
	}
	for (i = 0; !rc && i < w.n; i++) {
		int take = 0;
		struct stat st;
		char *abs;
		for (j = 0; j < art->files.n; j++)
			if (mdeploy_build__glob_match(art->files.v[j].s, w.v[i])) {
				hits[j]++;
				take = 1;
			}
		for (j = 0; take && j < art->exclude.n; j++)
			if (mdeploy_build__glob_match(art->exclude.v[j].s, w.v[i]))
				take = 0;
		if (!take)
			continue;
		if (!(abs = mdeploy__path_join(base, w.v[i]))) {
			rc = MDEPLOY_ENOMEM;
			break;
		}
		if (lstat(abs, &st) < 0) {
			free(abs);
			continue;
		}
		if (S_ISLNK(st.st_mode) && !art->enable_symlinks) {
			/*
			 * Without enable-symlinks, a link gives its target's content,
			 * which must be in the source tree: the resolved path is read.
			 */
			char *target = realpath(abs, NULL);
			if (target && !within(root, target)) {
				rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUILD,
				                        "%s:%d: %s: symbolic link '%s' leaves the source tree (resolves to "
				                        "'%s'); nothing is read outside it",
				                        spec->name, art->line, art_label(art), w.v[i], target);
				free(target);
				free(abs);
				break;
			}
			if (!target || stat(target, &st) < 0 || !S_ISREG(st.st_mode)) {
				free(target);
				free(abs);
				continue;
			}
			free(abs);
			abs = target;
			st.st_mode = S_IFREG;
		} else if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
			free(abs);
			continue;
		}
		if (out->n == out->alloc) {
			size_t na = out->alloc ? out->alloc * 2 : 256;
			mdeploy_build__file *nv = realloc(out->v, na * sizeof(*nv));
			if (!nv) {
				free(abs);
				rc = mdeploy__error_oom();
				break;
			}
			out->v = nv;
			out->alloc = na;
		}
		{
			const char *rel = w.v[i], *slash = strrchr(rel, '/');
			mdeploy_build__file *f = &out->v[out->n++];
			f->src = abs;
			f->is_link = S_ISLNK(st.st_mode);
			f->rel = mdeploy__strdup(art->discard_paths && slash ? slash + 1 : rel);
			if (!f->rel)
				rc = MDEPLOY_ENOMEM;
		}
	}
	for (j = 0; !rc && !allow_empty && j < art->files.n; j++)
		if (!hits[j])
			rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUILD,
			                        "%s:%d:%d: artifacts%s%s.files[%zu]: '%s' matched no file",
			                        spec->name, art->files.v[j].line, art->files.v[j].col,
			                        strcmp(art->id, "primary") ? ".secondary-artifacts." : "",
			                        strcmp(art->id, "primary") ? art->id : "", j, art->files.v[j].s);
	if (!rc && out->n > 1) {
		qsort(out->v, out->n, sizeof(*out->v), file_cmp);
		for (i = 1; !rc && i < out->n; i++)
			if (!strcmp(out->v[i - 1].rel, out->v[i].rel))
				rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUILD,
				                        "%s:%d: artifacts: discard-paths gives two files the name '%s'",
				                        spec->name, art->line, out->v[i].rel);
	}
out:
	for (i = 0; i < w.n; i++)
		free(w.v[i]);
	free(w.v);
	free(hits);
	free(base);
	free(root);
	free(rbase);
	if (rc)
		mdeploy_build__files_dispose(out);
	return rc;
}

void mdeploy_build__files_dispose(mdeploy_build__files *f)
{
	size_t i;
	for (i = 0; i < f->n; i++) {
		free(f->v[i].rel);
		free(f->v[i].src);
	}
	free(f->v);
	memset(f, 0, sizeof(*f));
}
