/*
 * orchestrator.c - blue/green deployments, journal first.
 *
 * A deployment is a fixed sequence of named steps, each with a target (an
 * instance, a fleet, a traffic percentage). Each step is written to the
 * journal before it runs and is idempotent; resume replays the sequence and
 * skips what the journal says is done. What is live is read from the
 * provider (fleets, load balancer targets); what was intended from the
 * journal and the deployment record.
 */
#include "deploy_private.h"
#include "store/store_private.h"

#include <limits.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CLS MDEPLOY_ERROR_CLASS_DEPLOY

static const char *const install_events[] = {
	"ApplicationStop", "DownloadBundle", "BeforeInstall", "Install", "AfterInstall", "ApplicationStart",
};

int mdeploy_deploy_options_init(mdeploy_deploy_options *opts, unsigned int version)
{
	mdeploy_deploy_options def = MDEPLOY_DEPLOY_OPTIONS_INIT;
	int rc;
	if ((rc = mdeploy__options_check(version, MDEPLOY_DEPLOY_OPTIONS_VERSION, "mdeploy_deploy_options")))
		return rc;
	*opts = def;
	opts->version = version;
	return 0;
}

/* ---- group state ---- */

int mdeploy_deploy__value_get(mdeploy_deploy__run *r, const char *name, char **out)
{
	char key[256];
	snprintf(key, sizeof(key), "%s/%s", r->key, name);
	return mdeploy_store_value_get(r->store, key, out);
}

int mdeploy_deploy__value_set(mdeploy_deploy__run *r, const char *name, const char *value)
{
	char key[256];
	snprintf(key, sizeof(key), "%s/%s", r->key, name);
	return mdeploy_store_value_set(r->store, key, value);
}

static int flag_get(mdeploy_store *store, const char *id, const char *name, char **out)
{
	char key[128];
	snprintf(key, sizeof(key), "deployment/%s/%s", id, name);
	return mdeploy_store_value_get(store, key, out);
}

