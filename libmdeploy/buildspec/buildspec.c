/*
 * buildspec.c - buildspec.yml (CodeBuild's version 0.2) into a
 * mdeploy_buildspec, with every problem reported as file:line:col.
 */
#include "build_private.h"

#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

const char *const mdeploy_build__phase_names[BS_NPHASES] = { "INSTALL", "PRE_BUILD", "BUILD", "POST_BUILD" };
const char *const mdeploy_build__phase_keys[BS_NPHASES] = { "install", "pre_build", "build", "post_build" };

struct parse {
	yaml_document_t doc;
	const char *name;
	mdeploy_buildspec *spec;
};

static int at(struct parse *p, const yaml_node_t *n, const char *field, const char *fmt, ...)
	MDEPLOY_FORMAT_PRINTF(4, 5);

static int at(struct parse *p, const yaml_node_t *n, const char *field, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUILD, "%s:%zu:%zu: %s: %s", p->name,
	                          n ? n->start_mark.line + 1 : 1, n ? n->start_mark.column + 1 : 1, field, msg);
}

static yaml_node_t *node(struct parse *p, int i)
{
	return yaml_document_get_node(&p->doc, i);
}

static const char *scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int want_scalar(struct parse *p, const yaml_node_t *n, const char *field, char **out)
{
	const char *s = scalar(n);
	if (!s)
		return at(p, n, field, "must be a string");
	free(*out);
	*out = mdeploy__strdup(s);
	return *out ? 0 : MDEPLOY_ENOMEM;
}

static int want_bool(struct parse *p, const yaml_node_t *n, const char *field, int *out)
{
	const char *s = scalar(n);
	if (s && (!strcasecmp(s, "yes") || !strcasecmp(s, "true") || !strcasecmp(s, "on")))
		*out = 1;
	else if (s && (!strcasecmp(s, "no") || !strcasecmp(s, "false") || !strcasecmp(s, "off")))
		*out = 0;
	else
		return at(p, n, field, "must be yes or no");
	return 0;
}

/* Room for element n of an array of n elements: its capacity doubles at
 * each power of two (8, 16, 32...). Growing by one element per item made a
 * list of 100,000 reallocate 100,000 times (quadratic copying where the
 * allocator cannot extend in place, as under ASan: 1 GB and a minute). */
static void *grow_for(void *v, size_t n, size_t size)
{
	if (n && (n < 8 || (n & (n - 1))))
		return v;
	return realloc(v, (n ? 2 * n : 8) * size);
}

static int push_str(mdeploy_build__strs *l, const yaml_node_t *n, const char *s)
{
	mdeploy_build__str *v = grow_for(l->v, l->n, sizeof(*v));
	if (!v)
		return mdeploy__error_oom();
	l->v = v;
	v[l->n].s = mdeploy__strdup(s);
	v[l->n].line = (int)n->start_mark.line + 1;
	v[l->n].col = (int)n->start_mark.column + 1;
	if (!v[l->n].s)
		return MDEPLOY_ENOMEM;
	l->n++;
	return 0;
}

/* A sequence of strings (a single string is accepted as a list of one). */
/* A name the shell can assign and export. */
static int var_name_ok(const char *s)
{
	size_t i;
	if (!s || !*s || (s[0] >= '0' && s[0] <= '9'))
		return 0;
	for (i = 0; s[i]; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '_'))
			return 0;
	return 1;
}

static int want_list(struct parse *p, yaml_node_t *n, const char *field, mdeploy_build__strs *out)
{
	yaml_node_item_t *it;
	char f[256];
	int rc, i = 0;
	if (scalar(n))
		return push_str(out, n, scalar(n));
	if (n->type != YAML_SEQUENCE_NODE)
		return at(p, n, field, "must be a list of strings");
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++, i++) {
		yaml_node_t *e = node(p, *it);
		snprintf(f, sizeof(f), "%s[%d]", field, i);
		if (!scalar(e))
			return at(p, e, f, "must be a string");
		if ((rc = push_str(out, e, scalar(e))) != 0)
			return rc;
	}
	return 0;
}

