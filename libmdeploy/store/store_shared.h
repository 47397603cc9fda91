/*
 * store_shared.h - a shared state backend behind the state store.
 *
 * The state store is SQLite under the state directory. When mdeploy.yml
 * names a state store of another provider (`stores.state.provider`), the
 * orchestrator's shared state goes there instead, so that every machine
 * pointing at it sees one lock per group and one journal: group locks,
 * deployment records, their journal, and the values under "deploy/" (group
 * state: the live fleet, the fleet counter) and "deployment/" (a
 * deployment's stop and promote requests). Everything else (the local
 * provider's inventory, pipelines, the console) stays in SQLite.
 *
 * Each operation keeps the promise of the public function of the same name
 * in mdeploy/store.h; lock_acquire gets the options already checked, with
 * the owner and host filled in.
 */
#ifndef MDEPLOY_STORE_SHARED_H
#define MDEPLOY_STORE_SHARED_H

#include "mdeploy/store.h"

typedef struct mdeploy_store__shared_ops {
	const char *name;  /* for messages: "dynamodb table 'x'" is said by the backend */
	int (*lock_acquire)(void *impl, const char *name, const mdeploy_lock_options *o, const char *owner,
	                    const char *host, mdeploy_lock_info *previous);
	/* release 0: heartbeat */
	int (*lock_update)(void *impl, const char *name, int release);
	int (*lock_get)(void *impl, const char *name, mdeploy_lock_info *out);
	int (*deployment_insert)(void *impl, const mdeploy_deployment_record *rec);
	/* status NULL: only data (set_data); else status and error */
	int (*deployment_update)(void *impl, const char *id, const char *status, const char *error,
	                         const char *data);
	/* Calls cb once with the record; MDEPLOY_ENOTFOUND when there is none. */
	int (*deployment_get)(void *impl, const char *id, mdeploy_deployment_cb cb, void *payload);
	int (*deployment_foreach)(void *impl, const char *application, const char *group, unsigned int limit,
	                          mdeploy_deployment_cb cb, void *payload);
	int (*journal_begin)(void *impl, const char *id, const char *step, const char *target, const char *data,
	                     int64_t *seq);
	int (*journal_end)(void *impl, const char *id, int64_t seq, int ok, const char *error);
	int (*journal_data)(void *impl, const char *id, int64_t seq, const char *data);
	int (*journal_foreach)(void *impl, const char *id, mdeploy_journal_cb cb, void *payload);
	/* value NULL deletes */
	int (*value_set)(void *impl, const char *key, const char *value);
	int (*value_get)(void *impl, const char *key, char **out);
	void (*free)(void *impl);
} mdeploy_store__shared_ops;

/* Non-zero for the value keys that live in the shared backend. */
int mdeploy_store__shared_key(const char *key);

/*
 * provider/store.c: the shared backend mdeploy.yml of `ctx` names
 * (stores.state), *ops NULL when it names none or the embedded one.
 */
int mdeploy_provider__state_open(void **impl, const mdeploy_store__shared_ops **ops, mdeploy_ctx *ctx);

#endif
