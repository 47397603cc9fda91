/* path.c - entry names, symlink containment and the entry list. */
#include "bundle_private.h"

#include <stdlib.h>
#include <string.h>

int mdeploy_bundle__path_normalize(char **out, const char *raw)
{
	mdeploy__buf b = MDEPLOY__BUF_INIT;
	const char *p = raw, *e;

	*out = NULL;
	if (!raw || !*raw)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE, "entry with an empty name");
	if (raw[0] == '/')
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE,
		                          "'%s': absolute path refused", raw);
	while (*p) {
		size_t n;
		e = strchr(p, '/');
		n = e ? (size_t)(e - p) : strlen(p);
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			mdeploy__buf_dispose(&b);
			return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE,
			                          "'%s': path with '..' refused", raw);
		}
		if (n && !(n == 1 && p[0] == '.')) {
			if ((b.size && mdeploy__buf_put(&b, "/", 1)) || mdeploy__buf_put(&b, p, n)) {
				mdeploy__buf_dispose(&b);
				return MDEPLOY_ENOMEM;
			}
		}
		p += n;
		if (*p == '/')
			p++;
	}
	if (!b.size) {
		mdeploy__buf_dispose(&b);
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE,
		                          "'%s': entry names no file", raw);
	}
	*out = mdeploy__buf_detach(&b);
	return *out ? 0 : MDEPLOY_ENOMEM;
}

bool mdeploy_bundle__path_is_root(const char *raw)
{
	const char *p;
	if (!raw || !*raw || raw[0] == '/')
		return false;
	for (p = raw; *p; p++)
		if (*p != '.' && *p != '/')
			return false;
	/* Only "." components: ".", "./", "./." - never "..". */
	return strstr(raw, "..") == NULL;
}

/*
 * A target is safe when it is relative, its ".." components all come
 * first, and there are no more of them than the link's depth. A ".." after
 * a normal component is refused even when it would resolve inside: if that
 * component is itself a symlink, ".." would follow the link, not the text.
 */
int mdeploy_bundle__symlink_check(const char *path, const char *target)
{
	const char *p;
	int depth = 0, ups = 0, descended = 0;

	if (!target || !*target)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE,
		                          "'%s': symlink with an empty target", path);
	if (target[0] == '/')
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE,
		                          "'%s': symlink to an absolute path ('%s') refused", path, target);
	for (p = path; *p; p++)
		if (*p == '/')
			depth++;
	p = target;
	while (*p) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (descended || ++ups > depth)
				return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE,
				                          "'%s': symlink to '%s' points outside the tree", path, target);
		} else if (n && !(n == 1 && p[0] == '.')) {
			descended = 1;
		}
		p += n;
		if (*p == '/')
			p++;
	}
	return 0;
}

const char *mdeploy_bundle__type_name(int type)
{
	switch (type) {
	case MDEPLOY_BUNDLE_ENTRY_FILE: return "file";
	case MDEPLOY_BUNDLE_ENTRY_DIR: return "dir";
	case MDEPLOY_BUNDLE_ENTRY_SYMLINK: return "symlink";
	default: return "unknown";
	}
}

void mdeploy_bundle__hex(char *out, const unsigned char *in, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;
	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

mdeploy_bundle__item *mdeploy_bundle__list_push(mdeploy_bundle__list *l)
{
	mdeploy_bundle__item *it;
	if (l->n == l->alloc) {
		size_t na = l->alloc ? l->alloc * 2 : 64;
		mdeploy_bundle__item *v = realloc(l->v, na * sizeof(*v));
		if (!v) {
			mdeploy__error_oom();
			return NULL;
		}
		l->v = v;
		l->alloc = na;
	}
	it = &l->v[l->n++];
	memset(it, 0, sizeof(*it));
	return it;
}

/* The byte of `s` (length n) at i, with a directory ending in '/'; -1 past the end. */
static int vch(const char *s, size_t n, int dir, size_t i)
{
	return i < n ? (unsigned char)s[i] : i == n && dir ? '/' : -1;
}

int mdeploy_bundle__path_cmp(const char *a, int a_dir, const char *b, int b_dir)
{
	size_t na = strlen(a), nb = strlen(b), i;
	for (i = 0;; i++) {
		int x = vch(a, na, a_dir, i), y = vch(b, nb, b_dir, i);
		if (x != y)
			return x < y ? -1 : 1;
		if (x < 0)
			return 0;
	}
}

static int item_cmp(const void *a, const void *b)
{
	return strcmp(((const mdeploy_bundle__item *)a)->path, ((const mdeploy_bundle__item *)b)->path);
}

void mdeploy_bundle__list_sort(mdeploy_bundle__list *l)
{
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), item_cmp);
}

const mdeploy_bundle__item *mdeploy_bundle__list_find(const mdeploy_bundle__list *l, const char *path)
{
	mdeploy_bundle__item key;
	key.path = (char *)path;
	if (!l->n)
		return NULL;
	return bsearch(&key, l->v, l->n, sizeof(*l->v), item_cmp);
}

void mdeploy_bundle__list_dispose(mdeploy_bundle__list *l)
{
	size_t i;
	for (i = 0; i < l->n; i++) {
		free(l->v[i].path);
		free(l->v[i].target);
	}
	free(l->v);
	l->v = NULL;
	l->n = l->alloc = 0;
}

int mdeploy_bundle_name_is_utf8(const char *name)
{
	return name && mdeploy__utf8_str(name);
}