static int want_vars(struct parse *p, yaml_node_t *n, const char *field, mdeploy_build__vars *out)
{
	yaml_node_pair_t *pr;
	char f[256];
	if (n->type != YAML_MAPPING_NODE)
		return at(p, n, field, "must be a mapping of names to values");
	for (pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = node(p, pr->key), *v = node(p, pr->value);
		const char *name = scalar(k);
		mdeploy_build__var *nv;
		if (!name || !*name || strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") != strlen(name) ||
		    (name[0] >= '0' && name[0] <= '9'))
			return at(p, k, field, "'%s' is not a variable name", name ? name : "");
		snprintf(f, sizeof(f), "%s.%s", field, name);
		if (!scalar(v))
			return at(p, v, f, "must be a string");
		/* A name given twice was refused already (mdeploy__yaml_doc_unique_keys):
		 * no search per name here, a buildspec may hold 100,000 of them. */
		if (!(nv = grow_for(out->v, out->n, sizeof(*nv))))
			return mdeploy__error_oom();
		out->v = nv;
		nv[out->n].name = mdeploy__strdup(name);
		nv[out->n].value = mdeploy__strdup(scalar(v));
		nv[out->n].line = (int)v->start_mark.line + 1;
		nv[out->n].col = (int)v->start_mark.column + 1;
		out->n++;
		if (!nv[out->n - 1].name || !nv[out->n - 1].value)
			return MDEPLOY_ENOMEM;
	}
	return 0;
}

/* By name, then by place in the list (the elements of one array). */
static int str_ptr_cmp(const void *a, const void *b)
{
	const mdeploy_build__str *x = *(const mdeploy_build__str *const *)a, *y = *(const mdeploy_build__str *const *)b;
	int c = strcmp(x->s, y->s);
	return c ? c : (x > y) - (x < y);
}

/* exported-variables: names only, none listed twice (found by sorting, not
 * by a search per name: the list may hold 100,000 names within 1 MiB). The
 * first name in file order that is wrong or repeats an earlier one is
 * reported. */
static int check_exported(struct parse *p, const mdeploy_build__strs *l)
{
	const mdeploy_build__str **ix;
	size_t i, bad = l->n;
	const char *why = NULL;
	int rc = 0;
	for (i = 0; i < l->n && !why; i++)
		if (!var_name_ok(l->v[i].s)) {
			bad = i;
			why = "is not a variable name (letters, digits and '_', not starting with a digit)";
		}
	if (l->n > 1) {
		if (!(ix = malloc(l->n * sizeof(*ix))))
			return mdeploy__error_oom();
		for (i = 0; i < l->n; i++)
			ix[i] = &l->v[i];
		qsort(ix, l->n, sizeof(*ix), str_ptr_cmp);
		for (i = 1; i < l->n; i++)
			if (!strcmp(ix[i]->s, ix[i - 1]->s) && (size_t)(ix[i] - l->v) < bad) {
				bad = (size_t)(ix[i] - l->v);
				why = "is listed twice";
			}
		free(ix);
	}
	if (why) {
		yaml_node_t where;
		memset(&where, 0, sizeof(where));
		where.start_mark.line = (size_t)l->v[bad].line - 1;
		where.start_mark.column = (size_t)l->v[bad].col - 1;
		rc = at(p, &where, "env.exported-variables", "'%s' %s", l->v[bad].s, why);
	}
	return rc;
}

