/*
 * config_stores.c - the `stores` section of mdeploy.yml: which provider
 * holds the parameters, secrets, artifacts and the deployment state (locks
 * and the journal), and its options.
 *
 *   stores:
 *     params:    { provider: local, dir: /srv/mdeploy/params }
 *     artifacts: { provider: aws, bucket: my-bundles, prefix: moodle/ }
 *
 * Nothing here names a provider: the keys a store entry may hold are the
 * union of what the registered store providers declare
 * (provider/store.h), so the schema is built at run time, each key an
 * optional string in `values` at its index in `keys`. The check then says
 * which of them the chosen provider takes.
 */
#include "config_private.h"
#include "provider/store.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <string.h>

#define MAX_KEYS 48

struct store_entry {
	char *provider;
	char *values[MAX_KEYS];
};

struct mdeploy_config__stores {
	struct store_entry *kinds[MDEPLOY_PROVIDER__STORE_KINDS];
};

static const char *keys[MAX_KEYS];
static size_t nkeys;
/* provider + every key + the end */
static cyaml_schema_field_t entry_fields[MAX_KEYS + 2];

static const cyaml_schema_field_t stores_fields[] = {
	CYAML_FIELD_MAPPING_PTR("params", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL, struct mdeploy_config__stores,
	                        kinds[MDEPLOY_PROVIDER__STORE_PARAMS], entry_fields),
	CYAML_FIELD_MAPPING_PTR("secrets", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL, struct mdeploy_config__stores,
	                        kinds[MDEPLOY_PROVIDER__STORE_SECRETS], entry_fields),
	CYAML_FIELD_MAPPING_PTR("artifacts", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL,
	                        struct mdeploy_config__stores, kinds[MDEPLOY_PROVIDER__STORE_ARTIFACTS],
	                        entry_fields),
	CYAML_FIELD_MAPPING_PTR("state", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL, struct mdeploy_config__stores,
	                        kinds[MDEPLOY_PROVIDER__STORE_STATE], entry_fields),
	CYAML_FIELD_END
};

const cyaml_schema_value_t mdeploy_config__stores_schema = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct mdeploy_config__stores, stores_fields),
};

static const cyaml_schema_field_t provider_field =
	MDEPLOY_CONFIG__STRING("provider", CYAML_FLAG_OPTIONAL, struct store_entry, provider);

static ssize_t key_index(const char *key)
{
	size_t i;
	for (i = 0; i < nkeys; i++)
		if (!strcmp(keys[i], key))
			return (ssize_t)i;
	return -1;
}

/* Called once from config.c before the first load. */
void mdeploy_config__stores_schema_build(void)
{
	const mdeploy_provider__stores *st;
	size_t i, k, n = 0;

	entry_fields[n++] = provider_field;
	for (i = 0; (st = mdeploy_provider__stores_at(i)) != NULL; i++) {
		for (k = 0; k < MDEPLOY_PROVIDER__STORE_KINDS; k++) {
			const char *const *key;
			for (key = st->keys[k]; key && *key; key++) {
				cyaml_schema_field_t f =
					MDEPLOY_CONFIG__STRING("", CYAML_FLAG_OPTIONAL, struct store_entry, values[0]);
				if (key_index(*key) >= 0 || !strcmp(*key, "provider"))
					continue;
				if (nkeys == MAX_KEYS)
					abort(); /* a build with more store keys than MAX_KEYS: raise it */
				f.key = *key;
				f.data_offset = offsetof(struct store_entry, values) + nkeys * sizeof(char *);
				keys[nkeys++] = *key;
				entry_fields[n++] = f;
			}
		}
	}
	memset(&entry_fields[n], 0, sizeof(entry_fields[n]));
}

int mdeploy_config__stores_check(mdeploy_config *cfg, mdeploy_config__problems *p)
{
	const struct mdeploy_config__stores *s = cfg->doc->stores;
	unsigned int k;
	size_t i;

	if (!s)
		return 0;
	for (k = 0; k < MDEPLOY_PROVIDER__STORE_KINDS; k++) {
		const struct store_entry *e = s->kinds[k];
		const char *kind = mdeploy_provider__store_kind_key((mdeploy_provider__store_kind)k);
		const mdeploy_provider__stores *st;
		const char *name;
		char field[128];

		if (!e)
			continue;
		name = e->provider ? e->provider : mdeploy_provider__stores_at(0)->name;
		snprintf(field, sizeof(field), "stores.%s.provider", kind);
		if (!(st = mdeploy_provider__stores_find(name))) {
			mdeploy_config__problem(p, field, "unknown store provider '%s' (this build has: %s)", name,
			                        mdeploy_provider__stores_names());
			continue;
		}
		if (!st->keys[k]) {
			mdeploy_config__problem(p, field, "provider '%s' has no %s store", name,
			                        mdeploy_provider__store_kind_noun((mdeploy_provider__store_kind)k));
			continue;
		}
		for (i = 0; i < nkeys; i++) {
			const char *const *key;
			char why[256];
			if (!e->values[i])
				continue;
			snprintf(field, sizeof(field), "stores.%s.%s", kind, keys[i]);
			for (key = st->keys[k]; *key && strcmp(*key, keys[i]); key++)
				;
			if (!*key) {
				mdeploy__buf known = MDEPLOY__BUF_INIT;
				for (key = st->keys[k]; *key; key++)
					mdeploy__buf_printf(&known, "%s%s", key == st->keys[k] ? "" : ", ", *key);
				mdeploy_config__problem(p, field, "not an option of the %s %s store (it takes: %s)", name,
				                        mdeploy_provider__store_kind_noun((mdeploy_provider__store_kind)k),
				                        known.size ? mdeploy__buf_cstr(&known) : "no options");
				mdeploy__buf_dispose(&known);
				continue;
			}
			why[0] = '\0';
			if (st->check && st->check((mdeploy_provider__store_kind)k, keys[i], e->values[i], why, sizeof(why)))
				mdeploy_config__problem(p, field, "%s", why[0] ? why : "is not valid");
		}
	}
	return 0;
}

const char *mdeploy_config__store_provider(const mdeploy_config *cfg, mdeploy_provider__store_kind kind)
{
	const struct store_entry *e;
	if (!cfg || !cfg->doc || !cfg->doc->stores || (unsigned int)kind >= MDEPLOY_PROVIDER__STORE_KINDS)
		return NULL;
	if (!(e = cfg->doc->stores->kinds[kind]))
		return NULL;
	return e->provider ? e->provider : mdeploy_provider__stores_at(0)->name;
}

const char *mdeploy_config__store_value(const mdeploy_config *cfg, mdeploy_provider__store_kind kind,
                                        const char *key)
{
	const struct store_entry *e;
	ssize_t i;
	if (!cfg || !cfg->doc || !cfg->doc->stores || (unsigned int)kind >= MDEPLOY_PROVIDER__STORE_KINDS)
		return NULL;
	if (!(e = cfg->doc->stores->kinds[kind]) || (i = key_index(key)) < 0)
		return NULL;
	return e->values[i];
}
