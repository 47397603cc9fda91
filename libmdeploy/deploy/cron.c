/*
 * cron.c - Moodle's cron for a deployment group: one runner per group (a
 * store lock), admin/cli/cron.php of the release that takes traffic now,
 * on one of its instances.
 *
 * Which release is live is read from the load balancer, not from the
 * store: the instance with the greatest weight among those in state ready.
 * Each run looks again, so a runner that outlives a blue/green swap runs
 * the new release's code from the next run on; while an upgrade holds the
 * site in maintenance, cron.php refuses to run and the run fails, saying so.
 * Each run holds the lock cron-run/APP/GROUP: the upgrade gate waits for a
 * run in progress once maintenance is on, before the database changes.
 */
#include "deploy_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CLS MDEPLOY_ERROR_CLASS_DEPLOY

int mdeploy_cron_options_init(mdeploy_cron_options *opts, unsigned int version)
{
	mdeploy_cron_options def = MDEPLOY_CRON_OPTIONS_INIT;
	int rc;
	if ((rc = mdeploy__options_check(version, MDEPLOY_CRON_OPTIONS_VERSION, "mdeploy_cron_options")))
		return rc;
	*opts = def;
	opts->version = version;
	return 0;
}

struct pick {
	char fleet[128], root[1024], state[16];
	int found;
};

static int instance_cb(const mdeploy_instance_info *inst, void *payload)
{
	struct pick *p = payload;
	snprintf(p->fleet, sizeof(p->fleet), "%s", inst->fleet ? inst->fleet : "");
	snprintf(p->root, sizeof(p->root), "%s", inst->root ? inst->root : "");
	snprintf(p->state, sizeof(p->state), "%s", inst->state ? inst->state : "");
	p->found = 1;
	return 0;
}

/* The ready target with the greatest weight, and where its release is. */
static int pick_live(mdeploy_deploy__run *r, mdeploy_cron_result *res, char *dir, size_t ndir)
{
	target_list t;
	struct pick p;
	size_t i, best = (size_t)-1;
	char path[1200];
	int rc;

	if (!mdeploy_lb_running(r->p, r->lb))
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS, "group %s: its load balancer %s is not running: no instance "
		                          "takes traffic, no live release to run cron with", r->g->name, r->lb);
	if ((rc = mdeploy_deploy__targets(r, &t)))
		return rc;
	for (i = 0; i < t.n; i++)
		if (t.t[i].weight > 0 && !strcmp(t.t[i].state, "ready") && (best == (size_t)-1 || t.t[i].weight > t.t[best].weight))
			best = i;
	if (best == (size_t)-1)
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS, "group %s: no instance takes traffic on load balancer %s: "
		                          "no live release to run cron with", r->g->name, r->lb);
	memset(&p, 0, sizeof(p));
	if ((rc = mdeploy_instance_get(r->p, t.t[best].instance, instance_cb, &p)))
		return rc;
	snprintf(res->instance, sizeof(res->instance), "%s", t.t[best].instance);
	snprintf(res->fleet, sizeof(res->fleet), "%s", p.fleet);
	if (!p.root[0])
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS, "instance %s: its release is not on this host: run cron "
		                          "on the instance itself (see mdeploy-cron(1))", res->instance);
	if (strcmp(p.state, "running"))
		return mdeploy__error_set(MDEPLOY_ECONFLICT, CLS, "instance %s takes traffic but is %s", res->instance, p.state);
	/* admin/cli/ at the release root (Moodle 5.1 too), else under public/. */
	snprintf(dir, ndir, "%s/current", p.root);
	snprintf(path, sizeof(path), "%s/admin/cli/cron.php", dir);
	if (!mdeploy__path_exists(path)) {
		snprintf(dir, ndir, "%s/current/public", p.root);
		snprintf(path, sizeof(path), "%s/admin/cli/cron.php", dir);
	}
	if (!mdeploy__path_exists(path))
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS, "instance %s: the live release has no admin/cli/cron.php "
		                          "(%s/current)", res->instance, p.root);
	{
		/* The release is the one `current` names: releases/<deployment id>. */
		char link[1100], target[1100];
		ssize_t n;
		snprintf(link, sizeof(link), "%s/current", p.root);
		if ((n = readlink(link, target, sizeof(target) - 1)) > 0) {
			const char *b;
			target[n] = '\0';
			b = strrchr(target, '/');
			b = b ? b + 1 : target;
			if (strlen(b) < sizeof(res->release))
				memcpy(res->release, b, strlen(b) + 1);
		}
	}
	return 0;
}

