/*
 * source.c - the source handle: mdeploy.yml's repositories, their
 * mirrors, and mdeploy.lock.
 */
#include "source_private.h"
#include "mdeploy/source.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mdeploy_source {
	mdeploy_ctx *ctx;
	mdeploy_config *cfg;
	char *lock_path;
};

int mdeploy_source_options_init(mdeploy_source_options *opts, unsigned int version)
{
	mdeploy_source_options def = MDEPLOY_SOURCE_OPTIONS_INIT;
	if (mdeploy__options_check(version, MDEPLOY_SOURCE_OPTIONS_VERSION, "mdeploy_source_options"))
		return MDEPLOY_EVERSION;
	*opts = def;
	opts->version = version;
	return 0;
}

int mdeploy_source_open(mdeploy_source **out, mdeploy_ctx *ctx, const mdeploy_source_options *opts)
{
	mdeploy_source *src;
	int rc;

	*out = NULL;
	if (opts && (rc = mdeploy__options_check(opts->version, MDEPLOY_SOURCE_OPTIONS_VERSION,
	                                         "mdeploy_source_options")) != 0)
		return rc;
	if (!(src = calloc(1, sizeof(*src))))
		return mdeploy__error_oom();
	src->ctx = ctx;
	if ((rc = mdeploy_config_load(&src->cfg, mdeploy_ctx_config_path(ctx), NULL)) != 0) {
		mdeploy_source_free(src);
		return rc;
	}
	if (!mdeploy_config_source_core(src->cfg)) {
		rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_CONFIG,
		                        "%s: source: section is required (core url and ref)",
		                        mdeploy_config_where(src->cfg, "source"));
		mdeploy_source_free(src);
		return rc;
	}
	src->lock_path = opts && opts->lock_path ? mdeploy__strdup(opts->lock_path)
	               : mdeploy__path_join(mdeploy_config_dir(src->cfg), "mdeploy.lock");
	if (!src->lock_path) {
		mdeploy_source_free(src);
		return mdeploy__error_oom();
	}
	*out = src;
	return 0;
}

void mdeploy_source_free(mdeploy_source *src)
{
	if (!src)
		return;
	mdeploy_config_free(src->cfg);
	free(src->lock_path);
	free(src);
}

const mdeploy_config *mdeploy_source_config(const mdeploy_source *src) { return src->cfg; }
const char *mdeploy_source_lock_path(const mdeploy_source *src) { return src->lock_path; }

/* ---- repositories of mdeploy.yml ---------------------------------------- */

static size_t repo_count(const mdeploy_source *src)
{
	return 1 + mdeploy_config_source_plugin_count(src->cfg);
}

static const mdeploy_config_repo *repo_at(const mdeploy_source *src, size_t i)
{
	return i == 0 ? mdeploy_config_source_core(src->cfg) : mdeploy_config_source_plugin(src->cfg, i - 1);
}

/* Fetch each distinct URL once. */
static int fetch_urls(mdeploy_ctx *ctx, char **urls, size_t n)
{
	size_t i, j;
	int rc;
	for (i = 0; i < n; i++) {
		for (j = 0; j < i; j++)
			if (!strcmp(urls[i], urls[j]))
				break;
		if (j < i)
			continue;
		if ((rc = mdeploy__mirror_fetch(ctx, urls[i])) != 0)
			return rc;
	}
	return 0;
}

