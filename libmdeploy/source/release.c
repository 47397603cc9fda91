/*
 * release.c - a release: core and plugins at locked commits assembled
 * into one tree, read from the object database; its manifest, the walk
 * the bundle stage streams from, and export to a directory.
 */
#include "source_private.h"
#include "mdeploy/source.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct mdeploy_release {
	mdeploy_moodle *model;
	char *manifest;
};

struct mdeploy_source_reader {
	const char *data;
	size_t len, pos;
};

struct pending_problem {
	const char *code;
	char *component;
	char *file;
	char *message;
};

struct assembly {
	mdeploy_ctx *ctx;
	const mdeploy__lock *lock;
	const mdeploy_config *cfg;
	git_repository **repos;
	git_tree **trees;
	char **paths;        /* install path per repo (plugins), NULL while unknown */
	int *excluded;
	struct pending_problem *probs;
	size_t nprobs;
};

static int pend(struct assembly *a, const char *code, const char *component, const char *file,
                const char *fmt, ...) MDEPLOY_FORMAT_PRINTF(5, 6);
static int pend(struct assembly *a, const char *code, const char *component, const char *file,
                const char *fmt, ...)
{
	struct pending_problem *p = realloc(a->probs, (a->nprobs + 1) * sizeof(*p));
	mdeploy__buf b = MDEPLOY__BUF_INIT;
	va_list ap;
	if (!p)
		return mdeploy__error_oom();
	a->probs = p;
	va_start(ap, fmt);
	mdeploy__buf_vprintf(&b, fmt, ap);
	va_end(ap);
	p[a->nprobs].code = code;
	p[a->nprobs].component = mdeploy__strdup(component);
	p[a->nprobs].file = file ? mdeploy__strdup(file) : NULL;
	p[a->nprobs].message = mdeploy__buf_detach(&b);
	a->nprobs++;
	return 0;
}

/* Where mdeploy.yml places a plugin, to name it in messages. */
static const char *where_of(const struct assembly *a, size_t i)
{
	size_t k;
	if (!a->cfg)
		return a->lock->file;
	for (k = 0; k < mdeploy_config_source_plugin_count(a->cfg); k++) {
		const mdeploy_config_repo *r = mdeploy_config_source_plugin(a->cfg, k);
		if (!strcmp(r->component, a->lock->repos[i].component))
			return mdeploy_config_where(a->cfg, r->field);
	}
	return a->lock->file;
}

static int build_round(struct assembly *a, mdeploy_moodle **out, const char *root)
{
	mdeploy__vtree vt;
	size_t i;
	int rc;

	mdeploy__vtree_init(&vt);
	if ((rc = mdeploy__vtree_add_git(&vt, a->repos[0], a->trees[0], "", "core")) != 0)
		goto fail;
	for (i = 1; i < a->lock->n; i++) {
		char *prefix;
		if (!a->paths[i] || a->excluded[i])
			continue;
		if (!(prefix = mdeploy__sprintf("%s%s/", root, a->paths[i]))) {
			rc = mdeploy__error_oom();
			goto fail;
		}
		rc = mdeploy__vtree_add_git(&vt, a->repos[i], a->trees[i], prefix, a->lock->repos[i].component);
		free(prefix);
		if (rc)
			goto fail;
	}
	return mdeploy__moodle_build(out, &vt);
fail:
	mdeploy__vtree_dispose(&vt);
	return rc;
}

/*
 * Core's own files (origin 0) at `full`, under it, or in place of one of
 * its parent directories (a symlink would take the plugin elsewhere);
 * placed plugins do not count.
 */
