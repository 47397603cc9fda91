/*
 * retire.c - retiring fleets outside the deployment and its lock.
 *
 * Terminating a fleet (stopping its servers, removing its instances' roots
 * with every release they hold) takes long on a real Moodle tree, and no
 * deployment needs to wait for it: once a fleet is out of the load balancer
 * and no longer live or retained, nothing uses it. So a deployment only
 * records the retirement (the store value deploy/APP/GROUP/retiring/FLEET,
 * written before anything else) and takes the fleet's targets out of the
 * load balancer, both fast and under the group lock; it reports Succeeded,
 * releases the lock, and only then terminates the fleet.
 *
 * Crash-safe: a retirement that was recorded and not finished (the process
 * was killed) shows in `fleet list` as "retiring" and is finished by the
 * next create, rollback, scale, group stop/start, cleanup, status or
 * history of the group. Each fleet is terminated under a lock of its own
 * (retire/FLEET), so two commands never terminate the same fleet at once
 * and neither holds the group.
 *
 * The command that records a retirement takes retire/FLEET right then,
 * before it writes the record, and keeps it until it has terminated the
 * fleet: otherwise a `deploy status` or `fleet list` run between the
 * group lock's release and the termination would terminate the fleet
 * itself, and the deployment would report a retirement (and its time) it
 * did not do. A command that dies with the lock leaves it to a dead pid,
 * which the next command takes over.
 */
#include "deploy_private.h"
#include "store/store_private.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CLS MDEPLOY_ERROR_CLASS_DEPLOY

static void retiring_key(mdeploy_deploy__run *r, const char *fleet, char *out, size_t n)
{
	snprintf(out, n, "retiring/%s", fleet);
}

static int held_index(const mdeploy_deploy__run *r, const char *fleet)
{
	size_t i;
	for (i = 0; i < r->nretire_held; i++)
		if (!strcmp(r->retire_held[i], fleet))
			return (int)i;
	return -1;
}

/*
 * Take retire/FLEET for this command (see the top of the file). Not taking
 * it is no error: another command holds it, and the retirement recorded
 * after this is finished by whoever terminates the fleet (retire_one
 * checks the record under the lock).
 */
static void hold_retire_lock(mdeploy_deploy__run *r, const char *fleet)
{
	mdeploy_lock_options lo = MDEPLOY_LOCK_OPTIONS_INIT;
	char lock[200];
	if (held_index(r, fleet) >= 0 || r->nretire_held >= MDEPLOY__ARRAY_SIZE(r->retire_held))
		return;
	snprintf(lock, sizeof(lock), "retire/%s", fleet);
	lo.owner = "retire";
	if (mdeploy_store_lock_acquire(r->store, lock, &lo, NULL)) {
		mdeploy_error_clear();
		return;
	}
	snprintf(r->retire_held[r->nretire_held++], sizeof(r->retire_held[0]), "%s", fleet);
}

static void drop_held(mdeploy_deploy__run *r, const char *fleet)
{
	int i = held_index(r, fleet);
	if (i < 0)
		return;
	if ((size_t)i + 1 < r->nretire_held)
		memmove(r->retire_held[i], r->retire_held[i + 1], (r->nretire_held - (size_t)i - 1) * sizeof(r->retire_held[0]));
	r->nretire_held--;
}

/* The retire locks this command still holds (it failed before terminating). */
void mdeploy_deploy__retire_release(mdeploy_deploy__run *r)
{
	char lock[200];
	while (r->nretire_held) {
		snprintf(lock, sizeof(lock), "retire/%s", r->retire_held[--r->nretire_held]);
		if (r->store && mdeploy_store_lock_release(r->store, lock))
			mdeploy_error_clear();
	}
}

/* Out of the load balancer (fast, under the group lock); terminated later by retire_pending. */
int mdeploy_deploy__retire_record(mdeploy_deploy__run *r, const char *fleet)
{
	char key[200], ms[24];
	inst_list l;
	target_list t;
	size_t i;
	int rc;

	retiring_key(r, fleet, key, sizeof(key));
	snprintf(ms, sizeof(ms), "%lld", (long long)mdeploy_store__unix_ms());
	hold_retire_lock(r, fleet);
	if ((rc = mdeploy_deploy__value_set(r, key, ms)))
		return rc;
	if (mdeploy_deploy__instances(r, fleet, &l) == MDEPLOY_ENOTFOUND) {
		mdeploy_error_clear();
		return 0;
	}
	if (!mdeploy_lb_running(r->p, r->lb))
		return 0;
	if ((rc = mdeploy_deploy__targets(r, &t)))
		return rc;
	for (i = 0; i < t.n; i++)
		if (mdeploy_deploy__in_list(&l, t.t[i].instance) && (rc = mdeploy_lb_deregister(r->p, r->lb, t.t[i].instance)))
			return rc;
	mdeploy__log(r->ctx, MDEPLOY_LOG_DEBUG, "deploy", "group %s: %s is out of the load balancer, to be terminated",
	             r->g->name, fleet);
	return 0;
}

struct pending {
	char names[64][128];
	size_t n;
	const char *prefix;
};

static int pending_cb(const mdeploy_fleet_info *f, void *payload)
{
	struct pending *p = payload;
	if (p->n < 64)
		snprintf(p->names[p->n++], sizeof(p->names[0]), "%s", f->name);
	return 0;
}

