/*
 * lb.c - the local load balancer: an HAProxy that mdeploy configures
 * once, starts and owns, and afterwards changes only through its Runtime
 * API on a 0600 unix socket. It is never reloaded.
 *
 * The backend has a fixed number of pre-allocated slots (server-template,
 * all in maintenance at start); registering an instance points a free slot
 * at its address with `set server ... addr ... port ...`. A free slot has
 * port 1. After every change the server state is saved (`show servers
 * state` into the server-state-file), so a restarted HAProxy comes back with
 * the same addresses, weights and states. The slots name a DNS name
 * ("localhost") with `init-addr last,...` so that HAProxy takes the address
 * from the state file, not from the configuration.
 *
 * A slot that an instance joins (registered, or back from maintenance)
 * first gets weight 0 and its health forced down, so that it takes traffic
 * only after `rise` real checks: HAProxy itself counts a server leaving
 * maintenance as UP before any check ("start OK, check immediately").
 * HAProxy's counters belong to the slot; the counters of its previous
 * occupants are kept as an offset in the state store when an instance takes
 * it, so that each instance's counters start at 0.
 *
 * This file is the provider-facing part (provider/provider.h, "lb");
 * haproxy_proc.c runs the HAProxy process, haproxy_slots.c keeps its
 * servers (slots), haproxy_cli.c speaks its Runtime API.
 */
#include "local.h"
#include "haproxy.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int mdeploy_local__lb_running(mdeploy_provider *p, const char *name)
{
	lb_paths lp;
	char *reply = NULL;
	int up;
	if (paths(p, name, &lp) || !is_haproxy(read_pid(&lp)))
		return 0;
	up = cli_send(&lp, "show info", &reply) == 0;
	free(reply);
	return up;
}

int mdeploy_local__lb_ensure(mdeploy_provider *p, const char *name, const mdeploy_lb_options *o)
{
	lb_paths lp;
	int rc;

	if ((rc = paths(p, name, &lp)))
		return rc;
	if ((rc = mdeploy__mkdir_p(lp.dir, 0700)))
		return rc;
	if (!mdeploy__path_exists(lp.cfg) && (rc = write_config(&lp, o)))
		return rc;
	if (mdeploy_local__lb_running(p, name))
		return 0;
	if (is_haproxy(read_pid(&lp)))
		return mdeploy__error_set(MDEPLOY_ECONFLICT, MDEPLOY_ERROR_CLASS_PROVIDER,
			"load balancer '%s' runs (pid %ld) but its socket %s does not answer", name,
			read_pid(&lp), lp.sock);
	if ((rc = start_haproxy(p, &lp)))
		return rc;
	return mdeploy__path_exists(lp.state) ? 0 : save_state(&lp);
}

int mdeploy_local__lb_stop(mdeploy_provider *p, const char *name)
{
	lb_paths lp;
	long pid;
	uint64_t t0;
	int rc;

	if ((rc = paths(p, name, &lp)))
		return rc;
	pid = read_pid(&lp);
	if (!is_haproxy(pid))
		return 0;
	if (mdeploy_local__lb_running(p, name))
		save_state(&lp);
	kill((pid_t)pid, SIGTERM);
	t0 = mdeploy__now_ms();
	while (is_haproxy(pid) && mdeploy__now_ms() - t0 < 5000)
		sleep_ms(10);
	if (is_haproxy(pid))
		kill((pid_t)pid, SIGKILL);
	unlink(lp.sock);
	return 0;
}

int mdeploy_local__lb_bind(mdeploy_provider *p, const char *lb, char *out, size_t n)
{
	lb_paths lp;
	char *data = NULL;
	size_t len;
	int rc;
	if ((rc = paths(p, lb, &lp)))
		return rc;
	if ((rc = mdeploy__file_read(&data, &len, lp.bindfile))) {
		if (rc == MDEPLOY_ENOTFOUND)
			mdeploy__error_set(rc, MDEPLOY_ERROR_CLASS_PROVIDER, "load balancer '%s' not found", lb);
		return rc;
	}
	snprintf(out, n, "%s", data);
	free(data);
	return 0;
}

/* states[] for `sl`, all -1 (unchanged). */
static int *no_states(const hap_slot_list *sl)
{
	int *st = malloc((sl->n ? sl->n : 1) * sizeof(*st));
	size_t i;
	if (!st)
		return NULL;
	for (i = 0; i < sl->n; i++)
		st[i] = -1;
	return st;
}

