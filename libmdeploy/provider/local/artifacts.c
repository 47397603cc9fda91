/*
 * artifacts.c - the local artifact store: objects/<2 hex>/<64 hex>, files
 * named by their SHA-256 and made read-only, and index.json mapping each
 * name to its revisions {revision, sha256, size, created}, oldest first.
 */
#include "local.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct local_artifacts {
	mdeploy_local__jsonfile index;
	char *dir;
	char *objects;
};

static json_t *names_of(json_t *doc)
{
	json_t *p = json_object_get(doc, "artifacts");
	if (!json_is_object(p)) {
		p = json_object();
		json_object_set_new(doc, "artifacts", p);
	}
	return p;
}

static char *object_path(struct local_artifacts *la, const char *sha)
{
	return mdeploy__sprintf("%s/%.2s/%s", la->objects, sha, sha);
}

/* Copy `src` to the new file `dst_tmp`, hashing it, then give it `mode`
 * and rename it to `dst` (when not NULL; else it stays at dst_tmp). With
 * `expect`, a different digest fails. */
static int copy_hash(const char *src, const char *dst_tmp, const char *dst, char sha[65], uint64_t *size,
                     const char *expect, mode_t mode)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char buf[65536], digest[32];
	int in = -1, out = -1, rc = 0;
	uint64_t total = 0;
	ssize_t n;

	if (!md)
		return mdeploy__error_oom();
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	if ((in = open(src, O_RDONLY | O_CLOEXEC)) < 0) {
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_PROVIDER, "cannot open '%s'", src);
		goto out;
	}
	{
		struct stat st;
		if (fstat(in, &st) < 0 || !S_ISREG(st.st_mode)) {
			rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER, "'%s' is not a file", src);
			goto out;
		}
	}
	if ((out = open(dst_tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_PROVIDER, "cannot create '%s'", dst_tmp);
		goto out;
	}
	while ((n = read(in, buf, sizeof(buf))) != 0) {
		const unsigned char *p = buf;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_PROVIDER, "cannot read '%s'", src);
			goto out;
		}
		EVP_DigestUpdate(md, buf, (size_t)n);
		total += (uint64_t)n;
		while (n > 0) {
			ssize_t w = write(out, p, (size_t)n);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_PROVIDER, "cannot write '%s'", dst_tmp);
				goto out;
			}
			p += w;
			n -= w;
		}
	}
	EVP_DigestFinal_ex(md, digest, NULL);
	{
		static const char d[] = "0123456789abcdef";
		int i;
		for (i = 0; i < 32; i++) {
			sha[2 * i] = d[digest[i] >> 4];
			sha[2 * i + 1] = d[digest[i] & 15];
		}
		sha[64] = '\0';
	}
	if (expect && strcmp(expect, sha)) {
		rc = mdeploy__error_set(MDEPLOY_ECORRUPT, MDEPLOY_ERROR_CLASS_PROVIDER,
		                        "'%s' is damaged: its SHA-256 is %s, not %s", src, sha, expect);
		goto out;
	}
	if (fchmod(out, mode) < 0 || fsync(out) < 0) {
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_PROVIDER, "cannot write '%s'", dst_tmp);
		goto out;
	}
	if (close(out) < 0) {
		out = -1;
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_PROVIDER, "cannot write '%s'", dst_tmp);
		goto out;
	}
	out = -1;
	if (dst && rename(dst_tmp, dst) < 0)
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_PROVIDER, "cannot rename '%s' to '%s'", dst_tmp, dst);
	if (size)
		*size = total;
out:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	if (rc)
		unlink(dst_tmp);
	EVP_MD_CTX_free(md);
	return rc;
}

static int make_artifact(struct local_artifacts *la, mdeploy_artifact **out, const char *name, json_t *rev)
{
	mdeploy_artifact *a;
	const char *sha = json_string_value(json_object_get(rev, "sha256"));
	if (!out)
		return 0;
	if (!(a = calloc(1, sizeof(*a))))
		return mdeploy__error_oom();
	a->name = mdeploy__strdup(name);
	a->sha256 = mdeploy__strdup(sha ? sha : "");
	a->path = sha ? object_path(la, sha) : NULL;
	a->revision = (uint64_t)json_integer_value(json_object_get(rev, "revision"));
	a->size = (uint64_t)json_integer_value(json_object_get(rev, "size"));
	a->created = (int64_t)json_integer_value(json_object_get(rev, "created"));
	if (!a->name || !a->sha256 || !a->path) {
		mdeploy_artifact_free(a);
		return MDEPLOY_ENOMEM;
	}
	*out = a;
	return 0;
}

