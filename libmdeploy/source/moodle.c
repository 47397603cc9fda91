/*
 * moodle.c - the Moodle tree model: core version, plugin types, plugins
 * and every problem Moodle would trip over or silently ignore (the checks
 * across the tree are in moodle_checks.c).
 */
#include "source_private.h"
#include "moodle_private.h"
#include "phpver.h"

#include <fnmatch.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mdeploy_moodle_options_init(mdeploy_moodle_options *opts, unsigned int version)
{
	mdeploy_moodle_options def = MDEPLOY_MOODLE_OPTIONS_INIT;
	if (mdeploy__options_check(version, MDEPLOY_MOODLE_OPTIONS_VERSION, "mdeploy_moodle_options"))
		return MDEPLOY_EVERSION;
	*opts = def;
	opts->version = version;
	return 0;
}

/* Keep `s` for the model's life; NULL in gives NULL out. */
static const char *keep(mdeploy_moodle *m, char *s)
{
	char **p;
	if (!s)
		return NULL;
	p = realloc(m->pool, (m->npool + 1) * sizeof(*p));
	if (!p) {
		free(s);
		return NULL;
	}
	m->pool = p;
	m->pool[m->npool++] = s;
	return s;
}

static const char *keepdup(mdeploy_moodle *m, const char *s)
{
	return s ? keep(m, mdeploy__strdup(s)) : NULL;
}

static int vproblem(mdeploy_moodle *m, const char *code, const char *component, const char *file,
                    unsigned int line, const char *fmt, va_list ap)
{
	mdeploy_moodle_problem *p = realloc(m->problems, (m->nproblems + 1) * sizeof(*p));
	mdeploy__buf b = MDEPLOY__BUF_INIT;
	if (!p)
		return mdeploy__error_oom();
	m->problems = p;
	p += m->nproblems;
	if (file && line)
		mdeploy__buf_printf(&b, "%s:%u: ", file, line);
	else if (file)
		mdeploy__buf_printf(&b, "%s: ", file);
	mdeploy__buf_vprintf(&b, fmt, ap);
	p->code = code;
	p->component = keepdup(m, component);
	p->file = keepdup(m, file);
	p->line = line;
	p->accepted = NULL;
	p->message = keep(m, mdeploy__buf_detach(&b));
	if (!p->message)
		return mdeploy__error_oom();
	m->nproblems++;
	return 0;
}

int mdeploy__moodle_add_problem(mdeploy_moodle *m, const char *code, const char *component,
                                const char *file, unsigned int line, const char *fmt, ...)
{
	va_list ap;
	int rc;
	va_start(ap, fmt);
	rc = vproblem(m, code, component, file, line, fmt, ap);
	va_end(ap);
	return rc;
}


/* ---- versions ------------------------------------------------------- */

static double version_num(const char *v)
{
	char *end;
	double d;
	if (!v || !strcmp(v, "ANY_VERSION"))
		return -INFINITY;
	d = strtod(v, &end);
	return end == v ? -INFINITY : d;
}

int mdeploy_moodle_version_cmp(const char *a, const char *b)
{
	double x = version_num(a), y = version_num(b);
	return x < y ? -1 : x > y ? 1 : 0;
}

/* ---- plugins ---------------------------------------------------------- */

static const char *pv_text(mdeploy_moodle *m, const mdeploy__pv *v)
{
	if (!v)
		return NULL;
	if (v->type == MDEPLOY__PV_CONST && !strcmp(v->text, "null"))
		return NULL;
	if (v->type == MDEPLOY__PV_NUMBER || v->type == MDEPLOY__PV_STRING || v->type == MDEPLOY__PV_CONST)
		return keepdup(m, v->text);
	return NULL;
}

static const mdeploy__pv *prop(const mdeploy__phpfile *f, const char *name)
{
	const mdeploy__php_assign *a = mdeploy__phpver_get(f, "plugin", name);
	return a ? a->value : NULL;
}

static unsigned int prop_line(const mdeploy__phpfile *f, const char *name)
{
	const mdeploy__php_assign *a = mdeploy__phpver_get(f, "plugin", name);
	return a ? a->line : 0;
}

/* Name rules of core_component::is_valid_plugin_name(). */
static int plugin_name_ok(const char *type, const char *name)
{
	size_t i, n = strlen(name);
	if (!n || name[0] < 'a' || name[0] > 'z' || name[n - 1] == '_')
		return 0;
	for (i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return 0;
		if (c == '_' && (!strcmp(type, "mod") || name[i + 1] == '_'))
			return 0;
	}
	return 1;
}

