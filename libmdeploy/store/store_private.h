/* store_private.h - internals of the state store shared with other modules. */
#ifndef MDEPLOY_STORE_PRIVATE_H
#define MDEPLOY_STORE_PRIVATE_H

#include "mdeploy_private.h"
#include "mdeploy/store.h"
#include "store_shared.h"

#include <sqlite3.h>

struct mdeploy_store {
	mdeploy_ctx *ctx;
	sqlite3 *db;
	char *path;
	int schema_version;
	/* A shared backend (stores.state in mdeploy.yml) for locks, deployments,
	 * the journal and group values; NULL: all in SQLite. */
	const mdeploy_store__shared_ops *shared;
	void *shared_impl;
};

/* The connection, for modules that keep their own tables in the store
 * (the local provider's inventory). */
sqlite3 *mdeploy_store__db(mdeploy_store *store);
mdeploy_ctx *mdeploy_store__ctx(mdeploy_store *store);

/* Report the connection's last error as MDEPLOY_ERROR_CLASS_STORE; returns the code. */
int mdeploy_store__error(mdeploy_store *store, const char *what);
/* Run SQL without results. */
int mdeploy_store__exec(mdeploy_store *store, const char *sql);
/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. */
int mdeploy_store__begin(mdeploy_store *store);
int mdeploy_store__commit(mdeploy_store *store);
void mdeploy_store__rollback(mdeploy_store *store);
/* Prepare; on failure the error is set and NULL returned. */
sqlite3_stmt *mdeploy_store__prepare(mdeploy_store *store, const char *sql);

/* Replace the JSON data kept with journal step `seq` of a deployment. */
int mdeploy_store__journal_data(mdeploy_store *store, const char *deployment_id, int64_t seq, const char *data);

/* Migrations kept next to the module that owns the tables. */
extern const char mdeploy_pipeline__schema[]; /* pipeline/schema.c */
extern const char mdeploy_web__schema[];      /* web/audit.c */

/* Wall clock. */
int64_t mdeploy_store__unix_ms(void);
/* The start time of a process (clock ticks since boot, from /proc), or 0 when gone. */
unsigned long long mdeploy_store__pid_start(long pid);
/* Non-zero when `pid` runs and started at `start` (0: don't compare). */
int mdeploy_store__pid_alive(long pid, unsigned long long start);

#endif
