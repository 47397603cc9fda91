/*
 * sigv4.c - AWS Signature Version 4 (AWS4-HMAC-SHA256): canonical request,
 * string to sign, signing key, Authorization header, presigned URLs.
 *
 * The rules followed are the ones AWS's SigV4 test suite pins down (see
 * t/unit/test-aws-sigv4.c): the path is normalized (dot segments, repeated
 * slashes) and its bytes URI-encoded once more for every service but S3,
 * where it is decoded and encoded exactly once; query parameters are decoded,
 * re-encoded and sorted; header names are lowercased, values trimmed with
 * inner whitespace runs folded to one space, and repeated headers joined with
 * ',' in the order given.
 */
#include "aws/aws_private.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

typedef struct sig_impl {
	mdeploy_aws_signature pub;
	char *canonical_request;
	char *string_to_sign;
	char *signed_headers;
	char *authorization;
	char *session_token;
	char *payload_hash;
	char amz_date[17];
} sig_impl;

static int einval(const char *what)
{
	return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_NET, "aws sign: %s", what);
}

void mdeploy_aws__hex(char *out, const unsigned char *bytes, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;
	for (i = 0; i < n; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 15];
	}
	out[2 * n] = '\0';
}

void mdeploy_aws__sha256_hex(char out[65], const void *data, size_t len)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	SHA256(data, len, md);
	mdeploy_aws__hex(out, md, sizeof(md));
}