static int flag_set(mdeploy_store *store, const char *id, const char *name, const char *value)
{
	char key[128];
	snprintf(key, sizeof(key), "deployment/%s/%s", id, name);
	return mdeploy_store_value_set(store, key, value);
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* ---- setup ---- */

static void run_dispose(mdeploy_deploy__run *r)
{
	size_t i;
	for (i = 0; i < r->ndone; i++)
		free(r->done[i].key);
	free(r->done);
	mdeploy_provider_free(r->p);
	mdeploy_store_free(r->store);
	memset(r, 0, sizeof(*r));
}

static int run_open(mdeploy_deploy__run *r, mdeploy_ctx *ctx, const mdeploy_config *cfg,
                    const mdeploy_deploy_options *opts, const char *group)
{
	mdeploy_provider_options po = MDEPLOY_PROVIDER_OPTIONS_INIT;
	int rc;

	memset(r, 0, sizeof(*r));
	r->ctx = ctx;
	r->cfg = cfg;
	r->opts = opts;
	if (!mdeploy_config_application_name(cfg))
		return mdeploy__error_set(MDEPLOY_EINVALID, CLS, "%s: application.name is required",
		                          mdeploy_config_path(cfg));
	if (!group)
		return mdeploy__error_set(MDEPLOY_EINVALID, CLS, "no deployment group given");
	if (!(r->g = mdeploy_config_group_find(cfg, group)))
		return MDEPLOY_ENOTFOUND;
	snprintf(r->app, sizeof(r->app), "%s", mdeploy_config_application_name(cfg));
	snprintf(r->lb, sizeof(r->lb), "%s-%s", r->app, r->g->name);
	snprintf(r->lock, sizeof(r->lock), "group/%s/%s", r->app, r->g->name);
	snprintf(r->key, sizeof(r->key), "deploy/%s/%s", r->app, r->g->name);
	if ((rc = mdeploy_store_open(&r->store, ctx, NULL)))
		return rc;
	if ((rc = mdeploy_provider_open(&r->p, ctx, r->store, &po)))
		return rc;
	return 0;
}

static int lock_take(mdeploy_deploy__run *r, const char *owner, unsigned int wait_ms)
{
	mdeploy_lock_options lo = MDEPLOY_LOCK_OPTIONS_INIT;
	mdeploy_lock_info prev;
	int rc;
	lo.owner = owner;
	lo.wait_ms = wait_ms;
	if ((rc = mdeploy_store_lock_acquire(r->store, r->lock, &lo, &prev)))
		return rc;
	if (prev.name[0])
		mdeploy__log(r->ctx, MDEPLOY_LOG_WARN, "deploy",
		             "group %s: took over the lock of '%s' (pid %ld on %s), which is gone",
		             r->g->name, prev.owner, prev.pid, prev.host);
	r->last_beat = mdeploy__now_ms();
	return 0;
}

/* Keep the lock alive and honour stop requests; called in every wait. */
static int beat(mdeploy_deploy__run *r)
{
	char *flag = NULL;
	int rc;
	if (mdeploy__now_ms() - r->last_beat >= 1000) {
		if ((rc = mdeploy_store_lock_heartbeat(r->store, r->lock)))
			return rc;
		r->last_beat = mdeploy__now_ms();
	}
	if (r->id[0] && flag_get(r->store, r->id, "stop", &flag) == 0) {
		free(flag);
		return mdeploy__error_set(MDEPLOY_ECONFLICT, CLS, "deployment %s was stopped on request", r->id);
	}
	mdeploy_error_clear();
	return 0;
}

static int wait_for(mdeploy_deploy__run *r, unsigned int ms)
{
	uint64_t t0 = mdeploy__now_ms();
	int rc;
	while (mdeploy__now_ms() - t0 < ms) {
		if ((rc = beat(r)))
			return rc;
		sleep_ms(ms - (unsigned int)(mdeploy__now_ms() - t0) < 50 ? ms - (unsigned int)(mdeploy__now_ms() - t0) : 50);
	}
	return beat(r);
}

/* ---- the journal ---- */

static int load_done(const mdeploy_journal_entry *e, void *payload)
{
	mdeploy_deploy__run *r = payload;
	done_mark *nd;
	if (strcmp(e->state, "done"))
		return 0;
	if (!(nd = realloc(r->done, (r->ndone + 1) * sizeof(*nd))))
		return 1;
	r->done = nd;
	if (!(r->done[r->ndone].key = mdeploy__sprintf("%s\t%s", e->step, e->target ? e->target : "")))
		return 1;
	r->ndone++;
	return 0;
}

static int is_done(mdeploy_deploy__run *r, const char *step, const char *target)
{
	size_t i, n = strlen(step);
	for (i = 0; i < r->ndone; i++)
		if (!strncmp(r->done[i].key, step, n) && r->done[i].key[n] == '\t' &&
		    !strcmp(r->done[i].key + n + 1, target ? target : ""))
			return 1;
	return 0;
}

typedef int (*step_fn)(mdeploy_deploy__run *r, const char *target, void *arg);

/*
 * Run one step, journal first. Crash tests set MDEPLOY_TEST_CRASH_AT=N to
 * SIGKILL this process right after the N-th journal write.
 */
static int step(mdeploy_deploy__run *r, const char *name, const char *target, step_fn fn, void *arg)
{
	char err[2048];
	int64_t seq = 0;
	int rc, code, klass;
	const char *crash = getenv("MDEPLOY_TEST_CRASH_AT");

	if (is_done(r, name, target))
		return 0;
	if ((rc = beat(r)))
		return rc;
	if ((rc = mdeploy_store_journal_begin(r->store, r->id, name, target, NULL, &seq)))
		return rc;
	r->steps++;
	if (crash && atoi(crash) > 0 && (unsigned int)atoi(crash) == r->steps) {
		fflush(NULL);
		kill(getpid(), SIGKILL);
	}
	mdeploy__log(r->ctx, MDEPLOY_LOG_INFO, "deploy", "%s: %s%s%s", r->id, name, target ? " " : "",
	             target ? target : "");
	mdeploy__progress(r->ctx, "deploy", r->id, "steps", r->steps, 0, 0, 0);
	mdeploy_error_clear();
	rc = fn(r, target, arg);
	code = mdeploy_error_last()->code;
	klass = mdeploy_error_last()->klass;
	snprintf(err, sizeof(err), "%s", rc ? mdeploy_error_last()->message : "");
	if (mdeploy_store_journal_end(r->store, r->id, seq, rc == 0, rc ? err : NULL) && !rc)
		return MDEPLOY_ERROR;
	if (rc) {
		mdeploy__error_set(code ? code : rc, klass, "%s", err);
		return rc;
	}
	{
		done_mark *nd = realloc(r->done, (r->ndone + 1) * sizeof(*nd));
		if (nd) {
			r->done = nd;
			if ((r->done[r->ndone].key = mdeploy__sprintf("%s\t%s", name, target ? target : "")))
				r->ndone++;
		}
	}
	return 0;
}

/* ---- provider helpers ---- */

typedef struct {
	char id[64][32];
	char addr[64][32];
	char root[64][1024];
	int running[64];
	size_t n;
} inst_list;

static int inst_collect(const mdeploy_instance_info *i, void *payload)
{
	inst_list *l = payload;
	if (l->n >= 64)
		return 0;
	snprintf(l->id[l->n], sizeof(l->id[0]), "%s", i->id);
	snprintf(l->addr[l->n], sizeof(l->addr[0]), "%s", i->address);
	snprintf(l->root[l->n], sizeof(l->root[0]), "%s", i->root);
	l->running[l->n] = !strcmp(i->state, "running");
	l->n++;
	return 0;
}

static int instances(mdeploy_deploy__run *r, const char *fleet, inst_list *l)
{
	memset(l, 0, sizeof(*l));
	return mdeploy_instance_foreach(r->p, fleet, inst_collect, l);
}

typedef struct {
	struct {
		char instance[32];
		unsigned int weight;
		char state[8];
		char health[24];
		uint64_t sessions, total, e5xx;
	} t[128];
	size_t n;
} target_list;

static int target_collect(const mdeploy_target_status *t, void *payload)
{
	target_list *l = payload;
	if (l->n >= 128)
		return 0;
	snprintf(l->t[l->n].instance, sizeof(l->t[0].instance), "%s", t->instance);
	snprintf(l->t[l->n].state, sizeof(l->t[0].state), "%s", t->state);
	snprintf(l->t[l->n].health, sizeof(l->t[0].health), "%s", t->health);
	l->t[l->n].weight = t->weight;
	l->t[l->n].sessions = t->sessions;
	l->t[l->n].total = t->responses_total;
	l->t[l->n].e5xx = t->responses_5xx;
	l->n++;
	return 0;
}

static int targets(mdeploy_deploy__run *r, target_list *l)
{
	memset(l, 0, sizeof(*l));
	return mdeploy_lb_targets(r->p, r->lb, target_collect, l);
}

static int in_list(const inst_list *l, const char *id)
{
	size_t i;
	for (i = 0; i < l->n; i++)
		if (!strcmp(l->id[i], id))
			return 1;
	return 0;
}

static int fleet_exists_cb(const mdeploy_fleet_info *f, void *payload)
{
	unsigned int *sizes = payload;
	sizes[0] = f->desired;
	sizes[1] = f->min;
	sizes[2] = f->max;
	return 0;
}

static int fleet_sizes(mdeploy_deploy__run *r, const char *fleet, unsigned int sizes[3])
{
	int rc = mdeploy_fleet_get(r->p, fleet, fleet_exists_cb, sizes);
	if (rc == MDEPLOY_ENOTFOUND)
		mdeploy_error_clear();
	return rc;
}

/* Terminate a fleet after taking its instances out of the load balancer. */
static int retire_fleet(mdeploy_deploy__run *r, const char *fleet)
{
	inst_list l;
	target_list t;
	size_t i, j;
	unsigned int sizes[3];
	int rc;

	if (fleet_sizes(r, fleet, sizes) == MDEPLOY_ENOTFOUND)
		return 0;
	if ((rc = instances(r, fleet, &l)))
		return rc;
	if (mdeploy_lb_running(r->p, r->lb) && targets(r, &t) == 0)
		for (i = 0; i < t.n; i++)
			for (j = 0; j < l.n; j++)
				if (!strcmp(t.t[i].instance, l.id[j]) &&
				    (rc = mdeploy_lb_deregister(r->p, r->lb, l.id[j])))
					return rc;
	return mdeploy_fleet_terminate(r->p, fleet);
}

/* ---- steps ---- */

static int s_lb(mdeploy_deploy__run *r, const char *target, void *arg)
{
	mdeploy_lb_options lo = MDEPLOY_LB_OPTIONS_INIT;
	(void)target; (void)arg;
	lo.bind = r->g->listen;
	lo.slots = r->g->slots;
	lo.health_path = r->g->health_path;
	lo.health_status = r->g->health_status;
	lo.health_interval_ms = r->g->health_interval_ms;
	lo.health_timeout_ms = r->g->health_timeout_ms;
	lo.healthy_threshold = r->g->healthy_threshold;
	lo.unhealthy_threshold = r->g->unhealthy_threshold;
	lo.tls_cert = r->g->tls_certificate;
	return mdeploy_lb_ensure(r->p, r->lb, &lo);
}

static int s_create(mdeploy_deploy__run *r, const char *target, void *arg)
{
	mdeploy_fleet_options fo = MDEPLOY_FLEET_OPTIONS_INIT;
	unsigned int sizes[3] = { r->g->size, r->g->min, r->g->max }, have[3];
	inst_list l;
	char tags[512];
	int rc;
	(void)arg;

	/* Green is a copy of blue's size; a first fleet takes the group's. */
	if (r->blue[0] && fleet_sizes(r, r->blue, sizes) != 0)
		memcpy(sizes, (unsigned int[3]){ r->g->size, r->g->min, r->g->max }, sizeof(sizes));
	if (fleet_sizes(r, target, have) == 0) {
		/* A crash during creation: keep a complete fleet, redo a partial one. */
		if ((rc = instances(r, target, &l)))
			return rc;
		if (l.n == have[0])
			return 0;
		if ((rc = retire_fleet(r, target)))
			return rc;
	}
	fo.desired = sizes[0];
	fo.min = sizes[1];
	fo.max = sizes[2];
	fo.port = r->g->port;
	fo.start = 0;
	snprintf(tags, sizeof(tags), "{\"application\":\"%s\",\"group\":\"%s\",\"deployment\":\"%s\"}",
	         r->app, r->g->name, r->id);
	fo.tags = tags;
	return mdeploy_fleet_create(r->p, target, &fo);
}

static void agent_deployment(mdeploy_deploy__run *r, mdeploy_agent_deployment *d, const char *id,
                             const char *addr, char *group_id, size_t n, int once)
{
	mdeploy_agent_deployment def = MDEPLOY_AGENT_DEPLOYMENT_INIT;
	snprintf(group_id, n, "dg-%s-%s", r->app, r->g->name);
	*d = def;
	d->deployment_id = r->id;
	d->application_name = r->app;
	d->deployment_group_name = r->g->name;
	d->deployment_group_id = group_id;
	d->instance_id = id;
	d->instance_addr = addr;
	d->run_once_hooks = once;
}

struct install_arg { const char *root, *addr; int once; };

static int s_install(mdeploy_deploy__run *r, const char *target, void *arg)
{
	struct install_arg *ia = arg;
	mdeploy_agent_options ao = MDEPLOY_AGENT_OPTIONS_INIT;
	mdeploy_agent_deployment d;
	mdeploy_agent *agent = NULL;
	char gid[160];
	size_t i;
	int rc;

	ao.ctx = r->ctx;
	ao.trusted_keys = r->opts ? r->opts->trusted_keys : NULL;
	if ((rc = mdeploy_agent_open(&agent, ia->root, &ao)))
		return rc;
	agent_deployment(r, &d, target, ia->addr, gid, sizeof(gid), ia->once);
	if (mdeploy_agent_last_successful(agent) && !strcmp(mdeploy_agent_last_successful(agent), r->id)) {
		/* Installed and validated before a crash: make sure it serves. */
		rc = mdeploy_instance_start(r->p, target);
		mdeploy_agent_free(agent);
		return rc;
	}
	for (i = 0; i < MDEPLOY__ARRAY_SIZE(install_events) && !rc; i++) {
		rc = mdeploy_agent_run_event(agent, install_events[i], i == 1 ? r->bundle : NULL, &d);
		if (rc)
			mdeploy__error_prefix("instance %s", target);
	}
	/* The provider runs the server: (re)start it on the new release, then validate. */
	if (!rc && (rc = mdeploy_instance_restart(r->p, target)) == 0) {
		rc = mdeploy_agent_run_event(agent, "ValidateService", NULL, &d);
		if (rc)
			mdeploy__error_prefix("instance %s", target);
	}
	mdeploy_agent_free(agent);
	return rc;
}

static int s_register(mdeploy_deploy__run *r, const char *target, void *arg)
{
	target_list t;
	size_t i;
	int rc;
	(void)arg;
	if ((rc = targets(r, &t)))
		return rc;
	for (i = 0; i < t.n; i++)
		if (!strcmp(t.t[i].instance, target))
			return 0; /* registered before a crash, and maybe already weighted */
	return mdeploy_lb_register(r->p, r->lb, target, 0, MDEPLOY_TARGET_READY);
}

/* Wait until every target of `fleet` passes the load balancer's health checks. */
static int wait_healthy(mdeploy_deploy__run *r, const char *fleet)
{
	unsigned int limit = r->g->health_interval_ms * (r->g->healthy_threshold + 2) +
	                     r->g->health_timeout_ms + 10000;
	uint64_t t0 = mdeploy__now_ms();
	inst_list l;
	target_list t;
	size_t i, up, want;
	int rc;

	if ((rc = instances(r, fleet, &l)))
		return rc;
	for (;;) {
		if ((rc = targets(r, &t)))
			return rc;
		for (i = up = want = 0; i < t.n; i++) {
			if (!in_list(&l, t.t[i].instance))
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
		if ((rc = wait_for(r, 50)))
			return rc;
	}
}

static int s_health(mdeploy_deploy__run *r, const char *target, void *arg)
{
	(void)arg;
	return wait_healthy(r, target);
}

static int s_promote(mdeploy_deploy__run *r, const char *target, void *arg)
{
	char *flag = NULL;
	int rc;
	(void)target; (void)arg;
	mdeploy_store_deployment_set_status(r->store, r->id, "Ready", NULL);
	mdeploy__log(r->ctx, MDEPLOY_LOG_INFO, "deploy", "%s: green fleet %s is ready; waiting for 'mdeploy deploy promote %s'",
	             r->id, r->green, r->id);
	while (flag_get(r->store, r->id, "promote", &flag) != 0) {
		if ((rc = wait_for(r, 100)))
			return rc;
	}
	free(flag);
	mdeploy_error_clear();
	return mdeploy_store_deployment_set_status(r->store, r->id, "InProgress", NULL);
}

/* Sum green's response counters now. */
static int green_counters(mdeploy_deploy__run *r, const inst_list *green, uint64_t *total, uint64_t *e5xx,
                          unsigned int *unhealthy)
{
	target_list t;
	size_t i;
	int rc;
	*total = *e5xx = 0;
	*unhealthy = 0;
	if ((rc = targets(r, &t)))
		return rc;
	for (i = 0; i < t.n; i++) {
		if (!in_list(green, t.t[i].instance))
			continue;
		*total += t.t[i].total;
		*e5xx += t.t[i].e5xx;
		if (strncmp(t.t[i].health, "UP", 2) && strcmp(t.t[i].health, "DRAIN"))
			(*unhealthy)++;
	}
	return 0;
}

/* 0: quiet; MDEPLOY_ECONFLICT with the alarm in the message when one fired. */
static int check_alarms(mdeploy_deploy__run *r, const inst_list *green)
{
	uint64_t total, e5xx;
	unsigned int unhealthy;
	int rc;

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
static int watch(mdeploy_deploy__run *r, unsigned int ms)
{
	uint64_t t0 = mdeploy__now_ms();
	inst_list green;
	int rc;
	if ((rc = instances(r, r->green, &green)))
		return rc;
	for (;;) {
		if ((rc = check_alarms(r, &green)))
			return rc;
		if (mdeploy__now_ms() - t0 >= ms)
			return 0;
		if ((rc = wait_for(r, 100)))
			return rc;
	}
}

/*
 * Weights that send `pct` percent to green: per-instance weights in
 * 0..256 such that G*wg / (G*wg + B*wb) = pct/100.
 */
static void shift_weights(unsigned int pct, size_t nb, size_t ng, unsigned int *wb, unsigned int *wg)
{
	unsigned long long a = (unsigned long long)pct * nb, b = (unsigned long long)(100 - pct) * ng;
	unsigned long long k = a > b ? a : b;
	if (!nb || pct >= 100) {
		*wg = 100;
		*wb = 0;
		return;
	}
	if (!ng || pct == 0) {
		*wg = 0;
		*wb = 100;
		return;
	}
	*wg = (unsigned int)((a * 256 + k / 2) / k);
	*wb = (unsigned int)((b * 256 + k / 2) / k);
}

/* Point traffic: `pct` percent to fleet `to`, the rest to `from` (may be ""). One round trip. */
static int apply_split(mdeploy_deploy__run *r, const char *from, const char *to, unsigned int pct)
{
	inst_list lf, lt;
	target_list t;
	mdeploy_lb_change ch[128];
	size_t i, n = 0, nf = 0, nt = 0;
	unsigned int wf, wt;
	int rc, pass;

	memset(&lf, 0, sizeof(lf));
	if ((from[0] && (rc = instances(r, from, &lf))) || (rc = instances(r, to, &lt)) || (rc = targets(r, &t)))
		return rc;
	for (i = 0; i < t.n; i++) {
		nf += in_list(&lf, t.t[i].instance);
		nt += in_list(&lt, t.t[i].instance);
	}
	shift_weights(pct, nf, nt, &wf, &wt);
	/*
	 * The fleet that gains goes first: HAProxy applies the commands in
	 * order, and lowering the other fleet first would leave a moment with
	 * no weight anywhere (503s).
	 */
	for (pass = 0; pass < 2; pass++) {
		const inst_list *fl = pass == 0 ? &lt : &lf;
		unsigned int w = pass == 0 ? wt : wf;
		for (i = 0; i < t.n && n < 128; i++) {
			size_t j;
			for (j = 0; j < fl->n; j++) {
				if (strcmp(fl->id[j], t.t[i].instance))
					continue;
				ch[n].instance = fl->id[j];
				ch[n].weight = (int)w;
				ch[n].state = MDEPLOY_TARGET_READY;
				n++;
			}
		}
	}
	if (nt == 0 && pct > 0)
		return mdeploy__error_set(MDEPLOY_ECONFLICT, CLS, "fleet %s has no registered instance", to);
	{
		uint64_t t0 = mdeploy__now_ms();
		rc = mdeploy_lb_apply(r->p, r->lb, ch, n);
		mdeploy__log(r->ctx, MDEPLOY_LOG_INFO, "deploy", "%s: %u%% of traffic to %s (weights %u/%u) applied in %llu ms",
		             r->id, pct, to, wt, wf, (unsigned long long)(mdeploy__now_ms() - t0));
	}
	return rc;
}

static int s_shift(mdeploy_deploy__run *r, const char *target, void *arg)
{
	unsigned int pct = (unsigned int)atoi(target);
	int rc;
	(void)arg;
	if ((rc = apply_split(r, r->blue, r->green, pct)))
		return rc;
	if (pct < 100)
		return watch(r, r->g->traffic_interval_ms);
	return 0;
}

static int s_watch(mdeploy_deploy__run *r, const char *target, void *arg)
{
	(void)target; (void)arg;
	return watch(r, r->g->alarm_window_ms);
}

/* Drain a fleet's targets: no new requests; wait for sessions to end (or the timeout). */
static int drain_fleet(mdeploy_deploy__run *r, const char *fleet)
{
	inst_list l;
	target_list t;
	mdeploy_lb_change ch[128];
	size_t i, j, n = 0;
	uint64_t t0, sessions;
	int rc;

	if ((rc = instances(r, fleet, &l)) || (rc = targets(r, &t)))
		return rc;
	for (i = 0; i < t.n && n < 128; i++)
		for (j = 0; j < l.n; j++)
			if (!strcmp(t.t[i].instance, l.id[j])) {
				ch[n].instance = l.id[j];
				ch[n].weight = 0;
				ch[n].state = MDEPLOY_TARGET_DRAIN;
				n++;
			}
	if ((rc = mdeploy_lb_apply(r->p, r->lb, ch, n)))
		return rc;
	t0 = mdeploy__now_ms();
	for (;;) {
		if ((rc = targets(r, &t)))
			return rc;
		for (i = 0, sessions = 0; i < t.n; i++)
			if (in_list(&l, t.t[i].instance))
				sessions += t.t[i].sessions;
		if (sessions == 0)
			return 0;
		if (mdeploy__now_ms() - t0 > r->g->drain_timeout_ms) {
			mdeploy__log(r->ctx, MDEPLOY_LOG_WARN, "deploy", "%s: %s still has %llu sessions after %u ms; going on",
			             r->id, fleet, (unsigned long long)sessions, r->g->drain_timeout_ms);
			return 0;
		}
		if ((rc = wait_for(r, 50)))
			return rc;
	}
}

static int s_drain(mdeploy_deploy__run *r, const char *target, void *arg)
{
	(void)arg;
	return drain_fleet(r, target);
}

/* Retained fleet value: "fleet\tuntil_ms\tbundle". */
static int retained_get(mdeploy_deploy__run *r, char *fleet, size_t nf, int64_t *until, char *bundle, size_t nb)
{
	char *v = NULL, *t1, *t2;
	if (mdeploy_deploy__value_get(r, "retained", &v)) {
		mdeploy_error_clear();
		return MDEPLOY_ENOTFOUND;
	}
	t1 = strchr(v, '\t');
	t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
	if (!t1 || !t2) {
		free(v);
		return MDEPLOY_ENOTFOUND;
	}
	snprintf(fleet, nf, "%.*s", (int)(t1 - v), v);
	*until = strtoll(t1 + 1, NULL, 10);
	snprintf(bundle, nb, "%s", t2 + 1);
	free(v);
	return 0;
}

static int retained_set(mdeploy_deploy__run *r, const char *fleet, int64_t until, const char *bundle)
{
	char *v;
	int rc;
	if (!fleet)
		return mdeploy_deploy__value_set(r, "retained", NULL);
	if (!(v = mdeploy__sprintf("%s\t%lld\t%s", fleet, (long long)until, bundle ? bundle : "")))
		return mdeploy__error_oom();
	rc = mdeploy_deploy__value_set(r, "retained", v);
	free(v);
	return rc;
}

static int s_finish(mdeploy_deploy__run *r, const char *target, void *arg)
{
	char old[128], oldb[4096], *live_bundle = NULL;
	int64_t until;
	int rc;
	(void)target; (void)arg;

	/* Only one fleet is kept warm: an older retained one goes now. */
	if (retained_get(r, old, sizeof(old), &until, oldb, sizeof(oldb)) == 0 && strcmp(old, r->blue) &&
	    strcmp(old, r->green)) {
		if ((rc = retire_fleet(r, old)))
			return rc;
	}
	if (mdeploy_deploy__value_get(r, "live_bundle", &live_bundle))
		mdeploy_error_clear();
	if ((rc = mdeploy_deploy__value_set(r, "live", r->green)) ||
	    (rc = mdeploy_deploy__value_set(r, "live_bundle", r->bundle)) ||
	    (rc = mdeploy_deploy__value_set(r, "live_deployment", r->id)))
		goto out;
	if (live_bundle && strcmp(live_bundle, r->bundle) && (rc = mdeploy_deploy__value_set(r, "previous_bundle", live_bundle)))
		goto out;
	if (r->blue[0] && strcmp(r->blue, r->green)) {
		if (r->g->blue_retention_ms == 0) {
			if ((rc = retire_fleet(r, r->blue)) || (rc = retained_set(r, NULL, 0, NULL)))
				goto out;
		} else if ((rc = retained_set(r, r->blue, mdeploy_store__unix_ms() + r->g->blue_retention_ms, live_bundle))) {
			goto out;
		}
	} else if (!r->blue[0]) {
		retained_set(r, NULL, 0, NULL);
	}
out:
	free(live_bundle);
	return rc;
}

static int s_rollback_traffic(mdeploy_deploy__run *r, const char *target, void *arg)
{
	(void)target; (void)arg;
	if (!r->blue[0])
		return 0;
	return apply_split(r, r->green, r->blue, 100);
}

static int s_retire(mdeploy_deploy__run *r, const char *target, void *arg)
{
	(void)arg;
	if (r->opts && r->opts->keep_failed) {
		/* Kept for inspection: out of the load balancer, still running. */
		inst_list l;
		target_list t;
		size_t i;
		int rc;
		if ((rc = instances(r, target, &l)) || (rc = targets(r, &t)))
			return rc;
		for (i = 0; i < t.n; i++)
			if (in_list(&l, t.t[i].instance) && (rc = mdeploy_lb_deregister(r->p, r->lb, t.t[i].instance)))
				return rc;
		return 0;
	}
	return retire_fleet(r, target);
}

static int s_retire_retained(mdeploy_deploy__run *r, const char *target, void *arg)
{
	int rc;
	(void)arg;
	if ((rc = retire_fleet(r, target)))
		return rc;
	return retained_set(r, NULL, 0, NULL);
}

/* Expired retained fleets go when the next command touches the group. */
static int cleanup_expired(mdeploy_deploy__run *r, size_t *terminated)
{
	char fleet[128], bundle[4096], live[128] = "", *v = NULL;
	int64_t until;
	int rc;
	if (retained_get(r, fleet, sizeof(fleet), &until, bundle, sizeof(bundle)) != 0)
		return 0;
	if (until > mdeploy_store__unix_ms())
		return 0;
	if (mdeploy_deploy__value_get(r, "live", &v) == 0) {
		snprintf(live, sizeof(live), "%s", v);
		free(v);
	}
	mdeploy_error_clear();
	if (!strcmp(live, fleet))
		return retained_set(r, NULL, 0, NULL);
	mdeploy__log(r->ctx, MDEPLOY_LOG_INFO, "deploy", "group %s: retention of %s is over; terminating it",
	             r->g->name, fleet);
	if ((rc = retire_fleet(r, fleet)))
		return rc;
	if (terminated)
		(*terminated)++;
	return retained_set(r, NULL, 0, NULL);
}

static int cleanup_group(mdeploy_ctx *ctx, const mdeploy_config *cfg, const char *group, size_t *terminated)
{
	mdeploy_deploy_options opts = MDEPLOY_DEPLOY_OPTIONS_INIT;
	mdeploy_deploy__run r;
	mdeploy_lock_info li;
	int rc;
	if ((rc = run_open(&r, ctx, cfg, &opts, group)))
		goto out;
	/* Never take over the lock of a crashed deployment: resume does that, with its journal. */
	if (mdeploy_store_lock_get(r.store, r.lock, &li) == 0) {
		rc = mdeploy__error_set(MDEPLOY_ELOCKED, CLS, "group %s is locked by %s (pid %ld on %s)", group,
		                        li.owner, li.pid, li.host);
		goto out;
	}
	mdeploy_error_clear();
	if ((rc = lock_take(&r, "cleanup", 0)) == 0) {
		rc = cleanup_expired(&r, terminated);
		mdeploy_store_lock_release(r.store, r.lock);
	}
out:
	run_dispose(&r);
	return rc;
}

int mdeploy_deploy_retained(mdeploy_ctx *ctx, const char *application, const char *group, char fleet[128],
                            int64_t *until_ms)
{
	mdeploy_deploy__run r;
	char bundle[8];
	int rc;
	fleet[0] = '\0';
	*until_ms = 0;
	if (!ctx || !application || !group)
		return mdeploy__error_set(MDEPLOY_EINVALID, CLS, "context, application and group are required");
	memset(&r, 0, sizeof(r));
	snprintf(r.key, sizeof(r.key), "deploy/%s/%s", application, group);
	if ((rc = mdeploy_store_open(&r.store, ctx, NULL)))
		return rc;
	rc = retained_get(&r, fleet, 128, until_ms, bundle, sizeof(bundle));
	mdeploy_store_free(r.store);
	return rc;
}

int mdeploy_deploy_cleanup(mdeploy_ctx *ctx, const mdeploy_config *cfg, const char *group, size_t *terminated)
{
	size_t i;
	int rc;
	if (terminated)
		*terminated = 0;
	if (!ctx || !cfg)
		return mdeploy__error_set(MDEPLOY_EINVALID, CLS, "context and configuration are required");
	if (group) {
		if (!mdeploy_config_group_find(cfg, group))
			return mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS, "%s: no deployment group '%s'",
			                          mdeploy_config_path(cfg), group);
		return cleanup_group(ctx, cfg, group, terminated);
	}
	for (i = 0; i < mdeploy_config_group_count(cfg); i++) {
		rc = cleanup_group(ctx, cfg, mdeploy_config_group_at(cfg, i)->name, terminated);
		/* A group busy with a deployment cleans up after itself. */
		if (rc == MDEPLOY_ELOCKED)
			mdeploy_error_clear();
		else if (rc)
			return rc;
	}
	return 0;
}

/* ---- the flow ---- */

static int inplace_revert(mdeploy_deploy__run *r);
static int s_moodle_cli(mdeploy_deploy__run *r, const char *target, void *arg);

/*
 * Release the group lock without losing the error that made us give up:
 * releasing touches the store, which may overwrite the thread's last error.
 */
static void unlock_keep_error(mdeploy_deploy__run *r, int rc)
{
	char msg[2048];
	int code = mdeploy_error_last()->code, klass = mdeploy_error_last()->klass;

	snprintf(msg, sizeof(msg), "%s", mdeploy_error_last()->message);
	mdeploy_store_lock_release(r->store, r->lock);
	if (rc)
		mdeploy__error_set(code ? code : rc, klass, "%s", msg);
	else
		mdeploy_error_clear();
}

static int rollback(mdeploy_deploy__run *r, const char *why)
{
	int rc;
	char msg[2048];
	snprintf(msg, sizeof(msg), "%s", why);
	mdeploy__log(r->ctx, MDEPLOY_LOG_WARN, "deploy", "%s: rolling back: %s", r->id, msg);
	/* A stop request must not stop the rollback itself. */
	flag_set(r->store, r->id, "stop", NULL);
	if (r->blue[0] && !strcmp(r->blue, r->green)) {
		if ((rc = inplace_revert(r)))
			return rc;
	} else if ((rc = step(r, "rollback-traffic", r->blue[0] ? r->blue : "-", s_rollback_traffic, NULL)) ||
	           (is_done(r, "maintenance-on", r->blue) && !is_done(r, "maintenance-off", r->green) &&
	            (rc = step(r, "rollback-maintenance-off", r->blue, s_moodle_cli, (void *)"maintenance-off"))) ||
	           (rc = step(r, "retire-green", r->green, s_retire, NULL))) {
		mdeploy_store_deployment_set_status(r->store, r->id, "Failed", mdeploy_error_last()->message);
		return rc;
	}
	mdeploy_store_deployment_set_status(r->store, r->id, "RolledBack", msg);
	mdeploy__error_set(MDEPLOY_EHOOK, CLS, "deployment %s rolled back: %s", r->id, msg);
	return MDEPLOY_EHOOK;
}

static int is_rollback_journal(const mdeploy_journal_entry *e, void *payload)
{
	if (!strncmp(e->step, "rollback", 8) || !strcmp(e->step, "retire-green"))
		*(int *)payload = 1;
	return 0;
}

/* Count one install result. */
static void tally(mdeploy_deploy__run *r, const inst_list *l, size_t i, const int *res, char (*msg)[1024],
                  unsigned int *succeeded, int *last_failed_only, char *err, size_t nerr)
{
	if (res[i] == 0) {
		(*succeeded)++;
		*last_failed_only = 0;
		return;
	}
	if (!err[0])
		snprintf(err, nerr, "%s", msg[i]);
	*last_failed_only = i + 1 == l->n && *succeeded == i;
	mdeploy__log(r->ctx, MDEPLOY_LOG_WARN, "deploy", "%s", msg[i]);
}

/*
 * Moodle's own CLI on the first running instance of fleet `target`:
 * maintenance on or off (a shared dataroot makes it apply to every fleet),
 * or purging caches (theme and JavaScript revisions bumped). A release
 * without the script (not a Moodle tree) skips it.
 */
static int s_moodle_cli(mdeploy_deploy__run *r, const char *target, void *arg)
{
	const char *what = arg;
	const char *script = !strcmp(what, "purge-caches") ? "admin/cli/purge_caches.php" : "admin/cli/maintenance.php";
	const char *flag = !strcmp(what, "maintenance-on") ? "--enable" : !strcmp(what, "maintenance-off") ? "--disable" : NULL;
	mdeploy_exec_options eo = MDEPLOY_EXEC_OPTIONS_INIT;
	mdeploy_exec_result *res = NULL;
	inst_list l;
	char cwd[1100], path[1200];
	size_t i;
	int rc;

	if ((rc = instances(r, target, &l)))
		return rc;
	for (i = 0; i < l.n && !l.running[i]; i++)
		;
	if (i == l.n)
		return mdeploy__error_set(MDEPLOY_ECONFLICT, CLS, "fleet %s has no running instance for %s", target, what);
	snprintf(cwd, sizeof(cwd), "%s/current", l.root[i]);
	snprintf(path, sizeof(path), "%s/%s", cwd, script);
	if (!mdeploy__path_exists(path)) {
		mdeploy__log(r->ctx, MDEPLOY_LOG_WARN, "deploy", "%s: %s: no %s in the release; skipped", r->id, what, script);
		return 0;
	}
	{
		const char *argv[] = { "php", script, flag ? flag : NULL, NULL };
		eo.cwd = cwd;
		eo.search_path = 1;
		eo.merge_stderr = 1;
		eo.timeout_ms = 600000;
		if ((rc = mdeploy_exec_run(&res, argv, &eo)))
			return rc;
	}
	if (!mdeploy_exec_result_success(res))
		rc = mdeploy__error_set(MDEPLOY_EHOOK, CLS, "%s on %s: php %s %s %s: %.400s", what, l.id[i], script,
		                        flag ? flag : "", mdeploy_exec_result_describe(res), mdeploy_exec_result_stdout(res, NULL));
	mdeploy_exec_result_free(res);
	return rc;
}

/*
 * Install on instances [from, to) at once, one worker process each, as
 * CodeDeploy deploys a batch in parallel. Every step is journaled by this
 * process before its worker starts; a worker opens its own connections (an
 * SQLite handle must not cross fork()). res[i] gets 0 or the error code and
 * msg[i] the message.
 */
static int install_batch(mdeploy_deploy__run *r, const inst_list *l, size_t from, size_t to,
                         size_t once_index, int *res, char (*msg)[1024])
{
	pid_t pids[64];
	int fds[64];
	int64_t seqs[64];
	size_t i, k;
	int rc = 0;
	const char *crash = getenv("MDEPLOY_TEST_CRASH_AT");

	for (i = from; i < to; i++) {
		k = i - from;
		pids[k] = 0;
		fds[k] = -1;
		res[i] = 0;
		msg[i][0] = '\0';
		if (is_done(r, "install", l->id[i]))
			continue;
		if ((rc = beat(r)) || (rc = mdeploy_store_journal_begin(r->store, r->id, "install", l->id[i], NULL, &seqs[k])))
			break;
		r->steps++;
		if (crash && atoi(crash) > 0 && (unsigned int)atoi(crash) == r->steps) {
			fflush(NULL);
			kill(getpid(), SIGKILL);
		}
		mdeploy__log(r->ctx, MDEPLOY_LOG_INFO, "deploy", "%s: install %s", r->id, l->id[i]);
		{
			int pfd[2];
			if (pipe(pfd) != 0) {
				rc = mdeploy__error_os(CLS, "pipe");
				break;
			}
			fflush(NULL);
			pids[k] = fork();
			if (pids[k] < 0) {
				close(pfd[0]);
				close(pfd[1]);
				pids[k] = 0;
				rc = mdeploy__error_os(CLS, "fork");
				break;
			}
			if (pids[k] == 0) {
				mdeploy_deploy__run c = *r;
				mdeploy_provider_options po = MDEPLOY_PROVIDER_OPTIONS_INIT;
				struct install_arg ia;
				const char *m;
				int crc;
				close(pfd[0]);
				c.done = NULL;
				c.ndone = 0;
				c.store = NULL;
				c.p = NULL;
				ia.root = l->root[i];
				ia.addr = l->addr[i];
				ia.once = i == once_index;
				mdeploy_error_clear();
				crc = mdeploy_store_open(&c.store, r->ctx, NULL);
				if (!crc)
					crc = mdeploy_provider_open(&c.p, r->ctx, c.store, &po);
				if (!crc)
					crc = s_install(&c, l->id[i], &ia);
				m = crc ? mdeploy_error_last()->message : "";
				if (write(pfd[1], &crc, sizeof(crc)) != (ssize_t)sizeof(crc) ||
				    write(pfd[1], m, strlen(m)) < 0)
					_exit(3);
				_exit(crc ? 1 : 0);
			}
			close(pfd[1]);
			fds[k] = pfd[0];
		}
	}
	/* Collect every worker started, even after an error. */
	for (i = from; i < to; i++) {
		int code = MDEPLOY_EHOOK, st;
		ssize_t n;
		size_t len = 0;
		k = i - from;
		if (!pids[k])
			continue;
		if (read(fds[k], &code, sizeof(code)) != (ssize_t)sizeof(code))
			code = MDEPLOY_EHOOK;
		while (len + 1 < sizeof(msg[0]) && (n = read(fds[k], msg[i] + len, sizeof(msg[0]) - 1 - len)) > 0)
			len += (size_t)n;
		msg[i][len] = '\0';
		close(fds[k]);
		waitpid(pids[k], &st, 0);
		if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0) && code == 0)
			code = MDEPLOY_EHOOK;
		if (code && !msg[i][0])
			snprintf(msg[i], sizeof(msg[0]), "instance %s: the install worker died", l->id[i]);
		res[i] = code;
		mdeploy_store_journal_end(r->store, r->id, seqs[k], code == 0, code ? msg[i] : NULL);
		if (code == 0) {
			done_mark *nd = realloc(r->done, (r->ndone + 1) * sizeof(*nd));
			if (nd) {
				r->done = nd;
				if ((r->done[r->ndone].key = mdeploy__sprintf("install\t%s", l->id[i])))
					r->ndone++;
			}
		}
	}
	return rc;
}

