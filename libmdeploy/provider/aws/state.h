/*
 * provider/aws/state.h - the state store on DynamoDB (stores.state with
 * provider aws): group locks with a lease (state.c), deployment records and
 * their journal (state_journal.c), all items of one table:
 *
 *   pk (S, partition key)  sk (N, sort key)  what
 *   d-XXXXXXXXX            0                 a deployment record (gpk, created_ms for the by-group index)
 *   d-XXXXXXXXX            1, 2, ...         its journal steps
 *   lock/<name>            0                 a lock: owner, host, pid, expires_at (lease)
 *   value/<key>            0                 a group value ("deploy/...", "deployment/...")
 *
 * plus the global secondary index "by-group" (gpk S, created_ms N) over the
 * deployment records. mdeploy-aws(7) gives the table's definition.
 */
#ifndef MDEPLOY_PROVIDER_AWS_STATE_H
#define MDEPLOY_PROVIDER_AWS_STATE_H

#include "provider/aws/aws.h"

#include <jansson.h>
#include <pthread.h>

typedef struct mdeploy_awsp__held {
	char name[256];
	char owner[256];
	int64_t renewed_ms;  /* when the lease was last extended */
	int lost;            /* the renewal found it taken */
} mdeploy_awsp__held;

typedef struct mdeploy_awsp__state {
	mdeploy_aws__client *client;
	mdeploy_ctx *ctx;
	char *table;
	int64_t lease_ms;
	/* locks this handle holds, kept alive by a thread while they are held */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	int thread_on, stop;
	mdeploy_awsp__held *held;
	size_t nheld;
} mdeploy_awsp__state;

/* One DynamoDB call on the table (TableName added); `req` is consumed. */
int mdeploy_awsp__ddb(mdeploy_awsp__state *s, const char *op, json_t *req, json_t **resp);
/* Now in ms on the client's clock (corrected by the skew AWS reported). */
int64_t mdeploy_awsp__ddb_now_ms(mdeploy_awsp__state *s);

/* Attribute values: {"S": v} and {"N": "n"}. */
json_t *mdeploy_awsp__av_s(const char *v);
json_t *mdeploy_awsp__av_n(int64_t n);
/* {"pk": {"S": pk}, "sk": {"N": sk}} */
json_t *mdeploy_awsp__key(const char *pk, int64_t sk);
/* An item's string attribute (NULL when absent), number attribute (0). */
const char *mdeploy_awsp__item_s(const json_t *item, const char *name);
int64_t mdeploy_awsp__item_n(const json_t *item, const char *name);

/* state_journal.c */
int mdeploy_awsp__deployment_insert(void *impl, const mdeploy_deployment_record *rec);
int mdeploy_awsp__deployment_update(void *impl, const char *id, const char *status, const char *error,
                                    const char *data);
int mdeploy_awsp__deployment_get(void *impl, const char *id, mdeploy_deployment_cb cb, void *payload);
int mdeploy_awsp__deployment_foreach(void *impl, const char *application, const char *group, unsigned int limit,
                                     mdeploy_deployment_cb cb, void *payload);
int mdeploy_awsp__journal_begin(void *impl, const char *id, const char *step, const char *target,
                                const char *data, int64_t *seq);
int mdeploy_awsp__journal_end(void *impl, const char *id, int64_t seq, int ok, const char *error);
int mdeploy_awsp__journal_data(void *impl, const char *id, int64_t seq, const char *data);
int mdeploy_awsp__journal_foreach(void *impl, const char *id, mdeploy_journal_cb cb, void *payload);

#endif
