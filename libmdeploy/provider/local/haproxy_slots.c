/*
 * haproxy_slots.c - the backend's servers as the local load balancer uses
 * them: pre-allocated slots an instance is pointed at, read from `show
 * servers state` and `show stat`; joining a slot so that it must pass real
 * checks; holding a slot in rotation; and the counter offsets that make an
 * instance's counters start at 0 whatever the slot served before (see lb.c).
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

/* ---- show stat ---- */

/* Call `cb` for each server row of the backend in `show stat`. */
int stat_each(const lb_paths *lp, stat_row_cb cb, void *payload)
{
	char *reply = NULL, *line, *save = NULL, *hdr[160], *f[160];
	int nh = 0, rc;

	if ((rc = cli_send(lp, "show stat", &reply)))
		return rc;
	for (line = strtok_r(reply, "\n", &save); line && !rc; line = strtok_r(NULL, "\n", &save)) {
		int nf, k;
		if (!strncmp(line, "# ", 2)) {
			nh = split(line + 2, ',', hdr, 160);
			continue;
		}
		if (!nh)
			continue;
		nf = split(line, ',', f, 160);
		if ((k = field_index(hdr, nh, "pxname")) < 0 || k >= nf || strcmp(f[k], BACKEND))
			continue;
		if ((k = field_index(hdr, nh, "svname")) < 0 || k >= nf || !strcmp(f[k], "BACKEND"))
			continue;
		rc = cb(hdr, nh, f, nf, payload);
	}
	free(reply);
	return rc < 0 ? rc : 0;
}

const char *str_field(char **hdr, int nh, char **f, int nf, const char *name)
{
	int k = field_index(hdr, nh, name);
	return k >= 0 && k < nf ? f[k] : "";
}

uint64_t num_field(char **hdr, int nh, char **f, int nf, const char *name)
{
	return strtoull(str_field(hdr, nh, f, nf, name), NULL, 10);
}

void counters_of(char **hdr, int nh, char **f, int nf, slot_counters *c)
{
#define NUM(name) num_field(hdr, nh, f, nf, name)
	c->sessions_total = NUM("stot");
	c->responses_5xx = NUM("hrsp_5xx");
	c->responses_total = NUM("hrsp_1xx") + NUM("hrsp_2xx") + NUM("hrsp_3xx") + NUM("hrsp_4xx") +
	                     NUM("hrsp_5xx") + NUM("hrsp_other");
	c->check_failures = NUM("chkfail");
#undef NUM
}

struct slot_stat {
	const char *slot;
	char status[32];
	slot_counters c;
	int found;
};

static int slot_stat_cb(char **hdr, int nh, char **f, int nf, void *payload)
{
	struct slot_stat *ss = payload;
	if (strcmp(str_field(hdr, nh, f, nf, "svname"), ss->slot))
		return 0;
	snprintf(ss->status, sizeof(ss->status), "%s", str_field(hdr, nh, f, nf, "status"));
	counters_of(hdr, nh, f, nf, &ss->c);
	ss->found = 1;
	return 0;
}

static int slot_stat(const lb_paths *lp, const char *slot, struct slot_stat *ss)
{
	int rc;
	memset(ss, 0, sizeof(*ss));
	ss->slot = slot;
	if ((rc = stat_each(lp, slot_stat_cb, ss)))
		return rc;
	if (!ss->found)
		return mdeploy__error_set(MDEPLOY_ENETWORK, MDEPLOY_ERROR_CLASS_PROVIDER,
		                          "load balancer reports no server '%s'", slot);
	return 0;
}

/* Counter offsets: "lb/<name>/counters/<slot>" = "<instance> <haproxy pid> <stot> <responses> <5xx> <chkfail>". */
static void offset_key(char *key, size_t n, const char *lb, const char *slot)
{
	snprintf(key, n, "lb/%s/counters/%s", lb, slot);
}

int offset_save(mdeploy_provider *p, const lb_paths *lp, const char *lb, const char *slot,
                       const char *instance)
{
	struct slot_stat ss;
	char key[300], value[256];
	int rc;
	if ((rc = slot_stat(lp, slot, &ss)))
		return rc;
	offset_key(key, sizeof(key), lb, slot);
	snprintf(value, sizeof(value), "%s %ld %llu %llu %llu %llu", instance, read_pid(lp),
	         (unsigned long long)ss.c.sessions_total, (unsigned long long)ss.c.responses_total,
	         (unsigned long long)ss.c.responses_5xx, (unsigned long long)ss.c.check_failures);
	return mdeploy_store_value_set(p->store, key, value);
}

