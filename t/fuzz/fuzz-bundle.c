/*
 * fuzz-bundle.c - libFuzzer target for reading bundles (archives arrive from
 * the artifact store or the network): open, verify and extract an arbitrary
 * archive. Nothing may be written outside the extraction directory and a
 * failed extraction must leave nothing behind.
 * Build it like fuzz-appspec.c; without clang, replay.c runs the corpus
 * (t/fuzz/corpus/bundle/) under `make check`.
 */
#include "bundle_private.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char dir[] = "/tmp/mdeploy-fuzz.XXXXXX", path[64], out[64], outside[64];
	mdeploy_bundle_extract_options xo = MDEPLOY_BUNDLE_EXTRACT_OPTIONS_INIT;
	mdeploy_bundle *b = NULL;
	int rc;

	if (!mkdtemp(dir))
		return 0;
	snprintf(path, sizeof(path), "%s/in", dir);
	snprintf(out, sizeof(out), "%s/sub/out", dir);
	snprintf(outside, sizeof(outside), "%s/sub", dir);
	if (mdeploy__file_write_atomic(path, data, size, 0600) != 0 || mdeploy__mkdir_p(outside, 0700) != 0)
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
	}
done:
	mdeploy__rm_rf(dir);
	return 0;
}
