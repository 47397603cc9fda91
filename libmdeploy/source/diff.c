/*
 * diff.c - what a release changes, component by component, and whether
 * Moodle will need its database upgrade.
 *
 * Moodle's rule (admin/index.php, moodle_needs_upgrading()): an upgrade is
 * pending when core's $version or any plugin's $plugin->version differs
 * from what the database recorded, or when a plugin appears or
 * disappears. So a release that changes no version number and adds or
 * removes no plugin is code-only.
 */
#include "source_private.h"
#include "mdeploy/source.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct change {
	mdeploy_component_change pub;
	char *component;
	char *reason;
};

struct mdeploy_release_diff {
	struct change *c;
	size_t n;
	int upgrade;
	int owned_versions;   /* versions were copied (manifests), free them */
};

static struct change *get(mdeploy_release_diff *d, const char *component)
{
	size_t i;
	struct change *c;
	for (i = 0; i < d->n; i++)
		if (!strcmp(d->c[i].component, component))
			return &d->c[i];
	c = realloc(d->c, (d->n + 1) * sizeof(*c));
	if (!c)
		return NULL;
	d->c = c;
	c += d->n;
	memset(c, 0, sizeof(*c));
	if (!(c->component = mdeploy__strdup(component)))
		return NULL;
	d->n++;
	return c;
}

static int set_reason(struct change *c, const char *fmt, ...) MDEPLOY_FORMAT_PRINTF(2, 3);
static int set_reason(struct change *c, const char *fmt, ...)
{
	mdeploy__buf b = MDEPLOY__BUF_INIT;
	va_list ap;
	c->pub.upgrade = 1;
	if (c->reason)
		return 0;
	va_start(ap, fmt);
	mdeploy__buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (!(c->reason = mdeploy__buf_detach(&b)))
		return mdeploy__error_oom();
	return 0;
}

/* The component owning `path`: the plugin with the longest path prefix, else core. */
static const char *owner(const mdeploy_moodle *m, const char *path)
{
	const char *root = mdeploy_moodle_root(m), *best = "core";
	size_t i, rl = strlen(root), bestlen = 0;
	if (strncmp(path, root, rl) != 0)
		return "core";
	path += rl;
	for (i = 0; i < mdeploy_moodle_plugin_count(m); i++) {
		const mdeploy_moodle_plugin *p = mdeploy_moodle_plugin_at(m, i);
		size_t n = strlen(p->path);
		if (n > bestlen && !strncmp(path, p->path, n) && path[n] == '/') {
			best = p->component;
			bestlen = n;
		}
	}
	return best;
}

static int count_file(mdeploy_release_diff *d, const mdeploy_moodle *a, const mdeploy_moodle *b,
                      const char *path)
{
	const char *oa = a ? owner(a, path) : NULL, *ob = b ? owner(b, path) : NULL;
	struct change *c;
	/* Prefer the new tree's view; a removed file belongs to the old one's owner. */
	if (!(c = get(d, ob ? ob : oa)))
		return mdeploy__error_oom();
	c->pub.files_changed++;
	return 0;
}

static int same_content(const mdeploy__vtree *va, const mdeploy__ventry *ea, const mdeploy__vtree *vb,
                        const mdeploy__ventry *eb)
{
	mdeploy__vdata x, y;
	int same;
	if (ea->mode != eb->mode)
		return 0;
	if (va->origins[ea->origin].repo && vb->origins[eb->origin].repo)
		return git_oid_equal(&ea->oid, &eb->oid);
	/* A directory on disk: compare bytes. */
	if (mdeploy__vtree_read(va, ea, &x) != 0)
		return 0;
	if (mdeploy__vtree_read(vb, eb, &y) != 0) {
		mdeploy__vdata_release(&x);
		return 0;
	}
	same = x.len == y.len && !memcmp(x.data, y.data, x.len);
	mdeploy__vdata_release(&x);
	mdeploy__vdata_release(&y);
	return same;
}

struct relent {
	const char *rel;                /* path under the Moodle root, or "/" + path outside it */
	const mdeploy__ventry *e;
	char *own;
};

static int relent_cmp(const void *x, const void *y)
{
	return strcmp(((const struct relent *)x)->rel, ((const struct relent *)y)->rel);
}

