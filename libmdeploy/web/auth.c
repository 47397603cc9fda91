/*
 * auth.c - who may use the console: tokens (stored as SHA-256 digests),
 * browser sessions opened with a token, and the CSRF check of every
 * request that changes something.
 *
 * CSRF: a state-changing request must (1) come from no other site:
 * Sec-Fetch-Site, when the browser sends it, is same-origin or none, and
 * Origin, when sent, is this server's own; (2) have a JSON body
 * (Content-Type: application/json, which a cross-site form cannot send
 * without a CORS preflight this server never grants); and (3) carry
 * X-CSRF-Token, an HMAC of the session (or of the token) under a key made
 * anew at each start, which GET /api/session gives to its holder only.
 */
#include "web_private.h"
#include "store/store_private.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void hex(const unsigned char *in, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	size_t i;
	for (i = 0; i < n; i++) {
		out[2 * i] = d[in[i] >> 4];
		out[2 * i + 1] = d[in[i] & 15];
	}
	out[2 * n] = '\0';
}

int mdeploy_web__random_hex(char *out, size_t nbytes)
{
	unsigned char b[64];
	if (nbytes > sizeof(b) || RAND_bytes(b, (int)nbytes) != 1)
		return mdeploy__error_set(MDEPLOY_EOS, MDEPLOY_ERROR_CLASS_CRYPTO, "no random bytes");
	hex(b, nbytes, out);
	OPENSSL_cleanse(b, sizeof(b));
	return 0;
}

void mdeploy_web__sha256_hex(const char *s, char out[65])
{
	unsigned char md[32];
	unsigned int n = 0;
	EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL);
	hex(md, 32, out);
}

/* ---- tokens in the store ---- */

int mdeploy_web__user_name_ok(const char *name)
{
	size_t n;
	if (!name || !*name)
		return 0;
	for (n = 0; name[n]; n++) {
		char c = name[n];
		if (n >= 64 || !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		                 c == '.' || c == '_' || c == '@' || c == '-'))
			return 0;
	}
	return 1;
}

int mdeploy_web_token_create(mdeploy_ctx *ctx, const char *name, int read_only, char **secret)
{
	mdeploy_store *st = NULL;
	sqlite3_stmt *q = NULL;
	char raw[65], hash[65], *tok;
	int rc;

	*secret = NULL;
	if (!mdeploy_web__user_name_ok(name))
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_INVALID,
		                          "token name '%s' is not 1-64 of A-Z a-z 0-9 . _ @ -", name ? name : "");
	if ((rc = mdeploy_web__random_hex(raw, 32)))
		return rc;
	if (!(tok = mdeploy__sprintf("mdt_%s", raw)))
		return mdeploy__error_oom();
	OPENSSL_cleanse(raw, sizeof(raw));
	mdeploy_web__sha256_hex(tok, hash);
	if ((rc = mdeploy_store_open(&st, ctx, NULL)))
		goto fail;
	if (!(q = mdeploy_store__prepare(st, "INSERT INTO web_tokens (name, hash, read_only, created_at) VALUES (?, ?, ?, ?)"))) {
		rc = mdeploy_error_last()->code;
		goto fail;
	}
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, hash, -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 3, read_only ? 1 : 0);
	sqlite3_bind_int64(q, 4, mdeploy_store__unix_ms());
	if ((rc = sqlite3_step(q)) != SQLITE_DONE) {
		if ((rc & 0xff) == SQLITE_CONSTRAINT)
			rc = mdeploy__error_set(MDEPLOY_EEXISTS, MDEPLOY_ERROR_CLASS_STORE, "a token named '%s' exists", name);
		else
			rc = mdeploy_store__error(st, "cannot store the token");
		goto fail;
	}
	sqlite3_finalize(q);
	mdeploy_store_free(st);
	*secret = tok;
	return 0;
fail:
	sqlite3_finalize(q);
	mdeploy_store_free(st);
	OPENSSL_cleanse(tok, strlen(tok));
	free(tok);
	return rc;
}

int mdeploy_web_token_foreach(mdeploy_ctx *ctx, mdeploy_web_token_cb cb, void *payload)
{
	mdeploy_store *st = NULL;
	sqlite3_stmt *q;
	int rc;
	if ((rc = mdeploy_store_open(&st, ctx, NULL)))
		return rc;
	if (!(q = mdeploy_store__prepare(st, "SELECT name, read_only, created_at, last_used_at FROM web_tokens ORDER BY name"))) {
		mdeploy_store_free(st);
		return mdeploy_error_last()->code;
	}
	rc = 0;
	while (sqlite3_step(q) == SQLITE_ROW) {
		mdeploy_web_token_info t;
		t.name = (const char *)sqlite3_column_text(q, 0);
		t.read_only = sqlite3_column_int(q, 1);
		t.created_at = sqlite3_column_int64(q, 2);
		t.last_used_at = sqlite3_column_int64(q, 3);
		if (cb(&t, payload)) {
			rc = mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_CALLBACK, "token listing stopped by the callback");
			break;
		}
	}
	sqlite3_finalize(q);
	mdeploy_store_free(st);
	return rc;
}

