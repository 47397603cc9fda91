/*
 * ownership.c - who may carry on an unfinished deployment.
 *
 * A deployment whose process died (kill -9, a crash, a reboot) keeps the
 * group's lock in the name of a dead owner. Only `deploy resume`, `deploy
 * stop` and `deploy rollback` may take that over: they finish or undo it
 * from its journal. A new `deploy create` must not, or two fleets would end
 * up taking traffic with the first deployment InProgress forever.
 */
#include "deploy_private.h"
#include "store/store_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLS MDEPLOY_ERROR_CLASS_DEPLOY

struct unfinished {
	const char *skip;
	char id[12];
};

static int unfinished_cb(const mdeploy_deployment_record *r, void *payload)
{
	struct unfinished *u = payload;
	if (mdeploy_deployment_status_is_final(r->status) || (u->skip && !strcmp(r->id, u->skip)))
		return 0;
	snprintf(u->id, sizeof(u->id), "%s", r->id);
	return 1;
}

struct last_step {
	char step[64];
	int open;
};

static int last_step_cb(const mdeploy_journal_entry *e, void *payload)
{
	struct last_step *ls = payload;
	/* The step that was running, else the last one journaled. */
	if (ls->open && strcmp(e->state, "started"))
		return 0;
	snprintf(ls->step, sizeof(ls->step), "%s%s%s", e->step, e->target ? " " : "", e->target ? e->target : "");
	ls->open = !strcmp(e->state, "started");
	return 0;
}

static void interrupted_step(mdeploy_store *store, const char *id, char step[64])
{
	struct last_step ls;
	memset(&ls, 0, sizeof(ls));
	snprintf(ls.step, sizeof(ls.step), "(none)");
	mdeploy_store_journal_foreach(store, id, last_step_cb, &ls);
	mdeploy_error_clear();
	snprintf(step, 64, "%s", ls.step);
}

/* Is the deployment `id` of app/group run by a live process now? */
static int owner_alive(mdeploy_store *store, const char *app, const char *group, const char *id)
{
	mdeploy_lock_info li;
	char lock[320], host[256];
	snprintf(lock, sizeof(lock), "group/%s/%s", app, group);
	if (mdeploy_store_lock_get(store, lock, &li)) {
		mdeploy_error_clear();
		return 0;
	}
	if (strcmp(li.owner, id))
		return 0;
	if (gethostname(host, sizeof(host)) != 0 || strcmp(host, li.host))
		return mdeploy_store__unix_ms() - li.heartbeat_at < 60000;
	return mdeploy_store__pid_alive(li.pid, 0);
}

int mdeploy_deploy_interrupted(mdeploy_store *store, const mdeploy_deployment_record *rec, char step[64])
{
	if (step)
		step[0] = '\0';
	if (!store || !rec || !rec->id || !rec->application || !rec->group ||
	    mdeploy_deployment_status_is_final(rec->status))
		return 0;
	if (owner_alive(store, rec->application, rec->group, rec->id))
		return 0;
	if (step)
		interrupted_step(store, rec->id, step);
	return 1;
}

int mdeploy_deploy__find_interrupted(mdeploy_deploy__run *r, const char *skip, char id[12], char step[64])
{
	struct unfinished u;
	int rc;
	memset(&u, 0, sizeof(u));
	u.skip = skip;
	rc = mdeploy_store_deployment_foreach(r->store, r->app, r->g->name, 0, unfinished_cb, &u);
	mdeploy_error_clear();
	if (rc && rc != MDEPLOY_EUSER)
		return 0;
	if (!u.id[0] || owner_alive(r->store, r->app, r->g->name, u.id))
		return 0;
	snprintf(id, 12, "%s", u.id);
	interrupted_step(r->store, u.id, step);
	return 1;
}

int mdeploy_deploy__refuse_interrupted(mdeploy_deploy__run *r, const char *id, const char *step)
{
	return mdeploy__error_set(MDEPLOY_ECONFLICT, CLS,
		"deployment %s was interrupted at step %s (its process is gone): run 'mdeploy deploy resume %s' or "
		"'mdeploy deploy stop %s'", id, step, id, id);
}

/*
 * The group's lock for a new deployment (or scaling, cleanup): never a dead
 * deployment's. A dead holder that ran no deployment (a scale, a cleanup)
 * is taken over; an interrupted deployment is refused, naming it.
 */
int mdeploy_deploy__lock_take_new(mdeploy_deploy__run *r, const char *owner, unsigned int wait_ms)
{
	mdeploy_lock_options lo = MDEPLOY_LOCK_OPTIONS_INIT;
	mdeploy_lock_info dead;
	char id[12], step[64];
	int rc;

	lo.owner = owner;
	lo.wait_ms = wait_ms;
	lo.flags = MDEPLOY_LOCK_NO_TAKEOVER;
	rc = mdeploy_store_lock_acquire(r->store, r->lock, &lo, &dead);
	if (rc == MDEPLOY_ELOCKED && dead.name[0]) {
		if (mdeploy_deploy__find_interrupted(r, NULL, id, step))
			return mdeploy_deploy__refuse_interrupted(r, id, step);
		rc = mdeploy_deploy__lock_take(r, owner, 0);
	}
	if (rc)
		return rc;
	r->last_beat = mdeploy__now_ms();
	/* We hold the lock: any other unfinished deployment of the group has lost its process. */
	if (mdeploy_deploy__find_interrupted(r, owner, id, step)) {
		mdeploy_store_lock_release(r->store, r->lock);
		return mdeploy_deploy__refuse_interrupted(r, id, step);
	}
	return 0;
}