static int core_has(const mdeploy__vtree *vt, const char *full)
{
	const mdeploy__ventry *e = mdeploy__vtree_find(vt, full);
	char *dir;
	size_t k, n;
	int found = e && e->origin == 0;
	const char *slash;
	/* A core file or symlink where a parent directory of the path must be. */
	for (slash = strchr(full, '/'); !found && slash; slash = strchr(slash + 1, '/')) {
		char *parent = strndup(full, (size_t)(slash - full));
		if (parent && (e = mdeploy__vtree_find(vt, parent)) && e->origin == 0)
			found = 1;
		free(parent);
	}
	if (found || !(dir = mdeploy__sprintf("%s/", full)))
		return found;
	n = strlen(dir);
	for (k = mdeploy__vtree_lower(vt, dir); k < vt->n && !strncmp(vt->e[k].path, dir, n); k++)
		if (vt->e[k].origin == 0) {
			found = 1;
			break;
		}
	free(dir);
	return found;
}

/* Decide install paths, checking each against the core tree and the other plugins. */
static int place_plugins(struct assembly *a, const mdeploy_moodle *m, int *progress)
{
	const mdeploy__vtree *vt = mdeploy__moodle_vtree(m);
	const char *root = mdeploy_moodle_root(m);
	size_t i, j;
	int rc;

	*progress = 0;
	for (i = 1; i < a->lock->n; i++) {
		const mdeploy__lockrepo *r = &a->lock->repos[i];
		const char *us = strchr(r->component, '_'), *dir;
		char *type, *path, *full;
		if (a->paths[i] || a->excluded[i])
			continue;
		if (!us)
			continue;
		if (!(type = strndup(r->component, (size_t)(us - r->component))))
			return mdeploy__error_oom();
		dir = mdeploy_moodle_type_dir(m, type);
		if (r->path)
			path = mdeploy__strdup(r->path);
		else if (dir)
			path = mdeploy__sprintf("%s/%s", dir, us + 1);
		else {
			free(type);
			continue; /* perhaps a type a plugin placed later brings */
		}
		free(type);
		if (!path)
			return mdeploy__error_oom();
		*progress = 1;
		a->paths[i] = path;
		if (!(full = mdeploy__sprintf("%s%s", root, path)))
			return mdeploy__error_oom();
		if (core_has(vt, full)) {
			rc = pend(a, "core-collision", r->component, NULL,
			          "%s: %s: install path %s collides with Moodle core's files; the plugin "
			          "would overwrite them or be written through a symlink", where_of(a, i),
			          r->component, full);
			a->excluded[i] = 1;
		} else {
			rc = 0;
			for (j = 1; j < a->lock->n; j++) {
				if (j != i && a->paths[j] && !a->excluded[j] && !strcmp(a->paths[j], path)) {
					rc = pend(a, "path-conflict", r->component, NULL,
					          "%s: %s: install path %s is also the path of %s", where_of(a, i),
					          r->component, path, a->lock->repos[j].component);
					a->excluded[i] = 1;
					break;
				}
			}
		}
		if (rc == 0 && !a->excluded[i] && git_tree_entry_byname(a->trees[i], "version.php") == NULL)
			rc = pend(a, "no-version", r->component, NULL,
			          "%s: %s: the repository has no version.php at its top; is %s a Moodle plugin?",
			          where_of(a, i), r->component, r->url);
		free(full);
		if (rc)
			return rc;
	}
	return 0;
}

