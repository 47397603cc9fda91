/*
 * appspec_check.c - the structural check of appspec.yml made when a bundle
 * is created: a YAML mapping with scalar `version` and `os`. The full
 * validation (hooks, files, permissions) is the agent's appspec parser.
 */
#include "bundle_private.h"

#include <string.h>
#include <yaml.h>

static int fail(const yaml_mark_t *m, const char *msg)
{
	return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE, "appspec.yml:%zu:%zu: %s",
	                          m->line + 1, m->column + 1, msg);
}

int mdeploy_bundle__appspec_check(const char *data, size_t len)
{
	yaml_parser_t p;
	yaml_event_t ev;
	int depth = 0, rc = 0, expect_key = 1, have_version = 0, have_os = 0, done = 0;
	int pending = 0; /* 1: value of version, 2: value of os */
	int root_seen = 0;

	if (!yaml_parser_initialize(&p))
		return mdeploy__error_oom();
	yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
	while (!done && !rc) {
		if (!yaml_parser_parse(&p, &ev)) {
			rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE,
			                        "appspec.yml:%zu:%zu: %s", p.problem_mark.line + 1,
			                        p.problem_mark.column + 1, p.problem ? p.problem : "invalid YAML");
			break;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		case YAML_DOCUMENT_END_EVENT:
			done = 1;
			break;
		case YAML_MAPPING_START_EVENT:
		case YAML_SEQUENCE_START_EVENT:
			if (depth == 0) {
				root_seen = 1;
				if (ev.type != YAML_MAPPING_START_EVENT)
					rc = fail(&ev.start_mark, "the document must be a mapping");
			} else if (depth == 1) {
				if (pending)
					rc = fail(&ev.start_mark, pending == 1 ? "version must be a scalar (0.0)"
					                                       : "os must be a scalar (linux or windows)");
				expect_key = 1;
			}
			depth++;
			break;
		case YAML_MAPPING_END_EVENT:
		case YAML_SEQUENCE_END_EVENT:
			depth--;
			if (depth == 1)
				expect_key = 1;
			break;
		case YAML_SCALAR_EVENT:
			if (depth == 0) {
				root_seen = 1;
				rc = fail(&ev.start_mark, "the document must be a mapping");
			} else if (depth == 1) {
				const char *v = (const char *)ev.data.scalar.value;
				if (expect_key) {
					pending = !strcmp(v, "version") ? 1 : !strcmp(v, "os") ? 2 : 0;
					expect_key = 0;
				} else {
					if (pending == 1)
						have_version = 1;
					else if (pending == 2) {
						if (strcmp(v, "linux") && strcmp(v, "windows"))
							rc = fail(&ev.start_mark, "os must be linux or windows");
						have_os = 1;
					}
					pending = 0;
					expect_key = 1;
				}
			}
			break;
		case YAML_ALIAS_EVENT:
			if (depth == 1 && !expect_key) {
				pending = 0;
				expect_key = 1;
			}
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	if (rc)
		return rc;
	if (!root_seen)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE, "appspec.yml: the file is empty");
	if (!have_version)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE,
		                          "appspec.yml: 'version' is missing");
	if (!have_os)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE,
		                          "appspec.yml: 'os' is missing");
	return 0;
}