static int blue_green(mdeploy_deploy__run *r)
{
	mdeploy_deployment_config *c = (mdeploy_deployment_config *)&r->g->config;
	inst_list l;
	int ires[64];
	char (*imsg)[1024] = NULL;
	int gate = r->upgrade && r->blue[0];
	unsigned int pcts[101], npct = 0, pct, succeeded = 0;
	size_t i;
	int rc, last_failed_only = 0;
	char err[2048] = "", stop[16] = "", *flag = NULL;

	if (flag_get(r->store, r->id, "stop", &flag) == 0) {
		snprintf(stop, sizeof(stop), "%s", flag);
		free(flag);
	}
	mdeploy_error_clear();
	{
		int rolling = 0;
		mdeploy_store_journal_foreach(r->store, r->id, is_rollback_journal, &rolling);
		if (rolling || !strcmp(stop, "rollback"))
			return rollback(r, rolling ? "resumed an interrupted rollback" : "stopped on request");
	}
	mdeploy_store_deployment_set_status(r->store, r->id, "InProgress", NULL);

	if ((rc = step(r, "load-balancer", r->lb, s_lb, NULL)))
		goto failed;
	{
		/* An older retained fleet goes early when green needs its load balancer slots. */
		char old[128], oldb[4096];
		unsigned int sizes[3] = { r->g->size, r->g->min, r->g->max };
		int64_t until;
		target_list t;
		if (retained_get(r, old, sizeof(old), &until, oldb, sizeof(oldb)) == 0 && strcmp(old, r->blue) &&
		    strcmp(old, r->green) && !is_done(r, "create-fleet", r->green)) {
			if (r->blue[0])
				fleet_sizes(r, r->blue, sizes);
			if ((rc = targets(r, &t)))
				goto failed;
			if (t.n + sizes[0] > r->g->slots && (rc = step(r, "retire-retained", old, s_retire_retained, NULL)))
				goto failed;
		}
	}
	if ((rc = step(r, "create-fleet", r->green, s_create, NULL)))
		goto failed;
	if ((rc = instances(r, r->green, &l)))
		goto failed;
	{
		/* Batches as wide as the deployment configuration allows, in parallel. */
		unsigned int width = 1;
		size_t k;
		if (mdeploy_deployment_config_plan(c, (unsigned int)l.n, NULL, &width) || width == 0)
			width = 1;
		if (width > 32)
			width = 32;
		if (!(imsg = calloc(64, sizeof(*imsg)))) {
			rc = mdeploy__error_oom();
			goto failed;
		}
		/*
		 * The Moodle upgrade gate: with a database upgrade, no green instance
		 * runs the `scope: once` (upgrade) hooks until maintenance is on;
		 * the first instance is then installed last, with them.
		 */
		for (k = gate ? 1 : 0; k < l.n; k += width) {
			size_t end = k + width < l.n ? k + width : l.n;
			if ((rc = install_batch(r, &l, k, end, gate ? (size_t)-1 : 0, ires, imsg)))
				goto failed;
			for (i = k; i < end; i++)
				tally(r, &l, i, ires, imsg, &succeeded, &last_failed_only, err, sizeof(err));
		}
		if (gate && l.n > 0) {
			if ((rc = step(r, "maintenance-on", r->blue, s_moodle_cli, (void *)"maintenance-on")))
				goto failed;
			if ((rc = install_batch(r, &l, 0, 1, 0, ires, imsg)))
				goto failed;
			tally(r, &l, 0, ires, imsg, &succeeded, &last_failed_only, err, sizeof(err));
		}
		free(imsg);
		imsg = NULL;
	}
	if (!mdeploy_deployment_config_succeeded(c, (unsigned int)l.n, succeeded, last_failed_only)) {
		rc = mdeploy__error_set(MDEPLOY_EHOOK, CLS, "%u of %zu instances succeeded, %s needs more: %s",
		                        succeeded, l.n, c->name, err);
		goto failed;
	}
	for (i = 0; i < l.n; i++) {
		if (!is_done(r, "install", l.id[i]))
			continue; /* failed: not put behind the load balancer */
		if ((rc = step(r, "register", l.id[i], s_register, NULL)))
			goto failed;
	}
	if ((rc = step(r, "health", r->green, s_health, NULL)))
		goto failed;
	if (r->g->manual_promotion && r->blue[0] && (rc = step(r, "promote", r->green, s_promote, NULL)))
		goto failed;
	/* After a database upgrade the old code cannot serve: all at once. */
	if (gate) {
		;
	} else if (r->g->traffic == MDEPLOY_TRAFFIC_CANARY && r->blue[0]) {
		pcts[npct++] = r->g->traffic_percent;
	} else if (r->g->traffic == MDEPLOY_TRAFFIC_LINEAR && r->blue[0]) {
		for (pct = r->g->traffic_percent; pct < 100; pct += r->g->traffic_percent)
			pcts[npct++] = pct;
	}
	pcts[npct++] = 100;
	for (i = 0; i < npct; i++) {
		char t[8];
		snprintf(t, sizeof(t), "%u", pcts[i]);
		if ((rc = step(r, "shift", t, s_shift, NULL)))
			goto failed;
	}
	if (gate && ((rc = step(r, "maintenance-off", r->green, s_moodle_cli, (void *)"maintenance-off")) ||
	             (rc = step(r, "purge-caches", r->green, s_moodle_cli, (void *)"purge-caches"))))
		goto failed;
	if ((rc = step(r, "watch", r->green, s_watch, NULL)))
		goto failed;
	if (r->blue[0] && (rc = step(r, "drain-blue", r->blue, s_drain, NULL)))
		goto failed;
	if ((rc = step(r, "finish", r->green, s_finish, NULL)))
		goto failed;
	mdeploy_store_deployment_set_status(r->store, r->id, "Succeeded", NULL);
	mdeploy__progress(r->ctx, "deploy", r->id, "steps", r->steps, r->steps, 0, 1);
	mdeploy__log(r->ctx, MDEPLOY_LOG_INFO, "deploy", "%s: %s is live on %s", r->id, r->bundle, r->green);
	return 0;

failed:
	free(imsg);
	{
		const mdeploy_error *e = mdeploy_error_last();
		char msg[2048];
		int code = e->code ? e->code : rc;
		int is_stop = code == MDEPLOY_ECONFLICT && strstr(e->message, "stopped");
		int is_alarm = code == MDEPLOY_ECONFLICT && !strncmp(e->message, "alarm:", 6);
		snprintf(msg, sizeof(msg), "%s", e->message);
		if (is_stop) {
			char *f = NULL;
			if (flag_get(r->store, r->id, "stop", &f) == 0 && !strcmp(f, "rollback")) {
				free(f);
				return rollback(r, "stopped on request");
			}
			free(f);
			mdeploy_error_clear();
			mdeploy_store_deployment_set_status(r->store, r->id, "Stopped", msg);
			return mdeploy__error_set(MDEPLOY_ECONFLICT, CLS, "%s", msg);
		}
		if ((is_alarm && r->g->rollback_on_alarm) || (!is_alarm && r->g->rollback_on_failure))
			return rollback(r, msg);
		mdeploy_store_deployment_set_status(r->store, r->id, "Failed", msg);
		return mdeploy__error_set(code, e->klass, "%s", msg);
	}
}

