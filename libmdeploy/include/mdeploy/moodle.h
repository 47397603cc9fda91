/*
 * mdeploy/moodle.h - what a Moodle tree contains, read from the tree.
 *
 * The model is built from Moodle's own files, never from a built-in
 * table: core's version.php ($version, $release, $branch, $maturity),
 * lib/components.json (plugin types and their directories), every
 * db/subplugins.json (core's and plugins'), and each plugin's
 * version.php. Both layouts are understood: Moodle up to 5.0 with
 * version.php at the top, and 5.1+ with the web root under public/.
 *
 * A tree is read from a directory or from a git commit. Problems in the
 * tree (a plugin whose version.php names another component, a misplaced
 * plugin, an unmet dependency...) do not make opening fail: they are
 * collected, all of them, as problems. Opening fails only when the tree is
 * not a Moodle tree at all (no core version.php, no lib/components.json)
 * or core's version.php cannot be read.
 *
 * A model is immutable once opened; it may be read from several threads.
 * Strings and structs are borrowed from it.
 */
#ifndef MDEPLOY_MOODLE_H
#define MDEPLOY_MOODLE_H

#include "common.h"
#include "context.h"

MDEPLOY_BEGIN_DECL

typedef struct mdeploy_moodle mdeploy_moodle;

/* A plugin version.php names, with the version it needs. */
typedef struct mdeploy_moodle_dependency {
	const char *component;
	const char *version;  /* as written, or "ANY_VERSION" */
} mdeploy_moodle_dependency;

typedef struct mdeploy_moodle_plugin {
	const char *component;    /* from the directory: type_name */
	const char *type;
	const char *name;
	const char *path;         /* relative to the Moodle root, e.g. "mod/forum" */
	const char *version;      /* $plugin->version as written, or NULL */
	const char *requires;     /* or NULL */
	const char *release;      /* or NULL */
	const char *maturity;     /* "MATURITY_STABLE" ..., or NULL */
	const char *declared_component; /* $plugin->component, or NULL */
	const char *incompatible; /* or NULL */
	const char *supported_min, *supported_max; /* or NULL */
	size_t dependency_count;
	const mdeploy_moodle_dependency *dependencies;
	/* Which source repository it came from: "core" for core's own tree,
	 * else the component of the plugin repository (a subplugin shipped in
	 * a plugin repository names that plugin). */
	const char *origin;
} mdeploy_moodle_plugin;

typedef struct mdeploy_moodle_problem {
	/* A stable code: "version-php" (unreadable version.php),
	 * "component-mismatch", "unknown-type", "misplaced", "path-conflict",
	 * "core-collision", "requires", "incompatible", "dependency-missing",
	 * "dependency-version", "no-version", "symlink-escape". */
	const char *code;
	const char *component; /* the plugin concerned, or NULL */
	const char *file;      /* path in the tree (with the layout prefix), or NULL */
	unsigned int line;     /* 0 when not about a line */
	const char *message;   /* "public/mod/x/version.php:4: ..." style, complete */
	/* The reason mdeploy.yml's source.accept gives for it, or NULL: an
	 * accepted problem is reported but does not fail validate. */
	const char *accepted;
} mdeploy_moodle_problem;

typedef struct mdeploy_moodle_options {
	unsigned int version;
	/* When reading from git: the repository (a path to a .git directory, a
	 * bare repository or a working tree). */
	const char *repository;
} mdeploy_moodle_options;

#define MDEPLOY_MOODLE_OPTIONS_VERSION 1
#define MDEPLOY_MOODLE_OPTIONS_INIT { MDEPLOY_MOODLE_OPTIONS_VERSION, NULL }

MDEPLOY_EXTERN(int) mdeploy_moodle_options_init(mdeploy_moodle_options *opts, unsigned int version);

/* Read the Moodle tree in directory `dir` (the repository root or the Moodle root). */
MDEPLOY_EXTERN(int) mdeploy_moodle_open_dir(mdeploy_moodle **out, const char *dir,
                                            const mdeploy_moodle_options *opts);

/*
 * Read the tree of `rev` (a tag, branch, commit id or anything git
 * rev-parse takes) in opts->repository. MDEPLOY_ENOTFOUND when the
 * revision does not exist.
 */
MDEPLOY_EXTERN(int) mdeploy_moodle_open_git(mdeploy_moodle **out, const char *rev,
                                            const mdeploy_moodle_options *opts);

MDEPLOY_EXTERN(void) mdeploy_moodle_free(mdeploy_moodle *m);

