/*
 * release.c - a bundle straight from the source stage: the release's files
 * come from mdeploy_release_walk() (git object databases, sorted by path)
 * and go into the archive without a tree on disk; an overlay directory adds
 * what the release does not have (appspec.yml, hook scripts), merged in
 * path order.
 */
#include "bundle_private.h"
#include "mdeploy/source.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct merge {
	mdeploy_bundle_writer *w;
	const char *overlay_dir;
	mdeploy_bundle__tree overlay;
	size_t next;              /* next overlay entry to add */
	int rc;                   /* our error, kept across the walk's own */
	char *msg;
	int klass;
	uint64_t files;
};

static int keep_error(struct merge *m, int rc)
{
	const mdeploy_error *e = mdeploy_error_last();
	m->rc = rc;
	m->klass = e->klass;
	free(m->msg);
	m->msg = strdup(e->message);
	return rc;
}

/* Adds overlay entries that sort before `path` (all when NULL). */
static int flush_overlay(struct merge *m, const char *path)
{
	int rc;
	while (m->next < m->overlay.n) {
		const mdeploy_bundle__tree_entry *e = &m->overlay.v[m->next];
		int c = path ? mdeploy_bundle__path_cmp(e->rel, S_ISDIR(e->mode), path, 0) : -1;
		if (c > 0)
			break;
		if (c == 0 && !S_ISDIR(e->mode))
			return mdeploy__error_set(MDEPLOY_ECONFLICT, MDEPLOY_ERROR_CLASS_BUNDLE,
			                          "'%s' is both in the release and in the overlay '%s'", path, m->overlay_dir);
		if ((rc = mdeploy_bundle__writer_add_path(m->w, m->overlay_dir, e)) != 0)
			return rc;
		m->next++;
	}
	return 0;
}

static int walk_cb(const mdeploy_source_entry *e, mdeploy_source_reader *reader, void *payload)
{
	struct merge *m = payload;
	const void *data;
	size_t len = 0;
	int rc;

	if ((rc = flush_overlay(m, e->path)) != 0)
		return keep_error(m, rc);
	data = mdeploy_source_content(reader, &len);
	if ((e->mode & 0170000) == 0120000) {
		char *target = mdeploy__sprintf("%.*s", (int)len, data ? (const char *)data : "");
		if (!target)
			return keep_error(m, MDEPLOY_ENOMEM);
		rc = mdeploy_bundle_writer_add_symlink(m->w, e->path, target);
		free(target);
	} else {
		rc = mdeploy_bundle_writer_add_file(m->w, e->path, (e->mode & 0100) != 0, data ? data : "", len);
	}
	if (rc)
		return keep_error(m, rc);
	m->files++;
	return 0;
}

int mdeploy_bundle_create_from_release(const char *bundle_path, const struct mdeploy_release *rel,
                                       const char *overlay_dir, const mdeploy_bundle_create_options *opts)
{
	mdeploy_bundle_create_options o = MDEPLOY_BUNDLE_CREATE_OPTIONS_INIT;
	struct merge m;
	int rc;

	if (opts) {
		if ((rc = mdeploy__options_check(opts->version, MDEPLOY_BUNDLE_CREATE_OPTIONS_VERSION,
		                                 "mdeploy_bundle_create_options")) != 0)
			return rc;
		o = *opts;
	}
	if (!rel)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE, "no release given");
	if (!o.source_json)
		o.source_json = mdeploy_release_manifest(rel);
	memset(&m, 0, sizeof(m));
	m.overlay_dir = overlay_dir;
	if (overlay_dir) {
		if (!mdeploy__is_dir(overlay_dir))
			return mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_BUNDLE,
			                          "overlay '%s' is not a directory", overlay_dir);
		if ((rc = mdeploy_bundle__tree_read(&m.overlay, overlay_dir)) != 0)
			return rc;
	}
	if ((rc = mdeploy_bundle_writer_new(&m.w, bundle_path, &o)) != 0)
		goto out;
	rc = mdeploy_release_walk(rel, walk_cb, &m);
	if (rc && m.rc) {
		/* The walk reports "stopped by the callback": say why instead. */
		rc = mdeploy__error_set(m.rc, m.klass, "%s", m.msg ? m.msg : "bundle writing failed");
		goto out;
	}
	if (rc || (rc = flush_overlay(&m, NULL)) != 0)
		goto out;
	rc = mdeploy_bundle_writer_finish(m.w);
out:
	mdeploy_bundle_writer_free(m.w);
	mdeploy_bundle__tree_dispose(&m.overlay);
	free(m.msg);
	return rc;
}