static void free_strv(char **v, size_t n)
{
	size_t i;
	for (i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

static int config_urls(const mdeploy_source *src, char ***out)
{
	size_t i, n = repo_count(src);
	char **urls = calloc(n, sizeof(*urls));
	if (!urls)
		return mdeploy__error_oom();
	for (i = 0; i < n; i++) {
		if (!(urls[i] = mdeploy__mirror_url(repo_at(src, i)->url, mdeploy_config_dir(src->cfg)))) {
			free_strv(urls, n);
			return mdeploy__error_oom();
		}
	}
	*out = urls;
	return 0;
}

/* Resolve repo i of mdeploy.yml in its (fetched) mirror; errors name mdeploy.yml's line. */
static int resolve_config_repo(mdeploy_source *src, size_t i, const char *url, git_oid *commit, git_oid *tree)
{
	const mdeploy_config_repo *r = repo_at(src, i);
	git_repository *repo = NULL;
	char *field;
	int rc;

	if ((rc = mdeploy__mirror_open(&repo, src->ctx, url)) != 0)
		return rc;
	rc = mdeploy__mirror_resolve(commit, tree, repo, r->ref, r->url);
	git_repository_free(repo);
	if (rc != 0 && (field = mdeploy__sprintf("%s.ref", r->field))) {
		mdeploy__error_prefix("%s: %s", mdeploy_config_where(src->cfg, field), field);
		free(field);
	}
	return rc;
}

/* ---- the lock file --------------------------------------------------------- */

void mdeploy__lock_dispose(mdeploy__lock *l)
{
	size_t i;
	for (i = 0; i < l->n; i++) {
		free(l->repos[i].component);
		free(l->repos[i].url);
		free(l->repos[i].ref);
		free(l->repos[i].path);
		free(l->repos[i].commit);
		free(l->repos[i].tree);
	}
	free(l->repos);
	free(l->application);
	free(l->base_dir);
	free(l->file);
	memset(l, 0, sizeof(*l));
}

static int is_hex40(const char *s)
{
	size_t i;
	if (!s)
		return 0;
	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return i == 40;
}

static int lock_repo_read(mdeploy__lock *l, mdeploy__lockrepo *r, json_t *o, const char *where, int core)
{
	const char *keys[] = { "component", "url", "ref", "path", "commit", "tree" };
	char **dst[] = { &r->component, &r->url, &r->ref, &r->path, &r->commit, &r->tree };
	size_t i;

	if (!json_is_object(o))
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_SOURCE,
		                          "%s: %s: must be an object", l->file, where);
	for (i = 0; i < MDEPLOY__ARRAY_SIZE(keys); i++) {
		json_t *v = json_object_get(o, keys[i]);
		if (!v || json_is_null(v))
			continue;
		if (!json_is_string(v))
			return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_SOURCE,
			                          "%s: %s.%s: must be a string", l->file, where, keys[i]);
		if (!(*dst[i] = mdeploy__strdup(json_string_value(v))))
			return mdeploy__error_oom();
	}
	if (core && !r->component && !(r->component = mdeploy__strdup("core")))
		return mdeploy__error_oom();
	if (!r->component || !r->url || !r->ref || !r->commit)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_SOURCE,
		                          "%s: %s: needs component, url, ref and commit; "
		                          "run 'mdeploy source lock' to write it again", l->file, where);
	if (!is_hex40(r->commit))
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_SOURCE,
		                          "%s: %s.commit: '%s' is not a full commit id", l->file, where, r->commit);
	if (r->tree && !is_hex40(r->tree))
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_SOURCE,
		                          "%s: %s.tree: '%s' is not a full tree id", l->file, where, r->tree);
	return 0;
}

int mdeploy__lock_read(mdeploy__lock *l, const char *path)
{
	json_error_t jerr;
	json_t *doc = NULL, *plugins, *core;
	char *slash;
	size_t i;
	int rc = 0;

	memset(l, 0, sizeof(*l));
	if (!(l->file = mdeploy__strdup(path)) || !(l->base_dir = mdeploy__strdup(path)))
		return mdeploy__error_oom();
	slash = strrchr(l->base_dir, '/');
	if (!slash)
		strcpy(l->base_dir, ".");
	else if (slash == l->base_dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if (!mdeploy__path_exists(path))
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_SOURCE,
		                          "%s does not exist; run 'mdeploy source lock'", path);
	if (!(doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr)))
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_SOURCE, "%s:%d:%d: %s",
		                          path, jerr.line, jerr.column, jerr.text);
	if (!json_is_object(doc) || (!json_object_get(doc, "mdeploy_lock") &&
	                             !json_object_get(doc, "mdeploy_release"))) {
		rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_SOURCE,
		                        "%s: neither an mdeploy.lock nor a release manifest", path);
		goto out;
	}
	if (json_is_string(json_object_get(doc, "application")) &&
	    !(l->application = mdeploy__strdup(json_string_value(json_object_get(doc, "application"))))) {
		rc = mdeploy__error_oom();
		goto out;
	}
	core = json_object_get(doc, "core");
	plugins = json_object_get(doc, "plugins");
	if (plugins && !json_is_array(plugins)) {
		rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_SOURCE,
		                        "%s: plugins: must be an array", path);
		goto out;
	}
	l->n = 1 + json_array_size(plugins);
	if (!(l->repos = calloc(l->n, sizeof(*l->repos)))) {
		l->n = 0;
		rc = mdeploy__error_oom();
		goto out;
	}
	if ((rc = lock_repo_read(l, &l->repos[0], core, "core", 1)) != 0)
		goto out;
	for (i = 1; i < l->n; i++) {
		char where[32];
		snprintf(where, sizeof(where), "plugins[%zu]", i - 1);
		if ((rc = lock_repo_read(l, &l->repos[i], json_array_get(plugins, i - 1), where, 0)) != 0)
			goto out;
	}