/* "root" (version.php at the top) or "public" (5.1+: public/version.php). */
MDEPLOY_EXTERN(const char *) mdeploy_moodle_layout(const mdeploy_moodle *m);
/* "" or "public/": prefix of the Moodle root in the tree. */
MDEPLOY_EXTERN(const char *) mdeploy_moodle_root(const mdeploy_moodle *m);

/* Core's $version ("2024100700.00"), $release, $branch ("405"), $maturity name. */
MDEPLOY_EXTERN(const char *) mdeploy_moodle_version(const mdeploy_moodle *m);
MDEPLOY_EXTERN(const char *) mdeploy_moodle_release(const mdeploy_moodle *m);
MDEPLOY_EXTERN(const char *) mdeploy_moodle_branch(const mdeploy_moodle *m);
MDEPLOY_EXTERN(const char *) mdeploy_moodle_maturity(const mdeploy_moodle *m);

/* Plugin types known, with their directories relative to the Moodle root. */
MDEPLOY_EXTERN(size_t) mdeploy_moodle_type_count(const mdeploy_moodle *m);
MDEPLOY_EXTERN(const char *) mdeploy_moodle_type(const mdeploy_moodle *m, size_t i, const char **dir);
/* Directory of plugin type `type`, or NULL when unknown. */
MDEPLOY_EXTERN(const char *) mdeploy_moodle_type_dir(const mdeploy_moodle *m, const char *type);

/* Plugins, sorted by component. */
MDEPLOY_EXTERN(size_t) mdeploy_moodle_plugin_count(const mdeploy_moodle *m);
MDEPLOY_EXTERN(const mdeploy_moodle_plugin *) mdeploy_moodle_plugin_at(const mdeploy_moodle *m, size_t i);
MDEPLOY_EXTERN(const mdeploy_moodle_plugin *) mdeploy_moodle_find(const mdeploy_moodle *m,
                                                                   const char *component);

/* Every problem found, in tree order. */
MDEPLOY_EXTERN(size_t) mdeploy_moodle_problem_count(const mdeploy_moodle *m);
/* How many problems are not accepted by mdeploy.yml (see accepted). */
MDEPLOY_EXTERN(size_t) mdeploy_moodle_problem_failing(const mdeploy_moodle *m);
MDEPLOY_EXTERN(const mdeploy_moodle_problem *) mdeploy_moodle_problem_at(const mdeploy_moodle *m, size_t i);

/* ---- the PHP a release needs ---- */

typedef struct mdeploy_php_requirement {
	const char *kind;      /* "php" (the version), "extension" or "setting" */
	const char *name;      /* "version", "pgsql", "max_input_vars"... */
	const char *want;      /* ">= 8.1.0, < 8.4", "loaded", ">= 5000", "on", ">= 96M" */
	const char *have;      /* what this PHP has: "8.2.29", "missing", "1000", "unset" */
	int required;          /* Moodle refuses to install or run without it */
	int ok;
	const char *source;    /* where the requirement comes from */
} mdeploy_php_requirement;

typedef int (*mdeploy_php_requirement_cb)(const mdeploy_php_requirement *req, void *payload);

/*
 * Check the PHP at `php` (NULL: "php" on PATH, with its ini files, as the
 * local instances' servers run it) against what Moodle needs, calling `cb`
 * once per requirement, met or not (non-zero stops with MDEPLOY_EUSER).
 * Always max_input_vars >= 5000 (Moodle's installer refuses less). With
 * `release` (a Moodle tree directory or a bundle, read without extracting
 * it): the PHP version range, extensions and settings that the <MOODLE>
 * block of its own admin/environment.xml (public/admin/ for 5.1+) lists for
 * its $release, each required or optional as the file says; without it, a
 * database driver (pgsql or mysqli). Returns 0 when every requirement was
 * reported (met or not); MDEPLOY_ENOTFOUND when `release` is not a Moodle
 * release or its environment.xml lacks its version; an error when PHP
 * cannot run.
 */
MDEPLOY_EXTERN(int) mdeploy_moodle_php_check(mdeploy_ctx *ctx, const char *php, const char *release,
                                             mdeploy_php_requirement_cb cb, void *payload);

/*
 * Compare two Moodle version numbers as Moodle does (as decimals):
 * <0, 0, >0. "ANY_VERSION" is below everything.
 */
MDEPLOY_EXTERN(int) mdeploy_moodle_version_cmp(const char *a, const char *b);

MDEPLOY_END_DECL

#endif
