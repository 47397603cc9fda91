/*
 * state.c - the state store on DynamoDB: group locks as items written with
 * conditions, held by a lease.
 *
 * Taking a free lock is a PutItem with attribute_not_exists(pk): of two
 * machines racing, DynamoDB lets exactly one write. The holder's item says
 * until when its lease runs (expires_at, ms); while the lock is held, a
 * thread of this handle extends the lease every third of it (UpdateItem on
 * condition that the item is still ours), and mdeploy_store_lock_heartbeat()
 * checks it was not lost. A holder that dies (kill -9, a crash, a machine
 * gone) stops renewing: once its lease ran out, another machine takes the
 * lock over with a PutItem on condition that the item is still the expired
 * one it read, so two takers cannot both win either. Release is a
 * DeleteItem on condition that the item is ours.
 *
 * Group values ("deploy/...", "deployment/...") are items too.
 */
#include "provider/aws/state.h"
#include "store/store_private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CLS MDEPLOY_ERROR_CLASS_STORE

/* ---- DynamoDB calls and attribute values ---- */

int64_t mdeploy_awsp__ddb_now_ms(mdeploy_awsp__state *s)
{
	int64_t skew = mdeploy_aws__now(s->client) - (int64_t)time(NULL);
	return mdeploy_store__unix_ms() + skew * 1000;
}

int mdeploy_awsp__ddb(mdeploy_awsp__state *s, const char *op, json_t *req, json_t **resp)
{
	char target[96];
	int rc;

	*resp = NULL;
	if (!req)
		return mdeploy__error_oom();
	if (json_object_set_new(req, "TableName", json_string(s->table))) {
		json_decref(req);
		return mdeploy__error_oom();
	}
	snprintf(target, sizeof(target), "DynamoDB_20120810.%s", op);
	rc = mdeploy_aws__json_call(s->client, "dynamodb", "DYNAMODB", "1.0", target, req, resp);
	json_decref(req);
	if (rc && rc != MDEPLOY_EEXISTS) /* EEXISTS: a condition failed, the caller says what it means */
		mdeploy__error_prefix("state table '%s'", s->table);
	return rc;
}

json_t *mdeploy_awsp__av_s(const char *v)
{
	return json_pack("{s:s}", "S", v);
}

json_t *mdeploy_awsp__av_n(int64_t n)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%lld", (long long)n);
	return json_pack("{s:s}", "N", buf);
}

json_t *mdeploy_awsp__key(const char *pk, int64_t sk)
{
	return json_pack("{s:o, s:o}", "pk", mdeploy_awsp__av_s(pk), "sk", mdeploy_awsp__av_n(sk));
}

const char *mdeploy_awsp__item_s(const json_t *item, const char *name)
{
	return json_string_value(json_object_get(json_object_get(item, name), "S"));
}

int64_t mdeploy_awsp__item_n(const json_t *item, const char *name)
{
	const char *v = json_string_value(json_object_get(json_object_get(item, name), "N"));
	return v ? strtoll(v, NULL, 10) : 0;
}

/* ---- locks ---- */

typedef struct {
	mdeploy_lock_info info;
	unsigned long long pid_start;
	int64_t expires_at;
} lock_item;

static void lock_pk(char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "lock/%s", name);
}

/* 1 found, 0 none, <0 error */
static int lock_read(mdeploy_awsp__state *s, const char *name, lock_item *li)
{
	char pk[300];
	json_t *resp, *item;
	int rc;

	lock_pk(pk, sizeof(pk), name);
	if ((rc = mdeploy_awsp__ddb(s, "GetItem", json_pack("{s:o, s:b}", "Key", mdeploy_awsp__key(pk, 0),
	                                                    "ConsistentRead", 1), &resp)))
		return rc;
	item = json_object_get(resp, "Item");
	memset(li, 0, sizeof(*li));
	if (!json_is_object(item)) {
		json_decref(resp);
		return 0;
	}
	snprintf(li->info.name, sizeof(li->info.name), "%s", name);
	snprintf(li->info.owner, sizeof(li->info.owner), "%s", mdeploy_awsp__item_s(item, "owner") ? mdeploy_awsp__item_s(item, "owner") : "?");
	snprintf(li->info.host, sizeof(li->info.host), "%s", mdeploy_awsp__item_s(item, "host") ? mdeploy_awsp__item_s(item, "host") : "?");
	li->info.pid = (long)mdeploy_awsp__item_n(item, "pid");
	li->info.acquired_at = mdeploy_awsp__item_n(item, "acquired_at");
	li->info.heartbeat_at = mdeploy_awsp__item_n(item, "heartbeat_at");
	li->pid_start = (unsigned long long)mdeploy_awsp__item_n(item, "pid_start");
	li->expires_at = mdeploy_awsp__item_n(item, "expires_at");
	json_decref(resp);
	return 1;
}

