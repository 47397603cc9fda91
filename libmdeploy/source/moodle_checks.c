/*
 * moodle_checks.c - the Moodle tree model's checks across the tree, once
 * core and plugins are read (moodle.c): version.php files where Moodle
 * does not look for plugins, symbolic links leaving the tree, and plugins'
 * requires/incompatible/dependencies against core and each other.
 */
#include "source_private.h"
#include "moodle_private.h"
#include "phpver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_plugin_version_file(const mdeploy_moodle *m, const char *path)
{
	size_t i, rl = strlen(m->root);
	if (strncmp(path, m->root, rl) != 0)
		return 0;
	path += rl;
	for (i = 0; i < m->nplugins; i++) {
		size_t pl = strlen(m->plugins[i].pub.path);
		if (!strncmp(path, m->plugins[i].pub.path, pl) && !strcmp(path + pl, "/version.php"))
			return 1;
	}
	return 0;
}

/* A version.php that sets $plugin-> but where Moodle does not look. */
static int find_misplaced(mdeploy_moodle *m)
{
	size_t i;
	char *core_v = mdeploy__sprintf("%sversion.php", m->root);
	int rc = 0;

	if (!core_v)
		return mdeploy__error_oom();
	for (i = 0; i < m->vt.n && rc == 0; i++) {
		const char *path = m->vt.e[i].path, *base = strrchr(path, '/');
		mdeploy__vdata d;
		if (strcmp(base ? base + 1 : path, "version.php") != 0 || !strcmp(path, core_v))
			continue;
		if (strstr(path, "/tests/") || !strncmp(path, "tests/", 6) || strstr(path, "vendor/") ||
		    strstr(path, "node_modules/") || m->vt.e[i].mode == 0120000)
			continue;
		if (is_plugin_version_file(m, path))
			continue;
		if ((rc = mdeploy__vtree_read(&m->vt, &m->vt.e[i], &d)) != 0)
			break;
		if (memmem(d.data, d.len, "$plugin->", 9)) {
			mdeploy__phpfile *f = NULL;
			const char *comp = NULL;
			char *dir = strndup(path, base ? (size_t)(base - path) : 0);
			if (mdeploy__phpver_parse(&f, path, d.data, d.len) == 0) {
				const mdeploy__php_assign *a = mdeploy__phpver_get(f, "plugin", "component");
				comp = a && a->value && a->value->type == MDEPLOY__PV_STRING ? a->value->text : NULL;
			}
			rc = problem(m, "misplaced", comp, path, 0,
			             "plugin%s%s%s is in %s, where Moodle does not look for plugins; "
			             "it would be silently ignored", comp ? " '" : "", comp ? comp : "",
			             comp ? "'" : "", dir ? dir : "?");
			free(dir);
			mdeploy__phpver_free(f);
		}
		mdeploy__vdata_release(&d);
	}
	free(core_v);
	return rc;
}

/*
 * A symlink whose target leaves the tree (absolute, or more ".." than
 * directories above it) would make a build or an extraction read or
 * write outside the release: reported, so validate gates on it.
 */
static int link_leaves(const char *path, const char *target, size_t len)
{
	long depth = 0;
	const char *s, *end = target + len;
	if (len == 0 || target[0] == '/')
		return 1;
	for (s = path; (s = strchr(s, '/')) != NULL; s++)
		depth++;
	for (s = target; s < end;) {
		const char *e = memchr(s, '/', (size_t)(end - s));
		size_t n = e ? (size_t)(e - s) : (size_t)(end - s);
		if (n == 2 && s[0] == '.' && s[1] == '.') {
			if (--depth < 0)
				return 1;
		} else if (n && !(n == 1 && s[0] == '.')) {
			depth++;
		}
		s += n + (e ? 1 : 0);
	}
	return 0;
}

static int find_escaping_links(mdeploy_moodle *m)
{
	size_t i;
	int rc = 0;
	for (i = 0; i < m->vt.n && rc == 0; i++) {
		mdeploy__vdata d;
		if (m->vt.e[i].mode != 0120000)
			continue;
		if ((rc = mdeploy__vtree_read(&m->vt, &m->vt.e[i], &d)) != 0)
			break;
		if (link_leaves(m->vt.e[i].path, d.data, d.len))
			rc = problem(m, "symlink-escape", NULL, m->vt.e[i].path, 0,
			             "symbolic link to '%.*s' leaves the source tree; a build refuses it and "
			             "nothing outside the tree may be part of a release", (int)d.len, d.data);
		mdeploy__vdata_release(&d);
	}
	return rc;
}

static int cross_checks(mdeploy_moodle *m)
{
	size_t i, j;
	int rc = 0;
	for (i = 0; i < m->nplugins && rc == 0; i++) {
		const mdeploy_moodle_plugin *p = &m->plugins[i].pub;
		char *vfile = mdeploy__sprintf("%s%s/version.php", m->root, p->path);
		if (!vfile)
			return mdeploy__error_oom();
		if (p->requires && mdeploy_moodle_version_cmp(p->requires, m->version) > 0)
			rc = problem(m, "requires", p->component, vfile, 0,
			             "%s requires Moodle %s, above this core's version %s", p->component,
			             p->requires, m->version);
		if (rc == 0 && p->incompatible && m->branch &&
		    mdeploy_moodle_version_cmp(p->incompatible, m->branch) <= 0)
			rc = problem(m, "incompatible", p->component, vfile, 0,
			             "%s is incompatible with Moodle branch %s and later "
			             "(this core is branch %s)", p->component, p->incompatible, m->branch);
		for (j = 0; rc == 0 && j < p->dependency_count; j++) {
			const mdeploy_moodle_dependency *d = &p->dependencies[j];
			const struct plugin *dep = mdeploy__moodle_find_plugin(m, d->component);
			if (!dep)
				rc = problem(m, "dependency-missing", p->component, vfile, 0,
				             "%s depends on %s, which is not in the tree", p->component,
				             d->component);
			else if (d->version && strcmp(d->version, "ANY_VERSION") != 0 &&
			         (!dep->pub.version || mdeploy_moodle_version_cmp(dep->pub.version, d->version) < 0))
				rc = problem(m, "dependency-version", p->component, vfile, 0,
				             "%s depends on %s %s or later, but the tree has %s", p->component,
				             d->component, d->version, dep->pub.version ? dep->pub.version : "no version");
		}
		free(vfile);
	}
	return rc;
}

int mdeploy__moodle_check_tree(mdeploy_moodle *m)
{
	int rc;
	if ((rc = find_misplaced(m)) != 0 || (rc = find_escaping_links(m)) != 0)
		return rc;
	return cross_checks(m);
}
