/*
 * mdeploy/infra.h - the infrastructure under the deployment groups: the
 * database, the session and cache store, the shared moodledata directory
 * and the load balancer's certificate. See mdeploy-infra(1).
 *
 * Declared, planned, then applied. mdeploy_infra_plan() says what
 * mdeploy_infra_apply() would do without doing it; apply is idempotent (a
 * second run reports nothing changed) and journaled in the state store: a
 * resource is recorded (with its directory and port) before it is created,
 * so an apply killed half-way leaves nothing unknown and the next apply
 * finishes or redoes the step. What the groups' hooks need is written to
 * the parameter and secret stores under the names the default hooks read
 * (/APP/GROUP/MOODLE_DBHOST ..., secret APP/GROUP/MOODLE_DBPASS ...), so a
 * deployment works right after apply with nothing copied by hand.
 *
 * The "local" provider runs real servers on this machine, owned by mdeploy
 * under <state_dir>/infra/: a PostgreSQL cluster (Debian's postgresql
 * package, run as the `postgres` user when mdeploy runs as root), a Redis
 * server with a password, one moodledata directory per group, and a local
 * CA with a server certificate for HAProxy (the ACM stand-in). They are
 * daemons: they outlive the process that started them.
 *
 * Secrets (database and Redis passwords) are generated here, kept in the
 * secret store, and never reach a command line, a log or the journal.
 *
 * Thread-safety: one thread per context. Applies and destroys of the same
 * state directory are serialised by a store lock (MDEPLOY_ELOCKED).
 */
#ifndef MDEPLOY_INFRA_H
#define MDEPLOY_INFRA_H

#include "common.h"
#include "context.h"
#include "store.h"
#include "config.h"
#include "provider.h"

MDEPLOY_BEGIN_DECL

/*
 * What the provider reports while it waits on an operation it does not do
 * itself: with provider "aws", each CloudFormation stack event of an apply
 * or destroy, oldest first, as it happens. Borrowed strings.
 */
typedef struct mdeploy_infra_event {
	const char *stack;      /* "moodle-production-network" */
	const char *resource;   /* the logical id ("Vpc"); the stack's name for the stack itself */
	const char *type;       /* "AWS::EC2::VPC", "AWS::CloudFormation::Stack" */
	const char *status;     /* "CREATE_IN_PROGRESS", "CREATE_FAILED", "DELETE_COMPLETE" ... */
	const char *reason;     /* ResourceStatusReason, or NULL */
	const char *time;       /* ISO 8601, as CloudFormation gives it */
} mdeploy_infra_event;

/* Non-zero aborts the wait (MDEPLOY_EUSER); the operation goes on in CloudFormation. */
typedef int (*mdeploy_infra_event_cb)(const mdeploy_infra_event *e, void *payload);

typedef struct mdeploy_infra_options {
	unsigned int version;
	const char *provider;   /* NULL (mdeploy.yml's infrastructure.provider, else "local"), "local", "aws" */
	/* destroy: also remove the data (local: database cluster, Redis data,
	 * moodledata, certificates; aws: the stacks that hold data). Without it
	 * they are kept for the next apply. */
	int delete_data;
	/* version 2 */
	mdeploy_infra_event_cb event_cb;  /* may be NULL */
	void *event_payload;
	/* aws: seconds one stack's operation may take before apply or destroy
	 * gives up waiting (MDEPLOY_ETIMEOUT; CloudFormation goes on); 0: 3600 */
	unsigned int timeout;
} mdeploy_infra_options;

#define MDEPLOY_INFRA_OPTIONS_VERSION 2
#define MDEPLOY_INFRA_OPTIONS_INIT { MDEPLOY_INFRA_OPTIONS_VERSION, NULL, 0, NULL, NULL, 0 }

MDEPLOY_EXTERN(int) mdeploy_infra_options_init(mdeploy_infra_options *opts, unsigned int version);

