/* manifest.c - .mdeploy/manifest.json: what a bundle holds and where it came from. */
#include "bundle_private.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MANIFEST_FORMAT 1

/* The name put_name() wrote: "<key>" or "<key>_hex" decoded; NULL when
 * neither or both are there, or the hex is not hex or holds a NUL. */
static char *get_name(json_t *o, const char *key, int *bad_hex)
{
	char hkey[32];
	const char *s, *h;
	char *out;
	size_t n, i;

	snprintf(hkey, sizeof(hkey), "%s_hex", key);
	s = json_string_value(json_object_get(o, key));
	h = json_string_value(json_object_get(o, hkey));
	*bad_hex = 0;
	if (s && h) {
		*bad_hex = 1;
		return NULL;
	}
	if (s)
		return mdeploy__strdup(s);
	if (!h)
		return NULL;
	n = strlen(h);
	if (n % 2 || !n || strspn(h, "0123456789abcdef") != n || !(out = malloc(n / 2 + 1))) {
		*bad_hex = 1;
		return NULL;
	}
	for (i = 0; i < n / 2; i++) {
		unsigned int v;
		sscanf(h + 2 * i, "%2x", &v);
		if (!v) {
			free(out);
			*bad_hex = 1;
			return NULL;
		}
		out[i] = (char)v;
	}
	out[n / 2] = '\0';
	return out;
}

static int oom_json(json_t *j)
{
	json_decref(j);
	return mdeploy__error_oom();
}

/*
 * A string as jansson dumps it (JSON_INDENT, no ENSURE_ASCII or
 * ESCAPE_SLASH flags): UTF-8 as it is unless it holds '"', '\\' or a
 * control character, which jansson itself escapes here.
 */
static int put_str(mdeploy__buf *b, const char *str)
{
	const unsigned char *p;
	json_t *j;
	char *e;
	int rc;
	for (p = (const unsigned char *)str; *p; p++)
		if (*p < 0x20 || *p == '"' || *p == '\\')
			break;
	if (!*p)
		return mdeploy__buf_put(b, "\"", 1) || mdeploy__buf_put(b, str, (size_t)(p - (const unsigned char *)str)) ||
		       mdeploy__buf_put(b, "\"", 1);
	if (!(j = json_string(str)))
		return -1;
	e = json_dumps(j, JSON_ENCODE_ANY);
	json_decref(j);
	rc = e ? mdeploy__buf_puts(b, e) : -1;
	free(e);
	return rc;
}

/*
 * A JSON string holds UTF-8 only: a name that is not (git allows any bytes)
 * is written as "<key>_hex", its bytes in hexadecimal, instead of "<key>".
 */
static int put_name(mdeploy__buf *b, const char *key, const char *name)
{
	size_t n = strlen(name);
	char *hex;
	int rc;
	if (mdeploy__utf8_valid(name, n))
		return mdeploy__buf_printf(b, "   \"%s\": ", key) || put_str(b, name);
	if (!(hex = malloc(2 * n + 1)))
		return -1;
	mdeploy_bundle__hex(hex, (const unsigned char *)name, n);
	rc = mdeploy__buf_printf(b, "   \"%s_hex\": \"%s\"", key, hex);
	free(hex);
	return rc;
}

/* The "files" array of the manifest, byte for byte what json_dumps() gave
 * for the same objects (JSON_INDENT(1) | JSON_PRESERVE_ORDER, depth 1). */
static int files_json(mdeploy__buf *b, const mdeploy_bundle__list *entries)
{
	size_t i;
	if (!entries->n)
		return mdeploy__buf_puts(b, "[]");
	if (mdeploy__buf_put(b, "[", 1))
		return -1;
	for (i = 0; i < entries->n; i++) {
		const mdeploy_bundle__item *it = &entries->v[i];
		if (mdeploy__buf_puts(b, i ? ",\n  {\n" : "\n  {\n") || put_name(b, "path", it->path) ||
		    mdeploy__buf_printf(b, ",\n   \"type\": \"%s\",\n   \"mode\": \"%04o\"",
		                        mdeploy_bundle__type_name(it->type), it->mode & 07777))
			return -1;
		if (it->type == MDEPLOY_BUNDLE_ENTRY_FILE) {
			if (mdeploy__buf_printf(b, ",\n   \"size\": %" JSON_INTEGER_FORMAT ",\n   \"sha256\": \"%s\"",
			                        (json_int_t)it->size, it->sha256))
				return -1;
		} else if (it->type == MDEPLOY_BUNDLE_ENTRY_SYMLINK) {
			if (mdeploy__buf_puts(b, ",\n") || put_name(b, "target", it->target))
				return -1;
		}
		if (mdeploy__buf_puts(b, "\n  }"))
			return -1;
	}
	return mdeploy__buf_puts(b, "\n ]");
}

