/*
 * haproxy_weights.c - fleet weights on HAProxy. Traffic is weighed between
 * fleets (0-999, as an ALB weighs its target groups); HAProxy weighs
 * servers (0-256). A fleet's weight is kept in the state store
 * ("lb/<lb>/fleet-weight/<fleet>") and spread over its servers whenever
 * anything changes at the load balancer (fleet weights, a target joining,
 * leaving, changing state), so the fleets' shares hold whatever their sizes:
 *
 *   - the servers of a fleet that count are its registered servers not in
 *     maintenance (n); a fleet of weight W wants W / sum(W) of the traffic;
 *   - one scale for all: c = min over fleets with W > 0 of 256 * n / W, so
 *     the heaviest server gets 256 and every other gets as much precision
 *     as 0-256 allows; a fleet's total T = round(c * W), at least n (each
 *     server of a fleet with weight gets 1 or more: never 0, which would
 *     take it out), at most 256 * n;
 *   - T is spread evenly, the remainder one each over the first servers
 *     (in slot order), so the fleet's total is exactly T;
 *   - a fleet of weight 0 gives its servers 0; servers in maintenance keep
 *     theirs (they take nothing either way, and keep their weight when they
 *     come back, as `group stop` promises).
 *
 * A fleet's weight lives as long as the fleet: a fleet that lost its last
 * target (a one-instance fleet healed) keeps it, a fleet created or
 * terminated forgets it (fleet.c), so a name used again starts at 0.
 *
 * A fleet with no stored weight (a green fleet just registered; targets
 * registered before weights were fleets') weighs its current share of the
 * registered servers' weights, in percent (0 for a fleet that just joined).
 *
 * Changes go in one Runtime API exchange, ordered so that no moment has no
 * weight anywhere: targets going to ready, weights that rise, weights that
 * fall, targets going to drain or maintenance.
 */
#include "local.h"
#include "haproxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void weight_key(char *key, size_t n, const char *lb, const char *fleet)
{
	snprintf(key, n, "lb/%s/fleet-weight/%s", lb, fleet);
}

/* 0 and *w set when stored; MDEPLOY_ENOTFOUND when not. */
static int weight_load(mdeploy_provider *p, const char *lb, const char *fleet, unsigned int *w)
{
	char key[400], *v = NULL, *end;
	unsigned long x;
	weight_key(key, sizeof(key), lb, fleet);
	if (mdeploy_store_value_get(p->store, key, &v)) {
		mdeploy_error_clear();
		return MDEPLOY_ENOTFOUND;
	}
	x = strtoul(v, &end, 10);
	if (*end || end == v || x > MDEPLOY_FLEET_WEIGHT_MAX) {
		free(v);
		return MDEPLOY_ENOTFOUND;
	}
	free(v);
	*w = (unsigned int)x;
	return 0;
}

int mdeploy_local__hap_weight_store(mdeploy_provider *p, const char *lb, const char *fleet, int weight)
{
	char key[400], v[16];
	weight_key(key, sizeof(key), lb, fleet);
	snprintf(v, sizeof(v), "%d", weight);
	return mdeploy_store_value_set(p->store, key, weight < 0 ? NULL : v);
}

static int counts(const hap_slot *s)
{
	return s->instance[0] && !(s->admin & ADMIN_MAINT);
}

static hap_fleet *fleet_of(hap_fleets *f, const char *name)
{
	size_t i;
	for (i = 0; i < f->n; i++)
		if (!strcmp(f->v[i].name, name))
			return &f->v[i];
	return NULL;
}

int mdeploy_local__hap_fleets(mdeploy_provider *p, const char *lb, const hap_slot_list *sl,
                              const mdeploy_fleet_weight *w, size_t nw, hap_fleets *out)
{
	unsigned long long all = 0;
	size_t i, j;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < sl->n; i++) {
		const hap_slot *s = &sl->v[i];
		hap_fleet *f;
		if (!s->instance[0])
			continue;
		if (!(f = fleet_of(out, s->fleet))) {
			hap_fleet *nv = realloc(out->v, (out->n + 1) * sizeof(*nv));
			if (!nv) {
				free(out->v);
				out->v = NULL;
				return mdeploy__error_oom();
			}
			out->v = nv;
			f = &out->v[out->n++];
			memset(f, 0, sizeof(*f));
			snprintf(f->name, sizeof(f->name), "%s", s->fleet);
		}
		f->targets++;
		f->sum += s->weight;
		all += s->weight;
		f->n += counts(s);
	}
	for (i = 0; i < out->n; i++) {
		hap_fleet *f = &out->v[i];
		for (j = 0; j < nw; j++)
			if (!strcmp(w[j].fleet, f->name))
				break;
		if (j < nw)
			f->weight = w[j].weight;
		else if (weight_load(p, lb, f->name, &f->weight) != 0)
			f->weight = all ? (unsigned int)((f->sum * 100 + all / 2) / all) : 0;
	}
	return 0;
}

