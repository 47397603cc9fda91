/*
 * run.c - what every deployment runs on: the group lock and its heartbeat,
 * stop requests, the journal (each step written before it runs, skipped on
 * resume when done), group state values and the provider helpers that read
 * fleets, instances and load balancer targets.
 */
#include "deploy_private.h"
#include "store/store_private.h"

#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CLS MDEPLOY_ERROR_CLASS_DEPLOY

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

int mdeploy_deploy__flag_get(mdeploy_store *store, const char *id, const char *name, char **out)
{
	char key[128];
	snprintf(key, sizeof(key), "deployment/%s/%s", id, name);
	return mdeploy_store_value_get(store, key, out);
}

int mdeploy_deploy__flag_set(mdeploy_store *store, const char *id, const char *name, const char *value)
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

void mdeploy_deploy__run_dispose(mdeploy_deploy__run *r)
{
	size_t i;
	mdeploy_deploy__retire_release(r);
	for (i = 0; i < r->ndone; i++)
		free(r->done[i].key);
	free(r->done);
	mdeploy_deploy__env_free(r);
	free(r->step_data);
	mdeploy_provider_free(r->p);
	mdeploy_store_free(r->store);
	memset(r, 0, sizeof(*r));
}

int mdeploy_deploy__run_open(mdeploy_deploy__run *r, mdeploy_ctx *ctx, const mdeploy_config *cfg,
                             const mdeploy_deploy_options *opts, const char *group)
{
	mdeploy_provider_options po = MDEPLOY_PROVIDER_OPTIONS_INIT;
	int rc;

	memset(r, 0, sizeof(*r));
	r->ctx = ctx;
	r->cfg = cfg;
	r->opts = opts;
	if (opts && opts->version >= 4 && opts->by && opts->by[0]) {
		snprintf(r->by, sizeof(r->by), "%s", opts->by);
	} else {
		struct passwd pw, *res = NULL;
		char buf[1024];
		if (getpwuid_r(geteuid(), &pw, buf, sizeof(buf), &res) == 0 && res && res->pw_name)
			snprintf(r->by, sizeof(r->by), "user:%s", res->pw_name);
		else
			snprintf(r->by, sizeof(r->by), "user:%lu", (unsigned long)geteuid());
	}
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
	/* The provider mdeploy.yml names (provider:), with its options. */
	po.name = mdeploy_config_provider_name(cfg);
	po.settings = mdeploy_config_provider_settings(cfg);
	if ((rc = mdeploy_provider_open(&r->p, ctx, r->store, &po)))
		return rc;
	return 0;
}

int mdeploy_deploy__lock_take(mdeploy_deploy__run *r, const char *owner, unsigned int wait_ms)
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
int mdeploy_deploy__beat(mdeploy_deploy__run *r)
{
	char *flag = NULL;
	int rc;
	if (mdeploy__now_ms() - r->last_beat >= 1000) {
		if ((rc = mdeploy_store_lock_heartbeat(r->store, r->lock)))
			return rc;
		r->last_beat = mdeploy__now_ms();
	}
	if (r->id[0] && mdeploy_deploy__flag_get(r->store, r->id, "stop", &flag) == 0) {
		free(flag);
		return mdeploy__error_set(MDEPLOY_ECONFLICT, CLS, "deployment %s was stopped on request", r->id);
	}
	mdeploy_error_clear();
	return 0;
}

int mdeploy_deploy__wait_for(mdeploy_deploy__run *r, unsigned int ms)
{
	uint64_t t0 = mdeploy__now_ms();
	int rc;
	while (mdeploy__now_ms() - t0 < ms) {
		if ((rc = mdeploy_deploy__beat(r)))
			return rc;
		sleep_ms(ms - (unsigned int)(mdeploy__now_ms() - t0) < 50 ? ms - (unsigned int)(mdeploy__now_ms() - t0) : 50);
	}
	return mdeploy_deploy__beat(r);
}

int mdeploy_deploy__load_done(const mdeploy_journal_entry *e, void *payload)
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

int mdeploy_deploy__is_done(mdeploy_deploy__run *r, const char *name, const char *target)
{
	size_t i, n = strlen(name);
	for (i = 0; i < r->ndone; i++)
		if (!strncmp(r->done[i].key, name, n) && r->done[i].key[n] == '\t' &&
		    !strcmp(r->done[i].key + n + 1, target ? target : ""))
			return 1;
	return 0;
}

/*
 * Run one step, journal first. Crash tests set MDEPLOY_TEST_CRASH_AT=N to
 * SIGKILL this process right after the N-th journal write.
 */
int mdeploy_deploy__step(mdeploy_deploy__run *r, const char *name, const char *target, step_fn fn, void *arg)
{
	char err[2048];
	int64_t seq = 0;
	int rc, code, klass;
	const char *crash = getenv("MDEPLOY_TEST_CRASH_AT");

	if (mdeploy_deploy__is_done(r, name, target))
		return 0;
	if ((rc = mdeploy_deploy__beat(r)))
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
	free(r->step_data);
	r->step_data = NULL;
	rc = fn(r, target, arg);
	code = mdeploy_error_last()->code;
	klass = mdeploy_error_last()->klass;
	snprintf(err, sizeof(err), "%s", rc ? mdeploy_error_last()->message : "");
	/* What the step found out (a backup's file and digest) is kept with it, before it is marked done. */
	if (!rc && r->step_data && mdeploy_store__journal_data(r->store, r->id, seq, r->step_data))
		return MDEPLOY_ERROR;
	free(r->step_data);
	r->step_data = NULL;
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

int mdeploy_deploy__instances(mdeploy_deploy__run *r, const char *fleet, inst_list *l)
{
	memset(l, 0, sizeof(*l));
	return mdeploy_instance_foreach(r->p, fleet, inst_collect, l);
}

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
	snprintf(l->t[l->n].check_status, sizeof(l->t[0].check_status), "%s", t->check_status ? t->check_status : "");
	l->t[l->n].check_code = t->check_code;
	snprintf(l->t[l->n].check_output, sizeof(l->t[0].check_output), "%s", t->check_output ? t->check_output : "");
	l->n++;
	return 0;
}

int mdeploy_deploy__targets(mdeploy_deploy__run *r, target_list *l)
{
	memset(l, 0, sizeof(*l));
	return mdeploy_lb_targets(r->p, r->lb, target_collect, l);
}

int mdeploy_deploy__in_list(const inst_list *l, const char *id)
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

int mdeploy_deploy__fleet_sizes(mdeploy_deploy__run *r, const char *fleet, unsigned int sizes[3])
{
	int rc = mdeploy_fleet_get(r->p, fleet, fleet_exists_cb, sizes);
	if (rc == MDEPLOY_ENOTFOUND)
		mdeploy_error_clear();
	return rc;
}

/*
 * Release the group lock without losing the error that made us give up:
 * releasing touches the store, which may overwrite the thread's last error.
 */
void mdeploy_deploy__unlock_keep_error(mdeploy_deploy__run *r, int rc)
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