static int parse_env(struct parse *p, yaml_node_t *n)
{
	yaml_node_pair_t *pr;
	int rc = 0;
	if (n->type != YAML_MAPPING_NODE)
		return at(p, n, "env", "must be a mapping");
	for (pr = n->data.mapping.pairs.start; !rc && pr < n->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = node(p, pr->key), *v = node(p, pr->value);
		const char *key = scalar(k) ? scalar(k) : "";
		if (!strcmp(key, "shell")) {
			rc = want_scalar(p, v, "env.shell", &p->spec->shell);
			if (!rc && strcmp(p->spec->shell, "bash") && strcmp(p->spec->shell, "sh") &&
			    strcmp(p->spec->shell, "/bin/sh") && strcmp(p->spec->shell, "/bin/bash"))
				rc = at(p, v, "env.shell", "must be bash or sh, not '%s'", p->spec->shell);
		} else if (!strcmp(key, "variables")) {
			rc = want_vars(p, v, "env.variables", &p->spec->variables);
		} else if (!strcmp(key, "parameter-store")) {
			rc = want_vars(p, v, "env.parameter-store", &p->spec->parameters);
		} else if (!strcmp(key, "secrets-manager")) {
			rc = want_vars(p, v, "env.secrets-manager", &p->spec->secrets);
		} else if (!strcmp(key, "exported-variables")) {
			rc = want_list(p, v, "env.exported-variables", &p->spec->exported);
			if (!rc)
				rc = check_exported(p, &p->spec->exported);
		} else if (!strcmp(key, "git-credential-helper")) {
			int dummy;
			rc = want_bool(p, v, "env.git-credential-helper", &dummy);
		} else {
			rc = at(p, k, "env", "unknown key '%s'", key);
		}
	}
	return rc;
}

static int parse_on_failure(struct parse *p, yaml_node_t *n, const char *field, mdeploy_build__phase *ph)
{
	const char *s = scalar(n), *rest;
	regex_t re;
	if (!s)
		return at(p, n, field, "must be a string");
	if (!strcmp(s, "ABORT")) {
		ph->on_failure = BS_ABORT;
		return 0;
	}
	if (!strcmp(s, "CONTINUE")) {
		ph->on_failure = BS_CONTINUE;
		return 0;
	}
	if (strncmp(s, "RETRY", 5))
		goto bad;
	ph->on_failure = BS_RETRY;
	ph->retries = 3;
	rest = s + 5;
	if (!*rest)
		return 0;
	if (*rest++ != '-')
		goto bad;
	if (*rest >= '0' && *rest <= '9') {
		char *end;
		unsigned long n2 = strtoul(rest, &end, 10);
		if (n2 < 1 || n2 > 100 || (*end && *end != '-'))
			goto bad;
		ph->retries = (unsigned int)n2;
		rest = end;
		if (!*rest)
			return 0;
		rest++;
	}
	if (!*rest)
		goto bad;
	if (regcomp(&re, rest, REG_EXTENDED | REG_NOSUB) != 0)
		return at(p, n, field, "'%s' is not a valid regular expression", rest);
	regfree(&re);
	ph->retry_regex = mdeploy__strdup(rest);
	return ph->retry_regex ? 0 : MDEPLOY_ENOMEM;
bad:
	return at(p, n, field, "must be ABORT, CONTINUE, RETRY, RETRY-<count>, RETRY-<regex> or "
	                       "RETRY-<count>-<regex>, not '%s'", s);
}

