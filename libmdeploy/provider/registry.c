/*
 * registry.c - the providers this build has, by name. This is the only
 * place outside provider/<name>/ that names a provider: deploy/, config/,
 * cli/ and store.c look providers up here. Adding a provider is a line in
 * each table (see provider/provider.h for fleets, instances and the load
 * balancer, provider/store.h for the parameter, secret and artifact
 * stores).
 */
#include "provider/provider.h"
#include "provider/store.h"

#include <stdio.h>
#include <string.h>

static const mdeploy_provider_ops *const providers[] = {
	&mdeploy_provider__local_ops,
	&mdeploy_provider__aws_ops,
};

static const mdeploy_provider__stores *const stores[] = {
	&mdeploy_provider__local_stores,
	&mdeploy_provider__aws_stores,
};

const mdeploy_provider_ops *mdeploy_provider__find(const char *name)
{
	size_t i;
	for (i = 0; i < MDEPLOY__ARRAY_SIZE(providers); i++)
		if (!strcmp(providers[i]->name, name))
			return providers[i];
	return NULL;
}

const mdeploy_provider_ops *mdeploy_provider__at(size_t i)
{
	return i < MDEPLOY__ARRAY_SIZE(providers) ? providers[i] : NULL;
}

const char *mdeploy_provider__default_name(void)
{
	return providers[0]->name;
}

/* "a, b, c" from a table's names (per thread: messages are built from it). */
#define NAMES(fn, table)                                                            \
	const char *fn(void)                                                        \
	{                                                                           \
		static __thread char buf[256];                                      \
		size_t i, n = 0;                                                    \
		buf[0] = '\0';                                                      \
		for (i = 0; i < MDEPLOY__ARRAY_SIZE(table) && n < sizeof(buf); i++) \
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s",    \
			                      i ? ", " : "", table[i]->name);       \
		return buf;                                                         \
	}
NAMES(mdeploy_provider__names, providers)
NAMES(mdeploy_provider__stores_names, stores)

const char *mdeploy_provider__infra_names(void)
{
	static __thread char buf[256];
	size_t i, n = 0;
	buf[0] = '\0';
	for (i = 0; i < MDEPLOY__ARRAY_SIZE(providers) && n < sizeof(buf); i++)
		if (providers[i]->infra_apply)
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", n ? ", " : "", providers[i]->name);
	return buf;
}

const mdeploy_provider__stores *mdeploy_provider__stores_find(const char *name)
{
	size_t i;
	for (i = 0; name && i < MDEPLOY__ARRAY_SIZE(stores); i++)
		if (!strcmp(stores[i]->name, name))
			return stores[i];
	return NULL;
}

const mdeploy_provider__stores *mdeploy_provider__stores_at(size_t i)
{
	return i < MDEPLOY__ARRAY_SIZE(stores) ? stores[i] : NULL;
}

const char *mdeploy_provider__store_kind_key(mdeploy_provider__store_kind kind)
{
	static const char *const keys[] = { "params", "secrets", "artifacts", "state" };
	return (unsigned int)kind < MDEPLOY__ARRAY_SIZE(keys) ? keys[kind] : "?";
}

const char *mdeploy_provider__store_kind_noun(mdeploy_provider__store_kind kind)
{
	static const char *const nouns[] = { "parameter", "secret", "artifact", "state" };
	return (unsigned int)kind < MDEPLOY__ARRAY_SIZE(nouns) ? nouns[kind] : "?";
}