static void rel_free(struct relent *x, size_t n)
{
	size_t i;
	for (i = 0; x && i < n; i++)
		free(x[i].own);
	free(x);
}

static int rel_index(const mdeploy__vtree *vt, const char *root, struct relent **out)
{
	size_t i, rl = strlen(root);
	struct relent *x = calloc(vt->n ? vt->n : 1, sizeof(*x));
	if (!x)
		return mdeploy__error_oom();
	for (i = 0; i < vt->n; i++) {
		x[i].e = &vt->e[i];
		/* Outside public/ sorts apart: '/' is not in relative paths' first byte. */
		x[i].rel = !strncmp(vt->e[i].path, root, rl) ? vt->e[i].path + rl : NULL;
	}
	/* Paths outside the root are rare (composer.json...): give them "/path". */
	for (i = 0; i < vt->n; i++) {
		if (!x[i].rel) {
			char *s = mdeploy__sprintf("/%s", vt->e[i].path);
			if (!s) {
				size_t k;
				for (k = 0; k < i; k++)
					free(x[k].own);
				free(x);
				return mdeploy__error_oom();
			}
			x[i].rel = x[i].own = s;
		}
	}
	if (vt->n)
		qsort(x, vt->n, sizeof(*x), relent_cmp);
	*out = x;
	return 0;
}

static int change_cmp(const void *x, const void *y)
{
	const struct change *a = x, *b = y;
	int ac = !strcmp(a->component, "core"), bc = !strcmp(b->component, "core");
	if (ac != bc)
		return bc - ac;
	return strcmp(a->component, b->component);
}

/* A file of `m` by its path relative to the Moodle root. */
static const mdeploy__ventry *find_rel(const mdeploy_moodle *m, const char *rel)
{
	char *p = mdeploy__sprintf("%s%s", mdeploy_moodle_root(m), rel);
	const mdeploy__ventry *e = p ? mdeploy__vtree_find(mdeploy__moodle_vtree(m), p) : NULL;
	free(p);
	return e;
}

/*
 * A plugin in both releases whose version one of them cannot read: Moodle
 * sees whatever its version.php says, so a change to it or to a file it
 * includes is taken for an upgrade (never code-only); no change, no upgrade.
 */
static int unread_version(struct change *c, const mdeploy_moodle *a, const mdeploy_moodle *b, const char *component)
{
	const mdeploy_moodle *side[2] = { a, b };
	const char *const *files;
	size_t n, i, s;
	for (s = 0; s < 2; s++) {
		const char *why = mdeploy__moodle_version_unread(side[s], component, &files, &n);
		size_t rl = strlen(mdeploy_moodle_root(side[s]));
		if (!why)
			continue;
		for (i = 0; i < n; i++) {
			const char *rel = strncmp(files[i], mdeploy_moodle_root(side[s]), rl) ? files[i] : files[i] + rl;
			const mdeploy__ventry *ea = find_rel(a, rel), *eb = find_rel(b, rel);
			if ((ea == NULL) != (eb == NULL) ||
			    (ea && !same_content(mdeploy__moodle_vtree(a), ea, mdeploy__moodle_vtree(b), eb)))
				return set_reason(c, "%s changed and its version cannot be read without running PHP, so it "
				                  "is taken for an upgrade (%s)", files[i], why);
		}
	}
	return 0;
}