int mdeploy_bundle__manifest_build(char **out, size_t *len, mdeploy_bundle__list *entries,
                                   const mdeploy_bundle_create_options *opts)
{
	mdeploy__buf b = MDEPLOY__BUF_INIT;
	json_t *doc, *build;
	size_t n;
	char *s;

	*out = NULL;
	mdeploy_bundle__list_sort(entries);
	if (!(doc = json_object()))
		return mdeploy__error_oom();
	json_object_set_new(doc, "mdeploy_manifest", json_integer(MANIFEST_FORMAT));
	build = json_object();
	if (!build)
		return oom_json(doc);
	if (opts->build_id)
		json_object_set_new(build, "id", json_string(opts->build_id));
	if (opts->build_time) {
		char ts[32];
		time_t t = (time_t)opts->build_time;
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
		json_object_set_new(build, "time", json_string(ts));
	}
	if (opts->builder)
		json_object_set_new(build, "builder", json_string(opts->builder));
	json_object_set_new(doc, "build", build);
	if (opts->source_json) {
		json_error_t jerr;
		json_t *src = json_loads(opts->source_json, JSON_REJECT_DUPLICATES, &jerr);
		if (!src || !json_is_object(src)) {
			json_decref(src);
			json_decref(doc);
			return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE,
			                          "source information is not a JSON object: %s",
			                          src ? "wrong type" : jerr.text);
		}
		json_object_set_new(doc, "source", src);
	}
	/* The rest of the document is small; "files" (tens of thousands of
	 * entries for Moodle) is written by files_json() below, as jansson
	 * would have written it, after jansson's text of the rest. */
	s = json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	json_decref(doc);
	if (!s)
		return mdeploy__error_oom();
	n = strlen(s);
	/* "{\n ...\n}": the last member gets a comma and "files" follows. */
	if (n < 2 || s[n - 1] != '}' || s[n - 2] != '\n') {
		free(s);
		return mdeploy__error_set(MDEPLOY_EOS, MDEPLOY_ERROR_CLASS_BUNDLE, "cannot write the manifest");
	}
	if (mdeploy__buf_put(&b, s, n - 2) || mdeploy__buf_puts(&b, ",\n \"files\": ") ||
	    files_json(&b, entries) || mdeploy__buf_puts(&b, "\n}\n")) {
		free(s);
		mdeploy__buf_dispose(&b);
		return mdeploy__error_oom();
	}
	free(s);
	*len = b.size;
	if (!(*out = mdeploy__buf_detach(&b)))
		return mdeploy__error_oom();
	return 0;
}

static int bad(const char *what, size_t idx)
{
	if (idx == (size_t)-1)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE,
		                          "%s: %s", MDEPLOY_BUNDLE__MANIFEST, what);
	return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE,
	                          "%s: files[%zu]: %s", MDEPLOY_BUNDLE__MANIFEST, idx, what);
}

static int parse_time(const char *s, int64_t *out)
{
	struct tm tm;
	const char *end;
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (!end || *end)
		return -1;
	*out = (int64_t)timegm(&tm);
	return 0;
}