int mdeploy_web_token_revoke(mdeploy_ctx *ctx, const char *name)
{
	mdeploy_store *st = NULL;
	sqlite3_stmt *q;
	int rc;
	if ((rc = mdeploy_store_open(&st, ctx, NULL)))
		return rc;
	if (!(q = mdeploy_store__prepare(st, "DELETE FROM web_tokens WHERE name = ?"))) {
		mdeploy_store_free(st);
		return mdeploy_error_last()->code;
	}
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(q) != SQLITE_DONE)
		rc = mdeploy_store__error(st, "cannot revoke the token");
	else if (sqlite3_changes(mdeploy_store__db(st)) == 0)
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_STORE, "no token named '%s'", name ? name : "");
	sqlite3_finalize(q);
	mdeploy_store_free(st);
	return rc;
}

/* The token with digest `hash`: fills name/read_only, notes its use. */
static int token_lookup(web_req *r, const char *hash, web_principal *who)
{
	mdeploy_store *st = NULL;
	sqlite3_stmt *q;
	int rc, found = 0;
	int64_t last = 0, now = mdeploy_store__unix_ms();
	if ((rc = mdeploy_store_open(&st, r->ctx, NULL)))
		return rc;
	if ((q = mdeploy_store__prepare(st, "SELECT name, read_only, last_used_at FROM web_tokens WHERE hash = ?"))) {
		sqlite3_bind_text(q, 1, hash, -1, SQLITE_STATIC);
		if (sqlite3_step(q) == SQLITE_ROW) {
			snprintf(who->name, sizeof(who->name), "%s", (const char *)sqlite3_column_text(q, 0));
			who->read_only = sqlite3_column_int(q, 1);
			last = sqlite3_column_int64(q, 2);
			found = 1;
		}
		sqlite3_finalize(q);
	}
	if (found && now - last > 60000 && (q = mdeploy_store__prepare(st, "UPDATE web_tokens SET last_used_at = ? WHERE hash = ?"))) {
		sqlite3_bind_int64(q, 1, now);
		sqlite3_bind_text(q, 2, hash, -1, SQLITE_STATIC);
		sqlite3_step(q); /* best effort: a busy store must not refuse a request */
		sqlite3_finalize(q);
	}
	mdeploy_store_free(st);
	mdeploy_error_clear();
	if (!found)
		return MDEPLOY_ENOTFOUND;
	who->authed = 1;
	snprintf(who->who, sizeof(who->who), "token:%s", who->name);
	snprintf(who->token_hash, sizeof(who->token_hash), "%s", hash);
	return 0;
}

/* ---- sessions ---- */

static web_session *session_find(mdeploy_web *w, const char *id)
{
	size_t i;
	int64_t now = mdeploy_store__unix_ms();
	int cmp = strlen(id) == 64;
	for (i = 0; i < WEB_SESSIONS_MAX; i++) {
		web_session *s = &w->sessions[i];
		if (s->last_used && now - s->last_used > WEB_SESSION_IDLE_MS)
			memset(s, 0, sizeof(*s));
		if (cmp && s->last_used && CRYPTO_memcmp(s->id, id, 64) == 0)
			return s;
	}
	return NULL;
}

int mdeploy_web__authenticate(web_req *r)
{
	const char *auth = mdeploy_web__header(r, "Authorization");
	const char *cookie = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, "mdeploy_session");
	char hash[65];

	memset(&r->who, 0, sizeof(r->who));
	if (auth) {
		if (strncasecmp(auth, "Bearer ", 7))
			return -1;
		auth += 7;
		while (*auth == ' ')
			auth++;
		mdeploy_web__sha256_hex(auth, hash);
		return token_lookup(r, hash, &r->who) ? -1 : 0;
	}
	{
		/* A user named by a trusted reverse proxy (off unless configured). */
		int rc = mdeploy_web__proxy_authenticate(r);
		if (rc <= 0)
			return rc;
	}
	if (cookie) {
		web_session *s;
		pthread_mutex_lock(&r->web->lock);
		if ((s = session_find(r->web, cookie))) {
			s->last_used = mdeploy_store__unix_ms();
			snprintf(hash, sizeof(hash), "%s", s->token_hash);
			snprintf(r->who.session_id, sizeof(r->who.session_id), "%s", s->id);
		}
		pthread_mutex_unlock(&r->web->lock);
		if (!s)
			return -1;
		if (token_lookup(r, hash, &r->who)) {
			/* The token was revoked: the session ends with it. */
			pthread_mutex_lock(&r->web->lock);
			if ((s = session_find(r->web, cookie)))
				memset(s, 0, sizeof(*s));
			pthread_mutex_unlock(&r->web->lock);
			memset(&r->who, 0, sizeof(r->who));
			return -1;
		}
		snprintf(r->who.session_id, sizeof(r->who.session_id), "%s", cookie);
		r->who.via_session = 1;
		return 0;
	}
	return -1;
}

void mdeploy_web__csrf_of(web_req *r, char out[65])
{
	unsigned char md[32];
	unsigned int n = 0;
	const char *subject = r->who.via_session ? r->who.session_id : r->who.token_hash;
	HMAC(EVP_sha256(), r->web->csrf_key, (int)sizeof(r->web->csrf_key), (const unsigned char *)subject,
	     strlen(subject), md, &n);
	hex(md, 32, out);
}

