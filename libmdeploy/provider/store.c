/*
 * store.c - the public parameter, secret and artifact store handles: check
 * arguments, choose the store provider from the registry (provider/store.h
 * says how), dispatch. No provider is named here.
 */
#include "provider/store.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

struct mdeploy_params {
	const mdeploy_provider__params_ops *ops;
	void *impl;
};

struct mdeploy_secrets {
	const mdeploy_provider__secrets_ops *ops;
	void *impl;
};

struct mdeploy_artifacts {
	const mdeploy_provider__artifacts_ops *ops;
	void *impl;
};

int64_t mdeploy_provider__now(void)
{
	return (int64_t)time(NULL);
}

/*
 * Which store of `kind` to open, and with what: the caller's provider,
 * else stores.<kind>.provider of the context's mdeploy.yml (loaded when
 * the file exists; *cfg is then the caller's to free), else the first
 * registered provider. Fills `a`; *st is the registered provider.
 */
static int choose(const mdeploy_provider__stores **st, mdeploy_provider__store_args *a, mdeploy_config **cfg,
                  mdeploy_ctx *ctx, mdeploy_provider__store_kind kind, const char *provider)
{
	const char *noun = mdeploy_provider__store_kind_noun(kind);
	const char *path = ctx ? mdeploy_ctx_config_path(ctx) : NULL;
	const mdeploy_provider__stores *found;
	int from_config = 0, rc;

	*st = NULL;
	*cfg = NULL;
	a->ctx = ctx;
	a->kind = kind;
	a->config = NULL;
	if (!provider && path && access(path, F_OK) == 0) {
		if ((rc = mdeploy_config_load(cfg, path, NULL)) != 0)
			return rc;
		a->config = *cfg;
		if ((provider = mdeploy_config__store_provider(*cfg, kind)) != NULL)
			from_config = 1;
	}
	if (!provider)
		provider = mdeploy_provider__stores_at(0)->name;
	found = mdeploy_provider__stores_find(provider);
	if (!found || !found->keys[kind]) {
		/* mdeploy_config_load() checked these: only a caller's name gets here. */
		const char *where = from_config ? mdeploy_provider__store_where(a, "provider") : NULL;
		return mdeploy__error_set(MDEPLOY_EUNSUPPORTED, MDEPLOY_ERROR_CLASS_PROVIDER,
		                          "%s%s%s store: %s '%s' (this build has: %s)", where ? where : "",
		                          where ? ": " : "", noun,
		                          found ? "no store of this kind in provider" : "unknown store provider",
		                          provider, mdeploy_provider__stores_names());
	}
	*st = found;
	return 0;
}

const char *mdeploy_provider__store_option(const mdeploy_provider__store_args *a, const char *key)
{
	if (!a->config)
		return NULL;
	/* Options belong to the provider mdeploy.yml names, not to one a caller chose. */
	return mdeploy_config__store_value(a->config, a->kind, key);
}

const char *mdeploy_provider__store_where(const mdeploy_provider__store_args *a, const char *key)
{
	static __thread char buf[4096];
	char field[128];
	if (!a->config)
		return NULL;
	snprintf(field, sizeof(field), "stores.%s.%s", mdeploy_provider__store_kind_key(a->kind), key);
	snprintf(buf, sizeof(buf), "%s: %s", mdeploy_config_where(a->config, field), field);
	return buf;
}

/* ---- the state store (store/store_shared.h) ---- */

int mdeploy_provider__state_open(void **impl, const mdeploy_store__shared_ops **ops, mdeploy_ctx *ctx)
{
	const mdeploy_provider__stores *st;
	mdeploy_provider__store_args a;
	mdeploy_config *cfg = NULL;
	int rc;

	*impl = NULL;
	*ops = NULL;
	memset(&a, 0, sizeof(a));
	/* Only what mdeploy.yml says: without a file (or a state entry) the state is the embedded store. */
	if (!ctx)
		return 0;
	if ((rc = choose(&st, &a, &cfg, ctx, MDEPLOY_PROVIDER__STORE_STATE, NULL)) == 0 && st->state_new &&
	    mdeploy_config__store_provider(cfg, MDEPLOY_PROVIDER__STORE_STATE))
		rc = st->state_new(impl, ops, &a);
	mdeploy_config_free(cfg);
	return rc;
}

/* ---- parameters ---- */

