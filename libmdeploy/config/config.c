/*
 * config.c - loading mdeploy.yml: the top-level schema and the section
 * checks. Positions of keys and values, and turning libcyaml's and
 * libyaml's reports into "file:line:col: field: problem", are shared with
 * other YAML files in core/yaml.c; each section's check validates what a
 * schema cannot say.
 */
#include "config_private.h"

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The top-level mapping: one field per section, built once from the list
 * in config_private.h and each section's own schema.
 */
#define COUNT_ONE(name) + 1
static cyaml_schema_field_t doc_fields[0 MDEPLOY_CONFIG__SECTIONS(COUNT_ONE, COUNT_ONE) + 1];
static const cyaml_schema_value_t doc_schema = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct mdeploy_config__doc, doc_fields),
};
static pthread_once_t doc_fields_once = PTHREAD_ONCE_INIT;

static void doc_fields_build(void)
{
	size_t n = 0;
	mdeploy_config__stores_schema_build();
	mdeploy_config__provider_schema_build();
#define FIELD_MAP(name) \
	doc_fields[n].key = #name; \
	doc_fields[n].data_offset = offsetof(struct mdeploy_config__doc, name); \
	doc_fields[n].value = mdeploy_config__##name##_schema; \
	doc_fields[n].value.flags |= CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL; \
	n++;
#define FIELD_SEQ(name) \
	doc_fields[n].key = #name; \
	doc_fields[n].data_offset = offsetof(struct mdeploy_config__doc, name); \
	doc_fields[n].count_offset = offsetof(struct mdeploy_config__doc, name##_count); \
	doc_fields[n].count_size = sizeof(unsigned int); \
	doc_fields[n].value = mdeploy_config__##name##_schema; \
	doc_fields[n].value.flags |= CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL; \
	n++;
	MDEPLOY_CONFIG__SECTIONS(FIELD_MAP, FIELD_SEQ)
	memset(&doc_fields[n], 0, sizeof(doc_fields[n]));
}

#define CHECK_ENTRY(name) mdeploy_config__##name##_check,
static int (*const section_checks[])(mdeploy_config *, mdeploy_config__problems *) = {
	MDEPLOY_CONFIG__SECTIONS(CHECK_ENTRY, CHECK_ENTRY)
};

#define NAME_ENTRY(name) #name,
static const char *const section_names[] = {
	MDEPLOY_CONFIG__SECTIONS(NAME_ENTRY, NAME_ENTRY) NULL
};

int mdeploy_config_options_init(mdeploy_config_options *opts, unsigned int version)
{
	mdeploy_config_options def = MDEPLOY_CONFIG_OPTIONS_INIT;
	if (mdeploy__options_check(version, MDEPLOY_CONFIG_OPTIONS_VERSION, "mdeploy_config_options"))
		return MDEPLOY_EVERSION;
	*opts = def;
	opts->version = version;
	return 0;
}

/* ---- positions ---------------------------------------------------- */

void mdeploy_config__locate(const mdeploy_config *cfg, const char *field,
                            unsigned int *line, unsigned int *col)
{
	mdeploy__yaml_locate(&cfg->yaml, field, line, col);
}

const char *mdeploy_config_where(const mdeploy_config *cfg, const char *field)
{
	static __thread char buf[4096];
	unsigned int line, col;
	if (!cfg)
		return "";
	mdeploy_config__locate(cfg, field ? field : "", &line, &col);
	snprintf(buf, sizeof(buf), "%s:%u:%u", cfg->display, line, col);
	return buf;
}

void mdeploy_config__problem(mdeploy_config__problems *p, const char *field, const char *fmt, ...)
{
	mdeploy__yaml_problems yp = { &p->cfg->yaml, MDEPLOY__BUF_INIT, 0 };
	va_list ap;

	va_start(ap, fmt);
	mdeploy__yaml_problemv(&yp, field, fmt, ap);
	va_end(ap);
	if (p->count++)
		mdeploy__buf_puts(&p->msg, "\n");
	mdeploy__buf_puts(&p->msg, mdeploy__buf_cstr(&yp.msg));
	mdeploy__buf_dispose(&yp.msg);
}

/* ---- load ------------------------------------------------------------- */

int mdeploy_config_load(mdeploy_config **out, const char *path, const mdeploy_config_options *opts)
{
	mdeploy_config *cfg = NULL;
	mdeploy_config__problems probs;
	char *text = NULL, *slash;
	size_t len, i;
	int rc;

	*out = NULL;
	if (opts && (rc = mdeploy__options_check(opts->version, MDEPLOY_CONFIG_OPTIONS_VERSION,
	                                         "mdeploy_config_options")) != 0)
		return rc;
	if (!(cfg = calloc(1, sizeof(*cfg))))
		return mdeploy__error_oom();
	cfg->path = mdeploy__strdup(path);
	cfg->display = mdeploy__strdup(opts && opts->display_name ? opts->display_name : path);
	cfg->dir = mdeploy__strdup(path);
	if (!cfg->path || !cfg->display || !cfg->dir) {
		rc = MDEPLOY_ENOMEM;
		goto fail;
	}
	slash = strrchr(cfg->dir, '/');
	if (!slash)
		strcpy(cfg->dir, ".");
	else if (slash == cfg->dir)
		slash[1] = '\0';
	else
		*slash = '\0';

	if ((rc = mdeploy__file_read_max(&text, &len, path, MDEPLOY__CONFIG_READ_MAX)) != 0) {
		mdeploy__error_set(rc, MDEPLOY_ERROR_CLASS_CONFIG, "cannot read %s: %s", cfg->display,
		                   rc == MDEPLOY_ENOTFOUND ? "no such file" : mdeploy_error_last()->message);
		goto fail;
	}
	cfg->yaml.display = cfg->display;
	cfg->yaml.klass = MDEPLOY_ERROR_CLASS_CONFIG;
	cfg->yaml.root_expect = "a mapping of sections (application:, source: ...)";
	cfg->yaml.root_noun = "section";
	cfg->yaml.root_keys = section_names;
	pthread_once(&doc_fields_once, doc_fields_build);
	if ((rc = mdeploy__yaml_load(&cfg->yaml, text, len, &doc_schema, (void **)&cfg->doc)) != 0)
		goto fail;

	memset(&probs, 0, sizeof(probs));
	probs.cfg = cfg;
	for (i = 0; i < MDEPLOY__ARRAY_SIZE(section_checks); i++) {
		if ((rc = section_checks[i](cfg, &probs)) != 0) {
			mdeploy__buf_dispose(&probs.msg);
			goto fail;
		}
	}
	if (probs.count) {
		rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_CONFIG, "%s",
		                        mdeploy__buf_cstr(&probs.msg));
		mdeploy__buf_dispose(&probs.msg);
		goto fail;
	}
	free(text);
	*out = cfg;
	return 0;
fail:
	free(text);
	mdeploy_config_free(cfg);
	return rc;
}

void mdeploy_config_free(mdeploy_config *cfg)
{
	if (!cfg)
		return;
	mdeploy__yaml_doc_free(&doc_schema, cfg->doc);
	mdeploy__yaml_dispose(&cfg->yaml);
	free(cfg->path);
	free(cfg->dir);
	free(cfg->display);
	free(cfg);
}

const char *mdeploy_config_path(const mdeploy_config *cfg)
{
	return cfg ? cfg->path : NULL;
}

const char *mdeploy_config_dir(const mdeploy_config *cfg)
{
	return cfg ? cfg->dir : NULL;
}