out:
	json_decref(doc);
	return rc;
}

static json_t *lock_repo_json(const char *component, const mdeploy_config_repo *r, const git_oid *commit,
                              const git_oid *tree)
{
	char c[GIT_OID_HEXSZ + 1], t[GIT_OID_HEXSZ + 1];
	json_t *o = json_object();
	git_oid_tostr(c, sizeof(c), commit);
	git_oid_tostr(t, sizeof(t), tree);
	if (component)
		json_object_set_new(o, "component", json_string(component));
	json_object_set_new(o, "url", json_string(r->url));
	json_object_set_new(o, "ref", json_string(r->ref));
	if (r->path)
		json_object_set_new(o, "path", json_string(r->path));
	json_object_set_new(o, "commit", json_string(c));
	json_object_set_new(o, "tree", json_string(t));
	return o;
}

static int plugin_order_cmp(const void *a, const void *b)
{
	const mdeploy_config_repo *x = *(const mdeploy_config_repo *const *)a;
	const mdeploy_config_repo *y = *(const mdeploy_config_repo *const *)b;
	return strcmp(x->component, y->component);
}

int mdeploy_source_lock(mdeploy_source *src)
{
	size_t i, n = repo_count(src);
	char **urls = NULL, *text = NULL;
	git_oid *commits = NULL, *trees = NULL;
	const mdeploy_config_repo **order = NULL;
	json_t *doc = NULL, *plugins;
	int rc;

	if ((rc = config_urls(src, &urls)) != 0)
		return rc;
	if ((rc = fetch_urls(src->ctx, urls, n)) != 0)
		goto out;
	commits = calloc(n, sizeof(*commits));
	trees = calloc(n, sizeof(*trees));
	order = calloc(n, sizeof(*order));
	if (!commits || !trees || !order) {
		rc = mdeploy__error_oom();
		goto out;
	}
	for (i = 0; i < n; i++)
		if ((rc = resolve_config_repo(src, i, urls[i], &commits[i], &trees[i])) != 0)
			goto out;
	doc = json_object();
	json_object_set_new(doc, "mdeploy_lock", json_integer(1));
	json_object_set_new(doc, "application", json_string(mdeploy_config_application_name(src->cfg)));
	json_object_set_new(doc, "core", lock_repo_json(NULL, repo_at(src, 0), &commits[0], &trees[0]));
	plugins = json_array();
	for (i = 1; i < n; i++)
		order[i - 1] = repo_at(src, i);
	if (n > 1)
		qsort(order, n - 1, sizeof(*order), plugin_order_cmp);
	for (i = 0; i + 1 < n; i++) {
		size_t k;
		for (k = 1; k < n; k++)
			if (repo_at(src, k) == order[i])
				break;
		json_array_append_new(plugins, lock_repo_json(order[i]->component, order[i], &commits[k], &trees[k]));
	}
	json_object_set_new(doc, "plugins", plugins);
	if (!(text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER))) {
		rc = mdeploy__error_oom();
		goto out;
	}
	{
		size_t len = strlen(text);
		char *t2 = realloc(text, len + 2);
		if (!t2) {
			rc = mdeploy__error_oom();
			goto out;
		}
		text = t2;
		text[len] = '\n';
		text[len + 1] = '\0';
	}
	if ((rc = mdeploy__file_write_atomic(src->lock_path, text, strlen(text), 0644)) != 0)
		goto out;
	mdeploy__log(src->ctx, MDEPLOY_LOG_INFO, "source", "wrote %s", src->lock_path);
out:
	free(text);
	json_decref(doc);
	free(order);
	free(commits);
	free(trees);
	free_strv(urls, n);
	return rc;
}

/* ---- fetch and status ---------------------------------------------------- */

