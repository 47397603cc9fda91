/*
 * infra.c - the public infrastructure calls (mdeploy/infra.h): check the
 * arguments, choose the provider, dispatch.
 */
#include "mdeploy_private.h"
#include "local/infra.h"
#include "aws/infra.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int mdeploy_infra_options_init(mdeploy_infra_options *opts, unsigned int version)
{
	mdeploy_infra_options def = MDEPLOY_INFRA_OPTIONS_INIT;
	int rc;
	if ((rc = mdeploy__options_check(version, MDEPLOY_INFRA_OPTIONS_VERSION, "mdeploy_infra_options")))
		return rc;
	*opts = def;
	opts->version = version;
	return 0;
}

/* The provider: the options', else mdeploy.yml's infrastructure.provider, else local. */
static const char *provider_of(const mdeploy_config *cfg, const mdeploy_infra_options *opts)
{
	if (opts && opts->provider)
		return opts->provider;
	if (cfg && mdeploy_config_infrastructure_provider(cfg))
		return mdeploy_config_infrastructure_provider(cfg);
	return "local";
}

static int is_aws(const mdeploy_config *cfg, const mdeploy_infra_options *opts)
{
	return !strcmp(provider_of(cfg, opts), "aws");
}

static int check(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                 const mdeploy_infra_options *opts)
{
	int rc;
	if (!ctx || !store)
		return mdeploy__error_set(MDEPLOY_EINVALID, INFRA_CLS, "infra: missing context or store");
	if (opts && (rc = mdeploy__options_check(opts->version, MDEPLOY_INFRA_OPTIONS_VERSION, "mdeploy_infra_options")))
		return rc;
	if (strcmp(provider_of(cfg, opts), "local") && strcmp(provider_of(cfg, opts), "aws"))
		return mdeploy__error_set(MDEPLOY_EUNSUPPORTED, INFRA_CLS,
		                          "infra: provider '%s' is not supported here (local, aws)", provider_of(cfg, opts));
	if (!strcmp(provider_of(cfg, opts), "aws") && (!cfg || !mdeploy_config_infrastructure_provider(cfg)))
		return mdeploy__error_set(MDEPLOY_EINVALID, INFRA_CLS,
		                          "infra: provider 'aws' needs mdeploy.yml's infrastructure: section");
	if (cfg && !mdeploy_config_application_name(cfg))
		return mdeploy__error_set(MDEPLOY_EINVALID, INFRA_CLS, "infra: the configuration names no application");
	return 0;
}

int mdeploy_infra_plan(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                       const mdeploy_infra_options *opts, mdeploy_infra_change_cb cb, void *payload, size_t *n)
{
	int rc = check(ctx, store, cfg, opts);
	if (!rc && is_aws(cfg, opts))
		return mdeploy_awsp__infra_plan(ctx, cfg, cb, payload, n);
	return rc ? rc : mdeploy_local__infra_plan(ctx, store, cfg, opts, cb, payload, n);
}

int mdeploy_infra_apply(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                        const mdeploy_infra_options *opts, mdeploy_infra_change_cb cb, void *payload, size_t *n)
{
	int rc = check(ctx, store, cfg, opts);
	if (!rc && is_aws(cfg, opts))
		return mdeploy_awsp__infra_apply(ctx, cfg, opts, cb, payload, n);
	return rc ? rc : mdeploy_local__infra_apply(ctx, store, cfg, opts, cb, payload, n);
}

int mdeploy_infra_destroy(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                          const mdeploy_infra_options *opts, mdeploy_infra_change_cb cb, void *payload, size_t *n)
{
	int rc = check(ctx, store, cfg, opts);
	if (!rc && is_aws(cfg, opts))
		return mdeploy_awsp__infra_destroy(ctx, cfg, opts, cb, payload, n);
	return rc ? rc : mdeploy_local__infra_destroy(ctx, store, cfg, opts, cb, payload, n);
}

int mdeploy_infra_status(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                         const mdeploy_infra_options *opts, mdeploy_infra_resource_cb cb, void *payload)
{
	int rc = check(ctx, store, cfg, opts);
	if (!rc && is_aws(cfg, opts))
		return mdeploy_awsp__infra_status(ctx, cfg, cb, payload);
	return rc ? rc : mdeploy_local__infra_status(ctx, store, cfg, opts, cb, payload);
}

int mdeploy_infra_outputs(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                          const mdeploy_infra_options *opts, mdeploy_infra_output_cb cb, void *payload)
{
	int rc = check(ctx, store, cfg, opts);
	if (!rc && is_aws(cfg, opts))
		return mdeploy_awsp__infra_outputs(ctx, cfg, cb, payload);
	return rc ? rc : mdeploy_local__infra_outputs(ctx, store, cfg, opts, cb, payload);
}

char *mdeploy_infra_lb_certificate(mdeploy_ctx *ctx)
{
	char *path;
	struct stat st;
	if (!ctx || !mdeploy_ctx_state_dir(ctx))
		return NULL;
	if (!(path = mdeploy__sprintf("%s/infra/tls/lb.pem", mdeploy_ctx_state_dir(ctx))))
		return NULL;
	if (stat(path, &st) || !S_ISREG(st.st_mode)) {
		free(path);
		return NULL;
	}
	return path;
}
