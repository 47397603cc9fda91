/*
 * ops.c - the local provider in the provider table (provider/registry.c):
 * its operations, one part per file (fleet.c, instance.c, lb.c; the stores
 * are registered in stores.c), and opening it.
 *
 * Instances are process trees on their own loopback address (127.A.B.x,
 * the address base from the options or MDEPLOY_LOCAL_ADDRESS_BASE), the
 * load balancer is an HAProxy mdeploy owns.
 */
#include "local.h"
#include "infra.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int local_init(mdeploy_provider *p)
{
	const char *base = p->opts.address_base;
	unsigned int a, b;
	char extra;

	if (!base)
		base = mdeploy_provider__setting(p, "address_base");
	if (!base)
		base = getenv("MDEPLOY_LOCAL_ADDRESS_BASE");
	if (!base || !*base)
		base = "127.77";
	if (sscanf(base, "%u.%u%c", &a, &b, &extra) != 2 || a != 127 || b > 255)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
			"address base '%s' must be two octets in 127/8, like 127.77", base);
	if (!(p->address_base = mdeploy__strdup(base)))
		return MDEPLOY_ENOMEM;
	return 0;
}

/* What `deploy plan` says each operation does here. */
static const char *local_describe(const char *call)
{
	static const char *const how[][2] = {
		{ "lb_ensure", "HAProxy: started from its saved configuration and server state when not running" },
		{ "fleet_create", "a fleet row in the state store; an instance root and a PHP server per instance "
		                  "on its own loopback address, booted with the release" },
		{ "fleet_scale", "instances added (booted with the live release) or the newest removed" },
		{ "fleet_terminate", "servers stopped (process groups), instances' roots removed" },
		{ "lb_register", "HAProxy Runtime API: a free slot pointed at the instance (set server addr), "
		                 "joining with its health forced down until it passes real checks" },
		{ "lb_deregister", "HAProxy Runtime API: the slot to maintenance and freed" },
		{ "lb_set_states", "HAProxy Runtime API: set server state, one exchange" },
		{ "lb_set_fleet_weights", "HAProxy Runtime API: the fleet weights spread over the servers' weights "
		                          "(set weight), rising before falling, one exchange" },
		{ "lb_targets", "HAProxy Runtime API: show servers state and show stat" },
		{ "lb_hold", "HAProxy Runtime API: disable health + set server health up on every target" },
	};
	size_t i;
	for (i = 0; i < MDEPLOY__ARRAY_SIZE(how); i++)
		if (!strcmp(how[i][0], call))
			return how[i][1];
	return NULL;
}

static const char *const local_options[] = { "address_base", NULL };

const mdeploy_provider_ops mdeploy_provider__local_ops = {
	"local",
	local_init,
	NULL,
	mdeploy_local__fleet_create,
	mdeploy_local__fleet_scale,
	mdeploy_local__fleet_terminate,
	mdeploy_local__fleet_set_tags,
	mdeploy_local__fleet_foreach,
	mdeploy_local__instance_foreach,
	mdeploy_local__instance_start,
	mdeploy_local__instance_stop,
	mdeploy_local__instance_terminate,
	mdeploy_local__lb_ensure,
	mdeploy_local__lb_stop,
	mdeploy_local__lb_running,
	mdeploy_local__lb_register,
	mdeploy_local__lb_deregister,
	mdeploy_local__lb_set_states,
	mdeploy_local__lb_targets,
	mdeploy_local__lb_bind,
	mdeploy_local__lb_hold,
	mdeploy_local__lb_set_fleet_weights,
	mdeploy_local__lb_fleets,
	local_describe,
	local_options,
	NULL, /* lb_alarms: the group's alarms are read from HAProxy's counters (deploy/traffic.c) */
	mdeploy_local__infra_plan,
	mdeploy_local__infra_apply,
	mdeploy_local__infra_destroy,
	mdeploy_local__infra_status,
	mdeploy_local__infra_outputs,
	NULL, /* infra_check: the cache engine is checked when infra runs (infra.c) */
	0,    /* the infrastructure section is optional: the groups say what to build */
	NULL, /* lb_poll_ms: 50 ms, a Runtime API read on a local socket */
	NULL, /* agent_report: the orchestrator installs every instance through the agent (push) */
	NULL, /* agent_timeout_ms */
	NULL, /* cdn_invalidate: no CDN in front of HAProxy */
	mdeploy_local__infra_lb_certificate,
};
