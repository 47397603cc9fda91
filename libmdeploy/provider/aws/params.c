/*
 * params.c - parameters on SSM Parameter Store. A parameter "/db/host" of
 * the store is the SSM parameter "<prefix>/db/host" (prefix default
 * /mdeploy/<application>); versions are SSM's versions (history through
 * "name:N"), values SecureString with the account's default key
 * (alias/aws/ssm) unless `kms_key` names one, or String with `secure: false`;
 * StringList parameters are StringList.
 */
#include "provider/aws/aws.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

struct aws_params {
	mdeploy_aws__client *client;
	char *prefix;     /* "/mdeploy/moodle", no trailing '/' */
	char *kms_key;
	int secure;
};

static int call(struct aws_params *p, const char *op, json_t *req, json_t **resp)
{
	char target[64];
	int rc;
	snprintf(target, sizeof(target), "AmazonSSM.%s", op);
	rc = mdeploy_aws__json_call(p->client, "ssm", "SSM", "1.1", target, req, resp);
	json_decref(req);
	return rc;
}

static char *full_name(struct aws_params *p, const char *name)
{
	return mdeploy__sprintf("%s%s", p->prefix, name);
}

static int to_param(mdeploy_param **out, struct aws_params *p, json_t *j)
{
	mdeploy_param *r = calloc(1, sizeof(*r));
	const char *name = json_string_value(json_object_get(j, "Name"));
	const char *value = json_string_value(json_object_get(j, "Value"));
	const char *type = json_string_value(json_object_get(j, "Type"));
	size_t plen = strlen(p->prefix);
	if (!r)
		return mdeploy__error_oom();
	if (!name || strncmp(name, p->prefix, plen)) {
		free(r);
		return mdeploy__error_set(MDEPLOY_ENETWORK, MDEPLOY_ERROR_CLASS_PROVIDER,
		                          "aws ssm: a parameter outside the store's prefix '%s' in the answer", p->prefix);
	}
	r->name = mdeploy__strdup(name + plen);
	r->value = mdeploy__strdup(value ? value : "");
	r->type = mdeploy__strdup(type && !strcmp(type, "StringList") ? "StringList" : "String");
	r->version = (uint64_t)json_integer_value(json_object_get(j, "Version"));
	r->modified = (int64_t)json_number_value(json_object_get(j, "LastModifiedDate"));
	if (!r->name || !r->value || !r->type) {
		mdeploy_param_free(r);
		return MDEPLOY_ENOMEM;
	}
	*out = r;
	return 0;
}

static int a_get(void *impl, mdeploy_param **out, const char *name, uint64_t version)
{
	struct aws_params *p = impl;
	json_t *resp = NULL;
	char *full = version ? mdeploy__sprintf("%s%s:%llu", p->prefix, name, (unsigned long long)version)
	                     : full_name(p, name);
	int rc;
	if (!full)
		return mdeploy__error_oom();
	rc = call(p, "GetParameter", json_pack("{s:s, s:b}", "Name", full, "WithDecryption", 1), &resp);
	free(full);
	if (rc == MDEPLOY_ENOTFOUND)
		return version ? mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PROVIDER,
		                                    "parameter '%s' has no version %llu", name, (unsigned long long)version)
		               : mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PROVIDER,
		                                    "parameter '%s' does not exist", name);
	if (rc) {
		mdeploy__error_prefix("parameter '%s'", name);
		return rc;
	}
	rc = to_param(out, p, json_object_get(resp, "Parameter"));
	json_decref(resp);
	return rc;
}

static int a_put(void *impl, const char *name, const char *value, unsigned int flags, uint64_t *version)
{
	struct aws_params *p = impl;
	mdeploy_param *old = NULL;
	json_t *req, *resp = NULL;
	const char *type;
	char *full;
	int rc;

	/* The same value again adds no version (as the local store). */
	rc = a_get(p, &old, name, 0);
	if (!rc) {
		if (!(flags & MDEPLOY_PARAMS_OVERWRITE)) {
			mdeploy_param_free(old);
			return mdeploy__error_set(MDEPLOY_EEXISTS, MDEPLOY_ERROR_CLASS_PROVIDER,
			                          "parameter '%s' already exists", name);
		}
		if (!strcmp(old->value, value) &&
		    !strcmp(old->type, (flags & MDEPLOY_PARAMS_STRINGLIST) ? "StringList" : "String")) {
			if (version)
				*version = old->version;
			mdeploy_param_free(old);
			return 0;
		}
		mdeploy_param_free(old);
	} else if (rc != MDEPLOY_ENOTFOUND) {
		return rc;
	}
	type = (flags & MDEPLOY_PARAMS_STRINGLIST) ? "StringList" : p->secure ? "SecureString" : "String";
	if (!(full = full_name(p, name)))
		return mdeploy__error_oom();
	req = json_pack("{s:s, s:s, s:s, s:b}", "Name", full, "Value", value, "Type", type, "Overwrite",
	                (flags & MDEPLOY_PARAMS_OVERWRITE) ? 1 : 0);
	free(full);
	if (req && p->kms_key && !strcmp(type, "SecureString"))
		json_object_set_new(req, "KeyId", json_string(p->kms_key));
	if (!req)
		return mdeploy__error_oom();
	rc = call(p, "PutParameter", req, &resp);
	if (rc == MDEPLOY_EEXISTS)
		return mdeploy__error_set(MDEPLOY_EEXISTS, MDEPLOY_ERROR_CLASS_PROVIDER, "parameter '%s' already exists",
		                          name);
	if (rc) {
		mdeploy__error_prefix("parameter '%s'", name);
		return rc;
	}
	if (version)
		*version = (uint64_t)json_integer_value(json_object_get(resp, "Version"));
	json_decref(resp);
	return 0;
}