static int unreserved(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

int mdeploy_aws__uri_encode(mdeploy__buf *b, const char *s, size_t len, int keep_slash)
{
	static const char digits[] = "0123456789ABCDEF";
	size_t i;
	int rc = 0;
	for (i = 0; i < len && !rc; i++) {
		unsigned char c = (unsigned char)s[i];
		if (unreserved(c) || (keep_slash && c == '/')) {
			rc = mdeploy__buf_put(b, &s[i], 1);
		} else {
			char esc[3] = { '%', digits[c >> 4], digits[c & 15] };
			rc = mdeploy__buf_put(b, esc, 3);
		}
	}
	return rc;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* %XX decoded; a '%' not followed by two hex digits stays as it is. */
static char *pct_decode(const char *s, size_t len, size_t *outlen)
{
	char *out = malloc(len + 1);
	size_t i, n = 0;
	if (!out)
		return NULL;
	for (i = 0; i < len; i++) {
		if (s[i] == '%' && i + 2 < len && hexval((unsigned char)s[i + 1]) >= 0 &&
		    hexval((unsigned char)s[i + 2]) >= 0) {
			out[n++] = (char)(hexval((unsigned char)s[i + 1]) * 16 + hexval((unsigned char)s[i + 2]));
			i += 2;
		} else {
			out[n++] = s[i];
		}
	}
	out[n] = '\0';
	*outlen = n;
	return out;
}

int mdeploy_aws__url_split(mdeploy_aws__url *u, const char *url)
{
	const char *p, *host, *path, *q;
	memset(u, 0, sizeof(*u));
	if (!strncmp(url, "https://", 8)) {
		u->https = 1;
		host = url + 8;
	} else if (!strncmp(url, "http://", 7)) {
		host = url + 7;
	} else {
		return einval("the URL must start with http:// or https://");
	}
	for (p = host; *p && *p != '/' && *p != '?' && *p != '#'; p++)
		;
	if (p == host)
		return einval("the URL has no host");
	u->host = host;
	u->host_len = (size_t)(p - host);
	u->port_default = 1;
	{
		/* host:port (not inside an IPv6 literal's brackets) */
		const char *colon = NULL, *c;
		for (c = host; c < p; c++) {
			if (*c == ']')
				colon = NULL;
			else if (*c == ':')
				colon = c;
		}
		if (colon) {
			long port = strtol(colon + 1, NULL, 10);
			if (!((u->https && port == 443) || (!u->https && port == 80)))
				u->port_default = 0;
			u->hostname_len = (size_t)(colon - host);
		} else {
			u->hostname_len = u->host_len;
		}
	}
	path = p;
	for (q = path; *q && *q != '?' && *q != '#'; q++)
		;
	u->path = path;
	u->path_len = (size_t)(q - path);
	if (*q == '?') {
		const char *e = q + 1;
		while (*e && *e != '#')
			e++;
		u->query = q + 1;
		u->query_len = (size_t)(e - (q + 1));
	}
	return 0;
}

/* Remove "." and ".." segments and empty segments; keep a trailing '/'. */
static int normalize_path(mdeploy__buf *out, const char *path, size_t len)
{
	size_t *starts = NULL, nseg = 0, i = 0;
	mdeploy__buf tmp = MDEPLOY__BUF_INIT;
	int trailing = len > 0 && path[len - 1] == '/';
	int rc = 0;

	if (!(starts = calloc(len + 1, sizeof(*starts))))
		return mdeploy__error_oom();
	while (i < len && !rc) {
		size_t j = i;
		while (j < len && path[j] != '/')
			j++;
		if (j == i || (j - i == 1 && path[i] == '.')) {
			/* empty or "." */
		} else if (j - i == 2 && path[i] == '.' && path[i + 1] == '.') {
			if (nseg > 0) {
				nseg--;
				tmp.size = starts[nseg];
				if (tmp.ptr)
					tmp.ptr[tmp.size] = '\0';
			}
			if (j == len)
				trailing = 1;
		} else {
			starts[nseg++] = tmp.size;
			if (!(rc = mdeploy__buf_puts(&tmp, "/")))
				rc = mdeploy__buf_put(&tmp, path + i, j - i);
		}
		if (j - i == 1 && path[i] == '.' && j == len)
			trailing = 1;
		i = j + 1;
	}
	if (!rc) {
		if (tmp.size == 0)
			rc = mdeploy__buf_puts(out, "/");
		else {
			rc = mdeploy__buf_put(out, tmp.ptr, tmp.size);
			if (!rc && trailing)
				rc = mdeploy__buf_puts(out, "/");
		}
	}
	free(starts);
	mdeploy__buf_dispose(&tmp);
	return rc;
}

int mdeploy_aws__canonical_path(mdeploy__buf *out, const char *path, size_t len, int s3)
{
	mdeploy__buf norm = MDEPLOY__BUF_INIT;
	int rc;
	if (len == 0)
		return mdeploy__buf_puts(out, "/");
	if (s3) {
		size_t dlen;
		char *d = pct_decode(path, len, &dlen);
		if (!d)
			return mdeploy__error_oom();
		rc = mdeploy_aws__uri_encode(out, d, dlen, 1);
		free(d);
		return rc;
	}
	if ((rc = normalize_path(&norm, path, len)) == 0)
		rc = mdeploy_aws__uri_encode(out, norm.ptr, norm.size, 1);
	mdeploy__buf_dispose(&norm);
	return rc;
}

typedef struct kv {
	char *k, *v;
	size_t order;
} kv;

static int kv_cmp(const void *a, const void *b)
{
	const kv *x = a, *y = b;
	int c = strcmp(x->k, y->k);
	if (c)
		return c;
	c = strcmp(x->v, y->v);
	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

static char *encoded(const char *s, size_t len, int decode)
{
	mdeploy__buf b = MDEPLOY__BUF_INIT;
	char *d = NULL;
	size_t dlen = len;
	if (decode) {
		if (!(d = pct_decode(s, len, &dlen)))
			return NULL;
		s = d;
	}
	if (mdeploy_aws__uri_encode(&b, s, dlen, 0) || mdeploy__buf_puts(&b, "")) {
		free(d);
		mdeploy__buf_dispose(&b);
		return NULL;
	}
	free(d);
	return mdeploy__buf_detach(&b);
}

int mdeploy_aws__canonical_query(mdeploy__buf *out, const char *query, size_t len)
{
	kv *items = NULL;
	size_t n = 0, cap = 0, i = 0, k;
	int rc = 0;

	while (i < len && !rc) {
		size_t j = i, eq;
		while (j < len && query[j] != '&')
			j++;
		if (j > i) {
			if (n == cap) {
				kv *g = realloc(items, (cap = cap ? cap * 2 : 8) * sizeof(*items));
				if (!g) {
					rc = mdeploy__error_oom();
					break;
				}
				items = g;
			}
			for (eq = i; eq < j && query[eq] != '='; eq++)
				;
			items[n].k = encoded(query + i, eq - i, 1);
			items[n].v = eq < j ? encoded(query + eq + 1, j - eq - 1, 1) : mdeploy__strdup("");
			items[n].order = n;
			if (!items[n].k || !items[n].v) {
				free(items[n].k);
				free(items[n].v);
				rc = mdeploy__error_oom();
				break;
			}
			n++;
		}
		i = j + 1;
	}
	if (!rc && n)
		qsort(items, n, sizeof(*items), kv_cmp);
	for (k = 0; k < n; k++) {
		if (!rc)
			rc = mdeploy__buf_printf(out, "%s%s=%s", k ? "&" : "", items[k].k, items[k].v);
		free(items[k].k);
		free(items[k].v);
	}
	free(items);
	return rc;
}

typedef struct hdr {
	char *name;
	char *value;
	size_t order;
} hdr;

static int hdr_cmp(const void *a, const void *b)
{
	const hdr *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Lowercased name; value trimmed, whitespace runs (incl. folded lines) -> one space. */
static int hdr_make(hdr *h, const char *name, const char *value, size_t order)
{
	size_t i, n = 0, len;
	int space = 0;
	if (!name || !*name || !value)
		return einval("a header without a name or value");
	for (i = 0; name[i]; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c <= ' ' || c == ':' || c == 127)
			return einval("a header name with a space, ':' or control character");
	}
	len = strlen(value);
	h->name = mdeploy__strdup(name);
	h->value = malloc(len + 1);
	if (!h->name || !h->value) {
		free(h->name);
		free(h->value);
		return mdeploy__error_oom();
	}
	for (i = 0; name[i]; i++)
		h->name[i] = (char)tolower((unsigned char)name[i]);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)value[i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			space = n > 0;
			continue;
		}
		if (c < ' ' || c == 127) {
			free(h->name);
			free(h->value);
			return einval("a header value with a control character");
		}
		if (space)
			h->value[n++] = ' ';
		space = 0;
		h->value[n++] = (char)c;
	}
	h->value[n] = '\0';
	h->order = order;
	return 0;
}

static int signing_key(unsigned char key[32], const char *secret, const char *date, const char *region,
                       const char *service)
{
	unsigned char k1[32], k2[32], k3[32];
	unsigned int l = 32;
	size_t slen = strlen(secret);
	char *seed = malloc(slen + 5);
	int ok;
	if (!seed)
		return mdeploy__error_oom();
	memcpy(seed, "AWS4", 4);
	memcpy(seed + 4, secret, slen + 1);
	ok = HMAC(EVP_sha256(), seed, (int)(slen + 4), (const unsigned char *)date, strlen(date), k1, &l) &&
	     HMAC(EVP_sha256(), k1, 32, (const unsigned char *)region, strlen(region), k2, &l) &&
	     HMAC(EVP_sha256(), k2, 32, (const unsigned char *)service, strlen(service), k3, &l) &&
	     HMAC(EVP_sha256(), k3, 32, (const unsigned char *)"aws4_request", 12, key, &l);
	OPENSSL_cleanse(seed, slen + 4);
	OPENSSL_cleanse(k1, sizeof(k1));
	OPENSSL_cleanse(k2, sizeof(k2));
	OPENSSL_cleanse(k3, sizeof(k3));
	free(seed);
	if (!ok)
		return mdeploy__error_set(MDEPLOY_ERROR, MDEPLOY_ERROR_CLASS_CRYPTO, "aws sign: HMAC-SHA256 failed");
	return 0;
}

int mdeploy_aws_signing_key(unsigned char key[32], const char *secret_access_key, const char *date,
                            const char *region, const char *service)
{
	if (!key || !secret_access_key || !date || !region || !service)
		return einval("missing argument");
	return signing_key(key, secret_access_key, date, region, service);
}

static int check_name(const char *what, const char *s)
{
	const char *p;
	if (!s || !*s)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_NET, "aws sign: no %s", what);
	for (p = s; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == '/' || (unsigned char)*p == 127)
			return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_NET,
			                          "aws sign: %s '%s' has a space, '/' or control character", what, s);
	return 0;
}