int mdeploy_params_options_init(mdeploy_params_options *opts, unsigned int version)
{
	mdeploy_params_options d = MDEPLOY_PARAMS_OPTIONS_INIT;
	int rc = mdeploy__options_check(version, MDEPLOY_PARAMS_OPTIONS_VERSION, "mdeploy_params_options");
	if (rc)
		return rc;
	*opts = d;
	opts->version = version;
	return 0;
}

int mdeploy_params_open(mdeploy_params **out, mdeploy_ctx *ctx, const mdeploy_params_options *opts)
{
	mdeploy_params_options d = MDEPLOY_PARAMS_OPTIONS_INIT;
	const mdeploy_provider__stores *st;
	mdeploy_provider__store_args a;
	mdeploy_config *cfg = NULL;
	mdeploy_params *p;
	int rc;

	*out = NULL;
	if (!opts)
		opts = &d;
	if ((rc = mdeploy__options_check(opts->version, MDEPLOY_PARAMS_OPTIONS_VERSION, "mdeploy_params_options")) ||
	    (rc = choose(&st, &a, &cfg, ctx, MDEPLOY_PROVIDER__STORE_PARAMS, opts->provider)))
		goto out;
	a.dir = opts->dir;
	a.key_file = NULL;
	if (!(p = calloc(1, sizeof(*p)))) {
		rc = mdeploy__error_oom();
		goto out;
	}
	if ((rc = st->params_new(&p->impl, &p->ops, &a)) != 0)
		free(p);
	else
		*out = p;
out:
	mdeploy_config_free(cfg);
	return rc;
}

void mdeploy_params_free(mdeploy_params *p)
{
	if (!p)
		return;
	p->ops->free(p->impl);
	free(p);
}

/* "/a/b-c/d_e.f": a leading '/', no empty components, [A-Za-z0-9_.-]. */
static int param_name_check(const char *name, int allow_root)
{
	const char *p;
	int depth = 0;
	if (!name || name[0] != '/' || strlen(name) > 1011)
		goto bad;
	if (!name[1]) {
		if (allow_root)
			return 0;
		goto bad;
	}
	for (p = name; *p; p++) {
		if (*p == '/') {
			if (p[1] == '/' || (p[1] == '\0' && !allow_root))
				goto bad;
			if (p[1] && ++depth > 15)
				goto bad;
		} else if (!isalnum((unsigned char)*p) && !strchr("_.-", *p)) {
			goto bad;
		}
	}
	return 0;
bad:
	return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
	                          "'%s' is not a parameter %s (like /moodle/prod/dbhost: a leading '/', "
	                          "letters, digits, '_', '.', '-', at most 15 levels)",
	                          name ? name : "", allow_root ? "path" : "name");
}

int mdeploy_params_put(mdeploy_params *p, const char *name, const char *value, unsigned int flags,
                       uint64_t *version)
{
	int rc;
	if (!p || !value)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER, "parameter put: missing argument");
	if ((rc = param_name_check(name, 0)) != 0)
		return rc;
	if (strlen(value) > 8192)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
		                          "'%s': value longer than 8192 bytes", name);
	return p->ops->put(p->impl, name, value, flags, version);
}

int mdeploy_params_get(mdeploy_param **out, mdeploy_params *p, const char *name)
{
	char *copy, *colon, *end;
	uint64_t version = 0;
	int rc;

	*out = NULL;
	if (!p || !name)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER, "parameter get: missing argument");
	if (!(copy = mdeploy__strdup(name)))
		return MDEPLOY_ENOMEM;
	if ((colon = strrchr(copy, ':')) != NULL) {
		*colon = '\0';
		/* strtoull() takes "-1" as 2^64-1 and skips blanks: digits only. */
		version = strtoull(colon + 1, &end, 10);
		if (!colon[1] || strspn(colon + 1, "0123456789") != strlen(colon + 1) || *end || !version) {
			free(copy);
			return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
			                          "'%s': the version after ':' must be a positive number", name);
		}
	}
	if ((rc = param_name_check(copy, 0)) == 0)
		rc = p->ops->get(p->impl, out, copy, version);
	free(copy);
	return rc;
}

void mdeploy_param_free(mdeploy_param *param)
{
	if (!param)
		return;
	free((char *)param->name);
	free((char *)param->value);
	free((char *)param->type);
	free(param);
}

