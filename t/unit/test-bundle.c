/* Bundles: reproducible creation in every format, open, verify, sign, diff,
 * and safe extraction refusing hostile archives. */
#include "bundle_private.h"
#include "tap.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

static const char *tmp;

static char *P(const char *rel)
{
	static char bufs[64][4096];
	static int i;
	char *b = bufs[i++ & 63];
	snprintf(b, 4096, "%s/%s", tmp, rel);
	return b;
}

static void put(const char *rel, const char *content, mode_t mode)
{
	char *p = P(rel), *s = strrchr(p, '/');
	*s = '\0';
	mdeploy__mkdir_p(p, 0755);
	*s = '/';
	mdeploy__file_write_atomic(p, content, strlen(content), mode);
}

static int same_file(const char *a, const char *b)
{
	char *da, *db;
	size_t la, lb;
	int same;
	if (mdeploy__file_read(&da, &la, a) || mdeploy__file_read(&db, &lb, b))
		return 0;
	same = la == lb && !memcmp(da, db, la);
	free(da);
	free(db);
	return same;
}

/* A hostile tar: entries given as type/name/target. */
struct hostile { mode_t type; const char *name; const char *link; int hard; const char *data; };

static void write_tar(const char *path, const struct hostile *h, size_t n)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	size_t i;
	archive_write_set_format_pax_restricted(a);
	archive_write_open_filename(a, path);
	for (i = 0; i < n; i++) {
		archive_entry_clear(e);
		archive_entry_set_pathname(e, h[i].name);
		archive_entry_set_filetype(e, h[i].type);
		archive_entry_set_perm(e, 0644);
		if (h[i].hard)
			archive_entry_set_hardlink(e, h[i].link);
		else if (h[i].link)
			archive_entry_set_symlink(e, h[i].link);
		if (h[i].data && !h[i].hard)
			archive_entry_set_size(e, (la_int64_t)strlen(h[i].data));
		archive_write_header(a, e);
		if (h[i].data && !h[i].hard)
			archive_write_data(a, h[i].data, strlen(h[i].data));
	}
	archive_write_close(a);
	archive_write_free(a);
	archive_entry_free(e);
}

static int count_diff(char status, const mdeploy_bundle_entry *o, const mdeploy_bundle_entry *n, void *payload)
{
	char *out = payload;
	char line[256];
	snprintf(line, sizeof(line), "%c %s\n", status, o ? o->path : n->path);
	strcat(out, line);
	return 0;
}

static void hostile_case(const char *name, const struct hostile *h, size_t n, const char *expect)
{
	char *bp = P("hostile.tar"), *dest = P("hostile-out");
	int rc;
	unlink(bp);
	write_tar(bp, h, n);
	rc = mdeploy_bundle_extract(bp, dest, NULL);
	is_int(MDEPLOY_EINVALID, rc, "%s: refused", name);
	like(mdeploy_error_last()->message, expect, "%s: error says why", name);
	ok(!mdeploy__path_exists(dest), "%s: nothing left at the destination", name);
}

