/*
 * infra.c - infra status and infra outputs with the aws provider: the
 * CloudFormation stacks of infra/aws/ (one per layer of stacks.yaml,
 * APP-ENV-LAYER) as DescribeStacks gives them.
 */
#include "mdeploy_private.h"
#include "aws/aws_private.h"
#include "provider/aws/infra.h"

#include <stdlib.h>
#include <string.h>

#define CLS MDEPLOY_ERROR_CLASS_PROVIDER

static int none_here(void)
{
	return mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS,
	                          "no infrastructure here: no stack of this application exists ('mdeploy infra apply')");
}

int mdeploy_awsp__infra_status(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                               const mdeploy_infra_options *opts, mdeploy_infra_resource_cb cb, void *payload)
{
	mdeploy_awsp__layer L[8];
	mdeploy_awsp__stack s;
	mdeploy_aws__client *c = NULL;
	size_t i, nl;
	int rc, found = 0;
	(void)ctx;
	(void)store;
	(void)opts;
	memset(&s, 0, sizeof(s));
	if ((rc = mdeploy_awsp__manifest(L, MDEPLOY__ARRAY_SIZE(L), &nl)) || (rc = mdeploy_awsp__infra_client(&c, cfg)))
		return rc;
	for (i = 0; i < nl && !rc; i++) {
		mdeploy_infra_resource r;
		char *name = mdeploy_awsp__stack_name(cfg, L[i].name);
		if (!name) {
			rc = mdeploy__error_oom();
			break;
		}
		if ((rc = mdeploy_awsp__stack_read(c, name, &s)) == 0) {
			memset(&r, 0, sizeof(r));
			r.name = L[i].name;
			r.type = "cloudformation-stack";
			r.endpoint = name;
			if (*s.status) {
				found++;
				r.state = s.status;
				/* a stack serves when its last operation completed and was not rolled back */
				r.up = !strcmp(s.status, "CREATE_COMPLETE") || !strcmp(s.status, "UPDATE_COMPLETE");
				r.problem = r.up ? NULL : *s.reason ? s.reason : r.state;
			} else {
				r.state = "absent";
				r.problem = "not created: run 'mdeploy infra apply'";
			}
			if (cb && cb(&r, payload))
				rc = mdeploy__error_set(MDEPLOY_EUSER, CLS, "infra status: callback aborted");
		}
		free(name);
	}
	mdeploy_awsp__stack_clear(&s);
	mdeploy_aws__client_free(c);
	return !rc && !found ? none_here() : rc;
}

int mdeploy_awsp__infra_outputs(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                                const mdeploy_infra_options *opts, mdeploy_infra_output_cb cb, void *payload)
{
	mdeploy_awsp__layer L[8];
	mdeploy_awsp__stack s;
	mdeploy_aws__client *c = NULL;
	size_t i, k, nl;
	int rc, found = 0;
	(void)ctx;
	(void)store;
	(void)opts;
	memset(&s, 0, sizeof(s));
	if ((rc = mdeploy_awsp__manifest(L, MDEPLOY__ARRAY_SIZE(L), &nl)) || (rc = mdeploy_awsp__infra_client(&c, cfg)))
		return rc;
	for (i = 0; i < nl && !rc; i++) {
		char *name = mdeploy_awsp__stack_name(cfg, L[i].name);
		if (!name) {
			rc = mdeploy__error_oom();
			break;
		}
		if ((rc = mdeploy_awsp__stack_read(c, name, &s)) == 0 && *s.status)
			found++;
		for (k = 0; !rc && k < s.n; k++) {
			char *full = mdeploy__sprintf("%s.%s", L[i].name, s.o[k].k);
			mdeploy_infra_output o;
			if (!full) {
				rc = mdeploy__error_oom();
				break;
			}
			o.name = full;
			o.value = s.o[k].v ? s.o[k].v : "";
			o.secret = 0;
			if (cb && cb(&o, payload))
				rc = mdeploy__error_set(MDEPLOY_EUSER, CLS, "infra outputs: callback aborted");
			free(full);
		}
		free(name);
	}
	mdeploy_awsp__stack_clear(&s);
	mdeploy_aws__client_free(c);
	return !rc && !found ? none_here() : rc;
}

void mdeploy_awsp__infra_check(const mdeploy_config *cfg, void (*problem)(void *, const char *, const char *),
                               void *payload)
{
	const char *engine = mdeploy_config_infrastructure_setting(cfg, "cache_engine");
	const char *cf = mdeploy_config_infrastructure_setting(cfg, "cloudfront");
	if (engine && !strcmp(engine, "none"))
		problem(payload, "infrastructure.cache.engine", "none is for provider local: the aws architecture has a cache");
	if (mdeploy_config_infrastructure_setting(cfg, "dataroot_owner"))
		problem(payload, "infrastructure.dataroot_owner", "is for provider local (EFS is mounted by the app servers)");
	if (!mdeploy_config_infrastructure_setting(cfg, "domain"))
		problem(payload, "infrastructure.domain", "is required with provider aws (the site's name)");
	if (!mdeploy_config_infrastructure_setting(cfg, "certificate") &&
	    !mdeploy_config_infrastructure_setting(cfg, "hosted_zone"))
		problem(payload, "infrastructure.certificate",
		        "is required with provider aws unless hosted_zone is given (to request and validate one)");
	if (cf && !strcmp(cf, "true") && !mdeploy_config_infrastructure_setting(cfg, "cloudfront_certificate"))
		problem(payload, "infrastructure.cloudfront_certificate",
		        "is required with cloudfront: true (an ACM certificate in us-east-1)");
}
