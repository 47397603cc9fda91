/*
 * phpcheck.c - does this host's PHP run the Moodle release being deployed?
 *
 * What PHP has is asked of PHP itself (one `php -r` printing its version,
 * loaded extensions and ini settings as JSON: the same binary and ini files
 * the local instances' servers use). What Moodle needs is read from the
 * release's own admin/environment.xml (public/admin/ for 5.1+), in the
 * <MOODLE version="X.Y"> block of the release's $release: the PHP version
 * (and its RESTRICT restrict_php_version_NN upper bound), PHP_EXTENSIONS
 * and PHP_SETTINGS, each required or optional as the file says. Without a
 * release, only what Moodle's installer checks on every supported version:
 * max_input_vars >= 5000 (check_max_input_vars, required from PHP 8) and a
 * database driver.
 *
 * environment.xml is untrusted input from a bundle: it is scanned for the
 * few elements above with bounded string matching, never evaluated.
 */
#include "mdeploy_private.h"
#include "mdeploy/moodle.h"
#include "mdeploy/exec.h"

#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLS MDEPLOY_ERROR_CLASS_SOURCE
#define FILE_MAX (4u * 1024u * 1024u)

static const char probe_code[] =
	"echo json_encode(['version' => PHP_VERSION, 'extensions' => array_map('strtolower', get_loaded_extensions()),"
	" 'ini' => ini_get_all(null, false)]);";

static int php_facts(const char *php, json_t **out)
{
	mdeploy_exec_options o = MDEPLOY_EXEC_OPTIONS_INIT;
	mdeploy_exec_result *r = NULL;
	/* Not -n: the ini files are what is checked. */
	const char *argv[] = { php ? php : "php", "-r", probe_code, NULL };
	json_error_t je;
	int rc;

	o.search_path = 1;
	o.timeout_ms = 20000;
	o.capture_max = 1u << 20;
	if ((rc = mdeploy_exec_run(&r, argv, &o)))
		return rc;
	if (!mdeploy_exec_result_success(r)) {
		rc = mdeploy__error_set(MDEPLOY_EINVALID, CLS, "'%s -r' %s", argv[0], mdeploy_exec_result_describe(r));
		mdeploy_exec_result_free(r);
		return rc;
	}
	*out = json_loads(mdeploy_exec_result_stdout(r, NULL), 0, &je);
	mdeploy_exec_result_free(r);
	if (!*out || !json_is_object(*out))
		return mdeploy__error_set(MDEPLOY_EINVALID, CLS, "%s did not describe itself: %s", argv[0], je.text);
	return 0;
}

/* "8.2.29" vs "8.1.0": <0, 0, >0 on the dotted numbers. */
static int ver_cmp(const char *a, const char *b)
{
	while (*a || *b) {
		long x = strtol(a, (char **)&a, 10), y = strtol(b, (char **)&b, 10);
		if (x != y)
			return x < y ? -1 : 1;
		while (*a && *a != '.')
			a++;
		while (*b && *b != '.')
			b++;
		if (*a)
			a++;
		if (*b)
			b++;
	}
	return 0;
}

/* PHP's ini size ("96M", "1G", "-1"): bytes, -1 for no limit. */
static long long ini_size(const char *s)
{
	char *end;
	long long v = strtoll(s, &end, 10);
	if (v < 0)
		return -1;
	switch (toupper((unsigned char)*end)) {
	case 'G': v *= 1024; /* fall through */
	case 'M': v *= 1024; /* fall through */
	case 'K': v *= 1024; break;
	default: break;
	}
	return v;
}

static int ini_bool(const char *s)
{
	return !strcmp(s, "1") || !strcasecmp(s, "on") || !strcasecmp(s, "yes") || !strcasecmp(s, "true");
}

/* The value of attribute `name` in the tag text [tag, end): copied to out. */
static int attr(const char *tag, const char *end, const char *name, char *out, size_t n)
{
	size_t ln = strlen(name);
	const char *p = tag;
	while ((p = strstr(p, name)) && p < end) {
		if ((p == tag || isspace((unsigned char)p[-1])) && p[ln] == '=' && p[ln + 1] == '"') {
			const char *v = p + ln + 2, *q = memchr(v, '"', (size_t)(end - v));
			if (!q)
				return 0;
			snprintf(out, n, "%.*s", (int)(q - v), v);
			return 1;
		}
		p += ln;
	}
	return 0;
}

struct ctx {
	mdeploy_php_requirement_cb cb;
	void *payload;
	json_t *facts;
	char source[160];
	int rc;
};

static void report(struct ctx *c, const char *kind, const char *name, const char *want, const char *have,
                   int required, int ok, const char *source)
{
	mdeploy_php_requirement r;
	if (c->rc)
		return;
	r.kind = kind;
	r.name = name;
	r.want = want;
	r.have = have;
	r.required = required;
	r.ok = ok;
	r.source = source;
	if (c->cb(&r, c->payload))
		c->rc = mdeploy__error_set(MDEPLOY_EUSER, CLS, "stopped by the callback");
}

