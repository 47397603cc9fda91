/*
 * config_private.h - how mdeploy.yml is put together from sections.
 *
 * libcyaml loads the document into struct mdeploy_config__doc, which has
 * one pointer per top-level section. Each section lives in its own file,
 * config_<name>.c, which defines:
 *   - struct mdeploy_config__<name> (what libcyaml fills in);
 *   - `const cyaml_schema_value_t mdeploy_config__<name>_schema`: a
 *     CYAML_VALUE_MAPPING of that struct for a mapping section (MAP), or a
 *     CYAML_VALUE_SEQUENCE of its entries for a sequence section (SEQ; the
 *     doc then also has an `unsigned int <name>_count`);
 *   - `int mdeploy_config__<name>_check(mdeploy_config *cfg,
 *     mdeploy_config__problems *p)`, which validates what the schema
 *     cannot say and reports each problem with mdeploy_config__problem()
 *     (return non-zero only for out-of-memory and the like);
 *   - its public accessors (in mdeploy/<module>.h).
 * Adding a section is then one line in MDEPLOY_CONFIG__SECTIONS below;
 * config.c builds the top-level field table from the list at run time, so
 * it never needs the section structs. Sections are optional at the YAML
 * level; a check says when one is required.
 * Keys not in the list are errors that name the key.
 */
#ifndef MDEPLOY_CONFIG_PRIVATE_H
#define MDEPLOY_CONFIG_PRIVATE_H

#include "mdeploy_private.h"
#include "yaml_private.h"
#include "mdeploy/config.h"

#include <cyaml/cyaml.h>

#define MDEPLOY_CONFIG__SECTIONS(MAP, SEQ) \
	MAP(application) \
	MAP(source) \
	SEQ(groups) \
	MAP(stores) \
	MAP(provider) \
	MAP(infrastructure)

/* A string field; every section's strings are loaded the same way. */
#define MDEPLOY_CONFIG__STRING(key, flags, type, member) \
	CYAML_FIELD_STRING_PTR(key, CYAML_FLAG_POINTER | (flags), type, member, 0, CYAML_UNLIMITED)

#define MDEPLOY_CONFIG__DECL(name) \
	struct mdeploy_config__##name; \
	extern const cyaml_schema_value_t mdeploy_config__##name##_schema;
MDEPLOY_CONFIG__SECTIONS(MDEPLOY_CONFIG__DECL, MDEPLOY_CONFIG__DECL)

#define MDEPLOY_CONFIG__MEMBER_MAP(name) struct mdeploy_config__##name *name;
#define MDEPLOY_CONFIG__MEMBER_SEQ(name) struct mdeploy_config__##name *name; unsigned int name##_count;
struct mdeploy_config__doc {
	MDEPLOY_CONFIG__SECTIONS(MDEPLOY_CONFIG__MEMBER_MAP, MDEPLOY_CONFIG__MEMBER_SEQ)
};

struct mdeploy_config {
	char *path;
	char *dir;
	char *display;               /* name used in messages */
	struct mdeploy_config__doc *doc;
	mdeploy__yaml yaml;          /* where each key and value is (core/yaml.c) */
};

/* Problems found by the checks; all are reported together. */
typedef struct mdeploy_config__problems {
	const mdeploy_config *cfg;
	mdeploy__buf msg;
	unsigned int count;
} mdeploy_config__problems;

/* Record "file:line:col: field: message" for `field` (a dotted path). */
void mdeploy_config__problem(mdeploy_config__problems *p, const char *field, const char *fmt, ...)
	MDEPLOY_FORMAT_PRINTF(3, 4);

/* Position of `field` (value when present, else the nearest enclosing key). */
void mdeploy_config__locate(const mdeploy_config *cfg, const char *field,
                            unsigned int *line, unsigned int *col);

/* config_stores.c: the store entries' keys come from the store registry. */
void mdeploy_config__stores_schema_build(void);
/* config_provider.c: the provider section's keys come from the provider table. */
void mdeploy_config__provider_schema_build(void);

#define MDEPLOY_CONFIG__DECL_CHECK(name) \
	int mdeploy_config__##name##_check(mdeploy_config *cfg, mdeploy_config__problems *p);
MDEPLOY_CONFIG__SECTIONS(MDEPLOY_CONFIG__DECL_CHECK, MDEPLOY_CONFIG__DECL_CHECK)

#endif
