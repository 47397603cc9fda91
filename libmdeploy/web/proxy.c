/*
 * proxy.c - users named by a reverse proxy (mdeploy serve
 * --trust-proxy-header): when the console sits behind a proxy that signs
 * users in (SSO, client certificates, basic auth), the proxy passes the
 * user's name in a header. That header is believed only from the proxy's
 * own addresses, from nowhere else: anyone who can reach the console
 * directly could write it. Off unless configured; tokens keep working.
 */
#include "web_private.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define CLS MDEPLOY_ERROR_CLASS_INVALID

/* "ADDR" or "ADDR/BITS". */
static int parse_net(const char *s, web_net *n)
{
	char buf[64], *slash, *end;
	unsigned long bits;
	if (strlen(s) >= sizeof(buf))
		return -1;
	snprintf(buf, sizeof(buf), "%s", s);
	if ((slash = strchr(buf, '/')))
		*slash++ = '\0';
	memset(n, 0, sizeof(*n));
	if (inet_pton(AF_INET, buf, n->addr) == 1) {
		n->family = AF_INET;
		n->bits = 32;
	} else if (inet_pton(AF_INET6, buf, n->addr) == 1) {
		n->family = AF_INET6;
		n->bits = 128;
	} else {
		return -1;
	}
	if (slash) {
		bits = strtoul(slash, &end, 10);
		if (!*slash || *end || bits > n->bits)
			return -1;
		n->bits = (unsigned int)bits;
	}
	return 0;
}

static int net_has(const web_net *n, int family, const unsigned char *addr)
{
	unsigned int full = n->bits / 8, rest = n->bits % 8;
	if (n->family != family)
		return 0;
	if (memcmp(n->addr, addr, full))
		return 0;
	return !rest || ((n->addr[full] ^ addr[full]) & (unsigned char)(0xff << (8 - rest))) == 0;
}

/* A header name as HTTP allows one (RFC 9110 token), and not one that carries credentials already. */
static int header_name_ok(const char *h)
{
	size_t i;
	if (!h || !*h || strlen(h) > 64 || !strcasecmp(h, "Authorization") || !strcasecmp(h, "Cookie") ||
	    !strcasecmp(h, "Host") || !strcasecmp(h, "X-CSRF-Token"))
		return 0;
	for (i = 0; h[i]; i++)
		if (!((h[i] >= 'a' && h[i] <= 'z') || (h[i] >= 'A' && h[i] <= 'Z') || (h[i] >= '0' && h[i] <= '9') ||
		      strchr("!#$%&'*+-.^_`|~", h[i])))
			return 0;
	return 1;
}

int mdeploy_web__proxy_setup(mdeploy_web *w, const mdeploy_web_options *opts)
{
	size_t i, n = 0;
	if (opts->version < 2 || !opts->proxy_user_header)
		return 0;
	if (!header_name_ok(opts->proxy_user_header))
		return mdeploy__error_set(MDEPLOY_EINVALID, CLS, "'%.80s' cannot be the proxy's user header: give a header "
		                          "name such as X-Forwarded-User", opts->proxy_user_header);
	for (i = 0; opts->trusted_proxies && opts->trusted_proxies[i]; i++) {
		if (i >= WEB_PROXIES_MAX)
			return mdeploy__error_set(MDEPLOY_EINVALID, CLS, "at most %d trusted proxies", WEB_PROXIES_MAX);
		if (parse_net(opts->trusted_proxies[i], &w->proxies[i]))
			return mdeploy__error_set(MDEPLOY_EINVALID, CLS, "trusted proxy '%.80s' is not an IPv4 or IPv6 address "
			                          "(or ADDRESS/BITS)", opts->trusted_proxies[i]);
	}
	if (!i)
		return mdeploy__error_set(MDEPLOY_EINVALID, CLS, "the proxy's user header %s needs the proxy's addresses: "
		                          "it is believed from them only", opts->proxy_user_header);
	w->nproxies = i;
	for (n = 0; opts->proxy_writers && opts->proxy_writers[n]; n++)
		if (strcmp(opts->proxy_writers[n], "*") && !mdeploy_web__user_name_ok(opts->proxy_writers[n]))
			return mdeploy__error_set(MDEPLOY_EINVALID, CLS, "proxy writer '%.80s' is not a user name "
			                          "(1-64 of A-Z a-z 0-9 . _ @ -) nor *", opts->proxy_writers[n]);
	if (!(w->proxy_header = mdeploy__strdup(opts->proxy_user_header)) ||
	    !(w->proxy_writers = calloc(n + 1, sizeof(char *))))
		return mdeploy__error_oom();
	for (i = 0; i < n; i++)
		if (!(w->proxy_writers[i] = mdeploy__strdup(opts->proxy_writers[i])))
			return mdeploy__error_oom();
	return 0;
}

void mdeploy_web__proxy_free(mdeploy_web *w)
{
	size_t i;
	free(w->proxy_header);
	for (i = 0; w->proxy_writers && w->proxy_writers[i]; i++)
		free(w->proxy_writers[i]);
	free(w->proxy_writers);
}

/* Non-zero when the request's TCP peer is a trusted proxy. */
static int from_proxy(web_req *r)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	const unsigned char *addr;
	int family;
	size_t i;
	if (!sa)
		return 0;
	if (sa->sa_family == AF_INET) {
		family = AF_INET;
		addr = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			family = AF_INET;
			addr = a6->s6_addr + 12;
		} else {
			family = AF_INET6;
			addr = a6->s6_addr;
		}
	} else {
		return 0;
	}
	for (i = 0; i < r->web->nproxies; i++)
		if (net_has(&r->web->proxies[i], family, addr))
			return 1;
	return 0;
}

int mdeploy_web__proxy_authenticate(web_req *r)
{
	const char *user;
	size_t i;
	int writer = 0;
	if (!r->web->proxy_header || !(user = mdeploy_web__header(r, r->web->proxy_header)) || !from_proxy(r))
		return 1;
	if (!mdeploy_web__user_name_ok(user)) {
		mdeploy_audit_record(r->ctx, "proxy:?", "authenticate", "-", "denied",
		                     "the proxy's user header does not hold a user name (1-64 of A-Z a-z 0-9 . _ @ -)");
		return -1;
	}
	for (i = 0; r->web->proxy_writers[i]; i++)
		if (!strcmp(r->web->proxy_writers[i], "*") || !strcmp(r->web->proxy_writers[i], user))
			writer = 1;
	memset(&r->who, 0, sizeof(r->who));
	r->who.authed = 1;
	r->who.via_proxy = 1;
	r->who.read_only = !writer;
	snprintf(r->who.name, sizeof(r->who.name), "%s", user);
	snprintf(r->who.who, sizeof(r->who.who), "proxy:%s", user);
	/* What the CSRF token is bound to: this user. */
	mdeploy_web__sha256_hex(r->who.who, r->who.token_hash);
	return 0;
}
