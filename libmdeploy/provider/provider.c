/* provider.c - open a provider and dispatch the public calls to it. */
#include "provider.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

int mdeploy_provider__check_name(const char *what, const char *name)
{
	size_t n;
	if (!name || !*name)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER, "%s name is empty", what);
	n = strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");
	if (name[n] || n > 100 || name[0] == '.' || name[0] == '-')
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
			"%s name '%s' is invalid: use 1 to 100 letters, digits, '.', '_' and '-'", what, name);
	return 0;
}

/* An operation the provider does not have. */
static int unsupported(const mdeploy_provider *p, const char *op)
{
	return mdeploy__error_set(MDEPLOY_EUNSUPPORTED, MDEPLOY_ERROR_CLASS_PROVIDER,
	                          "provider '%s' cannot %s", p->ops->name, op);
}

int mdeploy_provider_options_init(mdeploy_provider_options *opts, unsigned int version)
{
	mdeploy_provider_options def = MDEPLOY_PROVIDER_OPTIONS_INIT;
	int rc;
	if ((rc = mdeploy__options_check(version, MDEPLOY_PROVIDER_OPTIONS_VERSION, "mdeploy_provider_options")))
		return rc;
	*opts = def;
	opts->version = version;
	return 0;
}

int mdeploy_fleet_options_init(mdeploy_fleet_options *opts, unsigned int version)
{
	mdeploy_fleet_options def = MDEPLOY_FLEET_OPTIONS_INIT;
	int rc;
	if ((rc = mdeploy__options_check(version, MDEPLOY_FLEET_OPTIONS_VERSION, "mdeploy_fleet_options")))
		return rc;
	*opts = def;
	opts->version = version;
	return 0;
}

int mdeploy_lb_options_init(mdeploy_lb_options *opts, unsigned int version)
{
	mdeploy_lb_options def = MDEPLOY_LB_OPTIONS_INIT;
	int rc;
	if ((rc = mdeploy__options_check(version, MDEPLOY_LB_OPTIONS_VERSION, "mdeploy_lb_options")))
		return rc;
	*opts = def;
	opts->version = version;
	return 0;
}

/* Every key is one the provider takes, and has a value. */
static int check_settings(const mdeploy_provider_ops *ops, const char *const *kv)
{
	const char *const *key;
	for (; kv && *kv; kv += 2) {
		for (key = ops->options; key && *key && strcmp(*key, kv[0]); key++)
			;
		if (!key || !*key) {
			mdeploy__buf known = MDEPLOY__BUF_INIT;
			int rc;
			for (key = ops->options; key && *key; key++)
				mdeploy__buf_printf(&known, "%s%s", key == ops->options ? "" : ", ", *key);
			rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
			                        "'%s' is not an option of the %s provider (it takes: %s)", kv[0],
			                        ops->name, known.size ? mdeploy__buf_cstr(&known) : "no options");
			mdeploy__buf_dispose(&known);
			return rc;
		}
		if (!kv[1])
			return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
			                          "provider option '%s' has no value", kv[0]);
	}
	return 0;
}

const char *mdeploy_provider__setting(const mdeploy_provider *p, const char *key)
{
	const char *const *kv;
	for (kv = p->opts.settings; kv && *kv; kv += 2)
		if (!strcmp(kv[0], key))
			return kv[1];
	return NULL;
}

int mdeploy_provider_open(mdeploy_provider **out, mdeploy_ctx *ctx, mdeploy_store *store,
                          const mdeploy_provider_options *opts)
{
	mdeploy_provider_options def = MDEPLOY_PROVIDER_OPTIONS_INIT;
	const mdeploy_provider_ops *ops = NULL;
	mdeploy_provider *p;
	const char *name;
	int rc;

	*out = NULL;
	if (!opts)
		opts = &def;
	if ((rc = mdeploy__options_check(opts->version, MDEPLOY_PROVIDER_OPTIONS_VERSION, "mdeploy_provider_options")))
		return rc;
	name = opts->name ? opts->name : mdeploy_provider__default_name();
	if (!(ops = mdeploy_provider__find(name)))
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PROVIDER,
		                          "unknown provider '%s' (this build has: %s)", name,
		                          mdeploy_provider__names());
	if (!store)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
		                          "provider '%s' needs a state store", name);
	if ((rc = check_settings(ops, opts->settings)))
		return rc;
	if (!(p = calloc(1, sizeof(*p))))
		return mdeploy__error_oom();
	p->ops = ops;
	p->ctx = ctx;
	p->store = store;
	p->opts = *opts;
	if ((rc = ops->init(p))) {
		mdeploy_provider_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

int mdeploy_provider_open_configured(mdeploy_provider **out, mdeploy_ctx *ctx, mdeploy_store *store)
{
	mdeploy_provider_options po = MDEPLOY_PROVIDER_OPTIONS_INIT;
	mdeploy_config *cfg = NULL;
	const char *path;
	int rc;

	*out = NULL;
	if (!ctx)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER, "a context is required");
	path = mdeploy_ctx_config_path(ctx);
	if (!path || !mdeploy__path_exists(path))
		return mdeploy_provider_open(out, ctx, store, NULL);
	if ((rc = mdeploy_config_load(&cfg, path, NULL)))
		return rc;
	po.name = mdeploy_config_provider_name(cfg);
	po.settings = mdeploy_config_provider_settings(cfg);
	if ((rc = mdeploy_provider_open(out, ctx, store, &po))) {
		mdeploy_config_free(cfg);
		return rc;
	}
	(*out)->cfg = cfg;
	return 0;
}

