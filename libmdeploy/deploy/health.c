/*
 * health.c - the health gate: a fleet takes traffic only once the load
 * balancer's checks pass for every one of its targets.
 */
#include "deploy_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLS MDEPLOY_ERROR_CLASS_DEPLOY

/* Wait until every target of `fleet` passes the load balancer's health checks. */
int mdeploy_deploy__wait_healthy(mdeploy_deploy__run *r, const char *fleet)
{
	unsigned int limit = r->g->health_interval_ms * (r->g->healthy_threshold + 2) +
	                     r->g->health_timeout_ms + 10000;
	uint64_t t0 = mdeploy__now_ms();
	inst_list l;
	target_list t;
	size_t i, up, want;
	int rc;

	if ((rc = mdeploy_deploy__instances(r, fleet, &l)))
		return rc;
	for (;;) {
		if ((rc = mdeploy_deploy__targets(r, &t)))
			return rc;
		for (i = up = want = 0; i < t.n; i++) {
			if (!mdeploy_deploy__in_list(&l, t.t[i].instance))
				continue;
			want++;
			up += !strncmp(t.t[i].health, "UP", 2) || !strcmp(t.t[i].health, "DRAIN");
		}
		if (want > 0 && up == want)
			return 0;
		if (mdeploy__now_ms() - t0 > limit)
			return mdeploy__error_set(MDEPLOY_ETIMEOUT, CLS,
				"fleet %s: %zu of %zu instances passed the health check (%s) in %u ms", fleet, up, want,
				r->g->health_path, limit);
		if ((rc = mdeploy_deploy__wait_for(r, 50)))
			return rc;
	}
}

int mdeploy_deploy__s_health(mdeploy_deploy__run *r, const char *target, void *arg)
{
	(void)arg;
	return mdeploy_deploy__wait_healthy(r, target);
}
