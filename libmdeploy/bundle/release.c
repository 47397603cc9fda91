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
	uint64_t files;
};

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

/*
 * The release's files come out of git's object database: inflating and
 * applying deltas took three quarters of `bundle create --git`'s CPU on
 * the thread that also frames the archive and feeds zstd. The walk runs
 * on the read-ahead thread (readahead.c), which copies and hashes each
 * file into its ring; this thread merges the overlay and writes.
 */
struct producer {
	const struct mdeploy_release *rel;
	mdeploy_bundle__ra *ra;
	int rc, klass, stopped;
	char *msg;
};

static int produce_cb(const mdeploy_source_entry *e, mdeploy_source_reader *reader, void *payload)
{
	struct producer *p = payload;
	size_t len = 0;
	const void *data = mdeploy_source_content(reader, &len);
	int link = (e->mode & 0170000) == 0120000;
	int rc = mdeploy_bundle__ra_put(p->ra, e->path, link ? S_IFLNK : S_IFREG, (e->mode & 0100) != 0, data, len);
	if (rc > 0) {
		p->stopped = 1;
	} else if (rc < 0) {
		const mdeploy_error *err = mdeploy_error_last();
		p->rc = rc;
		p->klass = err->klass;
		p->msg = strdup(err->message);
	}
	return rc;
}

static int produce(mdeploy_bundle__ra *ra, void *arg)
{
	struct producer *p = arg;
	int rc;
	p->ra = ra;
	rc = mdeploy_release_walk(p->rel, produce_cb, p);
	if (p->stopped)
		return 1;
	/* The walk reports "stopped by the callback": say why instead. */
	if (p->rc)
		return mdeploy__error_set(p->rc, p->klass, "%s", p->msg ? p->msg : "bundle writing failed");
	return rc;
}

int mdeploy_bundle_create_from_release(const char *bundle_path, const struct mdeploy_release *rel,
                                       const char *overlay_dir, const mdeploy_bundle_create_options *opts)
{
	mdeploy_bundle_create_options o = MDEPLOY_BUNDLE_CREATE_OPTIONS_INIT;
	mdeploy_bundle__ra *ra = NULL;
	mdeploy_bundle__ra_item *it;
	struct producer p;
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
	memset(&p, 0, sizeof(p));
	p.rel = rel;
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
	if ((rc = mdeploy_bundle__ra_start_fn(&ra, produce, &p)) != 0)
		goto out;
	while ((rc = mdeploy_bundle__ra_next(ra, &it)) == 0) {
		if ((rc = flush_overlay(&m, it->rel)) == 0) {
			if (S_ISLNK(it->kind))
				rc = mdeploy_bundle_writer_add_symlink(m.w, it->rel, it->target);
			else
				rc = mdeploy_bundle__writer_add_hashed(m.w, it->rel, it->exec, it->data, (size_t)it->size,
				                                       it->md);
		}
		mdeploy_bundle__ra_done(ra, it);
		if (rc)
			goto out;
		m.files++;
	}
	if (rc < 0 || (rc = flush_overlay(&m, NULL)) != 0)
		goto out;
	rc = mdeploy_bundle_writer_finish(m.w);
out:
	mdeploy_bundle__ra_stop(ra);
	free(p.msg);
	mdeploy_bundle_writer_free(m.w);
	mdeploy_bundle__tree_dispose(&m.overlay);
	return rc;
}
