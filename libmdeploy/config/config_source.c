/*
 * config_source.c - the `source` section of mdeploy.yml: Moodle core and
 * plugins, each a git URL and a ref.
 */
#include "config_private.h"

#include <stdio.h>
#include <string.h>

/*
 * One repository. The public part comes first so that a pointer to the
 * entry is a pointer to an mdeploy_config_repo; libcyaml fills the
 * strings, the check fills `field`.
 */
struct repo_entry {
	mdeploy_config_repo pub;
	char field[48];
};

/* source.accept[i]: a known finding, accepted with a reason. */
struct accept_entry {
	mdeploy_config_accept pub;
	char field[32];
};

struct mdeploy_config__source {
	struct repo_entry *core;
	struct repo_entry *plugins;
	unsigned int plugins_count;
	struct accept_entry *accept;
	unsigned int accept_count;
};

#define REPO_STRING(key, member) \
	CYAML_FIELD_STRING_PTR(key, CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL, struct repo_entry, \
	                       pub.member, 0, CYAML_UNLIMITED)

static const cyaml_schema_field_t core_fields[] = {
	REPO_STRING("url", url),
	REPO_STRING("ref", ref),
	CYAML_FIELD_END
};

static const cyaml_schema_field_t plugin_fields[] = {
	REPO_STRING("component", component),
	REPO_STRING("url", url),
	REPO_STRING("ref", ref),
	REPO_STRING("path", path),
	CYAML_FIELD_END
};

static const cyaml_schema_value_t plugin_schema = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct repo_entry, plugin_fields),
};

#define ACCEPT_STRING(key, member) \
	CYAML_FIELD_STRING_PTR(key, CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL, struct accept_entry, \
	                       pub.member, 0, CYAML_UNLIMITED)

static const cyaml_schema_field_t accept_fields[] = {
	ACCEPT_STRING("code", code),
	ACCEPT_STRING("component", component),
	ACCEPT_STRING("file", file),
	ACCEPT_STRING("reason", reason),
	CYAML_FIELD_END
};

static const cyaml_schema_value_t accept_schema = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct accept_entry, accept_fields),
};

static const cyaml_schema_field_t source_fields[] = {
	CYAML_FIELD_MAPPING_PTR("core", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL,
	                        struct mdeploy_config__source, core, core_fields),
	CYAML_FIELD_SEQUENCE("plugins", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL,
	                     struct mdeploy_config__source, plugins, &plugin_schema, 0, CYAML_UNLIMITED),
	CYAML_FIELD_SEQUENCE("accept", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL,
	                     struct mdeploy_config__source, accept, &accept_schema, 0, CYAML_UNLIMITED),
	CYAML_FIELD_END
};

const cyaml_schema_value_t mdeploy_config__source_schema = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct mdeploy_config__source, source_fields),
};

/* Frankenstyle: type_name, both lowercase, the type without '_'. */
static int component_ok(const char *s)
{
	const char *u = strchr(s, '_');
	const char *c;
	if (!u || u == s || s[0] < 'a' || s[0] > 'z' || !u[1] || u[1] < 'a' || u[1] > 'z')
		return 0;
	for (c = s; *c; c++) {
		if (c != u && *c == '_' && c < u)
			return 0;
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
			return 0;
	}
	return s[strlen(s) - 1] != '_';
}

static int ref_ok(const char *s)
{
	if (!*s || *s == '-')
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == '~' || *s == '^' || *s == ':' || *s == '\\')
			return 0;
	return 1;
}

