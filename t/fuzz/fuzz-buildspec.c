/*
 * fuzz-buildspec.c - libFuzzer target for the buildspec parser (a buildspec
 * comes from the source repository, so from whoever can push to it).
 * Build it like fuzz-appspec.c; without clang, replay.c runs the corpus
 * (t/fuzz/corpus/buildspec/) under `make check`.
 */
#include "build_private.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mdeploy_buildspec *s = NULL;
	size_t i, j;

	if (mdeploy_buildspec_parse(&s, (const char *)data, size, "fuzz.yml") != 0) {
		if (!mdeploy_error_last()->message[0])
			__builtin_trap();
		return 0;
	}
	for (i = 0; i < BS_NPHASES; i++) {
		for (j = 0; j < s->phases[i].commands.n; j++)
			(void)strlen(s->phases[i].commands.v[j].s);
		for (j = 0; j < s->phases[i].finally.n; j++)
			(void)strlen(s->phases[i].finally.v[j].s);
		if (s->phases[i].on_failure == BS_RETRY && (s->phases[i].retries < 1 || s->phases[i].retries > 100))
			__builtin_trap();
	}
	for (i = 0; i < s->variables.n; i++)
		(void)strlen(s->variables.v[i].value);
	for (i = 0; i < s->nartifacts; i++) {
		if (!s->artifacts[i].files.n)
			__builtin_trap();
		/* Globs never crash the matcher. */
		for (j = 0; j < s->artifacts[i].files.n; j++)
			(void)mdeploy_build__glob_match(s->artifacts[i].files.v[j].s, "a/b/c.php");
	}
	mdeploy_buildspec_free(s);
	return 0;
}