static int has_ext(struct ctx *c, const char *name)
{
	json_t *v;
	size_t i;
	char low[64];
	for (i = 0; name[i] && i + 1 < sizeof(low); i++)
		low[i] = (char)tolower((unsigned char)name[i]);
	low[i] = '\0';
	json_array_foreach(json_object_get(c->facts, "extensions"), i, v)
		if (json_is_string(v) && !strcmp(json_string_value(v), low))
			return 1;
	return 0;
}

static const char *ini(struct ctx *c, const char *name)
{
	json_t *v = json_object_get(json_object_get(c->facts, "ini"), name);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static void check_max_input_vars(struct ctx *c, const char *source)
{
	const char *v = ini(c, "max_input_vars");
	char have[32];
	snprintf(have, sizeof(have), "%s", v ? v : "unset");
	report(c, "setting", "max_input_vars", ">= 5000", have, 1, v && atol(v) >= 5000, source);
}

/* The checks of one <MOODLE version="..."> block [b, e). */
static void check_block(struct ctx *c, const char *b, const char *e)
{
	const char *p, *te;
	char name[96], value[64], level[16], want[96], have[96];
	const char *php = json_string_value(json_object_get(c->facts, "version"));

	php = php ? php : "";
	for (p = b; (p = strstr(p, "<PHP")) && p < e; p = te) {
		if (!(te = memchr(p, '>', (size_t)(e - p))))
			break;
		level[0] = '\0';
		attr(p, te, "level", level, sizeof(level));
		if (!strncmp(p, "<PHP ", 5) && attr(p, te, "version", value, sizeof(value))) {
			/* An upper bound, by Moodle's naming: restrict_php_version_84 refuses 8.4 and later. */
			const char *r = strstr(te, "<RESTRICT"), *close = strstr(te, "</PHP>");
			char fn[64] = "", limit[16] = "";
			if (r && close && r < close && r < e) {
				const char *re = memchr(r, '>', (size_t)(e - r));
				if (re && attr(r, re, "function", fn, sizeof(fn)) && !strncmp(fn, "restrict_php_version_", 21) &&
				    strlen(fn + 21) >= 2 && isdigit((unsigned char)fn[21]) && isdigit((unsigned char)fn[22]))
					snprintf(limit, sizeof(limit), "%c.%.8s", fn[21], fn + 22);
			}
			if (limit[0])
				snprintf(want, sizeof(want), ">= %s, < %s", value, limit);
			else
				snprintf(want, sizeof(want), ">= %s", value);
			report(c, "php", "version", want, php, strcmp(level, "optional") != 0,
			       ver_cmp(php, value) >= 0 && (!limit[0] || ver_cmp(php, limit) < 0), c->source);
		} else if (!strncmp(p, "<PHP_EXTENSION ", 15) && attr(p, te, "name", name, sizeof(name))) {
			int ok = has_ext(c, name);
			report(c, "extension", name, "loaded", ok ? "loaded" : "missing", strcmp(level, "optional") != 0, ok,
			       c->source);
		} else if (!strncmp(p, "<PHP_SETTING ", 13) && attr(p, te, "name", name, sizeof(name)) &&
		           attr(p, te, "value", value, sizeof(value))) {
			const char *v = ini(c, name);
			int ok;
			if (!v) {
				ok = 0;
				snprintf(have, sizeof(have), "unset");
			} else {
				snprintf(have, sizeof(have), "%s", v);
			}
			if (strspn(value, "0123456789") != strlen(value) || !strcmp(name, "memory_limit")) {
				long long w = ini_size(value), h = v ? ini_size(v) : 0;
				ok = v && (h < 0 || h >= w);
				snprintf(want, sizeof(want), ">= %s", value);
			} else {
				ok = v && ini_bool(v) == ini_bool(value);
				snprintf(want, sizeof(want), "%s", ini_bool(value) ? "on" : "off");
			}
			report(c, "setting", name, want, have, strcmp(level, "optional") != 0, ok, c->source);
		}
	}
}

/* Read version.php and environment.xml of a tree or bundle. */
static int read_release(const char *path, char **version_php, char **env_xml, char *layout, size_t nl)
{
	static const char *const vp[] = { "public/version.php", "version.php" };
	static const char *const ep[] = { "public/admin/environment.xml", "admin/environment.xml" };
	size_t i, len;
	int rc;

	*version_php = *env_xml = NULL;
	if (mdeploy__is_dir(path)) {
		for (i = 0; i < 2 && !*version_php; i++) {
			char *f = mdeploy__sprintf("%s/%s", path, vp[i]), *g = mdeploy__sprintf("%s/%s", path, ep[i]);
			if (f && g && mdeploy__path_exists(f)) {
				snprintf(layout, nl, "%s", i == 0 ? "public/" : "");
				if ((rc = mdeploy__file_read(version_php, &len, f)) == 0)
					rc = mdeploy__file_read(env_xml, &len, g);
				free(f);
				free(g);
				return rc;
			}
			free(f);
			free(g);
		}
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS, "%s: no version.php: not a Moodle tree", path);
	}
	{
		struct archive *a = archive_read_new();
		struct archive_entry *e;
		int r;
		if (!a)
			return mdeploy__error_oom();
		archive_read_support_filter_all(a);
		archive_read_support_format_all(a);
		if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK) {
			rc = mdeploy__error_set(MDEPLOY_EINVALID, CLS, "'%s' is neither a Moodle tree nor a readable bundle: %s",
			                        path, archive_error_string(a));
			archive_read_free(a);
			return rc;
		}
		rc = 0;
		while (!rc && (!*version_php || !*env_xml) &&
		       ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN)) {
			const char *n = archive_entry_pathname(e);
			char **dst = NULL;
			while (n && n[0] == '.' && n[1] == '/')
				n += 2;
			if (!n || archive_entry_filetype(e) != AE_IFREG)
				continue;
			for (i = 0; i < 2; i++) {
				if (!strcmp(n, vp[i])) {
					dst = version_php;
					snprintf(layout, nl, "%s", i == 0 ? "public/" : "");
				} else if (!strcmp(n, ep[i])) {
					dst = env_xml;
				}
			}
			if (dst && !*dst) {
				mdeploy__buf b = MDEPLOY__BUF_INIT;
				char chunk[16384];
				la_ssize_t got;
				while ((got = archive_read_data(a, chunk, sizeof(chunk))) > 0 && b.size < FILE_MAX)
					if ((rc = mdeploy__buf_put(&b, chunk, (size_t)got)))
						break;
				if (!rc && got < 0)
					rc = mdeploy__error_set(MDEPLOY_EINVALID, CLS, "%s!%s: %s", path, n, archive_error_string(a));
				if (!rc && mdeploy__buf_puts(&b, "") == 0)
					*dst = mdeploy__buf_detach(&b);
				mdeploy__buf_dispose(&b);
			}
		}
		archive_read_free(a);
		if (!rc && !*version_php)
			rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS, "%s: the bundle has no version.php: not a Moodle release", path);
		return rc;
	}
}