int mdeploy_release_diff_new(mdeploy_release_diff **out, const mdeploy_release *ra,
                             const mdeploy_release *rb)
{
	const mdeploy_moodle *a = mdeploy_release_moodle(ra), *b = mdeploy_release_moodle(rb);
	const mdeploy__vtree *va = mdeploy__moodle_vtree(a), *vb = mdeploy__moodle_vtree(b);
	mdeploy_release_diff *d;
	size_t i = 0, j = 0, k, w;
	struct relent *xa = NULL, *xb = NULL;
	int rc = 0;

	*out = NULL;
	if (!(d = calloc(1, sizeof(*d))))
		return mdeploy__error_oom();
	/* Files, compared relative to each tree's Moodle root, so that the
	 * move to the 5.1 public/ layout does not count every file twice. */
	if ((rc = rel_index(va, mdeploy_moodle_root(a), &xa)) != 0 ||
	    (rc = rel_index(vb, mdeploy_moodle_root(b), &xb)) != 0) {
		rel_free(xa, va->n);
		mdeploy_release_diff_free(d);
		return rc;
	}
	while (rc == 0 && (i < va->n || j < vb->n)) {
		int cmp = i >= va->n ? 1 : j >= vb->n ? -1 : strcmp(xa[i].rel, xb[j].rel);
		if (cmp < 0) {
			rc = count_file(d, a, NULL, xa[i++].e->path);
		} else if (cmp > 0) {
			rc = count_file(d, NULL, b, xb[j++].e->path);
		} else {
			if (!same_content(va, xa[i].e, vb, xb[j].e))
				rc = count_file(d, a, b, xb[j].e->path);
			i++;
			j++;
		}
	}
	rel_free(xa, va->n);
	rel_free(xb, vb->n);
	/* Versions: core, then every plugin of either tree. */
	if (rc == 0) {
		struct change *c = get(d, "core");
		if (!c)
			rc = mdeploy__error_oom();
		else if (mdeploy_moodle_version_cmp(mdeploy_moodle_version(a), mdeploy_moodle_version(b)) != 0)
			rc = set_reason(c, "version %s -> %s", mdeploy_moodle_version(a), mdeploy_moodle_version(b));
	}
	for (k = 0; rc == 0 && k < mdeploy_moodle_plugin_count(a); k++) {
		const mdeploy_moodle_plugin *p = mdeploy_moodle_plugin_at(a, k);
		const mdeploy_moodle_plugin *q = mdeploy_moodle_find(b, p->component);
		struct change *c = get(d, p->component);
		if (!c) {
			rc = mdeploy__error_oom();
			break;
		}
		if (!q)
			rc = set_reason(c, "removed");
		else if (!p->version || !q->version)
			rc = unread_version(c, a, b, p->component);
		else if (strcmp(p->version, q->version) != 0 && mdeploy_moodle_version_cmp(p->version, q->version) != 0)
			rc = set_reason(c, "version %s -> %s", p->version, q->version);
	}
	for (k = 0; rc == 0 && k < mdeploy_moodle_plugin_count(b); k++) {
		const mdeploy_moodle_plugin *q = mdeploy_moodle_plugin_at(b, k);
		struct change *c;
		if (mdeploy_moodle_find(a, q->component))
			continue;
		if (!(c = get(d, q->component)))
			rc = mdeploy__error_oom();
		else
			rc = set_reason(c, "added");
	}
	if (rc) {
		mdeploy_release_diff_free(d);
		return rc;
	}
	/* Fill the public part; drop components with nothing to say. */
	for (k = 0, w = 0; k < d->n; k++) {
		struct change *c = &d->c[k];
		const mdeploy_moodle_plugin *p = NULL, *q = NULL;
		if (!strcmp(c->component, "core")) {
			c->pub.old_version = mdeploy_moodle_version(a);
			c->pub.new_version = mdeploy_moodle_version(b);
		} else {
			p = mdeploy_moodle_find(a, c->component);
			q = mdeploy_moodle_find(b, c->component);
			c->pub.old_version = p ? (p->version ? p->version : "") : NULL;
			c->pub.new_version = q ? (q->version ? q->version : "") : NULL;
		}
		c->pub.component = c->component;
		c->pub.files_counted = 1;
		c->pub.reason = c->reason;
		c->pub.kind = !c->pub.old_version && strcmp(c->component, "core") ? MDEPLOY_CHANGE_ADDED
		            : !c->pub.new_version && strcmp(c->component, "core") ? MDEPLOY_CHANGE_REMOVED
		            : (c->pub.files_changed || c->pub.upgrade) ? MDEPLOY_CHANGE_CHANGED
		            : MDEPLOY_CHANGE_NONE;
		if (c->pub.kind == MDEPLOY_CHANGE_NONE) {
			free(c->component);
			free(c->reason);
			continue;
		}
		if (c->pub.upgrade)
			d->upgrade = 1;
		d->c[w++] = *c;
	}
	d->n = w;
	if (d->n)
		qsort(d->c, d->n, sizeof(*d->c), change_cmp);
	for (k = 0; k < d->n; k++)
		d->c[k].pub.component = d->c[k].component;
	*out = d;
	return 0;
}

