/*
 * haproxy.c - the local load balancer: an HAProxy that mdeploy configures
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
 */
#include "local.h"
#include "haproxy.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define FREE_PORT 1

static long read_pid(const lb_paths *lp)
{
	char *data = NULL;
	size_t len;
	long pid = 0;
	if (mdeploy__file_read(&data, &len, lp->pidfile) == 0)
		pid = strtol(data, NULL, 10);
	free(data);
	return pid;
}

static int is_haproxy(long pid)
{
	char path[64], comm[64] = "";
	FILE *f;
	if (pid <= 0 || !mdeploy_store__pid_alive(pid, 0))
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	if (!(f = fopen(path, "r")))
		return 0;
	if (!fgets(comm, sizeof(comm), f))
		comm[0] = '\0';
	fclose(f);
	return !strncmp(comm, "haproxy", 7);
}

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

static int write_config(const lb_paths *lp, const mdeploy_lb_options *o)
{
	mdeploy__buf b = MDEPLOY__BUF_INIT;
	unsigned int slots = o->slots ? o->slots : 64;
	int rc;

	if (strchr(o->bind, ' ') || strchr(o->bind, '\n') || !strchr(o->bind, ':'))
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
		                          "load balancer bind '%s' must be ADDRESS:PORT", o->bind);
	if (o->health_path[0] != '/' || strpbrk(o->health_path, " \t\r\n"))
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
		                          "health check path '%s' must start with '/' and hold no spaces", o->health_path);
	mdeploy__buf_printf(&b,
		"# Written once by mdeploy. Changed only through the Runtime API on\n"
		"# %s; the server state lives in %s.\n"
		"global\n"
		"\tstats socket %s mode 600 level admin\n"
		"\tstats timeout 10s\n"
		"\tserver-state-file %s\n"
		"\tpidfile %s\n"
		"\tmaxconn 4096\n"
		"\n"
		"defaults\n"
		"\tmode http\n"
		"\tload-server-state-from-file global\n"
		"\toption redispatch\n"
		"\tretries 3\n"
		"\tretry-on conn-failure empty-response\n"
		"\ttimeout connect 2s\n"
		"\ttimeout client 60s\n"
		"\ttimeout server 60s\n"
		"\ttimeout http-request 10s\n"
		"\ttimeout check %ums\n"
		"\n"
		"frontend fe\n"
		"\tbind %s%s%s\n"
		"\tdefault_backend " BACKEND "\n"
		"\n"
		"backend " BACKEND "\n"
		"\tbalance roundrobin\n"
		"\toption httpchk GET %s\n"
		"\thttp-check expect status %u\n"
		"\tdefault-server init-addr last,127.0.0.1 check inter %ums rise %u fall %u\n"
		"\tserver-template s 1-%u localhost:%d disabled\n",
		lp->sock, lp->state, lp->sock, lp->state, lp->pidfile,
		o->health_timeout_ms ? o->health_timeout_ms : 2000,
		o->bind, o->tls_cert ? " ssl crt " : "", o->tls_cert ? o->tls_cert : "",
		o->health_path, o->health_status ? o->health_status : 200,
		o->health_interval_ms ? o->health_interval_ms : 1000,
		o->healthy_threshold ? o->healthy_threshold : 2,
		o->unhealthy_threshold ? o->unhealthy_threshold : 2,
		slots, FREE_PORT);
	if (!b.ptr)
		return mdeploy__error_oom();
	/* Checked by HAProxy before it becomes the configuration: it is written only once. */
	{
		char *tmp = mdeploy__sprintf("%s.new", lp->cfg);
		const char *prog = access("/usr/sbin/haproxy", X_OK) == 0 ? "/usr/sbin/haproxy" : "haproxy";
		const char *argv[] = { prog, "-c", "-q", "-f", tmp, NULL };
		mdeploy_exec_options eo = MDEPLOY_EXEC_OPTIONS_INIT;
		mdeploy_exec_result *r = NULL;
		eo.search_path = 1;
		eo.merge_stderr = 1;
		eo.timeout_ms = 20000;
		if (!tmp) {
			mdeploy__buf_dispose(&b);
			return mdeploy__error_oom();
		}
		rc = mdeploy__file_write_atomic(tmp, b.ptr, b.size, 0600);
		mdeploy__buf_dispose(&b);
		if (!rc && (rc = mdeploy_exec_run(&r, argv, &eo)) == 0 && !mdeploy_exec_result_success(r)) {
			const char *outp = mdeploy_exec_result_stdout(r, NULL);
			const char *alert = strstr(outp, "[ALERT]");
			rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
			                        "load balancer configuration refused by haproxy: %.600s", alert ? alert : outp);
		}
		mdeploy_exec_result_free(r);
		if (!rc && rename(tmp, lp->cfg) != 0)
			rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_PROVIDER, "rename %s", tmp);
		if (rc)
			unlink(tmp);
		free(tmp);
	}
	if (!rc)
		rc = mdeploy__file_write_atomic(lp->bindfile, o->bind, strlen(o->bind), 0600);
	return rc;
}