/* The group is marked stopped (mdeploy group stop). */
static int group_stopped(mdeploy_deploy__run *r)
{
	char *v = NULL;
	if (mdeploy_deploy__value_get(r, "stopped", &v)) {
		mdeploy_error_clear();
		return 0;
	}
	free(v);
	return 1;
}

static int run_once(mdeploy_deploy__run *r, const mdeploy_cron_options *opts, mdeploy_cron_result *res)
{
	mdeploy_exec_options eo = MDEPLOY_EXEC_OPTIONS_INIT;
	mdeploy_exec_result *er = NULL;
	const char *argv[] = { opts->php ? opts->php : "php", "admin/cli/cron.php", "--keep-alive=0", NULL };
	const char *outp;
	size_t len = 0;
	char dir[1100], run_lock[192];
	int rc, locked = 0;

	snprintf(run_lock, sizeof(run_lock), "cron-run/%s/%s", r->app, r->g->name);
	memset(res, 0, sizeof(*res));
	res->exit_code = -1;
	res->started_ms = mdeploy__now_ms();
	if ((rc = pick_live(r, res, dir, sizeof(dir))))
		goto out;
	/* The run lock: an upgrade waits for the run in progress (see mdeploy_deploy__cron_wait). */
	{
		mdeploy_lock_options lo = MDEPLOY_LOCK_OPTIONS_INIT;
		lo.owner = "cron";
		lo.stale_ms = (opts->timeout_ms ? opts->timeout_ms : 3600000u) + 60000u;
		if ((rc = mdeploy_store_lock_acquire(r->store, run_lock, &lo, NULL))) {
			if (rc == MDEPLOY_ELOCKED)
				mdeploy__error_prefix("group %s: a deployment is upgrading the database: cron not run", r->g->name);
			goto out;
		}
		locked = 1;
	}
	eo.cwd = dir;
	eo.search_path = 1;
	eo.merge_stderr = 1;
	eo.capture_max = sizeof(res->output_tail) - 1;
	eo.timeout_ms = opts->timeout_ms;
	mdeploy__log(r->ctx, MDEPLOY_LOG_INFO, "cron", "group %s: admin/cli/cron.php on %s (%s, release %s)", r->g->name,
	             res->instance, res->fleet, res->release[0] ? res->release : "?");
	if ((rc = mdeploy_exec_run(&er, argv, &eo)))
		goto out;
	res->exit_code = mdeploy_exec_result_exit_code(er);
	outp = mdeploy_exec_result_stdout(er, &len);
	if (outp) {
		if (len >= sizeof(res->output_tail))
			len = sizeof(res->output_tail) - 1;
		memcpy(res->output_tail, outp, len);
		res->output_tail[len] = '\0';
	}
	if (!mdeploy_exec_result_success(er)) {
		const char *tail = res->output_tail, *nl;
		size_t k = strlen(tail);
		/* The last line or two say why ("CLI maintenance mode active, cron execution suspended"). */
		while (k > 0 && (tail[k - 1] == '\n' || tail[k - 1] == ' '))
			k--;
		nl = tail + k;
		while (nl > tail && nl[-1] != '\n')
			nl--;
		rc = mdeploy__error_set(MDEPLOY_EHOOK, CLS, "group %s: admin/cli/cron.php on %s %s: %.*s", r->g->name,
		                        res->instance, mdeploy_exec_result_describe(er), (int)(tail + k - nl), nl);
	}
out:
	mdeploy_exec_result_free(er);
	if (locked) {
		char msg[1024];
		int code = mdeploy_error_last()->code, klass = mdeploy_error_last()->klass;
		snprintf(msg, sizeof(msg), "%s", mdeploy_error_last()->message);
		mdeploy_store_lock_release(r->store, run_lock);
		if (rc)
			mdeploy__error_set(code ? code : rc, klass, "%s", msg);
	}
	res->duration_ms = mdeploy__now_ms() - res->started_ms;
	res->status = rc;
	if (rc)
		snprintf(res->error, sizeof(res->error), "%s", mdeploy_error_last()->message);
	return rc;
}