/* The reader version.php's includes go through: any file of the tree. */
static int tree_read(const char *path, char **data, size_t *len, void *payload)
{
	mdeploy_moodle *m = payload;
	const mdeploy__ventry *e = mdeploy__vtree_find(&m->vt, path);
	mdeploy__vdata d;
	int rc;
	if (!e || e->mode == 0120000)
		return MDEPLOY_ENOTFOUND;
	if ((rc = mdeploy__vtree_read(&m->vt, e, &d)) != 0)
		return rc;
	*len = d.len;
	*data = malloc(d.len ? d.len : 1);
	if (*data)
		memcpy(*data, d.data, d.len);
	mdeploy__vdata_release(&d);
	return *data ? 0 : mdeploy__error_oom();
}

static int keep_vfile(struct plugin *p, const char *path)
{
	char **n = realloc(p->vfiles, (p->nvfiles + 1) * sizeof(*n));
	if (!n)
		return mdeploy__error_oom();
	p->vfiles = n;
	if (!(n[p->nvfiles] = mdeploy__strdup(path)))
		return mdeploy__error_oom();
	p->nvfiles++;
	return 0;
}

/* A Moodle version as version.php writes it: digits, an optional
 * fraction (2024100700.01), a positive and finite number. */
static int version_number_ok(const mdeploy__pv *v)
{
	const char *t = v ? v->text : NULL;
	size_t n;
	if (!v || v->type != MDEPLOY__PV_NUMBER || !t)
		return 1; /* not a number: reported (or not) elsewhere */
	n = strspn(t, "0123456789");
	if (n == 0 || (t[n] && (t[n] != '.' || !t[n + 1] || strspn(t + n + 1, "0123456789") != strlen(t + n + 1))))
		return 0;
	return v->num > 0 && v->num < 1e15;
}