/* The offset of `instance` in `slot`; zero when none applies (another occupant, a restarted HAProxy). */
void offset_load(mdeploy_provider *p, const char *lb, const char *slot, const char *instance, long pid,
                        slot_counters *c)
{
	char key[300], inst[64];
	char *v = NULL;
	long opid = 0;
	unsigned long long a, b, d, e;
	memset(c, 0, sizeof(*c));
	offset_key(key, sizeof(key), lb, slot);
	if (mdeploy_store_value_get(p->store, key, &v)) {
		mdeploy_error_clear();
		return;
	}
	if (sscanf(v, "%63s %ld %llu %llu %llu %llu", inst, &opid, &a, &b, &d, &e) == 6 && !strcmp(inst, instance) &&
	    opid == pid) {
		c->sessions_total = a;
		c->responses_total = b;
		c->responses_5xx = d;
		c->check_failures = e;
	}
	free(v);
}

/*
 * Let `slot` join in `state` (ready or drain) with weight 0 and its health
 * forced down, and wait until HAProxy shows it down: from there only `rise`
 * passing checks bring it up. Leaving maintenance is processed after the
 * command that asks for it, and would set the health back to "up": so the
 * health goes down only once the slot has left maintenance.
 */
int join_slot(mdeploy_provider *p, const lb_paths *lp, const char *slot, const char *state)
{
	char cmd[256];
	struct slot_stat ss;
	uint64_t t0 = mdeploy__now_ms(), sent = 0;
	int rc;

	snprintf(cmd, sizeof(cmd), "set weight " BACKEND "/%s 0; set server " BACKEND "/%s state %s", slot, slot, state);
	if ((rc = cli_change(lp, cmd)))
		return rc;
	for (;;) {
		if ((rc = slot_stat(lp, slot, &ss)))
			return rc;
		if (strncmp(ss.status, "MAINT", 5)) {
			if (sent && !strncmp(ss.status, "DOWN", 4))
				break;
			if (!sent || mdeploy__now_ms() - sent > 200) {
				snprintf(cmd, sizeof(cmd), "set server " BACKEND "/%s health down", slot);
				if ((rc = cli_change(lp, cmd)))
					return rc;
				sent = mdeploy__now_ms();
				continue;
			}
		}
		if (mdeploy__now_ms() - t0 > 5000)
			return mdeploy__error_set(MDEPLOY_ETIMEOUT, MDEPLOY_ERROR_CLASS_PROVIDER,
				"load balancer slot %s did not take its joining state (status %s)", slot, ss.status);
		sleep_ms(5);
	}
	mdeploy__log(p->ctx, MDEPLOY_LOG_DEBUG, "provider", "%s joined (%s), down until it passes its checks",
	             slot, state);
	return 0;
}

/*
 * While the load balancer holds its targets (mdeploy_lb_hold()), a target
 * that joins is held too: its checks are suspended and it is marked up.
 */
int hold_slot(const lb_paths *lp, const char *slot)
{
	char cmd[256];
	struct slot_stat ss;
	uint64_t t0 = mdeploy__now_ms(), sent;
	int rc;
	if (!mdeploy__path_exists(lp->hold))
		return 0;
	snprintf(cmd, sizeof(cmd), "disable health " BACKEND "/%s; set server " BACKEND "/%s health up", slot, slot);
	if ((rc = cli_change(lp, cmd)))
		return rc;
	sent = mdeploy__now_ms();
	/* A "health down" of the join still being processed can land after ours: wait until it shows, resend. */
	for (;;) {
		if ((rc = slot_stat(lp, slot, &ss)))
			return rc;
		if (strncmp(ss.status, "DOWN", 4))
			return 0;
		if (mdeploy__now_ms() - t0 > 5000)
			return mdeploy__error_set(MDEPLOY_ETIMEOUT, MDEPLOY_ERROR_CLASS_PROVIDER,
				"load balancer slot %s did not take its held state (status %s)", slot, ss.status);
		if (mdeploy__now_ms() - sent > 200) {
			snprintf(cmd, sizeof(cmd), "set server " BACKEND "/%s health up", slot);
			if ((rc = cli_change(lp, cmd)))
				return rc;
			sent = mdeploy__now_ms();
		}
		sleep_ms(5);
	}
}