static int l_put(void *impl, mdeploy_artifact **out, const char *name, const char *file)
{
	struct local_artifacts *la = impl;
	char sha[65], *tmp = NULL, *dir = NULL, *obj = NULL;
	json_t *doc = NULL, *revs, *last, *rev;
	uint64_t size = 0, next = 1;
	int rc;

	if (!(tmp = mdeploy__sprintf("%s/tmp-%ld-XXXXXX", la->objects, (long)getpid()))) {
		rc = MDEPLOY_ENOMEM;
		goto out;
	}
	{
		int fd = mkstemp(tmp);
		if (fd < 0) {
			rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_PROVIDER, "cannot create a file in '%s'", la->objects);
			goto out;
		}
		close(fd);
		unlink(tmp);
	}
	if ((rc = copy_hash(file, tmp, NULL, sha, &size, NULL, 0444)) != 0)
		goto out;
	if (!(dir = mdeploy__sprintf("%s/%.2s", la->objects, sha)) || !(obj = object_path(la, sha))) {
		rc = MDEPLOY_ENOMEM;
		unlink(tmp);
		goto out;
	}
	if ((rc = mdeploy__mkdir_p(dir, 0700)) != 0) {
		unlink(tmp);
		goto out;
	}
	/* Content-addressed: an object already there is the same bytes. */
	if (mdeploy__path_exists(obj))
		unlink(tmp);
	else if (rename(tmp, obj) < 0) {
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_PROVIDER, "cannot rename '%s' to '%s'", tmp, obj);
		unlink(tmp);
		goto out;
	}
	if ((rc = mdeploy_local__jsonfile_begin(&la->index, 1, (void **)&doc)) != 0)
		goto out;
	revs = json_object_get(names_of(doc), name);
	if (!revs) {
		revs = json_array();
		json_object_set_new(names_of(doc), name, revs);
	}
	last = json_array_size(revs) ? json_array_get(revs, json_array_size(revs) - 1) : NULL;
	if (last && !strcmp(json_string_value(json_object_get(last, "sha256")) ?
	                    json_string_value(json_object_get(last, "sha256")) : "", sha)) {
		rc = mdeploy_local__jsonfile_end(&la->index, NULL);
		if (!rc)
			rc = make_artifact(la, out, name, last);
		goto out;
	}
	if (last)
		next = (uint64_t)json_integer_value(json_object_get(last, "revision")) + 1;
	rev = json_pack("{s:I, s:s, s:I, s:I}", "revision", (json_int_t)next, "sha256", sha,
	                "size", (json_int_t)size, "created", (json_int_t)mdeploy_provider__now());
	json_array_append_new(revs, rev);
	rc = mdeploy_local__jsonfile_end(&la->index, doc);
	if (!rc)
		rc = make_artifact(la, out, name, rev);
out:
	json_decref(doc);
	free(tmp);
	free(dir);
	free(obj);
	return rc;
}

static int is_hex(const char *s, size_t min)
{
	size_t n = 0;
	for (; *s; s++, n++)
		if (!isxdigit((unsigned char)*s) || isupper((unsigned char)*s))
			return 0;
	return n >= min && n <= 64;
}