int mdeploy_web__csrf_check(web_req *r, web_reply *out)
{
	const char *sfs = mdeploy_web__header(r, "Sec-Fetch-Site");
	const char *origin = mdeploy_web__header(r, "Origin");
	const char *host = mdeploy_web__header(r, "Host");
	const char *ctype = mdeploy_web__header(r, "Content-Type");
	const char *given = mdeploy_web__header(r, "X-CSRF-Token");
	char want[65], self[300];

	if (sfs && strcmp(sfs, "same-origin") && strcmp(sfs, "none")) {
		mdeploy_web__reply_error(out, 403, "cross-site request refused (Sec-Fetch-Site: %.32s)", sfs);
		return -1;
	}
	if (origin) {
		snprintf(self, sizeof(self), "%s://%s", r->web->tls ? "https" : "http", host ? host : "");
		if (!host || strcmp(origin, self)) {
			mdeploy_web__reply_error(out, 403, "request from another origin refused (Origin: %.128s)", origin);
			return -1;
		}
	}
	if (!ctype || strncasecmp(ctype, "application/json", 16)) {
		mdeploy_web__reply_error(out, 415, "a JSON body is needed (Content-Type: application/json)");
		return -1;
	}
	if (!r->who.authed)
		return 0; /* login: no session yet to bind a token to */
	if (!given) {
		mdeploy_web__reply_error(out, 403, "CSRF check failed: no X-CSRF-Token header (GET /api/session gives it)");
		return -1;
	}
	mdeploy_web__csrf_of(r, want);
	if (strlen(given) != 64 || CRYPTO_memcmp(given, want, 64)) {
		mdeploy_web__reply_error(out, 403, "CSRF check failed: X-CSRF-Token does not match this session");
		return -1;
	}
	return 0;
}

static json_t *session_json(web_req *r)
{
	char csrf[65];
	mdeploy_web__csrf_of(r, csrf);
	return json_pack("{s:s, s:s, s:b, s:s, s:s}", "name", r->who.name, "who", r->who.who, "read_only",
	                 r->who.read_only, "via", r->who.via_proxy ? "proxy" : r->who.via_session ? "session" : "token",
	                 "csrf", csrf);
}

void mdeploy_web__api_session(web_req *r, web_reply *out)
{
	mdeploy_web__reply_json(out, 200, session_json(r));
}

void mdeploy_web__api_login(web_req *r, web_reply *out)
{
	json_t *body = r->body ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
	const char *tok = json_string_value(json_object_get(body, "token"));
	char hash[65], sid[65];
	web_session *slot = NULL;
	size_t i;

	if (!tok || !*tok) {
		json_decref(body);
		mdeploy_web__reply_error(out, 400, "a JSON body {\"token\": \"...\"} is needed");
		return;
	}
	mdeploy_web__sha256_hex(tok, hash);
	json_decref(body);
	if (token_lookup(r, hash, &r->who)) {
		mdeploy_audit_record(r->ctx, "anonymous", "login", "-", "denied", "unknown token");
		mdeploy_web__reply_error(out, 401, "unknown or revoked token");
		return;
	}
	if (mdeploy_web__random_hex(sid, 32)) {
		mdeploy_web__reply_lib_error(out, NULL);
		return;
	}
	pthread_mutex_lock(&r->web->lock);
	session_find(r->web, "");  /* expire idle sessions */
	for (i = 0; i < WEB_SESSIONS_MAX; i++)
		if (!slot || r->web->sessions[i].last_used < slot->last_used)
			slot = &r->web->sessions[i];  /* a free slot, else the least recently used */
	snprintf(slot->id, sizeof(slot->id), "%s", sid);
	snprintf(slot->token_hash, sizeof(slot->token_hash), "%s", hash);
	slot->last_used = mdeploy_store__unix_ms();
	pthread_mutex_unlock(&r->web->lock);
	r->who.via_session = 1;
	snprintf(r->who.session_id, sizeof(r->who.session_id), "%s", sid);
	out->set_cookie = mdeploy__sprintf("mdeploy_session=%s; Path=/; HttpOnly; SameSite=Strict%s", sid,
	                                   r->web->tls ? "; Secure" : "");
	mdeploy_audit_record(r->ctx, r->who.who, "login", "-", "done", NULL);
	mdeploy_web__reply_json(out, 200, session_json(r));
}

void mdeploy_web__api_logout(web_req *r, web_reply *out)
{
	web_session *s;
	if (r->who.via_session) {
		pthread_mutex_lock(&r->web->lock);
		if ((s = session_find(r->web, r->who.session_id)))
			memset(s, 0, sizeof(*s));
		pthread_mutex_unlock(&r->web->lock);
	}
	out->set_cookie = mdeploy__sprintf("mdeploy_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0%s",
	                                   r->web->tls ? "; Secure" : "");
	mdeploy_web__reply_json(out, 200, json_pack("{s:b}", "logged_out", 1));
}