static int check_locked_commit(mdeploy_ctx *ctx, const mdeploy__lock *l, const mdeploy__lockrepo *r,
                               const char *url)
{
	git_repository *repo = NULL;
	git_commit *c = NULL;
	git_oid oid;
	int rc;

	if ((rc = mdeploy__mirror_open(&repo, ctx, url)) != 0)
		return rc;
	git_oid_fromstr(&oid, r->commit);
	if (git_commit_lookup(&c, repo, &oid) != 0) {
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_SOURCE,
		                        "%s: %s: commit %s (ref %s) is not in %s: it was removed upstream; "
		                        "run 'mdeploy source lock' to lock what is there now",
		                        l->file, r->component, r->commit, r->ref, r->url);
	} else if (!mdeploy__mirror_reachable(repo, &oid)) {
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_SOURCE,
		                        "%s: %s: commit %s (ref %s) is no longer on any branch or tag of %s "
		                        "(force-pushed or deleted upstream); run 'mdeploy source lock'",
		                        l->file, r->component, r->commit, r->ref, r->url);
	} else if (r->tree) {
		char t[GIT_OID_HEXSZ + 1];
		git_oid_tostr(t, sizeof(t), git_commit_tree_id(c));
		if (strcmp(t, r->tree) != 0)
			rc = mdeploy__error_set(MDEPLOY_ECORRUPT, MDEPLOY_ERROR_CLASS_SOURCE,
			                        "%s: %s: tree %s does not match commit %s (its tree is %s); "
			                        "was the lock edited by hand? run 'mdeploy source lock'",
			                        l->file, r->component, r->tree, r->commit, t);
	}
	git_commit_free(c);
	git_repository_free(repo);
	return rc;
}

int mdeploy_source_fetch(mdeploy_source *src, unsigned int flags)
{
	char **urls = NULL;
	size_t i, n;
	int rc;

	if (flags & MDEPLOY_SOURCE_LOCKED) {
		mdeploy__lock l;
		if ((rc = mdeploy__lock_read(&l, src->lock_path)) != 0) {
			mdeploy__lock_dispose(&l);
			return rc;
		}
		n = l.n;
		if (!(urls = calloc(n, sizeof(*urls)))) {
			mdeploy__lock_dispose(&l);
			return mdeploy__error_oom();
		}
		for (i = 0; i < n; i++)
			if (!(urls[i] = mdeploy__mirror_url(l.repos[i].url, l.base_dir)))
				rc = mdeploy__error_oom();
		if (rc == 0)
			rc = fetch_urls(src->ctx, urls, n);
		for (i = 0; rc == 0 && i < n; i++)
			rc = check_locked_commit(src->ctx, &l, &l.repos[i], urls[i]);
		free_strv(urls, n);
		mdeploy__lock_dispose(&l);
		return rc;
	}
	n = repo_count(src);
	if ((rc = config_urls(src, &urls)) != 0)
		return rc;
	rc = fetch_urls(src->ctx, urls, n);
	for (i = 0; rc == 0 && i < n; i++) {
		git_oid c, t;
		rc = resolve_config_repo(src, i, urls[i], &c, &t);
	}
	free_strv(urls, n);
	return rc;
}

int mdeploy_source_status(mdeploy_source *src, mdeploy_source_state_cb cb, void *payload)
{
	mdeploy__lock l;
	char **urls = NULL;
	size_t i, j, n = repo_count(src);
	int rc, have_lock;

	rc = mdeploy__lock_read(&l, src->lock_path);
	if (rc != 0 && rc != MDEPLOY_ENOTFOUND) {
		mdeploy__lock_dispose(&l);
		return rc;
	}
	have_lock = rc == 0;
	if ((rc = config_urls(src, &urls)) != 0 || (rc = fetch_urls(src->ctx, urls, n)) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		const mdeploy_config_repo *r = repo_at(src, i);
		mdeploy_source_state st;
		char up[GIT_OID_HEXSZ + 1] = "";
		git_repository *repo = NULL;
		git_oid c;

		memset(&st, 0, sizeof(st));
		st.component = r->component;
		st.url = r->url;
		st.ref = r->ref;
		for (j = 0; have_lock && j < l.n; j++)
			if (!strcmp(l.repos[j].component, r->component) && !strcmp(l.repos[j].url, r->url) &&
			    !strcmp(l.repos[j].ref, r->ref))
				st.locked = l.repos[j].commit;
		if ((rc = mdeploy__mirror_open(&repo, src->ctx, urls[i])) != 0)
			goto out;
		if (mdeploy__mirror_resolve(&c, NULL, repo, r->ref, r->url) == 0)
			git_oid_tostr(up, sizeof(up), &c);
		git_repository_free(repo);
		st.upstream = up[0] ? up : NULL;
		st.moved = !st.locked || !st.upstream || strcmp(st.locked, st.upstream) != 0;
		if (cb(&st, payload) != 0) {
			rc = mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_CALLBACK, "status aborted");
			goto out;
		}
	}
	mdeploy_error_clear();
