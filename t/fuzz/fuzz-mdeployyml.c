/*
 * fuzz-mdeployyml.c - libFuzzer target for mdeploy.yml loading (all
 * sections: application, source, groups...).
 *
 * With clang, build as fuzz-versionphp.c says, with this file. The input
 * is written to a temporary file, since configurations load from paths.
 * Without clang, t/fuzz/replay.c runs the corpus under `make check`.
 */
#include "mdeploy_private.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	mdeploy_config *cfg = NULL;
	size_t i;

	if (!path[0])
		snprintf(path, sizeof(path), "/tmp/mdeploy-fuzz-%ld.yml", (long)getpid());
	if (mdeploy__file_write_atomic(path, data, size, 0600) != 0)
		return 0;
	if (mdeploy_config_load(&cfg, path, NULL) != 0) {
		if (!mdeploy_error_last()->message[0])
			__builtin_trap();
		unlink(path);
		return 0;
	}
	unlink(path);
	(void)strlen(mdeploy_config_application_name(cfg));
	if (mdeploy_config_source_core(cfg)) {
		(void)strlen(mdeploy_config_source_core(cfg)->url);
		for (i = 0; i < mdeploy_config_source_plugin_count(cfg); i++) {
			const mdeploy_config_repo *r = mdeploy_config_source_plugin(cfg, i);
			(void)strlen(r->component);
			(void)strlen(r->url);
			(void)strlen(r->ref);
			(void)strlen(mdeploy_config_where(cfg, r->field));
		}
	}
	mdeploy_config_free(cfg);
	return 0;
}