static int read_plugin(mdeploy_moodle *m, struct plugin *p, const char *vfile)
{
	const mdeploy__ventry *e = mdeploy__vtree_find(&m->vt, vfile);
	mdeploy__phpver_ctx ctx;
	mdeploy__phpfile *f = NULL;
	mdeploy__vdata d;
	const mdeploy__pv *v;
	size_t i;
	int rc;

	if ((rc = keep_vfile(p, vfile)) != 0 || (rc = mdeploy__vtree_read(&m->vt, e, &d)) != 0)
		return rc;
	memset(&ctx, 0, sizeof(ctx));
	ctx.root = m->root;
	ctx.read = tree_read;
	ctx.payload = m;
	ctx.plugin = 1;
	rc = mdeploy__phpver_eval(&f, vfile, d.data, d.len, &ctx);
	mdeploy__vdata_release(&d);
	if (rc == MDEPLOY_ENOMEM)
		return rc;
	if (rc != 0) {
		/* The parser says "file:line: problem"; keep line and problem apart. */
		const char *msg = mdeploy_error_last()->message + strlen(vfile) + 1;
		char *end;
		unsigned long line = strtoul(msg, &end, 10);
		if (*end == ':' && end[1] == ' ')
			msg = end + 2;
		if ((rc = problem(m, "version-php", p->pub.component, vfile, (unsigned int)line, "%s", msg)) == 0)
			p->unread = m->problems[m->nproblems - 1].message;
		return rc;
	}
	for (i = 0; i < f->nincludes && rc == 0; i++)
		rc = keep_vfile(p, f->includes[i]);
	if (rc == 0 && (v = prop(f, "version")) && v->type == MDEPLOY__PV_UNKNOWN) {
		/* What only PHP could tell: reported, and diff treats any change
		 * to these files as an upgrade. */
		if ((rc = problem(m, "version-php", p->pub.component, v->file ? v->file : vfile, v->line,
		                  "$plugin->version cannot be read without running PHP: %s", v->text)) == 0)
			p->unread = m->problems[m->nproblems - 1].message;
	}
	int bad_version = 0;
	if (rc == 0) {
		static const char *const nums[] = { "version", "requires" };
		for (i = 0; i < MDEPLOY__ARRAY_SIZE(nums) && rc == 0; i++)
			if (!version_number_ok(v = prop(f, nums[i])) &&
			    (rc = problem(m, "version-php", p->pub.component, vfile, prop_line(f, nums[i]),
			                  "$plugin->%s = %s is not a Moodle version number (digits, an optional "
			                  "fraction, above 0)", nums[i], v->text)) == 0) {
				p->unread = m->problems[m->nproblems - 1].message;
				bad_version |= i == 0;
			}
	}
	if (rc) {
		mdeploy__phpver_free(f);
		return rc;
	}
	p->pub.version = bad_version ? NULL : pv_text(m, prop(f, "version"));
	p->pub.requires = pv_text(m, prop(f, "requires"));
	p->pub.release = pv_text(m, prop(f, "release"));
	p->pub.maturity = pv_text(m, prop(f, "maturity"));
	p->pub.declared_component = pv_text(m, prop(f, "component"));
	p->pub.incompatible = pv_text(m, prop(f, "incompatible"));
	if ((v = prop(f, "supported")) && v->type == MDEPLOY__PV_ARRAY && v->count == 2) {
		p->pub.supported_min = pv_text(m, v->values[0]);
		p->pub.supported_max = pv_text(m, v->values[1]);
	}
	if ((v = prop(f, "dependencies")) && v->type == MDEPLOY__PV_ARRAY && v->count) {
		p->deps = calloc(v->count, sizeof(*p->deps));
		if (!p->deps) {
			mdeploy__phpver_free(f);
			return mdeploy__error_oom();
		}
		for (i = 0; i < v->count; i++) {
			if (!v->keys[i] || v->keys[i]->type != MDEPLOY__PV_STRING) {
				rc = problem(m, "version-php", p->pub.component, vfile, v->values[i]->line,
				             "$plugin->dependencies must map component names to versions");
				break;
			}
			p->deps[p->pub.dependency_count].component = pv_text(m, v->keys[i]);
			p->deps[p->pub.dependency_count++].version = pv_text(m, v->values[i]);
		}
		p->pub.dependencies = p->deps;
	}
	if (rc == 0 && !p->pub.version && !p->unread &&
	    (rc = problem(m, "no-version", p->pub.component, vfile, 0,
	                  "sets no $plugin->version; Moodle refuses to install it")) == 0)
		p->unread = m->problems[m->nproblems - 1].message;
	if (rc == 0 && p->pub.declared_component && strcmp(p->pub.declared_component, p->pub.component))
		rc = problem(m, "component-mismatch", p->pub.component, vfile, prop_line(f, "component"),
		             "$plugin->component is '%s' but the directory %s makes it '%s'",
		             p->pub.declared_component, p->pub.path, p->pub.component);
	mdeploy__phpver_free(f);
	return rc;
}

static const char *origin_of(const mdeploy_moodle *m, const char *vfile)
{
	const mdeploy__ventry *e = mdeploy__vtree_find(&m->vt, vfile);
	return e ? m->vt.origins[e->origin].name : "core";
}

/* Find plugins of every type, following subplugins.json as they appear. */
static int discover(mdeploy_moodle *m)
{
	size_t t;
	int rc;

	for (t = 0; t < m->ntypes; t++) {
		char *prefix = mdeploy__sprintf("%s%s/", m->root, m->types[t].dir);
		size_t i, plen;
		if (!prefix)
			return mdeploy__error_oom();
		plen = strlen(prefix);
		for (i = mdeploy__vtree_lower(&m->vt, prefix);
		     i < m->vt.n && !strncmp(m->vt.e[i].path, prefix, plen); i++) {
			const char *rest = m->vt.e[i].path + plen, *slash = strchr(rest, '/');
			struct plugin *p;
			char *name, *path, *sub, *vfile;
			size_t k;
			if (!slash || strcmp(slash, "/version.php") != 0)
				continue;
			name = strndup(rest, (size_t)(slash - rest));
			if (!name) {
				free(prefix);
				return mdeploy__error_oom();
			}
			path = mdeploy__sprintf("%s/%s", m->types[t].dir, name);
			for (k = 0; path && k < m->nplugins; k++)
				if (!strcmp(m->plugins[k].pub.path, path))
					break;
			if (!path || k < m->nplugins || !plugin_name_ok(m->types[t].type, name)) {
				/* Already known under another type, or not a plugin name. */
				free(name);
				free(path);
				continue;
			}
			p = realloc(m->plugins, (m->nplugins + 1) * sizeof(*p));
			if (!p) {
				free(name);
				free(path);
				free(prefix);
				return mdeploy__error_oom();
			}
			m->plugins = p;
			p += m->nplugins++;
			memset(p, 0, sizeof(*p));
			p->pub.type = m->types[t].type;
			p->pub.name = keep(m, name);
			p->pub.path = keep(m, path);
			p->pub.component = keep(m, mdeploy__sprintf("%s_%s", m->types[t].type, name));
			vfile = mdeploy__sprintf("%s%s/version.php", m->root, path);
			p->pub.origin = vfile ? origin_of(m, vfile) : "core";
			rc = vfile ? read_plugin(m, p, vfile) : MDEPLOY_ENOMEM;
			free(vfile);
			if (rc) {
				free(prefix);
				return rc;
			}
			/* Moodle reads subplugins.json only for the plugin types
			 * its core_component allows (mod, editor, tool, local). */
			if (!mdeploy__moodle_type_has_subplugins(m, m->types[t].type))
				continue;
			sub = mdeploy__sprintf("%s%s/db/subplugins.json", m->root, path);
			rc = sub ? mdeploy__moodle_read_types(m, sub, path, p->pub.component) : MDEPLOY_ENOMEM;
			free(sub);
			if (rc) {
				free(prefix);
				return rc;
			}
		}
		free(prefix);
	}
	return 0;
}

