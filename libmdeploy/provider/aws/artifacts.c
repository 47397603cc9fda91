/*
 * artifacts.c - the artifact store on S3, content-addressed:
 *
 *   <prefix>/objects/<64 hex>   the bundle, by its SHA-256
 *   <prefix>/index.json         names -> revisions {revision, sha256, size, created},
 *                               oldest first (the local store's index format)
 *
 * (prefix default mdeploy/<application>/artifacts). The index is changed
 * with conditional writes (If-Match on its ETag, If-None-Match for the
 * first), read again and redone when another writer got there first, so two
 * machines putting at once both get their revision. Lookups never list the
 * bucket. Objects go up with x-amz-checksum-sha256 (multipart with parallel
 * parts when large) and server-side encryption; downloads are checked
 * against the digest before they replace the destination.
 */
#include "provider/aws/aws.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

struct aws_artifacts {
	mdeploy_awsp__s3 s3;
	char *prefix;   /* no trailing '/' */
};

typedef struct rev {
	char *name;
	uint64_t revision;
	char sha[65];
	uint64_t size;
	int64_t created;
} rev;

typedef struct revs {
	rev *v;
	size_t n, cap;
} revs;

static void revs_dispose(revs *r)
{
	size_t i;
	for (i = 0; i < r->n; i++)
		free(r->v[i].name);
	free(r->v);
	memset(r, 0, sizeof(*r));
}

static int is_hex(const char *s, size_t min)
{
	size_t n = 0;
	for (; *s; s++, n++)
		if (!isxdigit((unsigned char)*s) || isupper((unsigned char)*s))
			return 0;
	return n >= min && n <= 64;
}

/* by name, newest revision first */
static int rev_cmp(const void *a, const void *b)
{
	const rev *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	return x->revision < y->revision ? 1 : x->revision > y->revision ? -1 : 0;
}

static char *index_key(struct aws_artifacts *aa)
{
	return mdeploy__sprintf("%s/index.json", aa->prefix);
}

/* index.json and its ETag (NULL when there is none yet). */
static int index_load(struct aws_artifacts *aa, json_t **doc, char **etag)
{
	mdeploy__buf body = MDEPLOY__BUF_INIT;
	char *key = index_key(aa);
	json_error_t jerr;
	int rc;

	*doc = NULL;
	*etag = NULL;
	if (!key)
		return mdeploy__error_oom();
	rc = mdeploy_awsp__s3_get_mem(&aa->s3, key, &body, etag);
	if (rc == MDEPLOY_ENOTFOUND) {
		rc = 0;
		*doc = json_pack("{s:{}}", "artifacts");
	} else if (!rc) {
		*doc = json_loadb(body.ptr ? body.ptr : "", body.size, 0, &jerr);
		if (!*doc || !json_is_object(json_object_get(*doc, "artifacts")))
			rc = mdeploy__error_set(MDEPLOY_ECORRUPT, MDEPLOY_ERROR_CLASS_PROVIDER,
			                        "s3://%s/%s is not an artifact index (%s)", aa->s3.bucket, key,
			                        *doc ? "no artifacts object" : jerr.text);
	} else {
		mdeploy__error_prefix("s3://%s/%s", aa->s3.bucket, key);
	}
	if (!rc && !*doc)
		rc = mdeploy__error_oom();
	if (rc) {
		json_decref(*doc);
		*doc = NULL;
		free(*etag);
		*etag = NULL;
	}
	free(key);
	mdeploy__buf_dispose(&body);
	return rc;
}

/* Write the index if nobody changed it since `etag` was read: MDEPLOY_ECONFLICT if they did. */
static int index_save(struct aws_artifacts *aa, json_t *doc, const char *etag)
{
	mdeploy_aws_header h[1];
	char *key = index_key(aa), *text = json_dumps(doc, JSON_INDENT(1) | JSON_SORT_KEYS);
	int rc;
	if (!key || !text) {
		free(key);
		free(text);
		return mdeploy__error_oom();
	}
	h[0] = etag ? (mdeploy_aws_header){ "If-Match", etag } : (mdeploy_aws_header){ "If-None-Match", "*" };
	rc = mdeploy_awsp__s3_put_mem(&aa->s3, key, text, strlen(text), "application/json", h, 1);
	free(key);
	free(text);
	return rc;
}

