/*
 * fuzz-manifest.c - libFuzzer target for .mdeploy/manifest.json, which
 * verification trusts only after checking it. Without clang, replay.c runs
 * the corpus (t/fuzz/corpus/manifest/) under `make check`.
 */
#include "bundle_private.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A ".." component ("..x" is a name like any other). */
static int has_dotdot(const char *p)
{
	while (*p) {
		size_t n = strcspn(p, "/");
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return 1;
		p += n;
		while (*p == '/')
			p++;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mdeploy_bundle__manifest m;
	size_t i;

	if (mdeploy_bundle__manifest_parse(&m, (const char *)data, size) != 0) {
		if (!mdeploy_error_last()->message[0])
			__builtin_trap();
		return 0;
	}
	for (i = 0; i < m.entries.n; i++) {
		const mdeploy_bundle__item *it = &m.entries.v[i];
		if (!it->path[0] || it->path[0] == '/' || has_dotdot(it->path))
			__builtin_trap();
		if (it->type == MDEPLOY_BUNDLE_ENTRY_FILE && strlen(it->sha256) != 64)
			__builtin_trap();
		if (i && strcmp(m.entries.v[i - 1].path, it->path) >= 0)
			__builtin_trap();
	}
	mdeploy_bundle__manifest_dispose(&m);
	return 0;
}
