/*
 * plan_ops.c - `deploy plan`'s dry run: the provider operations a
 * deployment of the bundle would make now, in the order bluegreen.c and
 * inplace.c make them, each with how the provider carries it out
 * (mdeploy_provider_describe(): HAProxy's Runtime API locally, the AWS API
 * calls once provider/aws/ says). Nothing is called but reads of the state
 * store; the group lock is not taken, so a deployment started meanwhile can
 * make the plan stale.
 */
#include "deploy_private.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ops {
	mdeploy_deploy__run *r;
	mdeploy_plan *plan;
	int rc;
};

static void add(struct ops *o, const char *step, const char *call, const char *target, const char *fmt, ...)
	MDEPLOY_FORMAT_PRINTF(5, 6);

static void add(struct ops *o, const char *step, const char *call, const char *target, const char *fmt, ...)
{
	char detail[512];
	va_list ap;
	if (o->rc)
		return;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	o->rc = mdeploy_deploy__plan_op_add(o->plan, step, call, target, detail,
	                                    mdeploy_provider_describe(o->r->p, call));
}

/* The name create.c's next_fleet_name() would give, without taking it. */
static void next_fleet(mdeploy_deploy__run *r, char *out, size_t n)
{
	char *v = NULL;
	unsigned int seq = 0, sizes[3];
	if (mdeploy_deploy__value_get(r, "seq", &v) == 0)
		seq = (unsigned int)strtoul(v, NULL, 10);
	free(v);
	mdeploy_error_clear();
	do {
		seq++;
		int w = snprintf(out, n, "%.60s-%.60s-v%03u", r->app, r->g->name, seq);
		(void)w;
	} while (mdeploy_deploy__fleet_sizes(r, out, sizes) == 0);
	mdeploy_error_clear();
}

static void in_place(struct ops *o, const char *live, const unsigned int sizes[3])
{
	mdeploy_deploy__run *r = o->r;
	unsigned int width = 1, min_healthy = 0;
	if (mdeploy_deployment_config_plan(&r->g->config, sizes[0], &min_healthy, &width) || width == 0)
		width = 1;
	add(o, "load-balancer", "lb_ensure", r->lb, "listen %s", r->g->listen);
	add(o, "block", "lb_set_states", r->lb, "each instance of %s, %u at a time (%s): drain, then maint", live,
	    width, r->g->config.name);
	add(o, "block", "lb_targets", r->lb, "poll until the instance's sessions end (at most %u ms)",
	    r->g->drain_timeout_ms);
	add(o, "allow", "lb_set_states", r->lb, "the instance back to ready once installed");
	add(o, "allow", "lb_targets", r->lb, "poll until it passed real health checks (%s)", r->g->health_path);
}

