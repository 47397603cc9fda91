/*
 * server.c - the web console's HTTP server on libmicrohttpd: listening
 * (loopback by default, TLS required elsewhere), reading requests with a
 * bounded body, answering with security headers, and the reply helpers the
 * handlers share.
 */
#include "web_private.h"

#include <arpa/inet.h>
#include <openssl/rand.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int mdeploy_web_options_init(mdeploy_web_options *opts, unsigned int version)
{
	mdeploy_web_options def = MDEPLOY_WEB_OPTIONS_INIT;
	int rc;
	if ((rc = mdeploy__options_check(version, MDEPLOY_WEB_OPTIONS_VERSION, "mdeploy_web_options")))
		return rc;
	*opts = def;
	opts->version = version;
	return 0;
}

/* ---- helpers for handlers ---- */

const char *mdeploy_web__header(web_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *mdeploy_web__arg(web_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

int mdeploy_web__reply_json(web_reply *out, unsigned int status, json_t *doc)
{
	out->status = status;
	json_decref(out->json);
	out->json = doc ? doc : json_pack("{s:s}", "error", "out of memory");
	if (!doc)
		out->status = 500;
	return 0;
}

int mdeploy_web__reply_error(web_reply *out, unsigned int status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return mdeploy_web__reply_json(out, status, json_pack("{s:s, s:i}", "error", msg, "status", (int)status));
}

int mdeploy_web__reply_lib_error(web_reply *out, const char *what)
{
	const mdeploy_error *e = mdeploy_error_last();
	unsigned int status;
	switch (e->code) {
	case MDEPLOY_ENOTFOUND: status = 404; break;
	case MDEPLOY_EINVALID: status = 400; break;
	case MDEPLOY_ECONFLICT: case MDEPLOY_ELOCKED: status = 409; break;
	case MDEPLOY_EAUTH: status = 403; break;
	default: status = 500; break;
	}
	if (what)
		return mdeploy_web__reply_error(out, status, "%s: %s", what, e->message);
	return mdeploy_web__reply_error(out, status, "%s", e->message);
}

int mdeploy_web__arg_limit(web_req *r, web_reply *out, unsigned int def, unsigned int max)
{
	const char *s = mdeploy_web__arg(r, "limit");
	char *end;
	unsigned long v;
	if (!s)
		return (int)def;
	v = strtoul(s, &end, 10);
	if (!*s || *end || *s == '-' || v < 1 || v > max) {
		mdeploy_web__reply_error(out, 400, "limit '%.40s' is not a number from 1 to %u", s, max);
		return -1;
	}
	return (int)v;
}

int mdeploy_web__name_ok(const char *s)
{
	size_t n = 0;
	if (!s || !*s || strstr(s, ".."))
		return 0;
	for (; s[n]; n++) {
		unsigned char c = (unsigned char)s[n];
		if (n >= 128 || !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		                  c == '.' || c == '_' || c == '-' || c == '@' || c == '/'))
			return 0;
	}
	return 1;
}

int mdeploy_web__store(web_req *r, mdeploy_store **st)
{
	return mdeploy_store_open(st, r->ctx, NULL);
}

/* ---- request cycle ---- */

static void add_common_headers(struct MHD_Response *resp, int api)
{
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "Content-Security-Policy",
	                        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
	MHD_add_response_header(resp, "Cache-Control", api ? "no-store" : "no-cache");
}

static enum MHD_Result send_reply(web_req *r, web_reply *out)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	int api = !strncmp(r->path, "/api/", 5);

	if (out->raw) {
		resp = out->raw;
	} else if (out->json) {
		char *text = json_dumps(out->json, JSON_COMPACT);
		size_t n;
		if (!text) {
			text = strdup("{\"error\":\"out of memory\",\"status\":500}");
			out->status = 500;
			if (!text)
				return MHD_NO;
		}
		n = strlen(text);
		text[n] = '\0';
		resp = MHD_create_response_from_buffer(n, text, MHD_RESPMEM_MUST_FREE);
		if (resp)
			MHD_add_response_header(resp, "Content-Type", "application/json; charset=utf-8");
		else
			free(text);
	} else {
		resp = MHD_create_response_from_buffer(out->len, (void *)out->body, MHD_RESPMEM_PERSISTENT);
		if (resp && out->ctype)
			MHD_add_response_header(resp, "Content-Type", out->ctype);
	}
	if (!resp)
		return MHD_NO;
	add_common_headers(resp, api);
	if (out->status == 405)
		MHD_add_response_header(resp, "Allow", "GET, HEAD, POST");
	if (out->status == 401)
		MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"mdeploy\"");
	if (out->set_cookie)
		MHD_add_response_header(resp, "Set-Cookie", out->set_cookie);
	ret = MHD_queue_response(r->conn, out->status ? out->status : 200, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void req_free(web_req *r)
{
	if (!r)
		return;
	free(r->body);
	mdeploy_ctx_free(r->ctx);
	free(r);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	(void)cls; (void)c; (void)toe;
	req_free(*con_cls);
	*con_cls = NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	mdeploy_web *web = cls;
	web_req *r = *con_cls;
	web_reply out;
	enum MHD_Result ret;
	(void)version;

	if (!r) {
		mdeploy_ctx_options co = MDEPLOY_CTX_OPTIONS_INIT;
		if (!(r = calloc(1, sizeof(*r))))
			return MHD_NO;
		r->web = web;
		r->conn = c;
		r->method = method;
		r->path = url;
		co.state_dir = web->state_dir;
		co.config_path = web->config_path;
		co.log_level = MDEPLOY_LOG_ERROR;
		if (mdeploy_ctx_new(&r->ctx, &co)) {
			free(r);
			return MHD_NO;
		}
		*con_cls = r;
		return MHD_YES;
	}
	if (*upload_size) {
		if (!r->body_too_big) {
			if (r->body_len + *upload_size > WEB_BODY_MAX) {
				r->body_too_big = 1;
			} else {
				char *n = realloc(r->body, r->body_len + *upload_size + 1);
				if (!n)
					return MHD_NO;
				memcpy(n + r->body_len, upload, *upload_size);
				r->body = n;
				r->body_len += *upload_size;
				r->body[r->body_len] = '\0';
			}
		}
		*upload_size = 0;
		return MHD_YES;
	}
	mdeploy_error_clear();
	memset(&out, 0, sizeof(out));
	if (r->body_too_big)
		mdeploy_web__reply_error(&out, 413, "request body larger than %d bytes", WEB_BODY_MAX);
	else
		mdeploy_web__route(r, &out);
	ret = send_reply(r, &out);
	json_decref(out.json);
	free(out.set_cookie);
	return ret;
}

/* ---- start and stop ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

static int is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

static void free_web(mdeploy_web *w)
{
	if (!w)
		return;
	free(w->state_dir);
	free(w->config_path);
	free(w->public_url);
	if (w->key_pem)
		explicit_bzero(w->key_pem, strlen(w->key_pem));
	free(w->key_pem);
	free(w->cert_pem);
	mdeploy_web__proxy_free(w);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

/* Percent-decoding in place, except %00: a NUL would cut the path short
 * ("/assets/app.js%00.png" would name app.js), so it stays as it is. */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
	char *r = s, *w = s;
	(void)cls; (void)c;
	while (*r) {
		int hi, lo;
		if (r[0] == '%' && r[1] && r[2] && (hi = hexval(r[1])) >= 0 && (lo = hexval(r[2])) >= 0 && (hi || lo)) {
			*w++ = (char)(hi * 16 + lo);
			r += 3;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
	return (size_t)(w - s);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls; (void)fmt; (void)ap; /* the library never prints */
}

int mdeploy_web_start(mdeploy_web **out, mdeploy_ctx *ctx, const mdeploy_web_options *opts)
{
	mdeploy_web_options def = MDEPLOY_WEB_OPTIONS_INIT;
	const char *addr;
	struct sockaddr_storage ss;
	unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *info;
	mdeploy_web *w;
	size_t len;
	int rc;

	*out = NULL;
	if (!opts)
		opts = &def;
	if ((rc = mdeploy__options_check(opts->version, MDEPLOY_WEB_OPTIONS_VERSION, "mdeploy_web_options")))
		return rc;
	addr = opts->address ? opts->address : "127.0.0.1";
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, addr, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		ss.ss_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)opts->port);
	} else if (inet_pton(AF_INET6, addr, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		ss.ss_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)opts->port);
		flags |= MHD_USE_IPv6;
	} else {
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_NET,
		                          "'%s' is not an IPv4 or IPv6 address", addr);
	}
	if (opts->port > 65535)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_NET, "port %u is out of range", opts->port);
	if (!opts->tls_cert != !opts->tls_key)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_NET,
		                          "a TLS certificate needs its key and a key its certificate");
	if (!is_loopback(&ss) && !opts->tls_cert)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_NET,
		                          "listening on %s (not a loopback address) needs TLS: a certificate and its key", addr);
	if (!(w = calloc(1, sizeof(*w))))
		return mdeploy__error_oom();
	pthread_mutex_init(&w->lock, NULL);
	w->state_dir = mdeploy__strdup(mdeploy_ctx_state_dir(ctx));
	w->config_path = mdeploy__strdup(mdeploy_ctx_config_path(ctx));
	if (!w->state_dir || !w->config_path) {
		free_web(w);
		return mdeploy__error_oom();
	}
	if (opts->tls_cert) {
		if ((rc = mdeploy__file_read_max(&w->cert_pem, &len, opts->tls_cert, 1 << 20)) ||
		    (rc = mdeploy__file_read_max(&w->key_pem, &len, opts->tls_key, 1 << 20))) {
			free_web(w);
			return rc;
		}
		w->tls = 1;
		flags |= MHD_USE_TLS;
	}
	if ((rc = mdeploy_web__proxy_setup(w, opts))) {
		free_web(w);
		return rc;
	}
	if (RAND_bytes(w->csrf_key, (int)sizeof(w->csrf_key)) != 1) {
		free_web(w);
		return mdeploy__error_set(MDEPLOY_EOS, MDEPLOY_ERROR_CLASS_CRYPTO, "no random bytes for the CSRF key");
	}
	if ((rc = mdeploy_ctx_ensure_state_dir(ctx))) {
		free_web(w);
		return rc;
	}
	{
		/* Migrate the store now, not in the first request. */
		mdeploy_store *st = NULL;
		if ((rc = mdeploy_store_open(&st, ctx, NULL))) {
			free_web(w);
			return rc;
		}
		mdeploy_store_free(st);
	}
	w->daemon = MHD_start_daemon(flags, (uint16_t)opts->port, NULL, NULL, on_request, w,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_NOTIFY_COMPLETED, completed, w,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)(opts->max_connections ? opts->max_connections : 64),
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)(opts->max_connections ? opts->max_connections : 64),
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)60,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
		w->tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, w->cert_pem,
		MHD_OPTION_HTTPS_MEM_KEY, w->key_pem,
		MHD_OPTION_END);
	if (!w->daemon) {
		int e = errno;
		free_web(w);
		return mdeploy__error_set(e == EADDRINUSE ? MDEPLOY_EEXISTS : MDEPLOY_EOS, MDEPLOY_ERROR_CLASS_NET,
		                          "cannot listen on %s port %u%s%s", addr, opts->port, e ? ": " : "",
		                          e ? strerror(e) : "");
	}
	info = MHD_get_daemon_info(w->daemon, MHD_DAEMON_INFO_BIND_PORT);
	w->port = info ? info->port : opts->port;
	if (opts->public_url)
		w->public_url = mdeploy__strdup(opts->public_url);
	else if (ss.ss_family == AF_INET6)
		w->public_url = mdeploy__sprintf("%s://[%s]:%u", w->tls ? "https" : "http", addr, w->port);
	else
		w->public_url = mdeploy__sprintf("%s://%s:%u", w->tls ? "https" : "http", addr, w->port);
	{
		/* Webhooks link to the console: tell them where it is (best effort). */
		mdeploy_store *st = NULL;
		if (w->public_url && mdeploy_store_open(&st, ctx, NULL) == 0)
			mdeploy_store_value_set(st, "web/public-url", w->public_url);
		mdeploy_store_free(st);
		mdeploy_error_clear();
	}
	*out = w;
	return 0;
}

unsigned int mdeploy_web_port(const mdeploy_web *web)
{
	return web ? web->port : 0;
}

void mdeploy_web_stop(mdeploy_web *web)
{
	if (!web)
		return;
	web->stopping = 1;
	if (web->daemon)
		MHD_stop_daemon(web->daemon);
	free_web(web);
}
