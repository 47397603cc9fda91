/*
 * infra_tls.c - the local stand-in for ACM: a certificate authority made
 * here and a server certificate it signs for the load balancers, with
 * OpenSSL's C API (no openssl(1) command line, no key on a pipe).
 *
 * In <state_dir>/infra/tls/ (0700): ca.key (0600), ca.pem (the CA a client
 * trusts: curl --cacert), lb.pem (0600: server certificate, CA, key, as
 * HAProxy's `crt` wants). Keys are EC P-256. The server certificate names
 * localhost, 127.0.0.1 and the host of every group's load_balancer.listen;
 * apply issues a new one (same CA) when a name is missing or it expires
 * within 30 days. Load balancers of groups that name no tls_certificate
 * use lb.pem (ops.infra_lb_certificate: mdeploy_provider_infra_lb_certificate()).
 */
#include "infra.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CA_DAYS 3650
#define LB_DAYS 825
#define RENEW_DAYS 30

typedef struct tls_paths { char dir[1024], ca_key[1100], ca[1100], lb[1100]; } tls_paths;

static void paths(infra_run *r, tls_paths *tp)
{
	snprintf(tp->dir, sizeof(tp->dir), "%s/tls", r->dir);
	snprintf(tp->ca_key, sizeof(tp->ca_key), "%s/ca.key", tp->dir);
	snprintf(tp->ca, sizeof(tp->ca), "%s/ca.pem", tp->dir);
	snprintf(tp->lb, sizeof(tp->lb), "%s/lb.pem", tp->dir);
}

static int ssl_error(const char *what)
{
	char buf[256] = "";
	unsigned long e = ERR_get_error();
	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return mdeploy__error_set(MDEPLOY_ERROR, MDEPLOY_ERROR_CLASS_CRYPTO, "certificate: %s%s%s", what,
	                          buf[0] ? ": " : "", buf);
}

/* The names the server certificate must hold, as "DNS:x" / "IP:x", comma-separated. */
static char *wanted_names(infra_run *r)
{
	mdeploy__buf b = MDEPLOY__BUF_INIT;
	size_t i, n = r->cfg ? mdeploy_config_group_count(r->cfg) : 0;
	mdeploy__buf_puts(&b, "DNS:localhost,IP:127.0.0.1");
	for (i = 0; i < n; i++) {
		const mdeploy_group *g = mdeploy_config_group_at(r->cfg, i);
		const char *l = g->listen ? g->listen : "127.0.0.1:8000", *colon = strrchr(l, ':');
		char host[256], probe[16], item[300];
		size_t hl = colon ? (size_t)(colon - l) : strlen(l);
		if (hl >= sizeof(host))
			continue;
		memcpy(host, l, hl);
		host[hl] = '\0';
		if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
			memmove(host, host + 1, hl - 2);
			host[hl - 2] = '\0';
		}
		/* A wildcard address is no name a client uses. */
		if (!host[0] || !strcmp(host, "0.0.0.0") || !strcmp(host, "::") || !strcmp(host, "*"))
			continue;
		if (strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:") != strlen(host))
			continue;
		snprintf(item, sizeof(item), "%s:%s", inet_pton(AF_INET, host, probe) == 1 ||
		         inet_pton(AF_INET6, host, probe) == 1 ? "IP" : "DNS", host);
		if (!strstr(mdeploy__buf_cstr(&b), item))
			mdeploy__buf_printf(&b, ",%s", item);
	}
	return mdeploy__buf_detach(&b);
}

static EVP_PKEY *new_key(void)
{
	return EVP_EC_gen("P-256");
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
	if (!(ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value)))
		return -1;
	X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return 0;
}

static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, int days,
                       const char *san)
{
	X509 *c = X509_new();
	X509_NAME *name;
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	int ok = 0;

	if (!c || RAND_bytes(serial, sizeof(serial)) != 1)
		goto out;
	serial[0] &= 0x7f;
	if (!(bn = BN_bin2bn(serial, sizeof(serial), NULL)) || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c)))
		goto out;
	X509_set_version(c, 2);
	X509_gmtime_adj(X509_getm_notBefore(c), -3600);
	X509_gmtime_adj(X509_getm_notAfter(c), (long)days * 86400);
	X509_set_pubkey(c, key);
	name = X509_get_subject_name(c);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"mdeploy", -1, -1, 0);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : name);
	if (!issuer) {
		if (add_ext(c, c, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
		    add_ext(c, c, NID_key_usage, "critical,keyCertSign,cRLSign") ||
		    add_ext(c, c, NID_subject_key_identifier, "hash"))
			goto out;
	} else {
		if (add_ext(c, issuer, NID_basic_constraints, "critical,CA:FALSE") ||
		    add_ext(c, issuer, NID_key_usage, "critical,digitalSignature,keyEncipherment") ||
		    add_ext(c, issuer, NID_ext_key_usage, "serverAuth") ||
		    add_ext(c, issuer, NID_subject_alt_name, san) ||
		    add_ext(c, issuer, NID_authority_key_identifier, "keyid:always"))
			goto out;
	}
	if (!X509_sign(c, issuer_key ? issuer_key : key, EVP_sha256()))
		goto out;
	ok = 1;
out:
	BN_free(bn);
	if (!ok) {
		X509_free(c);
		return NULL;
	}
	return c;
}

