/*
 * appspec_check.c - appspec.yml is validated when a bundle is created, by
 * the same parser the agent uses to deploy it (mdeploy/appspec.h), so a
 * bundle that builds is one the agent accepts. With the entry list, the
 * hook scripts and `files` sources it names must be in the bundle too.
 */
#include "bundle_private.h"
#include "mdeploy/appspec.h"

#include <stdlib.h>
#include <string.h>

static int in_bundle(const mdeploy_bundle__list *items, const char *rel, int want_file)
{
	const mdeploy_bundle__item *it;
	char *norm = NULL;
	int found;
	while (*rel == '/')
		rel++;
	if (!*rel)
		return 1; /* the bundle root */
	if (mdeploy_bundle__path_normalize(&norm, rel) != 0) {
		mdeploy_error_clear();
		return 0;
	}
	it = mdeploy_bundle__list_find(items, norm);
	found = it && (!want_file || it->type == MDEPLOY_BUNDLE_ENTRY_FILE);
	free(norm);
	return found;
}

int mdeploy_bundle__appspec_check(const char *data, size_t len, mdeploy_bundle__list *items)
{
	mdeploy_appspec *spec = NULL;
	size_t i, j, k;
	int rc = mdeploy_appspec_parse(&spec, data, len, "appspec.yml");

	if (rc || !items)
		goto out;
	mdeploy_bundle__list_sort(items);
	for (i = 0; !rc && i < mdeploy_appspec_file_count(spec); i++) {
		const mdeploy_appspec_file *f = mdeploy_appspec_file_at(spec, i);
		if (!in_bundle(items, f->source, 0))
			rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE,
			                        "appspec.yml:%d: files[%zu].source: '%s' is not in the bundle",
			                        f->line, i, f->source);
	}
	for (i = 0; !rc && i < mdeploy_appspec_event_count(spec); i++) {
		const char *ev = mdeploy_appspec_event_at(spec, i);
		for (j = 0, k = mdeploy_appspec_hook_count(spec, ev); !rc && j < k; j++) {
			const mdeploy_appspec_hook *h = mdeploy_appspec_hook_at(spec, ev, j);
			if (!in_bundle(items, h->location, 1))
				rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE,
				                        "appspec.yml:%d: hooks.%s[%zu].location: script '%s' is not in the bundle",
				                        h->line, ev, j, h->location);
		}
	}
out:
	mdeploy_appspec_free(spec);
	return rc;
}