static int parse_phases(struct parse *p, yaml_node_t *n)
{
	yaml_node_pair_t *pr, *pp;
	char f[128];
	int rc = 0, i;
	if (n->type != YAML_MAPPING_NODE)
		return at(p, n, "phases", "must be a mapping");
	for (pr = n->data.mapping.pairs.start; !rc && pr < n->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = node(p, pr->key), *v = node(p, pr->value);
		const char *key = scalar(k) ? scalar(k) : "";
		mdeploy_build__phase *ph = NULL;
		for (i = 0; i < BS_NPHASES; i++)
			if (!strcmp(key, mdeploy_build__phase_keys[i]))
				ph = &p->spec->phases[i];
		if (!ph)
			return at(p, k, "phases", "unknown phase '%s' (install, pre_build, build, post_build)", key);
		if (ph->present)
			return at(p, k, "phases", "phase '%s' given twice", key);
		ph->present = 1;
		if (v->type == YAML_SCALAR_NODE && !*scalar(v))
			continue; /* an empty phase */
		if (v->type != YAML_MAPPING_NODE)
			return at(p, v, "phases", "%s must be a mapping", key);
		for (pp = v->data.mapping.pairs.start; !rc && pp < v->data.mapping.pairs.top; pp++) {
			yaml_node_t *k2 = node(p, pp->key), *v2 = node(p, pp->value);
			const char *key2 = scalar(k2) ? scalar(k2) : "";
			snprintf(f, sizeof(f), "phases.%s.%s", key, key2);
			if (!strcmp(key2, "commands"))
				rc = want_list(p, v2, f, &ph->commands);
			else if (!strcmp(key2, "finally"))
				rc = want_list(p, v2, f, &ph->finally);
			else if (!strcmp(key2, "run-as"))
				rc = want_scalar(p, v2, f, &ph->run_as);
			else if (!strcmp(key2, "on-failure"))
				rc = parse_on_failure(p, v2, f, ph);
			else if (!strcmp(key2, "runtime-versions") && ph == &p->spec->phases[BS_INSTALL])
				; /* CodeBuild images only: nothing to install here */
			else
				rc = at(p, k2, f, "unknown key '%s'", key2);
		}
	}
	return rc;
}

static int parse_artifact(struct parse *p, yaml_node_t *n, const char *field, mdeploy_build__artifact *a)
{
	yaml_node_pair_t *pr;
	char f[256];
	int rc = 0;
	a->line = (int)n->start_mark.line + 1;
	if (n->type != YAML_MAPPING_NODE)
		return at(p, n, field, "must be a mapping");
	for (pr = n->data.mapping.pairs.start; !rc && pr < n->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = node(p, pr->key), *v = node(p, pr->value);
		const char *key = scalar(k) ? scalar(k) : "";
		snprintf(f, sizeof(f), "%s.%s", field, key);
		if (!strcmp(key, "files"))
			rc = want_list(p, v, f, &a->files);
		else if (!strcmp(key, "name"))
			rc = want_scalar(p, v, f, &a->name);
		else if (!strcmp(key, "base-directory"))
			rc = want_scalar(p, v, f, &a->base_dir);
		else if (!strcmp(key, "discard-paths"))
			rc = want_bool(p, v, f, &a->discard_paths);
		else if (!strcmp(key, "enable-symlinks"))
			rc = want_bool(p, v, f, &a->enable_symlinks);
		else if (!strcmp(key, "exclude-paths"))
			rc = want_list(p, v, f, &a->exclude);
		else if (!strcmp(key, "s3-prefix"))
			; /* S3 only */
		else if (strcmp(key, "secondary-artifacts"))
			rc = at(p, k, field, "unknown key '%s'", key);
	}
	if (!rc && !a->files.n)
		rc = at(p, n, field, "needs files");
	if (!rc && a->name && (!*a->name || strchr(a->name, '/') || a->name[0] == '.'))
		rc = at(p, n, field, "name '%s' is not a plain file name", a->name);
	if (!rc && a->base_dir) {
		const char *b = a->base_dir;
		if (b[0] == '/' || !strcmp(b, "..") || !strncmp(b, "../", 3) || strstr(b, "/../") ||
		    (strlen(b) >= 3 && !strcmp(b + strlen(b) - 3, "/..")))
			rc = at(p, n, field, "base-directory must stay inside the source directory");
	}
	return rc;
}