static int start_haproxy(mdeploy_provider *p, const lb_paths *lp)
{
	const char *prog = access("/usr/sbin/haproxy", X_OK) == 0 ? "/usr/sbin/haproxy" : "haproxy";
	const char *argv[] = { prog, "-D", "-f", lp->cfg, NULL };
	mdeploy_exec_options eo = MDEPLOY_EXEC_OPTIONS_INIT;
	mdeploy_exec_result *r = NULL;
	uint64_t t0;
	int rc;

	eo.search_path = 1;
	eo.merge_stderr = 1;
	eo.timeout_ms = 20000;
	eo.cwd = lp->dir;
	unlink(lp->sock);
	if ((rc = mdeploy_exec_run(&r, argv, &eo))) {
		mdeploy__error_prefix("cannot start haproxy");
		return rc;
	}
	if (!mdeploy_exec_result_success(r)) {
		const char *outp = mdeploy_exec_result_stdout(r, NULL);
		const char *alert = strstr(outp, "[ALERT]");
		rc = mdeploy__error_set(MDEPLOY_EHOOK, MDEPLOY_ERROR_CLASS_PROVIDER, "haproxy %s: %.600s",
		                        mdeploy_exec_result_describe(r), alert ? alert : outp);
		mdeploy_exec_result_free(r);
		return rc;
	}
	mdeploy_exec_result_free(r);
	t0 = mdeploy__now_ms();
	for (;;) {
		char *reply = NULL;
		if (cli_send(lp, "show info", &reply) == 0) {
			free(reply);
			break;
		}
		if (mdeploy__now_ms() - t0 > 5000)
			return mdeploy__error_set(MDEPLOY_ETIMEOUT, MDEPLOY_ERROR_CLASS_PROVIDER,
			                          "haproxy started but %s does not answer", lp->sock);
		sleep_ms(10);
	}
	mdeploy__log(p->ctx, MDEPLOY_LOG_INFO, "provider", "load balancer started (pid %ld, %s)",
	             read_pid(lp), lp->cfg);
	return 0;
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

/* ---- show stat ---- */

typedef int (*stat_row_cb)(char **hdr, int nh, char **f, int nf, void *payload);

static int field_index(char **hdr, int nh, const char *name);
static int split(char *line, char sep, char **fields, int max);

/* Call `cb` for each server row of the backend in `show stat`. */
static int stat_each(const lb_paths *lp, stat_row_cb cb, void *payload)
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

static const char *str_field(char **hdr, int nh, char **f, int nf, const char *name)
{
	int k = field_index(hdr, nh, name);
	return k >= 0 && k < nf ? f[k] : "";
}

static uint64_t num_field(char **hdr, int nh, char **f, int nf, const char *name)
{
	return strtoull(str_field(hdr, nh, f, nf, name), NULL, 10);
}

/* The counters of a slot that an instance's counters start from. */
typedef struct {
	uint64_t sessions_total, responses_total, responses_5xx, check_failures;
} slot_counters;

static void counters_of(char **hdr, int nh, char **f, int nf, slot_counters *c)
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

static int offset_save(mdeploy_provider *p, const lb_paths *lp, const char *lb, const char *slot,
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
static void offset_load(mdeploy_provider *p, const char *lb, const char *slot, const char *instance, long pid,
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

static uint64_t minus(uint64_t v, uint64_t off)
{
	return v >= off ? v - off : v;
}

/*
 * Let `slot` join in `state` (ready or drain) with weight 0 and its health
 * forced down, and wait until HAProxy shows it down: from there only `rise`
 * passing checks bring it up. Leaving maintenance is processed after the
 * command that asks for it, and would set the health back to "up": so the
 * health goes down only once the slot has left maintenance.
 */
static int join_slot(mdeploy_provider *p, const lb_paths *lp, const char *slot, const char *state)
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
static int hold_slot(const lb_paths *lp, const char *slot)
{
	char cmd[256];
	if (!mdeploy__path_exists(lp->hold))
		return 0;
	snprintf(cmd, sizeof(cmd), "disable health " BACKEND "/%s; set server " BACKEND "/%s health up", slot, slot);
	return cli_change(lp, cmd);
}

/* ---- slots ---- */

typedef struct {
	char name[32];
	char address[64];
	unsigned int port;
	unsigned int admin;
	unsigned int weight;
	char instance[32];  /* "" when no known instance sits there */
} slot;

typedef struct {
	slot *v;
	size_t n;
} slot_list;

static int instance_addr_cb(const mdeploy_instance_info *inst, void *payload)
{
	slot_list *sl = payload;
	size_t i;
	for (i = 0; i < sl->n; i++)
		if (sl->v[i].port == inst->port && !strcmp(sl->v[i].address, inst->address))
			snprintf(sl->v[i].instance, sizeof(sl->v[i].instance), "%s", inst->id);
	return 0;
}

static int field_index(char **hdr, int nh, const char *name)
{
	int i;
	for (i = 0; i < nh; i++)
		if (!strcmp(hdr[i], name))
			return i;
	return -1;
}

/* Split `line` on `sep` in place; returns the count (at most max). */
static int split(char *line, char sep, char **fields, int max)
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

static int load_slots(mdeploy_provider *p, const lb_paths *lp, slot_list *sl)
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
			slot *nv = realloc(sl->v, (sl->n + 1) * sizeof(*nv)), *s;
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

/* HAProxy's SRV_ADMF_* bits: forced/inherited/resolution/hostname maintenance, forced/inherited drain. */
#define ADMIN_MAINT 0x63u
#define ADMIN_DRAIN 0x18u

static const char *admin_state_name(unsigned int admin)
{
	if (admin & ADMIN_MAINT)
		return "maint";
	if (admin & ADMIN_DRAIN)
		return "drain";
	return "ready";
}

static const char *state_word(int state)
{
	return state == MDEPLOY_TARGET_DRAIN ? "drain" : state == MDEPLOY_TARGET_MAINT ? "maint" : "ready";
}

static slot *slot_of(slot_list *sl, const char *instance)
{
	size_t i;
	for (i = 0; i < sl->n; i++)
		if (!strcmp(sl->v[i].instance, instance))
			return &sl->v[i];
	return NULL;
}

int mdeploy_local__lb_register(mdeploy_provider *p, const char *lb, const char *instance,
                               unsigned int weight, mdeploy_target_state state)
{
	lb_paths lp;
	slot_list sl;
	slot *s;
	local_instance li;
	char cmd[512];
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
	}
	joins = (s->admin & ADMIN_MAINT) && state != MDEPLOY_TARGET_MAINT;
	if (joins && (rc = join_slot(p, &lp, s->name, state_word(state))))
		goto out;
	snprintf(cmd, sizeof(cmd), "set weight " BACKEND "/%s %u; set server " BACKEND "/%s state %s",
	         s->name, weight, s->name, state_word(state));
	mdeploy__log(p->ctx, MDEPLOY_LOG_DEBUG, "provider", "lb %s: %s", lb, cmd);
	if (!(rc = cli_change(&lp, cmd)) && joins)
		rc = hold_slot(&lp, s->name);
out:
	free(sl.v);
	if (!rc)
		rc = save_state(&lp);
	return rc;
}

int mdeploy_local__lb_deregister(mdeploy_provider *p, const char *lb, const char *instance)
{
	lb_paths lp;
	slot_list sl;
	slot *s;
	char cmd[512];
	int rc;

	if ((rc = paths(p, lb, &lp)) || (rc = load_slots(p, &lp, &sl)))
		return rc;
	if (!(s = slot_of(&sl, instance))) {
		free(sl.v);
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PROVIDER,
		                          "instance '%s' is not registered with '%s'", instance, lb);
	}
	snprintf(cmd, sizeof(cmd),
	         "set server " BACKEND "/%s state maint; set server " BACKEND "/%s addr 127.0.0.1 port %d",
	         s->name, s->name, FREE_PORT);
	free(sl.v);
	if ((rc = cli_change(&lp, cmd)))
		return rc;
	return save_state(&lp);
}

int mdeploy_local__lb_apply(mdeploy_provider *p, const char *lb, const mdeploy_lb_change *c, size_t n)
{
	lb_paths lp;
	slot_list sl;
	mdeploy__buf cmd = MDEPLOY__BUF_INIT;
	size_t i;
	int rc;

	if ((rc = paths(p, lb, &lp)) || (rc = load_slots(p, &lp, &sl)))
		return rc;
	/* Resolve everything before sending anything. */
	for (i = 0; i < n; i++) {
		slot *s = slot_of(&sl, c[i].instance);
		if (!s) {
			rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PROVIDER,
			                        "instance '%s' is not registered with '%s'", c[i].instance, lb);
			goto out;
		}
		if (c[i].weight >= 0)
			mdeploy__buf_printf(&cmd, "%sset weight " BACKEND "/%s %d", cmd.size ? "; " : "",
			                    s->name, c[i].weight);
		if (c[i].state >= 0)
			mdeploy__buf_printf(&cmd, "%sset server " BACKEND "/%s state %s", cmd.size ? "; " : "",
			                    s->name, state_word(c[i].state));
	}
	/* Targets leaving maintenance join first (down until checked); the rest lands at once. */
	for (i = 0; i < n; i++) {
		slot *s = slot_of(&sl, c[i].instance);
		if ((s->admin & ADMIN_MAINT) && c[i].state >= 0 && c[i].state != MDEPLOY_TARGET_MAINT &&
		    ((rc = join_slot(p, &lp, s->name, state_word(c[i].state))) || (rc = hold_slot(&lp, s->name))))
			goto out;
	}
	if (!cmd.size)
		goto out;
	mdeploy__log(p->ctx, MDEPLOY_LOG_DEBUG, "provider", "lb %s: %s", lb, cmd.ptr);
	if (!(rc = cli_change(&lp, cmd.ptr)))
		rc = save_state(&lp);
out:
	mdeploy__buf_dispose(&cmd);
	free(sl.v);
	return rc;
}

struct targets_ctx {
	mdeploy_provider *p;
	const char *lb;
	slot_list *sl;
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
	slot *s = NULL;
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
	if (tc->cb(&t, tc->payload))
		return mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_CALLBACK, "aborted by callback");
	return 0;
}

int mdeploy_local__lb_targets(mdeploy_provider *p, const char *lb, mdeploy_target_cb cb, void *payload)
{
	lb_paths lp;
	slot_list sl;
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
	slot_list sl;
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