void mdeploy_provider_free(mdeploy_provider *p)
{
	if (!p)
		return;
	if (p->ops && p->ops->free)
		p->ops->free(p);
	free(p->address_base);
	mdeploy_config_free(p->cfg);
	free(p);
}

const char *mdeploy_provider_name(const mdeploy_provider *p)
{
	return p->ops->name;
}

#define CHECK(what, name) do { int r_ = mdeploy_provider__check_name(what, name); if (r_) return r_; } while (0)

int mdeploy_fleet_create(mdeploy_provider *p, const char *name, const mdeploy_fleet_options *opts)
{
	mdeploy_fleet_options def = MDEPLOY_FLEET_OPTIONS_INIT, cur = MDEPLOY_FLEET_OPTIONS_INIT;
	int rc;
	CHECK("fleet", name);
	if (!opts)
		opts = &def;
	if ((rc = mdeploy__options_check(opts->version, MDEPLOY_FLEET_OPTIONS_VERSION, "mdeploy_fleet_options")))
		return rc;
	/* An older caller's struct ends before launch_template (1) or agent (2): providers get
	 * the whole current one. */
	if (opts->version < 3) {
		memcpy(&cur, opts, opts->version < 2 ? offsetof(mdeploy_fleet_options, launch_template)
		                                     : offsetof(mdeploy_fleet_options, agent));
		cur.version = MDEPLOY_FLEET_OPTIONS_VERSION;
		if (opts->version < 2)
			cur.launch_template = cur.subnets = NULL;
		cur.agent = NULL;
		opts = &cur;
	}
	if (opts->agent && (!opts->agent->deployment_id || !opts->agent->bundle || !opts->agent->bundle_sha256))
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
			"fleet '%s': the agent's deployment id, bundle and digest are required", name);
	if (opts->min > opts->desired || opts->desired > opts->max)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
			"fleet '%s': need min <= desired <= max (got %u, %u, %u)", name, opts->min,
			opts->desired, opts->max);
	if (opts->port == 0 || opts->port > 65535)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
			"fleet '%s': port %u is out of range", name, opts->port);
	return !p->ops->fleet_create ? unsupported(p, "fleet_create") : p->ops->fleet_create(p, name, opts);
}

int mdeploy_fleet_scale(mdeploy_provider *p, const char *name, unsigned int desired,
                        unsigned int min, unsigned int max)
{
	CHECK("fleet", name);
	return !p->ops->fleet_scale ? unsupported(p, "fleet_scale") : p->ops->fleet_scale(p, name, desired, min, max);
}

int mdeploy_fleet_terminate(mdeploy_provider *p, const char *name)
{
	CHECK("fleet", name);
	return !p->ops->fleet_terminate ? unsupported(p, "fleet_terminate") : p->ops->fleet_terminate(p, name);
}

int mdeploy_fleet_set_tags(mdeploy_provider *p, const char *name, const char *tags)
{
	CHECK("fleet", name);
	return !p->ops->fleet_set_tags ? unsupported(p, "fleet_set_tags") : p->ops->fleet_set_tags(p, name, tags ? tags : "{}");
}

int mdeploy_fleet_foreach(mdeploy_provider *p, const char *prefix, mdeploy_fleet_cb cb, void *payload)
{
	return !p->ops->fleet_foreach ? unsupported(p, "fleet_foreach") : p->ops->fleet_foreach(p, prefix, NULL, cb, payload);
}

int mdeploy_fleet_get(mdeploy_provider *p, const char *name, mdeploy_fleet_cb cb, void *payload)
{
	CHECK("fleet", name);
	return !p->ops->fleet_foreach ? unsupported(p, "fleet_foreach") : p->ops->fleet_foreach(p, NULL, name, cb, payload);
}

int mdeploy_instance_foreach(mdeploy_provider *p, const char *fleet, mdeploy_instance_cb cb, void *payload)
{
	return !p->ops->instance_foreach ? unsupported(p, "instance_foreach") : p->ops->instance_foreach(p, fleet, NULL, cb, payload);
}