/* Finds a reference in the index: sets *name and *rev (borrowed from doc). */
static int resolve(json_t *doc, const char *ref, const char **name, json_t **rev)
{
	json_t *names = names_of(doc), *revs, *r;
	const char *key, *at = strrchr(ref, '@'), *digest = NULL;
	size_t i;

	*name = NULL;
	*rev = NULL;
	if (!strncmp(ref, "sha256:", 7))
		digest = ref + 7;
	else if (!at && !json_object_get(names, ref) && is_hex(ref, 8))
		digest = ref;
	if (digest) {
		const char *match = NULL;
		if (!is_hex(digest, 8))
			return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
			                          "'%s': a digest needs 8 to 64 lowercase hex digits", ref);
		json_object_foreach(names, key, revs) {
			json_array_foreach(revs, i, r) {
				const char *sha = json_string_value(json_object_get(r, "sha256"));
				if (!sha || strncmp(sha, digest, strlen(digest)))
					continue;
				if (match && strcmp(match, sha))
					return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
					                          "'%s' is ambiguous: it matches %.12s and %.12s", ref, match, sha);
				match = sha;
				/* the newest revision holding it */
				if (!*rev || json_integer_value(json_object_get(r, "created")) >=
				             json_integer_value(json_object_get(*rev, "created"))) {
					*rev = r;
					*name = key;
				}
			}
		}
		if (!*rev)
			return mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PROVIDER,
			                          "no artifact with digest '%s'", digest);
		return 0;
	}
	if (at) {
		char *end, *n = mdeploy__sprintf("%.*s", (int)(at - ref), ref);
		uint64_t want = strtoull(at + 1, &end, 10);
		if (!n)
			return MDEPLOY_ENOMEM;
		if (!at[1] || *end || !want) {
			free(n);
			return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
			                          "'%s': a revision after '@' must be a positive number", ref);
		}
		json_object_foreach(names, key, revs) {
			if (strcmp(key, n))
				continue;
			json_array_foreach(revs, i, r)
				if ((uint64_t)json_integer_value(json_object_get(r, "revision")) == want) {
					*rev = r;
					*name = key;
				}
		}
		free(n);
		if (!*rev)
			return mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PROVIDER,
			                          "no artifact '%s'", ref);
		return 0;
	}
	revs = json_object_get(names, ref);
	if (!json_array_size(revs))
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PROVIDER, "no artifact named '%s'", ref);
	json_object_foreach(names, key, r)
		if (r == revs)
			*name = key;
	*rev = json_array_get(revs, json_array_size(revs) - 1);
	return 0;
}

static int l_get(void *impl, mdeploy_artifact **out, const char *ref)
{
	struct local_artifacts *la = impl;
	json_t *doc, *rev;
	const char *name;
	int rc;
	if ((rc = mdeploy_local__jsonfile_begin(&la->index, 0, (void **)&doc)) != 0)
		return rc;
	mdeploy_local__jsonfile_end(&la->index, NULL);
	rc = resolve(doc, ref, &name, &rev);
	if (!rc)
		rc = make_artifact(la, out, name, rev);
	json_decref(doc);
	return rc;
}

static int l_fetch(void *impl, const char *ref, const char *dest)
{
	struct local_artifacts *la = impl;
	mdeploy_artifact *a = NULL;
	char *tmp = NULL, sha[65];
	int rc;
	if ((rc = l_get(impl, &a, ref)) != 0)
		return rc;
	if (!(tmp = mdeploy__sprintf("%s.tmp-%ld", dest, (long)getpid())))
		rc = MDEPLOY_ENOMEM;
	else
		rc = copy_hash(a->path, tmp, dest, sha, NULL, a->sha256, 0644);
	(void)la;
	free(tmp);
	mdeploy_artifact_free(a);
	return rc;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int l_list(void *impl, const char *name, mdeploy_artifacts_cb cb, void *payload)
{
	struct local_artifacts *la = impl;
	json_t *doc, *names, *revs;
	const char *key, **keys = NULL;
	size_t n = 0, i, j;
	int rc;

	if ((rc = mdeploy_local__jsonfile_begin(&la->index, 0, (void **)&doc)) != 0)
		return rc;
	mdeploy_local__jsonfile_end(&la->index, NULL);
	names = names_of(doc);
	if (json_object_size(names) && !(keys = calloc(json_object_size(names), sizeof(*keys)))) {
		json_decref(doc);
		return mdeploy__error_oom();
	}
	json_object_foreach(names, key, revs)
		if (!name || !strcmp(name, key))
			keys[n++] = key;
	if (n > 1)
		qsort(keys, n, sizeof(*keys), name_cmp);
	for (i = 0; !rc && i < n; i++) {
		revs = json_object_get(names, keys[i]);
		for (j = json_array_size(revs); !rc && j-- > 0;) {
			mdeploy_artifact *a = NULL;
			if ((rc = make_artifact(la, &a, keys[i], json_array_get(revs, j))) != 0)
				break;
			if (cb(a, payload))
				rc = mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_CALLBACK, "artifact list: stopped by the callback");
			mdeploy_artifact_free(a);
		}
	}
	free(keys);
	json_decref(doc);
	return rc;
}

static int in_list(const char *const *list, const char *sha)
{
	size_t i;
	for (i = 0; list && list[i]; i++)
		if (!strcmp(list[i], sha))
			return 1;
	return 0;
}

