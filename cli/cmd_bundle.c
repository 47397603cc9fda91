/* cmd_bundle.c - mdeploy bundle create|verify|inspect|diff|extract. */
#include "config.h"
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

enum {
	O_FORMAT = CLI_OPT_CMD, O_SIGN, O_BUILD_ID, O_BUILDER, O_TIME, O_SOURCE_JSON, O_NO_APPSPEC,
	O_TRUSTED, O_REQUIRE_MANIFEST, O_KEEP_MANIFEST, O_MAX_ENTRIES, O_MAX_SIZE, O_FILES, O_LEVEL, O_GIT, O_REV, O_RELEASE,
	O_OVERLAY
};

#define MAX_KEYS 16

struct bopts {
	mdeploy_bundle_create_options create;
	const char *keys[MAX_KEYS + 1];
	size_t nkeys;
	int require_manifest, keep_manifest;
	uint64_t max_entries, max_size;
	const char *source_json_file;
	int files;
	int time_given;
	const char *git, *rev, *release, *overlay;
};

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-')
		return -1;
	*out = (uint64_t)v;
	return 0;
}

static int bundle_opt(int c, const char *arg, void *data)
{
	struct bopts *o = data;
	uint64_t v;
	switch (c) {
	case O_FORMAT:
		if (mdeploy_bundle_format_parse(&o->create.format, arg) != 0)
			return cli_usage_error("bundle", "'%s' is not a bundle format (tar.zst, tgz, tar, zip)", arg);
		return 0;
	case O_SIGN: o->create.signing_key = arg; return 0;
	case O_BUILD_ID: o->create.build_id = arg; return 0;
	case O_BUILDER: o->create.builder = arg; return 0;
	case O_TIME:
		o->time_given = 1;
		if (!strcmp(arg, "now")) {
			o->create.build_time = (int64_t)time(NULL);
			return 0;
		}
		if (parse_u64(arg, &v) || v == 0)
			return cli_usage_error("bundle", "--time wants seconds since the epoch or 'now', not '%s'", arg);
		o->create.build_time = (int64_t)v;
		return 0;
	case O_LEVEL:
		if (parse_u64(arg, &v) || v < 1 || v > 22)
			return cli_usage_error("bundle", "--level wants 1 to 22, not '%s'", arg);
		o->create.level = (int)v;
		return 0;
	case O_SOURCE_JSON: o->source_json_file = arg; return 0;
	case O_NO_APPSPEC: o->create.skip_appspec_check = 1; return 0;
	case O_TRUSTED:
		if (o->nkeys == MAX_KEYS)
			return cli_usage_error("bundle", "at most %d --trusted-key options", MAX_KEYS);
		o->keys[o->nkeys++] = arg;
		return 0;
	case O_REQUIRE_MANIFEST: o->require_manifest = 1; return 0;
	case O_KEEP_MANIFEST: o->keep_manifest = 1; return 0;
	case O_MAX_ENTRIES:
		if (parse_u64(arg, &o->max_entries) || !o->max_entries)
			return cli_usage_error("bundle", "--max-entries wants a positive number");
		return 0;
	case O_MAX_SIZE:
		if (parse_u64(arg, &o->max_size) || !o->max_size)
			return cli_usage_error("bundle", "--max-size wants a positive number of bytes");
		return 0;
	case O_FILES: o->files = 1; return 0;
	case O_GIT: o->git = arg; return 0;
	case O_REV: o->rev = arg; return 0;
	case O_RELEASE: o->release = arg; return 0;
	case O_OVERLAY: o->overlay = arg; return 0;
	default: return cli_usage_error("bundle", "unknown option");
	}
}

