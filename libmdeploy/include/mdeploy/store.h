/*
 * mdeploy/store.h - the state store: deployments, their journal, group locks.
 *
 * One SQLite database in WAL mode under the state directory
 * (<state_dir>/state.db). Its schema is versioned: opening the store applies
 * any migration this library knows and the file lacks, each in its own
 * transaction, and refuses a file written by a newer library.
 *
 * Journal first: an orchestrator writes a step with
 * mdeploy_store_journal_begin() *before* it runs it and closes it with
 * mdeploy_store_journal_end(). After a crash the open step tells `resume`
 * where to pick up.
 *
 * Locks: one deployment per group. A lock row names its owner, host, pid
 * (with the process start time, so a reused pid is not mistaken for the
 * owner) and a heartbeat. Acquiring is one IMMEDIATE transaction, so two
 * processes racing get exactly one winner. A lock whose owner is dead (same
 * host: the process is gone; another host: no heartbeat for stale_ms) is
 * taken over and a warning is logged.
 *
 * Thread-safety: one thread per handle. Several processes may open the same
 * store at once.
 */
#ifndef MDEPLOY_STORE_H
#define MDEPLOY_STORE_H

#include "common.h"
#include "context.h"

MDEPLOY_BEGIN_DECL

typedef struct mdeploy_store mdeploy_store;

typedef struct mdeploy_store_options {
	unsigned int version;
	const char *path;             /* NULL: <state_dir>/state.db */
	unsigned int busy_timeout_ms; /* wait for another writer; default 10000 */
} mdeploy_store_options;

#define MDEPLOY_STORE_OPTIONS_VERSION 1
#define MDEPLOY_STORE_OPTIONS_INIT { MDEPLOY_STORE_OPTIONS_VERSION, NULL, 10000 }

MDEPLOY_EXTERN(int) mdeploy_store_options_init(mdeploy_store_options *opts, unsigned int version);

/*
 * Open (creating it and the state directory when missing) and migrate the
 * store. `ctx` is borrowed and must outlive the store; `opts` may be NULL.
 * Returns MDEPLOY_ECONFLICT for a file from a newer mdeploy, MDEPLOY_ECORRUPT
 * for a file that is not a state store.
 */
MDEPLOY_EXTERN(int) mdeploy_store_open(mdeploy_store **out, mdeploy_ctx *ctx,
                                       const mdeploy_store_options *opts);
/* Accepts NULL. Does not release locks: do that explicitly. */
MDEPLOY_EXTERN(void) mdeploy_store_free(mdeploy_store *store);

/* The schema version of the open file (after migration). */
MDEPLOY_EXTERN(int) mdeploy_store_schema_version(mdeploy_store *store);
/* The schema version this library writes. */
MDEPLOY_EXTERN(int) mdeploy_store_schema_latest(void);
/* Borrowed path of the database file. */
MDEPLOY_EXTERN(const char *) mdeploy_store_path(const mdeploy_store *store);

/* ---- locks ---- */

typedef struct mdeploy_lock_info {
	char name[256];
	char owner[256];
	char host[256];
	long pid;
	int64_t acquired_at;   /* unix seconds */
	int64_t heartbeat_at;  /* unix milliseconds */
} mdeploy_lock_info;

typedef struct mdeploy_lock_options {
	unsigned int version;
	/* Who holds it, e.g. a deployment id; NULL: "pid@host". */
	const char *owner;
	/* How long to wait for a live owner to release, in ms. 0: fail at once
	 * with MDEPLOY_ELOCKED; UINT32_MAX: forever. */
	unsigned int wait_ms;
	/* A lock held from another host is dead when its heartbeat is older. Default 60000. */
	unsigned int stale_ms;
	/* Version 2: MDEPLOY_LOCK_* flags. */
	unsigned int flags;
} mdeploy_lock_options;

/*
 * A dead holder is not taken over: MDEPLOY_ELOCKED at once, the dead holder
 * described in `*previous`. For callers that must not inherit unfinished work
 * (a new deployment on a group whose last one was interrupted).
 */
#define MDEPLOY_LOCK_NO_TAKEOVER 1u

#define MDEPLOY_LOCK_OPTIONS_VERSION 2
#define MDEPLOY_LOCK_OPTIONS_INIT { MDEPLOY_LOCK_OPTIONS_VERSION, NULL, 0, 60000, 0 }

MDEPLOY_EXTERN(int) mdeploy_lock_options_init(mdeploy_lock_options *opts, unsigned int version);

/*
 * Take the lock `name` for this process. Re-acquiring a lock this process
 * already holds with the same owner succeeds. When the holder is dead, the
 * lock is taken over, a warning logged, and the dead holder is described in
 * `*previous` (may be NULL; its name is "" when there was no takeover).
 * Returns MDEPLOY_ELOCKED (the holder named in the message) when a live
 * owner holds it and `wait_ms` passed.
 *
 * Waiters are served in arrival order: a caller that waits (wait_ms > 0)
 * takes a ticket at its first attempt, and the lock goes to the oldest live
 * ticket; a caller that does not wait is refused while others queue. A
 * ticket dies with its process (same host) or after stale_ms without a
 * refresh (another host).
 */
MDEPLOY_EXTERN(int) mdeploy_store_lock_acquire(mdeploy_store *store, const char *name,
                                               const mdeploy_lock_options *opts,
                                               mdeploy_lock_info *previous);
