/* bundle.c - opening a bundle, its entry list and manifest, diff and verify. */
#include "bundle_private.h"

#include <stdlib.h>
#include <string.h>

struct mdeploy_bundle {
	char *path;
	mdeploy_bundle_format format;
	int has_manifest;
	mdeploy_bundle__manifest m;     /* entries: the manifest's, or the archive's */
	mdeploy_bundle_entry *entries;  /* public views of m.entries */
	char *key_id;
	uint64_t content_size;
};

int mdeploy_bundle_open(mdeploy_bundle **out, const char *bundle_path)
{
	mdeploy_bundle__scan s;
	mdeploy_bundle *b;
	size_t i;
	int rc;

	*out = NULL;
	if (!bundle_path)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE, "no bundle path given");
	memset(&s, 0, sizeof(s));
	s.operation = "open";
	if ((rc = mdeploy_bundle__scan_run(&s, bundle_path)) != 0) {
		mdeploy_bundle__scan_dispose(&s);
		return rc;
	}
	if (!(b = calloc(1, sizeof(*b))) || !(b->path = mdeploy__strdup(bundle_path))) {
		free(b);
		mdeploy_bundle__scan_dispose(&s);
		return mdeploy__error_oom();
	}
	b->format = s.format;
	if (s.manifest) {
		b->has_manifest = 1;
		if ((rc = mdeploy_bundle__manifest_parse(&b->m, s.manifest, s.manifest_len)) != 0) {
			mdeploy__error_prefix("%s", bundle_path);
			goto fail;
		}
		if (s.signature && (rc = mdeploy_bundle__signature_check(s.signature, s.signature_len, s.manifest,
		                                                         s.manifest_len, NULL, &b->key_id)) != 0) {
			mdeploy__error_prefix("%s", bundle_path);
			goto fail;
		}
	} else {
		b->m.entries = s.items;
		memset(&s.items, 0, sizeof(s.items));
	}
	if (b->m.entries.n && !(b->entries = calloc(b->m.entries.n, sizeof(*b->entries)))) {
		rc = mdeploy__error_oom();
		goto fail;
	}
	for (i = 0; i < b->m.entries.n; i++) {
		const mdeploy_bundle__item *it = &b->m.entries.v[i];
		mdeploy_bundle_entry *e = &b->entries[i];
		e->path = it->path;
		e->type = (mdeploy_bundle_entry_type)it->type;
		e->size = it->size;
		e->mode = it->mode;
		e->sha256 = it->has_sha ? it->sha256 : NULL;
		e->target = it->target;
		b->content_size += it->size;
	}
	mdeploy_bundle__scan_dispose(&s);
	*out = b;
	return 0;
fail:
	mdeploy_bundle__scan_dispose(&s);
	mdeploy_bundle_free(b);
	return rc;
}

void mdeploy_bundle_free(mdeploy_bundle *b)
{
	if (!b)
		return;
	mdeploy_bundle__manifest_dispose(&b->m);
	free(b->entries);
	free(b->key_id);
	free(b->path);
	free(b);
}

const char *mdeploy_bundle_path(const mdeploy_bundle *b) { return b ? b->path : NULL; }
mdeploy_bundle_format mdeploy_bundle_get_format(const mdeploy_bundle *b) { return b ? b->format : MDEPLOY_BUNDLE_FORMAT_AUTO; }
int mdeploy_bundle_has_manifest(const mdeploy_bundle *b) { return b && b->has_manifest; }
size_t mdeploy_bundle_entry_count(const mdeploy_bundle *b) { return b ? b->m.entries.n : 0; }
const char *mdeploy_bundle_build_id(const mdeploy_bundle *b) { return b ? b->m.build_id : NULL; }
const char *mdeploy_bundle_builder(const mdeploy_bundle *b) { return b ? b->m.builder : NULL; }
int64_t mdeploy_bundle_build_time(const mdeploy_bundle *b) { return b ? b->m.build_time : 0; }
const char *mdeploy_bundle_source_json(const mdeploy_bundle *b) { return b ? b->m.source_json : NULL; }
const char *mdeploy_bundle_key_id(const mdeploy_bundle *b) { return b ? b->key_id : NULL; }
uint64_t mdeploy_bundle_content_size(const mdeploy_bundle *b) { return b ? b->content_size : 0; }