int mdeploy_local__lb_register(mdeploy_provider *p, const char *lb, const char *instance, mdeploy_target_state state)
{
	lb_paths lp;
	hap_slot_list sl;
	hap_slot *s;
	local_instance li;
	char cmd[512];
	int *states = NULL;
	size_t i;
	int rc, joins;

	if ((rc = paths(p, lb, &lp)) || (rc = mdeploy_local__instance_load(p, instance, &li)))
		return rc;
	if ((rc = load_slots(p, &lp, &sl)))
		return rc;
	if (!(s = slot_of(&sl, instance))) {
		for (i = 0, s = NULL; i < sl.n && !s; i++)
			if (sl.v[i].port == FREE_PORT && (sl.v[i].admin & ADMIN_MAINT))
				s = &sl.v[i];
		if (!s) {
			free(sl.v);
			return mdeploy__error_set(MDEPLOY_ECONFLICT, MDEPLOY_ERROR_CLASS_PROVIDER,
				"load balancer '%s' has no free slot for '%s' (all %zu in use)", lb, instance, sl.n);
		}
		/* Address first, while the slot is still in maintenance; its counters are its past occupants'. */
		snprintf(cmd, sizeof(cmd), "set server " BACKEND "/%s addr %s port %u", s->name, li.address, li.port);
		mdeploy__log(p->ctx, MDEPLOY_LOG_DEBUG, "provider", "lb %s: %s", lb, cmd);
		if ((rc = cli_change(&lp, cmd)) || (rc = offset_save(p, &lp, lb, s->name, instance)))
			goto out;
		s->admin |= 0x01u;
		snprintf(s->instance, sizeof(s->instance), "%s", instance);
		snprintf(s->fleet, sizeof(s->fleet), "%s", li.fleet);
	}
	joins = (s->admin & ADMIN_MAINT) && state != MDEPLOY_TARGET_MAINT;
	if (joins) {
		if ((rc = join_slot(p, &lp, s->name, state_word(state))))
			goto out;
		s->weight = 0;
	}
	/* At its share of its fleet's weight; the fleet's other servers make room. */
	if (!(states = no_states(&sl))) {
		rc = mdeploy__error_oom();
		goto out;
	}
	states[s - sl.v] = (int)state;
	if (!(rc = mdeploy_local__hap_apply(p, &lp, lb, &sl, states, NULL, 0, NULL)) && joins)
		rc = hold_slot(&lp, s->name);
out:
	free(states);
	free(sl.v);
	if (!rc)
		rc = save_state(&lp);
	return rc;
}

int mdeploy_local__lb_deregister(mdeploy_provider *p, const char *lb, const char *instance)
{
	lb_paths lp;
	hap_slot_list sl;
	hap_slot *s;
	char last[256];
	int *states;
	int rc;

	if ((rc = paths(p, lb, &lp)) || (rc = load_slots(p, &lp, &sl)))
		return rc;
	if (!(s = slot_of(&sl, instance))) {
		free(sl.v);
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PROVIDER,
		                          "instance '%s' is not registered with '%s'", instance, lb);
	}
	if (!(states = no_states(&sl))) {
		free(sl.v);
		return mdeploy__error_oom();
	}
	/* Out of the spread: the fleet's other servers take its share. */
	states[s - sl.v] = MDEPLOY_TARGET_MAINT;
	snprintf(last, sizeof(last), "set server " BACKEND "/%s addr 127.0.0.1 port %d", s->name, FREE_PORT);
	/* The fleet keeps its weight, also without targets (a one-instance fleet healed). */
	rc = mdeploy_local__hap_apply(p, &lp, lb, &sl, states, NULL, 0, last);
	free(states);
	free(sl.v);
	return rc;
}

int mdeploy_local__lb_set_states(mdeploy_provider *p, const char *lb, const mdeploy_lb_change *c, size_t n)
{
	lb_paths lp;
	hap_slot_list sl;
	int *states = NULL;
	size_t i;
	int rc;

	if ((rc = paths(p, lb, &lp)) || (rc = load_slots(p, &lp, &sl)))
		return rc;
	if (!(states = no_states(&sl))) {
		rc = mdeploy__error_oom();
		goto out;
	}
	/* Resolve everything before sending anything. */
	for (i = 0; i < n; i++) {
		hap_slot *s = slot_of(&sl, c[i].instance);
		if (!s) {
			rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PROVIDER,
			                        "instance '%s' is not registered with '%s'", c[i].instance, lb);
			goto out;
		}
		if (c[i].state >= 0)
			states[s - sl.v] = c[i].state;
	}
	/* Targets leaving maintenance join first (down until checked); the rest lands at once. */
	for (i = 0; i < sl.n; i++) {
		hap_slot *s = &sl.v[i];
		if ((s->admin & ADMIN_MAINT) && states[i] >= 0 && states[i] != MDEPLOY_TARGET_MAINT) {
			if ((rc = join_slot(p, &lp, s->name, state_word(states[i]))) || (rc = hold_slot(&lp, s->name)))
				goto out;
			s->weight = 0;
		}
	}
	rc = mdeploy_local__hap_apply(p, &lp, lb, &sl, states, NULL, 0, NULL);