int mdeploy_params_list(mdeploy_params *p, const char *path, int recursive, mdeploy_params_cb cb, void *payload)
{
	char *norm;
	int rc;
	if (!p || !cb)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER, "parameter list: missing argument");
	if (!path)
		path = "/";
	if ((rc = param_name_check(path, 1)) != 0)
		return rc;
	/* "/a/b/" and "/a/b" name the same path. */
	if (!(norm = mdeploy__strdup(path)))
		return MDEPLOY_ENOMEM;
	if (strlen(norm) > 1 && norm[strlen(norm) - 1] == '/')
		norm[strlen(norm) - 1] = '\0';
	rc = p->ops->list(p->impl, norm, recursive, cb, payload);
	free(norm);
	return rc;
}

int mdeploy_params_delete(mdeploy_params *p, const char *name)
{
	int rc;
	if (!p)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER, "parameter delete: missing argument");
	if ((rc = param_name_check(name, 0)) != 0)
		return rc;
	return p->ops->del(p->impl, name);
}

/* ---- secrets ---- */

int mdeploy_secrets_options_init(mdeploy_secrets_options *opts, unsigned int version)
{
	mdeploy_secrets_options d = MDEPLOY_SECRETS_OPTIONS_INIT;
	int rc = mdeploy__options_check(version, MDEPLOY_SECRETS_OPTIONS_VERSION, "mdeploy_secrets_options");
	if (rc)
		return rc;
	*opts = d;
	opts->version = version;
	return 0;
}

int mdeploy_secrets_open(mdeploy_secrets **out, mdeploy_ctx *ctx, const mdeploy_secrets_options *opts)
{
	mdeploy_secrets_options d = MDEPLOY_SECRETS_OPTIONS_INIT;
	const mdeploy_provider__stores *st;
	mdeploy_provider__store_args a;
	mdeploy_config *cfg = NULL;
	mdeploy_secrets *s;
	int rc;

	*out = NULL;
	if (!opts)
		opts = &d;
	if ((rc = mdeploy__options_check(opts->version, MDEPLOY_SECRETS_OPTIONS_VERSION, "mdeploy_secrets_options")) ||
	    (rc = choose(&st, &a, &cfg, ctx, MDEPLOY_PROVIDER__STORE_SECRETS, opts->provider)))
		goto out;
	a.dir = opts->dir;
	a.key_file = opts->key_file;
	if (!(s = calloc(1, sizeof(*s)))) {
		rc = mdeploy__error_oom();
		goto out;
	}
	if ((rc = st->secrets_new(&s->impl, &s->ops, &a)) != 0)
		free(s);
	else
		*out = s;
out:
	mdeploy_config_free(cfg);
	return rc;
}

void mdeploy_secrets_free(mdeploy_secrets *s)
{
	if (!s)
		return;
	s->ops->free(s->impl);
	free(s);
}

static int secret_name_check(const char *name)
{
	const char *p;
	if (!name || !*name || strlen(name) > 512)
		goto bad;
	for (p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("/_+=.@-", *p))
			goto bad;
	return 0;
bad:
	return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
	                          "'%s' is not a secret name (1 to 512 of letters, digits and /_+=.@-)",
	                          name ? name : "");
}

int mdeploy_secrets_put(mdeploy_secrets *s, const char *name, const char *value, char version_id[33])
{
	int rc;
	if (!s || !value)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER, "secret put: missing argument");
	if ((rc = secret_name_check(name)) != 0)
		return rc;
	if (strlen(value) > 65536)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
		                          "'%s': value longer than 65536 bytes", name);
	return s->ops->put(s->impl, name, value, 0, version_id);
}

int mdeploy_secrets_rotate(mdeploy_secrets *s, const char *name, const char *new_value, char version_id[33])
{
	int rc;
	if (!s)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER, "secret rotate: missing argument");
	if ((rc = secret_name_check(name)) != 0)
		return rc;
	return s->ops->put(s->impl, name, new_value, 1, version_id);
}

int mdeploy_secrets_get(char **value, mdeploy_secrets *s, const char *name, mdeploy_secret_stage stage,
                        const char *version_id)
{
	int rc;
	*value = NULL;
	if (!s)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER, "secret get: missing argument");
	if ((rc = secret_name_check(name)) != 0)
		return rc;
	if (stage != MDEPLOY_SECRET_CURRENT && stage != MDEPLOY_SECRET_PREVIOUS)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER, "unknown secret stage %d", (int)stage);
	return s->ops->get(s->impl, value, name, stage, version_id);
}

