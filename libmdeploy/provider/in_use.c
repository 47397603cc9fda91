/*
 * in_use.c - which bundles deployment groups still use, so artifact gc
 * keeps them whatever their age. Reads the state store's deployment records.
 */
#include "provider/store.h"
#include "mdeploy/store.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

struct group_count {
	char *key;          /* application, newline, group */
	unsigned int succeeded;
};

struct in_use {
	char **digests;
	size_t n;
	struct group_count *groups;
	size_t ngroups;
	int rc;
};

static int add_digest(struct in_use *u, const char *d)
{
	char **v;
	size_t i;
	for (i = 0; i < u->n; i++)
		if (!strcmp(u->digests[i], d))
			return 0;
	if (!(v = realloc(u->digests, (u->n + 2) * sizeof(*v))))
		return mdeploy__error_oom();
	u->digests = v;
	if (!(v[u->n] = mdeploy__strdup(d)))
		return MDEPLOY_ENOMEM;
	v[++u->n] = NULL;
	return 0;
}

static int is_digest(const char *s)
{
	size_t i;
	if (!strncmp(s, "sha256:", 7))
		s += 7;
	for (i = 0; s[i]; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return 0;
	return i == 64;
}

static int record_cb(const mdeploy_deployment_record *rec, void *payload)
{
	struct in_use *u = payload;
	struct group_count *g = NULL;
	char *key, digest[65];
	size_t i;
	int keep;

	if (!(key = mdeploy__sprintf("%s\n%s", rec->application ? rec->application : "", rec->group ? rec->group : "")))
		return (u->rc = MDEPLOY_ENOMEM);
	for (i = 0; i < u->ngroups; i++)
		if (!strcmp(u->groups[i].key, key))
			g = &u->groups[i];
	if (!g) {
		struct group_count *ng = realloc(u->groups, (u->ngroups + 1) * sizeof(*ng));
		if (!ng) {
			free(key);
			return (u->rc = mdeploy__error_oom());
		}
		u->groups = ng;
		g = &ng[u->ngroups++];
		g->key = key;
		g->succeeded = 0;
	} else {
		free(key);
	}
	/* Records come newest first. */
	if (!rec->status || !mdeploy_deployment_status_is_final(rec->status))
		keep = 1;
	else if (!strcmp(rec->status, "Succeeded"))
		keep = g->succeeded++ < 2;
	else
		keep = 0;
	if (!keep)
		return 0;
	if (rec->revision && is_digest(rec->revision) &&
	    (u->rc = add_digest(u, rec->revision + (strncmp(rec->revision, "sha256:", 7) ? 0 : 7))) != 0)
		return u->rc;
	/* The digest recorded when it was deployed (schema 5); else the file as it is now. */
	if (rec->bundle_sha256 && is_digest(rec->bundle_sha256) && (u->rc = add_digest(u, rec->bundle_sha256)) != 0)
		return u->rc;
	if (!rec->bundle_sha256 && rec->bundle && mdeploy__file_sha256(rec->bundle, digest) == 0 &&
	    (u->rc = add_digest(u, digest)) != 0)
		return u->rc;
	mdeploy_error_clear();
	return 0;
}

void mdeploy_artifacts_in_use_free(char **list)
{
	size_t i;
	for (i = 0; list && list[i]; i++)
		free(list[i]);
	free(list);
}

int mdeploy_artifacts_in_use(char ***out, mdeploy_ctx *ctx)
{
	struct in_use u;
	mdeploy_store *store = NULL;
	char *db;
	size_t i;
	int rc;

	*out = NULL;
	memset(&u, 0, sizeof(u));
	if (!ctx || !mdeploy_ctx_state_dir(ctx))
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER, "no state directory");
	if (!(db = mdeploy__path_join(mdeploy_ctx_state_dir(ctx), "state.db")))
		return MDEPLOY_ENOMEM;
	/* No state store yet: nothing is deployed (and none is created). */
	if (mdeploy__path_exists(db)) {
		if ((rc = mdeploy_store_open(&store, ctx, NULL)) == 0) {
			rc = mdeploy_store_deployment_foreach(store, NULL, NULL, 0, record_cb, &u);
			if (u.rc)
				rc = u.rc;
		}
		mdeploy_store_free(store);
	} else {
		rc = 0;
	}
	free(db);
	for (i = 0; i < u.ngroups; i++)
		free(u.groups[i].key);
	free(u.groups);
	if (!rc && !u.digests && !(u.digests = calloc(1, sizeof(char *))))
		rc = mdeploy__error_oom();
	if (rc) {
		mdeploy_artifacts_in_use_free(u.digests);
		return rc;
	}
	*out = u.digests;
	return 0;
}