int mdeploy_bundle__manifest_parse(mdeploy_bundle__manifest *m, const char *data, size_t len)
{
	json_error_t jerr;
	json_t *doc, *build, *files, *v;
	size_t i;
	int rc = 0;

	memset(m, 0, sizeof(*m));
	doc = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE, "%s:%d:%d: %s",
		                          MDEPLOY_BUNDLE__MANIFEST, jerr.line, jerr.column, jerr.text);
	if (!json_is_object(doc) || json_integer_value(json_object_get(doc, "mdeploy_manifest")) != MANIFEST_FORMAT) {
		rc = bad("not an mdeploy manifest of format 1", (size_t)-1);
		goto out;
	}
	build = json_object_get(doc, "build");
	if (json_is_object(build)) {
		if ((v = json_object_get(build, "id")) && json_is_string(v))
			m->build_id = mdeploy__strdup(json_string_value(v));
		if ((v = json_object_get(build, "builder")) && json_is_string(v))
			m->builder = mdeploy__strdup(json_string_value(v));
		if ((v = json_object_get(build, "time")) && json_is_string(v) &&
		    parse_time(json_string_value(v), &m->build_time) < 0) {
			rc = bad("build.time is not an ISO 8601 UTC time", (size_t)-1);
			goto out;
		}
	}
	if ((v = json_object_get(doc, "source")) != NULL &&
	    !(m->source_json = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER))) {
		rc = mdeploy__error_oom();
		goto out;
	}
	files = json_object_get(doc, "files");
	if (!json_is_array(files)) {
		rc = bad("'files' is not an array", (size_t)-1);
		goto out;
	}
	for (i = 0; i < json_array_size(files); i++) {
		json_t *f = json_array_get(files, i);
		const char *type, *mode, *sha;
		mdeploy_bundle__item *it;
		char *path, *norm, *end;
		unsigned long md;
		int bad_hex;

		path = get_name(f, "path", &bad_hex);
		type = json_string_value(json_object_get(f, "type"));
		mode = json_string_value(json_object_get(f, "mode"));
		if (!path || !type || !mode) {
			free(path);
			rc = bad(bad_hex ? "needs one of path and path_hex, the latter in lowercase hex without 00"
			                 : "needs path, type and mode", i);
			goto out;
		}
		rc = mdeploy_bundle__path_normalize(&norm, path);
		free(path);
		if (rc != 0) {
			mdeploy__error_prefix("%s: files[%zu]", MDEPLOY_BUNDLE__MANIFEST, i);
			goto out;
		}
		if (!(it = mdeploy_bundle__list_push(&m->entries))) {
			free(norm);
			rc = MDEPLOY_ENOMEM;
			goto out;
		}
		it->path = norm;
		md = strtoul(mode, &end, 8);
		if (*end || md > 07777) {
			rc = bad("mode is not an octal permission", i);
			goto out;
		}
		it->mode = (unsigned int)md;
		if (!strcmp(type, "file")) {
			json_t *size = json_object_get(f, "size");
			it->type = MDEPLOY_BUNDLE_ENTRY_FILE;
			sha = json_string_value(json_object_get(f, "sha256"));
			if (!json_is_integer(size) || json_integer_value(size) < 0 || !sha || strlen(sha) != 64 ||
			    strspn(sha, "0123456789abcdef") != 64) {
				rc = bad("a file needs size and a SHA-256 of 64 hex digits", i);
				goto out;
			}
			it->size = (uint64_t)json_integer_value(size);
			memcpy(it->sha256, sha, 65);
			it->has_sha = 1;
		} else if (!strcmp(type, "dir")) {
			it->type = MDEPLOY_BUNDLE_ENTRY_DIR;
		} else if (!strcmp(type, "symlink")) {
			it->type = MDEPLOY_BUNDLE_ENTRY_SYMLINK;
			if (!(it->target = get_name(f, "target", &bad_hex))) {
				rc = bad(bad_hex ? "needs one of target and target_hex, the latter in lowercase hex without 00"
				                 : "a symlink needs a target", i);
				goto out;
			}
		} else {
			rc = bad("type must be file, dir or symlink", i);
			goto out;
		}
	}
	mdeploy_bundle__list_sort(&m->entries);
	for (i = 1; i < m->entries.n; i++)
		if (!strcmp(m->entries.v[i - 1].path, m->entries.v[i].path)) {
			rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE,
			                        "%s: '%s' is listed twice", MDEPLOY_BUNDLE__MANIFEST,
			                        m->entries.v[i].path);
			goto out;
		}
out:
	json_decref(doc);
	if (rc)
		mdeploy_bundle__manifest_dispose(m);
	return rc;
}

void mdeploy_bundle__manifest_dispose(mdeploy_bundle__manifest *m)
{
	mdeploy_bundle__list_dispose(&m->entries);
	free(m->build_id);
	free(m->builder);
	free(m->source_json);
	memset(m, 0, sizeof(*m));
}