const struct plugin *mdeploy__moodle_find_plugin(const mdeploy_moodle *m, const char *component)
{
	size_t i;
	for (i = 0; i < m->nplugins; i++)
		if (!strcmp(m->plugins[i].pub.component, component))
			return &m->plugins[i];
	return NULL;
}

static int plugin_cmp(const void *a, const void *b)
{
	return strcmp(((const struct plugin *)a)->pub.component, ((const struct plugin *)b)->pub.component);
}

/* ---- core ------------------------------------------------------------- */

static int read_core(mdeploy_moodle *m, const char *vfile)
{
	const mdeploy__ventry *e = mdeploy__vtree_find(&m->vt, vfile);
	mdeploy__phpfile *f = NULL;
	mdeploy__vdata d;
	const mdeploy__php_assign *a;
	int rc;

	if ((rc = mdeploy__vtree_read(&m->vt, e, &d)) != 0)
		return rc;
	rc = mdeploy__phpver_parse(&f, vfile, d.data, d.len);
	mdeploy__vdata_release(&d);
	if (rc)
		return rc;
	if (!(a = mdeploy__phpver_get(f, "version", NULL)) || a->value->type != MDEPLOY__PV_NUMBER) {
		mdeploy__phpver_free(f);
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_SOURCE,
		                          "%s: no numeric $version; not Moodle core's version.php", vfile);
	}
	if (!version_number_ok(a->value)) {
		int line = (int)a->line;
		char *t = mdeploy__strdup(a->value->text);
		mdeploy__phpver_free(f);
		rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_SOURCE,
		                        "%s:%d: $version = %s is not a Moodle version number (digits, an optional "
		                        "fraction, above 0)", vfile, line, t ? t : "?");
		free(t);
		return rc;
	}
	m->version = mdeploy__strdup(a->value->text);
	if ((a = mdeploy__phpver_get(f, "release", NULL)) && a->value->text)
		m->release = mdeploy__strdup(a->value->text);
	if ((a = mdeploy__phpver_get(f, "branch", NULL)) && a->value->text)
		m->branch = mdeploy__strdup(a->value->text);
	if ((a = mdeploy__phpver_get(f, "maturity", NULL)) && a->value->text)
		m->maturity = mdeploy__strdup(a->value->text);
	mdeploy__phpver_free(f);
	return m->version ? 0 : mdeploy__error_oom();
}

int mdeploy__moodle_build(mdeploy_moodle **out, mdeploy__vtree *vt)
{
	mdeploy_moodle *m;
	char *file = NULL;
	int rc;

	*out = NULL;
	if (!(m = calloc(1, sizeof(*m)))) {
		mdeploy__vtree_dispose(vt);
		return mdeploy__error_oom();
	}
	m->vt = *vt;
	memset(vt, 0, sizeof(*vt));
	mdeploy__vtree_sort(&m->vt);
	if (mdeploy__vtree_find(&m->vt, "version.php")) {
		m->layout = "root";
		m->root = mdeploy__strdup("");
	} else if (mdeploy__vtree_find(&m->vt, "public/version.php")) {
		m->layout = "public";
		m->root = mdeploy__strdup("public/");
	} else {
		rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_SOURCE,
		                        "not a Moodle tree: neither version.php nor public/version.php");
		goto fail;
	}
	if (!m->root || !(file = mdeploy__sprintf("%sversion.php", m->root))) {
		rc = mdeploy__error_oom();
		goto fail;
	}
	if ((rc = read_core(m, file)) != 0)
		goto fail;
	if ((rc = mdeploy__moodle_read_core_types(m)) != 0)
		goto fail;
	if ((rc = discover(m)) != 0 || (rc = mdeploy__moodle_check_tree(m)) != 0)
		goto fail;
	if (m->nplugins)
		qsort(m->plugins, m->nplugins, sizeof(*m->plugins), plugin_cmp);
	free(file);
	*out = m;
	return 0;