/* After the last round: unplaced plugins and manifest/component agreement. */
static int final_checks(struct assembly *a, mdeploy_moodle *m)
{
	size_t i;
	int rc = 0;
	for (i = 0; i < a->nprobs && rc == 0; i++)
		rc = mdeploy__moodle_add_problem(m, a->probs[i].code, a->probs[i].component, a->probs[i].file,
		                                 0, "%s", a->probs[i].message);
	for (i = 1; i < a->lock->n && rc == 0; i++) {
		const mdeploy__lockrepo *r = &a->lock->repos[i];
		const mdeploy_moodle_plugin *p = NULL;
		size_t k;
		if (a->excluded[i])
			continue;
		if (!a->paths[i]) {
			const char *us = strchr(r->component, '_');
			rc = mdeploy__moodle_add_problem(m, "unknown-type", r->component, NULL, 0,
			                                 "%s: %s: unknown plugin type '%.*s': neither core's "
			                                 "lib/components.json nor any db/subplugins.json declares it",
			                                 where_of(a, i), r->component,
			                                 us ? (int)(us - r->component) : (int)strlen(r->component),
			                                 r->component);
			continue;
		}
		for (k = 0; k < mdeploy_moodle_plugin_count(m); k++)
			if (!strcmp(mdeploy_moodle_plugin_at(m, k)->path, a->paths[i]))
				p = mdeploy_moodle_plugin_at(m, k);
		if (!p)
			continue; /* not where Moodle looks: reported as misplaced */
		if (strcmp(p->component, r->component) != 0)
			rc = mdeploy__moodle_add_problem(m, "component-mismatch", r->component, NULL, 0,
			                                 "%s: %s: installed at %s, which makes it %s for Moodle",
			                                 where_of(a, i), r->component, p->path, p->component);
		else if (p->declared_component && strcmp(p->declared_component, r->component) != 0)
			rc = mdeploy__moodle_add_problem(m, "component-mismatch", r->component, NULL, 0,
			                                 "%s: %s: its version.php says $plugin->component = '%s'",
			                                 where_of(a, i), r->component, p->declared_component);
	}
	return rc;
}

static json_t *url_json(const mdeploy__lock *l, size_t i)
{
	char *u = mdeploy__mirror_url(l->repos[i].url, l->base_dir ? l->base_dir : ".");
	json_t *j = json_string(u ? u : l->repos[i].url);
	free(u);
	return j;
}

static char *manifest_json(const mdeploy__lock *l, char **paths, mdeploy_moodle *m)
{
	json_t *doc = json_object(), *plugins = json_array(), *comps = json_object(), *core;
	size_t i;
	char *s;

	json_object_set_new(doc, "mdeploy_release", json_integer(1));
	if (l->application)
		json_object_set_new(doc, "application", json_string(l->application));
	json_object_set_new(doc, "layout", json_string(mdeploy_moodle_layout(m)));
	/* URLs as keyed for the mirrors (local paths absolute): a manifest is
	 * read back from wherever it was exported to. */
	core = json_pack("{s:s%, s:s, s:s}", "url", "", (size_t)0, "ref", l->repos[0].ref,
	                 "commit", l->repos[0].commit);
	json_object_set_new(core, "url", url_json(l, 0));
	if (l->repos[0].tree)
		json_object_set_new(core, "tree", json_string(l->repos[0].tree));
	json_object_set_new(core, "version", json_string(mdeploy_moodle_version(m)));
	if (mdeploy_moodle_release(m))
		json_object_set_new(core, "release", json_string(mdeploy_moodle_release(m)));
	if (mdeploy_moodle_branch(m))
		json_object_set_new(core, "branch", json_string(mdeploy_moodle_branch(m)));
	json_object_set_new(doc, "core", core);
	for (i = 1; i < l->n; i++) {
		const mdeploy__lockrepo *r = &l->repos[i];
		const mdeploy_moodle_plugin *p = mdeploy_moodle_find(m, r->component);
		json_t *o = json_pack("{s:s, s:o, s:s, s:s}", "component", r->component, "url", url_json(l, i),
		                      "ref", r->ref, "commit", r->commit);
		if (r->tree)
			json_object_set_new(o, "tree", json_string(r->tree));
		if (r->path)
			json_object_set_new(o, "path", json_string(r->path));
		else if (paths && paths[i])
			json_object_set_new(o, "installed_at", json_string(paths[i]));
		if (p && p->version)
			json_object_set_new(o, "version", json_string(p->version));
		json_array_append_new(plugins, o);
	}
	json_object_set_new(doc, "plugins", plugins);
	json_object_set_new(comps, "core", json_string(mdeploy_moodle_version(m)));
	for (i = 0; i < mdeploy_moodle_plugin_count(m); i++) {
		const mdeploy_moodle_plugin *p = mdeploy_moodle_plugin_at(m, i);
		json_object_set_new(comps, p->component, p->version ? json_string(p->version) : json_null());
	}
	json_object_set_new(doc, "components", comps);
	s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(doc);
	return s;
}