static int instance_addr_cb(const mdeploy_instance_info *inst, void *payload)
{
	hap_slot_list *sl = payload;
	size_t i;
	for (i = 0; i < sl->n; i++)
		if (sl->v[i].port == inst->port && !strcmp(sl->v[i].address, inst->address)) {
			snprintf(sl->v[i].instance, sizeof(sl->v[i].instance), "%s", inst->id);
			snprintf(sl->v[i].fleet, sizeof(sl->v[i].fleet), "%s", inst->fleet ? inst->fleet : "");
		}
	return 0;
}

int field_index(char **hdr, int nh, const char *name)
{
	int i;
	for (i = 0; i < nh; i++)
		if (!strcmp(hdr[i], name))
			return i;
	return -1;
}

/* Split `line` on `sep` in place; returns the count (at most max). */
int split(char *line, char sep, char **fields, int max)
{
	int n = 0;
	char *s = line;
	while (n < max) {
		char *e = strchr(s, sep);
		fields[n++] = s;
		if (!e)
			break;
		*e = '\0';
		s = e + 1;
	}
	return n;
}

int load_slots(mdeploy_provider *p, const lb_paths *lp, hap_slot_list *sl)
{
	char *reply = NULL, *line, *save = NULL, *hdr[64], *f[64];
	int nh = 0, rc, i_name, i_addr, i_port, i_admin, i_w;

	sl->v = NULL;
	sl->n = 0;
	if ((rc = cli_send(lp, "show servers state " BACKEND, &reply)))
		return rc;
	for (line = strtok_r(reply, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		int nf;
		if (!strncmp(line, "# ", 2)) {
			nh = split(line + 2, ' ', hdr, 64);
			continue;
		}
		if (!nh || !*line)
			continue;
		nf = split(line, ' ', f, 64);
		i_name = field_index(hdr, nh, "srv_name");
		i_addr = field_index(hdr, nh, "srv_addr");
		i_port = field_index(hdr, nh, "srv_port");
		i_admin = field_index(hdr, nh, "srv_admin_state");
		i_w = field_index(hdr, nh, "srv_uweight");
		if (i_name < 0 || i_addr < 0 || i_port < 0 || i_admin < 0 || i_w < 0 ||
		    i_name >= nf || i_addr >= nf || i_port >= nf || i_admin >= nf || i_w >= nf) {
			rc = mdeploy__error_set(MDEPLOY_ENETWORK, MDEPLOY_ERROR_CLASS_PROVIDER,
			                        "unexpected 'show servers state' format");
			break;
		}
		{
			hap_slot *nv = realloc(sl->v, (sl->n + 1) * sizeof(*nv)), *s;
			if (!nv) {
				rc = mdeploy__error_oom();
				break;
			}
			sl->v = nv;
			s = &sl->v[sl->n++];
			memset(s, 0, sizeof(*s));
			snprintf(s->name, sizeof(s->name), "%s", f[i_name]);
			snprintf(s->address, sizeof(s->address), "%s", f[i_addr]);
			s->port = (unsigned int)strtoul(f[i_port], NULL, 10);
			s->admin = (unsigned int)strtoul(f[i_admin], NULL, 10);
			s->weight = (unsigned int)strtoul(f[i_w], NULL, 10);
		}
	}
	free(reply);
	if (!rc && sl->n == 0)
		rc = mdeploy__error_set(MDEPLOY_ENETWORK, MDEPLOY_ERROR_CLASS_PROVIDER,
		                        "load balancer has no backend '" BACKEND "'");
	if (!rc)
		rc = mdeploy_local__instance_foreach(p, NULL, NULL, instance_addr_cb, sl);
	if (rc) {
		free(sl->v);
		sl->v = NULL;
		sl->n = 0;
	}
	return rc;
}

const char *admin_state_name(unsigned int admin)
{
	if (admin & ADMIN_MAINT)
		return "maint";
	if (admin & ADMIN_DRAIN)
		return "drain";
	return "ready";
}

const char *state_word(int state)
{
	return state == MDEPLOY_TARGET_DRAIN ? "drain" : state == MDEPLOY_TARGET_MAINT ? "maint" : "ready";
}

hap_slot *slot_of(hap_slot_list *sl, const char *instance)
{
	size_t i;
	for (i = 0; i < sl->n; i++)
		if (!strcmp(sl->v[i].instance, instance))
			return &sl->v[i];
	return NULL;
}