/* ---- in-place ---- */

static int agent_event(mdeploy_deploy__run *r, const char *id, const char *root, const char *addr,
                       const char *event)
{
	mdeploy_agent_options ao = MDEPLOY_AGENT_OPTIONS_INIT;
	mdeploy_agent_deployment d;
	mdeploy_agent *agent = NULL;
	char gid[160];
	int rc;
	ao.ctx = r->ctx;
	if ((rc = mdeploy_agent_open(&agent, root, &ao)))
		return rc;
	agent_deployment(r, &d, id, addr, gid, sizeof(gid), 0);
	/* The traffic hooks of a host that never had a release have nothing to run. */
	if (mdeploy_agent_last_successful(agent) || !strstr(event, "BlockTraffic"))
		rc = mdeploy_agent_run_event(agent, event, NULL, &d);
	if (rc)
		mdeploy__error_prefix("instance %s", id);
	mdeploy_agent_free(agent);
	return rc;
}

struct inst_arg { const char *root, *addr; };

/* BeforeBlockTraffic, drain, AfterBlockTraffic, out of rotation. */
static int s_block(mdeploy_deploy__run *r, const char *target, void *arg)
{
	struct inst_arg *ia = arg;
	mdeploy_lb_change ch = { NULL, -1, MDEPLOY_TARGET_DRAIN };
	target_list t;
	uint64_t t0;
	size_t i;
	int rc;

	ch.instance = target;
	if ((rc = agent_event(r, target, ia->root, ia->addr, "BeforeBlockTraffic")))
		return rc;
	if ((rc = mdeploy_lb_apply(r->p, r->lb, &ch, 1)))
		return rc;
	for (t0 = mdeploy__now_ms();;) {
		uint64_t sessions = 0;
		if ((rc = targets(r, &t)))
			return rc;
		for (i = 0; i < t.n; i++)
			if (!strcmp(t.t[i].instance, target))
				sessions += t.t[i].sessions;
		if (sessions == 0 || mdeploy__now_ms() - t0 > r->g->drain_timeout_ms)
			break;
		if ((rc = wait_for(r, 50)))
			return rc;
	}
	ch.state = MDEPLOY_TARGET_MAINT;
	if ((rc = mdeploy_lb_apply(r->p, r->lb, &ch, 1)))
		return rc;
	return agent_event(r, target, ia->root, ia->addr, "AfterBlockTraffic");
}