/* mdeploy.yml's source.accept: known findings, accepted with a reason. One
 * that accepts nothing any more is said, so that acceptances do not rot. */
static int apply_accepts(mdeploy_ctx *ctx, const mdeploy_config *cfg, mdeploy_moodle *m)
{
	size_t i, n = mdeploy_config_source_accept_count(cfg);
	for (i = 0; i < n; i++) {
		const mdeploy_config_accept *a = mdeploy_config_source_accept(cfg, i);
		int k = mdeploy__moodle_accept(m, a->code, a->component, a->file, a->reason);
		if (k < 0)
			return k;
		if (k == 0) {
			const char *where = mdeploy_config_where(cfg, a->field);
			mdeploy__log(ctx, MDEPLOY_LOG_WARN, "source", "%s: accepts no problem of this release; remove it",
			             where ? where : a->field);
		}
	}
	return 0;
}

int mdeploy__release_assemble(mdeploy_release **out, mdeploy_ctx *ctx, const mdeploy__lock *l,
                              const mdeploy_config *cfg)
{
	struct assembly a;
	mdeploy_moodle *m = NULL;
	mdeploy_release *rel = NULL;
	size_t i;
	int rc = 0, progress, rounds = 0;
	const char *root;

	*out = NULL;
	memset(&a, 0, sizeof(a));
	a.ctx = ctx;
	a.lock = l;
	a.cfg = cfg;
	a.repos = calloc(l->n, sizeof(*a.repos));
	a.trees = calloc(l->n, sizeof(*a.trees));
	a.paths = calloc(l->n, sizeof(*a.paths));
	a.excluded = calloc(l->n, sizeof(*a.excluded));
	if (!a.repos || !a.trees || !a.paths || !a.excluded) {
		rc = mdeploy__error_oom();
		goto out;
	}
	for (i = 0; i < l->n; i++) {
		const mdeploy__lockrepo *r = &l->repos[i];
		char *url = mdeploy__mirror_url(r->url, l->base_dir);
		git_commit *c = NULL;
		git_oid oid;
		if (!url) {
			rc = mdeploy__error_oom();
			goto out;
		}
		rc = mdeploy__mirror_open(&a.repos[i], ctx, url);
		free(url);
		if (rc)
			goto out;
		git_oid_fromstr(&oid, r->commit);
		if (git_commit_lookup(&c, a.repos[i], &oid) != 0) {
			rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_SOURCE,
			                        "%s: %s: commit %s is not in the mirror of %s; "
			                        "run 'mdeploy source fetch --locked'", l->file, r->component,
			                        r->commit, r->url);
			goto out;
		}
		if (r->tree) {
			char t[GIT_OID_HEXSZ + 1];
			git_oid_tostr(t, sizeof(t), git_commit_tree_id(c));
			if (strcmp(t, r->tree) != 0) {
				rc = mdeploy__error_set(MDEPLOY_ECORRUPT, MDEPLOY_ERROR_CLASS_SOURCE,
				                        "%s: %s: tree %s does not match commit %s (its tree is %s); "
				                        "was it edited by hand? run 'mdeploy source lock'",
				                        l->file, r->component, r->tree, r->commit, t);
				git_commit_free(c);
				goto out;
			}
		}
		rc = git_commit_tree(&a.trees[i], c);
		git_commit_free(c);
		if (rc) {
			rc = mdeploy__git_error(rc, "%s: cannot read the tree of %s", l->file, r->component);
			goto out;
		}
	}
	/* Plugins are placed in rounds: first those whose type core declares,
	 * then those whose type comes from a placed plugin's db/subplugins.json. */
	root = git_tree_entry_byname(a.trees[0], "version.php") ? "" : "public/";
	for (;;) {
		mdeploy_moodle_free(m);
		m = NULL;
		if ((rc = build_round(&a, &m, root)) != 0)
			goto out;
		if ((rc = place_plugins(&a, m, &progress)) != 0)
			goto out;
		if (!progress || ++rounds > 64)
			break;
	}
	if ((rc = final_checks(&a, m)) != 0 || (rc = apply_accepts(ctx, cfg, m)) != 0)
		goto out;
	/* The model owns the repositories from here on. */
	for (i = 0; i < l->n; i++) {
		if ((rc = mdeploy__moodle_own_repo(m, a.repos[i])) != 0)
			goto out;
		a.repos[i] = NULL;
	}
	if (!(rel = calloc(1, sizeof(*rel)))) {
		rc = mdeploy__error_oom();
		goto out;
	}
	if (!(rel->manifest = manifest_json(l, a.paths, m))) {
		free(rel);
		rel = NULL;
		rc = mdeploy__error_oom();
		goto out;
	}
	rel->model = m;
	m = NULL;
	*out = rel;
