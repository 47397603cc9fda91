/*
 * fuzz-versionphp.c - libFuzzer target for the version.php parser (untrusted
 * input: plugins come from any git repository).
 *
 * With clang, from a configured build directory:
 *   clang -g -fsanitize=fuzzer,address,undefined -I../libmdeploy/include \
 *     -I../libmdeploy/core -I../libmdeploy/source -I. ../t/fuzz/fuzz-versionphp.c \
 *     libmdeploy/.libs/libmdeploy-internal.a $(pkg-config --libs libcyaml yaml-0.1 \
 *     libarchive jansson libgit2 libcurl libcrypto sqlite3) -o fuzz-versionphp
 *   ./fuzz-versionphp ../t/fuzz/corpus/versionphp
 * Without clang, t/fuzz/replay.c runs the corpus under `make check`.
 */
#include "mdeploy_private.h"
#include "phpver.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void touch(const mdeploy__pv *v)
{
	size_t i;
	if (v->text)
		(void)strlen(v->text);
	for (i = 0; i < v->count; i++) {
		if (v->keys[i])
			touch(v->keys[i]);
		touch(v->values[i]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mdeploy__phpfile *f = NULL;
	size_t i;

	if (mdeploy__phpver_parse(&f, "version.php", (const char *)data, size) != 0) {
		/* Every rejection names the file and a line. */
		if (strncmp(mdeploy_error_last()->message, "version.php:", 12) != 0)
			__builtin_trap();
		return 0;
	}
	for (i = 0; i < f->count; i++) {
		(void)strlen(f->assigns[i].var);
		if (f->assigns[i].prop)
			(void)strlen(f->assigns[i].prop);
		touch(f->assigns[i].value);
	}
	(void)mdeploy__phpver_get(f, "plugin", "version");
	mdeploy__phpver_free(f);
	return 0;
}