static int lock_is_mine(const lock_item *li, const char *owner, const char *host)
{
	return !strcmp(li->info.owner, owner) && !strcmp(li->info.host, host) && li->info.pid == (long)getpid() &&
	       li->pid_start == mdeploy_store__pid_start((long)getpid());
}

/* The condition "this item is held by this process as `owner`", with its names and values added. */
static void cond_mine(json_t *req, const char *owner)
{
	char host[256];
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	json_object_set_new(req, "ConditionExpression",
	                    json_string(owner ? "#o = :o AND #h = :h AND #p = :p AND #ps = :ps"
	                                      : "#h = :h AND #p = :p AND #ps = :ps"));
	json_object_set_new(json_object_get(req, "ExpressionAttributeNames"), "#h", json_string("host"));
	json_object_set_new(json_object_get(req, "ExpressionAttributeNames"), "#p", json_string("pid"));
	json_object_set_new(json_object_get(req, "ExpressionAttributeNames"), "#ps", json_string("pid_start"));
	json_object_set_new(json_object_get(req, "ExpressionAttributeValues"), ":h", mdeploy_awsp__av_s(host));
	json_object_set_new(json_object_get(req, "ExpressionAttributeValues"), ":p",
	                    mdeploy_awsp__av_n((int64_t)getpid()));
	json_object_set_new(json_object_get(req, "ExpressionAttributeValues"), ":ps",
	                    mdeploy_awsp__av_n((int64_t)mdeploy_store__pid_start((long)getpid())));
	if (owner) {
		json_object_set_new(json_object_get(req, "ExpressionAttributeNames"), "#o", json_string("owner"));
		json_object_set_new(json_object_get(req, "ExpressionAttributeValues"), ":o", mdeploy_awsp__av_s(owner));
	}
}

/*
 * Write the lock as ours. `expect`: NULL for a free lock (the item must not
 * exist), else the expired item we read (it must still be that one).
 * 0 written, MDEPLOY_EEXISTS the condition failed (someone was faster).
 */
static int lock_put(mdeploy_awsp__state *s, const char *name, const char *owner, const char *host,
                    const lock_item *expect)
{
	char pk[300];
	int64_t now = mdeploy_awsp__ddb_now_ms(s);
	json_t *item, *req, *resp = NULL;
	int rc;

	lock_pk(pk, sizeof(pk), name);
	item = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
	                 "pk", mdeploy_awsp__av_s(pk), "sk", mdeploy_awsp__av_n(0),
	                 "owner", mdeploy_awsp__av_s(owner), "host", mdeploy_awsp__av_s(host),
	                 "pid", mdeploy_awsp__av_n((int64_t)getpid()),
	                 "pid_start", mdeploy_awsp__av_n((int64_t)mdeploy_store__pid_start((long)getpid())),
	                 "acquired_at", mdeploy_awsp__av_n(now / 1000), "heartbeat_at", mdeploy_awsp__av_n(now),
	                 "expires_at", mdeploy_awsp__av_n(now + s->lease_ms));
	if (!expect)
		req = json_pack("{s:o, s:s}", "Item", item, "ConditionExpression", "attribute_not_exists(pk)");
	else
		req = json_pack("{s:o, s:s, s:{s:s, s:s}, s:{s:o, s:o}}", "Item", item,
		                "ConditionExpression", "#o = :o AND #ex = :ex",
		                "ExpressionAttributeNames", "#o", "owner", "#ex", "expires_at",
		                "ExpressionAttributeValues", ":o", mdeploy_awsp__av_s(expect->info.owner),
		                ":ex", mdeploy_awsp__av_n(expect->expires_at));
	rc = mdeploy_awsp__ddb(s, "PutItem", req, &resp);
	json_decref(resp);
	return rc;
}

