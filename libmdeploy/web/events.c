/*
 * events.c - GET /api/events: server-sent events. Twice a second the
 * stream takes a digest of what the pages show (recent executions and
 * their actions, recent deployments and their journal, fleets and their
 * instances, every group's load balancer targets with weights and health,
 * the audit trail) and sends "event: change" when it differs; the pages
 * then fetch the JSON they show. A comment line every 10 s keeps proxies
 * and dead clients honest; a stream ends after 5 minutes and EventSource
 * reconnects.
 */
#include "web_private.h"
#include "store/store_private.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SSE_POLL_MS 500
#define SSE_KEEPALIVE_MS 10000
#define SSE_LIFETIME_MS (5 * 60 * 1000)

static void hash_sql(EVP_MD_CTX *md, mdeploy_store *st, const char *sql)
{
	sqlite3_stmt *q = mdeploy_store__prepare(st, sql);
	int i, n;
	if (!q) {
		mdeploy_error_clear();
		return;
	}
	n = sqlite3_column_count(q);
	while (sqlite3_step(q) == SQLITE_ROW) {
		for (i = 0; i < n; i++) {
			const unsigned char *t = sqlite3_column_text(q, i);
			EVP_DigestUpdate(md, t ? (const char *)t : "", t ? strlen((const char *)t) : 0);
			EVP_DigestUpdate(md, "\x1f", 1);
		}
		EVP_DigestUpdate(md, "\x1e", 1);
	}
	sqlite3_finalize(q);
}

static int target_cb(const mdeploy_target_status *t, void *payload)
{
	char line[512];
	int n = snprintf(line, sizeof(line), "%s|%u|%s|%s\n", t->instance, t->weight, t->state, t->health);
	EVP_DigestUpdate(payload, line, n > 0 ? (size_t)n : 0);
	return 0;
}

static int fleet_cb(const mdeploy_fleet_info *f, void *payload)
{
	char line[512];
	int n = snprintf(line, sizeof(line), "%s|%u|%u\n", f->name, f->desired, f->running);
	EVP_DigestUpdate(payload, line, n > 0 ? (size_t)n : 0);
	return 0;
}

static int inst_cb(const mdeploy_instance_info *i, void *payload)
{
	char line[512];
	int n = snprintf(line, sizeof(line), "%s|%s\n", i->id, i->state);
	EVP_DigestUpdate(payload, line, n > 0 ? (size_t)n : 0);
	return 0;
}

int mdeploy_web__fingerprint(web_req *r, char out[65])
{
	static const char d[] = "0123456789abcdef";
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	mdeploy_store *st = NULL;
	mdeploy_provider *p = NULL;
	mdeploy_config *cfg = NULL;
	unsigned char h[32];
	unsigned int n = 0, i;

	if (!md)
		return mdeploy__error_oom();
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	if (mdeploy_store_open(&st, r->ctx, NULL) == 0) {
		hash_sql(md, st, "SELECT id, status, updated_at, current_stage FROM (SELECT id, status, updated_at,"
		                 " stage_index AS current_stage FROM pipeline_executions ORDER BY seq DESC LIMIT 50)");
		hash_sql(md, st, "SELECT execution_id, idx, status, attempt, started_at, finished_at FROM pipeline_actions"
		                 " WHERE execution_id IN (SELECT id FROM pipeline_executions ORDER BY seq DESC LIMIT 50)"
		                 " ORDER BY execution_id, idx");
		hash_sql(md, st, "SELECT id, status, updated_at FROM deployments ORDER BY created_at DESC, id LIMIT 50");
		hash_sql(md, st, "SELECT deployment_id, seq, state, finished_at FROM journal WHERE deployment_id IN"
		                 " (SELECT id FROM deployments ORDER BY created_at DESC LIMIT 10) ORDER BY deployment_id, seq");
		hash_sql(md, st, "SELECT MAX(seq) FROM audit");
		if (mdeploy_provider_open_configured(&p, r->ctx, st) == 0) {
			mdeploy_fleet_foreach(p, NULL, fleet_cb, md);
			mdeploy_instance_foreach(p, NULL, inst_cb, md);
			if (mdeploy_config_load(&cfg, mdeploy_ctx_config_path(r->ctx), NULL) == 0) {
				for (i = 0; i < mdeploy_config_group_count(cfg); i++) {
					char lb[256];
					snprintf(lb, sizeof(lb), "%s-%s", mdeploy_config_application_name(cfg),
					         mdeploy_config_group_at(cfg, i)->name);
					if (mdeploy_lb_running(p, lb))
						mdeploy_lb_targets(p, lb, target_cb, md);
				}
			}
		}
	}
	mdeploy_config_free(cfg);
	mdeploy_provider_free(p);
	mdeploy_store_free(st);
	mdeploy_error_clear();
	EVP_DigestFinal_ex(md, h, &n);
	EVP_MD_CTX_free(md);
	for (i = 0; i < 32; i++) {
		out[2 * i] = d[h[i] >> 4];
		out[2 * i + 1] = d[h[i] & 15];
	}
	out[64] = '\0';
	return 0;
}