static int parse_artifacts(struct parse *p, yaml_node_t *n)
{
	yaml_node_pair_t *pr;
	yaml_node_t *sec = NULL;
	char f[256];
	int rc, has_files = 0;
	if (n->type != YAML_MAPPING_NODE)
		return at(p, n, "artifacts", "must be a mapping");
	for (pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
		const char *key = scalar(node(p, pr->key));
		if (key && !strcmp(key, "secondary-artifacts"))
			sec = node(p, pr->value);
		if (key && !strcmp(key, "files"))
			has_files = 1;
	}
	p->spec->artifacts = calloc(1 + (sec && sec->type == YAML_MAPPING_NODE ?
	                                 (size_t)(sec->data.mapping.pairs.top - sec->data.mapping.pairs.start) : 0),
	                            sizeof(*p->spec->artifacts));
	if (!p->spec->artifacts)
		return mdeploy__error_oom();
	if (has_files || !sec) {
		p->spec->has_primary = 1;
		p->spec->nartifacts = 1;
		if (!(p->spec->artifacts[0].id = mdeploy__strdup("primary")))
			return MDEPLOY_ENOMEM;
		if ((rc = parse_artifact(p, n, "artifacts", &p->spec->artifacts[0])) != 0)
			return rc;
	}
	if (!sec)
		return 0;
	if (sec->type != YAML_MAPPING_NODE)
		return at(p, sec, "artifacts.secondary-artifacts", "must be a mapping of identifiers to artifacts");
	for (pr = sec->data.mapping.pairs.start; pr < sec->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = node(p, pr->key);
		const char *id = scalar(k);
		mdeploy_build__artifact *a = &p->spec->artifacts[p->spec->nartifacts];
		size_t i;
		if (!id || !*id || strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") != strlen(id))
			return at(p, k, "artifacts.secondary-artifacts", "'%s' is not an identifier (letters, digits, _)",
			          id ? id : "");
		for (i = 0; i < p->spec->nartifacts; i++)
			if (!strcmp(p->spec->artifacts[i].id, id))
				return at(p, k, "artifacts.secondary-artifacts", "'%s' given twice", id);
		p->spec->nartifacts++;
		if (!(a->id = mdeploy__strdup(id)))
			return MDEPLOY_ENOMEM;
		snprintf(f, sizeof(f), "artifacts.secondary-artifacts.%s", id);
		if ((rc = parse_artifact(p, node(p, pr->value), f, a)) != 0)
			return rc;
	}
	return 0;
}

static void free_strs(mdeploy_build__strs *l)
{
	size_t i;
	for (i = 0; i < l->n; i++)
		free(l->v[i].s);
	free(l->v);
}

static void free_vars(mdeploy_build__vars *l)
{
	size_t i;
	for (i = 0; i < l->n; i++) {
		free(l->v[i].name);
		free(l->v[i].value);
	}
	free(l->v);
}

void mdeploy_buildspec_free(mdeploy_buildspec *spec)
{
	size_t i;
	if (!spec)
		return;
	free(spec->name);
	free(spec->shell);
	free(spec->run_as);
	free_vars(&spec->variables);
	free_vars(&spec->parameters);
	free_vars(&spec->secrets);
	free_strs(&spec->exported);
	for (i = 0; i < BS_NPHASES; i++) {
		free(spec->phases[i].run_as);
		free(spec->phases[i].retry_regex);
		free_strs(&spec->phases[i].commands);
		free_strs(&spec->phases[i].finally);
	}
	for (i = 0; i < spec->nartifacts; i++) {
		mdeploy_build__artifact *a = &spec->artifacts[i];
		free(a->id);
		free(a->name);
		free(a->base_dir);
		free_strs(&a->files);
		free_strs(&a->exclude);
	}
	free(spec->artifacts);
	free(spec);
}

int mdeploy_buildspec_parse(mdeploy_buildspec **out, const char *data, size_t len, const char *name)
{
	struct parse p;
	yaml_parser_t parser;
	yaml_node_t *root;
	yaml_node_pair_t *pr;
	int rc = 0, have_version = 0, have_phases = 0;

	*out = NULL;
	memset(&p, 0, sizeof(p));
	p.name = name ? name : "buildspec.yml";
	if (!data)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUILD, "%s: no data", p.name);
	if (!(p.spec = calloc(1, sizeof(*p.spec))) || !(p.spec->name = mdeploy__strdup(p.name))) {
		free(p.spec);
		return mdeploy__error_oom();
	}
	if (!yaml_parser_initialize(&parser)) {
		mdeploy_buildspec_free(p.spec);
		return mdeploy__error_oom();
	}
	if ((rc = mdeploy__yaml_check_depth(data, len, p.name, MDEPLOY_ERROR_CLASS_BUILD)) != 0) {
		yaml_parser_delete(&parser);
		mdeploy_buildspec_free(p.spec);
		return rc;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
	if (!yaml_parser_load(&parser, &p.doc)) {
		rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUILD, "%s:%zu:%zu: %s", p.name,
		                        parser.problem_mark.line + 1, parser.problem_mark.column + 1,
		                        parser.problem ? parser.problem : "invalid YAML");
		yaml_parser_delete(&parser);
		mdeploy_buildspec_free(p.spec);
		return rc;
	}
	yaml_parser_delete(&parser);
	if ((rc = mdeploy__yaml_doc_unique_keys(&p.doc, p.name, MDEPLOY_ERROR_CLASS_BUILD)) != 0)
		goto out;
	root = yaml_document_get_root_node(&p.doc);
	if (!root) {
		rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUILD, "%s: the file is empty", p.name);
		goto out;
	}
	if (root->type != YAML_MAPPING_NODE) {
		rc = at(&p, root, "buildspec", "the document must be a mapping");
		goto out;
	}
	for (pr = root->data.mapping.pairs.start; !rc && pr < root->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = node(&p, pr->key), *v = node(&p, pr->value);
		const char *key = scalar(k) ? scalar(k) : "";
		if (!strcmp(key, "version")) {
			have_version = 1;
			if (!scalar(v) || strcmp(scalar(v), "0.2"))
				rc = at(&p, v, "version", "only buildspec version 0.2 is supported, not '%s'",
				        scalar(v) ? scalar(v) : "");
		} else if (!strcmp(key, "run-as")) {
			rc = want_scalar(&p, v, "run-as", &p.spec->run_as);
		} else if (!strcmp(key, "env")) {
			rc = parse_env(&p, v);
		} else if (!strcmp(key, "phases")) {
			have_phases = 1;
			rc = parse_phases(&p, v);
		} else if (!strcmp(key, "artifacts")) {
			rc = parse_artifacts(&p, v);
		} else if (!strcmp(key, "reports") || !strcmp(key, "cache") || !strcmp(key, "proxy")) {
			; /* CodeBuild services with no local meaning */
		} else if (!strcmp(key, "batch")) {
			rc = at(&p, k, "batch", "batch builds are not supported");
		} else {
			rc = at(&p, k, "buildspec", "unknown key '%s'", key);
		}
	}
	if (!rc && !have_version)
		rc = at(&p, root, "version", "missing: say version: 0.2");
	if (!rc && !have_phases)
		rc = at(&p, root, "phases", "missing: a buildspec needs phases");
out:
	yaml_document_delete(&p.doc);
	if (rc) {
		mdeploy_buildspec_free(p.spec);
		return rc;
	}
	*out = p.spec;
	return 0;
}

int mdeploy_buildspec_load(mdeploy_buildspec **out, const char *path)
{
	char *data;
	size_t len;
	const char *base;
	int rc;
	*out = NULL;
	if (!path)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUILD, "no buildspec given");
	if ((rc = mdeploy__file_read_max(&data, &len, path, MDEPLOY__CONFIG_READ_MAX)) != 0)
		return rc;
	base = path;
	rc = mdeploy_buildspec_parse(out, data, len, base);
	free(data);
	return rc;
}
