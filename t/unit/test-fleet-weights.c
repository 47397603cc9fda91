/*
 * test-fleet-weights.c - the local provider's mapping of fleet weights
 * (0-999, as an ALB weighs target groups) onto HAProxy server weights
 * (0-256): shares kept whatever the fleets' sizes, the heaviest server at
 * 256, never 0 for a fleet with weight, remainders spread so a fleet's
 * total is exact, maintenance servers untouched.
 */
#include "provider/local/haproxy.h"
#include "tap.h"

#include <stdio.h>
#include <string.h>

#define MAXS 32

static hap_slot slots[MAXS];
static hap_slot_list sl = { slots, 0 };
static hap_fleet fv[8];
static hap_fleets fl = { fv, 0 };
static unsigned int out[MAXS];

static void reset(void)
{
	memset(slots, 0, sizeof(slots));
	memset(fv, 0, sizeof(fv));
	sl.n = 0;
	fl.n = 0;
}

/* `n` servers of `fleet`, each at `weight`, in maintenance when `maint`. */
static void servers(const char *fleet, unsigned int n, unsigned int weight, int maint)
{
	size_t k;
	hap_fleet *f = NULL;
	for (k = 0; k < fl.n; k++)
		if (!strcmp(fv[k].name, fleet))
			f = &fv[k];
	if (!f) {
		f = &fv[fl.n++];
		snprintf(f->name, sizeof(f->name), "%s", fleet);
	}
	while (n--) {
		hap_slot *s = &slots[sl.n++];
		snprintf(s->name, sizeof(s->name), "app%zu", sl.n);
		snprintf(s->instance, sizeof(s->instance), "i-%zu", sl.n);
		snprintf(s->fleet, sizeof(s->fleet), "%s", fleet);
		s->weight = weight;
		s->admin = maint ? 0x01u : 0;
		f->targets++;
		f->n += !maint;
	}
}

static void weigh(const char *fleet, unsigned int w)
{
	size_t k;
	for (k = 0; k < fl.n; k++)
		if (!strcmp(fv[k].name, fleet))
			fv[k].weight = w;
}

/* Sum, min and max of the spread weights of `fleet`'s servers not in maintenance. */
static void stats(const char *fleet, unsigned long *sum, unsigned int *min, unsigned int *max)
{
	size_t i;
	*sum = 0;
	*min = 1000;
	*max = 0;
	for (i = 0; i < sl.n; i++) {
		if (strcmp(slots[i].fleet, fleet) || (slots[i].admin & 0x01u))
			continue;
		*sum += out[i];
		if (out[i] < *min)
			*min = out[i];
		if (out[i] > *max)
			*max = out[i];
	}
}

/* Fleet's share of the servers' weights, in per mille, rounded. */
static unsigned long share(const char *fleet)
{
	unsigned long a, b, all = 0;
	unsigned int mn, mx;
	size_t k;
	for (k = 0; k < fl.n; k++) {
		stats(fv[k].name, &a, &mn, &mx);
		all += a;
	}
	stats(fleet, &b, &mn, &mx);
	return all ? (b * 1000 + all / 2) / all : 0;
}

int main(void)
{
	unsigned long sum;
	unsigned int mn, mx;

	plan_lazy();

	reset();
	servers("a-v001", 4, 0, 0);
	weigh("a-v001", 100);
	mdeploy_local__hap_spread(&sl, &fl, out);
	stats("a-v001", &sum, &mn, &mx);
	ok(mn == 256 && mx == 256, "one fleet with weight: 256 on each server (%u-%u)", mn, mx);

	/* A canary: 10 to green (2 servers), 90 to blue (2). */
	reset();
	servers("blue", 2, 256, 0);
	servers("green", 2, 0, 0);
	weigh("blue", 90);
	weigh("green", 10);
	mdeploy_local__hap_spread(&sl, &fl, out);
	stats("blue", &sum, &mn, &mx);
	ok(mn == 256 && mx == 256, "the heavier fleet's servers at 256");
	is_int(100, (long long)share("green"), "green gets 10%% (per mille, rounded)");

	/* Shares hold whatever the sizes: 25 to a fleet of 8, 75 to a fleet of 2. */
	reset();
	servers("blue", 2, 0, 0);
	servers("green", 8, 0, 0);
	weigh("blue", 75);
	weigh("green", 25);
	mdeploy_local__hap_spread(&sl, &fl, out);
	is_int(250, (long long)share("green"), "25%% to a fleet of 8 against 75%% to a fleet of 2");
	stats("green", &sum, &mn, &mx);
	ok(mx - mn <= 1, "spread evenly: servers differ by at most 1 (%u-%u)", mn, mx);

	/* Remainders: 7 servers, a total that does not divide. */
	reset();
	servers("blue", 1, 0, 0);
	servers("green", 7, 0, 0);
	weigh("blue", 50);
	weigh("green", 50);
	mdeploy_local__hap_spread(&sl, &fl, out);
	stats("green", &sum, &mn, &mx);
	is_int(256, (long long)sum, "a fleet's servers add up to its exact total (256 over 7)");
	ok(mx - mn <= 1 && mn == 36, "36 or 37 each (%u-%u)", mn, mx);

	/* A tiny weight never rounds a server to 0. */
	reset();
	servers("blue", 1, 0, 0);
	servers("green", 8, 0, 0);
	weigh("blue", 999);
	weigh("green", 1);
	mdeploy_local__hap_spread(&sl, &fl, out);
	stats("green", &sum, &mn, &mx);
	ok(mn >= 1, "weight 1 of 1000 over 8 servers: each server still gets 1 (%u)", mn);
	stats("blue", &sum, &mn, &mx);
	is_int(256, (long long)mx, "and blue's one server 256");

	/* Weight 0: out of rotation; maintenance servers keep theirs. */
	reset();
	servers("blue", 2, 256, 0);
	servers("blue", 1, 77, 1);
	servers("green", 2, 256, 0);
	weigh("blue", 0);
	weigh("green", 100);
	mdeploy_local__hap_spread(&sl, &fl, out);
	stats("blue", &sum, &mn, &mx);
	is_int(0, (long long)sum, "a fleet of weight 0: its servers at 0");
	is_int(77, (long long)out[2], "a server in maintenance keeps its weight");
	stats("green", &sum, &mn, &mx);
	ok(mn == 256 && mx == 256, "the other fleet takes it all at 256");

	/* Nothing has weight: everything 0. */
	reset();
	servers("blue", 2, 256, 0);
	weigh("blue", 0);
	mdeploy_local__hap_spread(&sl, &fl, out);
	ok(out[0] == 0 && out[1] == 0, "no fleet with weight: all servers at 0");

	/* Three fleets, ALB-like weights up to 999. */
	reset();
	servers("a", 3, 0, 0);
	servers("b", 2, 0, 0);
	servers("c", 5, 0, 0);
	weigh("a", 500);
	weigh("b", 300);
	weigh("c", 200);
	mdeploy_local__hap_spread(&sl, &fl, out);
	ok(share("a") >= 498 && share("a") <= 502 && share("b") >= 298 && share("b") <= 302 &&
	   share("c") >= 198 && share("c") <= 202, "three fleets 500/300/200: shares %lu/%lu/%lu per mille",
	   share("a"), share("b"), share("c"));
	return done();
}
