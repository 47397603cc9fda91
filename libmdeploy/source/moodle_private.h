/*
 * moodle_private.h - the Moodle tree model's insides, shared by moodle.c
 * (core, plugins, problems), moodle_checks.c (checks across the tree) and
 * moodle_types.c (plugin types).
 */
#ifndef MDEPLOY_SOURCE_MOODLE_PRIVATE_H
#define MDEPLOY_SOURCE_MOODLE_PRIVATE_H

#include "source_private.h"

struct ptype {
	char *type;
	char *dir;          /* relative to the Moodle root, no trailing slash */
};

struct plugin {
	mdeploy_moodle_plugin pub;
	mdeploy_moodle_dependency *deps;
	char **vfiles;             /* version.php and what it includes */
	size_t nvfiles;
	const char *unread;        /* why the version is not known, or NULL */
};

struct mdeploy_moodle {
	mdeploy__vtree vt;
	git_repository **repos;    /* owned, when opened from git */
	size_t nrepos;
	const char *layout;
	char *root;                /* "" or "public/" */
	char *version, *release, *branch, *maturity;
	struct ptype *types;
	size_t ntypes;
	struct plugin *plugins;
	size_t nplugins;
	mdeploy_moodle_problem *problems;
	size_t nproblems;
	char **pool;               /* strings the public structs point at */
	size_t npool;
	/* Plugin types whose plugins may have subplugins, from core_component's
	 * $supportsubplugins; NULL: every type (no lib/classes/component.php). */
	char **subtypes_of;
	size_t nsubtypes_of;
};

/* moodle.c: the plugin named `component`, or NULL. */
const struct plugin *mdeploy__moodle_find_plugin(const mdeploy_moodle *m, const char *component);

/* moodle_checks.c: misplaced version.php files, symbolic links leaving the
 * tree, requires/incompatible/dependencies; each found is a problem. */
int mdeploy__moodle_check_tree(mdeploy_moodle *m);

/* moodle_types.c */
const char *mdeploy__moodle_type_dir(const mdeploy_moodle *m, const char *type);
/* The plugin types of a components.json (plugin_dir NULL) or of a plugin's
 * db/subplugins.json; malformed files are problems, not failures. */
int mdeploy__moodle_read_types(mdeploy_moodle *m, const char *file, const char *plugin_dir, const char *component);
/* lib/components.json (where this layout keeps it) and which types may
 * have subplugins; an error when the tree's plugin types cannot be known. */
int mdeploy__moodle_read_core_types(mdeploy_moodle *m);
/* Moodle reads db/subplugins.json of plugins of this type. */
int mdeploy__moodle_type_has_subplugins(const mdeploy_moodle *m, const char *type);

#define problem mdeploy__moodle_add_problem

#endif