out:
	free_strv(urls, n);
	mdeploy__lock_dispose(&l);
	return rc;
}

/* ---- releases from the lock ------------------------------------------------ */

static int same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* The lock must say what mdeploy.yml says now, or it locks another release. */
static int lock_matches_config(const mdeploy_source *src, const mdeploy__lock *l)
{
	size_t i, j, n = repo_count(src);
	for (i = 0; i < n; i++) {
		const mdeploy_config_repo *r = repo_at(src, i);
		const mdeploy__lockrepo *e = NULL;
		for (j = 0; j < l->n; j++)
			if (!strcmp(l->repos[j].component, r->component))
				e = &l->repos[j];
		if (!e || !same_str(e->url, r->url) || !same_str(e->ref, r->ref) || !same_str(e->path, r->path))
			return mdeploy__error_set(MDEPLOY_ECONFLICT, MDEPLOY_ERROR_CLASS_SOURCE,
			                          "%s is out of date: %s %s (%s); run 'mdeploy source lock'",
			                          l->file, r->component,
			                          e ? "is locked with another url, ref or path than mdeploy.yml gives"
			                            : "is in mdeploy.yml but not in the lock",
			                          mdeploy_config_where(src->cfg, r->field));
	}
	if (l->n != n) {
		for (j = 0; j < l->n; j++) {
			for (i = 0; i < n; i++)
				if (!strcmp(l->repos[j].component, repo_at(src, i)->component))
					break;
			if (i == n)
				return mdeploy__error_set(MDEPLOY_ECONFLICT, MDEPLOY_ERROR_CLASS_SOURCE,
				                          "%s is out of date: it locks %s, which mdeploy.yml no "
				                          "longer lists; run 'mdeploy source lock'", l->file,
				                          l->repos[j].component);
		}
	}
	return 0;
}

int mdeploy_source_assemble(mdeploy_release **out, mdeploy_source *src)
{
	mdeploy__lock l;
	int rc;
	*out = NULL;
	if ((rc = mdeploy__lock_read(&l, src->lock_path)) == 0 && (rc = lock_matches_config(src, &l)) == 0)
		rc = mdeploy__release_assemble(out, src->ctx, &l, src->cfg);
	mdeploy__lock_dispose(&l);
	return rc;
}

int mdeploy_source_walk(mdeploy_source *src, mdeploy_source_walk_cb cb, void *payload)
{
	mdeploy_release *rel = NULL;
	int rc = mdeploy_source_assemble(&rel, src);
	if (rc == 0)
		rc = mdeploy_release_walk(rel, cb, payload);
	mdeploy_release_free(rel);
	return rc;
}

/* The mirror of mdeploy.yml's core, fetched when missing. Caller frees. */
static int core_mirror(char **out, mdeploy_source *src)
{
	char *url, *mirror;
	int rc = 0;
	*out = NULL;
	if (!(url = mdeploy__mirror_url(mdeploy_config_source_core(src->cfg)->url, mdeploy_config_dir(src->cfg))))
		return mdeploy__error_oom();
	if (!(mirror = mdeploy__mirror_path(src->ctx, url)))
		rc = mdeploy__error_oom();
	else if (!mdeploy__is_dir(mirror))
		rc = mdeploy__mirror_fetch(src->ctx, url);
	free(url);
	if (rc)
		free(mirror);
	else
		*out = mirror;
	return rc;
}

int mdeploy_release_open_core_rev(mdeploy_release **out, mdeploy_source *src, const char *rev)
{
	char *mirror;
	int rc;
	*out = NULL;
	if ((rc = core_mirror(&mirror, src)) != 0)
		return rc;
	rc = mdeploy_release_open_rev(out, mirror, rev);
	free(mirror);
	return rc;
}

int mdeploy_source_open_core_ref(mdeploy_moodle **out, mdeploy_source *src, const char *rev)
{
	mdeploy_moodle_options o = MDEPLOY_MOODLE_OPTIONS_INIT;
	char *mirror;
	int rc;

	*out = NULL;
	if ((rc = core_mirror(&mirror, src)) != 0)
		return rc;
	o.repository = mirror;
	rc = mdeploy_moodle_open_git(out, rev, &o);
	free(mirror);
	return rc;
}
