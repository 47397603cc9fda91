/*
 * artifact.c - pipeline artifacts, content-addressed under the state
 * directory: <state>/artifacts/sha256/<digest>.tar.
 *
 * An artifact is a directory packed as a reproducible tar (the bundle
 * module's writer: sorted entries, fixed owners and times), so the same
 * files give the same digest and are stored once. When the provider's
 * artifact store lands, put() and get() are the two calls to point at it.
 */
#include "pipeline_private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>

static int file_sha256(const char *path, char out[65], uint64_t *size)
{
	unsigned char md[EVP_MAX_MD_SIZE], buf[65536];
	unsigned int mdlen = 0, i;
	EVP_MD_CTX *c;
	FILE *f;
	size_t n;
	int rc = 0;

	if (!(f = fopen(path, "rb")))
		return mdeploy__error_os(MDEPLOY_ERROR_CLASS_PIPELINE, "cannot open %s", path);
	if (!(c = EVP_MD_CTX_new())) {
		fclose(f);
		return mdeploy__error_oom();
	}
	*size = 0;
	EVP_DigestInit_ex(c, EVP_sha256(), NULL);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		EVP_DigestUpdate(c, buf, n);
		*size += n;
	}
	if (ferror(f))
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_PIPELINE, "cannot read %s", path);
	EVP_DigestFinal_ex(c, md, &mdlen);
	EVP_MD_CTX_free(c);
	fclose(f);
	for (i = 0; i < mdlen && i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return rc;
}

char *mdeploy_pipeline__artifact_path(mdeploy_ctx *ctx, const char *digest)
{
	return mdeploy__sprintf("%s/artifacts/sha256/%s.tar", mdeploy_ctx_state_dir(ctx), digest);
}

int mdeploy_pipeline__artifact_put(mdeploy_ctx *ctx, const char *dir, char digest[65], uint64_t *size)
{
	mdeploy_bundle_create_options o = MDEPLOY_BUNDLE_CREATE_OPTIONS_INIT;
	char *store_dir = NULL, *tmp = NULL, *final = NULL;
	int rc;

	o.format = MDEPLOY_BUNDLE_FORMAT_TAR;
	o.skip_appspec_check = 1;
	store_dir = mdeploy__sprintf("%s/artifacts/sha256", mdeploy_ctx_state_dir(ctx));
	tmp = mdeploy__sprintf("%s/artifacts/sha256/.new-%ld.tar", mdeploy_ctx_state_dir(ctx), (long)getpid());
	if (!store_dir || !tmp) {
		rc = mdeploy__error_oom();
		goto out;
	}
	if ((rc = mdeploy__mkdir_p(store_dir, 0700)) != 0)
		goto out;
	if ((rc = mdeploy_bundle_create(tmp, dir, &o)) != 0) {
		mdeploy__error_prefix("cannot pack artifact %s", dir);
		goto out;
	}
	if ((rc = file_sha256(tmp, digest, size)) != 0)
		goto out;
	if (!(final = mdeploy_pipeline__artifact_path(ctx, digest))) {
		rc = mdeploy__error_oom();
		goto out;
	}
	/* Identical content is stored once. */
	if (mdeploy__path_exists(final))
		unlink(tmp);
	else if (rename(tmp, final) != 0)
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_PIPELINE, "cannot store artifact %s", final);
out:
	if (rc && tmp)
		unlink(tmp);
	free(store_dir);
	free(tmp);
	free(final);
	return rc;
}

int mdeploy_pipeline__artifact_get(mdeploy_ctx *ctx, const char *digest, const char *dest)
{
	char *path = mdeploy_pipeline__artifact_path(ctx, digest), *meta = NULL;
	char check[65];
	uint64_t size;
	int rc;

	if (!path)
		return mdeploy__error_oom();
	if (!mdeploy__path_exists(path)) {
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PIPELINE,
		                        "artifact sha256:%s is missing from %s", digest, path);
		goto out;
	}
	if ((rc = file_sha256(path, check, &size)) != 0)
		goto out;
	if (strcmp(check, digest)) {
		rc = mdeploy__error_set(MDEPLOY_EVERIFY, MDEPLOY_ERROR_CLASS_PIPELINE,
		                        "artifact %s is damaged (its digest is %s)", path, check);
		goto out;
	}
	if ((rc = mdeploy_bundle_extract(path, dest, NULL)) != 0)
		goto out;
	/* The packer's manifest is ours, not the action's. */
	if ((meta = mdeploy__path_join(dest, ".mdeploy")))
		mdeploy__rm_rf(meta);
out:
	free(path);
	free(meta);
	return rc;
}