static void blue_green(struct ops *o, const char *blue, const unsigned int blue_sizes[3], const char *retained)
{
	mdeploy_deploy__run *r = o->r;
	char green[128];
	unsigned int sizes[3] = { r->g->size, r->g->min, r->g->max };
	unsigned int pcts[101], npct = 0, pct, i;
	int gate = mdeploy_deploy__plan_upgrade_gate(o->plan) &&
	           (blue[0] || mdeploy_plan_kind_of(o->plan) == MDEPLOY_PLAN_INSTALL);

	if (blue[0])
		memcpy(sizes, blue_sizes, sizeof(sizes));
	next_fleet(r, green, sizeof(green));
	add(o, "load-balancer", "lb_ensure", r->lb, "listen %s, %u slots", r->g->listen, r->g->slots);
	add(o, "create-fleet", "fleet_create", green, "desired %u, min %u, max %u%s", sizes[0], sizes[1], sizes[2],
	    blue[0] ? " (the live fleet's sizes)" : "");
	if (mdeploy_provider_pulls(r->p))
		add(o, "install", "agent_report", green, "each of its %u instances installs the bundle itself at boot (user "
		    "data: mdeploy agent pull); its report read until Succeeded or Failed, at most %u s", sizes[0],
		    mdeploy_provider_agent_timeout_ms(r->p) / 1000);
	if (gate && blue[0])
		add(o, "lb-hold", "lb_hold", r->lb, "on: targets held in rotation through the maintenance window");
	add(o, "register", "lb_register", green, "each of its %u instances, ready; its fleet weighs 0", sizes[0]);
	add(o, "health", "lb_targets", r->lb, "poll until every target of %s passed real checks (%s)", green,
	    r->g->health_path);
	if (!gate && blue[0] && r->g->traffic == MDEPLOY_TRAFFIC_CANARY) {
		pcts[npct++] = r->g->traffic_percent;
	} else if (!gate && blue[0] && r->g->traffic == MDEPLOY_TRAFFIC_LINEAR) {
		for (pct = r->g->traffic_percent; pct < 100; pct += r->g->traffic_percent)
			pcts[npct++] = pct;
	}
	pcts[npct++] = 100;
	for (i = 0; i < npct; i++) {
		char step[16];
		snprintf(step, sizeof(step), "shift %u", pcts[i]);
		if (blue[0])
			add(o, step, "lb_set_fleet_weights", r->lb, "%s %u, %s %u%s", green, pcts[i], blue, 100 - pcts[i],
			    pcts[i] < 100 ? "; alarms watched for the interval (lb_targets)" : "");
		else
			add(o, step, "lb_set_fleet_weights", r->lb, "%s 100", green);
	}
	if (r->g->cdn_distribution)
		add(o, "cdn-invalidate", "cdn_invalidate", r->g->cdn_distribution, "%s%s", r->g->cdn_invalidate[0],
		    r->g->cdn_invalidate[1] ? " and the group's other cdn.invalidate paths" : "");
	if (gate && blue[0]) {
		add(o, "drain-blue", "lb_set_fleet_weights", r->lb, "%s 0, targets drain", blue);
		add(o, "lb-release", "lb_hold", r->lb, "off: health checks decide again");
	}
	add(o, "watch", "lb_targets", r->lb, "alarms on %s for %u ms", green, r->g->alarm_window_ms);
	if (blue[0] && !gate)
		add(o, "drain-blue", "lb_set_fleet_weights", r->lb, "%s 0, targets drain; sessions polled (lb_targets)", blue);
	if (retained[0] && strcmp(retained, blue)) {
		add(o, "finish", "lb_deregister", retained, "each of its targets (the older retained fleet)");
		add(o, "retire", "fleet_terminate", retained, "after the group lock is released");
	}
}

int mdeploy_deploy__plan_ops(mdeploy_ctx *ctx, const mdeploy_config *cfg, const mdeploy_deploy_options *opts,
                             mdeploy_plan *plan)
{
	mdeploy_deploy__run r;
	struct ops o;
	char *live = NULL, retained[128] = "", rb[4096];
	unsigned int sizes[3] = { 0, 0, 0 };
	int64_t until;
	int rc;

	if ((rc = mdeploy_deploy__run_open(&r, ctx, cfg, opts, opts->group))) {
		mdeploy_deploy__run_dispose(&r);
		return rc;
	}
	o.r = &r;
	o.plan = plan;
	o.rc = 0;
	if (mdeploy_deploy__value_get(&r, "live", &live) || mdeploy_deploy__fleet_sizes(&r, live, sizes)) {
		free(live);
		live = NULL;
	}
	mdeploy_error_clear();
	if (mdeploy_deploy__retained_get(&r, retained, sizeof(retained), &until, rb, sizeof(rb)))
		retained[0] = '\0';
	if (r.g->strategy == MDEPLOY_STRATEGY_IN_PLACE && live)
		in_place(&o, live, sizes);
	else
		blue_green(&o, live ? live : "", sizes, retained);
	free(live);
	mdeploy_deploy__run_dispose(&r);
	return o.rc;
}