/* "4.5" from $release = '4.5.5+ (Build: 20250613)'; 0 when it cannot be read. */
static int release_branch(const char *php, char *out, size_t n)
{
	const char *p = php;
	while ((p = strstr(p, "$release"))) {
		const char *q = p + 8;
		while (*q == ' ' || *q == '\t')
			q++;
		if (*q == '=') {
			q++;
			while (*q == ' ' || *q == '\t')
				q++;
			if ((*q == '\'' || *q == '"') && isdigit((unsigned char)q[1])) {
				long major, minor;
				char *end;
				major = strtol(q + 1, &end, 10);
				if (*end == '.' && isdigit((unsigned char)end[1])) {
					minor = strtol(end + 1, NULL, 10);
					snprintf(out, n, "%ld.%ld", major, minor);
					return 1;
				}
			}
		}
		p += 8;
	}
	return 0;
}

int mdeploy_moodle_php_check(mdeploy_ctx *ctx, const char *php, const char *release, mdeploy_php_requirement_cb cb,
                             void *payload)
{
	struct ctx c;
	char *vphp = NULL, *xml = NULL, branch[32], layout[16] = "", tag[64];
	const char *b, *e;
	int rc;

	(void)ctx;
	if (!cb)
		return mdeploy__error_set(MDEPLOY_EINVALID, CLS, "a callback is required");
	memset(&c, 0, sizeof(c));
	c.cb = cb;
	c.payload = payload;
	if (release && (rc = read_release(release, &vphp, &xml, layout, sizeof(layout))))
		return rc;
	if ((rc = php_facts(php, &c.facts)))
		goto out;
	check_max_input_vars(&c, "Moodle's installer (check_max_input_vars: required with PHP 8)");
	if (!release) {
		int pg = has_ext(&c, "pgsql"), my = has_ext(&c, "mysqli");
		report(&c, "extension", "pgsql or mysqli", "loaded", pg ? "pgsql" : my ? "mysqli" : "missing", 1, pg || my,
		       "a database driver (give a tree or bundle to check what its release requires)");
		rc = c.rc;
		goto out;
	}
	if (!release_branch(vphp, branch, sizeof(branch))) {
		rc = mdeploy__error_set(MDEPLOY_EINVALID, CLS, "%s: %sversion.php: no $release = 'X.Y...' to tell the Moodle "
		                        "version by", release, layout);
		goto out;
	}
	if (!xml) {
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS, "%s: no %sadmin/environment.xml", release, layout);
		goto out;
	}
	snprintf(tag, sizeof(tag), "<MOODLE version=\"%s\"", branch);
	if (!(b = strstr(xml, tag)) || !(e = strstr(b, "</MOODLE>"))) {
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS, "%s: %sadmin/environment.xml has no <MOODLE version=\"%s\"> "
		                        "for its release", release, layout, branch);
		goto out;
	}
	snprintf(c.source, sizeof(c.source), "%sadmin/environment.xml (Moodle %s)", layout, branch);
	check_block(&c, b, e);
	rc = c.rc;
out:
	json_decref(c.facts);
	free(vphp);
	free(xml);
	return rc;
}
