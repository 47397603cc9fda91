/*
 * config_provider.c - the `provider` section of mdeploy.yml: which
 * provider runs the groups' fleets and load balancers, and its options.
 *
 *   provider:
 *     name: aws
 *     region: eu-west-1
 *
 * As for stores (config_stores.c), nothing here names a provider: the keys
 * are the union of the options the registered providers declare
 * (mdeploy_provider_ops.options), built at run time; the check says which
 * of them the named provider takes.
 */
#include "config_private.h"
#include "provider/provider.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define MAX_KEYS 32

struct mdeploy_config__provider {
	char *name;
	char *values[MAX_KEYS];
	/* filled by the check: "key", "value" ... NULL */
	const char *settings[2 * MAX_KEYS + 1];
};

static const char *keys[MAX_KEYS];
static size_t nkeys;
/* name + every key + the end */
static cyaml_schema_field_t fields[MAX_KEYS + 2];

const cyaml_schema_value_t mdeploy_config__provider_schema = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct mdeploy_config__provider, fields),
};

static ssize_t key_index(const char *key)
{
	size_t i;
	for (i = 0; i < nkeys; i++)
		if (!strcmp(keys[i], key))
			return (ssize_t)i;
	return -1;
}

/* Called once from config.c before the first load. */
void mdeploy_config__provider_schema_build(void)
{
	const cyaml_schema_field_t name_field =
		MDEPLOY_CONFIG__STRING("name", CYAML_FLAG_OPTIONAL, struct mdeploy_config__provider, name);
	const mdeploy_provider_ops *ops;
	size_t i, n = 0;

	fields[n++] = name_field;
	for (i = 0; (ops = mdeploy_provider__at(i)) != NULL; i++) {
		const char *const *key;
		for (key = ops->options; key && *key; key++) {
			cyaml_schema_field_t f = MDEPLOY_CONFIG__STRING("", CYAML_FLAG_OPTIONAL,
			                                                struct mdeploy_config__provider, values[0]);
			if (key_index(*key) >= 0 || !strcmp(*key, "name"))
				continue;
			if (nkeys == MAX_KEYS)
				abort(); /* a build with more provider options than MAX_KEYS: raise it */
			f.key = *key;
			f.data_offset = offsetof(struct mdeploy_config__provider, values) + nkeys * sizeof(char *);
			keys[nkeys++] = *key;
			fields[n++] = f;
		}
	}
	memset(&fields[n], 0, sizeof(fields[n]));
}

int mdeploy_config__provider_check(mdeploy_config *cfg, mdeploy_config__problems *p)
{
	struct mdeploy_config__provider *s = cfg->doc->provider;
	const mdeploy_provider_ops *ops;
	const char *name;
	size_t i, n = 0;
	char field[128];

	if (!s)
		return 0;
	name = s->name ? s->name : mdeploy_provider__default_name();
	if (!(ops = mdeploy_provider__find(name))) {
		mdeploy_config__problem(p, "provider.name", "unknown provider '%s' (this build has: %s)", name,
		                        mdeploy_provider__names());
		return 0;
	}
	for (i = 0; i < nkeys; i++) {
		const char *const *key;
		if (!s->values[i])
			continue;
		for (key = ops->options; key && *key && strcmp(*key, keys[i]); key++)
			;
		if (!key || !*key) {
			mdeploy__buf known = MDEPLOY__BUF_INIT;
			for (key = ops->options; key && *key; key++)
				mdeploy__buf_printf(&known, "%s%s", key == ops->options ? "" : ", ", *key);
			snprintf(field, sizeof(field), "provider.%s", keys[i]);
			mdeploy_config__problem(p, field, "not an option of the %s provider (it takes: %s)", name,
			                        known.size ? mdeploy__buf_cstr(&known) : "no options");
			mdeploy__buf_dispose(&known);
			continue;
		}
		if (!*s->values[i]) {
			snprintf(field, sizeof(field), "provider.%s", keys[i]);
			mdeploy_config__problem(p, field, "must not be empty");
			continue;
		}
		s->settings[n++] = keys[i];
		s->settings[n++] = s->values[i];
	}
	s->settings[n] = NULL;
	return 0;
}

const char *mdeploy_config_provider_name(const mdeploy_config *cfg)
{
	if (!cfg || !cfg->doc || !cfg->doc->provider)
		return NULL;
	return cfg->doc->provider->name;
}

const char *const *mdeploy_config_provider_settings(const mdeploy_config *cfg)
{
	static const char *const none[] = { NULL };
	if (!cfg || !cfg->doc || !cfg->doc->provider)
		return none;
	return cfg->doc->provider->settings;
}