struct sse {
	web_req req;          /* a copy with its own context, for the stream's thread */
	char last[65];
	char buf[256];
	size_t len, off;
	int64_t started, sent;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct sse *s = cls;
	(void)pos;
	for (;;) {
		char fp[65];
		int64_t t;
		if (s->off < s->len) {
			size_t n = s->len - s->off < max ? s->len - s->off : max;
			memcpy(buf, s->buf + s->off, n);
			s->off += n;
			return (ssize_t)n;
		}
		t = now_ms();
		if (s->req.web->stopping || t - s->started > SSE_LIFETIME_MS)
			return MHD_CONTENT_READER_END_OF_STREAM;
		mdeploy_web__fingerprint(&s->req, fp);
		if (strcmp(fp, s->last)) {
			memcpy(s->last, fp, sizeof(s->last));
			s->len = (size_t)snprintf(s->buf, sizeof(s->buf), "retry: 2000\nevent: change\ndata: {\"fingerprint\":\"%s\"}\n\n", fp);
			s->off = 0;
			s->sent = t;
			continue;
		}
		if (t - s->sent >= SSE_KEEPALIVE_MS) {
			s->len = (size_t)snprintf(s->buf, sizeof(s->buf), ": keep-alive\n\n");
			s->off = 0;
			s->sent = t;
			continue;
		}
		{
			int k;
			for (k = 0; k < SSE_POLL_MS / 50 && !s->req.web->stopping; k++) {
				struct timespec ts = { 0, 50 * 1000000L };
				nanosleep(&ts, NULL);
			}
		}
	}
}

static void sse_free(void *cls)
{
	struct sse *s = cls;
	mdeploy_ctx_free(s->req.ctx);
	free(s);
}

void mdeploy_web__api_events(web_req *r, web_reply *out)
{
	mdeploy_ctx_options co = MDEPLOY_CTX_OPTIONS_INIT;
	struct sse *s = calloc(1, sizeof(*s));
	if (!s) {
		mdeploy_web__reply_error(out, 500, "out of memory");
		return;
	}
	s->req.web = r->web;
	s->req.conn = r->conn;
	s->req.method = "GET";
	s->req.path = "/api/events";
	co.state_dir = r->web->state_dir;
	co.config_path = r->web->config_path;
	co.log_level = MDEPLOY_LOG_ERROR;
	if (mdeploy_ctx_new(&s->req.ctx, &co)) {
		free(s);
		mdeploy_web__reply_lib_error(out, NULL);
		return;
	}
	s->started = s->sent = now_ms();
	if (!(out->raw = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1024, sse_read, s, sse_free))) {
		sse_free(s);
		mdeploy_web__reply_error(out, 500, "out of memory");
		return;
	}
	MHD_add_response_header(out->raw, "Content-Type", "text/event-stream");
	MHD_add_response_header(out->raw, "X-Accel-Buffering", "no");
	out->status = 200;
}
