/*
 * traffic.c - moving traffic between fleets: fleet weights for a
 * percentage split (canary, linear, all at once), applied in one round
 * trip; the alarms watched while traffic moves; draining a fleet's
 * sessions (its fleet weight to 0, its targets to drain).
 */
#include "deploy_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLS MDEPLOY_ERROR_CLASS_DEPLOY

/* Sum green's response counters now. */
static int green_counters(mdeploy_deploy__run *r, const inst_list *green, uint64_t *total, uint64_t *e5xx,
                          unsigned int *unhealthy)
{
	target_list t;
	size_t i;
	int rc;
	*total = *e5xx = 0;
	*unhealthy = 0;
	if ((rc = mdeploy_deploy__targets(r, &t)))
		return rc;
	for (i = 0; i < t.n; i++) {
		if (!mdeploy_deploy__in_list(green, t.t[i].instance))
			continue;
		*total += t.t[i].total;
		*e5xx += t.t[i].e5xx;
		if (strncmp(t.t[i].health, "UP", 2) && strcmp(t.t[i].health, "DRAIN"))
			(*unhealthy)++;
	}
	return 0;
}

struct alarm_hit { char name[256], reason[512]; int hit; };

static int alarm_cb(const mdeploy_lb_alarm *a, void *payload)
{
	struct alarm_hit *h = payload;
	if (h->hit || strcmp(a->state, "ALARM"))
		return 0;
	h->hit = 1;
	snprintf(h->name, sizeof(h->name), "%s", a->name);
	snprintf(h->reason, sizeof(h->reason), "%s", a->reason);
	return 0;
}

/* The provider's own alarms (aws: CloudWatch's), read at most once a second. */
static int provider_alarms(mdeploy_deploy__run *r)
{
	struct alarm_hit h;
	uint64_t now = mdeploy__now_ms();
	int rc;
	if (r->alarms_at && now - r->alarms_at < 1000)
		return 0;
	r->alarms_at = now;
	memset(&h, 0, sizeof(h));
	if ((rc = mdeploy_lb_alarms(r->p, r->lb, alarm_cb, &h)))
		return rc;
	if (h.hit)
		return mdeploy__error_set(MDEPLOY_ECONFLICT, CLS, "alarm: %s is in ALARM%s%s", h.name,
		                          h.reason[0] ? ": " : "", h.reason);
	return 0;
}

/* 0: quiet; MDEPLOY_ECONFLICT with the alarm in the message when one fired. */
static int check_alarms(mdeploy_deploy__run *r, const inst_list *green)
{
	uint64_t total, e5xx;
	unsigned int unhealthy;
	int rc;

	if ((rc = provider_alarms(r)))
		return rc;
	if (!r->g->alarm_5xx_percent && !r->g->alarm_unhealthy_hosts)
		return 0;
	if ((rc = green_counters(r, green, &total, &e5xx, &unhealthy)))
		return rc;
	if (!r->have_base) {
		r->base_total = total;
		r->base_5xx = e5xx;
		r->have_base = 1;
		return 0;
	}
	if (r->g->alarm_unhealthy_hosts && unhealthy >= r->g->alarm_unhealthy_hosts)
		return mdeploy__error_set(MDEPLOY_ECONFLICT, CLS, "alarm: %u instance%s of %s failing health checks",
		                          unhealthy, unhealthy == 1 ? "" : "s", r->green);
	total -= r->base_total;
	e5xx -= r->base_5xx;
	if (r->g->alarm_5xx_percent && total >= 20 && e5xx * 100 >= total * r->g->alarm_5xx_percent)
		return mdeploy__error_set(MDEPLOY_ECONFLICT, CLS,
			"alarm: %llu of %llu responses from %s were 5xx (threshold %u%%)",
			(unsigned long long)e5xx, (unsigned long long)total, r->green, r->g->alarm_5xx_percent);
	return 0;
}

/* Wait `ms` while watching the alarms. */
int mdeploy_deploy__watch(mdeploy_deploy__run *r, unsigned int ms)
{
	uint64_t t0 = mdeploy__now_ms();
	inst_list green;
	int rc;
	if ((rc = mdeploy_deploy__instances(r, r->green, &green)))
		return rc;
	for (;;) {
		if ((rc = check_alarms(r, &green)))
			return rc;
		if (mdeploy__now_ms() - t0 >= ms)
			return 0;
		if ((rc = mdeploy_deploy__wait_for(r, 100)))
			return rc;
	}
}

/*
 * Point traffic: `pct` percent to fleet `to`, the rest to `from` (may be
 * ""), as fleet weights pct and 100 - pct (an ALB's target groups weigh
 * 0-999; the provider spreads a fleet's weight over its targets). Both
 * fleets' targets are put back in rotation (a rollback brings a drained
 * blue back). One round trip; the provider raises weights before it lowers
 * others, so no moment has no weight anywhere.
 */
