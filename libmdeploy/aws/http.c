/*
 * http.c - one AWS call over libcurl: sign (SigV4, fresh for every attempt),
 * send, and retry the way the AWS SDKs' "standard" retry mode does:
 *
 *  - retried: connection failures and timeouts, HTTP 500/502/503/504, 429,
 *    and the throttling / transient error codes (errors.c);
 *  - at most AWS_MAX_ATTEMPTS attempts (default 3);
 *  - backoff before attempt n+1: random(0..1) * 2^n seconds, at most 20 s
 *    (exponential with full jitter);
 *  - a retry quota per client: 500 tokens, a retry costs 5 (10 after a
 *    timeout), a success after a retry gives them back; with the quota spent
 *    the error is returned at once, so an outage does not multiply load;
 *  - a clock-skew refusal (RequestTimeTooSkewed, "Signature expired") sets the
 *    client's skew from the server's Date header and is retried once.
 *
 * TLS certificates are always verified (libcurl's defaults; never turned
 * off). Nothing here logs: URLs may carry presigned tokens, bodies secrets.
 */
#include "aws/aws_private.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

int64_t mdeploy_aws__now(mdeploy_aws__client *c)
{
	int64_t skew;
	pthread_mutex_lock(&c->lock);
	skew = c->skew;
	pthread_mutex_unlock(&c->lock);
	return (int64_t)time(NULL) + skew;
}

void mdeploy_aws__response_dispose(mdeploy_aws__response *r)
{
	if (!r)
		return;
	mdeploy__buf_dispose(&r->body);
	free(r->request_id);
	free(r->etag);
	free(r->error_code);
	free(r->content_range);
	memset(r, 0, sizeof(*r));
}

typedef struct xfer {
	const mdeploy_aws__request *req;
	mdeploy_aws__response *resp;
	size_t sent;
	int write_error;
	char *error_type;   /* x-amzn-ErrorType */
} xfer;

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
	xfer *x = ud;
	size_t len = size * n, done = 0;
	if (x->req->out_fd >= 0 && x->resp->status >= 200 && x->resp->status < 300) {
		while (done < len) {
			ssize_t w = write(x->req->out_fd, p + done, len - done);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				x->write_error = errno;
				return 0;
			}
			done += (size_t)w;
		}
		return len;
	}
	/* error bodies are small; cap what is kept */
	if (x->resp->body.size > (64u << 20))
		return 0;
	return mdeploy__buf_put(&x->resp->body, p, len) ? 0 : len;
}

static char *header_value(const char *line, size_t len, const char *name)
{
	size_t nl = strlen(name);
	const char *v, *e;
	if (len <= nl || strncasecmp(line, name, nl) || line[nl] != ':')
		return NULL;
	v = line + nl + 1;
	e = line + len;
	while (v < e && (*v == ' ' || *v == '\t'))
		v++;
	while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
		e--;
	return strndup(v, (size_t)(e - v));
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	xfer *x = ud;
	size_t len = size * n;
	char *v;
	if (len > 5 && !strncmp(p, "HTTP/", 5)) {
		/* a new response (after 100 Continue or a retry): forget the old one */
		long code = 0;
		const char *sp = memchr(p, ' ', len);
		if (sp)
			code = strtol(sp + 1, NULL, 10);
		x->resp->status = code;
		return len;
	}
	if ((v = header_value(p, len, "x-amzn-RequestId")) || (v = header_value(p, len, "x-amz-request-id"))) {
		free(x->resp->request_id);
		x->resp->request_id = v;
	} else if ((v = header_value(p, len, "ETag"))) {
		free(x->resp->etag);
		x->resp->etag = v;
	} else if ((v = header_value(p, len, "Content-Range"))) {
		free(x->resp->content_range);
		x->resp->content_range = v;
	} else if ((v = header_value(p, len, "x-amzn-ErrorType"))) {
		free(x->error_type);
		x->error_type = v;
	} else if ((v = header_value(p, len, "Content-Length"))) {
		x->resp->content_length = strtoll(v, NULL, 10);
		free(v);
	} else if ((v = header_value(p, len, "Date"))) {
		time_t t = curl_getdate(v, NULL);
		if (t > 0)
			x->resp->date = (int64_t)t;
		free(v);
	}
	return len;
}

static size_t on_read(char *buf, size_t size, size_t n, void *ud)
{
	xfer *x = ud;
	const mdeploy_aws__request *r = x->req;
	size_t want = size * n, left = r->body_len - x->sent;
	if (want > left)
		want = left;
	if (!want)
		return 0;
	if (r->body) {
		memcpy(buf, (const char *)r->body + x->sent, want);
	} else {
		ssize_t got;
		do
			got = pread(r->body_fd, buf, want, (off_t)(r->body_off + (int64_t)x->sent));
		while (got < 0 && errno == EINTR);
		if (got <= 0)
			return CURL_READFUNC_ABORT;
		want = (size_t)got;
	}
	x->sent += want;
	return want;
}