/* Every revision of the index (or of `name`), by name, newest first. */
static int revs_of(revs *r, json_t *doc, const char *name)
{
	json_t *names = json_object_get(doc, "artifacts"), *list, *j;
	const char *key;
	size_t i;

	memset(r, 0, sizeof(*r));
	json_object_foreach(names, key, list) {
		if (name && strcmp(key, name))
			continue;
		json_array_foreach(list, i, j) {
			const char *sha = json_string_value(json_object_get(j, "sha256"));
			rev v;
			if (!sha || !is_hex(sha, 64))
				continue;
			memset(&v, 0, sizeof(v));
			v.revision = (uint64_t)json_integer_value(json_object_get(j, "revision"));
			memcpy(v.sha, sha, 65);
			v.size = (uint64_t)json_integer_value(json_object_get(j, "size"));
			v.created = (int64_t)json_integer_value(json_object_get(j, "created"));
			if (!(v.name = mdeploy__strdup(key)))
				goto oom;
			if (r->n == r->cap) {
				rev *g = realloc(r->v, (r->cap = r->cap ? r->cap * 2 : 16) * sizeof(*g));
				if (!g) {
					free(v.name);
					goto oom;
				}
				r->v = g;
			}
			r->v[r->n++] = v;
		}
	}
	if (r->n > 1)
		qsort(r->v, r->n, sizeof(*r->v), rev_cmp);
	return 0;
oom:
	revs_dispose(r);
	return mdeploy__error_oom();
}

static int load(struct aws_artifacts *aa, revs *r, const char *name)
{
	json_t *doc;
	char *etag;
	int rc = index_load(aa, &doc, &etag);
	memset(r, 0, sizeof(*r));
	if (rc)
		return rc;
	rc = revs_of(r, doc, name);
	json_decref(doc);
	free(etag);
	return rc;
}

static int make_artifact(mdeploy_artifact **out, const rev *v)
{
	mdeploy_artifact *a = calloc(1, sizeof(*a));
	if (!a)
		return mdeploy__error_oom();
	a->name = mdeploy__strdup(v->name);
	a->sha256 = mdeploy__strdup(v->sha);
	a->revision = v->revision;
	a->size = v->size;
	a->created = v->created;
	a->path = NULL;
	if (!a->name || !a->sha256) {
		mdeploy_artifact_free(a);
		return MDEPLOY_ENOMEM;
	}
	*out = a;
	return 0;
}

static int hash_file(const char *file, char sha[65], uint64_t *size)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char buf[1 << 16], digest[32];
	struct stat st;
	uint64_t total = 0;
	ssize_t n;
	int fd, rc = 0;

	if (!md)
		return mdeploy__error_oom();
	if ((fd = open(file, O_RDONLY | O_CLOEXEC)) < 0) {
		EVP_MD_CTX_free(md);
		return mdeploy__error_os(MDEPLOY_ERROR_CLASS_PROVIDER, "cannot open '%s'", file);
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER, "'%s' is not a file", file);
		goto out;
	}
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_PROVIDER, "cannot read '%s'", file);
			goto out;
		}
		EVP_DigestUpdate(md, buf, (size_t)n);
		total += (uint64_t)n;
	}
	EVP_DigestFinal_ex(md, digest, NULL);
	mdeploy_aws__hex(sha, digest, 32);
	*size = total;
out:
	close(fd);
	EVP_MD_CTX_free(md);
	return rc;
}

static char *object_key(struct aws_artifacts *aa, const char *sha)
{
	return mdeploy__sprintf("%s/objects/%s", aa->prefix, sha);
}