int mdeploy_cron_run(mdeploy_ctx *ctx, const mdeploy_config *cfg, const char *group, const mdeploy_cron_options *opts,
                     mdeploy_cron_cb cb, void *payload)
{
	mdeploy_cron_options def = MDEPLOY_CRON_OPTIONS_INIT;
	mdeploy_lock_options lo = MDEPLOY_LOCK_OPTIONS_INIT;
	mdeploy_deploy__run r;
	mdeploy_cron_result res;
	unsigned int runs = 0;
	int rc, locked = 0;

	if (!opts)
		opts = &def;
	if ((rc = mdeploy__options_check(opts->version, MDEPLOY_CRON_OPTIONS_VERSION, "mdeploy_cron_options")))
		return rc;
	if ((rc = mdeploy_deploy__run_open(&r, ctx, cfg, NULL, group)))
		goto out;
	/* One runner per group: a second one is refused while the first lives. */
	snprintf(r.lock, sizeof(r.lock), "cron/%s/%s", r.app, r.g->name);
	lo.wait_ms = 0;
	lo.stale_ms = (opts->timeout_ms ? opts->timeout_ms : 3600000u) + opts->every_ms + 60000u;
	if ((rc = mdeploy_store_lock_acquire(r.store, r.lock, &lo, NULL))) {
		if (rc == MDEPLOY_ELOCKED)
			mdeploy__error_prefix("cron for group %s is already running", r.g->name);
		goto out;
	}
	locked = 1;
	/* A stopped group has no cron: refused, as deployments are. */
	if ((rc = mdeploy_deploy__refuse_stopped(&r)))
		goto out;
	for (;;) {
		int one, stop;
		/* A runner ends when its group is stopped (group stop waits for it). */
		if (runs && group_stopped(&r)) {
			mdeploy__log(ctx, MDEPLOY_LOG_INFO, "cron", "group %s was stopped: the cron runner ends after %u runs",
			             r.g->name, runs);
			break;
		}
		one = run_once(&r, opts, &res);
		runs++;
		if (!opts->every_ms) {
			rc = one;
			if (cb && cb(&res, payload) && !rc)
				rc = mdeploy__error_set(MDEPLOY_EUSER, CLS, "cron: stopped by the caller");
			break;
		}
		/* A supervised runner goes on after a failed run (maintenance, no live fleet yet): the callback is told. */
		if (one)
			mdeploy__log(ctx, MDEPLOY_LOG_WARN, "cron", "%s", res.error);
		mdeploy_error_clear();
		stop = cb && cb(&res, payload);
		if (stop) {
			rc = mdeploy__error_set(MDEPLOY_EUSER, CLS, "cron: stopped by the caller");
			break;
		}
		if (opts->count && runs >= opts->count)
			break;
		if ((rc = mdeploy_store_lock_heartbeat(r.store, r.lock)))
			break;
		{
			uint64_t next = res.started_ms + opts->every_ms, now = mdeploy__now_ms();
			while (now < next && !group_stopped(&r)) {
				uint64_t left = next - now;
				struct timespec ts = { 0, 0 };
				left = left > 500 ? 500 : left;
				ts.tv_sec = (time_t)(left / 1000);
				ts.tv_nsec = (long)(left % 1000) * 1000000L;
				nanosleep(&ts, NULL);
				now = mdeploy__now_ms();
			}
		}
	}
out:
	if (locked)
		mdeploy_deploy__unlock_keep_error(&r, rc);
	mdeploy_deploy__run_dispose(&r);
	return rc;
}