static int check_request(const mdeploy_aws_sign_request *req, const mdeploy_aws_credentials *creds)
{
	int rc;
	const char *p;
	if (!req || !creds)
		return einval("missing argument");
	if ((rc = mdeploy__options_check(req->version, MDEPLOY_AWS_SIGN_REQUEST_VERSION, "mdeploy_aws_sign_request")))
		return rc;
	if (!req->url)
		return einval("no URL");
	if ((rc = check_name("method", req->method)) || (rc = check_name("region", req->region)) ||
	    (rc = check_name("service", req->service)) || (rc = check_name("access key id", creds->access_key_id)))
		return rc;
	if (!creds->secret_access_key || !*creds->secret_access_key)
		return einval("no secret access key");
	if (req->payload_hash) {
		if (!*req->payload_hash)
			return einval("empty payload hash");
		for (p = req->payload_hash; *p; p++)
			if ((unsigned char)*p <= ' ' || (unsigned char)*p == 127)
				return einval("the payload hash has a space or control character");
	}
	if (creds->session_token)
		for (p = creds->session_token; *p; p++)
			if ((unsigned char)*p < ' ' || (unsigned char)*p == 127)
				return einval("the session token has a control character");
	for (p = req->url; *p; p++)
		if ((unsigned char)*p < ' ' || (unsigned char)*p == 127)
			return einval("the URL has a control character");
	return 0;
}

