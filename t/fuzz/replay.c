/*
 * replay.c - runs a fuzz target over its corpus (t/fuzz/corpus/NAME/) as a
 * TAP test, so the corpus is exercised by `make check` (and under ASan)
 * without clang. FUZZ_NAME is set at compile time.
 */
#include "tap.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
	const char *dir = test_srcpath("t/fuzz/corpus/" FUZZ_NAME);
	char *names[4096];
	size_t n = 0, i;
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d) {
		plan_skip_all("no corpus");
		return 0;
	}
	while ((de = readdir(d)) != NULL && n < 4096)
		if (de->d_name[0] != '.')
			names[n++] = strdup(de->d_name);
	closedir(d);
	qsort(names, n, sizeof(*names), cmp);
	plan((int)n);
	for (i = 0; i < n; i++) {
		char path[4096];
		FILE *f;
		char *buf = NULL;
		size_t len = 0, cap = 0, got;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if ((f = fopen(path, "rb")) != NULL) {
			do {
				if (len == cap && !(buf = realloc(buf, cap = cap ? cap * 2 : 4096)))
					abort();
				got = fread(buf + len, 1, cap - len, f);
				len += got;
			} while (got);
			fclose(f);
		}
		ok(LLVMFuzzerTestOneInput((const uint8_t *)(buf ? buf : ""), len) == 0, "%s", names[i]);
		free(buf);
		free(names[i]);
	}
	return done();
}