/* Drop the revisions gc chose (provider/store.h), then sweep the objects. */
static int l_remove(void *impl, const mdeploy_artifact *const *doomed, size_t nd, const char *const *keep,
                    int dry_run, uint64_t *freed)
{
	struct local_artifacts *la = impl;
	json_t *doc, *names, *revs, *live;
	const char *key;
	DIR *d1 = NULL;
	struct dirent *de;
	size_t i, j;
	int rc = 0;

	if ((rc = mdeploy_local__jsonfile_begin(&la->index, !dry_run, (void **)&doc)) != 0)
		return rc;
	names = names_of(doc);
	for (j = 0; j < nd; j++) {
		revs = json_object_get(names, doomed[j]->name);
		for (i = json_array_size(revs); i-- > 0;) {
			json_t *r = json_array_get(revs, i);
			if ((uint64_t)json_integer_value(json_object_get(r, "revision")) == doomed[j]->revision) {
				json_array_remove(revs, i);
				break;
			}
		}
	}
	live = json_object();
	json_object_foreach(names, key, revs) {
		json_t *r;
		json_array_foreach(revs, i, r) {
			const char *sha = json_string_value(json_object_get(r, "sha256"));
			if (sha)
				json_object_set_new(live, sha, json_true());
		}
	}
	/* Objects nothing points at any more (including leftovers of failed puts). */
	if ((d1 = opendir(la->objects)) != NULL) {
		while (!rc && (de = readdir(d1)) != NULL) {
			char *sub;
			DIR *d2;
			struct dirent *e2;
			if (de->d_name[0] == '.')
				continue;
			if (!(sub = mdeploy__path_join(la->objects, de->d_name))) {
				rc = MDEPLOY_ENOMEM;
				break;
			}
			if (!strncmp(de->d_name, "tmp-", 4)) {
				if (!dry_run)
					unlink(sub);
				free(sub);
				continue;
			}
			if (!(d2 = opendir(sub))) {
				free(sub);
				continue;
			}
			while ((e2 = readdir(d2)) != NULL) {
				struct stat st;
				char *obj;
				if (e2->d_name[0] == '.' || json_object_get(live, e2->d_name) || in_list(keep, e2->d_name))
					continue;
				if (!(obj = mdeploy__path_join(sub, e2->d_name))) {
					rc = MDEPLOY_ENOMEM;
					break;
				}
				if (lstat(obj, &st) == 0) {
					if (freed)
						*freed += (uint64_t)st.st_size;
					if (!dry_run && unlink(obj) < 0 && errno != ENOENT)
						rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_PROVIDER, "cannot remove '%s'", obj);
				}
				free(obj);
			}
			closedir(d2);
			if (!dry_run)
				(void)rmdir(sub); /* only when empty */
			free(sub);
		}
		closedir(d1);
	}
	json_decref(live);
	if (dry_run) {
		mdeploy_local__jsonfile_end(&la->index, NULL);
	} else {
		int rc2 = mdeploy_local__jsonfile_end(&la->index, doc);
		if (!rc)
			rc = rc2;
	}
	json_decref(doc);
	return rc;
}

static void l_free(void *impl)
{
	struct local_artifacts *la = impl;
	if (!la)
		return;
	mdeploy_local__jsonfile_dispose(&la->index);
	free(la->dir);
	free(la->objects);
	free(la);
}

static const mdeploy_provider__artifacts_ops local_artifacts_ops = {
	"local", l_put, l_get, l_fetch, l_list, l_remove, l_free
};

int mdeploy_local__artifacts_new(void **impl, const mdeploy_provider__artifacts_ops **ops,
                                 const mdeploy_provider__store_args *a)
{
	struct local_artifacts *la;
	char *dir;
	int rc;
	if ((rc = mdeploy_local__store_dir(&dir, a)) != 0)
		return rc;
	if (!(la = calloc(1, sizeof(*la)))) {
		free(dir);
		return mdeploy__error_oom();
	}
	if ((rc = mdeploy_local__jsonfile_init(&la->index, dir, "index.json", 0644)) != 0) {
		free(dir);
		free(la);
		return rc;
	}
	la->dir = dir;
	if (!(la->objects = mdeploy__path_join(dir, "objects"))) {
		l_free(la);
		return MDEPLOY_ENOMEM;
	}
	if ((rc = mdeploy__mkdir_p(la->objects, 0700)) != 0) {
		l_free(la);
		return rc;
	}
	*impl = la;
	*ops = &local_artifacts_ops;
	return 0;
}