int mdeploy_deploy__apply_split(mdeploy_deploy__run *r, const char *from, const char *to, unsigned int pct)
{
	mdeploy_fleet_weight w[2];
	inst_list lf, lt;
	target_list t;
	size_t i, n = 0, nf = 0, nt = 0;
	uint64_t t0;
	int rc;

	memset(&lf, 0, sizeof(lf));
	if ((from[0] && (rc = mdeploy_deploy__instances(r, from, &lf))) || (rc = mdeploy_deploy__instances(r, to, &lt)) ||
	    (rc = mdeploy_deploy__targets(r, &t)))
		return rc;
	for (i = 0; i < t.n; i++) {
		nf += mdeploy_deploy__in_list(&lf, t.t[i].instance);
		nt += mdeploy_deploy__in_list(&lt, t.t[i].instance);
	}
	if (pct > 100)
		pct = 100;
	if (nt == 0 && pct > 0)
		return mdeploy__error_set(MDEPLOY_ECONFLICT, CLS, "fleet %s has no registered instance", to);
	/* A fleet with no target (a blue one retired meanwhile) has no weight to set. */
	if (nt) {
		w[n].fleet = to;
		w[n].weight = pct;
		w[n].state = MDEPLOY_TARGET_READY;
		n++;
	}
	if (nf && strcmp(from, to)) {
		w[n].fleet = from;
		w[n].weight = 100 - pct;
		w[n].state = MDEPLOY_TARGET_READY;
		n++;
	}
	t0 = mdeploy__now_ms();
	rc = mdeploy_lb_set_fleet_weights(r->p, r->lb, w, n);
	mdeploy__log(r->ctx, MDEPLOY_LOG_INFO, "deploy", "%s: %u%% of traffic to %s (fleet weights %s %u, %s %u) applied in %llu ms",
	             r->id, pct, to, to, pct, nf ? from : "-", 100 - pct, (unsigned long long)(mdeploy__now_ms() - t0));
	return rc;
}

/* After the cutover: the CDN's cached copies of the paths the group names are the old code's.
 * arg: the CallerReference (NULL: the deployment id). */
int mdeploy_deploy__s_cdn(mdeploy_deploy__run *r, const char *target, void *arg)
{
	char id[128];
	json_t *o;
	int rc;
	if ((rc = mdeploy_cdn_invalidate(r->p, target, r->g->cdn_invalidate, arg ? (const char *)arg : r->id, id,
	                                 sizeof(id))))
		return rc;
	mdeploy__log(r->ctx, MDEPLOY_LOG_INFO, "deploy", "%s: CDN %s invalidating the group's paths (invalidation %s)",
	             r->id, target, id);
	o = json_pack("{s:s}", "invalidation", id);
	free(r->step_data);
	r->step_data = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return 0;
}

int mdeploy_deploy__s_shift(mdeploy_deploy__run *r, const char *target, void *arg)
{
	unsigned int pct = (unsigned int)atoi(target);
	int rc;
	(void)arg;
	if ((rc = mdeploy_deploy__apply_split(r, r->blue, r->green, pct)))
		return rc;
	if (pct < 100)
		return mdeploy_deploy__watch(r, r->g->traffic_interval_ms);
	return 0;
}

int mdeploy_deploy__s_watch(mdeploy_deploy__run *r, const char *target, void *arg)
{
	(void)target; (void)arg;
	return mdeploy_deploy__watch(r, r->g->alarm_window_ms);
}

/* Drain a fleet's targets: no new requests; wait for sessions to end (or the timeout). */
static int drain_fleet(mdeploy_deploy__run *r, const char *fleet)
{
	mdeploy_fleet_weight w = { NULL, 0, MDEPLOY_TARGET_DRAIN };
	inst_list l;
	target_list t;
	size_t i;
	uint64_t t0, sessions;
	int rc;

	w.fleet = fleet;
	if ((rc = mdeploy_deploy__instances(r, fleet, &l)))
		return rc;
	if ((rc = mdeploy_lb_set_fleet_weights(r->p, r->lb, &w, 1))) {
		if (rc != MDEPLOY_ENOTFOUND)
			return rc;
		mdeploy_error_clear(); /* nothing of it registered: nothing to drain */
		return 0;
	}
	t0 = mdeploy__now_ms();
	for (;;) {
		if ((rc = mdeploy_deploy__targets(r, &t)))
			return rc;
		for (i = 0, sessions = 0; i < t.n; i++)
			if (mdeploy_deploy__in_list(&l, t.t[i].instance))
				sessions += t.t[i].sessions;
		if (sessions == 0)
			return 0;
		if (mdeploy__now_ms() - t0 > r->g->drain_timeout_ms) {
			mdeploy__log(r->ctx, MDEPLOY_LOG_WARN, "deploy", "%s: %s still has %llu sessions after %u ms; going on",
			             r->id, fleet, (unsigned long long)sessions, r->g->drain_timeout_ms);
			return 0;
		}
		if ((rc = mdeploy_deploy__wait_for(r, mdeploy_deploy__lb_poll_ms(r))))
			return rc;
	}
}

int mdeploy_deploy__s_drain(mdeploy_deploy__run *r, const char *target, void *arg)
{
	(void)arg;
	return drain_fleet(r, target);
}