int mdeploy_aws__amz_date(char out[17], char date[9], int64_t t)
{
	struct tm tm;
	time_t tt = (time_t)t;
	if (!gmtime_r(&tt, &tm) || strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm) != 16)
		return einval("time out of range");
	memcpy(date, out, 8);
	date[8] = '\0';
	return 0;
}

/*
 * The core shared by header signing and presigning. `extra_query` (already
 * encoded, may be NULL) is appended to the URL's query before canonicalizing;
 * `add_auth_headers`: x-amz-date / x-amz-security-token / x-amz-content-sha256
 * are signed headers (header signing) rather than query parameters.
 */
static int build(sig_impl *s, const mdeploy_aws_sign_request *req, const mdeploy_aws_credentials *creds,
                 const char *extra_query, int add_auth_headers, const char *payload_hash)
{
	mdeploy_aws__url u;
	mdeploy__buf creq = MDEPLOY__BUF_INIT, sts = MDEPLOY__BUF_INIT, sh = MDEPLOY__BUF_INIT;
	mdeploy__buf q = MDEPLOY__BUF_INIT;
	hdr *h = NULL;
	size_t n = 0, i, cap;
	char date[9], hash[65];
	unsigned char key[32], mac[32];
	unsigned int maclen = 32;
	int have_host = 0, rc;
	int token = creds->session_token && *creds->session_token;

	if ((rc = mdeploy_aws__url_split(&u, req->url)) ||
	    (rc = mdeploy_aws__amz_date(s->amz_date, date, req->time)))
		return rc;
	cap = req->nheaders + 4;
	if (!(h = calloc(cap, sizeof(*h))))
		return mdeploy__error_oom();
	for (i = 0; i < req->nheaders; i++) {
		const char *nm = req->headers[i].name;
		if (nm && (!strcasecmp(nm, "authorization") || !strcasecmp(nm, "x-amz-date") ||
		           (add_auth_headers && token && !strcasecmp(nm, "x-amz-security-token")) ||
		           ((req->flags & MDEPLOY_AWS_SIGN_CONTENT_SHA256) && !strcasecmp(nm, "x-amz-content-sha256")))) {
			rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_NET,
			                        "aws sign: header '%s' is added by the signer", nm);
			goto out;
		}
		if ((rc = hdr_make(&h[n], nm, req->headers[i].value, n)))
			goto out;
		if (!strcmp(h[n].name, "host"))
			have_host = 1;
		n++;
	}
	if (!have_host) {
		char *host = strndup(u.host, u.port_default ? u.hostname_len : u.host_len);
		if (!host) {
			rc = mdeploy__error_oom();
			goto out;
		}
		rc = hdr_make(&h[n], "host", host, n);
		free(host);
		if (rc)
			goto out;
		n++;
	}
	if (add_auth_headers) {
		if ((rc = hdr_make(&h[n], "x-amz-date", s->amz_date, n)))
			goto out;
		n++;
		if (token) {
			if ((rc = hdr_make(&h[n], "x-amz-security-token", creds->session_token, n)))
				goto out;
			n++;
		}
		if (req->flags & MDEPLOY_AWS_SIGN_CONTENT_SHA256) {
			if ((rc = hdr_make(&h[n], "x-amz-content-sha256", payload_hash, n)))
				goto out;
			n++;
		}
	}
	qsort(h, n, sizeof(*h), hdr_cmp);

	/* canonical request */
	if ((rc = mdeploy__buf_printf(&creq, "%s\n", req->method)) ||
	    (rc = mdeploy_aws__canonical_path(&creq, u.path, u.path_len, !!(req->flags & MDEPLOY_AWS_SIGN_S3))) ||
	    (rc = mdeploy__buf_puts(&creq, "\n")))
		goto out;
	if (u.query_len && (rc = mdeploy__buf_put(&q, u.query, u.query_len)))
		goto out;
	if (extra_query && (rc = mdeploy__buf_printf(&q, "%s%s", q.size ? "&" : "", extra_query)))
		goto out;
	if ((rc = mdeploy_aws__canonical_query(&creq, q.ptr ? q.ptr : "", q.size)) ||
	    (rc = mdeploy__buf_puts(&creq, "\n")))
		goto out;
	for (i = 0; i < n; i++) {
		int first = i == 0 || strcmp(h[i - 1].name, h[i].name);
		int last = i + 1 == n || strcmp(h[i + 1].name, h[i].name);
		if (first) {
			if ((rc = mdeploy__buf_printf(&creq, "%s:", h[i].name)) ||
			    (rc = mdeploy__buf_printf(&sh, "%s%s", sh.size ? ";" : "", h[i].name)))
				goto out;
		} else if ((rc = mdeploy__buf_puts(&creq, ","))) {
			goto out;
		}
		if ((rc = mdeploy__buf_puts(&creq, h[i].value)) || (last && (rc = mdeploy__buf_puts(&creq, "\n"))))
			goto out;
	}
	if ((rc = mdeploy__buf_printf(&creq, "\n%s\n%s", sh.ptr, payload_hash)))
		goto out;

	/* string to sign */
	mdeploy_aws__sha256_hex(hash, creq.ptr, creq.size);
	if ((rc = mdeploy__buf_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", s->amz_date, date,
	                              req->region, req->service, hash)))
		goto out;

	/* signature */
	if ((rc = signing_key(key, creds->secret_access_key, date, req->region, req->service)))
		goto out;
	if (!HMAC(EVP_sha256(), key, 32, (const unsigned char *)sts.ptr, sts.size, mac, &maclen)) {
		OPENSSL_cleanse(key, sizeof(key));
		rc = mdeploy__error_set(MDEPLOY_ERROR, MDEPLOY_ERROR_CLASS_CRYPTO, "aws sign: HMAC-SHA256 failed");
		goto out;
	}
	OPENSSL_cleanse(key, sizeof(key));
	mdeploy_aws__hex(s->pub.signature, mac, 32);
	s->canonical_request = mdeploy__buf_detach(&creq);
	s->string_to_sign = mdeploy__buf_detach(&sts);
	s->signed_headers = mdeploy__buf_detach(&sh);
	if (!s->canonical_request || !s->string_to_sign || !s->signed_headers)
		rc = mdeploy__error_oom();
