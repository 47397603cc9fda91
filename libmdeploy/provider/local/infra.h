/*
 * infra.h - the local provider's infrastructure (mdeploy/infra.h): shared by
 * infra.c (plan, apply, destroy, status, outputs), infra_util.c (the
 * records, ports, processes), infra_groups.c (what each group gets),
 * infra_pg.c (PostgreSQL), infra_redis.c (Redis) and infra_tls.c (the
 * certificates).
 *
 * Every resource has a record in the state store (one JSON document under
 * the key "infra/local": {"resources": {NAME: {...}}}), written before the
 * resource is touched: "state" is "creating" until it exists, then "ready"
 * or "stopped". A record in "creating" after a crash is redone from its
 * recorded directory and port, never left unknown.
 */
#ifndef MDEPLOY_LOCAL_INFRA_H
#define MDEPLOY_LOCAL_INFRA_H

#include "mdeploy_private.h"
#include "mdeploy/infra.h"
#include "mdeploy/params.h"
#include "mdeploy/secrets.h"
#include "mdeploy/group.h"
#include "mdeploy/exec.h"

#include <jansson.h>

#define INFRA_CLS MDEPLOY_ERROR_CLASS_PROVIDER
/* The records' key in the state store. */
#define DOC_KEY "infra/local"

/* What mdeploy.yml's infrastructure section asks of the local provider. */
typedef struct mdeploy_infra_config {
	int cache;                   /* cache.engine redis (1, the default) or none (0) */
	const char *dataroot_owner;  /* NULL: mdeploy's user */
} mdeploy_infra_config;

typedef struct infra_run {
	mdeploy_ctx *ctx;
	mdeploy_store *store;
	const mdeploy_config *cfg;
	const mdeploy_infra_options *opts;
	int apply;                  /* 0: plan only */
	mdeploy_infra_change_cb cb;
	void *payload;
	size_t n;                   /* changes reported */
	json_t *doc;                /* the records */
	char *dir;                  /* <state_dir>/infra */
	const char *runas;          /* "postgres" when running as root, else NULL */
	mdeploy_params *params;
	mdeploy_secrets *secrets;
	mdeploy_infra_config icfg;  /* mdeploy.yml's infrastructure section */
} infra_run;

/* infra_util.c */
/* Report a change (and count it). Non-zero: the callback aborted. */
int mdeploy_local__infra_change(infra_run *r, const char *resource, const char *type, const char *action,
                                int data_loss, const char *fmt, ...) MDEPLOY_FORMAT_PRINTF(6, 7);
/* The record of a resource (borrowed), or NULL. */
json_t *mdeploy_local__infra_rec(infra_run *r, const char *name);
/* Store a record (the reference is stolen), or remove it (rec NULL). */
int mdeploy_local__infra_rec_save(infra_run *r, const char *name, json_t *rec);
/* Set the record's "state" and save. */
int mdeploy_local__infra_rec_state(infra_run *r, const char *name, const char *state);
const char *mdeploy_local__infra_str(json_t *rec, const char *key);
unsigned int mdeploy_local__infra_port(json_t *rec);
/* A TCP port on 127.0.0.1 nothing listens on (10000-31999). */
int mdeploy_local__infra_free_port(unsigned int *port);
/* Non-zero when something accepts connections on 127.0.0.1:port. */
int mdeploy_local__infra_port_open(unsigned int port);
/* `n` random characters [A-Za-z0-9] and a NUL into out[n + 1]. */
int mdeploy_local__infra_random(char *out, size_t n);
/* A secret's value (malloc'd, *out NULL when unset). */
int mdeploy_local__infra_secret(infra_run *r, const char *name, char **out);
/* Run argv (as r->runas when `as_owner`); a failure is an error naming `what`
 * with the command's output or `log` file's tail. *result (may be NULL) is the caller's. */
int mdeploy_local__infra_exec(infra_run *r, const char *what, const char *const *argv, int as_owner,
                              const char *const *env, const char *log, mdeploy_exec_result **result);
/* Let other users (postgres, the dataroot's owner) through the state
 * directory (o+x) and <state_dir>/infra (0711). */