out:
	free(states);
	free(sl.v);
	return rc;
}

int mdeploy_local__lb_set_fleet_weights(mdeploy_provider *p, const char *lb, const mdeploy_fleet_weight *w, size_t n)
{
	lb_paths lp;
	hap_slot_list sl;
	int *states = NULL;
	size_t i, j;
	int rc;
	uint64_t t0 = mdeploy__now_ms();

	if ((rc = paths(p, lb, &lp)) || (rc = load_slots(p, &lp, &sl)))
		return rc;
	if (!(states = no_states(&sl))) {
		rc = mdeploy__error_oom();
		goto out;
	}
	for (j = 0; j < n; j++) {
		int found = 0;
		for (i = 0; i < sl.n; i++) {
			if (!sl.v[i].instance[0] || strcmp(sl.v[i].fleet, w[j].fleet))
				continue;
			found = 1;
			if (w[j].state >= 0 && !(sl.v[i].admin & ADMIN_MAINT))
				states[i] = w[j].state;
		}
		if (!found) {
			rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PROVIDER,
			                        "fleet '%s' has no target registered with '%s'", w[j].fleet, lb);
			goto out;
		}
	}
	if (!(rc = mdeploy_local__hap_apply(p, &lp, lb, &sl, states, w, n, NULL)))
		mdeploy__log(p->ctx, MDEPLOY_LOG_DEBUG, "provider", "lb %s: fleet weights applied in %llu ms", lb,
		             (unsigned long long)(mdeploy__now_ms() - t0));
out:
	free(states);
	free(sl.v);
	return rc;
}

struct fleets_ctx {
	hap_slot_list *sl;
	char (*up)[1];
};

static int health_row(char **hdr, int nh, char **f, int nf, void *payload)
{
	struct fleets_ctx *fc = payload;
	const char *name = str_field(hdr, nh, f, nf, "svname");
	size_t i;
	for (i = 0; i < fc->sl->n; i++)
		if (!strcmp(fc->sl->v[i].name, name))
			fc->up[i][0] = !strncmp(str_field(hdr, nh, f, nf, "status"), "UP", 2);
	return 0;
}

int mdeploy_local__lb_fleets(mdeploy_provider *p, const char *lb, mdeploy_lb_fleet_cb cb, void *payload)
{
	lb_paths lp;
	hap_slot_list sl;
	hap_fleets f;
	struct fleets_ctx fc;
	unsigned long long all = 0;
	size_t i, k;
	int rc;

	memset(&f, 0, sizeof(f));
	if ((rc = paths(p, lb, &lp)) || (rc = load_slots(p, &lp, &sl)))
		return rc;
	fc.sl = &sl;
	if (!(fc.up = calloc(sl.n ? sl.n : 1, sizeof(*fc.up)))) {
		rc = mdeploy__error_oom();
		goto out;
	}
	if ((rc = stat_each(&lp, health_row, &fc)) || (rc = mdeploy_local__hap_fleets(p, lb, &sl, NULL, 0, &f)))
		goto out;
	/* In rotation: registered, ready, UP. Their weights are the split HAProxy makes now. */
	for (i = 0; i < sl.n; i++)
		if (sl.v[i].instance[0] && !(sl.v[i].admin & (ADMIN_MAINT | ADMIN_DRAIN)) && fc.up[i][0])
			all += sl.v[i].weight;
	for (k = 0; k < f.n; k++) {
		mdeploy_lb_fleet_status st;
		unsigned long long mine = 0;
		memset(&st, 0, sizeof(st));
		st.fleet = f.v[k].name;
		st.weight = f.v[k].weight;
		st.targets = f.v[k].targets;
		for (i = 0; i < sl.n; i++)
			if (sl.v[i].instance[0] && !strcmp(sl.v[i].fleet, f.v[k].name) &&
			    !(sl.v[i].admin & (ADMIN_MAINT | ADMIN_DRAIN)) && fc.up[i][0]) {
				st.in_rotation++;
				mine += sl.v[i].weight;
			}
		st.share_permille = all ? (unsigned int)((mine * 1000 + all / 2) / all) : 0;
		if (cb(&st, payload)) {
			rc = mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_CALLBACK, "aborted by callback");
			break;
		}
	}
