/*
 * infra.h - the aws provider's infrastructure: the CloudFormation stacks of
 * infra/aws/ (one per layer of stacks.yaml, named APP-ENV-LAYER, created in
 * its order and deleted in the reverse order).
 *
 *   infra.c        status, outputs (DescribeStacks)
 *   infra_stacks.c what plan, apply and destroy share: stacks.yaml, a
 *                  layer's parameter values, change sets, the stacks' outputs
 *   infra_plan.c   plan: a change set per layer, reported and deleted
 *   infra_apply.c  apply and destroy: change sets executed, stack events
 *                  streamed, waited for with a timeout
 */
#ifndef MDEPLOY_PROVIDER_AWS_INFRA_H
#define MDEPLOY_PROVIDER_AWS_INFRA_H

#include "mdeploy/infra.h"

struct _xmlDoc;
struct _xmlNode;
struct mdeploy_aws__client;

#define MDEPLOY_AWSP_MAXP 48

/* A template parameter and where its value comes from. */
typedef struct mdeploy_awsp__param {
	char name[64];
	char kind;              /* 's' a setting of mdeploy.yml, 'o' an earlier layer's output */
	char src[96];           /* the setting, or LAYER.OUTPUT */
} mdeploy_awsp__param;

/* A layer of stacks.yaml. */
typedef struct mdeploy_awsp__layer {
	char name[16];
	char tmpl[64];
	int holds_data;         /* `holds_data: true`: destroy deletes it only with delete_data */
	mdeploy_awsp__param p[MDEPLOY_AWSP_MAXP];
	size_t np;
} mdeploy_awsp__layer;

/* A stack as DescribeStacks gives it: whether it exists, its status, its outputs. */
typedef struct mdeploy_awsp__stack {
	int exists;             /* 0: no stack, or only one under review (an empty CREATE change set's) */
	int reviewing;          /* REVIEW_IN_PROGRESS */
	char status[48];
	char reason[512];       /* StackStatusReason */
	char id[256];           /* StackId: events and status of a deleted stack are read by it */
	struct { char *k, *v; } o[64];
	size_t n;
	struct { char *k, *v; } p[MDEPLOY_AWSP_MAXP];  /* its parameters */
	size_t np;
} mdeploy_awsp__stack;

/* ---- infra_stacks.c ---- */
/* stacks.yaml (MDEPLOY_INFRA_AWS_DIR, else the installed one): the layers in order. */
int mdeploy_awsp__manifest(mdeploy_awsp__layer *L, size_t max, size_t *nl);
const char *mdeploy_awsp__infra_dir(void);
int mdeploy_awsp__infra_client(struct mdeploy_aws__client **out, const mdeploy_config *cfg);
/* APP-ENV-LAYER (malloc'd). */
char *mdeploy_awsp__stack_name(const mdeploy_config *cfg, const char *layer);
/* A CloudFormation Query call. */
int mdeploy_awsp__cfn(struct mdeploy_aws__client *c, const char *action, const char *const *params,
                      struct _xmlDoc **doc);
/*
 * A CloudFormation call that must not be made twice (CreateChangeSet,
 * ExecuteChangeSet): sent once at a time; after a failure that may have come
 * when CloudFormation had done the work (a 5xx, a lost connection: the answer
 * lost), took(c, arg) is asked whether it did: > 0 and the call counts as
 * made, else it is sent again (4 times at most, with a backoff). Other
 * failures are returned as they are. The idempotency token the call carries
 * does the same on AWS; moto does not honour tokens, this check does not
 * depend on them.
 */
int mdeploy_awsp__cfn_checked(struct mdeploy_aws__client *c, const char *action, const char *const *params,
                              int (*took)(struct mdeploy_aws__client *c, void *arg), void *arg,
                              struct _xmlDoc **doc);
/* This run's id, mdeploy-WHAT-TIME-RANDOM: the root of its change sets' names. */
void mdeploy_awsp__run_id(char *buf, size_t size, const char *what);
/*
 * An idempotency token (ClientToken, ClientRequestToken) for operation `op`
 * on `key` (a change set's name or id, a stack's id): the same for the same
 * key on every retry, mdeploy-OP-32 hex digits (CloudFormation takes at most
 * 128 of [a-zA-Z0-9-]).
 */
void mdeploy_awsp__token(char *buf, size_t size, const char *op, const char *key);
/* CreateChangeSet (argv its parameters, ClientToken included) through cfn_checked. */
int mdeploy_awsp__changeset_create(struct mdeploy_aws__client *c, const char *const *argv, const char *stack,
                                   const char *csname);