static int read_text_file(const char *path, char **out)
{
	FILE *f = fopen(path, "r");
	long n;
	*out = NULL;
	if (!f)
		return cli_error("cannot open '%s': %s", path, strerror(errno));
	if (fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0 ||
	    !(*out = calloc(1, (size_t)n + 1)) || fread(*out, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		free(*out);
		*out = NULL;
		return cli_error("cannot read '%s'", path);
	}
	fclose(f);
	return 0;
}

static const char *type_name(mdeploy_bundle_entry_type t)
{
	return t == MDEPLOY_BUNDLE_ENTRY_DIR ? "dir" : t == MDEPLOY_BUNDLE_ENTRY_SYMLINK ? "symlink" : "file";
}

static json_t *entry_json(const mdeploy_bundle_entry *e)
{
	char mode[8];
	json_t *o;
	snprintf(mode, sizeof(mode), "%04o", e->mode);
	o = json_pack("{s:s, s:s}", "type", type_name(e->type), "mode", mode);
	cli_json_set_name(o, "path", e->path);
	if (e->type == MDEPLOY_BUNDLE_ENTRY_FILE) {
		json_object_set_new(o, "size", json_integer((json_int_t)e->size));
		if (e->sha256)
			json_object_set_new(o, "sha256", json_string(e->sha256));
	}
	cli_json_set_name(o, "target", e->target);
	return o;
}

static int do_create(struct bopts *o, const char *dir, const char *out)
{
	char *source = NULL, id[17] = "";
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	mdeploy_bundle_format fmt;
	struct stat st;
	int rc;

	if (!o->time_given && sde && *sde) {
		uint64_t v;
		if (parse_u64(sde, &v))
			return cli_error("SOURCE_DATE_EPOCH is not a number of seconds: '%s'", sde);
		o->create.build_time = (int64_t)v;
	}
	if (o->source_json_file && (rc = read_text_file(o->source_json_file, &source)) != 0)
		return rc;
	o->create.source_json = source;
	o->create.progress_cb = cli_progress;
	if (o->git || o->release) {
		/* Straight from the source stage's objects: no tree on disk. */
		mdeploy_release *rel = NULL;
		mdeploy_ctx *ctx = NULL;
		if (o->git)
			rc = mdeploy_release_open_rev(&rel, o->git, o->rev ? o->rev : "HEAD");
		else if ((rc = cli_ctx_open(&ctx)) == 0)
			rc = mdeploy_release_open_file(&rel, ctx, o->release);
		else
			rc = -1;
		if (!rc)
			rc = mdeploy_bundle_create_from_release(out, rel, o->overlay, &o->create);
		mdeploy_release_free(rel);
		mdeploy_ctx_free(ctx);
	} else {
		rc = mdeploy_bundle_create(out, dir, &o->create);
	}
	cli_progress_end();
	free(source);
	/* The library has checked the signing key is a private key. */
	if (!rc && o->create.signing_key)
		rc = mdeploy_key_id(id, o->create.signing_key);
	if (rc)
		return cli_lib_error(NULL);
	/* Reading the bundle back for its entry count would cost as much as
	 * writing it: report what we know. */
	fmt = o->create.format ? o->create.format : mdeploy_bundle_format_from_path(out);
	if (!fmt)
		fmt = MDEPLOY_BUNDLE_FORMAT_TAR_ZST;
	if (stat(out, &st) < 0)
		st.st_size = 0;
	if (cli.json)
		return cli_json_print(json_pack("{s:s, s:s, s:I, s:s?}", "bundle", out, "format", mdeploy_bundle_format_name(fmt),
		                                "size", (json_int_t)st.st_size, "key_id", *id ? id : NULL));
	printf("%s: %s bundle, %lld bytes%s%s\n", out, mdeploy_bundle_format_name(fmt), (long long)st.st_size,
	       *id ? ", signed by key " : "", id);
	return CLI_EXIT_OK;
}

static int do_verify(struct bopts *o, const char *path)
{
	mdeploy_bundle_verify_options vo = MDEPLOY_BUNDLE_VERIFY_OPTIONS_INIT;
	int rc;
	vo.trusted_keys = o->nkeys ? o->keys : NULL;
	vo.progress_cb = cli_progress;
	rc = mdeploy_bundle_verify(path, &vo);
	cli_progress_end();
	if (rc) {
		if (cli.json) {
			const mdeploy_error *e = mdeploy_error_last();
			cli_json_print(json_pack("{s:s, s:b, s:s, s:s}", "bundle", path, "valid", 0, "error", e->message,
			                         "code", mdeploy_strerror(e->code)));
		}
		return cli_lib_error(NULL);
	}
	if (cli.json)
		return cli_json_print(json_pack("{s:s, s:b, s:b}", "bundle", path, "valid", 1, "signature_checked", o->nkeys > 0));
	printf("%s: OK (every file matches the manifest%s)\n", path,
	       o->nkeys ? "; signed by a trusted key" : "; signature not checked: no --trusted-key");
	return CLI_EXIT_OK;
}

static int do_inspect(struct bopts *o, const char *path)
{
	mdeploy_bundle *b = NULL;
	size_t i, n;
	int rc = CLI_EXIT_OK;

	if (mdeploy_bundle_open(&b, path) != 0)
		return cli_lib_error(NULL);
	n = mdeploy_bundle_entry_count(b);
	if (cli.json) {
		json_t *doc = json_object(), *entries = json_array(), *src = NULL;
		json_object_set_new(doc, "bundle", json_string(path));
		json_object_set_new(doc, "format", json_string(mdeploy_bundle_format_name(mdeploy_bundle_get_format(b))));
		json_object_set_new(doc, "manifest", json_boolean(mdeploy_bundle_has_manifest(b)));
		json_object_set_new(doc, "entries", json_integer((json_int_t)n));
		json_object_set_new(doc, "content_size", json_integer((json_int_t)mdeploy_bundle_content_size(b)));
		if (mdeploy_bundle_build_id(b))
			json_object_set_new(doc, "build_id", json_string(mdeploy_bundle_build_id(b)));
		if (mdeploy_bundle_builder(b))
			json_object_set_new(doc, "builder", json_string(mdeploy_bundle_builder(b)));
		if (mdeploy_bundle_build_time(b))
			json_object_set_new(doc, "build_time", json_integer((json_int_t)mdeploy_bundle_build_time(b)));
		if (mdeploy_bundle_key_id(b))
			json_object_set_new(doc, "key_id", json_string(mdeploy_bundle_key_id(b)));
		if (mdeploy_bundle_source_json(b) && (src = json_loads(mdeploy_bundle_source_json(b), 0, NULL)))
			json_object_set_new(doc, "source", src);
		if (o->files) {
			for (i = 0; i < n; i++)
				json_array_append_new(entries, entry_json(mdeploy_bundle_entry_byindex(b, i)));
			json_object_set_new(doc, "files", entries);
		} else {
			json_decref(entries);
		}
		rc = cli_json_print(doc);
	} else {
		printf("bundle:    %s\n", path);
		printf("format:    %s\n", mdeploy_bundle_format_name(mdeploy_bundle_get_format(b)));
		printf("manifest:  %s\n", mdeploy_bundle_has_manifest(b) ? "yes" : "no (a plain archive)");
		printf("entries:   %zu (%llu bytes of content)\n", n, (unsigned long long)mdeploy_bundle_content_size(b));
		if (mdeploy_bundle_build_id(b))
			printf("build id:  %s\n", mdeploy_bundle_build_id(b));
		if (mdeploy_bundle_build_time(b)) {
			char t[32];
			time_t tt = (time_t)mdeploy_bundle_build_time(b);
			struct tm tm;
			gmtime_r(&tt, &tm);
			strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", &tm);
			printf("built:     %s\n", t);
		}
		if (mdeploy_bundle_builder(b))
			printf("builder:   %s\n", mdeploy_bundle_builder(b));
		printf("signed:    %s\n", mdeploy_bundle_key_id(b) ? mdeploy_bundle_key_id(b) : "no");
		if (mdeploy_bundle_source_json(b))
			printf("source:    %s\n", mdeploy_bundle_source_json(b));
		for (i = 0; o->files && i < n; i++) {
			const mdeploy_bundle_entry *e = mdeploy_bundle_entry_byindex(b, i);
			printf("%04o %-7s %10llu %s%s%s\n", e->mode, type_name(e->type), (unsigned long long)e->size, e->path,
			       e->target ? " -> " : "", e->target ? e->target : "");
		}
	}
	mdeploy_bundle_free(b);
	return rc;
}

static int diff_cb(char status, const mdeploy_bundle_entry *old, const mdeploy_bundle_entry *new_, void *payload)
{
	json_t *list = payload;
	const char *path = new_ ? new_->path : old->path;
	if (list) {
		char s[2] = { status, 0 };
		json_t *o = json_pack("{s:s}", "status", s);
		cli_json_set_name(o, "path", path);
		if (old)
			json_object_set_new(o, "old", entry_json(old));
		if (new_)
			json_object_set_new(o, "new", entry_json(new_));
		json_array_append_new(list, o);
	} else {
		printf("%c %s\n", status, path);
	}
	return 0;
}

static int do_diff(const char *a, const char *bpath)
{
	mdeploy_bundle *from = NULL, *to = NULL;
	json_t *list = cli.json ? json_array() : NULL;
	int rc;
	if (mdeploy_bundle_open(&from, a) != 0 || mdeploy_bundle_open(&to, bpath) != 0) {
		mdeploy_bundle_free(from);
		json_decref(list);
		return cli_lib_error(NULL);
	}
	rc = mdeploy_bundle_diff(from, to, diff_cb, list);
	mdeploy_bundle_free(from);
	mdeploy_bundle_free(to);
	if (rc) {
		json_decref(list);
		return cli_lib_error(NULL);
	}
	if (list)
		return cli_json_print(json_pack("{s:s, s:s, s:o}", "from", a, "to", bpath, "changes", list));
	return CLI_EXIT_OK;
}

static int do_extract(struct bopts *o, const char *path, const char *dest)
{
	mdeploy_bundle_extract_options xo = MDEPLOY_BUNDLE_EXTRACT_OPTIONS_INIT;
	int rc;
	xo.trusted_keys = o->nkeys ? o->keys : NULL;
	xo.require_manifest = o->require_manifest;
	xo.keep_manifest = o->keep_manifest;
	xo.max_entries = o->max_entries;
	xo.max_total_size = o->max_size;
	xo.progress_cb = cli_progress;
	rc = mdeploy_bundle_extract(path, dest, &xo);
	cli_progress_end();
	if (rc)
		return cli_lib_error(NULL);
	if (cli.json)
		return cli_json_print(json_pack("{s:s, s:s}", "bundle", path, "extracted_to", dest));
	printf("%s: extracted to %s\n", path, dest);
	return CLI_EXIT_OK;
}

int cmd_bundle(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, O_FORMAT },
		{ "sign", required_argument, NULL, O_SIGN },
		{ "build-id", required_argument, NULL, O_BUILD_ID },
		{ "builder", required_argument, NULL, O_BUILDER },
		{ "time", required_argument, NULL, O_TIME },
		{ "level", required_argument, NULL, O_LEVEL },
		{ "source-json", required_argument, NULL, O_SOURCE_JSON },
		{ "no-appspec-check", no_argument, NULL, O_NO_APPSPEC },
		{ "trusted-key", required_argument, NULL, O_TRUSTED },
		{ "require-manifest", no_argument, NULL, O_REQUIRE_MANIFEST },
		{ "keep-manifest", no_argument, NULL, O_KEEP_MANIFEST },
		{ "max-entries", required_argument, NULL, O_MAX_ENTRIES },
		{ "max-size", required_argument, NULL, O_MAX_SIZE },
		{ "files", no_argument, NULL, O_FILES },
		{ "git", required_argument, NULL, O_GIT },
		{ "rev", required_argument, NULL, O_REV },
		{ "release", required_argument, NULL, O_RELEASE },
		{ "overlay", required_argument, NULL, O_OVERLAY },
		{ NULL, 0, NULL, 0 }
	};
	struct bopts o;
	const char *sub;
	int rc, nargs;
	mdeploy_bundle_create_options d = MDEPLOY_BUNDLE_CREATE_OPTIONS_INIT;

	memset(&o, 0, sizeof(o));
	o.create = d;
	if ((rc = cli_parse(argc, argv, "bundle", "", longopts, bundle_opt, &o)) >= 0)
		return rc;
	if (optind >= argc)
		return cli_usage_error("bundle", "missing subcommand");
	sub = argv[optind];
	nargs = argc - optind - 1;
	argv += optind + 1;
	/* An interrupted create or extract removes its temporary file or tree. */
	if (!strcmp(sub, "create") || !strcmp(sub, "extract") || !strcmp(sub, "verify"))
		cli_interruptible();
	if (!strcmp(sub, "create")) {
		if (o.git && o.release)
			return cli_usage_error("bundle", "--git and --release exclude each other");
		if ((o.rev || o.overlay) && !o.git && !o.release)
			return cli_usage_error("bundle", "--rev and --overlay go with --git or --release");
		if (o.git || o.release) {
			if (nargs != 1)
				return cli_usage_error("bundle", nargs < 1 ? "create needs BUNDLE" : "too many arguments");
			return cli_interrupt_end(do_create(&o, NULL, argv[0]));
		}
		if (nargs != 2)
			return cli_usage_error("bundle", nargs < 2 ? "create needs DIR and BUNDLE" : "too many arguments");
		return cli_interrupt_end(do_create(&o, argv[0], argv[1]));
	}
	if (!strcmp(sub, "verify") || !strcmp(sub, "inspect")) {
		if (nargs != 1)
			return cli_usage_error("bundle", nargs < 1 ? "%s needs BUNDLE" : "too many arguments", sub);
		return !strcmp(sub, "verify") ? cli_interrupt_end(do_verify(&o, argv[0])) : do_inspect(&o, argv[0]);
	}
	if (!strcmp(sub, "diff")) {
		if (nargs != 2)
			return cli_usage_error("bundle", nargs < 2 ? "diff needs two bundles" : "too many arguments");
		return do_diff(argv[0], argv[1]);
	}
	if (!strcmp(sub, "extract")) {
		if (nargs != 2)
			return cli_usage_error("bundle", nargs < 2 ? "extract needs BUNDLE and DIR" : "too many arguments");
		return cli_interrupt_end(do_extract(&o, argv[0], argv[1]));
	}
	return cli_usage_error("bundle", "unknown subcommand '%s'", sub);
}