/* BeforeAllowTraffic, back in rotation once healthy, AfterAllowTraffic. */
static int s_allow(mdeploy_deploy__run *r, const char *target, void *arg)
{
	struct inst_arg *ia = arg;
	mdeploy_lb_change ch = { NULL, 100, MDEPLOY_TARGET_READY };
	uint64_t t0 = mdeploy__now_ms();
	unsigned int limit = r->g->health_interval_ms * (r->g->healthy_threshold + 2) + r->g->health_timeout_ms + 10000;
	target_list t;
	size_t i;
	int rc, up = 0;

	ch.instance = target;
	if ((rc = agent_event(r, target, ia->root, ia->addr, "BeforeAllowTraffic")))
		return rc;
	if ((rc = mdeploy_lb_apply(r->p, r->lb, &ch, 1)))
		return rc;
	while (!up) {
		if ((rc = targets(r, &t)))
			return rc;
		for (i = 0; i < t.n; i++)
			if (!strcmp(t.t[i].instance, target) && !strncmp(t.t[i].health, "UP", 2))
				up = 1;
		if (up)
			break;
		if (mdeploy__now_ms() - t0 > limit)
			return mdeploy__error_set(MDEPLOY_ETIMEOUT, CLS, "instance %s did not pass the health check (%s) in %u ms",
			                          target, r->g->health_path, limit);
		if ((rc = wait_for(r, 50)))
			return rc;
	}
	return agent_event(r, target, ia->root, ia->addr, "AfterAllowTraffic");
}