int main(void)
{
	static const char *fmts[] = { "tar.zst", "tgz", "tar", "zip" };
	mdeploy_bundle_create_options co = MDEPLOY_BUNDLE_CREATE_OPTIONS_INIT;
	mdeploy_bundle_extract_options xo = MDEPLOY_BUNDLE_EXTRACT_OPTIONS_INIT;
	mdeploy_bundle_verify_options vo = MDEPLOY_BUNDLE_VERIFY_OPTIONS_INIT;
	mdeploy_bundle *b = NULL, *b2 = NULL;
	const mdeploy_bundle_entry *e;
	char kid[17], kid2[17], diff[4096] = "", *data, key1[4096];
	size_t i, len;
	struct stat st;
	int rc;

	plan_lazy();
	tmp = test_tmpdir();

	put("src/appspec.yml", "version: 0.0\nos: linux\nfiles:\n  - source: /\n    destination: /var/www\n", 0644);
	put("src/index.php", "<?php echo 'hi';\n", 0644);
	put("src/admin/cli/upgrade.php", "<?php // upgrade\n", 0755);
	put("src/lib/a-b.txt", "sorted before lib/a/\n", 0644);
	put("src/lib/a/x.txt", "x\n", 0600);
	put("src/.git/HEAD", "ref: refs/heads/main\n", 0644);
	mkdir(P("src/emptydir"), 0700);
	symlink("../index.php", P("src/lib/link.php"));

	/* Every format: created, reproducible, opened, verified, extracted. */
	co.build_time = 1764000000;
	co.build_id = "b-1";
	co.builder = "test";
	co.source_json = "{\"commit\":\"abc123\",\"components\":{\"core\":2024100700}}";
	for (i = 0; i < 4; i++) {
		char name[64], name2[64], out[64];
		snprintf(name, sizeof(name), "b1.%s", fmts[i]);
		snprintf(name2, sizeof(name2), "b2.%s", fmts[i]);
		snprintf(out, sizeof(out), "out-%s", fmts[i]);
		co.threads = i == 0 ? 1 : 0;
		is_int(0, mdeploy_bundle_create(P(name), P("src"), &co), "%s: created", fmts[i]);
		co.threads = 2;
		is_int(0, mdeploy_bundle_create(P(name2), P("src"), &co), "%s: created again", fmts[i]);
		ok(same_file(P(name), P(name2)), "%s: byte-identical (threads 1 vs 2 for zstd)", fmts[i]);
		rc = mdeploy_bundle_open(&b, P(name));
		is_int(0, rc, "%s: opens", fmts[i]);
		if (rc) {
			diag("%s", mdeploy_error_last()->message);
			continue;
		}
		is_str(fmts[i], mdeploy_bundle_format_name(mdeploy_bundle_get_format(b)), "%s: format detected", fmts[i]);
		ok(mdeploy_bundle_has_manifest(b), "%s: has a manifest", fmts[i]);
		ok(mdeploy_bundle_entry_bypath(b, ".git/HEAD") == NULL, "%s: .git left out", fmts[i]);
		e = mdeploy_bundle_entry_bypath(b, "admin/cli/upgrade.php");
		ok(e && e->mode == 0755 && e->size == 17, "%s: executable kept as 0755", fmts[i]);
		e = mdeploy_bundle_entry_bypath(b, "lib/a/x.txt");
		ok(e && e->mode == 0644, "%s: modes normalised", fmts[i]);
		e = mdeploy_bundle_entry_bypath(b, "lib/link.php");
		ok(e && e->type == MDEPLOY_BUNDLE_ENTRY_SYMLINK && !strcmp(e->target, "../index.php"), "%s: symlink", fmts[i]);
		e = mdeploy_bundle_entry_bypath(b, "emptydir");
		ok(e && e->type == MDEPLOY_BUNDLE_ENTRY_DIR, "%s: empty directory kept", fmts[i]);
		is_str("b-1", mdeploy_bundle_build_id(b), "%s: build id", fmts[i]);
		is_int(1764000000, mdeploy_bundle_build_time(b), "%s: build time", fmts[i]);
		like(mdeploy_bundle_source_json(b) ? mdeploy_bundle_source_json(b) : "", "\"commit\":\"abc123\"", "%s: source info", fmts[i]);
		mdeploy_bundle_free(b);
		b = NULL;
		rc = mdeploy_bundle_verify(P(name), NULL);
		is_int(0, rc, "%s: verifies", fmts[i]);
		if (rc)
			diag("%s", mdeploy_error_last()->message);
		rc = mdeploy_bundle_extract(P(name), P(out), NULL);
		is_int(0, rc, "%s: extracts", fmts[i]);
		if (rc)
			diag("%s", mdeploy_error_last()->message);
		{
			char a[256], c[256];
			snprintf(a, sizeof(a), "%s/admin/cli/upgrade.php", out);
			snprintf(c, sizeof(c), "src/admin/cli/upgrade.php");
			ok(same_file(P(a), P(c)), "%s: content extracted", fmts[i]);
			ok(stat(P(a), &st) == 0 && (st.st_mode & 0777) == 0755 && st.st_mtime == 1764000000,
			   "%s: mode and mtime applied", fmts[i]);
			snprintf(a, sizeof(a), "%s/lib/link.php", out);
			ok(lstat(P(a), &st) == 0 && S_ISLNK(st.st_mode), "%s: symlink extracted", fmts[i]);
			snprintf(a, sizeof(a), "%s/.mdeploy", out);
			ok(!mdeploy__path_exists(P(a)), "%s: the tree holds the application only, no .mdeploy/", fmts[i]);
		}
		{
			/* keep_manifest: what the agent asks for in a release. */
			mdeploy_bundle_extract_options ko = MDEPLOY_BUNDLE_EXTRACT_OPTIONS_INIT;
			char kept[128], a[256];
			ko.keep_manifest = 1;
			snprintf(kept, sizeof(kept), "%.100s-kept", out);
			is_int(0, mdeploy_bundle_extract(P(name), P(kept), &ko), "%s: extracts with keep_manifest", fmts[i]);
			snprintf(a, sizeof(a), "%s/.mdeploy/manifest.json", kept);
			ok(mdeploy__path_exists(P(a)), "%s: keep_manifest writes .mdeploy/manifest.json", fmts[i]);
		}
	}

	/* Reproducible from a different umask and different file times. */
	utimes(P("src/index.php"), NULL);
	is_int(0, mdeploy_bundle_create(P("b3.tar.zst"), P("src"), &co), "recreated after touching files");
	ok(same_file(P("b1.tar.zst"), P("b3.tar.zst")), "file times do not change the bundle");

	/* appspec checks. */
	put("noapp/index.php", "x", 0644);
	is_int(MDEPLOY_EINVALID, mdeploy_bundle_create(P("x.tar.zst"), P("noapp"), NULL), "no appspec.yml: refused");
	like(mdeploy_error_last()->message, "no appspec.yml", "error names appspec.yml");
	put("badapp/appspec.yml", "version: 0.0\nos: [linux\n", 0644);
	is_int(MDEPLOY_EINVALID, mdeploy_bundle_create(P("x.tar.zst"), P("badapp"), NULL), "broken appspec: refused");
	like(mdeploy_error_last()->message, "appspec.yml:", "error has file:line:col");
	put("badapp2/appspec.yml", "version: 0.0\nfiles: []\n", 0644);
	is_int(MDEPLOY_EINVALID, mdeploy_bundle_create(P("x.tar.zst"), P("badapp2"), NULL), "appspec without os: refused");
	like(mdeploy_error_last()->message, "missing os", "error names the key");
	put("nohook/appspec.yml", "version: 0.0\nos: linux\nhooks:\n  AfterInstall:\n    - location: scripts/after.sh\n", 0644);
	is_int(MDEPLOY_EINVALID, mdeploy_bundle_create(P("x.tar.zst"), P("nohook"), NULL), "missing hook script: refused");
	like(mdeploy_error_last()->message, "appspec.yml:5: hooks.AfterInstall[0].location: script 'scripts/after.sh' is not in the bundle", "error names the hook");
	put("nohook/scripts/after.sh", "#!/bin/sh\n", 0755);
	is_int(0, mdeploy_bundle_create(P("x.tar.zst"), P("nohook"), NULL), "with the script: fine");
	unlink(P("x.tar.zst"));
	ok(!mdeploy__path_exists(P("x.tar.zst")), "nothing written on failure");

	/* Escaping symlinks are refused when bundling. */
	put("esc/appspec.yml", "version: 0.0\nos: linux\n", 0644);
	symlink("../../etc/passwd", P("esc/pw"));
	is_int(MDEPLOY_EINVALID, mdeploy_bundle_create(P("x.tar.zst"), P("esc"), NULL), "escaping symlink: not bundled");
	like(mdeploy_error_last()->message, "points outside the tree", "error says so");
	is_int(MDEPLOY_EINVALID, mdeploy_bundle_create(P("x.tgz"), P("esc"), NULL), "the same for tgz (deflate thread stopped)");
	ok(!mdeploy__path_exists(P("x.tgz")), "nothing written");

	/* Signatures. */
	is_int(0, mdeploy_key_generate(P("k1"), P("k1.pub"), kid), "key generated");
	ok(stat(P("k1"), &st) == 0 && (st.st_mode & 0777) == 0600, "private key is 0600");
	is_int(MDEPLOY_EEXISTS, mdeploy_key_generate(P("k1"), P("k1b.pub"), NULL), "never overwrites a key");
	is_int(0, mdeploy_key_generate(P("k2"), P("k2.pub"), kid2), "second key generated");
	is_int(0, mdeploy_key_id(kid2, P("k2")), "key id from the private key");
	co.signing_key = strcpy(key1, P("k1"));
	is_int(0, mdeploy_bundle_create(P("signed.tar.zst"), P("src"), &co), "signed bundle created");
	is_int(0, mdeploy_bundle_open(&b, P("signed.tar.zst")), "signed bundle opens");
	is_str(kid, mdeploy_bundle_key_id(b), "signature names the key");
	mdeploy_bundle_free(b);
	b = NULL;
	{
		const char *good[] = { P("k2.pub"), P("k1.pub"), NULL };
		const char *bad[] = { P("k2.pub"), NULL };
		vo.trusted_keys = good;
		is_int(0, mdeploy_bundle_verify(P("signed.tar.zst"), &vo), "verifies with the signer's key among others");
		vo.trusted_keys = bad;
		is_int(MDEPLOY_EVERIFY, mdeploy_bundle_verify(P("signed.tar.zst"), &vo), "wrong key: refused");
		like(mdeploy_error_last()->message, "not trusted", "error says the key is not trusted");
		is_int(MDEPLOY_EVERIFY, mdeploy_bundle_verify(P("b1.tar.zst"), &vo), "unsigned bundle with trusted keys: refused");
		xo.trusted_keys = bad;
		is_int(MDEPLOY_EVERIFY, mdeploy_bundle_extract(P("signed.tar.zst"), P("xs"), &xo), "extract with wrong key: refused");
		ok(!mdeploy__path_exists(P("xs")), "nothing extracted");
		xo.trusted_keys = good;
		if (!is_int(0, mdeploy_bundle_extract(P("signed.tar.zst"), P("xs"), &xo), "extract with the right key"))
			diag("%s", mdeploy_error_last()->message);
		xo.trusted_keys = NULL;
		vo.trusted_keys = NULL;
	}

	/* Tampering: one flipped byte in an uncompressed bundle names the file. */
	{
		size_t off;
		char *hit;
		mdeploy__file_read(&data, &len, P("b1.tar"));
		hit = memmem(data, len, "<?php echo 'hi'", 15);
		ok(hit != NULL, "found index.php's content in the tar");
		if (hit) {
			off = (size_t)(hit - data);
			data[off + 6] ^= 1;
			mdeploy__file_write_atomic(P("tampered.tar"), data, len, 0644);
		}
		free(data);
		is_int(MDEPLOY_EVERIFY, mdeploy_bundle_verify(P("tampered.tar"), NULL), "tampered bundle fails to verify");
		like(mdeploy_error_last()->message, "index.php: SHA-256 does not match", "error names the file");
		is_int(MDEPLOY_EVERIFY, mdeploy_bundle_extract(P("tampered.tar"), P("xt"), NULL), "tampered bundle is not extracted");
		ok(!mdeploy__path_exists(P("xt")), "nothing left behind");
	}

	/* Truncated archives. */
	mdeploy__file_read(&data, &len, P("b1.tar.zst"));
	mdeploy__file_write_atomic(P("trunc.tar.zst"), data, len / 2, 0644);
	free(data);
	rc = mdeploy_bundle_verify(P("trunc.tar.zst"), NULL);
	ok(rc == MDEPLOY_EINVALID, "truncated bundle: refused (%d)", rc);
	is_int(MDEPLOY_EINVALID, mdeploy_bundle_extract(P("trunc.tar.zst"), P("xtr"), NULL), "truncated bundle: not extracted");
	ok(!mdeploy__path_exists(P("xtr")), "nothing left behind");

	/* Hostile archives. */
	{
		struct hostile abs[] = { { AE_IFREG, "/etc/evil", NULL, 0, "x" } };
		struct hostile dots[] = { { AE_IFREG, "a/../../evil", NULL, 0, "x" } };
		struct hostile sym[] = { { AE_IFLNK, "l", "../outside", 0, NULL } };
		struct hostile symabs[] = { { AE_IFLNK, "l", "/etc", 0, NULL } };
		struct hostile symdot[] = { { AE_IFLNK, "r", ".", 0, NULL }, { AE_IFLNK, "y", "r/..", 0, NULL } };
		struct hostile through[] = { { AE_IFDIR, "d", NULL, 0, NULL }, { AE_IFLNK, "d/l", ".", 0, NULL },
		                             { AE_IFREG, "d/l/f", NULL, 0, "x" } };
		struct hostile hard[] = { { AE_IFREG, "h", "../../etc/passwd", 1, NULL } };
		struct hostile hard2[] = { { AE_IFREG, "h", "nosuch", 1, NULL } };
		struct hostile fifo[] = { { AE_IFIFO, "p", NULL, 0, NULL } };
		struct hostile dev[] = { { AE_IFCHR, "c", NULL, 0, NULL } };
		struct hostile dup[] = { { AE_IFREG, "f", NULL, 0, "x" }, { AE_IFREG, "f", NULL, 0, "y" } };
		struct hostile okhard[] = { { AE_IFREG, "f", NULL, 0, "x" }, { AE_IFREG, "g", "f", 1, NULL } };
		hostile_case("absolute path", abs, 1, "absolute path refused");
		hostile_case("dot-dot path", dots, 1, "'..' refused");
		hostile_case("escaping symlink", sym, 1, "points outside the tree");
		hostile_case("absolute symlink", symabs, 1, "absolute path");
		hostile_case("symlink chain", symdot, 2, "points outside the tree");
		hostile_case("write through symlink", through, 3, "passes through a symlink");
		hostile_case("escaping hard link", hard, 1, "'..' refused");
		hostile_case("dangling hard link", hard2, 1, "not a file earlier");
		hostile_case("fifo", fifo, 1, "fifo entries are refused");
		hostile_case("device", dev, 1, "character device entries are refused");
		hostile_case("duplicate", dup, 2, "appears twice");
		write_tar(P("okhard.tar"), okhard, 2);
		is_int(0, mdeploy_bundle_extract(P("okhard.tar"), P("okhard-out"), NULL), "hard link inside the tree: fine");
		ok(stat(P("okhard-out/g"), &st) == 0 && st.st_nlink == 2, "hard link made");
		is_int(MDEPLOY_EVERIFY, mdeploy_bundle_verify(P("okhard.tar"), NULL), "a plain archive has no manifest to verify");
		xo.require_manifest = 1;
		is_int(MDEPLOY_EVERIFY, mdeploy_bundle_extract(P("okhard.tar"), P("okhard2"), &xo), "require_manifest refuses it");
		xo.require_manifest = 0;
	}

	/* Bombs. */
	xo.max_entries = 5;
	is_int(MDEPLOY_EINVALID, mdeploy_bundle_extract(P("b1.tar.zst"), P("bomb1"), &xo), "entry-count limit");
	like(mdeploy_error_last()->message, "archive bomb", "error says archive bomb");
	ok(!mdeploy__path_exists(P("bomb1")), "nothing left behind");
	xo.max_entries = 0;
	xo.max_total_size = 20;
	is_int(MDEPLOY_EINVALID, mdeploy_bundle_extract(P("b1.tar.zst"), P("bomb2"), &xo), "expanded-size limit");
	ok(!mdeploy__path_exists(P("bomb2")), "nothing left behind");
	xo.max_total_size = 0;
	is_int(MDEPLOY_EEXISTS, mdeploy_bundle_extract(P("b1.tar.zst"), P("out-tgz"), NULL), "existing destination: refused");
	{
		int leftovers = 0;
		FILE *ls;
		char cmd[4200], line[512];
		snprintf(cmd, sizeof(cmd), "ls -a '%s'", tmp);
		ls = popen(cmd, "r");
		while (ls && fgets(line, sizeof(line), ls))
			if (strstr(line, ".tmp-"))
				leftovers++;
		if (ls)
			pclose(ls);
		is_int(0, leftovers, "no temporary files or directories left anywhere");
	}

	/* Diff. */
	put("src/index.php", "<?php echo 'changed';\n", 0644);
	put("src/new.php", "new\n", 0644);
	unlink(P("src/lib/a-b.txt"));
	if (!is_int(0, mdeploy_bundle_create(P("b4.tar.zst"), P("src"), &co), "changed tree bundled"))
		diag("%s", mdeploy_error_last()->message);
	is_int(0, mdeploy_bundle_open(&b, P("b1.tar.zst")), "open old");
	is_int(0, mdeploy_bundle_open(&b2, P("b4.tar.zst")), "open new");
	is_int(0, mdeploy_bundle_diff(b, b2, count_diff, diff), "diff");
	is_str("M index.php\nD lib/a-b.txt\nA new.php\n", diff, "diff lists changes in path order");
	mdeploy_bundle_free(b);
	mdeploy_bundle_free(b2);

	/* The writer refuses entries out of order. */
	{
		mdeploy_bundle_writer *w;
		co.signing_key = NULL;
		co.skip_appspec_check = 1;
		is_int(0, mdeploy_bundle_writer_new(&w, P("w.tar"), &co), "writer");
		is_int(0, mdeploy_bundle_writer_add_file(w, "b/x", 0, "x", 1), "add b/x");
		is_int(MDEPLOY_EINVALID, mdeploy_bundle_writer_add_file(w, "a", 0, "a", 1), "add a after b/x: refused");
		mdeploy_bundle_writer_free(w);
		ok(!mdeploy__path_exists(P("w.tar")), "freed unfinished writer leaves nothing");
	}
	return done();
}