out:
	for (i = 0; i < n; i++) {
		free(h[i].name);
		free(h[i].value);
	}
	free(h);
	mdeploy__buf_dispose(&creq);
	mdeploy__buf_dispose(&sts);
	mdeploy__buf_dispose(&sh);
	mdeploy__buf_dispose(&q);
	return rc;
}

static void sig_free(sig_impl *s)
{
	if (!s)
		return;
	free(s->canonical_request);
	free(s->string_to_sign);
	free(s->signed_headers);
	free(s->authorization);
	free(s->session_token);
	free(s->payload_hash);
	free(s);
}

void mdeploy_aws_signature_free(mdeploy_aws_signature *sig)
{
	sig_free((sig_impl *)sig);
}

int mdeploy_aws_sign(mdeploy_aws_signature **out, const mdeploy_aws_sign_request *req,
                     const mdeploy_aws_credentials *creds)
{
	sig_impl *s;
	const char *payload;
	char date[9];
	int rc;

	if (!out)
		return einval("missing argument");
	*out = NULL;
	if ((rc = check_request(req, creds)))
		return rc;
	payload = req->payload_hash ? req->payload_hash : MDEPLOY_AWS_EMPTY_SHA256;
	if (!(s = calloc(1, sizeof(*s))))
		return mdeploy__error_oom();
	if ((rc = build(s, req, creds, NULL, 1, payload)))
		goto fail;
	memcpy(date, s->amz_date, 8);
	date[8] = '\0';
	s->authorization = mdeploy__sprintf("AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, "
	                                    "SignedHeaders=%s, Signature=%s",
	                                    creds->access_key_id, date, req->region, req->service,
	                                    s->signed_headers, s->pub.signature);
	s->payload_hash = mdeploy__strdup(payload);
	if (!s->authorization || !s->payload_hash) {
		rc = mdeploy__error_oom();
		goto fail;
	}
	s->pub.headers[s->pub.nheaders++] = (mdeploy_aws_header){ "X-Amz-Date", s->amz_date };
	if (creds->session_token && *creds->session_token) {
		if (!(s->session_token = mdeploy__strdup(creds->session_token))) {
			rc = mdeploy__error_oom();
			goto fail;
		}
		s->pub.headers[s->pub.nheaders++] = (mdeploy_aws_header){ "X-Amz-Security-Token", s->session_token };
	}
	if (req->flags & MDEPLOY_AWS_SIGN_CONTENT_SHA256)
		s->pub.headers[s->pub.nheaders++] = (mdeploy_aws_header){ "X-Amz-Content-Sha256", s->payload_hash };
	s->pub.headers[s->pub.nheaders++] = (mdeploy_aws_header){ "Authorization", s->authorization };
	s->pub.canonical_request = s->canonical_request;
	s->pub.string_to_sign = s->string_to_sign;
	s->pub.signed_headers = s->signed_headers;
	*out = &s->pub;
	return 0;
fail:
	sig_free(s);
	return rc;
}