/* Write PEM items into `path` (mode) atomically. */
static int write_pem(const char *path, mode_t mode, X509 *cert, X509 *chain, EVP_PKEY *key)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data;
	long len;
	int rc;
	if (!b)
		return mdeploy__error_oom();
	if ((cert && !PEM_write_bio_X509(b, cert)) || (chain && !PEM_write_bio_X509(b, chain)) ||
	    (key && !PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL))) {
		BIO_free(b);
		return ssl_error("cannot encode PEM");
	}
	len = BIO_get_mem_data(b, &data);
	rc = mdeploy__file_write_atomic(path, data, (size_t)len, mode);
	OPENSSL_cleanse(data, (size_t)len);
	BIO_free(b);
	return rc;
}

static X509 *read_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *c;
	if (!f)
		return NULL;
	c = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return c;
}

static EVP_PKEY *read_key(const char *path)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k;
	if (!f)
		return NULL;
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	return k;
}

/* The SAN of `c` as "DNS:a,IP:b" (OpenSSL's own printing, without spaces). */
static char *cert_names(X509 *c)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(c, NID_subject_alt_name, NULL, NULL);
	mdeploy__buf b = MDEPLOY__BUF_INIT;
	int i;
	for (i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		if (g->type == GEN_DNS) {
			mdeploy__buf_printf(&b, "%sDNS:%s", b.size ? "," : "", (const char *)ASN1_STRING_get0_data(g->d.dNSName));
		} else if (g->type == GEN_IPADD) {
			char ip[64] = "";
			int l = ASN1_STRING_length(g->d.iPAddress);
			inet_ntop(l == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(g->d.iPAddress), ip, sizeof(ip));
			mdeploy__buf_printf(&b, "%sIP:%s", b.size ? "," : "", ip);
		}
	}
	GENERAL_NAMES_free(gens);
	if (!b.ptr)
		mdeploy__buf_puts(&b, "");
	return mdeploy__buf_detach(&b);
}

/* Every comma-separated item of `want` is in `have`. */
static int covers(const char *have, const char *want)
{
	char *w = mdeploy__strdup(want), *save = NULL, *tok;
	int ok = 1;
	size_t hl = strlen(have);
	for (tok = strtok_r(w, ",", &save); tok && ok; tok = strtok_r(NULL, ",", &save)) {
		const char *p = have;
		size_t tl = strlen(tok);
		ok = 0;
		while ((p = strstr(p, tok))) {
			if ((p == have || p[-1] == ',') && (p + tl == have + hl || p[tl] == ','))
				ok = 1;
			p += tl;
		}
	}
	free(w);
	return ok;
}

/* Why the certificate is not usable (lb.pem against ca.pem, names, dates), NULL when it is. */
static const char *check(infra_run *r, const char *want)
{
	static __thread char why[2600];
	tls_paths tp;
	X509 *ca, *lb;
	EVP_PKEY *key = NULL, *capub;
	char *have = NULL;
	int days = 0, secs = 0;

	paths(r, &tp);
	ca = read_cert(tp.ca);
	lb = read_cert(tp.lb);
	if (!ca || !lb) {
		snprintf(why, sizeof(why), "%s or %s is missing or unreadable", tp.ca, tp.lb);
		goto out;
	}
	key = read_key(tp.lb);
	capub = X509_get0_pubkey(ca);
	if (!key || X509_check_private_key(lb, key) != 1) {
		snprintf(why, sizeof(why), "%s holds no key matching its certificate", tp.lb);
		goto out;
	}
	if (!capub || X509_verify(lb, capub) != 1) {
		snprintf(why, sizeof(why), "%s is not signed by the CA of %s", tp.lb, tp.ca);
		goto out;
	}
	if (!ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(lb)) || days < RENEW_DAYS) {
		snprintf(why, sizeof(why), "the certificate expires in %d days", days);
		goto out;
	}
	have = cert_names(lb);
	if (want && !covers(have, want)) {
		snprintf(why, sizeof(why), "the certificate names %.200s, not all of %.200s", have, want);
		goto out;
	}
	why[0] = '\0';
