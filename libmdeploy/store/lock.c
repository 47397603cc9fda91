/* lock.c - group locks in the state store: atomic, served in arrival order, with dead-owner takeover. */
#include "store_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int mdeploy_lock_options_init(mdeploy_lock_options *opts, unsigned int version)
{
	mdeploy_lock_options def = MDEPLOY_LOCK_OPTIONS_INIT;
	int rc;
	if ((rc = mdeploy__options_check(version, MDEPLOY_LOCK_OPTIONS_VERSION, "mdeploy_lock_options")))
		return rc;
	*opts = def;
	opts->version = version;
	return 0;
}

static void hostname(char *buf, size_t n)
{
	if (gethostname(buf, n) != 0)
		snprintf(buf, n, "localhost");
	buf[n - 1] = '\0';
}

typedef struct {
	mdeploy_lock_info info;
	unsigned long long pid_start;
} lock_row;

/* 1 found, 0 none, <0 error */
static int lock_read(mdeploy_store *store, const char *name, lock_row *row)
{
	sqlite3_stmt *st = mdeploy_store__prepare(store,
		"SELECT owner, host, pid, pid_start, acquired_at, heartbeat_at FROM locks WHERE name = ?");
	int rc;

	if (!st)
		return MDEPLOY_ERROR;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		memset(row, 0, sizeof(*row));
		snprintf(row->info.name, sizeof(row->info.name), "%s", name);
		snprintf(row->info.owner, sizeof(row->info.owner), "%s", (const char *)sqlite3_column_text(st, 0));
		snprintf(row->info.host, sizeof(row->info.host), "%s", (const char *)sqlite3_column_text(st, 1));
		row->info.pid = (long)sqlite3_column_int64(st, 2);
		row->pid_start = (unsigned long long)sqlite3_column_int64(st, 3);
		row->info.acquired_at = sqlite3_column_int64(st, 4);
		row->info.heartbeat_at = sqlite3_column_int64(st, 5);
		rc = 1;
	} else if (rc == SQLITE_DONE) {
		rc = 0;
	} else {
		rc = mdeploy_store__error(store, "cannot read locks");
	}
	sqlite3_finalize(st);
	return rc;
}

static int row_is_dead(const lock_row *row, unsigned int stale_ms, const char *myhost)
{
	if (!strcmp(row->info.host, myhost))
		return !mdeploy_store__pid_alive(row->info.pid, row->pid_start);
	return mdeploy_store__unix_ms() - row->info.heartbeat_at > (int64_t)stale_ms;
}

static int row_is_mine(const lock_row *row, const char *myhost)
{
	return !strcmp(row->info.host, myhost) && row->info.pid == (long)getpid() &&
	       row->pid_start == mdeploy_store__pid_start((long)getpid());
}

static int lock_write(mdeploy_store *store, const char *name, const char *owner, const char *host)
{
	sqlite3_stmt *st = mdeploy_store__prepare(store,
		"INSERT OR REPLACE INTO locks (name, owner, host, pid, pid_start, acquired_at, heartbeat_at)"
		" VALUES (?, ?, ?, ?, ?, ?, ?)");
	int64_t now = mdeploy_store__unix_ms();
	int rc = 0;

	if (!st)
		return MDEPLOY_ERROR;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, owner, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, host, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)getpid());
	sqlite3_bind_int64(st, 5, (sqlite3_int64)mdeploy_store__pid_start((long)getpid()));
	sqlite3_bind_int64(st, 6, now / 1000);
	sqlite3_bind_int64(st, 7, now);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = mdeploy_store__error(store, "cannot write a lock");
	sqlite3_finalize(st);
	return rc;
}

/* ---- arrival order: tickets in the kv table, "lockq/<name>/<ms>-<pid>" ---- */

typedef struct {
	char key[400];  /* "" when this caller holds no ticket */
} ticket;

