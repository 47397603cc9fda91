/*
 * secrets.c - secrets on AWS Secrets Manager. A secret "db" of the store is
 * the secret "<prefix>db" (prefix default mdeploy/<application>/),
 * encrypted with the account's default key (aws/secretsmanager) unless
 * `kms_key` names one. Current and previous values are Secrets Manager's
 * AWSCURRENT and AWSPREVIOUS stages: putting a new value moves AWSCURRENT to
 * it and AWSPREVIOUS to the value it replaced. Version ids are the 32 hex
 * digits mdeploy gives each version (as the ClientRequestToken, which
 * becomes the VersionId).
 */
#include "provider/aws/aws.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

struct aws_secrets {
	mdeploy_aws__client *client;
	char *prefix;
	char *kms_key;
};

static int call(struct aws_secrets *s, const char *op, json_t *req, json_t **resp)
{
	char target[64];
	int rc;
	snprintf(target, sizeof(target), "secretsmanager.%s", op);
	rc = mdeploy_aws__json_call(s->client, "secretsmanager", "SECRETS_MANAGER", "1.1", target, req, resp);
	json_decref(req);
	return rc;
}

static void json_wipe_decref(json_t *j, const char *key)
{
	/* jansson owns the string; overwrite it before it is freed */
	json_t *v = j ? json_object_get(j, key) : NULL;
	if (json_is_string(v)) {
		char *s = (char *)json_string_value(v);
		memset(s, 0, json_string_length(v));
	}
	json_decref(j);
}

static int a_put(void *impl, const char *name, const char *value, int must_exist, char version_id[33])
{
	struct aws_secrets *s = impl;
	unsigned char rnd[16];
	char id[33], *full = mdeploy__sprintf("%s%s", s->prefix, name);
	json_t *req, *resp = NULL;
	int rc;

	if (!full)
		return mdeploy__error_oom();
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		free(full);
		return mdeploy__error_set(MDEPLOY_ERROR, MDEPLOY_ERROR_CLASS_CRYPTO, "secret '%s': no random bytes", name);
	}
	mdeploy_aws__hex(id, rnd, sizeof(rnd));
	req = json_pack("{s:s, s:s, s:s}", "SecretId", full, "SecretString", value, "ClientRequestToken", id);
	rc = req ? call(s, "PutSecretValue", req, &resp) : MDEPLOY_ENOMEM;
	if (rc == MDEPLOY_ENOTFOUND && !must_exist) {
		req = json_pack("{s:s, s:s, s:s}", "Name", full, "SecretString", value, "ClientRequestToken", id);
		if (req && s->kms_key)
			json_object_set_new(req, "KmsKeyId", json_string(s->kms_key));
		rc = req ? call(s, "CreateSecret", req, &resp) : MDEPLOY_ENOMEM;
	} else if (rc == MDEPLOY_ENOTFOUND) {
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PROVIDER,
		                        "secret '%s' does not exist (put it first)", name);
	}
	free(full);
	json_decref(resp);
	if (rc && rc != MDEPLOY_ENOTFOUND)
		mdeploy__error_prefix("secret '%s'", name);
	if (!rc && version_id)
		memcpy(version_id, id, 33);
	return rc;
}

static int a_get(void *impl, char **value, const char *name, mdeploy_secret_stage stage, const char *version_id)
{
	struct aws_secrets *s = impl;
	char *full = mdeploy__sprintf("%s%s", s->prefix, name);
	json_t *req, *resp = NULL;
	const char *v;
	int rc;

	*value = NULL;
	if (!full)
		return mdeploy__error_oom();
	req = json_pack("{s:s}", "SecretId", full);
	if (req && version_id)
		json_object_set_new(req, "VersionId", json_string(version_id));
	else if (req)
		json_object_set_new(req, "VersionStage",
		                    json_string(stage == MDEPLOY_SECRET_PREVIOUS ? "AWSPREVIOUS" : "AWSCURRENT"));
	rc = req ? call(s, "GetSecretValue", req, &resp) : MDEPLOY_ENOMEM;
	free(full);
	if (rc == MDEPLOY_ENOTFOUND) {
		if (version_id)
			return mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PROVIDER,
			                          "secret '%s' has no version %s", name, version_id);
		return stage == MDEPLOY_SECRET_PREVIOUS
		       ? mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PROVIDER,
		                            "secret '%s' has no previous version (or does not exist)", name)
		       : mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PROVIDER, "secret '%s' does not exist",
		                            name);
	}
	if (rc) {
		mdeploy__error_prefix("secret '%s'", name);
		return rc;
	}
	v = json_string_value(json_object_get(resp, "SecretString"));
	if (!v)
		rc = mdeploy__error_set(MDEPLOY_EUNSUPPORTED, MDEPLOY_ERROR_CLASS_PROVIDER,
		                        "secret '%s' has a binary value (SecretBinary): not supported", name);
	else if (!(*value = mdeploy__strdup(v)))
		rc = MDEPLOY_ENOMEM;
	json_wipe_decref(resp, "SecretString");
	return rc;
}

struct stage_ids {
	const char *current, *previous;
};