/* One change that plan would make, apply made or destroy made. Borrowed strings. */
typedef struct mdeploy_infra_change {
	const char *resource;   /* "postgresql", "database/prod", "parameter /moodle/prod/MOODLE_DBHOST" */
	const char *type;       /* postgresql, database, redis, directory, certificate, parameter, secret */
	const char *action;     /* create, resume, start, update, stop, delete */
	const char *detail;     /* for people; never a secret's value */
	int data_loss;          /* non-zero: the change deletes data */
} mdeploy_infra_change;

typedef int (*mdeploy_infra_change_cb)(const mdeploy_infra_change *c, void *payload);

/*
 * What apply would do for the groups of `cfg` (which may be NULL: the
 * servers only), without doing anything. `cb` (may be NULL) gets each
 * change; `*n` (may be NULL) their number, 0 when everything is in place.
 */
MDEPLOY_EXTERN(int) mdeploy_infra_plan(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                                       const mdeploy_infra_options *opts, mdeploy_infra_change_cb cb,
                                       void *payload, size_t *n);
/*
 * Create, start and configure what is missing; `cb` gets each change as it
 * is made. On failure the error names the resource and what failed (with
 * the server's log); what was done stays recorded.
 */
MDEPLOY_EXTERN(int) mdeploy_infra_apply(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                                        const mdeploy_infra_options *opts, mdeploy_infra_change_cb cb,
                                        void *payload, size_t *n);
/*
 * Stop the servers. Data is kept (the next apply starts them on it) unless
 * opts->delete_data; then everything under <state_dir>/infra, the records,
 * and the parameters and secrets apply wrote are removed.
 */
MDEPLOY_EXTERN(int) mdeploy_infra_destroy(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                                          const mdeploy_infra_options *opts, mdeploy_infra_change_cb cb,
                                          void *payload, size_t *n);

/* A resource as recorded, and whether it really answers now. Borrowed strings. */
typedef struct mdeploy_infra_resource {
	const char *name;       /* "postgresql", "database/prod", "redis", "dataroot/prod", "certificate" */
	const char *type;
	const char *state;      /* creating, ready, stopped */
	int up;                 /* the live check passed (a connection, a login, a file) */
	const char *endpoint;   /* "127.0.0.1:PORT", a path, or NULL */
	const char *dir;        /* where its data is, or NULL */
	long pid;               /* the server's process, 0 when none */
	const char *problem;    /* why it is not up, or NULL */
} mdeploy_infra_resource;

typedef int (*mdeploy_infra_resource_cb)(const mdeploy_infra_resource *r, void *payload);

/* Every recorded resource, checked live. MDEPLOY_ENOTFOUND when nothing was ever applied. */
MDEPLOY_EXTERN(int) mdeploy_infra_status(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                                         const mdeploy_infra_options *opts, mdeploy_infra_resource_cb cb,
                                         void *payload);

/* What apply gives the deployment groups. A secret's value is never given: `value` is its name. */
typedef struct mdeploy_infra_output {
	const char *name;       /* "/moodle/prod/MOODLE_DBHOST", "ca_certificate" */
	const char *value;
	int secret;             /* non-zero: `name` is a secret; `value` is NULL */
} mdeploy_infra_output;

typedef int (*mdeploy_infra_output_cb)(const mdeploy_infra_output *o, void *payload);

MDEPLOY_EXTERN(int) mdeploy_infra_outputs(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                                          const mdeploy_infra_options *opts, mdeploy_infra_output_cb cb,
                                          void *payload);

/*
 * The certificate (with its key, one PEM file, 0600) that provider p's
 * infrastructure made for the load balancers of groups that name none, once
 * apply made it; NULL otherwise, and for a provider whose load balancers
 * take their certificate elsewhere (aws: ACM, by the listener). malloc'd.
 */
MDEPLOY_EXTERN(char *) mdeploy_provider_infra_lb_certificate(mdeploy_provider *p);
/* The same for the default provider (local). Kept for older callers. */
MDEPLOY_EXTERN(char *) mdeploy_infra_lb_certificate(mdeploy_ctx *ctx);

MDEPLOY_END_DECL

#endif
