/*
 * stores.c - the aws provider's stores in the store registry
 * (provider/store.h):
 *
 *   stores:
 *     params:    { provider: aws, region: eu-west-1, prefix: /mdeploy/moodle, kms_key: alias/mdeploy }
 *     secrets:   { provider: aws, prefix: mdeploy/moodle/ }
 *     artifacts: { provider: aws, bucket: my-artifacts, prefix: mdeploy/moodle/artifacts }
 *     state:     { provider: aws, table: mdeploy-state, lease: 60 }
 *
 * Every kind takes region, endpoint (an S3-compatible store, a VPC
 * endpoint, moto) and profile; credentials never come from mdeploy.yml
 * (mdeploy-aws(7)).
 */
#include "provider/aws/aws.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const params_keys[] = { "region", "endpoint", "profile", "prefix", "kms_key", "secure", NULL };
static const char *const secrets_keys[] = { "region", "endpoint", "profile", "prefix", "kms_key", NULL };
static const char *const artifacts_keys[] = { "region",  "endpoint",  "profile",  "bucket",
	                                      "prefix",  "kms_key",   "part_size_mb", "parallel", NULL };
static const char *const state_keys[] = { "region", "endpoint", "profile", "table", "lease", NULL };

static int aws_check(mdeploy_provider__store_kind kind, const char *key, const char *value, char *why, size_t n)
{
	const char *p;
	if (!*value) {
		snprintf(why, n, "must not be empty");
		return 1;
	}
	if (!strcmp(key, "endpoint") && strncmp(value, "https://", 8) && strncmp(value, "http://", 7)) {
		snprintf(why, n, "must be an https:// (or http://) URL");
		return 1;
	}
	if (!strcmp(key, "region")) {
		for (p = value; *p; p++)
			if (!isalnum((unsigned char)*p) && *p != '-')
				break;
		if (*p) {
			snprintf(why, n, "must be a region name like eu-west-1");
			return 1;
		}
	}
	if (!strcmp(key, "prefix") && kind == MDEPLOY_PROVIDER__STORE_PARAMS && value[0] != '/') {
		snprintf(why, n, "must start with '/' (a parameter path like /mdeploy/moodle)");
		return 1;
	}
	if (!strcmp(key, "secure") && strcmp(value, "true") && strcmp(value, "false")) {
		snprintf(why, n, "must be true or false");
		return 1;
	}
	if (!strcmp(key, "bucket")) {
		size_t len = strlen(value);
		for (p = value; *p; p++)
			if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '-' && *p != '.')
				break;
		if (*p || len < 3 || len > 63) {
			snprintf(why, n, "must be an S3 bucket name (3-63 lowercase letters, digits, '-', '.')");
			return 1;
		}
	}
	if (!strcmp(key, "table")) {
		size_t len = strlen(value);
		for (p = value; *p; p++)
			if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
				break;
		if (*p || len < 3 || len > 255) {
			snprintf(why, n, "must be a DynamoDB table name (3-255 letters, digits, '_', '-', '.')");
			return 1;
		}
	}
	if (!strcmp(key, "part_size_mb") || !strcmp(key, "parallel") || !strcmp(key, "lease")) {
		char *end;
		long v = strtol(value, &end, 10);
		long max = !strcmp(key, "parallel") ? 32 : !strcmp(key, "lease") ? 3600 : 5120;
		long min = !strcmp(key, "parallel") || !strcmp(key, "lease") ? 1 : 5;
		if (*end || v < min || v > max) {
			snprintf(why, n, "must be a number from %ld to %ld", min, max);
			return 1;
		}
	}
	return 0;
}

const mdeploy_provider__stores mdeploy_provider__aws_stores = {
	"aws",
	{ params_keys, secrets_keys, artifacts_keys, state_keys },
	aws_check,
	mdeploy_awsp__params_new,
	mdeploy_awsp__secrets_new,
	mdeploy_awsp__artifacts_new,
	mdeploy_awsp__state_new,
};

int mdeploy_awsp__client(mdeploy_aws__client **out, const mdeploy_provider__store_args *a)
{
	mdeploy_aws__client_options o;
	int rc;
	o.region = mdeploy_provider__store_option(a, "region");
	o.endpoint = mdeploy_provider__store_option(a, "endpoint");
	o.profile = mdeploy_provider__store_option(a, "profile");
	if ((rc = mdeploy_aws__client_new(out, &o)))
		mdeploy__error_prefix("%s store", mdeploy_provider__store_kind_noun(a->kind));
	return rc;
}

int mdeploy_awsp__prefix(char **out, const mdeploy_provider__store_args *a, const char *fmt)
{
	const char *v = mdeploy_provider__store_option(a, "prefix");
	const char *app = a->config ? mdeploy_config_application_name(a->config) : NULL;
	if (v)
		*out = mdeploy__strdup(v);
	else
		*out = mdeploy__sprintf(fmt, app && *app ? app : "default");
	return *out ? 0 : MDEPLOY_ENOMEM;
}

int mdeploy_aws_check_stores(mdeploy_ctx *ctx, mdeploy_aws_store_check_cb cb, void *payload, unsigned int *checked)
{
	const char *path = ctx ? mdeploy_ctx_config_path(ctx) : NULL;
	mdeploy_config *cfg = NULL;
	unsigned int n = 0;
	int kind, rc = 0;

	if (checked)
		*checked = 0;
	if (!cb)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER, "aws check: no callback");
	if (!path || !mdeploy__path_exists(path))
		return 0;
	if ((rc = mdeploy_config_load(&cfg, path, NULL)))
		return rc;
	for (kind = 0; !rc && kind < MDEPLOY_PROVIDER__STORE_KINDS; kind++) {
		const char *prov = mdeploy_config__store_provider(cfg, (mdeploy_provider__store_kind)kind);
		mdeploy_aws_identity id;
		int r;
		if (!prov || strcmp(prov, "aws"))
			continue;
		n++;
		r = mdeploy_aws_whoami(&id, mdeploy_config__store_value(cfg, (mdeploy_provider__store_kind)kind, "region"),
		                       mdeploy_config__store_value(cfg, (mdeploy_provider__store_kind)kind, "endpoint"),
		                       mdeploy_config__store_value(cfg, (mdeploy_provider__store_kind)kind, "profile"));
		if (!r && kind == MDEPLOY_PROVIDER__STORE_STATE) {
			mdeploy_provider__store_args sa;
			memset(&sa, 0, sizeof(sa));
			sa.ctx = ctx;
			sa.kind = MDEPLOY_PROVIDER__STORE_STATE;
			sa.config = cfg;
			r = mdeploy_awsp__state_check(&sa);
		}
		if (cb(mdeploy_provider__store_kind_key((mdeploy_provider__store_kind)kind), r, r ? NULL : &id,
		       r ? mdeploy_error_last()->message : NULL, payload))
			rc = mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_CALLBACK, "aws check: stopped by the callback");
	}
	mdeploy_config_free(cfg);
	if (checked)
		*checked = n;
	return rc;
}
