/* web_private.h - internals of the web console shared by its files. */
#ifndef MDEPLOY_WEB_PRIVATE_H
#define MDEPLOY_WEB_PRIVATE_H

#include "mdeploy_private.h"
#include "mdeploy/web.h"
#include "mdeploy/store.h"
#include "mdeploy/pipeline.h"
#include "mdeploy/deploy.h"
#include "mdeploy/provider.h"
#include "mdeploy/config.h"
#include "mdeploy/group.h"

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>

#define WEB_BODY_MAX (64 * 1024)
#define WEB_SESSIONS_MAX 256
#define WEB_SESSION_IDLE_MS (12LL * 3600 * 1000)

#define WEB_PROXIES_MAX 32

/* An address range: `bits` leading bits of `addr` (4 or 16 bytes). */
typedef struct web_net {
	int family;                    /* AF_INET, AF_INET6 */
	unsigned char addr[16];
	unsigned int bits;
} web_net;

typedef struct web_session {
	char id[65];           /* cookie value, hex */
	char token_hash[65];   /* the token it was opened with (revocation ends it) */
	int64_t last_used;     /* unix ms; 0 free slot */
} web_session;

struct mdeploy_web {
	struct MHD_Daemon *daemon;
	char *state_dir, *config_path, *public_url;
	char *cert_pem, *key_pem;
	unsigned int port;
	int tls;
	unsigned char csrf_key[32];    /* HMAC key for CSRF tokens, new per start */
	pthread_mutex_t lock;          /* sessions */
	web_session sessions[WEB_SESSIONS_MAX];
	volatile int stopping;
	/* Reverse proxy authentication (auth.c); proxy_header NULL: off. */
	char *proxy_header;
	web_net proxies[WEB_PROXIES_MAX];
	size_t nproxies;
	char **proxy_writers;          /* NULL-terminated; NULL: nobody writes */
};

/* Who made a request, once authenticated. */
typedef struct web_principal {
	int authed;
	int read_only;
	int via_session;               /* cookie (browser) rather than a bearer token */
	int via_proxy;                 /* named by a trusted reverse proxy's header */
	char name[72];                 /* token name */
	char who[80];                  /* "token:NAME" */
	char token_hash[65];
	char session_id[65];
} web_principal;

typedef struct web_req {
	mdeploy_web *web;
	struct MHD_Connection *conn;
	const char *method;
	const char *path;              /* decoded, without the query */
	char *body;
	size_t body_len;
	int body_too_big;
	mdeploy_ctx *ctx;              /* per request */
	web_principal who;
} web_req;

/* What a handler answers. */
typedef struct web_reply {
	unsigned int status;
	json_t *json;                  /* a JSON document, or */
	const char *body;              /* static bytes (assets) */
	size_t len;
	const char *ctype;
	char *set_cookie;              /* malloc'd Set-Cookie value */
	struct MHD_Response *raw;      /* a ready response (events) */
} web_reply;

/* server.c */
const char *mdeploy_web__header(web_req *r, const char *name);
const char *mdeploy_web__arg(web_req *r, const char *name);
int mdeploy_web__reply_json(web_reply *out, unsigned int status, json_t *doc);
int mdeploy_web__reply_error(web_reply *out, unsigned int status, const char *fmt, ...) MDEPLOY_FORMAT_PRINTF(3, 4);
/* The library's last error as a reply: 404 not found, 400 invalid, 409 conflict/locked, 500 others. */
int mdeploy_web__reply_lib_error(web_reply *out, const char *what);
/* "limit" argument: default when absent, -1 after a 400 reply. */
int mdeploy_web__arg_limit(web_req *r, web_reply *out, unsigned int def, unsigned int max);
/* Non-zero when `s` is a safe name/id (1-128 of [A-Za-z0-9._@/-], no ".."). */
int mdeploy_web__name_ok(const char *s);

/* router.c: dispatch a request to its handler. */
void mdeploy_web__route(web_req *r, web_reply *out);

/* api_pipeline.c */
void mdeploy_web__api_executions(web_req *r, web_reply *out);
void mdeploy_web__api_execution(web_req *r, web_reply *out, const char *id);
void mdeploy_web__api_execution_log(web_req *r, web_reply *out, const char *id);
void mdeploy_web__api_approvals(web_req *r, web_reply *out);
void mdeploy_web__api_pipelines(web_req *r, web_reply *out);

/* api_deploy.c */
void mdeploy_web__api_deployments(web_req *r, web_reply *out);
void mdeploy_web__api_deployment(web_req *r, web_reply *out, const char *id);
void mdeploy_web__api_groups(web_req *r, web_reply *out, const char *name);
void mdeploy_web__api_fleets(web_req *r, web_reply *out, const char *name);
void mdeploy_web__api_lb(web_req *r, web_reply *out, const char *name);

/* api_actions.c: state-changing requests (auth and CSRF checked by the router). */
void mdeploy_web__act_decide(web_req *r, web_reply *out, const char *id, int approve);
void mdeploy_web__act_stop(web_req *r, web_reply *out, const char *id);
void mdeploy_web__act_rollback(web_req *r, web_reply *out, const char *group);
void mdeploy_web__api_audit(web_req *r, web_reply *out);

/* auth.c */
/* Check and keep the reverse proxy options (mdeploy_web_options version 2). */
int mdeploy_web__proxy_setup(mdeploy_web *w, const mdeploy_web_options *opts);
void mdeploy_web__proxy_free(mdeploy_web *w);
/* proxy.c: 0 when a trusted proxy named the user (r->who filled), -1 when it
 * named no valid user, 1 when this request is not one to believe it for. */
int mdeploy_web__proxy_authenticate(web_req *r);
/* A token or user name: 1-64 of [A-Za-z0-9._@-]. */
int mdeploy_web__user_name_ok(const char *name);
/* Fill r->who from the Authorization header or the session cookie. */
int mdeploy_web__authenticate(web_req *r);
/* The CSRF token of the request's principal (64 hex + NUL). */
void mdeploy_web__csrf_of(web_req *r, char out[65]);
/* 0 when a state-changing request passes the CSRF check, else a 403 reply is made. */
int mdeploy_web__csrf_check(web_req *r, web_reply *out);
void mdeploy_web__api_session(web_req *r, web_reply *out);
void mdeploy_web__api_login(web_req *r, web_reply *out);
void mdeploy_web__api_logout(web_req *r, web_reply *out);
int mdeploy_web__random_hex(char *out, size_t nbytes);
void mdeploy_web__sha256_hex(const char *s, char out[65]);

/* events.c: GET /api/events, server-sent events. */
void mdeploy_web__api_events(web_req *r, web_reply *out);
/* A digest of what the pages show, to tell when it changed. */
int mdeploy_web__fingerprint(web_req *r, char out[65]);

/* assets.c (generated): the pages and their files. */
typedef struct web_asset {
	const char *path;
	const char *ctype;
	const unsigned char *data;
	size_t len;
} web_asset;
const web_asset *mdeploy_web__asset(const char *path);

/* Open the store of a request's context. */
int mdeploy_web__store(web_req *r, mdeploy_store **st);

#endif
