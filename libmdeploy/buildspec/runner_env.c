/*
 * runner_env.c - the environment a buildspec's commands run with: a list
 * of "NAME=value" strings, set, read and replaced by name. Names are
 * found through a hash index, not a search per name: a buildspec may set
 * a hundred thousand variables within its 1 MiB (a linear search made
 * that build run for minutes before its first command), and the whole
 * environment is read back after every command.
 */
#include "runner_private.h"

#include <stdlib.h>
#include <string.h>

static size_t name_hash(const char *s, size_t n)
{
	size_t h = 1469598103934665603ULL & (size_t)-1, i;
	for (i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * (size_t)1099511628211ULL;
	return h;
}

/* The slot holding NAME, or the empty slot where it would go. */
static size_t *find_slot(const struct env *e, const char *name, size_t nl)
{
	size_t mask = e->nslots - 1, i = name_hash(name, nl) & mask;
	for (;; i = (i + 1) & mask) {
		const char *kv;
		if (!e->slots[i])
			return &e->slots[i];
		kv = e->v[e->slots[i] - 1];
		if (!strncmp(kv, name, nl) && kv[nl] == '=')
			return &e->slots[i];
	}
}

static int grow(struct env *e)
{
	size_t ns = e->nslots ? e->nslots * 2 : 64, i;
	size_t *slots;
	if (e->n + 2 > e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 32;
		char **v = realloc(e->v, cap * sizeof(*v));
		if (!v)
			return mdeploy__error_oom();
		e->v = v;
		e->cap = cap;
	}
	if ((e->n + 1) * 2 <= e->nslots)
		return 0;
	if (!(slots = calloc(ns, sizeof(*slots))))
		return mdeploy__error_oom();
	free(e->slots);
	e->slots = slots;
	e->nslots = ns;
	for (i = 0; i < e->n; i++) {
		const char *kv = e->v[i];
		*find_slot(e, kv, (size_t)(strchr(kv, '=') - kv)) = i + 1;
	}
	return 0;
}

int mdeploy_build__env_set(struct env *e, const char *name, const char *value)
{
	size_t nl = strlen(name), *slot;
	char *kv = mdeploy__sprintf("%s=%s", name, value);
	int rc;
	if (!kv)
		return MDEPLOY_ENOMEM;
	if ((rc = grow(e)) != 0) {
		free(kv);
		return rc;
	}
	slot = find_slot(e, name, nl);
	if (*slot) {
		free(e->v[*slot - 1]);
		e->v[*slot - 1] = kv;
		return 0;
	}
	e->v[e->n++] = kv;
	e->v[e->n] = NULL;
	*slot = e->n;
	return 0;
}

const char *mdeploy_build__env_get(const struct env *e, const char *name)
{
	size_t nl = strlen(name), *slot;
	if (!e->nslots)
		return NULL;
	slot = find_slot(e, name, nl);
	return *slot ? e->v[*slot - 1] + nl + 1 : NULL;
}

void mdeploy_build__env_dispose(struct env *e)
{
	size_t i;
	for (i = 0; i < e->n; i++)
		free(e->v[i]);
	free(e->v);
	free(e->slots);
	memset(e, 0, sizeof(*e));
}

int mdeploy_build__env_put_kv(struct env *e, const char *kv)
{
	const char *eq = strchr(kv, '=');
	char *name;
	int rc;
	if (!eq || eq == kv)
		return 0;
	if (!(name = mdeploy__sprintf("%.*s", (int)(eq - kv), kv)))
		return MDEPLOY_ENOMEM;
	rc = mdeploy_build__env_set(e, name, eq + 1);
	free(name);
	return rc;
}