/* Extend the lease of a lock this process holds as `owner` (NULL: any owner). */
static int lock_renew(mdeploy_awsp__state *s, const char *name, const char *owner)
{
	char pk[300];
	int64_t now = mdeploy_awsp__ddb_now_ms(s);
	json_t *req, *resp = NULL;
	int rc;

	lock_pk(pk, sizeof(pk), name);
	req = json_pack("{s:o, s:s, s:{s:s, s:s}, s:{s:o, s:o}}", "Key", mdeploy_awsp__key(pk, 0),
	                "UpdateExpression", "SET #hb = :hb, #ex = :ex",
	                "ExpressionAttributeNames", "#hb", "heartbeat_at", "#ex", "expires_at",
	                "ExpressionAttributeValues", ":hb", mdeploy_awsp__av_n(now),
	                ":ex", mdeploy_awsp__av_n(now + s->lease_ms));
	if (req)
		cond_mine(req, owner);
	rc = mdeploy_awsp__ddb(s, "UpdateItem", req, &resp);
	json_decref(resp);
	return rc;
}

/* ---- the renewal thread ---- */

static void *renew_main(void *arg)
{
	mdeploy_awsp__state *s = arg;
	pthread_mutex_lock(&s->mu);
	while (!s->stop) {
		struct timespec ts;
		mdeploy_awsp__held due[8];
		size_t i, j, n = 0;
		int64_t period = s->lease_ms / 3;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += (time_t)(period / 4 / 1000);
		ts.tv_nsec += (long)(period / 4 % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s->cv, &s->mu, &ts);
		for (i = 0; !s->stop && i < s->nheld && n < MDEPLOY__ARRAY_SIZE(due); i++)
			if (!s->held[i].lost && mdeploy_store__unix_ms() - s->held[i].renewed_ms >= period)
				due[n++] = s->held[i];
		if (!n)
			continue;
		pthread_mutex_unlock(&s->mu);
		for (j = 0; j < n; j++) {
			int rc = lock_renew(s, due[j].name, due[j].owner);
			due[j].lost = rc == MDEPLOY_EEXISTS ? 1 : rc ? -1 : 0;
			due[j].renewed_ms = mdeploy_store__unix_ms();
		}
		mdeploy_error_clear();
		pthread_mutex_lock(&s->mu);
		/* The list may have changed meanwhile: match by name. Network errors: try again next round. */
		for (j = 0; j < n; j++)
			for (i = 0; i < s->nheld; i++)
				if (!strcmp(s->held[i].name, due[j].name) && due[j].lost >= 0) {
					if (due[j].lost)
						s->held[i].lost = 1;
					else
						s->held[i].renewed_ms = due[j].renewed_ms;
				}
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

static void held_add(mdeploy_awsp__state *s, const char *name, const char *owner)
{
	size_t i;
	pthread_mutex_lock(&s->mu);
	for (i = 0; i < s->nheld && strcmp(s->held[i].name, name); i++)
		;
	if (i == s->nheld) {
		mdeploy_awsp__held *nh = realloc(s->held, (s->nheld + 1) * sizeof(*nh));
		if (!nh) {
			pthread_mutex_unlock(&s->mu);
			return; /* not renewed by the thread: explicit heartbeats still are */
		}
		s->held = nh;
		s->nheld++;
	}
	snprintf(s->held[i].name, sizeof(s->held[i].name), "%s", name);
	snprintf(s->held[i].owner, sizeof(s->held[i].owner), "%s", owner);
	s->held[i].renewed_ms = mdeploy_store__unix_ms();
	s->held[i].lost = 0;
	if (!s->thread_on && pthread_create(&s->thread, NULL, renew_main, s) == 0)
		s->thread_on = 1;
	pthread_mutex_unlock(&s->mu);
}

static void held_remove(mdeploy_awsp__state *s, const char *name)
{
	size_t i;
	pthread_mutex_lock(&s->mu);
	for (i = 0; i < s->nheld; i++)
		if (!strcmp(s->held[i].name, name)) {
			s->held[i] = s->held[--s->nheld];
			break;
		}
	pthread_mutex_unlock(&s->mu);
}

/* ---- the lock operations ---- */

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int lock_acquire(void *impl, const char *name, const mdeploy_lock_options *o, const char *owner,
                        const char *host, mdeploy_lock_info *previous)
{
	mdeploy_awsp__state *s = impl;
	uint64_t start = mdeploy__now_ms();
	unsigned int delay = 50;
	lock_item li;
	int rc, found;

	if (strlen(name) > 250)
		return mdeploy__error_set(MDEPLOY_EINVALID, CLS, "lock name '%.40s...' is too long", name);
	for (;;) {
		if ((found = lock_read(s, name, &li)) < 0)
			return found;
		/* Tests widen the window between the read and the conditional write
		 * (two machines racing then both see the same item). */
		if (getenv("MDEPLOY_TEST_LOCK_RACE_MS") && !lock_is_mine(&li, owner, host))
			sleep_ms((unsigned int)atoi(getenv("MDEPLOY_TEST_LOCK_RACE_MS")));
		if (!found) {
			rc = lock_put(s, name, owner, host, NULL);
		} else if (lock_is_mine(&li, owner, host)) {
			rc = lock_renew(s, name, owner); /* re-entrant: refresh */
		} else if (li.expires_at <= mdeploy_awsp__ddb_now_ms(s)) {
			if (o->flags & MDEPLOY_LOCK_NO_TAKEOVER) {
				if (previous)
					*previous = li.info;
				return mdeploy__error_set(MDEPLOY_ELOCKED, CLS,
					"'%s' is held by '%s' (pid %ld on %s), whose lease ran out %llds ago", name,
					li.info.owner, li.info.pid, li.info.host,
					(long long)((mdeploy_awsp__ddb_now_ms(s) - li.expires_at) / 1000));
			}
			if ((rc = lock_put(s, name, owner, host, &li)) == 0) {
				mdeploy__log(s->ctx, MDEPLOY_LOG_WARN, "store",
				             "lock '%s': taking over from '%s' (pid %ld on %s), whose lease ran out",
				             name, li.info.owner, li.info.pid, li.info.host);
				if (previous)
					*previous = li.info;
			}
		} else {
			rc = MDEPLOY_ELOCKED;
		}
		if (rc == 0) {
			held_add(s, name, owner);
			mdeploy_error_clear();
			return 0;
		}
		if (rc != MDEPLOY_EEXISTS && rc != MDEPLOY_ELOCKED)
			return rc;
		/* EEXISTS: another machine wrote between our read and our write; read again. */
		if (rc == MDEPLOY_ELOCKED && o->wait_ms != UINT32_MAX && mdeploy__now_ms() - start >= o->wait_ms)
			break;
		if (rc == MDEPLOY_ELOCKED) {
			sleep_ms(delay);
			if (delay < 500)
				delay *= 2;
		}
	}
	{
		int64_t now = mdeploy_awsp__ddb_now_ms(s);
		return mdeploy__error_set(MDEPLOY_ELOCKED, CLS,
			"'%s' is locked by '%s' (pid %ld on %s, heartbeat %llds ago, its lease ends in %llds; state table '%s')",
			name, li.info.owner, li.info.pid, li.info.host, (long long)((now - li.info.heartbeat_at) / 1000),
			(long long)((li.expires_at - now + 999) / 1000), s->table);
	}
}

static int lock_update(void *impl, const char *name, int release)
{
	mdeploy_awsp__state *s = impl;
	char pk[300];
	json_t *req, *resp = NULL;
	lock_item li;
	size_t i;
	int rc, lost = 0, fresh = 0;

	pthread_mutex_lock(&s->mu);
	for (i = 0; i < s->nheld; i++)
		if (!strcmp(s->held[i].name, name)) {
			lost = s->held[i].lost;
			fresh = mdeploy_store__unix_ms() - s->held[i].renewed_ms < s->lease_ms / 3;
		}
	pthread_mutex_unlock(&s->mu);
	if (!release && fresh && !lost)
		return 0; /* renewed a moment ago by the thread */
	if (release) {
		lock_pk(pk, sizeof(pk), name);
		req = json_pack("{s:o, s:{}, s:{}}", "Key", mdeploy_awsp__key(pk, 0), "ExpressionAttributeNames",
		                "ExpressionAttributeValues");
		if (req)
			cond_mine(req, NULL);
		held_remove(s, name);
		rc = mdeploy_awsp__ddb(s, "DeleteItem", req, &resp);
		json_decref(resp);
	} else {
		rc = lost ? MDEPLOY_EEXISTS : lock_renew(s, name, NULL);
		if (rc == 0) {
			pthread_mutex_lock(&s->mu);
			for (i = 0; i < s->nheld; i++)
				if (!strcmp(s->held[i].name, name))
					s->held[i].renewed_ms = mdeploy_store__unix_ms();
			pthread_mutex_unlock(&s->mu);
		}
	}
	if (rc != MDEPLOY_EEXISTS)
		return rc;
	/* The condition failed: the lock is not ours (any more). */
	held_remove(s, name);
	if (release)
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS, "lock '%s' is not held by this process", name);
	if (lock_read(s, name, &li) == 1)
		return mdeploy__error_set(MDEPLOY_ELOCKED, CLS, "lock '%s' was lost to '%s' (pid %ld on %s)", name,
		                          li.info.owner, li.info.pid, li.info.host);
	return mdeploy__error_set(MDEPLOY_ELOCKED, CLS, "lock '%s' was lost", name);
}

static int lock_get(void *impl, const char *name, mdeploy_lock_info *out)
{
	lock_item li;
	int found = lock_read(impl, name, &li);
	if (found < 0)
		return found;
	if (!found)
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS, "lock '%s' is not held", name);
	*out = li.info;
	return 0;
}

