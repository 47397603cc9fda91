/*
 * fuzz-appspec.c - libFuzzer target for the appspec parser (untrusted input:
 * it comes inside bundles).
 *
 * With clang, from a configured build directory:
 *   clang -g -fsanitize=fuzzer,address,undefined -I../libmdeploy/include \
 *     -I../libmdeploy/core -I. ../t/fuzz/fuzz-appspec.c \
 *     libmdeploy/.libs/libmdeploy-internal.a $(pkg-config --libs libcyaml \
 *     libarchive jansson libgit2 libcurl libcrypto sqlite3) -o fuzz-appspec
 *   ./fuzz-appspec ../t/fuzz/corpus/appspec
 * Without clang, t/fuzz/replay.c runs the corpus under `make check`.
 */
#include "mdeploy_private.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mdeploy_appspec *s = NULL;
	size_t i, j, k;

	if (mdeploy_appspec_parse(&s, (const char *)data, size, "fuzz.yml") != 0) {
		/* Every rejection carries a message. */
		if (!mdeploy_error_last()->message[0])
			__builtin_trap();
		return 0;
	}
	/* Touch everything the parser handed out. */
	(void)strlen(mdeploy_appspec_version(s));
	(void)strlen(mdeploy_appspec_os(s));
	for (i = 0; i < mdeploy_appspec_file_count(s); i++) {
		const mdeploy_appspec_file *f = mdeploy_appspec_file_at(s, i);
		(void)strlen(f->source);
		(void)strlen(f->destination);
	}
	for (i = 0; i < mdeploy_appspec_permission_count(s); i++) {
		const mdeploy_appspec_permission *p = mdeploy_appspec_permission_at(s, i);
		(void)strlen(p->object);
		(void)strlen(p->pattern);
		for (k = 0; p->except[k]; k++)
			(void)strlen(p->except[k]);
		for (k = 0; p->acls[k]; k++)
			(void)strlen(p->acls[k]);
		if (p->mode > 07777)
			__builtin_trap();
	}
	for (i = 0; i < mdeploy_appspec_event_count(s); i++) {
		const char *ev = mdeploy_appspec_event_at(s, i);
		for (j = 0; j < mdeploy_appspec_hook_count(s, ev); j++) {
			const mdeploy_appspec_hook *h = mdeploy_appspec_hook_at(s, ev, j);
			if (!h->location[0] || h->timeout == 0 || h->timeout > MDEPLOY_APPSPEC_TIMEOUT_DEFAULT)
				__builtin_trap();
		}
	}
	mdeploy_appspec_free(s);
	return 0;
}