out:
	free(fc.up);
	free(f.v);
	free(sl.v);
	return rc;
}

struct targets_ctx {
	mdeploy_provider *p;
	const char *lb;
	hap_slot_list *sl;
	long pid;
	mdeploy_target_cb cb;
	void *payload;
};

static int target_row(char **hdr, int nh, char **f, int nf, void *payload)
{
	struct targets_ctx *tc = payload;
	const char *name = str_field(hdr, nh, f, nf, "svname");
	mdeploy_target_status t;
	slot_counters now, off;
	hap_slot *s = NULL;
	size_t i;

	for (i = 0; i < tc->sl->n; i++)
		if (!strcmp(tc->sl->v[i].name, name))
			s = &tc->sl->v[i];
	if (!s || !s->instance[0])
		return 0;
	memset(&t, 0, sizeof(t));
	t.slot = s->name;
	t.instance = s->instance;
	t.address = s->address;
	t.port = s->port;
	t.weight = s->weight;
	t.state = admin_state_name(s->admin);
	t.health = str_field(hdr, nh, f, nf, "status");
	t.sessions = num_field(hdr, nh, f, nf, "scur");
	counters_of(hdr, nh, f, nf, &now);
	offset_load(tc->p, tc->lb, s->name, s->instance, tc->pid, &off);
	t.sessions_total = minus(now.sessions_total, off.sessions_total);
	t.responses_total = minus(now.responses_total, off.responses_total);
	t.responses_5xx = minus(now.responses_5xx, off.responses_5xx);
	t.check_failures = minus(now.check_failures, off.check_failures);
	t.check_status = str_field(hdr, nh, f, nf, "check_status");
	t.check_code = (unsigned int)num_field(hdr, nh, f, nf, "check_code");
	t.check_output = str_field(hdr, nh, f, nf, "last_chk");
	t.fleet = s->fleet;
	if (tc->cb(&t, tc->payload))
		return mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_CALLBACK, "aborted by callback");
	return 0;
}

int mdeploy_local__lb_targets(mdeploy_provider *p, const char *lb, mdeploy_target_cb cb, void *payload)
{
	lb_paths lp;
	hap_slot_list sl;
	struct targets_ctx tc;
	int rc;

	if ((rc = paths(p, lb, &lp)) || (rc = load_slots(p, &lp, &sl)))
		return rc;
	tc.p = p;
	tc.lb = lb;
	tc.sl = &sl;
	tc.pid = read_pid(&lp);
	tc.cb = cb;
	tc.payload = payload;
	rc = stat_each(&lp, target_row, &tc);
	free(sl.v);
	return rc;
}

/*
 * Hold (on) or release the targets of `lb`. Held, a target's health checks
 * are suspended and it is marked up, so it keeps taking requests by its
 * weight whatever it answers (`disable health` alone would keep a target
 * that is already down, down). Released, the checks run again and the
 * target starts from up: the next failing checks take it out. The hold file
 * makes targets that join meanwhile held too, and survives a restart.
 */
int mdeploy_local__lb_hold(mdeploy_provider *p, const char *lb, int on)
{
	lb_paths lp;
	hap_slot_list sl;
	mdeploy__buf cmd = MDEPLOY__BUF_INIT;
	size_t i;
	int rc;

	if ((rc = paths(p, lb, &lp)) || (rc = load_slots(p, &lp, &sl)))
		return rc;
	if (on && (rc = mdeploy__file_write_atomic(lp.hold, "held\n", 5, 0600)))
		goto out;
	for (i = 0; i < sl.n; i++) {
		if (!sl.v[i].instance[0] || (sl.v[i].admin & ADMIN_MAINT))
			continue;
		mdeploy__buf_printf(&cmd, "%s%s health " BACKEND "/%s; set server " BACKEND "/%s health up",
		                    cmd.size ? "; " : "", on ? "disable" : "enable", sl.v[i].name, sl.v[i].name);
	}
	if (cmd.size) {
		mdeploy__log(p->ctx, MDEPLOY_LOG_DEBUG, "provider", "lb %s: %s", lb, cmd.ptr);
		if ((rc = cli_change(&lp, cmd.ptr)))
			goto out;
	}
	if (!on && unlink(lp.hold) < 0 && errno != ENOENT) {
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_PROVIDER, "cannot remove '%s'", lp.hold);
		goto out;
	}
	rc = save_state(&lp);
out:
	mdeploy__buf_dispose(&cmd);
	free(sl.v);
	return rc;
}