out:
	ERR_clear_error();
	free(have);
	X509_free(ca);
	X509_free(lb);
	EVP_PKEY_free(key);
	return why[0] ? why : NULL;
}

static int issue(infra_run *r, const char *names, int new_ca)
{
	tls_paths tp;
	EVP_PKEY *ca_key = NULL, *key = NULL;
	X509 *ca = NULL, *lb = NULL;
	char cn[300], host[256] = "localhost";
	int rc = 0;

	paths(r, &tp);
	if ((rc = mdeploy__mkdir_p(tp.dir, 0700)))
		return rc;
	if (!new_ca) {
		ca = read_cert(tp.ca);
		ca_key = read_key(tp.ca_key);
		if (!ca || !ca_key || X509_check_private_key(ca, ca_key) != 1)
			new_ca = 1;
	}
	if (new_ca) {
		X509_free(ca);
		EVP_PKEY_free(ca_key);
		gethostname(host, sizeof(host) - 1);
		snprintf(cn, sizeof(cn), "mdeploy local CA (%s)", host);
		if (!(ca_key = new_key()) || !(ca = make_cert(ca_key, cn, NULL, NULL, CA_DAYS, NULL))) {
			rc = ssl_error("cannot make the CA");
			goto out;
		}
		/* The key first: a CA certificate on disk always has its key. */
		if ((rc = write_pem(tp.ca_key, 0600, NULL, NULL, ca_key)) || (rc = write_pem(tp.ca, 0644, ca, NULL, NULL)))
			goto out;
	}
	if (!(key = new_key()) || !(lb = make_cert(key, "localhost", ca, ca_key, LB_DAYS, names))) {
		rc = ssl_error("cannot make the load balancers' certificate");
		goto out;
	}
	rc = write_pem(tp.lb, 0600, lb, ca, key);
out:
	ERR_clear_error();
	X509_free(ca);
	X509_free(lb);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(key);
	return rc;
}

int mdeploy_local__tls_apply(infra_run *r)
{
	json_t *rec = mdeploy_local__infra_rec(r, "certificate");
	const char *state = rec ? mdeploy_local__infra_str(rec, "state") : NULL;
	const char *why;
	char *names = wanted_names(r);
	tls_paths tp;
	int rc;

	if (!names)
		return mdeploy__error_oom();
	paths(r, &tp);
	if (!rec || !strcmp(state, "creating")) {
		if ((rc = mdeploy_local__infra_change(r, "certificate", "certificate", rec ? "resume" : "create", 0,
		                                      "local CA %s and the load balancers' certificate %s for %s", tp.ca,
		                                      tp.lb, names)) || !r->apply)
			goto out;
		if (!rec && (rc = mdeploy_local__infra_rec_save(r, "certificate", json_pack("{s:s, s:s, s:s}", "type",
		                                                                           "certificate", "state", "creating",
		                                                                           "dir", tp.dir))))
			goto out;
		if ((rc = issue(r, names, 1)))
			goto out;
		rc = mdeploy_local__infra_rec_state(r, "certificate", "ready");
		goto out;
	}
	if (!(why = check(r, names))) {
		rc = 0;
		goto out;
	}
	if ((rc = mdeploy_local__infra_change(r, "certificate", "certificate", "update", 0,
	                                      "a new certificate from the local CA for %s (%s); load balancers "
	                                      "started before keep the old one until they restart", names, why)) ||
	    !r->apply)
		goto out;
	rc = issue(r, names, 0);
out:
	free(names);
	return rc;
}

int mdeploy_local__tls_up(infra_run *r, const char **problem)
{
	const char *why = check(r, NULL);
	*problem = why;
	return why ? MDEPLOY_EVERIFY : 0;
}

char *mdeploy_local__infra_lb_certificate(mdeploy_ctx *ctx)
{
	char *path;
	struct stat st;
	if (!ctx || !mdeploy_ctx_state_dir(ctx))
		return NULL;
	if (!(path = mdeploy__sprintf("%s/infra/tls/lb.pem", mdeploy_ctx_state_dir(ctx))))
		return NULL;
	if (stat(path, &st) || !S_ISREG(st.st_mode)) {
		free(path);
		return NULL;
	}
	return path;
}