/* Does the ticket row `value` (host\tpid\tpid_start) with heartbeat `beat` belong to a live process? */
static int ticket_alive(const char *value, int64_t beat, unsigned int stale_ms, const char *myhost)
{
	char host[256];
	long pid = 0;
	unsigned long long start = 0;
	if (sscanf(value, "%255[^\t]\t%ld\t%llu", host, &pid, &start) != 3)
		return 0;
	if (!strcmp(host, myhost))
		return mdeploy_store__pid_alive(pid, start);
	return mdeploy_store__unix_ms() - beat <= (int64_t)stale_ms;
}

static int ticket_exec(mdeploy_store *store, const char *sql, const char *key, const char *value)
{
	sqlite3_stmt *st = mdeploy_store__prepare(store, sql);
	int rc;
	if (!st)
		return MDEPLOY_ERROR;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (value)
		sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, mdeploy_store__unix_ms());
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : mdeploy_store__error(store, "cannot write a lock ticket");
	sqlite3_finalize(st);
	return rc;
}

/*
 * Inside the caller's transaction: take or refresh our ticket (when `t`),
 * drop dead ones, and tell whether a live ticket other than ours is older
 * than ours (1), or none is (0). Without a ticket of our own, any live
 * ticket is ahead of us.
 */
static int queue_ahead(mdeploy_store *store, const char *name, ticket *t, unsigned int stale_ms,
                       const char *myhost, char *first, size_t nfirst)
{
	char prefix[320], value[400];
	sqlite3_stmt *st;
	char (*dead)[400] = NULL;
	size_t ndead = 0, i;
	int rc = 0, ahead = 0;

	snprintf(prefix, sizeof(prefix), "lockq/%s/", name);
	if (t && !t->key[0]) {
		snprintf(t->key, sizeof(t->key), "%s%013lld-%010ld", prefix, (long long)mdeploy_store__unix_ms(),
		         (long)getpid());
		snprintf(value, sizeof(value), "%s\t%ld\t%llu", myhost, (long)getpid(),
		         mdeploy_store__pid_start((long)getpid()));
		if ((rc = ticket_exec(store, "INSERT OR REPLACE INTO kv (key, value, updated_at) VALUES (?1, ?2, ?3)",
		                      t->key, value)))
			return rc;
	} else if (t && (rc = ticket_exec(store, "UPDATE kv SET updated_at = ?3 WHERE key = ?1", t->key, NULL))) {
		return rc;
	}
	if (!(st = mdeploy_store__prepare(store,
		"SELECT key, value, updated_at FROM kv WHERE substr(key, 1, length(?1)) = ?1 ORDER BY key")))
		return MDEPLOY_ERROR;
	sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(st, 0);
		if (t && !strcmp(k, t->key))
			break; /* ours: everything after it is younger */
		if (ticket_alive((const char *)sqlite3_column_text(st, 1), sqlite3_column_int64(st, 2), stale_ms, myhost)) {
			snprintf(first, nfirst, "%s", (const char *)sqlite3_column_text(st, 1));
			ahead = 1;
			break;
		}
		{
			char (*nd)[400] = realloc(dead, (ndead + 1) * sizeof(*dead));
			if (!nd) {
				rc = SQLITE_NOMEM;
				break;
			}
			dead = nd;
			snprintf(dead[ndead++], sizeof(dead[0]), "%s", k);
		}
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_NOMEM) {
		free(dead);
		return mdeploy__error_oom();
	}
	for (i = 0, rc = 0; i < ndead && !rc; i++)
		rc = ticket_exec(store, "DELETE FROM kv WHERE key = ?1", dead[i], NULL);
	free(dead);
	return rc ? rc : ahead;
}

static void ticket_drop(mdeploy_store *store, ticket *t)
{
	if (!t->key[0])
		return;
	if (mdeploy_store__begin(store) == 0) {
		if (ticket_exec(store, "DELETE FROM kv WHERE key = ?1", t->key, NULL) == 0)
			mdeploy_store__commit(store);
		else
			mdeploy_store__rollback(store);
	}
	t->key[0] = '\0';
}

