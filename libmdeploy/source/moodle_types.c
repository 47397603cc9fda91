/*
 * moodle_types.c - the plugin types of a Moodle tree, from its own files:
 * lib/components.json, each plugin's db/subplugins.json, and which plugin
 * types may have subplugins at all (core_component's $supportsubplugins in
 * lib/classes/component.php).
 */
#include "moodle_private.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- plugin types ------------------------------------------------- */

const char *mdeploy__moodle_type_dir(const mdeploy_moodle *m, const char *type)
{
	size_t i;
	for (i = 0; i < m->ntypes; i++)
		if (!strcmp(m->types[i].type, type))
			return m->types[i].dir;
	return NULL;
}

static int add_type(mdeploy_moodle *m, const char *type, const char *dir, const char *file)
{
	struct ptype *t;
	const char *have = mdeploy__moodle_type_dir(m, type);
	size_t n;
	if (have) {
		if (strcmp(have, dir) != 0)
			return problem(m, "unknown-type", NULL, file, 0,
			               "plugin type '%s' is declared again with directory '%s' "
			               "(already '%s'); ignored", type, dir, have);
		return 0;
	}
	t = realloc(m->types, (m->ntypes + 1) * sizeof(*t));
	if (!t)
		return mdeploy__error_oom();
	m->types = t;
	t += m->ntypes;
	t->type = mdeploy__strdup(type);
	t->dir = mdeploy__strdup(dir);
	if (!t->type || !t->dir) {
		free(t->type);
		free(t->dir);
		return mdeploy__error_oom();
	}
	n = strlen(t->dir);
	while (n > 0 && t->dir[n - 1] == '/')
		t->dir[--n] = '\0';
	m->ntypes++;
	return 0;
}

/*
 * Read the plugin types of a components.json (plugin_dir NULL: dirs
 * relative to the root) or a plugin's db/subplugins.json (the newer
 * "subplugintypes" relative to the plugin, else "plugintypes" relative to
 * the root). Malformed files are problems, not failures.
 */
int mdeploy__moodle_read_types(mdeploy_moodle *m, const char *file, const char *plugin_dir, const char *component)
{
	const mdeploy__ventry *e = mdeploy__vtree_find(&m->vt, file);
	mdeploy__vdata d;
	json_error_t jerr;
	json_t *doc, *types;
	const char *key;
	json_t *val;
	int rc = 0, rel = 0;

	if (!e)
		return 0;
	if ((rc = mdeploy__vtree_read(&m->vt, e, &d)) != 0)
		return rc;
	doc = json_loadb(d.data, d.len, 0, &jerr);
	mdeploy__vdata_release(&d);
	if (!doc)
		return problem(m, "unknown-type", component, file, (unsigned int)jerr.line,
		               "not valid JSON: %s", jerr.text);
	types = plugin_dir ? json_object_get(doc, "subplugintypes") : NULL;
	if (json_is_object(types))
		rel = 1;
	else
		types = json_object_get(doc, "plugintypes");
	if (!json_is_object(types)) {
		rc = problem(m, "unknown-type", component, file, 0, "has no \"plugintypes\" object");
		json_decref(doc);
		return rc;
	}
	json_object_foreach(types, key, val) {
		char *dir;
		if (!json_is_string(val)) {
			if ((rc = problem(m, "unknown-type", component, file, 0,
			                  "plugin type '%s' has no directory", key)) != 0)
				break;
			continue;
		}
		{
			const char *v = json_string_value(val);
			size_t rl = strlen(m->root);
			/* 5.1's older "plugintypes" may name the web root: "public/mod/x/y". */
			if (!rel && plugin_dir && rl && !strncmp(v, m->root, rl))
				v += rl;
			dir = rel ? mdeploy__sprintf("%s/%s", plugin_dir, v) : mdeploy__strdup(v);
		}
		if (!dir) {
			rc = mdeploy__error_oom();
			break;
		}
		rc = add_type(m, key, dir, file);
		free(dir);
		if (rc)
			break;
	}
	json_decref(doc);
	return rc;
}


/*
 * core_component's list of the plugin types that may have subplugins:
 *   protected static $supportsubplugins = ['mod', 'editor', 'tool', 'local'];
 * (array(...) in older releases). 0 with the list, 1 when the file has no
 * such declaration we can read.
 */