int mdeploy_instance_get(mdeploy_provider *p, const char *id, mdeploy_instance_cb cb, void *payload)
{
	CHECK("instance", id);
	return !p->ops->instance_foreach ? unsupported(p, "instance_foreach") : p->ops->instance_foreach(p, NULL, id, cb, payload);
}

int mdeploy_instance_start(mdeploy_provider *p, const char *id)
{
	CHECK("instance", id);
	return !p->ops->instance_start ? unsupported(p, "instance_start") : p->ops->instance_start(p, id);
}

int mdeploy_instance_stop(mdeploy_provider *p, const char *id)
{
	CHECK("instance", id);
	return !p->ops->instance_stop ? unsupported(p, "instance_stop") : p->ops->instance_stop(p, id);
}

int mdeploy_instance_restart(mdeploy_provider *p, const char *id)
{
	int rc;
	CHECK("instance", id);
	if (!p->ops->instance_stop || !p->ops->instance_start)
		return unsupported(p, "instance_restart");
	if ((rc = p->ops->instance_stop(p, id)))
		return rc;
	return !p->ops->instance_start ? unsupported(p, "instance_start") : p->ops->instance_start(p, id);
}

int mdeploy_instance_terminate(mdeploy_provider *p, const char *id)
{
	CHECK("instance", id);
	return !p->ops->instance_terminate ? unsupported(p, "instance_terminate") : p->ops->instance_terminate(p, id);
}

int mdeploy_lb_ensure(mdeploy_provider *p, const char *name, const mdeploy_lb_options *opts)
{
	mdeploy_lb_options def = MDEPLOY_LB_OPTIONS_INIT, cur = MDEPLOY_LB_OPTIONS_INIT;
	int rc;
	CHECK("load balancer", name);
	if (!opts)
		opts = &def;
	if ((rc = mdeploy__options_check(opts->version, MDEPLOY_LB_OPTIONS_VERSION, "mdeploy_lb_options")))
		return rc;
	/* An older caller's struct ends before health_host (v1) or drain_timeout_ms (v2): providers
	 * get the whole current one. */
	if (opts->version < 3) {
		memcpy(&cur, opts, opts->version < 2 ? offsetof(mdeploy_lb_options, health_host)
		                                     : offsetof(mdeploy_lb_options, drain_timeout_ms));
		cur.version = MDEPLOY_LB_OPTIONS_VERSION;
		if (opts->version < 2)
			cur.health_host = NULL;
		cur.drain_timeout_ms = 0;
		opts = &cur;
	}
	return !p->ops->lb_ensure ? unsupported(p, "lb_ensure") : p->ops->lb_ensure(p, name, opts);
}

int mdeploy_lb_stop(mdeploy_provider *p, const char *name)
{
	CHECK("load balancer", name);
	return !p->ops->lb_stop ? unsupported(p, "lb_stop") : p->ops->lb_stop(p, name);
}

int mdeploy_lb_running(mdeploy_provider *p, const char *name)
{
	if (mdeploy_provider__check_name("load balancer", name))
		return 0;
	return p->ops->lb_running ? p->ops->lb_running(p, name) : 0;
}

int mdeploy_lb_register(mdeploy_provider *p, const char *lb, const char *instance,
                        unsigned int weight, mdeploy_target_state state)
{
	CHECK("load balancer", lb);
	CHECK("instance", instance);
	if (weight > 256)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
		                          "weight %u is out of range 0-256", weight);
	if ((int)state < MDEPLOY_TARGET_READY || state > MDEPLOY_TARGET_MAINT)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER, "target state %d is unknown",
		                          (int)state);
	return !p->ops->lb_register ? unsupported(p, "lb_register") : p->ops->lb_register(p, lb, instance, state);
}

int mdeploy_lb_deregister(mdeploy_provider *p, const char *lb, const char *instance)
{
	CHECK("load balancer", lb);
	CHECK("instance", instance);
	return !p->ops->lb_deregister ? unsupported(p, "lb_deregister") : p->ops->lb_deregister(p, lb, instance);
}

int mdeploy_lb_apply(mdeploy_provider *p, const char *lb, const mdeploy_lb_change *changes, size_t n)
{
	size_t i;
	CHECK("load balancer", lb);
	for (i = 0; i < n; i++) {
		CHECK("instance", changes[i].instance);
		if (changes[i].weight != -1)
			return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
			                          "change %zu for '%s': weights belong to fleets "
			                          "(mdeploy_lb_set_fleet_weights()), give weight -1", i, changes[i].instance);
		if (changes[i].state < -1 || changes[i].state > MDEPLOY_TARGET_MAINT)
			return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
			                          "change %zu for '%s' is out of range", i, changes[i].instance);
	}
	if (n == 0)
		return 0;
	return !p->ops->lb_set_states ? unsupported(p, "lb_set_states") : p->ops->lb_set_states(p, lb, changes, n);
}