/*
 * One attempt: 0 taken, MDEPLOY_ELOCKED held by a live owner (described in
 * *holder), by a dead one we may not take over (*dead set), or others queue
 * before us (*queued set, the first of them in `first`).
 */
static int try_acquire(mdeploy_store *store, const char *name, const mdeploy_lock_options *o,
                       unsigned int stale_ms, const char *owner, const char *host, ticket *t,
                       mdeploy_lock_info *previous, lock_row *holder, int *dead, int *queued,
                       char *first, size_t nfirst)
{
	int rc, found, ahead;

	*dead = *queued = 0;
	if ((rc = mdeploy_store__begin(store)))
		return rc;
	if ((found = lock_read(store, name, holder)) < 0) {
		rc = found;
		goto fail;
	}
	if (found && row_is_mine(holder, host) && !strcmp(holder->info.owner, owner)) {
		/* Re-entrant for the same owner in the same process: refresh. */
	} else if (found && !row_is_dead(holder, stale_ms, host)) {
		/* Keep our place in the queue while the holder works. */
		if (t && (ahead = queue_ahead(store, name, t, stale_ms, host, first, nfirst)) < 0) {
			rc = ahead;
			goto fail;
		}
		mdeploy_store__commit(store);
		return MDEPLOY_ELOCKED;
	} else {
		if ((ahead = queue_ahead(store, name, t, stale_ms, host, first, nfirst)) < 0) {
			rc = ahead;
			goto fail;
		}
		if (ahead) {
			*queued = 1;
			mdeploy_store__commit(store);
			return MDEPLOY_ELOCKED;
		}
		if (found && (o->flags & MDEPLOY_LOCK_NO_TAKEOVER)) {
			*dead = 1;
			if (previous)
				*previous = holder->info;
			mdeploy_store__commit(store);
			return MDEPLOY_ELOCKED;
		}
		if (found) {
			mdeploy__log(store->ctx, MDEPLOY_LOG_WARN, "store",
			             "lock '%s': taking over from dead owner '%s' (pid %ld on %s)",
			             name, holder->info.owner, holder->info.pid, holder->info.host);
			if (previous)
				*previous = holder->info;
		}
	}
	if ((rc = lock_write(store, name, owner, host)))
		goto fail;
	if (t && t->key[0]) {
		if ((rc = ticket_exec(store, "DELETE FROM kv WHERE key = ?1", t->key, NULL)))
			goto fail;
		t->key[0] = '\0';
	}
	return mdeploy_store__commit(store);
fail:
	mdeploy_store__rollback(store);
	return rc;
}