void mdeploy_secret_value_free(char *value)
{
	if (!value)
		return;
	/* Wipe before free; the volatile pointer keeps the stores. */
	{
		volatile char *v = value;
		while (*v)
			*v++ = 0;
	}
	free(value);
}

int mdeploy_secrets_delete(mdeploy_secrets *s, const char *name)
{
	int rc;
	if (!s)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER, "secret delete: missing argument");
	if ((rc = secret_name_check(name)) != 0)
		return rc;
	return s->ops->del(s->impl, name);
}

int mdeploy_secrets_list(mdeploy_secrets *s, mdeploy_secrets_cb cb, void *payload)
{
	if (!s || !cb)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER, "secret list: missing argument");
	return s->ops->list(s->impl, cb, payload);
}

/* ---- artifacts ---- */

int mdeploy_artifacts_options_init(mdeploy_artifacts_options *opts, unsigned int version)
{
	mdeploy_artifacts_options d = MDEPLOY_ARTIFACTS_OPTIONS_INIT;
	int rc = mdeploy__options_check(version, MDEPLOY_ARTIFACTS_OPTIONS_VERSION, "mdeploy_artifacts_options");
	if (rc)
		return rc;
	*opts = d;
	opts->version = version;
	return 0;
}

int mdeploy_artifacts_gc_options_init(mdeploy_artifacts_gc_options *opts, unsigned int version)
{
	mdeploy_artifacts_gc_options d = MDEPLOY_ARTIFACTS_GC_OPTIONS_INIT;
	int rc = mdeploy__options_check(version, MDEPLOY_ARTIFACTS_GC_OPTIONS_VERSION, "mdeploy_artifacts_gc_options");
	if (rc)
		return rc;
	*opts = d;
	opts->version = version;
	return 0;
}

int mdeploy_artifacts_open(mdeploy_artifacts **out, mdeploy_ctx *ctx, const mdeploy_artifacts_options *opts)
{
	mdeploy_artifacts_options d = MDEPLOY_ARTIFACTS_OPTIONS_INIT;
	const mdeploy_provider__stores *st;
	mdeploy_provider__store_args args;
	mdeploy_config *cfg = NULL;
	mdeploy_artifacts *a;
	int rc;

	*out = NULL;
	if (!opts)
		opts = &d;
	if ((rc = mdeploy__options_check(opts->version, MDEPLOY_ARTIFACTS_OPTIONS_VERSION, "mdeploy_artifacts_options")) ||
	    (rc = choose(&st, &args, &cfg, ctx, MDEPLOY_PROVIDER__STORE_ARTIFACTS, opts->provider)))
		goto out;
	args.dir = opts->dir;
	args.key_file = NULL;
	if (!(a = calloc(1, sizeof(*a)))) {
		rc = mdeploy__error_oom();
		goto out;
	}
	if ((rc = st->artifacts_new(&a->impl, &a->ops, &args)) != 0)
		free(a);
	else
		*out = a;
out:
	mdeploy_config_free(cfg);
	return rc;
}

void mdeploy_artifacts_free(mdeploy_artifacts *a)
{
	if (!a)
		return;
	a->ops->free(a->impl);
	free(a);
}

static int artifact_name_check(const char *name)
{
	const char *p;
	if (!name || !*name || strlen(name) > 128 || name[0] == '.')
		goto bad;
	for (p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._-", *p))
			goto bad;
	return 0;
bad:
	return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
	                          "'%s' is not an artifact name (1 to 128 of letters, digits and ._-)",
	                          name ? name : "");
}

int mdeploy_artifacts_put(mdeploy_artifact **out, mdeploy_artifacts *a, const char *name, const char *file)
{
	int rc;
	if (out)
		*out = NULL;
	if (!a || !file)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER, "artifact put: missing argument");
	if ((rc = artifact_name_check(name)) != 0)
		return rc;
	return a->ops->put(a->impl, out, name, file);
}

int mdeploy_artifacts_get(mdeploy_artifact **out, mdeploy_artifacts *a, const char *ref)
{
	*out = NULL;
	if (!a || !ref || !*ref)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER, "artifact get: missing reference");
	return a->ops->get(a->impl, out, ref);
}

int mdeploy_artifacts_fetch(mdeploy_artifacts *a, const char *ref, const char *dest)
{
	if (!a || !ref || !*ref || !dest)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER, "artifact fetch: missing argument");
	return a->ops->fetch(a->impl, ref, dest);
}

