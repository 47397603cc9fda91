/*
 * runner_artifacts.c - the artifacts of a build: each artifact set of the
 * buildspec collected from the source tree, bundled with its digest, and
 * stored in the artifact store when asked.
 */
#include "runner_private.h"
#include "bundle_private.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static long long fd_read(void *buf, size_t len, void *payload)
{
	int fd = *(int *)payload;
	for (;;) {
		ssize_t n = read(fd, buf, len);
		if (n >= 0)
			return n;
		if (errno != EINTR)
			return -1;
	}
}

static int file_sha256(const char *path, char out[65])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char buf[65536], d[32];
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
	ssize_t n;
	if (!md || fd < 0) {
		rc = fd < 0 ? mdeploy__error_os(MDEPLOY_ERROR_CLASS_BUILD, "cannot open '%s'", path) : mdeploy__error_oom();
		goto out;
	}
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		EVP_DigestUpdate(md, buf, (size_t)n);
	if (n < 0) {
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_BUILD, "cannot read '%s'", path);
		goto out;
	}
	EVP_DigestFinal_ex(md, d, NULL);
	mdeploy_bundle__hex(out, d, 32);
out:
	if (fd >= 0)
		close(fd);
	EVP_MD_CTX_free(md);
	return rc;
}

int mdeploy_build__check_artifact(struct run *r, const mdeploy_build__artifact *art)
{
	mdeploy_build__files files;
	int rc = mdeploy_build__collect(&files, r->spec, art, r->src_dir, r->opts->allow_empty_artifacts);
	if (!rc)
		mdeploy_build__files_dispose(&files);
	return rc;
}

int mdeploy_build__make_artifact(struct run *r, const mdeploy_build__artifact *art, mdeploy_build_artifact *out)
{
	const mdeploy_build_options *o = r->opts;
	mdeploy_bundle_create_options bo = MDEPLOY_BUNDLE_CREATE_OPTIONS_INIT;
	mdeploy_build__files files;
	mdeploy_bundle_writer *w = NULL;
	char *path = NULL, sha[65];
	size_t i;
	int rc;

	if ((rc = mdeploy_build__collect(&files, r->spec, art, r->src_dir, o->allow_empty_artifacts)) != 0)
		return rc;
	bo.format = o->format ? o->format : MDEPLOY_BUNDLE_FORMAT_TAR_ZST;
	bo.build_time = (int64_t)time(NULL);
	bo.build_id = r->res->id;
	bo.builder = mdeploy_build__env_get(&r->env, "USER") ? mdeploy_build__env_get(&r->env, "USER") : "mdeploy";
	bo.source_json = o->source_json ? o->source_json : r->release_json;
	bo.signing_key = o->signing_key;
	bo.skip_appspec_check = strcmp(art->id, "primary") != 0;
	if (!(path = mdeploy__sprintf("%s/%s.%s", o->artifacts_dir, art->name ? art->name : art->id,
	                              mdeploy_bundle_format_name(bo.format)))) {
		rc = MDEPLOY_ENOMEM;
		goto out;
	}
	if ((rc = mdeploy__mkdir_p(o->artifacts_dir, 0755)) != 0 || (rc = mdeploy_bundle_writer_new(&w, path, &bo)) != 0)
		goto out;
	for (i = 0; !rc && i < files.n; i++) {
		mdeploy_build__file *f = &files.v[i];
		if (f->is_link) {
			char target[4096];
			ssize_t n = readlink(f->src, target, sizeof(target) - 1);
			if (n < 0) {
				rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_BUILD, "cannot read link '%s'", f->src);
				break;
			}
			target[n] = '\0';
			rc = mdeploy_bundle_writer_add_symlink(w, f->rel, target);
		} else {
			struct stat st;
			int fd = open(f->src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
			if (fd < 0 || fstat(fd, &st) < 0)
				rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_BUILD, "cannot open '%s'", f->src);
			else
				rc = mdeploy_bundle_writer_add_stream(w, f->rel, (st.st_mode & S_IXUSR) != 0,
				                                      (uint64_t)st.st_size, fd_read, &fd);
			if (fd >= 0)
				close(fd);
		}
	}
	if (!rc)
		rc = mdeploy_bundle_writer_finish(w);
	if (rc)
		goto out;
	if ((rc = file_sha256(path, sha)) != 0)
		goto out;
	out->identifier = mdeploy__strdup(art->id);
	out->path = path;
	out->sha256 = mdeploy__strdup(sha);
	out->files = files.n;
	path = NULL;
	if (!out->identifier || !out->sha256) {
		rc = MDEPLOY_ENOMEM;
		goto out;
	}
	mdeploy_build__log_line(r, "ARTIFACTS", "%s: %llu files in %s (sha256 %s)", art->id, (unsigned long long)files.n,
	         out->path, sha);
out:
	mdeploy_bundle_writer_free(w);
	mdeploy_build__files_dispose(&files);
	free(path);
	return rc;
}

int mdeploy_build__store_artifact(struct run *r, mdeploy_build_artifact *a, mdeploy_artifacts **store)
{
	mdeploy_artifact *st = NULL;
	int rc;
	if (!*store) {
		mdeploy_artifacts_options ao = MDEPLOY_ARTIFACTS_OPTIONS_INIT;
		if ((rc = mdeploy_artifacts_open(store, r->ctx, &ao)) != 0)
			return rc;
	}
	if ((rc = mdeploy_artifacts_put(&st, *store, r->opts->store_name, a->path)) != 0)
		return rc;
	a->store_revision = st->revision;
	mdeploy_build__log_line(r, "ARTIFACTS", "stored as %s@%llu", st->name, (unsigned long long)st->revision);
	mdeploy_artifact_free(st);
	return 0;
}