int mdeploy_local__infra_traversable(infra_run *r);
/* chown to r->runas (when set). */
int mdeploy_local__infra_chown(infra_run *r, const char *path);
/* Non-zero when `pid` runs a program whose name starts with `comm`. */
int mdeploy_local__infra_pid_is(long pid, const char *comm);
long mdeploy_local__infra_pidfile(const char *path);
/* SIGKILL every process with `dir` (or a path under it) among its arguments,
 * and wait for them: what an apply killed half-way left running. */
int mdeploy_local__infra_kill_under(const char *dir);

/* Connect to 127.0.0.1:port: a socket, or -1. */
int mdeploy_local__infra_connect(unsigned int port);

/* infra.c */
/* The live check of one record for status. */
int mdeploy_local__infra_check(infra_run *r, const char *name, json_t *rec, mdeploy_infra_resource *res);

/* The operations of mdeploy/infra.h for the local provider. */
int mdeploy_local__infra_plan(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                              const mdeploy_infra_options *opts, mdeploy_infra_change_cb cb, void *payload,
                              size_t *n);
int mdeploy_local__infra_apply(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                               const mdeploy_infra_options *opts, mdeploy_infra_change_cb cb, void *payload,
                               size_t *n);
int mdeploy_local__infra_destroy(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                                 const mdeploy_infra_options *opts, mdeploy_infra_change_cb cb, void *payload,
                                 size_t *n);
int mdeploy_local__infra_status(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                                const mdeploy_infra_options *opts, mdeploy_infra_resource_cb cb, void *payload);
int mdeploy_local__infra_outputs(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                                 const mdeploy_infra_options *opts, mdeploy_infra_output_cb cb, void *payload);
/* infra_tls.c: STATE/infra/tls/lb.pem once apply made it, else NULL (ops.infra_lb_certificate). */
char *mdeploy_local__infra_lb_certificate(mdeploy_ctx *ctx);

/* infra_groups.c */
/* The database (and role) of a group: APP_GROUP in [a-z0-9_], at most 63 bytes. */
void mdeploy_local__infra_db_name(const mdeploy_config *cfg, const mdeploy_group *g, char out[64]);
/* The number of groups (0 without a configuration). */
size_t mdeploy_local__infra_groups(infra_run *r);
/* A group's database, moodledata and the parameters and secrets its hooks read. */
int mdeploy_local__infra_group_apply(infra_run *r, const mdeploy_group *g);
/* Every group's parameters and secrets that exist, to `cb` (secrets by name only). */
int mdeploy_local__infra_groups_outputs(infra_run *r, mdeploy_infra_output_cb cb, void *payload);
/* destroy --delete-data: the groups' parameters and secrets apply wrote, and
 * the Redis password's secret (REDIS_SECRET), each reported as deleted. */
int mdeploy_local__infra_groups_forget(infra_run *r);

/* infra_pg.c */
/* The cluster: create/resume, start, keep. */
int mdeploy_local__pg_apply(infra_run *r);
/* One group's database and role, its password secret. */
int mdeploy_local__pg_database_apply(infra_run *r, const mdeploy_group *g, const char *dbname);
int mdeploy_local__pg_stop(infra_run *r, json_t *rec, int *stopped);
/* Live: postmaster running and accepting connections. *pid may be NULL. */
int mdeploy_local__pg_up(infra_run *r, json_t *rec, long *pid, const char **problem);
/* Log in over TCP as the group's role with its secret: 0 when it works. */
int mdeploy_local__pg_login(infra_run *r, const char *dbname, const char *secret_name, const char **problem);

/* infra_redis.c */
/* The Redis password's secret: the truth redis.conf is written from. */
#define REDIS_SECRET "mdeploy-infra/local/REDIS_PASSWORD"
int mdeploy_local__redis_apply(infra_run *r);
int mdeploy_local__redis_stop(infra_run *r, json_t *rec, int *stopped);
/* Live: redis-server running, a connection authenticates and answers PING. */
int mdeploy_local__redis_up(infra_run *r, json_t *rec, long *pid, const char **problem);

/* infra_tls.c */
int mdeploy_local__tls_apply(infra_run *r);
/* Live: lb.pem holds a key matching its certificate, signed by ca.pem, not expiring. */
int mdeploy_local__tls_up(infra_run *r, const char **problem);

#endif