/* Refresh the heartbeat. MDEPLOY_ELOCKED when this process no longer holds it. */
MDEPLOY_EXTERN(int) mdeploy_store_lock_heartbeat(mdeploy_store *store, const char *name);
/* Release a lock held by this process. MDEPLOY_ENOTFOUND when it does not hold it. */
MDEPLOY_EXTERN(int) mdeploy_store_lock_release(mdeploy_store *store, const char *name);
/* Describe the current holder. MDEPLOY_ENOTFOUND when nobody holds it. */
MDEPLOY_EXTERN(int) mdeploy_store_lock_get(mdeploy_store *store, const char *name,
                                           mdeploy_lock_info *out);

/* ---- deployments ---- */

/* A deployment record. Strings may be NULL; all are borrowed from the record. */
typedef struct mdeploy_deployment_record {
	const char *id;           /* d-XXXXXXXXX */
	const char *application;
	const char *group;
	const char *status;       /* Created, InProgress, Ready, Succeeded, Failed, Stopped, RolledBack */
	const char *strategy;     /* in-place, blue-green */
	const char *revision;     /* what is deployed: bundle id or digest */
	const char *bundle;       /* bundle path */
	const char *previous_revision;
	const char *error;
	const char *data;         /* JSON object owned by the orchestrator */
	int64_t created_at, updated_at, completed_at; /* unix seconds; 0 unset */
	/* Appended with schema version 5; NULL in records written before it. */
	const char *created_by;   /* who asked: "user:LOGIN", "token:NAME", "pipeline:NAME/EXECUTION" */
	const char *bundle_sha256; /* SHA-256 of the bundle file (64 lowercase hex digits) */
	const char *bundle_key_id; /* key id of the bundle's signature (16 hex digits); NULL: unsigned */
} mdeploy_deployment_record;

/* A new deployment id: "d-" and 9 base32 characters from the kernel's random source. */
MDEPLOY_EXTERN(int) mdeploy_deployment_id_new(char out[12]);

/* Insert a record (id, application and group required). MDEPLOY_EEXISTS on a duplicate id. */
MDEPLOY_EXTERN(int) mdeploy_store_deployment_insert(mdeploy_store *store,
                                                    const mdeploy_deployment_record *rec);
/*
 * Set the status (and, when not NULL, the error and data). A final status
 * (Succeeded, Failed, Stopped, RolledBack) also sets completed_at.
 */
MDEPLOY_EXTERN(int) mdeploy_store_deployment_set_status(mdeploy_store *store, const char *id,
                                                        const char *status, const char *error);
MDEPLOY_EXTERN(int) mdeploy_store_deployment_set_data(mdeploy_store *store, const char *id,
                                                      const char *json);

typedef struct mdeploy_deployment mdeploy_deployment;
/* Load one record. Free with mdeploy_deployment_free(). */
MDEPLOY_EXTERN(int) mdeploy_store_deployment_get(mdeploy_store *store, const char *id,
                                                 mdeploy_deployment **out);
MDEPLOY_EXTERN(const mdeploy_deployment_record *) mdeploy_deployment_record_of(const mdeploy_deployment *d);
MDEPLOY_EXTERN(void) mdeploy_deployment_free(mdeploy_deployment *d);

/* Non-zero for Succeeded, Failed, Stopped, RolledBack. */
MDEPLOY_EXTERN(int) mdeploy_deployment_status_is_final(const char *status);

typedef int (*mdeploy_deployment_cb)(const mdeploy_deployment_record *rec, void *payload);
/*
 * Records newest first; `application` and `group` filter when not NULL;
 * `limit` 0 means all. A non-zero callback return stops with MDEPLOY_EUSER.
 */
MDEPLOY_EXTERN(int) mdeploy_store_deployment_foreach(mdeploy_store *store, const char *application,
                                                     const char *group, unsigned int limit,
                                                     mdeploy_deployment_cb cb, void *payload);

/* ---- journal ---- */

typedef struct mdeploy_journal_entry {
	const char *deployment_id;
	int64_t seq;             /* 1, 2, ... per deployment */
	const char *step;        /* "create-fleet", "install", "shift-traffic" ... */
	const char *target;      /* what it works on (instance, fleet); may be NULL */
	const char *state;       /* "started", "done", "failed" */
	const char *data;        /* JSON; may be NULL */
	const char *error;       /* may be NULL */
	int64_t started_at, finished_at; /* unix milliseconds; finished 0 while open */
} mdeploy_journal_entry;

/* Write a step as "started" before running it; `*seq` (may be NULL) gets its number. */
MDEPLOY_EXTERN(int) mdeploy_store_journal_begin(mdeploy_store *store, const char *deployment_id,
                                                const char *step, const char *target,
                                                const char *data, int64_t *seq);
/* Close a step: `ok` non-zero for "done", else "failed" with `error`. */
MDEPLOY_EXTERN(int) mdeploy_store_journal_end(mdeploy_store *store, const char *deployment_id,
                                              int64_t seq, int ok, const char *error);

typedef int (*mdeploy_journal_cb)(const mdeploy_journal_entry *e, void *payload);
/* Steps in order. A non-zero callback return stops with MDEPLOY_EUSER. */
MDEPLOY_EXTERN(int) mdeploy_store_journal_foreach(mdeploy_store *store, const char *deployment_id,
                                                  mdeploy_journal_cb cb, void *payload);

/* ---- small named values (group state such as the live fleet) ---- */

/* Set (value NULL deletes) a value. */
MDEPLOY_EXTERN(int) mdeploy_store_value_set(mdeploy_store *store, const char *key, const char *value);
/* Get a value; *out is malloc'd (free()). MDEPLOY_ENOTFOUND when unset. */
MDEPLOY_EXTERN(int) mdeploy_store_value_get(mdeploy_store *store, const char *key, char **out);

MDEPLOY_END_DECL

#endif