/* Put an instance back on the release it had before this deployment. */
static int s_revert(mdeploy_deploy__run *r, const char *target, void *arg)
{
	struct inst_arg *ia = arg;
	mdeploy_agent_options ao = MDEPLOY_AGENT_OPTIONS_INIT;
	mdeploy_agent *agent = NULL;
	int rc;
	ao.ctx = r->ctx;
	if ((rc = mdeploy_agent_open(&agent, ia->root, &ao)))
		return rc;
	/* The agent already restored a failed install; roll back only what went live. */
	if (mdeploy_agent_last_successful(agent) && !strcmp(mdeploy_agent_last_successful(agent), r->id))
		rc = mdeploy_agent_rollback(agent, NULL);
	mdeploy_agent_free(agent);
	if (rc == MDEPLOY_ENOTFOUND)
		rc = 0;
	if (!rc)
		rc = mdeploy_instance_restart(r->p, target);
	return rc;
}

/* Every instance that went live on this deployment's release goes back, one at a time. */
static int inplace_revert(mdeploy_deploy__run *r)
{
	inst_list l;
	size_t i;
	int rc;
	if ((rc = instances(r, r->green, &l)))
		return rc;
	for (i = 0; i < l.n; i++) {
		struct inst_arg ia = { l.root[i], l.addr[i] };
		if (!is_done(r, "install", l.id[i]))
			continue;
		if ((rc = step(r, "rollback-block", l.id[i], s_block, &ia)) ||
		    (rc = step(r, "rollback-instance", l.id[i], s_revert, &ia)) ||
		    (rc = step(r, "rollback-allow", l.id[i], s_allow, &ia))) {
			mdeploy_store_deployment_set_status(r->store, r->id, "Failed", mdeploy_error_last()->message);
			return rc;
		}
	}
	/* And any instance left out of rotation comes back. */
	for (i = 0; i < l.n; i++) {
		struct inst_arg ia = { l.root[i], l.addr[i] };
		if (is_done(r, "block", l.id[i]) && !is_done(r, "allow", l.id[i]) &&
		    (rc = step(r, "rollback-allow", l.id[i], s_allow, &ia))) {
			mdeploy_store_deployment_set_status(r->store, r->id, "Failed", mdeploy_error_last()->message);
			return rc;
		}
	}
	return 0;
}

static int in_place(mdeploy_deploy__run *r)
{
	const mdeploy_deployment_config *c = &r->g->config;
	inst_list l;
	unsigned int min_healthy = 0, batch = 1, succeeded = 0, failed = 0;
	size_t k, i;
	int rc = 0, last_failed_only = 0;
	char err[2048] = "", *flag = NULL;

	{
		int rolling = 0;
		mdeploy_store_journal_foreach(r->store, r->id, is_rollback_journal, &rolling);
		if (flag_get(r->store, r->id, "stop", &flag) == 0 && !strcmp(flag, "rollback"))
			rolling = 1;
		free(flag);
		mdeploy_error_clear();
		if (rolling)
			return rollback(r, "resumed an interrupted rollback");
	}
	mdeploy_store_deployment_set_status(r->store, r->id, "InProgress", NULL);
	if ((rc = step(r, "load-balancer", r->lb, s_lb, NULL)))
		goto failed;
	if ((rc = instances(r, r->green, &l)))
		goto failed;
	if ((rc = mdeploy_deployment_config_plan(c, (unsigned int)l.n, &min_healthy, &batch)))
		goto failed;
	mdeploy__log(r->ctx, MDEPLOY_LOG_INFO, "deploy", "%s: in place on %s: %zu instances, batches of %u, %u kept healthy",
	             r->id, r->green, l.n, batch, min_healthy);
	for (k = 0; k < l.n; k += batch) {
		size_t end = k + batch < l.n ? k + batch : l.n;
		for (i = k; i < end; i++) {
			struct inst_arg ia = { l.root[i], l.addr[i] };
			if ((rc = step(r, "block", l.id[i], s_block, &ia)))
				goto failed;
		}
		for (i = k; i < end; i++) {
			struct install_arg ia = { l.root[i], l.addr[i], i == 0 };
			struct inst_arg ib = { l.root[i], l.addr[i] };
			if (step(r, "install", l.id[i], s_install, &ia) == 0) {
				succeeded++;
				last_failed_only = 0;
			} else {
				if (mdeploy_error_last()->code == MDEPLOY_ECONFLICT && strstr(mdeploy_error_last()->message, "stopped")) {
					rc = MDEPLOY_ECONFLICT;
					goto failed;
				}
				if (!err[0])
					snprintf(err, sizeof(err), "%s", mdeploy_error_last()->message);
				mdeploy__log(r->ctx, MDEPLOY_LOG_WARN, "deploy", "%s", mdeploy_error_last()->message);
				failed++;
				last_failed_only = i + 1 == l.n;
				/* The agent put the old release back; the server must serve it again. */
				if ((rc = step(r, "revert", l.id[i], s_revert, &ib)))
					goto failed;
			}
		}
		for (i = k; i < end; i++) {
			struct inst_arg ia = { l.root[i], l.addr[i] };
			if ((rc = step(r, "allow", l.id[i], s_allow, &ia)))
				goto failed;
		}
		/* CodeDeploy stops once the healthy hosts would fall below the minimum. */
		if (failed && l.n - failed < min_healthy) {
			rc = mdeploy__error_set(MDEPLOY_EHOOK, CLS, "%u instance%s failed; fewer than %u would stay healthy: %s",
			                        failed, failed == 1 ? "" : "s", min_healthy, err);
			goto failed;
		}
	}
	if (!mdeploy_deployment_config_succeeded(c, (unsigned int)l.n, succeeded, last_failed_only)) {
		rc = mdeploy__error_set(MDEPLOY_EHOOK, CLS, "%u of %zu instances succeeded, %s needs more: %s",
		                        succeeded, l.n, c->name, err);
		goto failed;
	}
	if ((rc = step(r, "finish", r->green, s_finish, NULL)))
		goto failed;
	mdeploy_store_deployment_set_status(r->store, r->id, "Succeeded", failed ? err : NULL);
	return 0;
failed:
	{
		char msg[2048];
		int code = mdeploy_error_last()->code ? mdeploy_error_last()->code : rc;
		snprintf(msg, sizeof(msg), "%s", mdeploy_error_last()->message);
		flag_set(r->store, r->id, "stop", NULL);
		if (r->g->rollback_on_failure) {
			if (inplace_revert(r))
				return mdeploy_error_last()->code ? mdeploy_error_last()->code : MDEPLOY_ERROR;
			mdeploy_store_deployment_set_status(r->store, r->id, "RolledBack", msg);
			return mdeploy__error_set(MDEPLOY_EHOOK, CLS, "deployment %s rolled back: %s", r->id, msg);
		}
		mdeploy_store_deployment_set_status(r->store, r->id, "Failed", msg);
		return mdeploy__error_set(code, CLS, "%s", msg);
	}
}

/* Everything that can be checked before an instance changes. */
static int validate(mdeploy_deploy__run *r, const char *bundle)
{
	mdeploy_bundle_verify_options vo = MDEPLOY_BUNDLE_VERIFY_OPTIONS_INIT;
	int rc;
	vo.trusted_keys = r->opts ? r->opts->trusted_keys : NULL;
	if (!bundle)
		return mdeploy__error_set(MDEPLOY_EINVALID, CLS, "no bundle given");
	if (!realpath(bundle, r->bundle))
		return mdeploy__error_os(CLS, "%s", bundle);
	if ((rc = mdeploy_bundle_verify(r->bundle, &vo)))
		return rc;
	{
		/* The appspec, as the agent will read it. */
		char *tmp = mdeploy__sprintf("%s/tmp", mdeploy_ctx_state_dir(r->ctx));
		char *dir = tmp ? mdeploy__sprintf("%s/validate-%ld", tmp, (long)getpid()) : NULL;
		char *spec = dir ? mdeploy__sprintf("%s/appspec.yml", dir) : NULL;
		mdeploy_bundle_extract_options eo = MDEPLOY_BUNDLE_EXTRACT_OPTIONS_INIT;
		mdeploy_appspec *as = NULL;
		if (!spec) {
			rc = mdeploy__error_oom();
		} else {
			mdeploy__mkdir_p(tmp, 0700);
			mdeploy__rm_rf(dir);
			eo.trusted_keys = vo.trusted_keys;
			if ((rc = mdeploy_bundle_extract(r->bundle, dir, &eo)) == 0) {
				if (!mdeploy__path_exists(spec)) {
					free(spec);
					spec = mdeploy__sprintf("%s/appspec.yaml", dir);
				}
				rc = mdeploy_appspec_load(&as, spec);
				mdeploy_appspec_free(as);
			}
			mdeploy__rm_rf(dir);
		}
		free(tmp);
		free(dir);
		free(spec);
	}
	return rc;
}

static int next_fleet_name(mdeploy_deploy__run *r, char *out, size_t n)
{
	char *v = NULL, num[16];
	unsigned int seq = 0;
	unsigned int sizes[3];
	if (mdeploy_deploy__value_get(r, "seq", &v) == 0)
		seq = (unsigned int)strtoul(v, NULL, 10);
	free(v);
	mdeploy_error_clear();
	do {
		seq++;
		snprintf(out, n, "%s-%s-v%03u", r->app, r->g->name, seq);
	} while (fleet_sizes(r, out, sizes) == 0);
	mdeploy_error_clear();
	snprintf(num, sizeof(num), "%u", seq);
	return mdeploy_deploy__value_set(r, "seq", num);
}

static int save_data(mdeploy_deploy__run *r)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:b}", "green", r->green, "blue", r->blue, "bundle", r->bundle,
	                      "upgrade", r->upgrade);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	int rc = s ? mdeploy_store_deployment_set_data(r->store, r->id, s) : mdeploy__error_oom();
	free(s);
	json_decref(o);
	return rc;
}

