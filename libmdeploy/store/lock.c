/* lock.c - group locks in the state store: atomic, with dead-owner takeover. */
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

/* One attempt: 0 taken, MDEPLOY_ELOCKED held by a live owner (described in *holder). */
static int try_acquire(mdeploy_store *store, const char *name, const char *owner,
                       unsigned int stale_ms, const char *host, mdeploy_lock_info *previous,
                       lock_row *holder)
{
	int rc, found;

	if ((rc = mdeploy_store__begin(store)))
		return rc;
	if ((found = lock_read(store, name, holder)) < 0) {
		rc = found;
		goto fail;
	}
	if (found && row_is_mine(holder, host) && !strcmp(holder->info.owner, owner)) {
		/* Re-entrant for the same owner in the same process: refresh. */
	} else if (found && !row_is_dead(holder, stale_ms, host)) {
		mdeploy_store__rollback(store);
		return MDEPLOY_ELOCKED;
	} else if (found) {
		mdeploy__log(store->ctx, MDEPLOY_LOG_WARN, "store",
		             "lock '%s': taking over from dead owner '%s' (pid %ld on %s)",
		             name, holder->info.owner, holder->info.pid, holder->info.host);
		if (previous)
			*previous = holder->info;
	}
	if ((rc = lock_write(store, name, owner, host)))
		goto fail;
	return mdeploy_store__commit(store);
fail:
	mdeploy_store__rollback(store);
	return rc;
}

int mdeploy_store_lock_acquire(mdeploy_store *store, const char *name,
                               const mdeploy_lock_options *opts, mdeploy_lock_info *previous)
{
	mdeploy_lock_options def = MDEPLOY_LOCK_OPTIONS_INIT;
	char host[256], owner_buf[320];
	const char *owner;
	uint64_t start = mdeploy__now_ms();
	unsigned int delay = 20;
	lock_row holder;
	int rc;

	if (!opts)
		opts = &def;
	if ((rc = mdeploy__options_check(opts->version, MDEPLOY_LOCK_OPTIONS_VERSION, "mdeploy_lock_options")))
		return rc;
	if (!name || !*name)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_STORE, "lock name is empty");
	if (previous)
		memset(previous, 0, sizeof(*previous));
	hostname(host, sizeof(host));
	owner = opts->owner;
	if (!owner) {
		snprintf(owner_buf, sizeof(owner_buf), "%ld@%s", (long)getpid(), host);
		owner = owner_buf;
	}
	for (;;) {
		rc = try_acquire(store, name, owner, opts->stale_ms ? opts->stale_ms : 60000, host,
		                 previous, &holder);
		if (rc != MDEPLOY_ELOCKED)
			return rc;
		if (opts->wait_ms != UINT32_MAX && mdeploy__now_ms() - start >= opts->wait_ms)
			break;
		{
			struct timespec ts = { 0, (long)delay * 1000000L };
			nanosleep(&ts, NULL);
			if (delay < 500)
				delay *= 2;
		}
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
	return update_mine(store, name, 0);
}

int mdeploy_store_lock_release(mdeploy_store *store, const char *name)
{
	return update_mine(store, name, 1);
}

int mdeploy_store_lock_get(mdeploy_store *store, const char *name, mdeploy_lock_info *out)
{
	lock_row row;
	int found = lock_read(store, name, &row);
	if (found < 0)
		return found;
	if (!found)
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_STORE,
		                          "lock '%s' is not held", name);
	*out = row.info;
	return 0;
}