/* Terminate one recorded fleet under its own lock; 0 when another process is at it. */
static int retire_one(mdeploy_deploy__run *r, const char *fleet)
{
	mdeploy_lock_options lo = MDEPLOY_LOCK_OPTIONS_INIT;
	char lock[200], key[200], *v = NULL;
	uint64_t t0 = mdeploy__now_ms();
	const char *delay = getenv("MDEPLOY_TEST_RETIRE_DELAY_MS"), *hold = getenv("MDEPLOY_TEST_RETIRE_HOLD");
	int rc;

	snprintf(lock, sizeof(lock), "retire/%s", fleet);
	lo.owner = "retire";
	if ((rc = mdeploy_store_lock_acquire(r->store, lock, &lo, NULL))) {
		mdeploy_error_clear();
		return 0; /* someone else retires it */
	}
	/* Under the lock: it may have been finished since we listed it. */
	retiring_key(r, fleet, key, sizeof(key));
	if (mdeploy_deploy__value_get(r, key, &v)) {
		mdeploy_error_clear();
		mdeploy_store_lock_release(r->store, lock);
		drop_held(r, fleet);
		return 0;
	}
	free(v);
	/* Tests: MDEPLOY_TEST_RETIRE_HOLD=FILE holds the retirement while FILE exists (at most 10 minutes);
	 * MDEPLOY_TEST_RETIRE_DELAY_MS then makes it slow; negative kills this process here. */
	while (hold && *hold && mdeploy__path_exists(hold) && mdeploy__now_ms() - t0 < 600000) {
		struct timespec ts = { 0, 50 * 1000000L };
		nanosleep(&ts, NULL);
	}
	if (delay && atoi(delay) < 0) {
		fflush(NULL);
		kill(getpid(), SIGKILL);
	} else if (delay && atoi(delay) > 0) {
		struct timespec ts = { atoi(delay) / 1000, (long)(atoi(delay) % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
	rc = mdeploy_deploy__retire_fleet(r, fleet);
	if (rc == 0)
		rc = mdeploy_deploy__value_set(r, key, NULL);
	if (rc == 0)
		mdeploy__log(r->ctx, MDEPLOY_LOG_INFO, "deploy", "group %s: %s terminated in %llu ms", r->g->name, fleet,
		             (unsigned long long)(mdeploy__now_ms() - t0));
	{
		char msg[1024];
		int code = mdeploy_error_last()->code, klass = mdeploy_error_last()->klass;
		snprintf(msg, sizeof(msg), "%s", mdeploy_error_last()->message);
		mdeploy_store_lock_release(r->store, lock);
		drop_held(r, fleet);
		if (rc)
			mdeploy__error_set(code ? code : rc, klass, "%s", msg);
	}
	return rc;
}

int mdeploy_deploy__retire_pending(mdeploy_deploy__run *r, size_t *retired)
{
	struct pending p;
	char prefix[200], key[200], *v;
	size_t i;
	int rc = 0, rc1;

	memset(&p, 0, sizeof(p));
	snprintf(prefix, sizeof(prefix), "%s-%s-", r->app, r->g->name);
	if ((rc = mdeploy_fleet_foreach(r->p, prefix, pending_cb, &p)))
		return rc;
	for (i = 0; i < p.n; i++) {
		v = NULL;
		retiring_key(r, p.names[i], key, sizeof(key));
		if (mdeploy_deploy__value_get(r, key, &v)) {
			mdeploy_error_clear();
			continue;
		}
		free(v);
		if ((rc1 = retire_one(r, p.names[i])) && !rc)
			rc = rc1;
		else if (!rc1 && retired)
			(*retired)++;
	}
	return rc;
}

/*
 * After the group lock is released: terminate what was recorded, keeping
 * the outcome `rc` of the command and its error. A retirement that fails
 * is a warning here (the deployment did what it reported) and stays
 * recorded for the next command.
 */
void mdeploy_deploy__retire_after(mdeploy_deploy__run *r, int rc)
{
	char msg[2048];
	int code = mdeploy_error_last()->code, klass = mdeploy_error_last()->klass;

	if (!r->store || !r->p || !r->g)
		return;
	snprintf(msg, sizeof(msg), "%s", mdeploy_error_last()->message);
	{
		/* Tests: MDEPLOY_TEST_RETIRE_AFTER_HOLD=FILE holds the command here, after the group
		 * lock's release and before the termination, while FILE exists (at most 10 minutes),
		 * having written FILE.reached. */
		const char *hold = getenv("MDEPLOY_TEST_RETIRE_AFTER_HOLD");
		uint64_t t0 = mdeploy__now_ms();
		if (hold && *hold) {
			char *reached = mdeploy__sprintf("%s.reached", hold);
			if (reached && mdeploy__file_write_atomic(reached, "", 0, 0600))
				mdeploy_error_clear();
			free(reached);
		}
		while (hold && *hold && mdeploy__path_exists(hold) && mdeploy__now_ms() - t0 < 600000) {
			struct timespec ts = { 0, 50 * 1000000L };
			nanosleep(&ts, NULL);
		}
	}
	if (mdeploy_deploy__retire_pending(r, NULL))
		mdeploy__log(r->ctx, MDEPLOY_LOG_WARN, "deploy", "group %s: retiring an old fleet failed (the next "
		             "'mdeploy deploy cleanup %s' tries again): %s", r->g->name, r->g->name,
		             mdeploy_error_last()->message);
	if (rc)
		mdeploy__error_set(code ? code : rc, klass, "%s", msg);
	else
		mdeploy_error_clear();
}
