/*
 * phpenv.c - the environment a version.php runs in: variables, constants,
 * copies for the branches of a condition only PHP can decide, and their
 * merge (see phpver.h).
 */
#include "phpver_private.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An UNKNOWN value: why, and where. */
mdeploy__pv *mdeploy__php_unknown(struct mdeploy__php_ev *ev, unsigned int line, const char *fmt, ...)
{
	mdeploy__buf b = MDEPLOY__BUF_INIT;
	mdeploy__pv *v;
	va_list ap;
	va_start(ap, fmt);
	mdeploy__buf_vprintf(&b, fmt, ap);
	va_end(ap);
	v = mdeploy__pv_new(MDEPLOY__PV_UNKNOWN, b.ptr ? b.ptr : "", 0, line);
	mdeploy__buf_dispose(&b);
	if (v && ev->file != ev->top && !(v->file = mdeploy__strdup(ev->file))) {
		mdeploy__pv_free(v);
		return NULL;
	}
	return v;
}

static int oom_if_null(mdeploy__pv **out, mdeploy__pv *v)
{
	*out = v;
	return v ? 0 : mdeploy__error_oom();
}

/* ---- the environment --------------------------------------------------- */

void mdeploy__php_env_clear(struct mdeploy__php_env *e)
{
	size_t i;
	for (i = 0; i < e->n; i++) {
		free(e->b[i].key);
		mdeploy__pv_free(e->b[i].v);
	}
	for (i = 0; i < e->nc; i++) {
		free(e->c[i].key);
		mdeploy__pv_free(e->c[i].v);
	}
	free(e->b);
	free(e->c);
	mdeploy__pv_free(e->opaque);
	memset(e, 0, sizeof(*e));
}

struct mdeploy__php_binding *mdeploy__php_find(struct mdeploy__php_binding *b, size_t n, const char *key)
{
	size_t i;
	for (i = 0; i < n; i++)
		if (b[i].key && !strcmp(b[i].key, key))
			return &b[i];
	return NULL;
}

/* Sets key to v (taken); key NULL-terminated. */
int mdeploy__php_bind(struct mdeploy__php_binding **b, size_t *n, const char *key, mdeploy__pv *v, unsigned int line, int maybe)
{
	struct mdeploy__php_binding *x = mdeploy__php_find(*b, *n, key);
	if (!v)
		return mdeploy__error_oom();
	if (!x) {
		struct mdeploy__php_binding *nb = realloc(*b, (*n + 1) * sizeof(*nb));
		if (!nb) {
			mdeploy__pv_free(v);
			return mdeploy__error_oom();
		}
		*b = nb;
		x = &nb[(*n)++];
		memset(x, 0, sizeof(*x));
		if (!(x->key = mdeploy__strdup(key))) {
			(*n)--;
			mdeploy__pv_free(v);
			return mdeploy__error_oom();
		}
	}
	mdeploy__pv_free(x->v);
	x->v = v;
	x->line = line;
	x->maybe = maybe;
	return 0;
}

void mdeploy__php_unbind_prefix(struct mdeploy__php_env *e, const char *var)
{
	size_t i, n = strlen(var);
	for (i = 0; i < e->n; i++)
		if (e->b[i].key && !strncmp(e->b[i].key, var, n) && !strncmp(e->b[i].key + n, "->", 2)) {
			free(e->b[i].key);
			mdeploy__pv_free(e->b[i].v);
			memmove(&e->b[i], &e->b[i + 1], (e->n - i - 1) * sizeof(*e->b));
			e->n--;
			i--;
		}
}

int mdeploy__php_env_copy(struct mdeploy__php_env *dst, const struct mdeploy__php_env *src)
{
	size_t i;
	memset(dst, 0, sizeof(*dst));
	for (i = 0; i < src->n; i++)
		if (mdeploy__php_bind(&dst->b, &dst->n, src->b[i].key, mdeploy__pv_copy(src->b[i].v), src->b[i].line, src->b[i].maybe))
			goto oom;
	for (i = 0; i < src->nc; i++)
		if (mdeploy__php_bind(&dst->c, &dst->nc, src->c[i].key, mdeploy__pv_copy(src->c[i].v), src->c[i].line, src->c[i].maybe))
			goto oom;
	if (src->opaque && !(dst->opaque = mdeploy__pv_copy(src->opaque)))
		goto oom;
	return 0;
oom:
	mdeploy__php_env_clear(dst);
	return MDEPLOY_ENOMEM;
}