/* Relative, normalised, inside the tree. */
static int path_ok(const char *s)
{
	const char *seg = s;
	if (!*s || *s == '/')
		return 0;
	for (;;) {
		size_t n = strcspn(seg, "/");
		if (n == 0 || (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return 0;
		if (!seg[n])
			return 1;
		seg += n + 1;
	}
}

static void check_repo(mdeploy_config__problems *p, struct repo_entry *r, int is_core)
{
	char f[96];
	if (!is_core) {
		snprintf(f, sizeof(f), "%s.component", r->field);
		if (!r->pub.component)
			mdeploy_config__problem(p, f, "is required (the plugin's frankenstyle name, "
			                        "e.g. mod_customcert)");
		else if (!component_ok(r->pub.component))
			mdeploy_config__problem(p, f, "'%s' is not a frankenstyle component name "
			                        "(type_name, e.g. mod_customcert)", r->pub.component);
	}
	snprintf(f, sizeof(f), "%s.url", r->field);
	if (!r->pub.url || !*r->pub.url)
		mdeploy_config__problem(p, f, "is required (a git URL or a local path)");
	snprintf(f, sizeof(f), "%s.ref", r->field);
	if (!r->pub.ref)
		mdeploy_config__problem(p, f, "is required (a tag, branch or commit id)");
	else if (!ref_ok(r->pub.ref))
		mdeploy_config__problem(p, f, "'%s' is not a valid git ref", r->pub.ref);
	if (r->pub.path) {
		snprintf(f, sizeof(f), "%s.path", r->field);
		if (!path_ok(r->pub.path))
			mdeploy_config__problem(p, f, "'%s' must be a relative path inside the Moodle "
			                        "tree, without '.' or '..'", r->pub.path);
	}
}

/* The codes of mdeploy_moodle_problem (mdeploy/moodle.h). */
static const char *const problem_codes[] = {
	"version-php", "component-mismatch", "unknown-type", "misplaced", "path-conflict",
	"core-collision", "requires", "incompatible", "dependency-missing", "dependency-version",
	"no-version", "symlink-escape",
};

static void check_accept(mdeploy_config__problems *p, struct accept_entry *a, unsigned int i)
{
	char f[64];
	size_t k;
	snprintf(a->field, sizeof(a->field), "source.accept[%u]", i);
	a->pub.field = a->field;
	snprintf(f, sizeof(f), "%s.code", a->field);
	if (!a->pub.code) {
		mdeploy_config__problem(p, f, "is required (the code of the finding, e.g. misplaced)");
	} else {
		for (k = 0; k < MDEPLOY__ARRAY_SIZE(problem_codes); k++)
			if (!strcmp(a->pub.code, problem_codes[k]))
				break;
		if (k == MDEPLOY__ARRAY_SIZE(problem_codes))
			mdeploy_config__problem(p, f, "'%s' is not a problem code (version-php, component-mismatch, "
			                        "unknown-type, misplaced, path-conflict, core-collision, requires, "
			                        "incompatible, dependency-missing, dependency-version, no-version, "
			                        "symlink-escape)",
			                        a->pub.code);
	}
	snprintf(f, sizeof(f), "%s.reason", a->field);
	if (!a->pub.reason || !*a->pub.reason)
		mdeploy_config__problem(p, f, "is required: say why this finding is accepted");
	if (!a->pub.component && !a->pub.file) {
		snprintf(f, sizeof(f), "%s", a->field);
		mdeploy_config__problem(p, f, "needs component or file: an acceptance names what it accepts");
	}
}

int mdeploy_config__source_check(mdeploy_config *cfg, mdeploy_config__problems *p)
{
	struct mdeploy_config__source *s = cfg->doc->source;
	unsigned int i, j;

	if (!s)
		return 0; /* optional: commands that need it say so */
	if (!s->core) {
		mdeploy_config__problem(p, "source.core", "is required (url and ref of Moodle core)");
	} else {
		snprintf(s->core->field, sizeof(s->core->field), "source.core");
		s->core->pub.component = "core";
		s->core->pub.field = s->core->field;
		check_repo(p, s->core, 1);
	}
	for (i = 0; i < s->plugins_count; i++) {
		struct repo_entry *r = &s->plugins[i];
		snprintf(r->field, sizeof(r->field), "source.plugins[%u]", i);
		r->pub.field = r->field;
		check_repo(p, r, 0);
	}
	for (i = 0; i < s->accept_count; i++)
		check_accept(p, &s->accept[i], i);
	for (i = 0; i < s->plugins_count; i++) {
		for (j = 0; j < i; j++) {
			const struct repo_entry *a = &s->plugins[j], *b = &s->plugins[i];
			char f[96];
			if (a->pub.component && b->pub.component && !strcmp(a->pub.component, b->pub.component)) {
				snprintf(f, sizeof(f), "%s.component", b->field);
				mdeploy_config__problem(p, f, "'%s' is already listed as %s", b->pub.component,
				                        a->field);
			}
			if (a->pub.path && b->pub.path && !strcmp(a->pub.path, b->pub.path)) {
				snprintf(f, sizeof(f), "%s.path", b->field);
				mdeploy_config__problem(p, f, "'%s' is already the path of %s", b->pub.path,
				                        a->field);
			}
		}
	}
	return 0;
}

const mdeploy_config_repo *mdeploy_config_source_core(const mdeploy_config *cfg)
{
	if (!cfg || !cfg->doc || !cfg->doc->source || !cfg->doc->source->core)
		return NULL;
	return &cfg->doc->source->core->pub;
}

size_t mdeploy_config_source_plugin_count(const mdeploy_config *cfg)
{
	if (!cfg || !cfg->doc || !cfg->doc->source)
		return 0;
	return cfg->doc->source->plugins_count;
}

const mdeploy_config_repo *mdeploy_config_source_plugin(const mdeploy_config *cfg, size_t i)
{
	if (i >= mdeploy_config_source_plugin_count(cfg))
		return NULL;
	return &cfg->doc->source->plugins[i].pub;
}

size_t mdeploy_config_source_accept_count(const mdeploy_config *cfg)
{
	if (!cfg || !cfg->doc || !cfg->doc->source)
		return 0;
	return cfg->doc->source->accept_count;
}

const mdeploy_config_accept *mdeploy_config_source_accept(const mdeploy_config *cfg, size_t i)
{
	if (i >= mdeploy_config_source_accept_count(cfg))
		return NULL;
	return &cfg->doc->source->accept[i].pub;
}