static int load_data(mdeploy_deploy__run *r, const char *data)
{
	json_t *o = data ? json_loads(data, 0, NULL) : NULL;
	const char *g, *b, *bu;
	if (!o || json_unpack(o, "{s:s, s:s, s:s}", "green", &g, "blue", &b, "bundle", &bu)) {
		json_decref(o);
		return mdeploy__error_set(MDEPLOY_ECORRUPT, CLS, "deployment %s: its record has no plan to resume", r->id);
	}
	snprintf(r->green, sizeof(r->green), "%s", g);
	snprintf(r->blue, sizeof(r->blue), "%s", b);
	snprintf(r->bundle, sizeof(r->bundle), "%s", bu);
	r->upgrade = json_is_true(json_object_get(o, "upgrade"));
	json_decref(o);
	return 0;
}

static int create_with(mdeploy_ctx *ctx, const mdeploy_config *cfg, const mdeploy_deploy_options *opts,
                       const char *bundle, const char *strategy, char id[12])
{
	mdeploy_deploy__run r;
	mdeploy_deployment_record rec;
	char *live = NULL, *live_bundle = NULL;
	unsigned int sizes[3];
	int rc;

	if (id)
		id[0] = '\0';
	if ((rc = run_open(&r, ctx, cfg, opts, opts->group)))
		goto out;
	if ((rc = validate(&r, bundle)))
		goto out;
	{
		/* Which path: a code-only swap, or the upgrade gate. */
		mdeploy_deploy_options po = *opts;
		mdeploy_plan *plan = NULL;
		po.bundle = r.bundle;
		if ((rc = mdeploy_deploy_plan(ctx, cfg, &po, &plan)))
			goto out;
		r.upgrade = mdeploy_plan_upgrade(plan);
		mdeploy__log(ctx, MDEPLOY_LOG_INFO, "deploy", "%s", mdeploy_plan_reason(plan));
		mdeploy_plan_free(plan);
	}
	if ((rc = mdeploy_deployment_id_new(r.id)) || (rc = lock_take(&r, r.id, opts->lock_wait_ms)))
		goto out;
	if ((rc = cleanup_expired(&r, NULL)))
		goto unlock;
	if (mdeploy_deploy__value_get(&r, "live", &live) == 0 && fleet_sizes(&r, live, sizes) == 0)
		snprintf(r.blue, sizeof(r.blue), "%s", live);
	if (mdeploy_deploy__value_get(&r, "live_bundle", &live_bundle))
		mdeploy_error_clear();
	mdeploy_error_clear();
	if (r.g->strategy == MDEPLOY_STRATEGY_IN_PLACE && r.blue[0]) {
		/* In place: the live fleet itself gets the release. */
		snprintf(r.green, sizeof(r.green), "%s", r.blue);
		strategy = "in-place";
	} else if ((rc = next_fleet_name(&r, r.green, sizeof(r.green)))) {
		goto unlock;
	}
	memset(&rec, 0, sizeof(rec));
	rec.id = r.id;
	rec.application = r.app;
	rec.group = r.g->name;
	rec.status = "Created";
	rec.strategy = strategy;
	rec.revision = r.bundle;
	rec.bundle = r.bundle;
	rec.previous_revision = live_bundle;
	if ((rc = mdeploy_store_deployment_insert(r.store, &rec)) || (rc = save_data(&r)))
		goto unlock;
	if (id)
		memcpy(id, r.id, 12);
	mdeploy__log(ctx, MDEPLOY_LOG_INFO, "deploy", "%s: %s to group %s: %s -> %s", r.id, r.bundle, r.g->name,
	             r.blue[0] ? r.blue : "(no live fleet)", r.green);
	rc = !strcmp(r.green, r.blue) ? in_place(&r) : blue_green(&r);
unlock:
	unlock_keep_error(&r, rc);
out:
	free(live);
	free(live_bundle);
	run_dispose(&r);
	return rc;
}

int mdeploy_deploy_create(mdeploy_ctx *ctx, const mdeploy_config *cfg, const mdeploy_deploy_options *opts, char id[12])
{
	int rc;
	if (!opts)
		return mdeploy__error_set(MDEPLOY_EINVALID, CLS, "deployment options are required");
	if ((rc = mdeploy__options_check(opts->version, MDEPLOY_DEPLOY_OPTIONS_VERSION, "mdeploy_deploy_options")))
		return rc;
	return create_with(ctx, cfg, opts, opts->bundle, "blue-green", id);
}

/* Open a run for an existing deployment, its lock taken. */
static int reopen(mdeploy_deploy__run *r, mdeploy_ctx *ctx, const mdeploy_config *cfg, const char *id,
                  const mdeploy_deploy_options *opts, mdeploy_deployment **dout)
{
	mdeploy_store *st = NULL;
	mdeploy_deployment *d = NULL;
	const mdeploy_deployment_record *rec;
	int rc;

	memset(r, 0, sizeof(*r));
	if ((rc = mdeploy_store_open(&st, ctx, NULL)))
		return rc;
	rc = mdeploy_store_deployment_get(st, id, &d);
	mdeploy_store_free(st);
	if (rc)
		return rc;
	rec = mdeploy_deployment_record_of(d);
	if ((rc = run_open(r, ctx, cfg, opts, rec->group))) {
		mdeploy_deployment_free(d);
		return rc;
	}
	snprintf(r->id, sizeof(r->id), "%s", rec->id);
	if ((rc = load_data(r, rec->data))) {
		mdeploy_deployment_free(d);
		return rc;
	}
	*dout = d;
	return 0;
}

int mdeploy_deploy_resume(mdeploy_ctx *ctx, const mdeploy_config *cfg, const char *id,
                          const mdeploy_deploy_options *opts)
{
	mdeploy_deploy_options def = MDEPLOY_DEPLOY_OPTIONS_INIT;
	mdeploy_deploy__run r;
	mdeploy_deployment *d = NULL;
	int rc;

	if (!opts)
		opts = &def;
	if ((rc = reopen(&r, ctx, cfg, id, opts, &d)))
		goto out;
	if (mdeploy_deployment_status_is_final(mdeploy_deployment_record_of(d)->status)) {
		mdeploy__log(ctx, MDEPLOY_LOG_INFO, "deploy", "%s already ended: %s", id,
		             mdeploy_deployment_record_of(d)->status);
		goto out;
	}
	if ((rc = lock_take(&r, r.id, opts->lock_wait_ms)))
		goto out;
	if ((rc = mdeploy_store_journal_foreach(r.store, r.id, load_done, &r)))
		goto unlock;
	mdeploy__log(ctx, MDEPLOY_LOG_INFO, "deploy", "%s: resuming (%zu steps done)", r.id, r.ndone);
	rc = r.blue[0] && !strcmp(r.green, r.blue) ? in_place(&r) : blue_green(&r);
unlock:
	unlock_keep_error(&r, rc);
out:
	mdeploy_deployment_free(d);
	run_dispose(&r);
	return rc;
}

int mdeploy_deploy_stop(mdeploy_ctx *ctx, const mdeploy_config *cfg, const char *id, int rollback_)
{
	mdeploy_deploy_options opts = MDEPLOY_DEPLOY_OPTIONS_INIT;
	mdeploy_deploy__run r;
	mdeploy_deployment *d = NULL;
	mdeploy_lock_info li;
	int rc;

	if ((rc = reopen(&r, ctx, cfg, id, &opts, &d)))
		goto out;
	if (mdeploy_deployment_status_is_final(mdeploy_deployment_record_of(d)->status)) {
		rc = mdeploy__error_set(MDEPLOY_ECONFLICT, CLS, "deployment %s already ended (%s)", id,
		                        mdeploy_deployment_record_of(d)->status);
		goto out;
	}
	if ((rc = flag_set(r.store, r.id, "stop", rollback_ ? "rollback" : "stop")))
		goto out;
	/* A live owner acts on the flag itself; wait for it to finish. */
	if (mdeploy_store_lock_get(r.store, r.lock, &li) == 0 && !strcmp(li.owner, r.id)) {
		mdeploy_lock_options lo = MDEPLOY_LOCK_OPTIONS_INIT;
		lo.owner = "stop";
		lo.wait_ms = 120000;
		if ((rc = mdeploy_store_lock_acquire(r.store, r.lock, &lo, NULL)))
			goto out;
		mdeploy_store_lock_release(r.store, r.lock);
		mdeploy_deployment_free(d);
		d = NULL;
		if ((rc = mdeploy_store_deployment_get(r.store, id, &d)))
			goto out;
		if (mdeploy_deployment_status_is_final(mdeploy_deployment_record_of(d)->status))
			goto out;
	}
	mdeploy_error_clear();
	/* Nobody runs it: do it here. */
	if ((rc = lock_take(&r, r.id, 0)))
		goto out;
	mdeploy_store_journal_foreach(r.store, r.id, load_done, &r);
	if (rollback_) {
		rc = rollback(&r, "stopped on request");
		if (rc == MDEPLOY_EHOOK)
			rc = 0;
	} else {
		flag_set(r.store, r.id, "stop", NULL);
		rc = mdeploy_store_deployment_set_status(r.store, r.id, "Stopped", "stopped on request");
	}
	mdeploy_store_lock_release(r.store, r.lock);
out:
	mdeploy_deployment_free(d);
	run_dispose(&r);
	return rc;
}

int mdeploy_deploy_promote(mdeploy_ctx *ctx, const char *id)
{
	mdeploy_store *st = NULL;
	mdeploy_deployment *d = NULL;
	int rc;
	if ((rc = mdeploy_store_open(&st, ctx, NULL)))
		return rc;
	if ((rc = mdeploy_store_deployment_get(st, id, &d)))
		goto out;
	if (mdeploy_deployment_status_is_final(mdeploy_deployment_record_of(d)->status)) {
		rc = mdeploy__error_set(MDEPLOY_ECONFLICT, CLS, "deployment %s already ended (%s)", id,
		                        mdeploy_deployment_record_of(d)->status);
		goto out;
	}
	rc = flag_set(st, id, "promote", "1");
out:
	mdeploy_deployment_free(d);
	mdeploy_store_free(st);
	return rc;
}

/* ---- rollback after success ---- */

static int s_swap_back(mdeploy_deploy__run *r, const char *target, void *arg)
{
	inst_list l;
	target_list t;
	size_t i, j;
	int rc;
	(void)arg;
	/* The retained fleet may have been taken out: put it back, wait for health, then switch. */
	if ((rc = instances(r, target, &l)) || (rc = targets(r, &t)))
		return rc;
	for (i = 0; i < l.n; i++) {
		int reg = 0;
		if (!l.running[i] && (rc = mdeploy_instance_start(r->p, l.id[i])))
			return rc;
		for (j = 0; j < t.n; j++)
			reg |= !strcmp(t.t[j].instance, l.id[i]);
		if (!reg && (rc = mdeploy_lb_register(r->p, r->lb, l.id[i], 0, MDEPLOY_TARGET_READY)))
			return rc;
	}
	if ((rc = wait_healthy(r, target)))
		return rc;
	return apply_split(r, r->green, target, 100);
}

