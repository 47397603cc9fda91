/*
 * health.c - the health gate: a fleet takes traffic only once the load
 * balancer's checks pass for every one of its targets.
 *
 * A target that joins the load balancer starts unhealthy (the provider sees
 * to it), so UP here means `healthy_threshold` real checks passed after it
 * joined, never the load balancer's initial optimism. The targets are read
 * every mdeploy_lb_poll_ms() (50 ms locally; on aws, where a read is 1 + N
 * throttled ELBv2 calls, the larger of 1 s and the health-check interval).
 */
#include "deploy_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLS MDEPLOY_ERROR_CLASS_DEPLOY

static int is_up(const char *health)
{
	return !strncmp(health, "UP", 2) || !strcmp(health, "DRAIN");
}

/*
 * Keep, per instance, the last read that carried a finished check: while
 * HAProxy runs a check it shows "* L7STS" and no HTTP status, so a read that
 * falls inside a check would otherwise lose what the health path answered.
 */
static void remember_checks(target_list *seen, const target_list *t)
{
	size_t i, j;
	for (i = 0; i < t->n; i++) {
		if (!t->t[i].check_code)
			continue;
		for (j = 0; j < seen->n && strcmp(seen->t[j].instance, t->t[i].instance); j++)
			;
		if (j == seen->n) {
			if (seen->n == sizeof(seen->t) / sizeof(seen->t[0]))
				continue;
			seen->n++;
		}
		seen->t[j] = t->t[i];
	}
}

/* Name each target of `l` that is not up, with its last check (from `seen` when the last read fell inside one). */
static void describe_down(const inst_list *l, const target_list *t, const target_list *seen, char *out, size_t n)
{
	size_t i, j, len = 0;
	out[0] = '\0';
	for (i = 0; i < t->n && len + 1 < n; i++) {
		const char *status = t->t[i].check_status, *output = t->t[i].check_output;
		unsigned int code = t->t[i].check_code;
		if (!mdeploy_deploy__in_list(l, t->t[i].instance) || is_up(t->t[i].health))
			continue;
		if (!code && seen && !strncmp(status, "* ", 2))
			for (j = 0; j < seen->n; j++)
				if (!strcmp(seen->t[j].instance, t->t[i].instance)) {
					status = seen->t[j].check_status;
					code = seen->t[j].check_code;
					output = seen->t[j].check_output;
				}
		if (!strncmp(status, "* ", 2))
			status += 2;
		snprintf(out + len, n - len, "%s%s is %s, last check %s", len ? "; " : "", t->t[i].instance,
		         t->t[i].health, status[0] ? status : "not run");
		len += strlen(out + len);
		if (code && len + 1 < n) {
			snprintf(out + len, n - len, ", health path answered %u", code);
			len += strlen(out + len);
		}
		if (output[0] && len + 1 < n) {
			snprintf(out + len, n - len, " (%s)", output);
			len += strlen(out + len);
		}
	}
}

/*
 * Wait until every target of `fleet` passes the load balancer's health
 * checks: at most interval x (healthy_threshold + 2) + timeout + 10 s (the
 * limit mdeploy.yml(5) documents), else MDEPLOY_ETIMEOUT naming each
 * instance still down, what its health path answered and the check's output.
 */
static int wait_up(mdeploy_deploy__run *r, const char *fleet, int checked)
{
	unsigned int limit = r->g->health_interval_ms * (r->g->healthy_threshold + 2) +
	                     r->g->health_timeout_ms + 10000;
	uint64_t t0 = mdeploy__now_ms(), now;
	inst_list l;
	target_list t;
	size_t i, up, want;
	unsigned int wait;
	/* While the gate holds the targets (gate.c), a held one shows "no check": the gate validated it. */
	int rc, held = !checked && mdeploy_deploy__held(r);
	target_list *seen;

	if ((rc = mdeploy_deploy__instances(r, fleet, &l)))
		return rc;
	seen = calloc(1, sizeof(*seen)); /* NULL: the error says less, nothing else changes */
	for (;;) {
		if ((rc = mdeploy_deploy__targets(r, &t)))
			break;
		if (seen)
			remember_checks(seen, &t);
		for (i = up = want = 0; i < t.n; i++) {
			if (!mdeploy_deploy__in_list(&l, t.t[i].instance))
				continue;
			want++;
			if (checked)
				up += is_up(t.t[i].health) && !strcmp(t.t[i].check_status, "L7OK");
			else
				up += is_up(t.t[i].health) || (held && !strcmp(t.t[i].health, "no check"));
		}
		if (want > 0 && up == want)
			break;
		if (mdeploy__now_ms() - t0 > limit) {
			char why[1400];
			describe_down(&l, &t, seen, why, sizeof(why));
			rc = mdeploy__error_set(MDEPLOY_ETIMEOUT, CLS,
				"fleet %s: %zu of %zu instances passed the health check (%s) in %u ms: %s", fleet, up, want,
				r->g->health_path, limit, why);
			break;
		}
		/* The last read at the limit, not a poll interval after it. */
		wait = mdeploy_deploy__lb_poll_ms(r);
		now = mdeploy__now_ms(); /* once: a second read may lie past the limit, and t0 + limit + 1 - now wrap */
		if (now <= t0 + limit && t0 + limit + 1 - now < wait)
			wait = (unsigned int)(t0 + limit + 1 - now);
		if ((rc = mdeploy_deploy__wait_for(r, wait)))
			break;
	}
	free(seen);
	return rc;
}

unsigned int mdeploy_deploy__lb_poll_ms(const mdeploy_deploy__run *r)
{
	return mdeploy_lb_poll_ms(r->p, r->g->health_interval_ms);
}

int mdeploy_deploy__wait_healthy(mdeploy_deploy__run *r, const char *fleet)
{
	return wait_up(r, fleet, 0);
}

/* As mdeploy_deploy__wait_healthy(), and the last check of each target passed (L7OK). */
int mdeploy_deploy__wait_checked(mdeploy_deploy__run *r, const char *fleet)
{
	return wait_up(r, fleet, 1);
}

int mdeploy_deploy__s_health(mdeploy_deploy__run *r, const char *target, void *arg)
{
	(void)arg;
	return mdeploy_deploy__wait_healthy(r, target);
}