void mdeploy_local__hap_spread(const hap_slot_list *sl, const hap_fleets *f, unsigned int *out)
{
	double c = -1;
	size_t i, k;

	for (k = 0; k < f->n; k++)
		if (f->v[k].weight && f->v[k].n) {
			double ck = 256.0 * f->v[k].n / f->v[k].weight;
			if (c < 0 || ck < c)
				c = ck;
		}
	for (i = 0; i < sl->n; i++)
		out[i] = sl->v[i].weight;
	for (k = 0; k < f->n; k++) {
		const hap_fleet *fl = &f->v[k];
		unsigned long long t = 0;
		unsigned int seen = 0;
		if (fl->weight && fl->n) {
			t = (unsigned long long)(c * fl->weight + 0.5);
			if (t < fl->n)
				t = fl->n;
			if (t > 256ull * fl->n)
				t = 256ull * fl->n;
		}
		for (i = 0; i < sl->n; i++) {
			if (!counts(&sl->v[i]) || strcmp(sl->v[i].fleet, fl->name))
				continue;
			out[i] = (unsigned int)(t / fl->n + (seen < t % fl->n ? 1 : 0));
			seen++;
		}
	}
}

/* HAProxy's admin bits for a target state (only maintenance matters to the spread). */
static unsigned int admin_for(unsigned int admin, int state)
{
	if (state == MDEPLOY_TARGET_MAINT)
		return admin | 0x01u;
	if (state == MDEPLOY_TARGET_DRAIN)
		return (admin & ~ADMIN_MAINT) | 0x08u;
	return admin & ~(ADMIN_MAINT | ADMIN_DRAIN);
}

int mdeploy_local__hap_apply(mdeploy_provider *p, const lb_paths *lp, const char *lb, hap_slot_list *sl,
                             const int *states, const mdeploy_fleet_weight *w, size_t nw, const char *last)
{
	mdeploy__buf cmd = MDEPLOY__BUF_INIT;
	hap_slot_list after;
	hap_fleets f;
	unsigned int *target = NULL;
	size_t i, j;
	int rc, pass;

	after.n = sl->n;
	if (!(after.v = malloc((sl->n ? sl->n : 1) * sizeof(*after.v))) ||
	    !(target = malloc((sl->n ? sl->n : 1) * sizeof(*target)))) {
		free(after.v);
		return mdeploy__error_oom();
	}
	memcpy(after.v, sl->v, sl->n * sizeof(*after.v));
	for (i = 0; i < sl->n; i++)
		if (states[i] >= 0)
			after.v[i].admin = admin_for(after.v[i].admin, states[i]);
	if ((rc = mdeploy_local__hap_fleets(p, lb, &after, w, nw, &f)))
		goto out;
	/* The intent first: a crash after it replays the step, which sends the same again. */
	for (j = 0; j < nw; j++)
		if (fleet_of(&f, w[j].fleet) && (rc = mdeploy_local__hap_weight_store(p, lb, w[j].fleet, (int)w[j].weight)))
			goto out;
	mdeploy_local__hap_spread(&after, &f, target);
	for (pass = 0; pass < 4; pass++)
		for (i = 0; i < sl->n; i++) {
			const hap_slot *s = &sl->v[i];
			int st = states[i];
			if (pass == 0 && st == MDEPLOY_TARGET_READY)
				mdeploy__buf_printf(&cmd, "%sset server " BACKEND "/%s state ready", cmd.size ? "; " : "", s->name);
			else if ((pass == 1 && target[i] > s->weight) || (pass == 2 && target[i] < s->weight))
				mdeploy__buf_printf(&cmd, "%sset weight " BACKEND "/%s %u", cmd.size ? "; " : "", s->name,
				                    target[i]);
			else if (pass == 3 && (st == MDEPLOY_TARGET_DRAIN || st == MDEPLOY_TARGET_MAINT))
				mdeploy__buf_printf(&cmd, "%sset server " BACKEND "/%s state %s", cmd.size ? "; " : "",
				                    s->name, state_word(st));
		}
	if (last)
		mdeploy__buf_printf(&cmd, "%s%s", cmd.size ? "; " : "", last);
	if (cmd.size) {
		mdeploy__log(p->ctx, MDEPLOY_LOG_DEBUG, "provider", "lb %s: %s", lb, cmd.ptr);
		if (!(rc = cli_change(lp, cmd.ptr)))
			rc = save_state(lp);
	}
	if (!rc)
		for (i = 0; i < sl->n; i++) {
			sl->v[i].admin = after.v[i].admin;
			sl->v[i].weight = target[i];
		}
out:
	free(f.v);
	free(after.v);
	free(target);
	mdeploy__buf_dispose(&cmd);
	return rc;
}

int mdeploy_local__weights_forget(mdeploy_provider *p, const char *fleet)
{
	/* Fleet names are [A-Za-z0-9._-] (checked by provider.c): nothing GLOB reads as a pattern. */
	sqlite3_stmt *st = mdeploy_store__prepare(p->store, "DELETE FROM kv WHERE key GLOB 'lb/*/fleet-weight/' || ?1");
	int rc;
	if (!st)
		return MDEPLOY_ERROR;
	sqlite3_bind_text(st, 1, fleet, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : mdeploy_store__error(p->store, "cannot forget a fleet's weights");
	sqlite3_finalize(st);
	return rc;
}