int mdeploy_lb_targets(mdeploy_provider *p, const char *lb, mdeploy_target_cb cb, void *payload)
{
	CHECK("load balancer", lb);
	return !p->ops->lb_targets ? unsupported(p, "lb_targets") : p->ops->lb_targets(p, lb, cb, payload);
}

int mdeploy_lb_bind(mdeploy_provider *p, const char *lb, char *out, size_t n)
{
	CHECK("load balancer", lb);
	return !p->ops->lb_bind ? unsupported(p, "lb_bind") : p->ops->lb_bind(p, lb, out, n);
}

int mdeploy_lb_hold(mdeploy_provider *p, const char *lb, int on)
{
	CHECK("load balancer", lb);
	return !p->ops->lb_hold ? unsupported(p, "lb_hold") : p->ops->lb_hold(p, lb, on);
}

int mdeploy_lb_set_fleet_weights(mdeploy_provider *p, const char *lb, const mdeploy_fleet_weight *w, size_t n)
{
	size_t i, j;
	CHECK("load balancer", lb);
	for (i = 0; i < n; i++) {
		CHECK("fleet", w[i].fleet);
		if (w[i].weight > MDEPLOY_FLEET_WEIGHT_MAX)
			return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
			                          "fleet '%s': weight %u is out of range 0-%d", w[i].fleet, w[i].weight,
			                          MDEPLOY_FLEET_WEIGHT_MAX);
		if (w[i].state != -1 && w[i].state != MDEPLOY_TARGET_READY && w[i].state != MDEPLOY_TARGET_DRAIN)
			return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
			                          "fleet '%s': a fleet's targets go to ready or drain, not state %d",
			                          w[i].fleet, w[i].state);
		for (j = 0; j < i; j++)
			if (!strcmp(w[i].fleet, w[j].fleet))
				return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
				                          "fleet '%s' given twice", w[i].fleet);
	}
	if (n == 0)
		return 0;
	return !p->ops->lb_set_fleet_weights ? unsupported(p, "lb_set_fleet_weights")
	                                     : p->ops->lb_set_fleet_weights(p, lb, w, n);
}

int mdeploy_lb_fleets(mdeploy_provider *p, const char *lb, mdeploy_lb_fleet_cb cb, void *payload)
{
	CHECK("load balancer", lb);
	return !p->ops->lb_fleets ? unsupported(p, "lb_fleets") : p->ops->lb_fleets(p, lb, cb, payload);
}

int mdeploy_lb_alarms(mdeploy_provider *p, const char *lb, mdeploy_lb_alarm_cb cb, void *payload)
{
	CHECK("load balancer", lb);
	if (!cb)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER, "no callback");
	return !p->ops->lb_alarms ? 0 : p->ops->lb_alarms(p, lb, cb, payload);
}

unsigned int mdeploy_lb_poll_ms(const mdeploy_provider *p, unsigned int health_interval_ms)
{
	if (!p || !p->ops->lb_poll_ms)
		return 50;
	return p->ops->lb_poll_ms(health_interval_ms);
}

int mdeploy_provider_pulls(const mdeploy_provider *p)
{
	return p && p->ops->agent_report != NULL;
}

unsigned int mdeploy_provider_agent_timeout_ms(const mdeploy_provider *p)
{
	return p && p->ops->agent_timeout_ms ? p->ops->agent_timeout_ms((mdeploy_provider *)p) : 0;
}

int mdeploy_agent_report_get(mdeploy_provider *p, const char *deployment, const char *instance, char **json)
{
	if (!p || !deployment || !instance || !json)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
		                          "mdeploy_agent_report_get: NULL argument");
	*json = NULL;
	return !p->ops->agent_report ? unsupported(p, "agent_report")
	                             : p->ops->agent_report(p, deployment, instance, json);
}

int mdeploy_provider_cdn(const mdeploy_provider *p)
{
	return p && p->ops->cdn_invalidate != NULL;
}

int mdeploy_cdn_invalidate(mdeploy_provider *p, const char *distribution, const char *const *paths,
                           const char *reference, char *id, size_t n)
{
	if (!p || !distribution || !paths || !paths[0] || !reference || !id || !n)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
		                          "mdeploy_cdn_invalidate: a distribution, paths, a reference and room for the id "
		                          "are required");
	*id = '\0';
	return !p->ops->cdn_invalidate ? unsupported(p, "cdn_invalidate")
	                               : p->ops->cdn_invalidate(p, distribution, paths, reference, id, n);
}

const char *mdeploy_provider_describe(mdeploy_provider *p, const char *call)
{
	if (!p || !call || !p->ops->describe)
		return NULL;
	return p->ops->describe(call);
}