static int read_supportsubplugins(mdeploy_moodle *m, const char *text, size_t len)
{
	static const char key[] = "static $supportsubplugins";
	const char *p = memmem(text, len, key, sizeof(key) - 1), *end = text + len;
	char close;

	if (!p)
		return 1;
	p += sizeof(key) - 1;
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	if (p >= end || *p++ != '=')
		return 1;
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	if (p < end && *p == '[') {
		close = ']';
		p++;
	} else if (end - p > 6 && !strncasecmp(p, "array(", 6)) {
		close = ')';
		p += 6;
	} else {
		return 1;
	}
	m->subtypes_of = calloc(1, sizeof(*m->subtypes_of));   /* an empty list is a list */
	if (!m->subtypes_of)
		return mdeploy__error_oom();
	while (p < end && *p != close) {
		if (*p == '\'' || *p == '"') {
			char q = *p++;
			const char *s = p;
			char **n;
			while (p < end && *p != q)
				p++;
			if (p >= end)
				return 1;
			if (!(n = realloc(m->subtypes_of, (m->nsubtypes_of + 1) * sizeof(*n))))
				return mdeploy__error_oom();
			m->subtypes_of = n;
			if (!(n[m->nsubtypes_of] = strndup(s, (size_t)(p - s))))
				return mdeploy__error_oom();
			m->nsubtypes_of++;
		} else if (!(*p == ',' || *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) {
			return 1;
		}
		p++;
	}
	return p < end ? 0 : 1;
}

int mdeploy__moodle_type_has_subplugins(const mdeploy_moodle *m, const char *type)
{
	size_t i;
	if (!m->subtypes_of)
		return 1;
	for (i = 0; i < m->nsubtypes_of; i++)
		if (!strcmp(m->subtypes_of[i], type))
			return 1;
	return 0;
}

static void subtypes_reset(mdeploy_moodle *m)
{
	size_t i;
	for (i = 0; i < m->nsubtypes_of; i++)
		free(m->subtypes_of[i]);
	free(m->subtypes_of);
	m->subtypes_of = NULL;
	m->nsubtypes_of = 0;
}

int mdeploy__moodle_read_core_types(mdeploy_moodle *m)
{
	char *file = mdeploy__sprintf("%slib/components.json", m->root), *cc;
	const mdeploy__ventry *e;
	size_t i, first = m->ntypes;
	int rc, outside = 0;

	if (!file)
		return mdeploy__error_oom();
	/* Moodle 5.1 keeps lib/components.json outside public/, with
	 * directories relative to the top ("public/mod"). */
	if (*m->root && !mdeploy__vtree_find(&m->vt, file) && mdeploy__vtree_find(&m->vt, "lib/components.json")) {
		free(file);
		if (!(file = mdeploy__strdup("lib/components.json")))
			return mdeploy__error_oom();
		outside = 1;
	}
	if (!mdeploy__vtree_find(&m->vt, file)) {
		rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_SOURCE,
		                        "%s is missing: cannot tell the plugin types of this Moodle", file);
		free(file);
		return rc;
	}
	if ((rc = mdeploy__moodle_read_types(m, file, NULL, NULL)) != 0) {
		free(file);
		return rc;
	}
	if (outside) {
		size_t rl = strlen(m->root) - 1;   /* "public" */
		for (i = first; i < m->ntypes; i++) {
			char *d = m->types[i].dir;
			if (!strncmp(d, m->root, rl) && (d[rl] == '/' || !d[rl])) {
				memmove(d, d + rl + (d[rl] == '/'), strlen(d + rl + (d[rl] == '/')) + 1);
			} else if ((rc = problem(m, "unknown-type", NULL, file, 0,
			                         "plugin type '%s' is in %s, outside %s; ignored", m->types[i].type,
			                         d, m->root)) != 0) {
				free(file);
				return rc;
			} else {
				/* Nothing outside the web root is a plugin. */
				free(m->types[i].type);
				free(m->types[i].dir);
				memmove(&m->types[i], &m->types[i + 1], (m->ntypes - i - 1) * sizeof(*m->types));
				m->ntypes--;
				i--;
			}
		}
	}
	if (m->ntypes == 0) {
		rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_SOURCE, "%s",
		                        m->nproblems ? m->problems[0].message : "no plugin types");
		free(file);
		return rc;
	}
	free(file);
	/* Which types may have subplugins, from core_component itself. */
	if (!(cc = mdeploy__sprintf("%slib/classes/component.php", m->root)))
		return mdeploy__error_oom();
	if ((e = mdeploy__vtree_find(&m->vt, cc)) != NULL) {
		mdeploy__vdata d;
		if ((rc = mdeploy__vtree_read(&m->vt, e, &d)) != 0) {
			free(cc);
			return rc;
		}
		rc = read_supportsubplugins(m, d.data, d.len);
		mdeploy__vdata_release(&d);
		if (rc < 0) {
			free(cc);
			return rc;
		}
		if (rc == 1) {
			subtypes_reset(m);
			rc = problem(m, "unknown-type", NULL, cc, 0,
			             "no $supportsubplugins list found: cannot tell which plugin types may have "
			             "subplugins, so db/subplugins.json is read for every plugin");
		}
	}
	free(cc);
	return rc;
}
