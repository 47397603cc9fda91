/* Bundles streamed from a release (git objects) equal bundles of the
 * exported tree, byte for byte; overlays merge in path order. */
#include "bundle_private.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int same_file(const char *a, const char *b)
{
	char *da = NULL, *db = NULL;
	size_t la = 0, lb = 0;
	int same;
	if (mdeploy__file_read(&da, &la, a) || mdeploy__file_read(&db, &lb, b)) {
		free(da);
		free(db);
		return 0;
	}
	same = la == lb && !memcmp(da, db, la);
	free(da);
	free(db);
	return same;
}

int main(void)
{
	const char *tmp = test_tmpdir();
	mdeploy_bundle_create_options co = MDEPLOY_BUNDLE_CREATE_OPTIONS_INIT;
	mdeploy_release *rel = NULL;
	mdeploy_bundle *b = NULL;
	char cmd[8192], *fx, *repo, *overlay, *exported, *b1, *b2, *b3;
	const char *src;
	int rc;

	fx = mdeploy__sprintf("%s/fx", tmp);
	snprintf(cmd, sizeof(cmd), "sh '%s' '%s' >/dev/null 2>&1", test_srcpath("t/fixtures/mkmoodle.sh"), fx);
	if (system(cmd) != 0) {
		free(fx);
		plan_skip_all("fixture generator failed (git missing?)");
		return 0;
	}
	plan_lazy();
	repo = mdeploy__sprintf("%s/moodle", fx);
	/* Names whose order differs between a plain sort and git's, where a
	 * directory sorts as "name/": admin/settings.php, admin/settings/. */
	snprintf(cmd, sizeof(cmd),
	         "cd '%s' && git checkout -q -b names v4.5.0 && mkdir -p admin/settings lib/a admin/settings-x &&"
	         " echo 1 >admin/settings.php && echo 2 >admin/settings/x.php && echo 3 >admin/settings-x/y.php &&"
	         " echo 4 >lib/a.b && echo 5 >lib/a/b && echo 6 >lib/a0 &&"
	         " git add -A && git -c user.name=t -c user.email=t@t commit -q -m names && git tag names &&"
	         " git checkout -q main", repo);
	ok(system(cmd) == 0, "a commit with admin/settings.php and admin/settings/");
	overlay = mdeploy__sprintf("%s/overlay", tmp);
	exported = mdeploy__sprintf("%s/exported", tmp);
	b1 = mdeploy__sprintf("%s/stream.tar.zst", tmp);
	b2 = mdeploy__sprintf("%s/tree.tar.zst", tmp);
	b3 = mdeploy__sprintf("%s/conflict.tar.zst", tmp);

	mdeploy__mkdir_p(overlay, 0755);
	{
		char *p = mdeploy__sprintf("%s/appspec.yml", overlay), *s = mdeploy__sprintf("%s/scripts", overlay), *h;
		const char *spec = "version: 0.0\nos: linux\nhooks:\n  AfterInstall:\n    - location: scripts/after.sh\n";
		mdeploy__file_write_atomic(p, spec, strlen(spec), 0644);
		mdeploy__mkdir_p(s, 0755);
		h = mdeploy__sprintf("%s/after.sh", s);
		mdeploy__file_write_atomic(h, "#!/bin/sh\n", 10, 0755);
		free(p);
		free(s);
		free(h);
	}

	rc = mdeploy_release_open_rev(&rel, repo, "names");
	is_int(0, rc, "release opened from git");
	if (rc) {
		diag("%s", mdeploy_error_last()->message);
		goto out;
	}
	co.build_time = 1764000000;
	co.build_id = "stream";
	rc = mdeploy_bundle_create_from_release(b1, rel, overlay, &co);
	is_int(0, rc, "bundle streamed from the release");
	if (rc)
		diag("%s", mdeploy_error_last()->message);
	is_int(0, mdeploy_bundle_verify(b1, NULL), "it verifies");
	is_int(0, mdeploy_bundle_open(&b, b1), "it opens");
	ok(mdeploy_bundle_entry_bypath(b, "appspec.yml") && mdeploy_bundle_entry_bypath(b, "scripts/after.sh") &&
	   mdeploy_bundle_entry_bypath(b, "version.php") && mdeploy_bundle_entry_bypath(b, "mod/forum/version.php"),
	   "release files and overlay files together");
	src = mdeploy_bundle_source_json(b);
	like(src ? src : "", "\"components\"", "source info is the release manifest");
	mdeploy_bundle_free(b);

	/* The same bytes as bundling the exported tree with the overlay copied in. */
	is_int(0, mdeploy_release_export(rel, exported), "release exported");
	snprintf(cmd, sizeof(cmd), "cp -a '%s/.' '%s/'", overlay, exported);
	ok(system(cmd) == 0, "overlay copied into the export");
	/* The export's .mdeploy-release.json is its source, not an entry. */
	is_int(0, mdeploy_bundle_create(b2, exported, &co), "bundle of the exported tree");
	ok(same_file(b1, b2), "streamed and on-disk bundles are byte-identical");
	is_int(0, mdeploy_bundle_open(&b, b2), "it opens");
	ok(b && !mdeploy_bundle_entry_bypath(b, ".mdeploy-release.json"), "without .mdeploy-release.json as an entry");
	ok(b && mdeploy_bundle_entry_bypath(b, "admin/settings") && mdeploy_bundle_entry_bypath(b, "admin/settings.php"),
	   "with admin/settings/ and admin/settings.php");
	mdeploy_bundle_free(b);
	b = NULL;

	/* A tree exported by the source stage records its release manifest. */
	{
		char *again = mdeploy__sprintf("%s/again.tar", tmp);
		co.source_json = NULL;
		is_int(0, mdeploy_bundle_create(again, exported, &co), "bundle of an export with its release file");
		b = NULL;
		mdeploy_bundle_open(&b, again);
		src = b ? mdeploy_bundle_source_json(b) : NULL;
		like(src ? src : "", "\"components\"", "source defaults to the export's release manifest");
		mdeploy_bundle_free(b);
		free(again);
	}

	/* A file in both is a conflict, and nothing is written. */
	{
		char *v = mdeploy__sprintf("%s/version.php", overlay);
		mdeploy__file_write_atomic(v, "<?php\n", 6, 0644);
		free(v);
	}
	co.source_json = NULL;
	is_int(MDEPLOY_ECONFLICT, mdeploy_bundle_create_from_release(b3, rel, overlay, &co), "overlay colliding with the release");
	like(mdeploy_error_last()->message, "'version.php' is both in the release and in the overlay", "error names the file");
	ok(!mdeploy__path_exists(b3), "nothing written");
	co.skip_appspec_check = 0;
	is_int(MDEPLOY_EINVALID, mdeploy_bundle_create_from_release(b3, rel, NULL, &co), "no overlay: no appspec.yml");
out:
	mdeploy_release_free(rel);
	free(fx);
	free(repo);
	free(overlay);
	free(exported);
	free(b1);
	free(b2);
	free(b3);
	return done();
}