int mdeploy_store_lock_acquire(mdeploy_store *store, const char *name,
                               const mdeploy_lock_options *opts, mdeploy_lock_info *previous)
{
	mdeploy_lock_options o = MDEPLOY_LOCK_OPTIONS_INIT;
	char host[256], owner_buf[320], first[400] = "";
	const char *owner;
	uint64_t start = mdeploy__now_ms();
	unsigned int delay = 20, stale_ms;
	lock_row holder;
	ticket t;
	int rc, dead = 0, queued = 0;

	if (opts) {
		if ((rc = mdeploy__options_check(opts->version, MDEPLOY_LOCK_OPTIONS_VERSION, "mdeploy_lock_options")))
			return rc;
		/* Only the fields the caller's version has. */
		o.owner = opts->owner;
		o.wait_ms = opts->wait_ms;
		o.stale_ms = opts->stale_ms;
		if (opts->version >= 2)
			o.flags = opts->flags;
	}
	if (!name || !*name)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_STORE, "lock name is empty");
	if (previous)
		memset(previous, 0, sizeof(*previous));
	memset(&holder, 0, sizeof(holder));
	t.key[0] = '\0';
	hostname(host, sizeof(host));
	stale_ms = o.stale_ms ? o.stale_ms : 60000;
	owner = o.owner;
	if (!owner) {
		snprintf(owner_buf, sizeof(owner_buf), "%ld@%s", (long)getpid(), host);
		owner = owner_buf;
	}
	if (store->shared)
		return store->shared->lock_acquire(store->shared_impl, name, &o, owner, host, previous);
	for (;;) {
		rc = try_acquire(store, name, &o, stale_ms, owner, host, o.wait_ms ? &t : NULL, previous, &holder,
		                 &dead, &queued, first, sizeof(first));
		if (rc != MDEPLOY_ELOCKED || dead)
			break;
		if (o.wait_ms != UINT32_MAX && mdeploy__now_ms() - start >= o.wait_ms)
			break;
		{
			struct timespec ts = { 0, (long)delay * 1000000L };
			nanosleep(&ts, NULL);
			if (delay < 200)
				delay *= 2;
		}
	}
	ticket_drop(store, &t);
	if (rc != MDEPLOY_ELOCKED)
		return rc;
	if (dead)
		return mdeploy__error_set(MDEPLOY_ELOCKED, MDEPLOY_ERROR_CLASS_STORE,
			"'%s' is held by '%s' (pid %ld on %s), which is gone", name, holder.info.owner,
			holder.info.pid, holder.info.host);
	if (queued) {
		char *tab = strchr(first, '\t');
		return mdeploy__error_set(MDEPLOY_ELOCKED, MDEPLOY_ERROR_CLASS_STORE,
			"'%s' is wanted by a command waiting before this one (pid %ld)", name,
			tab ? strtol(tab + 1, NULL, 10) : 0L);
	}
	return mdeploy__error_set(MDEPLOY_ELOCKED, MDEPLOY_ERROR_CLASS_STORE,
		"'%s' is locked by '%s' (pid %ld on %s, heartbeat %llds ago)", name, holder.info.owner,
		holder.info.pid, holder.info.host,
		(long long)((mdeploy_store__unix_ms() - holder.info.heartbeat_at) / 1000));
}

static int update_mine(mdeploy_store *store, const char *name, int release)
{
	char host[256];
	lock_row row;
	int rc, found;
	sqlite3_stmt *st;

	hostname(host, sizeof(host));
	if ((rc = mdeploy_store__begin(store)))
		return rc;
	if ((found = lock_read(store, name, &row)) < 0) {
		rc = found;
		goto fail;
	}
	if (!found || !row_is_mine(&row, host)) {
		mdeploy_store__rollback(store);
		if (release)
			return mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_STORE,
			                          "lock '%s' is not held by this process", name);
		return mdeploy__error_set(MDEPLOY_ELOCKED, MDEPLOY_ERROR_CLASS_STORE,
			"lock '%s' was lost%s%s", name, found ? " to " : "", found ? row.info.owner : "");
	}
	st = mdeploy_store__prepare(store, release ? "DELETE FROM locks WHERE name = ?"
	                                           : "UPDATE locks SET heartbeat_at = ? WHERE name = ?");
	if (!st) {
		rc = MDEPLOY_ERROR;
		goto fail;
	}
	if (release) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	} else {
		sqlite3_bind_int64(st, 1, mdeploy_store__unix_ms());
		sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	}
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : mdeploy_store__error(store, "cannot update a lock");
	sqlite3_finalize(st);
	if (rc)
		goto fail;
	return mdeploy_store__commit(store);
fail:
	mdeploy_store__rollback(store);
	return rc;
}

int mdeploy_store_lock_heartbeat(mdeploy_store *store, const char *name)
{
	if (store->shared)
		return store->shared->lock_update(store->shared_impl, name, 0);
	return update_mine(store, name, 0);
}

int mdeploy_store_lock_release(mdeploy_store *store, const char *name)
{
	if (store->shared)
		return store->shared->lock_update(store->shared_impl, name, 1);
	return update_mine(store, name, 1);
}

int mdeploy_store_lock_get(mdeploy_store *store, const char *name, mdeploy_lock_info *out)
{
	lock_row row;
	int found;
	if (store->shared)
		return store->shared->lock_get(store->shared_impl, name, out);
	if ((found = lock_read(store, name, &row)) < 0)
		return found;
	if (!found)
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_STORE,
		                          "lock '%s' is not held", name);
	*out = row.info;
	return 0;
}