static int is_retryable_status(long s)
{
	return s == 500 || s == 502 || s == 503 || s == 504 || s == 429;
}

static double jitter(void)
{
	unsigned int r = 0;
	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		r = (unsigned int)rand();
	return (double)r / 4294967295.0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* One attempt. Returns 0 with resp->status set, or <0 for a transport failure (*timeout set). */
static int attempt(mdeploy_aws__client *c, const mdeploy_aws__request *r, mdeploy_aws__response *resp,
                   xfer *x, int *timeout)
{
	CURL *h;
	struct curl_slist *list = NULL;
	mdeploy_aws_signature *sig = NULL;
	mdeploy_aws__creds cr = { 0 };
	char payload[65];
	char errbuf[CURL_ERROR_SIZE] = "";
	CURLcode cc;
	size_t i;
	int rc = 0;

	*timeout = 0;
	if (!r->unsigned_request) {
		mdeploy_aws_sign_request sr = MDEPLOY_AWS_SIGN_REQUEST_INIT;
		mdeploy_aws_credentials pub;
		if ((rc = mdeploy_aws__credentials(&cr, c)))
			return rc;
		if (!r->payload_hash) {
			mdeploy_aws__sha256_hex(payload, r->body ? r->body : "", r->body ? r->body_len : 0);
			sr.payload_hash = payload;
		} else {
			sr.payload_hash = r->payload_hash;
		}
		sr.method = r->method;
		sr.url = r->url;
		sr.headers = r->headers;
		sr.nheaders = r->nheaders;
		sr.time = mdeploy_aws__now(c);
		sr.region = r->signing_region ? r->signing_region : c->region;
		sr.service = r->service;
		sr.flags = r->sign_flags;
		pub.access_key_id = cr.access_key_id;
		pub.secret_access_key = cr.secret_access_key;
		pub.session_token = cr.session_token;
		rc = mdeploy_aws_sign(&sig, &sr, &pub);
		mdeploy_aws__creds_dispose(&cr);
		if (rc)
			return rc;
	}
	if (!(h = curl_easy_init())) {
		mdeploy_aws_signature_free(sig);
		return mdeploy__error_oom();
	}
	for (i = 0; i < r->nheaders; i++) {
		char *line = mdeploy__sprintf("%s: %s", r->headers[i].name, r->headers[i].value);
		struct curl_slist *n2 = line ? curl_slist_append(list, line) : NULL;
		free(line);
		if (!n2) {
			rc = mdeploy__error_oom();
			goto out;
		}
		list = n2;
	}
	for (i = 0; sig && i < sig->nheaders; i++) {
		char *line = mdeploy__sprintf("%s: %s", sig->headers[i].name, sig->headers[i].value);
		struct curl_slist *n2 = line ? curl_slist_append(list, line) : NULL;
		if (line) {
			memset(line, 0, strlen(line));
			free(line);
		}
		if (!n2) {
			rc = mdeploy__error_oom();
			goto out;
		}
		list = n2;
	}
	{
		/* no "Expect: 100-continue" round trip; no default Content-Type the signature did not cover */
		struct curl_slist *n2 = curl_slist_append(list, "Expect:");
		if (n2)
			list = n2;
		if (r->body || r->body_fd >= 0) {
			int has_ct = 0;
			for (i = 0; i < r->nheaders; i++)
				if (!strcasecmp(r->headers[i].name, "Content-Type"))
					has_ct = 1;
			if (!has_ct && (n2 = curl_slist_append(list, "Content-Type:")))
				list = n2;
		}
	}
	x->sent = 0;
	curl_easy_setopt(h, CURLOPT_URL, r->url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, r->timeout_ms && r->timeout_ms < 10000 ? r->timeout_ms : 10000L);
	if (r->timeout_ms)
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, r->timeout_ms);
	/* a stalled transfer: less than 1 byte/s for 60 s */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_USERAGENT, "mdeploy");
	if (!strcmp(r->method, "HEAD")) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (r->body || r->body_fd >= 0) {
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h, CURLOPT_READDATA, x);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
		if (strcmp(r->method, "PUT"))
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
	} else if (!strcmp(r->method, "POST")) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
	} else if (strcmp(r->method, "GET")) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
	}
	cc = curl_easy_perform(h);
	if (cc != CURLE_OK) {
		*timeout = cc == CURLE_OPERATION_TIMEDOUT;
		if (x->write_error)
			rc = mdeploy__error_set(MDEPLOY_EOS, MDEPLOY_ERROR_CLASS_OS, "aws: writing the response: %s",
			                        strerror(x->write_error));
		else
			rc = mdeploy__error_set(MDEPLOY_ENETWORK, MDEPLOY_ERROR_CLASS_NET, "aws: %s %s: %s",
			                        r->service ? r->service : "http", r->method,
			                        *errbuf ? errbuf : curl_easy_strerror(cc));
	} else {
		long code = 0;
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
		resp->status = code;
	}