fail:
	free(file);
	mdeploy_moodle_free(m);
	return rc;
}

void mdeploy_moodle_free(mdeploy_moodle *m)
{
	size_t i;
	if (!m)
		return;
	mdeploy__vtree_dispose(&m->vt);
	for (i = 0; i < m->nrepos; i++)
		git_repository_free(m->repos[i]);
	free(m->repos);
	free(m->root);
	free(m->version);
	free(m->release);
	free(m->branch);
	free(m->maturity);
	for (i = 0; i < m->ntypes; i++) {
		free(m->types[i].type);
		free(m->types[i].dir);
	}
	free(m->types);
	for (i = 0; i < m->nsubtypes_of; i++)
		free(m->subtypes_of[i]);
	free(m->subtypes_of);
	for (i = 0; i < m->nplugins; i++) {
		size_t k;
		free(m->plugins[i].deps);
		for (k = 0; k < m->plugins[i].nvfiles; k++)
			free(m->plugins[i].vfiles[k]);
		free(m->plugins[i].vfiles);
	}
	free(m->plugins);
	free(m->problems);
	for (i = 0; i < m->npool; i++)
		free(m->pool[i]);
	free(m->pool);
	free(m);
}

/* ---- opening -------------------------------------------------------- */

int mdeploy_moodle_open_dir(mdeploy_moodle **out, const char *dir, const mdeploy_moodle_options *opts)
{
	mdeploy__vtree vt;
	int rc;

	*out = NULL;
	if (opts && (rc = mdeploy__options_check(opts->version, MDEPLOY_MOODLE_OPTIONS_VERSION,
	                                         "mdeploy_moodle_options")) != 0)
		return rc;
	if (!mdeploy__is_dir(dir))
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_SOURCE,
		                          "'%s' is not a directory", dir);
	mdeploy__vtree_init(&vt);
	if ((rc = mdeploy__vtree_add_dir(&vt, dir, "core")) != 0) {
		mdeploy__vtree_dispose(&vt);
		return rc;
	}
	if ((rc = mdeploy__moodle_build(out, &vt)) != 0)
		mdeploy__error_prefix("%s", dir);
	return rc;
}

int mdeploy_moodle_open_git(mdeploy_moodle **out, const char *rev, const mdeploy_moodle_options *opts)
{
	git_repository *repo = NULL;
	git_object *obj = NULL;
	git_tree *tree = NULL;
	mdeploy__vtree vt;
	int rc;

	*out = NULL;
	if (opts && (rc = mdeploy__options_check(opts->version, MDEPLOY_MOODLE_OPTIONS_VERSION,
	                                         "mdeploy_moodle_options")) != 0)
		return rc;
	if (!opts || !opts->repository)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_SOURCE,
		                          "no repository given to read '%s' from", rev);
	mdeploy__git_init();
	if ((rc = git_repository_open_ext(&repo, opts->repository, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL)) != 0)
		return mdeploy__git_error(rc, "cannot open git repository %s", opts->repository);
	if ((rc = mdeploy__git_lookup(&obj, repo, rev)) != 0) {
		rc = mdeploy__git_error(rc, "%s: no revision '%s'", opts->repository, rev);
		git_repository_free(repo);
		return rc;
	}
	if ((rc = git_object_peel((git_object **)&tree, obj, GIT_OBJECT_TREE)) != 0) {
		rc = mdeploy__git_error(rc, "%s: '%s' is not a commit or tree", opts->repository, rev);
		git_object_free(obj);
		git_repository_free(repo);
		return rc;
	}
	git_object_free(obj);
	mdeploy__vtree_init(&vt);
	rc = mdeploy__vtree_add_git(&vt, repo, tree, "", "core");
	git_tree_free(tree);
	if (rc) {
		mdeploy__vtree_dispose(&vt);
		git_repository_free(repo);
		return rc;
	}
	if ((rc = mdeploy__moodle_build(out, &vt)) != 0) {
		mdeploy__error_prefix("%s@%s", opts->repository, rev);
		git_repository_free(repo);
		return rc;
	}
	if (!((*out)->repos = malloc(sizeof(*(*out)->repos)))) {
		mdeploy_moodle_free(*out);
		*out = NULL;
		git_repository_free(repo);
		return mdeploy__error_oom();
	}
	(*out)->repos[0] = repo;
	(*out)->nrepos = 1;
	return 0;
}