static int a_put(void *impl, mdeploy_artifact **out, const char *name, const char *file)
{
	struct aws_artifacts *aa = impl;
	char sha[65], *key = NULL, *etag = NULL;
	uint64_t size = 0, have;
	json_t *doc = NULL;
	int rc, tries;

	if (out)
		*out = NULL;
	if ((rc = hash_file(file, sha, &size)))
		return rc;
	/* the object first: an index entry never points at nothing */
	if (!(key = object_key(aa, sha)))
		return mdeploy__error_oom();
	rc = mdeploy_awsp__s3_head(&aa->s3, key, &have);
	if (rc == MDEPLOY_ENOTFOUND || (!rc && have != size))
		rc = mdeploy_awsp__s3_put_file(&aa->s3, key, file, sha);
	free(key);
	for (tries = 0; !rc && tries < 10; tries++) {
		json_t *names, *list, *last;
		rev v;
		if ((rc = index_load(aa, &doc, &etag)))
			break;
		names = json_object_get(doc, "artifacts");
		if (!json_is_array(list = json_object_get(names, name))) {
			list = json_array();
			json_object_set_new(names, name, list);
		}
		last = json_array_size(list) ? json_array_get(list, json_array_size(list) - 1) : NULL;
		memset(&v, 0, sizeof(v));
		v.name = (char *)name;
		memcpy(v.sha, sha, 65);
		v.size = size;
		if (last && !strcmp(json_string_value(json_object_get(last, "sha256")) ?
		                    json_string_value(json_object_get(last, "sha256")) : "", sha)) {
			/* the same content again adds no revision */
			v.revision = (uint64_t)json_integer_value(json_object_get(last, "revision"));
			v.created = (int64_t)json_integer_value(json_object_get(last, "created"));
		} else {
			v.revision = last ? (uint64_t)json_integer_value(json_object_get(last, "revision")) + 1 : 1;
			v.created = mdeploy_aws__now(aa->s3.client);
			json_array_append_new(list, json_pack("{s:I, s:s, s:I, s:I}", "revision", (json_int_t)v.revision,
			                                      "sha256", sha, "size", (json_int_t)size, "created",
			                                      (json_int_t)v.created));
			rc = index_save(aa, doc, etag);
		}
		json_decref(doc);
		doc = NULL;
		free(etag);
		etag = NULL;
		if (rc == MDEPLOY_ECONFLICT) {
			/* another writer changed the index: read it again */
			rc = 0;
			continue;
		}
		if (!rc && out)
			rc = make_artifact(out, &v);
		break;
	}
	if (!rc && tries == 10)
		rc = mdeploy__error_set(MDEPLOY_ELOCKED, MDEPLOY_ERROR_CLASS_PROVIDER,
		                        "the artifact index kept changing under this put (10 tries)");
	if (rc && rc != MDEPLOY_ENOMEM)
		mdeploy__error_prefix("artifact put '%s'", name);
	return rc;
}

/* Find `ref` among r: NAME, NAME@N, sha256:HEX, HEX (see mdeploy/artifacts.h). */
static int resolve(const revs *r, const char *ref, const rev **out)
{
	const char *at = strrchr(ref, '@'), *digest = NULL;
	size_t i;
	int named = 0;

	*out = NULL;
	for (i = 0; i < r->n; i++)
		if (!strcmp(r->v[i].name, ref))
			named = 1;
	if (!strncmp(ref, "sha256:", 7))
		digest = ref + 7;
	else if (!at && !named && is_hex(ref, 8))
		digest = ref;
	if (digest) {
		const char *match = NULL;
		if (!is_hex(digest, 8))
			return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
			                          "'%s': a digest needs 8 to 64 lowercase hex digits", ref);
		for (i = 0; i < r->n; i++) {
			if (strncmp(r->v[i].sha, digest, strlen(digest)))
				continue;
			if (match && strcmp(match, r->v[i].sha))
				return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
				                          "'%s' is ambiguous: it matches %.12s and %.12s", ref, match,
				                          r->v[i].sha);
			match = r->v[i].sha;
			if (!*out || r->v[i].created >= (*out)->created)
				*out = &r->v[i];
		}
		return *out ? 0 : mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PROVIDER,
		                                     "no artifact with digest '%s'", digest);
	}
	if (at) {
		char *end;
		uint64_t want = strtoull(at + 1, &end, 10);
		size_t nlen = (size_t)(at - ref);
		if (!at[1] || *end || !want)
			return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
			                          "'%s': a revision after '@' must be a positive number", ref);
		for (i = 0; i < r->n; i++)
			if (strlen(r->v[i].name) == nlen && !strncmp(r->v[i].name, ref, nlen) && r->v[i].revision == want)
				*out = &r->v[i];
		return *out ? 0 : mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PROVIDER, "no artifact '%s'", ref);
	}
	for (i = 0; i < r->n; i++)
		if (!strcmp(r->v[i].name, ref)) {
			*out = &r->v[i]; /* newest first */
			return 0;
		}
	return mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PROVIDER, "no artifact named '%s'", ref);
}