/* ---- values ---- */

static int value_set(void *impl, const char *key, const char *value)
{
	mdeploy_awsp__state *s = impl;
	char *pk = mdeploy__sprintf("value/%s", key);
	json_t *resp = NULL;
	int rc;

	if (!pk)
		return mdeploy__error_oom();
	if (value)
		rc = mdeploy_awsp__ddb(s, "PutItem",
			json_pack("{s:{s:o, s:o, s:o, s:o}}", "Item", "pk", mdeploy_awsp__av_s(pk), "sk", mdeploy_awsp__av_n(0),
			          "v", mdeploy_awsp__av_s(value), "updated_at",
			          mdeploy_awsp__av_n(mdeploy_awsp__ddb_now_ms(s) / 1000)), &resp);
	else
		rc = mdeploy_awsp__ddb(s, "DeleteItem", json_pack("{s:o}", "Key", mdeploy_awsp__key(pk, 0)), &resp);
	json_decref(resp);
	free(pk);
	return rc;
}

static int value_get(void *impl, const char *key, char **out)
{
	mdeploy_awsp__state *s = impl;
	char *pk = mdeploy__sprintf("value/%s", key);
	json_t *resp = NULL;
	const char *v;
	int rc;

	*out = NULL;
	if (!pk)
		return mdeploy__error_oom();
	rc = mdeploy_awsp__ddb(s, "GetItem",
		json_pack("{s:o, s:b}", "Key", mdeploy_awsp__key(pk, 0), "ConsistentRead", 1), &resp);
	free(pk);
	if (rc)
		return rc;
	v = mdeploy_awsp__item_s(json_object_get(resp, "Item"), "v");
	if (!v)
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS, "'%s' is not set", key);
	else if (!(*out = mdeploy__strdup(v)))
		rc = mdeploy__error_oom();
	json_decref(resp);
	return rc;
}

