/*
 * mdeploy/web.h - the web console: an HTTP server with a JSON API under
 * /api/ (the documents `--json` of the CLI prints), live pages, tokens and
 * the audit trail of the decisions taken through it. See mdeploy-serve(1).
 *
 * The server runs its own threads (one per connection); each request opens
 * its own context, store and provider, so the calls below may be made from
 * the thread that started it while it runs.
 */
#ifndef MDEPLOY_WEB_H
#define MDEPLOY_WEB_H

#include "common.h"
#include "context.h"

MDEPLOY_BEGIN_DECL

typedef struct mdeploy_web mdeploy_web;

typedef struct mdeploy_web_options {
	unsigned int version;
	/* Address to listen on; NULL: "127.0.0.1". Any address that is not a
	 * loopback one needs tls_cert and tls_key (MDEPLOY_EINVALID otherwise). */
	const char *address;
	unsigned int port;          /* 0: any free port (see mdeploy_web_port()) */
	const char *tls_cert;       /* PEM files; both or neither */
	const char *tls_key;
	/* The URL users reach the console at, for links in webhooks; NULL:
	 * http(s)://ADDRESS:PORT. */
	const char *public_url;
	unsigned int max_connections; /* 0: 64 */
	/*
	 * Version 2. Authentication by a reverse proxy, off when NULL: a request
	 * whose TCP peer is one of `trusted_proxies` (NULL-terminated IPv4 or
	 * IPv6 addresses, or ADDRESS/BITS ranges; required) and that carries
	 * this header (e.g. "X-Forwarded-User") is the user it names
	 * ([A-Za-z0-9._@-], 1-64 characters; "proxy:NAME" in the audit trail),
	 * read-only unless listed in `proxy_writers` (NULL-terminated; "*": all).
	 * From any other peer the header is ignored. The proxy must set the
	 * header itself and drop one a client sends: see mdeploy-serve(1).
	 */
	const char *proxy_user_header;
	const char *const *trusted_proxies;
	const char *const *proxy_writers;
} mdeploy_web_options;

#define MDEPLOY_WEB_OPTIONS_VERSION 2
#define MDEPLOY_WEB_OPTIONS_INIT { MDEPLOY_WEB_OPTIONS_VERSION, NULL, 0, NULL, NULL, NULL, 0, NULL, NULL, NULL }

MDEPLOY_EXTERN(int) mdeploy_web_options_init(mdeploy_web_options *opts, unsigned int version);

/*
 * Start serving the state of `ctx` (its state directory and mdeploy.yml;
 * the context is only read here, the server keeps copies of its paths).
 * Returns once the socket listens. Stop with mdeploy_web_stop().
 */
MDEPLOY_EXTERN(int) mdeploy_web_start(mdeploy_web **out, mdeploy_ctx *ctx, const mdeploy_web_options *opts);
/* The port it listens on. */
MDEPLOY_EXTERN(unsigned int) mdeploy_web_port(const mdeploy_web *web);
/* Stop serving (open connections are closed) and free. Accepts NULL. */
MDEPLOY_EXTERN(void) mdeploy_web_stop(mdeploy_web *web);

/* ---- tokens ---- */

typedef struct mdeploy_web_token_info {
	const char *name;
	int read_only;
	int64_t created_at, last_used_at; /* unix ms; 0 never used */
} mdeploy_web_token_info;

/*
 * Create a token named `name` ([A-Za-z0-9._@-], 1-64 characters). The
 * secret is returned once in `*secret` (malloc'd; the caller frees it) and
 * only its SHA-256 digest is stored. MDEPLOY_EEXISTS when the name is taken.
 */
MDEPLOY_EXTERN(int) mdeploy_web_token_create(mdeploy_ctx *ctx, const char *name, int read_only, char **secret);
typedef int (*mdeploy_web_token_cb)(const mdeploy_web_token_info *t, void *payload);
MDEPLOY_EXTERN(int) mdeploy_web_token_foreach(mdeploy_ctx *ctx, mdeploy_web_token_cb cb, void *payload);
/* Remove a token: requests and sessions made with it are refused from then on. */
MDEPLOY_EXTERN(int) mdeploy_web_token_revoke(mdeploy_ctx *ctx, const char *name);

/* ---- audit trail ---- */

typedef struct mdeploy_audit_entry {
	int64_t seq;
	int64_t at;              /* unix ms */
	const char *who;         /* "token:NAME" */
	const char *action;      /* "approve", "reject", "stop", "stop-rollback", "rollback", ... */
	const char *target;      /* "EXECUTION STAGE/ACTION", "d-...", "GROUP" */
	const char *outcome;     /* "done", "failed", "denied" */
	const char *detail;      /* comment or error; may be NULL */
} mdeploy_audit_entry;

/* Record a decision (the server does it for each one it takes or refuses). */
MDEPLOY_EXTERN(int) mdeploy_audit_record(mdeploy_ctx *ctx, const char *who, const char *action,
                                         const char *target, const char *outcome, const char *detail);
/* An entry of `serve audit --json` (see mdeploy/common.h): seq, at, who,
 * action, target, outcome, detail. */
MDEPLOY_EXTERN(struct json_t *) mdeploy_audit_entry_to_json(const mdeploy_audit_entry *e);
typedef int (*mdeploy_audit_cb)(const mdeploy_audit_entry *e, void *payload);
/* Entries newest first; `limit` 0 means all. */
MDEPLOY_EXTERN(int) mdeploy_audit_foreach(mdeploy_ctx *ctx, unsigned int limit, mdeploy_audit_cb cb, void *payload);

MDEPLOY_END_DECL

#endif