out:
	mdeploy_moodle_free(m);
	for (i = 0; i < l->n; i++) {
		if (a.trees && a.trees[i])
			git_tree_free(a.trees[i]);
		if (a.repos && a.repos[i])
			git_repository_free(a.repos[i]);
		if (a.paths)
			free(a.paths[i]);
	}
	for (i = 0; i < a.nprobs; i++) {
		free(a.probs[i].component);
		free(a.probs[i].file);
		free(a.probs[i].message);
	}
	free(a.probs);
	free(a.repos);
	free(a.trees);
	free(a.paths);
	free(a.excluded);
	return rc;
}

int mdeploy_release_open_file(mdeploy_release **out, mdeploy_ctx *ctx, const char *path)
{
	mdeploy__lock l;
	int rc;
	*out = NULL;
	if ((rc = mdeploy__lock_read(&l, path)) == 0)
		rc = mdeploy__release_assemble(out, ctx, &l, NULL);
	mdeploy__lock_dispose(&l);
	return rc;
}

int mdeploy_release_open_rev(mdeploy_release **out, const char *repository, const char *rev)
{
	mdeploy_moodle_options o = MDEPLOY_MOODLE_OPTIONS_INIT;
	mdeploy_release *rel;
	mdeploy__lock l;
	git_repository *repo = NULL;
	git_object *obj = NULL;
	git_commit *c = NULL;
	char hex[GIT_OID_HEXSZ + 1];
	int rc;

	*out = NULL;
	mdeploy__git_init();
	if ((rc = git_repository_open_ext(&repo, repository, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL)) != 0)
		return mdeploy__git_error(rc, "cannot open git repository %s", repository);
	if ((rc = mdeploy__git_lookup(&obj, repo, rev)) != 0 ||
	    (rc = git_object_peel((git_object **)&c, obj, GIT_OBJECT_COMMIT)) != 0) {
		rc = mdeploy__git_error(rc, "%s: no commit '%s'", repository, rev);
		git_object_free(obj);
		git_repository_free(repo);
		return rc;
	}
	git_object_free(obj);
	if (!(rel = calloc(1, sizeof(*rel)))) {
		git_commit_free(c);
		git_repository_free(repo);
		return mdeploy__error_oom();
	}
	o.repository = repository;
	git_oid_tostr(hex, sizeof(hex), git_commit_id(c));
	git_commit_free(c);
	git_repository_free(repo);
	if ((rc = mdeploy_moodle_open_git(&rel->model, hex, &o)) != 0) {
		free(rel);
		return rc;
	}
	memset(&l, 0, sizeof(l));
	{
		mdeploy__lockrepo r;
		memset(&r, 0, sizeof(r));
		r.component = (char *)"core";
		r.url = (char *)repository;
		r.ref = (char *)rev;
		r.commit = hex;
		l.repos = &r;
		l.n = 1;
		rel->manifest = manifest_json(&l, NULL, rel->model);
	}
	if (!rel->manifest) {
		mdeploy_release_free(rel);
		return mdeploy__error_oom();
	}
	*out = rel;
	return 0;
}