static void stages_of(json_t *map, struct stage_ids *ids)
{
	const char *vid;
	json_t *stages, *st;
	size_t i;
	ids->current = ids->previous = NULL;
	json_object_foreach(map, vid, stages) {
		json_array_foreach(stages, i, st) {
			if (!strcmp(json_string_value(st) ? json_string_value(st) : "", "AWSCURRENT"))
				ids->current = vid;
			else if (!strcmp(json_string_value(st) ? json_string_value(st) : "", "AWSPREVIOUS"))
				ids->previous = vid;
		}
	}
}

static int info_cmp(const void *a, const void *b)
{
	return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "Name")),
	              json_string_value(json_object_get(*(json_t *const *)b, "Name")));
}

static int a_list(void *impl, mdeploy_secrets_cb cb, void *payload)
{
	struct aws_secrets *s = impl;
	json_t *all = json_array(), **items = NULL;
	char *token = NULL;
	size_t plen = strlen(s->prefix), i, n;
	int rc = 0;

	if (!all)
		return mdeploy__error_oom();
	do {
		json_t *req = json_pack("{s:i, s:[{s:s, s:[s]}]}", "MaxResults", 100, "Filters", "Key", "name", "Values",
		                        s->prefix), *resp = NULL, *j;
		size_t k;
		if (req && token)
			json_object_set_new(req, "NextToken", json_string(token));
		free(token);
		token = NULL;
		if (!req) {
			rc = mdeploy__error_oom();
			break;
		}
		if ((rc = call(s, "ListSecrets", req, &resp)))
			break;
		json_array_foreach(json_object_get(resp, "SecretList"), k, j) {
			const char *nm = json_string_value(json_object_get(j, "Name"));
			/* the name filter matches prefixes of words; keep ours only */
			if (nm && !strncmp(nm, s->prefix, plen) && nm[plen])
				json_array_append(all, j);
		}
		if (json_string_value(json_object_get(resp, "NextToken")))
			token = mdeploy__strdup(json_string_value(json_object_get(resp, "NextToken")));
		json_decref(resp);
	} while (!rc && token);
	free(token);
	n = json_array_size(all);
	if (!rc && n && !(items = calloc(n, sizeof(*items))))
		rc = mdeploy__error_oom();
	for (i = 0; !rc && i < n; i++)
		items[i] = json_array_get(all, i);
	if (!rc && n > 1)
		qsort(items, n, sizeof(*items), info_cmp);
	for (i = 0; !rc && i < n; i++) {
		mdeploy_secret_info info;
		struct stage_ids ids;
		json_t *created = json_object_get(items[i], "CreatedDate");
		json_t *changed = json_object_get(items[i], "LastChangedDate");
		stages_of(json_object_get(items[i], "SecretVersionsToStages"), &ids);
		info.name = json_string_value(json_object_get(items[i], "Name")) + plen;
		info.current_version = ids.current ? ids.current : "";
		info.previous_version = ids.previous;
		info.created = (int64_t)json_number_value(created);
		info.changed = changed ? (int64_t)json_number_value(changed) : info.created;
		if (cb(&info, payload))
			rc = mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_CALLBACK, "secret list: callback aborted");
	}
	free(items);
	json_decref(all);
	return rc;
}

static void a_free(void *impl)
{
	struct aws_secrets *s = impl;
	if (!s)
		return;
	mdeploy_aws__client_free(s->client);
	free(s->prefix);
	free(s->kms_key);
	free(s);
}

/* DeleteSecret without a recovery window: a later put of the same name
 * (the next infra apply) would otherwise be refused for up to 30 days. */
static int a_del(void *impl, const char *name)
{
	struct aws_secrets *s = impl;
	char *full = mdeploy__sprintf("%s%s", s->prefix, name);
	json_t *req, *resp = NULL;
	int rc;
	if (!full)
		return mdeploy__error_oom();
	if (!(req = json_pack("{s:s, s:b}", "SecretId", full, "ForceDeleteWithoutRecovery", 1))) {
		free(full);
		return mdeploy__error_oom();
	}
	rc = call(s, "DeleteSecret", req, &resp);
	json_decref(resp);
	if (rc == MDEPLOY_ENOTFOUND)
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PROVIDER, "secret '%s' does not exist", name);
	else if (rc)
		mdeploy__error_prefix("secret '%s' (%s): delete", name, full);
	free(full);
	return rc;
}

static const mdeploy_provider__secrets_ops aws_secrets_ops = {
	"aws", a_put, a_get, a_list, a_del, a_free,
};

int mdeploy_awsp__secrets_new(void **impl, const mdeploy_provider__secrets_ops **ops,
                              const mdeploy_provider__store_args *a)
{
	struct aws_secrets *s = calloc(1, sizeof(*s));
	const char *kms = mdeploy_provider__store_option(a, "kms_key");
	int rc;

	if (!s)
		return mdeploy__error_oom();
	if ((rc = mdeploy_awsp__client(&s->client, a)) || (rc = mdeploy_awsp__prefix(&s->prefix, a, "mdeploy/%s/")))
		goto fail;
	if (kms && !(s->kms_key = mdeploy__strdup(kms))) {
		rc = MDEPLOY_ENOMEM;
		goto fail;
	}
	*impl = s;
	*ops = &aws_secrets_ops;
	return 0;
fail:
	a_free(s);
	return rc;
}