static int param_cmp(const void *a, const void *b)
{
	return strcmp((*(mdeploy_param *const *)a)->name, (*(mdeploy_param *const *)b)->name);
}

static int a_list(void *impl, const char *path, int recursive, mdeploy_params_cb cb, void *payload)
{
	struct aws_params *p = impl;
	mdeploy_param **all = NULL;
	size_t n = 0, cap = 0, i;
	char *full = strcmp(path, "/") ? full_name(p, path) : mdeploy__strdup(p->prefix);
	char *token = NULL;
	int rc = 0;

	if (!full)
		return mdeploy__error_oom();
	do {
		json_t *req = json_pack("{s:s, s:b, s:b, s:i}", "Path", full, "Recursive", recursive ? 1 : 0,
		                        "WithDecryption", 1, "MaxResults", 10), *resp = NULL, *arr, *j;
		size_t k;
		if (req && token)
			json_object_set_new(req, "NextToken", json_string(token));
		free(token);
		token = NULL;
		if (!req) {
			rc = mdeploy__error_oom();
			break;
		}
		if ((rc = call(p, "GetParametersByPath", req, &resp)))
			break;
		arr = json_object_get(resp, "Parameters");
		json_array_foreach(arr, k, j) {
			if (n == cap) {
				mdeploy_param **g = realloc(all, (cap = cap ? cap * 2 : 16) * sizeof(*all));
				if (!g) {
					rc = mdeploy__error_oom();
					break;
				}
				all = g;
			}
			if ((rc = to_param(&all[n], p, j)))
				break;
			n++;
		}
		if (!rc && json_string_value(json_object_get(resp, "NextToken")))
			token = mdeploy__strdup(json_string_value(json_object_get(resp, "NextToken")));
		json_decref(resp);
	} while (!rc && token);
	free(token);
	free(full);
	if (!rc && n > 1)
		qsort(all, n, sizeof(*all), param_cmp);
	for (i = 0; i < n; i++) {
		if (!rc && cb(all[i], payload))
			rc = mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_CALLBACK, "parameter list: callback aborted");
		mdeploy_param_free(all[i]);
	}
	free(all);
	return rc;
}

static int a_del(void *impl, const char *name)
{
	struct aws_params *p = impl;
	json_t *resp = NULL;
	char *full = full_name(p, name);
	int rc;
	if (!full)
		return mdeploy__error_oom();
	rc = call(p, "DeleteParameter", json_pack("{s:s}", "Name", full), &resp);
	free(full);
	json_decref(resp);
	if (rc == MDEPLOY_ENOTFOUND)
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PROVIDER, "parameter '%s' does not exist",
		                          name);
	if (rc)
		mdeploy__error_prefix("parameter '%s'", name);
	return rc;
}

static void a_free(void *impl)
{
	struct aws_params *p = impl;
	if (!p)
		return;
	mdeploy_aws__client_free(p->client);
	free(p->prefix);
	free(p->kms_key);
	free(p);
}

static const mdeploy_provider__params_ops aws_params_ops = {
	"aws", a_put, a_get, a_list, a_del, a_free,
};

int mdeploy_awsp__params_new(void **impl, const mdeploy_provider__params_ops **ops,
                             const mdeploy_provider__store_args *a)
{
	struct aws_params *p = calloc(1, sizeof(*p));
	const char *secure = mdeploy_provider__store_option(a, "secure");
	const char *kms = mdeploy_provider__store_option(a, "kms_key");
	size_t len;
	int rc;

	if (!p)
		return mdeploy__error_oom();
	if ((rc = mdeploy_awsp__client(&p->client, a)) || (rc = mdeploy_awsp__prefix(&p->prefix, a, "/mdeploy/%s")))
		goto fail;
	len = strlen(p->prefix);
	while (len > 1 && p->prefix[len - 1] == '/')
		p->prefix[--len] = '\0';
	if (!strcmp(p->prefix, "/"))
		p->prefix[0] = '\0';
	p->secure = !secure || strcmp(secure, "false");
	if (kms && !(p->kms_key = mdeploy__strdup(kms))) {
		rc = MDEPLOY_ENOMEM;
		goto fail;
	}
	*impl = p;
	*ops = &aws_params_ops;
	return 0;
fail:
	a_free(p);
	return rc;
}