static int a_get(void *impl, mdeploy_artifact **out, const char *ref)
{
	struct aws_artifacts *aa = impl;
	const rev *v;
	revs r;
	int rc;
	if ((rc = load(aa, &r, NULL)))
		return rc;
	if (!(rc = resolve(&r, ref, &v)))
		rc = make_artifact(out, v);
	revs_dispose(&r);
	return rc;
}

static int a_fetch(void *impl, const char *ref, const char *dest)
{
	struct aws_artifacts *aa = impl;
	mdeploy_artifact *a = NULL;
	char *tmp = NULL, *key = NULL, sha[65];
	uint64_t size = 0;
	int fd = -1, rc;

	if ((rc = a_get(impl, &a, ref)))
		return rc;
	if (!(tmp = mdeploy__sprintf("%s.tmp-XXXXXX", dest)) || !(key = object_key(aa, a->sha256))) {
		rc = mdeploy__error_oom();
		goto out;
	}
	if ((fd = mkstemp(tmp)) < 0) {
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_PROVIDER, "cannot create '%s'", tmp);
		free(tmp);
		tmp = NULL;
		goto out;
	}
	if ((rc = mdeploy_awsp__s3_get_fd(&aa->s3, key, fd))) {
		mdeploy__error_prefix("artifact '%s'", ref);
		goto out;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		fd = -1;
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_PROVIDER, "cannot write '%s'", tmp);
		goto out;
	}
	fd = -1;
	/* the download is checked against the digest before it replaces dest */
	if ((rc = hash_file(tmp, sha, &size)))
		goto out;
	if (strcmp(sha, a->sha256) || size != a->size) {
		rc = mdeploy__error_set(MDEPLOY_ECORRUPT, MDEPLOY_ERROR_CLASS_PROVIDER,
		                        "artifact '%s': s3://%s/%s has SHA-256 %s (%llu bytes), not %s: damaged in the store",
		                        ref, aa->s3.bucket, key, sha, (unsigned long long)size, a->sha256);
		goto out;
	}
	if (chmod(tmp, 0644) < 0 || rename(tmp, dest) < 0) {
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_PROVIDER, "cannot move the download to '%s'", dest);
		goto out;
	}
	free(tmp);
	tmp = NULL;
out:
	if (fd >= 0)
		close(fd);
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	free(key);
	mdeploy_artifact_free(a);
	return rc;
}

static int a_list(void *impl, const char *name, mdeploy_artifacts_cb cb, void *payload)
{
	struct aws_artifacts *aa = impl;
	revs r;
	size_t i;
	int rc;
	if ((rc = load(aa, &r, name)))
		return rc;
	for (i = 0; !rc && i < r.n; i++) {
		mdeploy_artifact *a = NULL;
		if ((rc = make_artifact(&a, &r.v[i])) == 0 && cb(a, payload))
			rc = mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_CALLBACK, "artifact list: callback aborted");
		mdeploy_artifact_free(a);
	}
	revs_dispose(&r);
	return rc;
}

static int in_list(const char *const *list, const char *sha)
{
	for (; list && *list; list++)
		if (!strcmp(*list, sha))
			return 1;
	return 0;
}

/* Drop the revisions gc chose (provider/store.h) from the index, with a
 * conditional write redone when another writer got there first, then the
 * objects only they pointed at. The bucket is never listed. */