const mdeploy_bundle_entry *mdeploy_bundle_entry_byindex(const mdeploy_bundle *b, size_t i)
{
	return b && i < b->m.entries.n ? &b->entries[i] : NULL;
}

const mdeploy_bundle_entry *mdeploy_bundle_entry_bypath(const mdeploy_bundle *b, const char *path)
{
	const mdeploy_bundle__item *it;
	if (!b || !path || !(it = mdeploy_bundle__list_find(&b->m.entries, path)))
		return NULL;
	return &b->entries[it - b->m.entries.v];
}

static int entry_differs(const mdeploy_bundle_entry *a, const mdeploy_bundle_entry *b)
{
	if (a->type != b->type || a->mode != b->mode || a->size != b->size)
		return 1;
	if ((a->sha256 == NULL) != (b->sha256 == NULL) || (a->sha256 && strcmp(a->sha256, b->sha256)))
		return 1;
	if ((a->target == NULL) != (b->target == NULL) || (a->target && strcmp(a->target, b->target)))
		return 1;
	return 0;
}

int mdeploy_bundle_diff(const mdeploy_bundle *from, const mdeploy_bundle *to,
                        mdeploy_bundle_diff_cb cb, void *payload)
{
	size_t i = 0, j = 0, n = mdeploy_bundle_entry_count(from), m = mdeploy_bundle_entry_count(to);
	if (!from || !to || !cb)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE, "diff needs two bundles and a callback");
	while (i < n || j < m) {
		const mdeploy_bundle_entry *a = i < n ? &from->entries[i] : NULL;
		const mdeploy_bundle_entry *b = j < m ? &to->entries[j] : NULL;
		int c = !a ? 1 : !b ? -1 : strcmp(a->path, b->path), r = 0;
		if (c < 0) {
			r = cb('D', a, NULL, payload);
			i++;
		} else if (c > 0) {
			r = cb('A', NULL, b, payload);
			j++;
		} else {
			if (entry_differs(a, b))
				r = cb('M', a, b, payload);
			i++;
			j++;
		}
		if (r)
			return mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_CALLBACK, "diff: stopped by the callback");
	}
	return 0;
}

int mdeploy_bundle_verify_options_init(mdeploy_bundle_verify_options *opts, unsigned int version)
{
	mdeploy_bundle_verify_options d = MDEPLOY_BUNDLE_VERIFY_OPTIONS_INIT;
	int rc = mdeploy__options_check(version, MDEPLOY_BUNDLE_VERIFY_OPTIONS_VERSION,
	                                "mdeploy_bundle_verify_options");
	if (rc)
		return rc;
	*opts = d;
	opts->version = version;
	return 0;
}

int mdeploy_bundle_verify(const char *bundle_path, const mdeploy_bundle_verify_options *opts)
{
	mdeploy_bundle_verify_options d = MDEPLOY_BUNDLE_VERIFY_OPTIONS_INIT;
	mdeploy_bundle__scan s;
	int rc;

	if (!opts)
		opts = &d;
	if ((rc = mdeploy__options_check(opts->version, MDEPLOY_BUNDLE_VERIFY_OPTIONS_VERSION,
	                                 "mdeploy_bundle_verify_options")) != 0)
		return rc;
	if (!bundle_path)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE, "no bundle path given");
	memset(&s, 0, sizeof(s));
	s.hash = 1;
	s.operation = "verify";
	s.progress_cb = opts->progress_cb;
	s.payload = opts->payload;
	rc = mdeploy_bundle__scan_run(&s, bundle_path);
	if (!rc)
		rc = mdeploy_bundle__scan_check(&s, bundle_path, opts->trusted_keys, opts->require_signature, 1);
	mdeploy_bundle__scan_dispose(&s);
	return rc;
}