void mdeploy_release_free(mdeploy_release *rel)
{
	if (!rel)
		return;
	mdeploy_moodle_free(rel->model);
	free(rel->manifest);
	free(rel);
}

const mdeploy_moodle *mdeploy_release_moodle(const mdeploy_release *rel) { return rel->model; }
const char *mdeploy_release_manifest(const mdeploy_release *rel) { return rel->manifest; }

/* ---- walk ------------------------------------------------------------------ */

int mdeploy_source_read(mdeploy_source_reader *r, void *buf, size_t len, size_t *nread)
{
	size_t n = r->len - r->pos;
	if (n > len)
		n = len;
	memcpy(buf, r->data + r->pos, n);
	r->pos += n;
	*nread = n;
	return 0;
}

const void *mdeploy_source_content(mdeploy_source_reader *r, size_t *len)
{
	if (len)
		*len = r->len;
	return r->data;
}

int mdeploy_release_walk(const mdeploy_release *rel, mdeploy_source_walk_cb cb, void *payload)
{
	const mdeploy__vtree *vt = mdeploy__moodle_vtree(rel->model);
	size_t i;
	int rc;

	for (i = 0; i < vt->n; i++) {
		const mdeploy__ventry *e = &vt->e[i];
		mdeploy_source_entry ent;
		mdeploy_source_reader rd;
		mdeploy__vdata d;
		char oid[GIT_OID_HEXSZ + 1] = "";

		if ((rc = mdeploy__vtree_read(vt, e, &d)) != 0)
			return rc;
		if (vt->origins[e->origin].repo)
			git_oid_tostr(oid, sizeof(oid), &e->oid);
		ent.version = MDEPLOY_SOURCE_ENTRY_VERSION;
		ent.path = e->path;
		ent.mode = e->mode;
		ent.size = d.len;
		ent.origin = vt->origins[e->origin].name;
		ent.oid = oid;
		rd.data = d.data;
		rd.len = d.len;
		rd.pos = 0;
		rc = cb(&ent, &rd, payload);
		mdeploy__vdata_release(&d);
		if (rc != 0)
			return mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_CALLBACK,
			                          "walk stopped by the callback at %s", e->path);
	}
	return 0;
}

/* ---- export ---------------------------------------------------------------- */