int mdeploy_aws_presign(char **url, const mdeploy_aws_sign_request *req, const mdeploy_aws_credentials *creds,
                        unsigned int expires, char **canonical_request, char **string_to_sign)
{
	mdeploy__buf extra = MDEPLOY__BUF_INIT, signed_hdrs = MDEPLOY__BUF_INIT, res = MDEPLOY__BUF_INIT;
	sig_impl *s = NULL;
	char amz[17], date[9];
	size_t i;
	int rc;

	if (!url)
		return einval("missing argument");
	*url = NULL;
	if (canonical_request)
		*canonical_request = NULL;
	if (string_to_sign)
		*string_to_sign = NULL;
	if ((rc = check_request(req, creds)))
		return rc;
	if (expires < 1 || expires > 604800)
		return einval("a presigned URL expires after 1 to 604800 seconds");
	if ((rc = mdeploy_aws__amz_date(amz, date, req->time)))
		return rc;
	/* The signed header names, as build() will list them (host plus the caller's). */
	{
		sig_impl probe = { 0 };
		mdeploy_aws_credentials anon = *creds;
		anon.session_token = NULL;
		if ((rc = build(&probe, req, &anon, NULL, 0, MDEPLOY_AWS_UNSIGNED_PAYLOAD)) == 0)
			rc = mdeploy__buf_puts(&signed_hdrs, probe.signed_headers);
		free(probe.canonical_request);
		free(probe.string_to_sign);
		free(probe.signed_headers);
		if (rc)
			goto out;
	}
	if ((rc = mdeploy__buf_puts(&extra, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=")) ||
	    (rc = mdeploy_aws__uri_encode(&extra, creds->access_key_id, strlen(creds->access_key_id), 0)) ||
	    (rc = mdeploy__buf_printf(&extra, "%%2F%s%%2F%s%%2F%s%%2Faws4_request&X-Amz-Date=%s&X-Amz-Expires=%u",
	                              date, req->region, req->service, amz, expires)))
		goto out;
	if (creds->session_token && *creds->session_token &&
	    ((rc = mdeploy__buf_puts(&extra, "&X-Amz-Security-Token=")) ||
	     (rc = mdeploy_aws__uri_encode(&extra, creds->session_token, strlen(creds->session_token), 0))))
		goto out;
	if ((rc = mdeploy__buf_puts(&extra, "&X-Amz-SignedHeaders=")) ||
	    (rc = mdeploy_aws__uri_encode(&extra, signed_hdrs.ptr, signed_hdrs.size, 0)))
		goto out;
	if (!(s = calloc(1, sizeof(*s)))) {
		rc = mdeploy__error_oom();
		goto out;
	}
	if ((rc = build(s, req, creds, extra.ptr, 0,
	                req->payload_hash ? req->payload_hash : MDEPLOY_AWS_UNSIGNED_PAYLOAD)))
		goto out;
	/* The URL as given (fragment dropped), then our parameters. */
	for (i = 0; req->url[i] && req->url[i] != '#'; i++)
		;
	if ((rc = mdeploy__buf_put(&res, req->url, i)) ||
	    (rc = mdeploy__buf_printf(&res, "%s%s&X-Amz-Signature=%s", strchr(req->url, '?') ? "&" : "?", extra.ptr,
	                              s->pub.signature)))
		goto out;
	*url = mdeploy__buf_detach(&res);
	if (canonical_request) {
		*canonical_request = s->canonical_request;
		s->canonical_request = NULL;
	}
	if (string_to_sign) {
		*string_to_sign = s->string_to_sign;
		s->string_to_sign = NULL;
	}
out:
	sig_free(s);
	mdeploy__buf_dispose(&extra);
	mdeploy__buf_dispose(&signed_hdrs);
	mdeploy__buf_dispose(&res);
	return rc;
}