/*
 * Delete the change sets of `stack` that an interrupted apply or destroy left
 * (named mdeploy-apply-* / mdeploy-destroy-*, never executed); *n counts
 * them. A retried run then adds its own, not one more.
 */
int mdeploy_awsp__changesets_stale(struct mdeploy_aws__client *c, const char *stack, size_t *n);
/* DescribeStacks of one stack into *s (s->exists 0 when there is none). */
int mdeploy_awsp__stack_read(struct mdeploy_aws__client *c, const char *name, mdeploy_awsp__stack *s);
void mdeploy_awsp__stack_clear(mdeploy_awsp__stack *s);
/*
 * The parameter values of layer L[i] (vals[j] NULL: the template's default)
 * from mdeploy.yml and the earlier stacks S[0..i-1]. *waits is set to the
 * name of an earlier layer whose stack does not exist yet (values then
 * incomplete).
 */
int mdeploy_awsp__layer_values(struct mdeploy_aws__client *c, const mdeploy_config *cfg,
                               const mdeploy_awsp__layer *L, size_t i, const mdeploy_awsp__stack *S,
                               const char **vals, char (*bufs)[512], const char **waits);
/*
 * CreateChangeSet `csname` for layer `l` on `stack` (UPDATE when it exists)
 * and wait until it is ready: 0 with *doc the DescribeChangeSet answer, or
 * 0 with *doc NULL when it holds no changes (then it is deleted already).
 */
int mdeploy_awsp__changeset(struct mdeploy_aws__client *c, const mdeploy_config *cfg, const mdeploy_awsp__layer *l,
                            const char *stack, int exists, const char *const *vals, const char *csname,
                            const char *what, struct _xmlDoc **doc);
/* Each change of a ready change set to `cb` (counted in *n); data_loss as plan says it. */
int mdeploy_awsp__changeset_report(struct _xmlDoc *doc, const mdeploy_awsp__layer *l, mdeploy_infra_change_cb cb,
                                   void *payload, size_t *n, const char *what);
int mdeploy_awsp__changeset_delete(struct mdeploy_aws__client *c, const char *stack, const char *csname);
/* The list members of `list` anywhere in doc; the text of a child element. */
char *mdeploy_awsp__child(struct _xmlNode *node, const char *name);
struct _xmlNode *mdeploy_awsp__first(struct _xmlNode *node, const char *name);

/* ---- infra_apply.c: stack events ---- */
typedef struct mdeploy_awsp__event {
	char *id, *stack, *resource, *type, *status, *reason, *time;
} mdeploy_awsp__event;

/*
 * The events of a DescribeStackEvents answer newer than the event `since`
 * (NULL: all), appended to *ev in the answer's order (newest first, as AWS
 * gives them). *found is set when `since` was among them (else an older
 * page may hold more).
 */
int mdeploy_awsp__events_parse(struct _xmlDoc *doc, const char *since, mdeploy_awsp__event **ev, size_t *n,
                               int *found);
void mdeploy_awsp__events_free(mdeploy_awsp__event *ev, size_t n);
/* The first failed resource among ev (oldest first): a *_FAILED event with a
 * reason, a resource's before the stack's own; -1 when none. */
long mdeploy_awsp__events_first_failure(const mdeploy_awsp__event *ev, size_t n);

/* The operations of the provider table (aws/ops.c); the state store is not used. */
int mdeploy_awsp__infra_status(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                               const mdeploy_infra_options *opts, mdeploy_infra_resource_cb cb, void *payload);
int mdeploy_awsp__infra_outputs(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                                const mdeploy_infra_options *opts, mdeploy_infra_output_cb cb, void *payload);
int mdeploy_awsp__infra_plan(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                             const mdeploy_infra_options *opts, mdeploy_infra_change_cb cb, void *payload, size_t *n);
int mdeploy_awsp__infra_apply(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                              const mdeploy_infra_options *opts, mdeploy_infra_change_cb cb, void *payload, size_t *n);
int mdeploy_awsp__infra_destroy(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                                const mdeploy_infra_options *opts, mdeploy_infra_change_cb cb, void *payload,
                                size_t *n);
/* What the aws architecture cannot do without, and what it has no use for (infra.c). */
void mdeploy_awsp__infra_check(const mdeploy_config *cfg, void (*problem)(void *, const char *, const char *),
                               void *payload);

#endif
