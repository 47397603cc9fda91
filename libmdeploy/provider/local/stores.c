/*
 * stores.c - the local provider's stores in the store registry
 * (provider/store.h): parameters, secrets and artifacts in files under the
 * state directory, or under the directories mdeploy.yml names:
 *
 *   stores:
 *     params:    { provider: local, dir: /srv/mdeploy/params }
 *     secrets:   { provider: local, dir: secrets, key_file: /etc/mdeploy/secrets.key }
 *     artifacts: { provider: local, dir: /srv/mdeploy/artifacts }
 *
 * Relative paths are relative to mdeploy.yml's directory.
 */
#include "local.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const dir_keys[] = { "dir", NULL };
static const char *const secrets_keys[] = { "dir", "key_file", NULL };
/* stores.state: local is the embedded SQLite store in the state directory. */
static const char *const state_keys[] = { NULL };

static int local_check(mdeploy_provider__store_kind kind, const char *key, const char *value, char *why, size_t n)
{
	(void)kind;
	(void)key;
	if (!*value) {
		snprintf(why, n, "must be a path, not empty");
		return 1;
	}
	return 0;
}

const mdeploy_provider__stores mdeploy_provider__local_stores = {
	"local",
	{ dir_keys, secrets_keys, dir_keys, state_keys },
	local_check,
	mdeploy_local__params_new,
	mdeploy_local__secrets_new,
	mdeploy_local__artifacts_new,
	NULL,
};

int mdeploy_local__config_path(char **out, const mdeploy_provider__store_args *a, const char *key)
{
	const char *v = mdeploy_provider__store_option(a, key);
	*out = NULL;
	if (!v)
		return 0;
	if (v[0] == '/' || !a->config)
		*out = mdeploy__strdup(v);
	else
		*out = mdeploy__path_join(mdeploy_config_dir(a->config), v);
	return *out ? 0 : MDEPLOY_ENOMEM;
}

int mdeploy_local__store_dir(char **out, const mdeploy_provider__store_args *a)
{
	const char *sub = mdeploy_provider__store_kind_key(a->kind);
	int rc;

	*out = NULL;
	if (a->dir)
		*out = mdeploy__strdup(a->dir);
	else if ((rc = mdeploy_local__config_path(out, a, "dir")) != 0 || *out)
		return rc;
	else if (a->ctx && mdeploy_ctx_state_dir(a->ctx))
		*out = mdeploy__path_join(mdeploy_ctx_state_dir(a->ctx), sub);
	else
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
		                          "no directory for the %s store: give a context or a directory", sub);
	return *out ? 0 : MDEPLOY_ENOMEM;
}