out:
	curl_slist_free_all(list);
	curl_easy_cleanup(h);
	mdeploy_aws_signature_free(sig);
	return rc;
}

int mdeploy_aws__send(mdeploy_aws__client *c, const mdeploy_aws__request *req, mdeploy_aws__response *resp)
{
	int max = req->max_attempts ? req->max_attempts : c->max_attempts;
	int n, rc = 0, skew_fixed = 0, retried_cost = 0, timeout;
	off_t out_start = 0;
	xfer x;

	pthread_once(&curl_once, curl_init_once);
	memset(resp, 0, sizeof(*resp));
	if (req->out_fd >= 0)
		out_start = lseek(req->out_fd, 0, SEEK_CUR);
	for (n = 0;; n++) {
		char *code = NULL;
		int retry = 0;

		mdeploy_aws__response_dispose(resp);
		resp->content_length = -1;
		memset(&x, 0, sizeof(x));
		x.req = req;
		x.resp = resp;
		if (req->out_fd >= 0 && out_start >= 0 && n > 0) {
			if (ftruncate(req->out_fd, out_start) < 0 || lseek(req->out_fd, out_start, SEEK_SET) < 0) {
				rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_OS, "aws: rewinding the download");
				break;
			}
		}
		resp->attempts = n + 1;
		rc = attempt(c, req, resp, &x, &timeout);
		if (rc == MDEPLOY_ENETWORK) {
			retry = 1;
		} else if (!rc && (resp->status < 200 || resp->status >= 300)) {
			rc = mdeploy_aws__error_set(req->service ? req->service : "http", resp->status,
			                            resp->body.ptr ? resp->body.ptr : "", resp->body.size, x.error_type,
			                            resp->request_id, &code);
			resp->error_code = code;
			/* a skew refusal, or a 403 without a body (HEAD) from a server whose
			 * clock is more than 5 minutes off ours */
			if ((mdeploy_aws__error_is_skew(code, mdeploy_error_last()->message) ||
			     (resp->status == 403 && resp->date &&
			      llabs(resp->date - mdeploy_aws__now(c)) > 300 && !resp->body.size)) &&
			    resp->date && !skew_fixed && !req->unsigned_request) {
				/* the server's clock, once, not counted as a retry */
				pthread_mutex_lock(&c->lock);
				c->skew = resp->date - (int64_t)time(NULL);
				pthread_mutex_unlock(&c->lock);
				skew_fixed = 1;
				free(x.error_type);
				n--;
				continue;
			}
			if (code && (!strcmp(code, "ExpiredToken") || !strcmp(code, "ExpiredTokenException")) && n == 0 &&
			    !req->unsigned_request && mdeploy_aws__credentials_reset(c)) {
				/* temporary credentials expired early: fetch new ones, once
				 * (long-term keys from the environment or a file: the error) */
				free(x.error_type);
				continue;
			}
			retry = is_retryable_status(resp->status) || mdeploy_aws__error_is_throttle(code) ||
			        mdeploy_aws__error_is_transient(code);
		}
		free(x.error_type);
		if (!rc) {
			pthread_mutex_lock(&c->lock);
			c->retry_tokens += retried_cost ? retried_cost : 1;
			if (c->retry_tokens > 500)
				c->retry_tokens = 500;
			pthread_mutex_unlock(&c->lock);
			break;
		}
		if (!retry || n + 1 >= max)
			break;
		{
			int cost = timeout ? 10 : 5, have;
			pthread_mutex_lock(&c->lock);
			have = c->retry_tokens >= cost;
			if (have)
				c->retry_tokens -= cost;
			pthread_mutex_unlock(&c->lock);
			if (!have)
				break;
			retried_cost = cost;
		}
		{
			double cap = 20.0, base = jitter() * (double)(1u << (n < 10 ? n : 10));
			sleep_ms((long)((base < cap ? base : cap) * 1000.0));
		}
	}
	if (rc && resp->attempts > 1)
		mdeploy__error_prefix("after %d attempts", resp->attempts);
	return rc;
}