static int manifest_components(json_t **out, const char *text, const char *which)
{
	json_error_t jerr;
	json_t *doc = json_loads(text, 0, &jerr), *comps;
	if (!doc)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_SOURCE,
		                          "manifest %s:%d:%d: %s", which, jerr.line, jerr.column, jerr.text);
	comps = json_object_get(doc, "components");
	if (!json_object_get(doc, "mdeploy_release")) {
		json_decref(doc);
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_SOURCE,
		                          "manifest %s: not a release manifest", which);
	}
	if (!json_is_object(comps) || !json_is_string(json_object_get(comps, "core"))) {
		json_decref(doc);
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_SOURCE,
		                          "manifest %s: components: must map every component to its version, "
		                          "core included", which);
	}
	json_incref(comps);
	json_decref(doc);
	*out = comps;
	return 0;
}

static const char *vstr(json_t *v)
{
	return json_is_string(v) ? json_string_value(v) : "";
}

int mdeploy_release_diff_manifests(mdeploy_release_diff **out, const char *a, const char *b)
{
	json_t *ca = NULL, *cb = NULL, *v;
	mdeploy_release_diff *d;
	const char *key;
	size_t k, w;
	int rc;

	*out = NULL;
	if ((rc = manifest_components(&ca, a, "A")) != 0)
		return rc;
	if ((rc = manifest_components(&cb, b, "B")) != 0) {
		json_decref(ca);
		return rc;
	}
	if (!(d = calloc(1, sizeof(*d)))) {
		rc = mdeploy__error_oom();
		goto out;
	}
	json_object_foreach(ca, key, v) {
		json_t *nv = json_object_get(cb, key);
		struct change *c;
		if (nv && !mdeploy_moodle_version_cmp(vstr(v), vstr(nv)) && !strcmp(vstr(v), vstr(nv)))
			continue;
		if (!(c = get(d, key)) ||
		    (rc = nv ? set_reason(c, "version %s -> %s", vstr(v), vstr(nv)) : set_reason(c, "removed")) != 0) {
			rc = c ? rc : mdeploy__error_oom();
			goto out;
		}
	}
	json_object_foreach(cb, key, v) {
		struct change *c;
		if (json_object_get(ca, key))
			continue;
		if (!(c = get(d, key)) || (rc = set_reason(c, "added")) != 0) {
			rc = c ? rc : mdeploy__error_oom();
			goto out;
		}
	}
	for (k = 0, w = 0; k < d->n; k++) {
		struct change *c = &d->c[k];
		json_t *ov = json_object_get(ca, c->component), *nv = json_object_get(cb, c->component);
		/* Versions live in the json objects; keep copies the diff owns. */
		c->pub.old_version = ov ? mdeploy__strdup(vstr(ov)) : NULL;
		c->pub.new_version = nv ? mdeploy__strdup(vstr(nv)) : NULL;
		c->pub.kind = !ov ? MDEPLOY_CHANGE_ADDED : !nv ? MDEPLOY_CHANGE_REMOVED : MDEPLOY_CHANGE_CHANGED;
		c->pub.reason = c->reason;
		d->upgrade = 1;
		d->owned_versions = 1;
		d->c[w++] = *c;
	}
	d->n = w;
	if (d->n)
		qsort(d->c, d->n, sizeof(*d->c), change_cmp);
	for (k = 0; k < d->n; k++)
		d->c[k].pub.component = d->c[k].component;
	*out = d;
	d = NULL;
out:
	mdeploy_release_diff_free(d);
	json_decref(ca);
	json_decref(cb);
	return rc;
}

void mdeploy_release_diff_free(mdeploy_release_diff *d)
{
	size_t i;
	if (!d)
		return;
	for (i = 0; i < d->n; i++) {
		free(d->c[i].component);
		free(d->c[i].reason);
		if (d->owned_versions) {
			free((char *)d->c[i].pub.old_version);
			free((char *)d->c[i].pub.new_version);
		}
	}
	free(d->c);
	free(d);
}

int mdeploy_release_diff_upgrade(const mdeploy_release_diff *d) { return d->upgrade; }
size_t mdeploy_release_diff_count(const mdeploy_release_diff *d) { return d->n; }

const mdeploy_component_change *mdeploy_release_diff_get(const mdeploy_release_diff *d, size_t i)
{
	return i < d->n ? &d->c[i].pub : NULL;
}
