/*
 * runner_env.c - the environment a buildspec's commands run with: a list
 * of "NAME=value" strings, set, read and replaced by name.
 */
#include "runner_private.h"

#include <stdlib.h>
#include <string.h>

int mdeploy_build__env_set(struct env *e, const char *name, const char *value)
{
	size_t i, nl = strlen(name);
	char *kv = mdeploy__sprintf("%s=%s", name, value), **v;
	if (!kv)
		return MDEPLOY_ENOMEM;
	for (i = 0; i < e->n; i++)
		if (!strncmp(e->v[i], name, nl) && e->v[i][nl] == '=') {
			free(e->v[i]);
			e->v[i] = kv;
			return 0;
		}
	if (!(v = realloc(e->v, (e->n + 2) * sizeof(*v)))) {
		free(kv);
		return mdeploy__error_oom();
	}
	e->v = v;
	v[e->n++] = kv;
	v[e->n] = NULL;
	return 0;
}

const char *mdeploy_build__env_get(const struct env *e, const char *name)
{
	size_t i, nl = strlen(name);
	for (i = 0; i < e->n; i++)
		if (!strncmp(e->v[i], name, nl) && e->v[i][nl] == '=')
			return e->v[i] + nl + 1;
	return NULL;
}

void mdeploy_build__env_dispose(struct env *e)
{
	size_t i;
	for (i = 0; i < e->n; i++)
		free(e->v[i]);
	free(e->v);
	e->v = NULL;
	e->n = 0;
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