/* Wait (at most `wait_ms`) until nobody holds lock `name`; none: at once. */
static int wait_free(mdeploy_deploy__run *r, const char *name, const char *owner, unsigned int wait_ms)
{
	mdeploy_lock_options lo = MDEPLOY_LOCK_OPTIONS_INIT;
	int rc;

	lo.owner = owner;
	lo.wait_ms = wait_ms;
	if ((rc = mdeploy_store_lock_acquire(r->store, name, &lo, NULL)))
		return rc;
	mdeploy_store_lock_release(r->store, name);
	return 0;
}

/*
 * For the upgrade gate, once maintenance is on: wait (at most `wait_ms`)
 * for a cron run of the group that started before, so that no scheduled
 * task runs while the database is upgraded. Runs that start later find the
 * site in maintenance and stop at once. None running: returns at once.
 */
int mdeploy_deploy__cron_wait(mdeploy_deploy__run *r, unsigned int wait_ms)
{
	mdeploy_lock_info li;
	char name[192];
	uint64_t t0 = mdeploy__now_ms();
	int rc;

	snprintf(name, sizeof(name), "cron-run/%s/%s", r->app, r->g->name);
	if (mdeploy_store_lock_get(r->store, name, &li)) {
		mdeploy_error_clear();
		return 0;
	}
	mdeploy__log(r->ctx, MDEPLOY_LOG_INFO, "deploy", "%s: waiting for the cron run of group %s in progress (pid %ld) "
	             "before the upgrade", r->id, r->g->name, li.pid);
	if ((rc = wait_free(r, name, r->id, wait_ms))) {
		if (rc == MDEPLOY_ELOCKED)
			return mdeploy__error_set(MDEPLOY_ETIMEOUT, CLS, "the cron run of group %s (pid %ld) did not end within "
			                          "%u s: the upgrade did not start (the database is untouched)", r->g->name,
			                          li.pid, wait_ms / 1000);
		return rc;
	}
	mdeploy__log(r->ctx, MDEPLOY_LOG_INFO, "deploy", "%s: the cron run ended after %llu ms of waiting", r->id,
	             (unsigned long long)(mdeploy__now_ms() - t0));
	return 0;
}

/*
 * For group stop, once the group is marked stopped: wait (at most
 * `wait_ms`) for the group's cron runner (mdeploy cron run --every) to end.
 * It sees the mark before its next run, or within half a second while it
 * waits for it; a run in progress is let finish. None running: at once.
 */
int mdeploy_deploy__cron_runner_wait(mdeploy_deploy__run *r, unsigned int wait_ms)
{
	mdeploy_lock_info li;
	char name[192];
	uint64_t t0 = mdeploy__now_ms();
	int rc;

	snprintf(name, sizeof(name), "cron/%s/%s", r->app, r->g->name);
	if (mdeploy_store_lock_get(r->store, name, &li)) {
		mdeploy_error_clear();
		return 0;
	}
	mdeploy__log(r->ctx, MDEPLOY_LOG_INFO, "deploy", "group %s: waiting for its cron runner (pid %ld) to end",
	             r->g->name, li.pid);
	if ((rc = wait_free(r, name, "group-stop", wait_ms))) {
		if (rc == MDEPLOY_ELOCKED)
			return mdeploy__error_set(MDEPLOY_ETIMEOUT, CLS, "group %s: its cron runner (pid %ld) did not end within "
			                          "%u s; the group is marked stopped: run 'mdeploy group stop %s' again",
			                          r->g->name, li.pid, wait_ms / 1000, r->g->name);
		return rc;
	}
	mdeploy__log(r->ctx, MDEPLOY_LOG_INFO, "deploy", "group %s: its cron runner ended after %llu ms of waiting",
	             r->g->name, (unsigned long long)(mdeploy__now_ms() - t0));
	return 0;
}