/* ---- mdeploy doctor: is the table what mdeploy-aws(7) says? ---- */

static int key_is(const json_t *schema, const char *name, const char *type)
{
	size_t i;
	json_t *k;
	json_array_foreach(schema, i, k)
		if (!strcmp(json_string_value(json_object_get(k, "AttributeName")) ? json_string_value(json_object_get(k, "AttributeName")) : "", name))
			return !strcmp(json_string_value(json_object_get(k, "KeyType")) ? json_string_value(json_object_get(k, "KeyType")) : "", type);
	return 0;
}

int mdeploy_awsp__state_check(const mdeploy_provider__store_args *a)
{
	mdeploy_awsp__state s;
	const char *table = mdeploy_provider__store_option(a, "table");
	json_t *resp = NULL, *t, *gsi, *idx = NULL;
	size_t i;
	int rc;

	memset(&s, 0, sizeof(s));
	if (!table)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER, "stores.state.table is not set");
	s.table = (char *)table;
	if ((rc = mdeploy_awsp__client(&s.client, a)))
		return rc;
	rc = mdeploy_awsp__ddb(&s, "DescribeTable", json_object(), &resp);
	mdeploy_aws__client_free(s.client);
	if (rc)
		return rc;
	t = json_object_get(resp, "Table");
	json_array_foreach(json_object_get(t, "GlobalSecondaryIndexes"), i, gsi)
		if (!strcmp(json_string_value(json_object_get(gsi, "IndexName")) ? json_string_value(json_object_get(gsi, "IndexName")) : "", "by-group"))
			idx = gsi;
	if (!key_is(json_object_get(t, "KeySchema"), "pk", "HASH") || !key_is(json_object_get(t, "KeySchema"), "sk", "RANGE"))
		rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
		                        "state table '%s': its keys are not pk (partition) and sk (sort), see mdeploy-aws(7)", table);
	else if (!idx || !key_is(json_object_get(idx, "KeySchema"), "gpk", "HASH") ||
	         !key_is(json_object_get(idx, "KeySchema"), "created_ms", "RANGE"))
		rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
		                        "state table '%s': no index by-group on gpk and created_ms, see mdeploy-aws(7)", table);
	json_decref(resp);
	return rc;
}

