/*
 * fuzz-bundle.c - libFuzzer target for reading bundles (archives arrive from
 * the artifact store or the network): open, verify and extract an arbitrary
 * archive. The oracle: nothing may be written outside the extraction
 * directory, whether the extraction failed (then nothing is left at all)
 * or succeeded (then the directory beside it holds only the target, every
 * symlink in the tree resolves inside it - checked here lexically, not with
 * the library's own check - no file is a hard link to one outside, no
 * setuid/setgid bit is set, and a canary file outside is untouched).
 * `make fuzz` builds and runs it (build-aux/fuzz.sh).
 * Build it like fuzz-appspec.c; without clang, replay.c runs the corpus
 * (t/fuzz/corpus/bundle/) under `make check`.
 */
#include "bundle_private.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The names in `dir`, but . and .., as a count; `only` (may be NULL) the one allowed. */
static int count_entries(const char *dir, const char *only)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;
	if (!d)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (only && strcmp(de->d_name, only))
			n += 1000;
		n++;
	}
	closedir(d);
	return n;
}

/* Does `target`, read in the directory `rel` (relative to the root),
 * stay inside the root? Lexically: an absolute target or one climbing
 * above the root does not. */
static int link_inside(const char *rel_dir, const char *target)
{
	char buf[8192];
	const char *p;
	int depth = 0;
	if (target[0] == '/')
		return 0;
	if (snprintf(buf, sizeof(buf), "%s%s%s", rel_dir, *rel_dir ? "/" : "", target) >= (int)sizeof(buf))
		return 0;
	for (p = buf; *p;) {
		size_t n = strcspn(p, "/");
		if (n == 2 && !strncmp(p, "..", 2))
			depth--;
		else if (n && !(n == 1 && *p == '.'))
			depth++;
		if (depth < 0)
			return 0;
		p += n;
		while (*p == '/')
			p++;
	}
	return 1;
}

/* Walks the extracted tree `root`/`rel`; traps on anything escaping. */
static void check_tree(const char *root, const char *rel)
{
	char path[8192], sub[8192], target[8192];
	DIR *d;
	struct dirent *de;
	if (snprintf(path, sizeof(path), "%s%s%s", root, *rel ? "/" : "", rel) >= (int)sizeof(path))
		__builtin_trap();
	if (!(d = opendir(path)))
		__builtin_trap();
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", de->d_name) >= (int)sizeof(sub))
			__builtin_trap();
		if (snprintf(path, sizeof(path), "%s/%s", root, sub) >= (int)sizeof(path))
			__builtin_trap();
		if (lstat(path, &st) != 0 || (st.st_mode & (S_ISUID | S_ISGID)))
			__builtin_trap();
		if (S_ISLNK(st.st_mode)) {
			ssize_t n = readlink(path, target, sizeof(target) - 1);
			if (n < 0)
				__builtin_trap();
			target[n] = '\0';
			if (!link_inside(rel, target))
				__builtin_trap();
		} else if (S_ISDIR(st.st_mode)) {
			check_tree(root, sub);
		} else if (!S_ISREG(st.st_mode)) {
			__builtin_trap();
		}
	}
	closedir(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char dir[] = "/tmp/mdeploy-fuzz.XXXXXX", path[64], out[64], outside[64], canary[64];
	struct stat cst, st;
	mdeploy_bundle_extract_options xo = MDEPLOY_BUNDLE_EXTRACT_OPTIONS_INIT;
	mdeploy_bundle *b = NULL;
	int rc;

	if (!mkdtemp(dir))
		return 0;
	snprintf(path, sizeof(path), "%s/in", dir);
	snprintf(out, sizeof(out), "%s/sub/out", dir);
	snprintf(outside, sizeof(outside), "%s/sub", dir);
	snprintf(canary, sizeof(canary), "%s/canary", dir);
	if (mdeploy__file_write_atomic(path, data, size, 0600) != 0 || mdeploy__mkdir_p(outside, 0700) != 0 ||
	    mdeploy__file_write_atomic(canary, "canary", 6, 0600) != 0 || stat(canary, &cst) != 0)
		goto done;
	if (mdeploy_bundle_open(&b, path) == 0) {
		size_t i;
		for (i = 0; i < mdeploy_bundle_entry_count(b); i++)
			(void)strlen(mdeploy_bundle_entry_byindex(b, i)->path);
		mdeploy_bundle_free(b);
	}
	(void)mdeploy_bundle_verify(path, NULL);
	xo.max_entries = 1000;
	xo.max_total_size = 16u << 20;
	rc = mdeploy_bundle_extract(path, out, &xo);
	if (rc != 0) {
		/* Nothing left: "sub" holds neither the target nor a temporary. */
		if (rmdir(outside) != 0)
			__builtin_trap();
	} else {
		/* Beside the target nothing new; inside it nothing leading out. */
		if (count_entries(outside, "out") != 1 || count_entries(dir, NULL) != 3)
			__builtin_trap();
		check_tree(out, "");
	}
	/* The input and the canary: not hard-linked, rewritten or touched. */
	if (stat(path, &st) != 0 || st.st_nlink != 1 || stat(canary, &st) != 0 || st.st_nlink != 1 ||
	    st.st_size != 6 || st.st_mtim.tv_sec != cst.st_mtim.tv_sec || st.st_mtim.tv_nsec != cst.st_mtim.tv_nsec)
		__builtin_trap();
done:
	mdeploy__rm_rf(dir);
	return 0;
}