void mdeploy_artifact_free(mdeploy_artifact *art)
{
	if (!art)
		return;
	free((char *)art->name);
	free((char *)art->sha256);
	free((char *)art->path);
	free(art);
}

int mdeploy_artifacts_list(mdeploy_artifacts *a, const char *name, mdeploy_artifacts_cb cb, void *payload)
{
	int rc;
	if (!a || !cb)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER, "artifact list: missing argument");
	if (name && (rc = artifact_name_check(name)) != 0)
		return rc;
	return a->ops->list(a->impl, name, cb, payload);
}

/* ---- artifact gc: what to keep is decided here, providers list and delete ---- */

typedef struct {
	mdeploy_artifact *v;
	size_t n, cap;
} gc_revs;

static int gc_collect(const mdeploy_artifact *a, void *payload)
{
	gc_revs *r = payload;
	mdeploy_artifact *c;
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 32;
		mdeploy_artifact *nv = realloc(r->v, cap * sizeof(*nv));
		if (!nv)
			return 1;
		r->v = nv;
		r->cap = cap;
	}
	c = &r->v[r->n];
	*c = *a;
	c->name = mdeploy__strdup(a->name);
	c->sha256 = mdeploy__strdup(a->sha256);
	c->path = a->path ? mdeploy__strdup(a->path) : NULL;
	if (!c->name || !c->sha256 || (a->path && !c->path)) {
		free((char *)c->name);
		free((char *)c->sha256);
		free((char *)c->path);
		return 1;
	}
	r->n++;
	return 0;
}

/* By name, newest revision first. */
static int gc_order(const void *x, const void *y)
{
	const mdeploy_artifact *a = x, *b = y;
	int c = strcmp(a->name, b->name);
	if (c)
		return c;
	return a->revision < b->revision ? 1 : a->revision > b->revision ? -1 : 0;
}

static int gc_in_use(const char *const *list, const char *sha)
{
	for (; list && *list; list++)
		if (!strcmp(*list, sha))
			return 1;
	return 0;
}

/*
 * The retention rule: of each name, the newest `keep` revisions stay, and
 * any revision whose digest is in use (what deployment groups run or roll
 * back to); the rest go, then the objects nothing points at any more.
 */
int mdeploy_artifacts_gc(mdeploy_artifacts *a, const mdeploy_artifacts_gc_options *opts,
                         mdeploy_artifacts_cb cb, void *payload, uint64_t *freed)
{
	mdeploy_artifacts_gc_options d = MDEPLOY_ARTIFACTS_GC_OPTIONS_INIT;
	const mdeploy_artifact **doomed = NULL;
	gc_revs r = { NULL, 0, 0 };
	unsigned int keep;
	size_t i, nd = 0, rank = 0;
	int rc;

	if (freed)
		*freed = 0;
	if (!a)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER, "artifact gc: missing argument");
	if (!opts)
		opts = &d;
	if ((rc = mdeploy__options_check(opts->version, MDEPLOY_ARTIFACTS_GC_OPTIONS_VERSION,
	                                 "mdeploy_artifacts_gc_options")) != 0)
		return rc;
	keep = opts->keep ? opts->keep : 5;
	if ((rc = a->ops->list(a->impl, NULL, gc_collect, &r)) != 0) {
		if (rc == MDEPLOY_EUSER)
			rc = mdeploy__error_oom();
		goto out;
	}
	if (r.n > 1)
		qsort(r.v, r.n, sizeof(*r.v), gc_order);
	if (r.n && !(doomed = calloc(r.n, sizeof(*doomed)))) {
		rc = mdeploy__error_oom();
		goto out;
	}
	for (i = 0; i < r.n; i++) {
		rank = i && !strcmp(r.v[i].name, r.v[i - 1].name) ? rank + 1 : 0;
		if (rank < keep || gc_in_use(opts->in_use, r.v[i].sha256))
			continue;
		if (cb && cb(&r.v[i], payload)) {
			rc = mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_CALLBACK, "artifact gc: stopped by the callback");
			goto out;
		}
		doomed[nd++] = &r.v[i];
	}
	/* Also with nothing doomed: the provider sweeps objects nothing points at. */
	rc = a->ops->remove(a->impl, doomed, nd, opts->in_use, opts->dry_run, freed);
out:
	for (i = 0; i < r.n; i++) {
		free((char *)r.v[i].name);
		free((char *)r.v[i].sha256);
		free((char *)r.v[i].path);
	}
	free(r.v);
	free(doomed);
	return rc;
}
