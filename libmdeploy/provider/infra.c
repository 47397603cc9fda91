/*
 * infra.c - the public infrastructure calls (mdeploy/infra.h): check the
 * arguments, find the provider in the provider table (provider/registry.c)
 * and call its infra_* operations (provider/<name>/infra*.c).
 */
#include "provider/provider.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CLS MDEPLOY_ERROR_CLASS_PROVIDER

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

/* The provider: the options', else mdeploy.yml's infrastructure.provider, else the default one. */
static const char *provider_of(const mdeploy_config *cfg, const mdeploy_infra_options *opts)
{
	if (opts && opts->provider)
		return opts->provider;
	if (cfg && mdeploy_config_infrastructure_provider(cfg))
		return mdeploy_config_infrastructure_provider(cfg);
	return mdeploy_provider__default_name();
}

/* The provider's operations, once the arguments are checked; NULL with the error set. */
static const mdeploy_provider_ops *check(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                                         const mdeploy_infra_options *opts)
{
	const mdeploy_provider_ops *ops;
	const char *name = provider_of(cfg, opts);
	if (!ctx || !store) {
		mdeploy__error_set(MDEPLOY_EINVALID, CLS, "infra: missing context or store");
		return NULL;
	}
	if (opts && mdeploy__options_check(opts->version, MDEPLOY_INFRA_OPTIONS_VERSION, "mdeploy_infra_options"))
		return NULL;
	if (!(ops = mdeploy_provider__find(name)) || !ops->infra_apply) {
		mdeploy__error_set(MDEPLOY_EUNSUPPORTED, CLS, "infra: provider '%s' builds no infrastructure here (%s)",
		                   name, mdeploy_provider__infra_names());
		return NULL;
	}
	if (ops->infra_needs_section && (!cfg || !mdeploy_config_infrastructure_provider(cfg))) {
		mdeploy__error_set(MDEPLOY_EINVALID, CLS, "infra: provider '%s' needs mdeploy.yml's infrastructure: section",
		                   name);
		return NULL;
	}
	if (cfg && !mdeploy_config_application_name(cfg)) {
		mdeploy__error_set(MDEPLOY_EINVALID, CLS, "infra: the configuration names no application");
		return NULL;
	}
	return ops;
}

int mdeploy_infra_plan(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                       const mdeploy_infra_options *opts, mdeploy_infra_change_cb cb, void *payload, size_t *n)
{
	const mdeploy_provider_ops *ops = check(ctx, store, cfg, opts);
	return !ops ? mdeploy_error_last()->code : ops->infra_plan(ctx, store, cfg, opts, cb, payload, n);
}

int mdeploy_infra_apply(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                        const mdeploy_infra_options *opts, mdeploy_infra_change_cb cb, void *payload, size_t *n)
{
	const mdeploy_provider_ops *ops = check(ctx, store, cfg, opts);
	return !ops ? mdeploy_error_last()->code : ops->infra_apply(ctx, store, cfg, opts, cb, payload, n);
}

int mdeploy_infra_destroy(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                          const mdeploy_infra_options *opts, mdeploy_infra_change_cb cb, void *payload, size_t *n)
{
	const mdeploy_provider_ops *ops = check(ctx, store, cfg, opts);
	return !ops ? mdeploy_error_last()->code : ops->infra_destroy(ctx, store, cfg, opts, cb, payload, n);
}

int mdeploy_infra_status(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                         const mdeploy_infra_options *opts, mdeploy_infra_resource_cb cb, void *payload)
{
	const mdeploy_provider_ops *ops = check(ctx, store, cfg, opts);
	return !ops ? mdeploy_error_last()->code : ops->infra_status(ctx, store, cfg, opts, cb, payload);
}

int mdeploy_infra_outputs(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                          const mdeploy_infra_options *opts, mdeploy_infra_output_cb cb, void *payload)
{
	const mdeploy_provider_ops *ops = check(ctx, store, cfg, opts);
	return !ops ? mdeploy_error_last()->code : ops->infra_outputs(ctx, store, cfg, opts, cb, payload);
}

char *mdeploy_infra_lb_certificate(mdeploy_ctx *ctx)
{
	const mdeploy_provider_ops *ops = mdeploy_provider__find(mdeploy_provider__default_name());
	return ctx && ops && ops->infra_lb_certificate ? ops->infra_lb_certificate(ctx) : NULL;
}

char *mdeploy_provider_infra_lb_certificate(mdeploy_provider *p)
{
	return p && p->ops && p->ops->infra_lb_certificate ? p->ops->infra_lb_certificate(p->ctx) : NULL;
}