static int s_swap_state(mdeploy_deploy__run *r, const char *target, void *arg)
{
	char *lb_old = NULL;
	const char *back_bundle = arg;
	int rc;
	(void)target;
	if (mdeploy_deploy__value_get(r, "live_bundle", &lb_old))
		mdeploy_error_clear();
	if ((rc = mdeploy_deploy__value_set(r, "live", r->blue)) ||
	    (rc = mdeploy_deploy__value_set(r, "live_bundle", back_bundle)) ||
	    (rc = mdeploy_deploy__value_set(r, "live_deployment", r->id)) ||
	    (rc = retained_set(r, r->green, mdeploy_store__unix_ms() + r->g->blue_retention_ms, lb_old))) {
		free(lb_old);
		return rc;
	}
	free(lb_old);
	return rc;
}

int mdeploy_deploy_rollback(mdeploy_ctx *ctx, const mdeploy_config *cfg, const mdeploy_deploy_options *opts,
                            char id[12])
{
	mdeploy_deploy__run r;
	mdeploy_deployment_record rec;
	char fleet[128], bundle[4096], *live = NULL, *prev = NULL;
	unsigned int sizes[3];
	int64_t until;
	uint64_t t0 = mdeploy__now_ms();
	int rc;

	if (id)
		id[0] = '\0';
	if (!opts)
		return mdeploy__error_set(MDEPLOY_EINVALID, CLS, "rollback options are required");
	if ((rc = run_open(&r, ctx, cfg, opts, opts->group)))
		goto out;
	if ((rc = mdeploy_deployment_id_new(r.id)) || (rc = lock_take(&r, r.id, opts->lock_wait_ms)))
		goto out;
	if ((rc = cleanup_expired(&r, NULL)))
		goto unlock;
	if (mdeploy_deploy__value_get(&r, "live", &live)) {
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS, "group %s has no live release to roll back", r.g->name);
		goto unlock;
	}
	if (retained_get(&r, fleet, sizeof(fleet), &until, bundle, sizeof(bundle)) == 0 && strcmp(fleet, live) &&
	    fleet_sizes(&r, fleet, sizes) == 0) {
		/* Instant: the previous fleet is still warm. */
		snprintf(r.green, sizeof(r.green), "%s", live);  /* what we leave */
		snprintf(r.blue, sizeof(r.blue), "%s", fleet);   /* what we go back to */
		snprintf(r.bundle, sizeof(r.bundle), "%s", bundle);
		memset(&rec, 0, sizeof(rec));
		rec.id = r.id;
		rec.application = r.app;
		rec.group = r.g->name;
		rec.status = "InProgress";
		rec.strategy = "rollback";
		rec.revision = bundle;
		rec.bundle = bundle;
		if ((rc = mdeploy_store_deployment_insert(r.store, &rec)) || (rc = save_data(&r)))
			goto unlock;
		if (id)
			memcpy(id, r.id, 12);
		if ((rc = step(&r, "rollback-shift", fleet, s_swap_back, NULL)) ||
		    (rc = step(&r, "drain", live, s_drain, NULL)) ||
		    (rc = step(&r, "swap", fleet, s_swap_state, bundle))) {
			mdeploy_store_deployment_set_status(r.store, r.id, "Failed", mdeploy_error_last()->message);
			goto unlock;
		}
		mdeploy_store_deployment_set_status(r.store, r.id, "Succeeded", NULL);
		mdeploy__log(ctx, MDEPLOY_LOG_INFO, "deploy", "%s: back on %s in %llu ms; %s is retained",
		             r.id, fleet, (unsigned long long)(mdeploy__now_ms() - t0), live);
		goto unlock;
	}
	/* The old fleet is gone: deploy the previous bundle again. */
	if (mdeploy_deploy__value_get(&r, "previous_bundle", &prev)) {
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS,
			"group %s: no retained fleet and no previous bundle to roll back to", r.g->name);
		goto unlock;
	}
	mdeploy_store_lock_release(r.store, r.lock);
	run_dispose(&r);
	rc = create_with(ctx, cfg, opts, prev, "rollback", id);
	goto out;
unlock:
	unlock_keep_error(&r, rc);
out:
	free(live);
	free(prev);
	run_dispose(&r);
	return rc;
}

/* ---- scaling a live fleet ---- */

struct boot_ctx { mdeploy_deploy__run *r; const char *bundle; const char *deployment; };

/* Boot callback: the group's live release, installed by the agent up to ApplicationStart. */
static int boot_install(mdeploy_provider *p, const mdeploy_instance_info *inst, void *payload)
{
	struct boot_ctx *bc = payload;
	mdeploy_agent_options ao = MDEPLOY_AGENT_OPTIONS_INIT;
	mdeploy_agent_deployment d;
	mdeploy_agent *agent = NULL;
	char gid[160], saved[12];
	size_t i;
	int rc;
	(void)p;

	ao.ctx = bc->r->ctx;
	ao.trusted_keys = bc->r->opts ? bc->r->opts->trusted_keys : NULL;
	if ((rc = mdeploy_agent_open(&agent, inst->root, &ao)))
		return rc;
	memcpy(saved, bc->r->id, sizeof(saved));
	snprintf(bc->r->id, sizeof(bc->r->id), "%s", bc->deployment);
	agent_deployment(bc->r, &d, inst->id, inst->address, gid, sizeof(gid), 0);
	for (i = 0; i < MDEPLOY__ARRAY_SIZE(install_events) && !rc; i++)
		rc = mdeploy_agent_run_event(agent, install_events[i], i == 1 ? bc->bundle : NULL, &d);
	memcpy(bc->r->id, saved, sizeof(saved));
	if (rc)
		mdeploy__error_prefix("instance %s", inst->id);
	mdeploy_agent_free(agent);
	return rc;
}

int mdeploy_deploy_scale(mdeploy_ctx *ctx, const mdeploy_config *cfg, const mdeploy_deploy_options *opts,
                         const char *fleet, unsigned int desired, unsigned int min, unsigned int max)
{
	mdeploy_deploy__run r;
	mdeploy_provider *boot = NULL;
	mdeploy_provider_options po = MDEPLOY_PROVIDER_OPTIONS_INIT;
	struct boot_ctx bc;
	char *live = NULL, *bundle = NULL, *dep = NULL, owner[64];
	inst_list before, after;
	target_list t;
	unsigned int weight = 100;
	size_t i, j;
	int rc;

	if (!opts)
		return mdeploy__error_set(MDEPLOY_EINVALID, CLS, "scale options are required");
	if ((rc = run_open(&r, ctx, cfg, opts, opts->group)))
		goto out;
	snprintf(owner, sizeof(owner), "scale-%ld", (long)getpid());
	if ((rc = lock_take(&r, owner, opts->lock_wait_ms)))
		goto out;
	if (mdeploy_deploy__value_get(&r, "live", &live) || mdeploy_deploy__value_get(&r, "live_bundle", &bundle) ||
	    mdeploy_deploy__value_get(&r, "live_deployment", &dep)) {
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS, "group %s has no live release to scale", r.g->name);
		goto unlock;
	}
	if (fleet && strcmp(fleet, live)) {
		rc = mdeploy__error_set(MDEPLOY_ECONFLICT, CLS, "fleet %s is not the live fleet of group %s (%s is)",
		                        fleet, r.g->name, live);
		goto unlock;
	}
	snprintf(r.green, sizeof(r.green), "%s", live);
	if ((rc = instances(&r, live, &before)) || (rc = targets(&r, &t)))
		goto unlock;
	for (i = 0; i < t.n; i++)
		if (in_list(&before, t.t[i].instance) && t.t[i].weight > 0) {
			weight = t.t[i].weight;
			break;
		}
	if (desired < before.n) {
		/* The newest go: out of the load balancer first. */
		for (i = desired; i < before.n; i++) {
			mdeploy_lb_change ch = { NULL, 0, MDEPLOY_TARGET_DRAIN };
			int reg = 0;
			ch.instance = before.id[i];
			for (j = 0; j < t.n; j++)
				reg |= !strcmp(t.t[j].instance, before.id[i]);
			if (!reg)
				continue;
			if ((rc = mdeploy_lb_apply(r.p, r.lb, &ch, 1)))
				goto unlock;
		}
		{
			uint64_t t0 = mdeploy__now_ms();
			for (;;) {
				uint64_t sessions = 0;
				if ((rc = targets(&r, &t)))
					goto unlock;
				for (i = 0; i < t.n; i++)
					for (j = desired; j < before.n; j++)
						if (!strcmp(t.t[i].instance, before.id[j]))
							sessions += t.t[i].sessions;
				if (!sessions || mdeploy__now_ms() - t0 > r.g->drain_timeout_ms)
					break;
				if ((rc = wait_for(&r, 50)))
					goto unlock;
			}
		}
		for (i = desired; i < before.n; i++)
			for (j = 0; j < t.n; j++)
				if (!strcmp(t.t[j].instance, before.id[i]) &&
				    (rc = mdeploy_lb_deregister(r.p, r.lb, before.id[i])))
					goto unlock;
		rc = mdeploy_fleet_scale(r.p, live, desired, min, max);
		goto unlock;
	}
	bc.r = &r;
	bc.bundle = bundle;
	bc.deployment = dep;
	po.boot_cb = boot_install;
	po.payload = &bc;
	if ((rc = mdeploy_provider_open(&boot, ctx, r.store, &po)) ||
	    (rc = mdeploy_fleet_scale(boot, live, desired, min, max)))
		goto unlock;
	if ((rc = instances(&r, live, &after)))
		goto unlock;
	for (i = 0; i < after.n; i++) {
		if (in_list(&before, after.id[i]))
			continue;
		snprintf(r.id, sizeof(r.id), "%s", dep);
		if ((rc = agent_event(&r, after.id[i], after.root[i], after.addr[i], "ValidateService")) ||
		    (rc = mdeploy_lb_register(r.p, r.lb, after.id[i], weight, MDEPLOY_TARGET_READY)))
			goto unlock;
	}
	r.id[0] = '\0';
	rc = wait_healthy(&r, live);
unlock:
	unlock_keep_error(&r, rc);
out:
	mdeploy_provider_free(boot);
	free(live);
	free(bundle);
	free(dep);
	run_dispose(&r);
	return rc;
}
