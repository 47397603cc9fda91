/*
 * fuzz-pipeline.c - libFuzzer target for pipeline definitions: the YAML,
 * the structure rules and the #{namespace.name} references.
 *
 * With clang, build as fuzz-versionphp.c says, with this file. The input
 * is loaded from memory, as an execution's stored definition is. Without
 * clang, t/fuzz/replay.c runs the corpus under `make check`.
 */
#include "pipeline/pipeline_private.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *lookup(const char *ns, const char *name, void *payload)
{
	(void)payload;
	return strlen(ns) + strlen(name) > 8 ? "value" : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mdeploy_pipeline *p = NULL;
	char *text = malloc(size + 1), *out = NULL;
	size_t i, j;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	/* Substitution takes any text. */
	if (mdeploy_pipeline_substitute(&out, text, lookup, NULL) == 0)
		(void)strlen(out);
	free(out);
	if (mdeploy_pipeline__load_text(&p, text, size, "fuzz.yml", NULL) != 0) {
		if (!mdeploy_error_last()->message[0])
			__builtin_trap();
		free(text);
		return 0;
	}
	(void)strlen(mdeploy_pipeline_name(p));
	for (i = 0; i < mdeploy_pipeline_stage_count(p); i++) {
		const mdeploy_pipeline_stage *s = mdeploy_pipeline_stage_at(p, i);
		(void)strlen(s->name);
		for (j = 0; j < s->action_count; j++) {
			const mdeploy_pipeline_action *a = &s->actions[j];
			(void)strlen(a->name);
			(void)strlen(mdeploy_pipeline_where(p, a->field));
			if (a->input_count)
				(void)strlen(a->inputs[a->input_count - 1]);
		}
	}
	mdeploy_pipeline_free(p);
	free(text);
	return 0;
}