static int a_remove(void *impl, const mdeploy_artifact *const *doomed, size_t nd, const char *const *keep,
                    int dry_run, uint64_t *freed)
{
	struct aws_artifacts *aa = impl;
	json_t *doc = NULL, *names, *list, *live = NULL, *dropped = NULL;
	char **gone = NULL, *etag = NULL;
	size_t ngone = 0, i, j;
	const char *key;
	int rc = 0, tries;

	if (!nd)
		return 0;
	for (tries = 0; tries < 10; tries++) {
		json_t *r;
		if (!(dropped = json_object()) || !(live = json_object()) || (rc = index_load(aa, &doc, &etag))) {
			rc = rc ? rc : mdeploy__error_oom();
			break;
		}
		names = json_object_get(doc, "artifacts");
		for (j = 0; j < nd; j++) {
			list = json_object_get(names, doomed[j]->name);
			for (i = json_array_size(list); i-- > 0;) {
				const char *s;
				r = json_array_get(list, i);
				if ((uint64_t)json_integer_value(json_object_get(r, "revision")) != doomed[j]->revision)
					continue;
				if ((s = json_string_value(json_object_get(r, "sha256"))))
					json_object_set_new(dropped, s, json_integer(json_integer_value(json_object_get(r, "size"))));
				json_array_remove(list, i);
				break;
			}
		}
		json_object_foreach(names, key, list)
			json_array_foreach(list, i, r)
				if (json_string_value(json_object_get(r, "sha256")))
					json_object_set_new(live, json_string_value(json_object_get(r, "sha256")), json_true());
		if (!dry_run && json_object_size(dropped))
			rc = index_save(aa, doc, etag);
		if (rc != MDEPLOY_ECONFLICT)
			break;
		json_decref(dropped);
		json_decref(live);
		json_decref(doc);
		free(etag);
		dropped = live = doc = NULL;
		etag = NULL;
		rc = 0;
	}
	if (!rc && tries == 10)
		rc = mdeploy__error_set(MDEPLOY_ELOCKED, MDEPLOY_ERROR_CLASS_PROVIDER,
		                        "artifact gc: the index kept changing (10 tries)");
	/* objects only dropped revisions pointed at (and not kept) go too */
	if (!rc && json_object_size(dropped)) {
		const char *sha;
		json_t *val;
		if (!(gone = calloc(json_object_size(dropped), sizeof(*gone))))
			rc = mdeploy__error_oom();
		json_object_foreach(dropped, sha, val) {
			if (rc || json_object_get(live, sha) || in_list(keep, sha))
				continue;
			if (freed)
				*freed += (uint64_t)json_integer_value(val);
			if (!(gone[ngone] = object_key(aa, sha)))
				rc = mdeploy__error_oom();
			else
				ngone++;
		}
	}
	for (i = 0; i < ngone; i++) {
		if (!rc && !dry_run) {
			rc = mdeploy_awsp__s3_delete(&aa->s3, gone[i]);
			if (rc == MDEPLOY_ENOTFOUND)
				rc = 0;
		}
		free(gone[i]);
	}
	free(gone);
	json_decref(dropped);
	json_decref(live);
	json_decref(doc);
	free(etag);
	return rc;
}

static void a_free(void *impl)
{
	struct aws_artifacts *aa = impl;
	if (!aa)
		return;
	mdeploy_aws__client_free(aa->s3.client);
	free(aa->s3.bucket);
	free(aa->s3.kms_key);
	free(aa->prefix);
	free(aa);
}

static const mdeploy_provider__artifacts_ops aws_artifacts_ops = {
	"aws", a_put, a_get, a_fetch, a_list, a_remove, a_free,
};

int mdeploy_awsp__artifacts_new(void **impl, const mdeploy_provider__artifacts_ops **ops,
                                const mdeploy_provider__store_args *a)
{
	struct aws_artifacts *aa = calloc(1, sizeof(*aa));
	const char *bucket = mdeploy_provider__store_option(a, "bucket"), *v;
	size_t len;
	int rc;

	if (!aa)
		return mdeploy__error_oom();
	if (!bucket) {
		rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
		                        "artifact store: provider aws needs stores.artifacts.bucket in mdeploy.yml");
		goto fail;
	}
	if ((rc = mdeploy_awsp__client(&aa->s3.client, a)) ||
	    (rc = mdeploy_awsp__prefix(&aa->prefix, a, "mdeploy/%s/artifacts")))
		goto fail;
	len = strlen(aa->prefix);
	while (len > 0 && aa->prefix[len - 1] == '/')
		aa->prefix[--len] = '\0';
	if (!(aa->s3.bucket = mdeploy__strdup(bucket)) ||
	    ((v = mdeploy_provider__store_option(a, "kms_key")) && !(aa->s3.kms_key = mdeploy__strdup(v)))) {
		rc = MDEPLOY_ENOMEM;
		goto fail;
	}
	v = mdeploy_provider__store_option(a, "part_size_mb");
	aa->s3.part_size = (size_t)(v ? strtoul(v, NULL, 10) : 16) << 20;
	v = mdeploy_provider__store_option(a, "parallel");
	aa->s3.parallel = v ? (unsigned int)strtoul(v, NULL, 10) : 4;
	*impl = aa;
	*ops = &aws_artifacts_ops;
	return 0;
fail:
	a_free(aa);
	return rc;
}