/* One set of bindings after a condition we could not decide: what both
 * paths agree on stays, the rest becomes UNKNOWN (or "maybe" set). */
static int merge_set(struct mdeploy__php_ev *ev, struct mdeploy__php_binding **b, size_t *n, const struct mdeploy__php_binding *ob, size_t on,
                     unsigned int line)
{
	size_t i;
	int rc;
	for (i = 0; i < *n; i++) {
		struct mdeploy__php_binding *x = &(*b)[i];
		const struct mdeploy__php_binding *y = mdeploy__php_find((struct mdeploy__php_binding *)ob, on, x->key);
		if (y && mdeploy__pv_equal(x->v, y->v)) {
			x->maybe = x->maybe || y->maybe;
			continue;
		}
		if (!y)
			x->maybe = 1;
		if (!y || x->v->type != MDEPLOY__PV_UNKNOWN) {
			/* Said where it is set, under which condition. */
			mdeploy__pv *u = mdeploy__php_unknown(ev, y && y->line ? y->line : x->line ? x->line : line,
			                                      "it is set under the condition "
			                                      "on line %u, which only PHP can decide", line);
			if (!u)
				return mdeploy__error_oom();
			mdeploy__pv_free(x->v);
			x->v = u;
		}
	}
	for (i = 0; i < on; i++)
		if (!mdeploy__php_find(*b, *n, ob[i].key) &&
		    (rc = mdeploy__php_bind(b, n, ob[i].key,
		                            mdeploy__php_unknown(ev, ob[i].line ? ob[i].line : line, "it is set under the "
		                                                 "condition on line %u, which only PHP can decide", line),
		                            ob[i].line, 1)) != 0)
			return rc;
	return 0;
}

/* ev->env becomes the merge of itself and `other` (cleared). */
int mdeploy__php_merge(struct mdeploy__php_ev *ev, struct mdeploy__php_env *other, unsigned int line)
{
	int rc = merge_set(ev, &ev->env->b, &ev->env->n, other->b, other->n, line);
	if (!rc)
		rc = merge_set(ev, &ev->env->c, &ev->env->nc, other->c, other->nc, line);
	if (!rc && !ev->env->opaque && other->opaque) {
		ev->env->opaque = other->opaque;
		other->opaque = NULL;
	}
	mdeploy__php_env_clear(other);
	return rc;
}

const char *mdeploy__php_var_name(struct mdeploy__php_ev *ev, const char *var)
{
	return ev->ctx->plugin && !strcmp(var, "module") ? "plugin" : var;
}

/* The value of $var or $var->prop (a copy). */
int mdeploy__php_read_var(struct mdeploy__php_ev *ev, const char *var, const char *prop, unsigned int line, mdeploy__pv **out)
{
	char *key = prop ? mdeploy__sprintf("%s->%s", var, prop) : mdeploy__strdup(var);
	struct mdeploy__php_binding *x;
	if (!key)
		return mdeploy__error_oom();
	x = mdeploy__php_find(ev->env->b, ev->env->n, key);
	free(key);
	if (x)
		return oom_if_null(out, mdeploy__pv_copy(x->v));
	if (!strcmp(var, "CFG")) {
		/* Paths for require: the tree's Moodle root as "/", and its lib/. */
		if (prop && (!strcmp(prop, "dirroot") || !strcmp(prop, "libdir"))) {
			size_t rl = strlen(ev->ctx->root);
			char *p = mdeploy__sprintf("/%.*s%s", (int)(rl ? rl - 1 : 0), ev->ctx->root,
			                           !strcmp(prop, "libdir") ? "/lib" : "");
			mdeploy__pv *v = p ? mdeploy__pv_new(MDEPLOY__PV_STRING, p, 0, line) : NULL;
			free(p);
			return oom_if_null(out, v);
		}
		return oom_if_null(out, mdeploy__php_unknown(ev, line, "$CFG%s%s is only known when Moodle runs",
		                                prop ? "->" : "", prop ? prop : ""));
	}
	if (ev->env->opaque)
		return oom_if_null(out, mdeploy__pv_copy(ev->env->opaque));
	return oom_if_null(out, mdeploy__pv_null(line));
}