/* ---- the backend ---- */

static void state_free(void *impl)
{
	mdeploy_awsp__state *s = impl;
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	if (s->thread_on)
		pthread_join(s->thread, NULL);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	mdeploy_aws__client_free(s->client);
	free(s->held);
	free(s->table);
	free(s);
}

static const mdeploy_store__shared_ops state_ops = {
	"aws DynamoDB",
	lock_acquire,
	lock_update,
	lock_get,
	mdeploy_awsp__deployment_insert,
	mdeploy_awsp__deployment_update,
	mdeploy_awsp__deployment_get,
	mdeploy_awsp__deployment_foreach,
	mdeploy_awsp__journal_begin,
	mdeploy_awsp__journal_end,
	mdeploy_awsp__journal_data,
	mdeploy_awsp__journal_foreach,
	value_set,
	value_get,
	state_free,
};

int mdeploy_awsp__state_new(void **impl, const mdeploy_store__shared_ops **ops, const mdeploy_provider__store_args *a)
{
	const char *table = mdeploy_provider__store_option(a, "table");
	const char *lease = mdeploy_provider__store_option(a, "lease");
	mdeploy_awsp__state *s;
	int rc;

	*impl = NULL;
	if (!table)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
		                          "%s: the aws state store needs stores.state.table (a DynamoDB table)",
		                          a->config ? mdeploy_config_path(a->config) : "mdeploy.yml");
	if (!(s = calloc(1, sizeof(*s))))
		return mdeploy__error_oom();
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->ctx = a->ctx;
	s->lease_ms = (lease ? strtoll(lease, NULL, 10) : 60) * 1000;
	if (!(s->table = mdeploy__strdup(table))) {
		state_free(s);
		return mdeploy__error_oom();
	}
	if ((rc = mdeploy_awsp__client(&s->client, a))) {
		state_free(s);
		return rc;
	}
	*impl = s;
	*ops = &state_ops;
	return 0;
}
