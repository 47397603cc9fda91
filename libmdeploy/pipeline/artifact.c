/*
 * artifact.c - pipeline artifacts in the artifact store (mdeploy/artifacts.h).
 *
 * An artifact is a directory packed as a reproducible tar (the bundle
 * module's writer: sorted entries, fixed owners and times), so the same
 * files give the same digest, and the store keeps each content once. It is
 * put under the name "pipeline.PIPELINE.ARTIFACT" (a revision per new
 * content) and read back by digest.
 */
#include "pipeline_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A scratch file under the state directory for one pack or unpack. */
static char *scratch(mdeploy_ctx *ctx, const char *what)
{
	char *dir = mdeploy__sprintf("%s/pipelines/.tmp", mdeploy_ctx_state_dir(ctx)), *path = NULL;
	static unsigned int n;
	if (dir && mdeploy__mkdir_p(dir, 0700) == 0)
		path = mdeploy__sprintf("%s/%s-%ld-%u.tar", dir, what, (long)getpid(), n++);
	free(dir);
	return path;
}

int mdeploy_pipeline__artifact_put(mdeploy_ctx *ctx, const char *pipeline, const char *name,
                                   const char *dir, char digest[65])
{
	mdeploy_bundle_create_options o = MDEPLOY_BUNDLE_CREATE_OPTIONS_INIT;
	mdeploy_artifacts *store = NULL;
	mdeploy_artifact *art = NULL;
	char *tmp = scratch(ctx, "put"), *aname = mdeploy__sprintf("pipeline.%s.%s", pipeline, name);
	int rc;

	if (!tmp || !aname) {
		rc = mdeploy__error_oom();
		goto out;
	}
	o.format = MDEPLOY_BUNDLE_FORMAT_TAR;
	o.skip_appspec_check = 1;
	if ((rc = mdeploy_bundle_create(tmp, dir, &o)) != 0) {
		mdeploy__error_prefix("cannot pack artifact %s", name);
		goto out;
	}
	if ((rc = mdeploy_artifacts_open(&store, ctx, NULL)) != 0 ||
	    (rc = mdeploy_artifacts_put(&art, store, aname, tmp)) != 0)
		goto out;
	snprintf(digest, 65, "%s", art->sha256);
out:
	if (tmp)
		unlink(tmp);
	mdeploy_artifact_free(art);
	mdeploy_artifacts_free(store);
	free(tmp);
	free(aname);
	return rc;
}

int mdeploy_pipeline__artifact_get(mdeploy_ctx *ctx, const char *digest, const char *dest)
{
	mdeploy_artifacts *store = NULL;
	char *tmp = scratch(ctx, "get"), *ref = mdeploy__sprintf("sha256:%s", digest), *meta = NULL;
	int rc;

	if (!tmp || !ref) {
		rc = mdeploy__error_oom();
		goto out;
	}
	if ((rc = mdeploy_artifacts_open(&store, ctx, NULL)) != 0)
		goto out;
	if ((rc = mdeploy_artifacts_fetch(store, ref, tmp)) != 0) {
		if (rc == MDEPLOY_ENOTFOUND)
			mdeploy__error_set(rc, MDEPLOY_ERROR_CLASS_PIPELINE, "artifact sha256:%s is no longer in the "
			                   "artifact store (collected by 'mdeploy artifacts gc'?)", digest);
		goto out;
	}
	if ((rc = mdeploy_bundle_extract(tmp, dest, NULL)) != 0)
		goto out;
	/* The packer's manifest is ours, not the action's. */
	if ((meta = mdeploy__path_join(dest, ".mdeploy")))
		mdeploy__rm_rf(meta);
out:
	if (tmp)
		unlink(tmp);
	mdeploy_artifacts_free(store);
	free(tmp);
	free(ref);
	free(meta);
	return rc;
}