int mdeploy__moodle_own_repo(mdeploy_moodle *m, git_repository *repo)
{
	git_repository **r = realloc(m->repos, (m->nrepos + 1) * sizeof(*r));
	if (!r)
		return mdeploy__error_oom();
	m->repos = r;
	r[m->nrepos++] = repo;
	return 0;
}

/* ---- accessors --------------------------------------------------------- */

const mdeploy__vtree *mdeploy__moodle_vtree(const mdeploy_moodle *m) { return &m->vt; }
const char *mdeploy_moodle_layout(const mdeploy_moodle *m) { return m->layout; }
const char *mdeploy_moodle_root(const mdeploy_moodle *m) { return m->root; }
const char *mdeploy_moodle_version(const mdeploy_moodle *m) { return m->version; }
const char *mdeploy_moodle_release(const mdeploy_moodle *m) { return m->release; }
const char *mdeploy_moodle_branch(const mdeploy_moodle *m) { return m->branch; }
const char *mdeploy_moodle_maturity(const mdeploy_moodle *m) { return m->maturity; }
size_t mdeploy_moodle_type_count(const mdeploy_moodle *m) { return m->ntypes; }

const char *mdeploy_moodle_type(const mdeploy_moodle *m, size_t i, const char **dir)
{
	if (i >= m->ntypes)
		return NULL;
	if (dir)
		*dir = m->types[i].dir;
	return m->types[i].type;
}

const char *mdeploy_moodle_type_dir(const mdeploy_moodle *m, const char *type)
{
	return mdeploy__moodle_type_dir(m, type);
}

size_t mdeploy_moodle_plugin_count(const mdeploy_moodle *m) { return m->nplugins; }

const mdeploy_moodle_plugin *mdeploy_moodle_plugin_at(const mdeploy_moodle *m, size_t i)
{
	return i < m->nplugins ? &m->plugins[i].pub : NULL;
}

const mdeploy_moodle_plugin *mdeploy_moodle_find(const mdeploy_moodle *m, const char *component)
{
	const struct plugin *p = mdeploy__moodle_find_plugin(m, component);
	return p ? &p->pub : NULL;
}

size_t mdeploy_moodle_problem_count(const mdeploy_moodle *m) { return m->nproblems; }

size_t mdeploy_moodle_problem_failing(const mdeploy_moodle *m)
{
	size_t i, n = 0;
	for (i = 0; i < m->nproblems; i++)
		n += !m->problems[i].accepted;
	return n;
}

int mdeploy__moodle_accept(mdeploy_moodle *m, const char *code, const char *component, const char *file_glob,
                           const char *reason)
{
	size_t i;
	int n = 0;
	const char *r = keepdup(m, reason);
	if (!r)
		return mdeploy__error_oom();
	for (i = 0; i < m->nproblems; i++) {
		mdeploy_moodle_problem *p = &m->problems[i];
		if (strcmp(p->code, code) != 0 || (component && (!p->component || strcmp(p->component, component))) ||
		    (file_glob && (!p->file || fnmatch(file_glob, p->file, 0) != 0)))
			continue;
		if (!p->accepted)
			p->accepted = r;
		n++;
	}
	return n;
}

const char *mdeploy__moodle_version_unread(const mdeploy_moodle *m, const char *component,
                                           const char *const **files, size_t *n)
{
	const struct plugin *p = mdeploy__moodle_find_plugin(m, component);
	if (!p || !p->unread)
		return NULL;
	*files = (const char *const *)p->vfiles;
	*n = p->nvfiles;
	return p->unread;
}

const mdeploy_moodle_problem *mdeploy_moodle_problem_at(const mdeploy_moodle *m, size_t i)
{
	return i < m->nproblems ? &m->problems[i] : NULL;
}