/* Paths from a tree are checked before they touch the file system. */
static int path_safe(const char *p)
{
	const char *seg = p;
	if (!*p || *p == '/')
		return 0;
	for (;;) {
		size_t n = strcspn(seg, "/");
		if (n == 0 || (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.') ||
		    (n == 4 && !strncasecmp(seg, ".git", 4)))
			return 0;
		if (!seg[n])
			return 1;
		seg += n + 1;
	}
}

struct export_state {
	const char *dir;
	char *lastdir;
	char **links;      /* symlinks written so far: nothing may be written through them */
	size_t nlinks;
	int rc;
};

static int export_cb(const mdeploy_source_entry *e, mdeploy_source_reader *r, void *payload)
{
	struct export_state *st = payload;
	char *full, *slash;
	size_t len;
	const char *data = mdeploy_source_content(r, &len);
	size_t k;

	if (!path_safe(e->path)) {
		st->rc = mdeploy__error_set(MDEPLOY_ECORRUPT, MDEPLOY_ERROR_CLASS_SOURCE,
		                            "refusing to export unsafe path '%s'", e->path);
		return 1;
	}
	for (k = 0; k < st->nlinks; k++) {
		size_t n = strlen(st->links[k]);
		if (!strncmp(e->path, st->links[k], n) && e->path[n] == '/') {
			st->rc = mdeploy__error_set(MDEPLOY_ECORRUPT, MDEPLOY_ERROR_CLASS_SOURCE,
			                            "refusing to export %s: %s is a symlink", e->path, st->links[k]);
			return 1;
		}
	}
	if (!(full = mdeploy__path_join(st->dir, e->path))) {
		st->rc = mdeploy__error_oom();
		return 1;
	}
	slash = strrchr(full, '/');
	*slash = '\0';
	if (!st->lastdir || strcmp(st->lastdir, full) != 0) {
		if ((st->rc = mdeploy__mkdir_p(full, 0755)) != 0) {
			free(full);
			return 1;
		}
		free(st->lastdir);
		st->lastdir = mdeploy__strdup(full);
	}
	*slash = '/';
	if (e->mode == 0120000) {
		char *target = strndup(data, len);
		char **nl = realloc(st->links, (st->nlinks + 1) * sizeof(*nl));
		if (nl)
			st->links = nl;
		if (!target || !nl || !(st->links[st->nlinks] = mdeploy__strdup(e->path)))
			st->rc = mdeploy__error_oom();
		else if (st->nlinks++, symlink(target, full) != 0)
			st->rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_SOURCE, "cannot create symlink %s", full);
		free(target);
	} else {
		int fd = open(full, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, e->mode == 0100755 ? 0755 : 0644);
		size_t off = 0;
		if (fd < 0) {
			st->rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_SOURCE, "cannot create %s", full);
		} else {
			while (off < len) {
				ssize_t w = write(fd, data + off, len - off);
				if (w < 0) {
					if (errno == EINTR)
						continue;
					st->rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_SOURCE, "cannot write %s", full);
					break;
				}
				off += (size_t)w;
			}
			/* umask must not take the executable bit away */
			if (st->rc == 0 && fchmod(fd, e->mode == 0100755 ? 0755 : 0644) != 0)
				st->rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_SOURCE, "cannot chmod %s", full);
			if (close(fd) != 0 && st->rc == 0)
				st->rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_SOURCE, "cannot write %s", full);
		}
	}
	free(full);
	return st->rc != 0;
}

int mdeploy_release_export(const mdeploy_release *rel, const char *dir)
{
	struct export_state st;
	char *tmp, *mpath = NULL;
	int rc;

	if (mdeploy__path_exists(dir) && rmdir(dir) != 0)
		return mdeploy__error_set(MDEPLOY_EEXISTS, MDEPLOY_ERROR_CLASS_SOURCE,
		                          "%s already exists and is not an empty directory", dir);
	if (!(tmp = mdeploy__sprintf("%s.tmp-XXXXXX", dir)))
		return mdeploy__error_oom();
	if (!mkdtemp(tmp)) {
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_SOURCE, "cannot create %s", tmp);
		free(tmp);
		return rc;
	}
	chmod(tmp, 0755);
	memset(&st, 0, sizeof(st));
	st.dir = tmp;
	rc = mdeploy_release_walk(rel, export_cb, &st);
	if (st.rc)
		rc = st.rc;
	free(st.lastdir);
	while (st.nlinks)
		free(st.links[--st.nlinks]);
	free(st.links);
	if (rc == 0) {
		if (!(mpath = mdeploy__path_join(tmp, ".mdeploy-release.json")))
			rc = mdeploy__error_oom();
		else
			rc = mdeploy__file_write_atomic(mpath, rel->manifest, strlen(rel->manifest), 0644);
	}
	if (rc == 0 && rename(tmp, dir) != 0)
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_SOURCE, "cannot rename %s to %s", tmp, dir);
	if (rc != 0)
		mdeploy__rm_rf(tmp);
	free(mpath);
	free(tmp);
	return rc;
}
