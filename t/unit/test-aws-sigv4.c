/*
 * SigV4 against AWS's own examples, byte for byte: every header-signing case
 * of AWS's SigV4 test suite (canonical request, string to sign, signature),
 * the IAM ListUsers example of the signing documentation, and the S3
 * examples (header signing of GET/PUT object, bucket lifecycle, list objects;
 * the presigned GET URL for examplebucket/test.txt).
 */
#include "aws/aws_private.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

struct suite_case {
	const char *name;
	const char *request; /* raw HTTP request */
	const char *token;
	int sign_body;       /* X-Amz-Content-Sha256 signed, payload hashed */
	int normalize;       /* 0: S3 rules */
	const char *creq;
	const char *sts;
	const char *signature;
};
#include "aws-sigv4-suite.h"

#define SUITE_TIME 1440938160 /* 2015-08-30T12:36:00Z */
#define S3_TIME 1369353600    /* 2013-05-24T00:00:00Z */

/* Split a raw request into method, URL (https://Host + path), headers
 * (continuation lines folded in with '\n') and body. */
static int parse(const char *raw, char **method, char **url, mdeploy_aws_header *hdrs, size_t *nh,
                 const char **body)
{
	const char *p = strchr(raw, ' '), *end = strstr(raw, " HTTP/1.1\n"), *line, *host = NULL;
	char *path;
	size_t n = 0;
	*method = strndup(raw, (size_t)(p - raw));
	path = strndup(p + 1, (size_t)(end - p - 1));
	line = end + strlen(" HTTP/1.1\n");
	*body = "";
	while (*line && *line != '\n') {
		const char *eol = strchr(line, '\n'), *colon = strchr(line, ':');
		if (*line == ' ') { /* continuation */
			char *v = (char *)hdrs[n - 1].value, *nv;
			size_t vl = strlen(v);
			nv = malloc(vl + (size_t)(eol - line) + 2);
			memcpy(nv, v, vl);
			nv[vl] = '\n';
			memcpy(nv + vl + 1, line, (size_t)(eol - line));
			nv[vl + 1 + (eol - line)] = '\0';
			free(v);
			hdrs[n - 1].value = nv;
		} else {
			hdrs[n].name = strndup(line, (size_t)(colon - line));
			hdrs[n].value = strndup(colon + 1, (size_t)(eol - colon - 1));
			if (!strcasecmp(hdrs[n].name, "host"))
				host = hdrs[n].value;
			n++;
		}
		line = eol + 1;
	}
	if (*line == '\n')
		*body = line + 1;
	*nh = n;
	*url = mdeploy__sprintf("https://%s%s", host, path);
	free(path);
	return 0;
}

static void run_suite(void)
{
	size_t i, k;
	for (i = 0; i < sizeof(suite) / sizeof(suite[0]); i++) {
		const struct suite_case *c = &suite[i];
		mdeploy_aws_sign_request req = MDEPLOY_AWS_SIGN_REQUEST_INIT;
		mdeploy_aws_credentials cr = { "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", c->token };
		mdeploy_aws_header hdrs[16];
		mdeploy_aws_signature *sig = NULL;
		char *method, *url, hash[65], *authz;
		const char *body;
		size_t nh;
		int rc;

		parse(c->request, &method, &url, hdrs, &nh, &body);
		req.method = method;
		req.url = url;
		req.headers = hdrs;
		req.nheaders = nh;
		req.time = SUITE_TIME;
		req.region = "us-east-1";
		req.service = "service";
		if (c->sign_body) {
			mdeploy_aws__sha256_hex(hash, body, strlen(body));
			req.payload_hash = hash;
			req.flags |= MDEPLOY_AWS_SIGN_CONTENT_SHA256;
		}
		if (!c->normalize)
			req.flags |= MDEPLOY_AWS_SIGN_S3;
		rc = mdeploy_aws_sign(&sig, &req, &cr);
		if (!is_int(0, rc, "%s: signs", c->name)) {
			diag("%s", mdeploy_error_last()->message);
		} else {
			is_str(c->creq, sig->canonical_request, "%s: canonical request", c->name);
			is_str(c->sts, sig->string_to_sign, "%s: string to sign", c->name);
			is_str(c->signature, sig->signature, "%s: signature", c->name);
			authz = mdeploy__sprintf("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
			                         "aws4_request, SignedHeaders=%s, Signature=%s",
			                         sig->signed_headers, c->signature);
			is_str(authz, sig->headers[sig->nheaders - 1].value, "%s: Authorization", c->name);
			free(authz);
		}
		mdeploy_aws_signature_free(sig);
		for (k = 0; k < nh; k++) {
			free((char *)hdrs[k].name);
			free((char *)hdrs[k].value);
		}
		free(method);
		free(url);
	}
}

/* The worked example of AWS's "Create a signed AWS API request" / IAM docs. */
static void iam_example(void)
{
	mdeploy_aws_sign_request req = MDEPLOY_AWS_SIGN_REQUEST_INIT;
	mdeploy_aws_credentials cr = { "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL };
	mdeploy_aws_header h[] = { { "Content-Type", "application/x-www-form-urlencoded; charset=utf-8" } };
	mdeploy_aws_signature *sig = NULL;
	unsigned char key[32];
	char hex[65];

	ok(mdeploy_aws_signing_key(key, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam") == 0,
	   "signing key derived");
	mdeploy_aws__hex(hex, key, 32);
	is_str("f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d", hex,
	       "signing key of the documentation's key-derivation example");
	mdeploy_aws_signing_key(key, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830", "us-east-1", "iam");
	mdeploy_aws__hex(hex, key, 32);
	is_str("c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9", hex,
	       "signing key of the IAM ListUsers example");

	req.method = "GET";
	req.url = "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08";
	req.headers = h;
	req.nheaders = 1;
	req.time = SUITE_TIME;
	req.region = "us-east-1";
	req.service = "iam";
	if (!is_int(0, mdeploy_aws_sign(&sig, &req, &cr), "IAM ListUsers: signs"))
		return;
	is_str("GET\n/\nAction=ListUsers&Version=2010-05-08\n"
	       "content-type:application/x-www-form-urlencoded; charset=utf-8\n"
	       "host:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
	       "content-type;host;x-amz-date\n" MDEPLOY_AWS_EMPTY_SHA256,
	       sig->canonical_request, "IAM ListUsers: canonical request");
	is_str("AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\n"
	       "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59",
	       sig->string_to_sign, "IAM ListUsers: string to sign");
	is_str("5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7", sig->signature,
	       "IAM ListUsers: signature");
	is_str("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
	       "SignedHeaders=content-type;host;x-amz-date, "
	       "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
	       sig->headers[sig->nheaders - 1].value, "IAM ListUsers: Authorization header");
	is_str("X-Amz-Date", sig->headers[0].name, "X-Amz-Date added first");
	is_str("20150830T123600Z", sig->headers[0].value, "X-Amz-Date value");
	mdeploy_aws_signature_free(sig);
}

static const mdeploy_aws_credentials s3_creds = { "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
	                                          NULL };

static mdeploy_aws_signature *s3_sign(const char *method, const char *url, const mdeploy_aws_header *h, size_t n,
                                      const char *payload)
{
	mdeploy_aws_sign_request req = MDEPLOY_AWS_SIGN_REQUEST_INIT;
	mdeploy_aws_signature *sig = NULL;
	req.method = method;
	req.url = url;
	req.headers = h;
	req.nheaders = n;
	req.payload_hash = payload;
	req.time = S3_TIME;
	req.region = "us-east-1";
	req.service = "s3";
	req.flags = MDEPLOY_AWS_SIGN_S3 | MDEPLOY_AWS_SIGN_CONTENT_SHA256;
	if (mdeploy_aws_sign(&sig, &req, &s3_creds))
		diag("%s", mdeploy_error_last()->message);
	return sig;
}

/* Amazon S3 API reference, "Signature Calculations for the Authorization
 * Header: Transferring Payload in a Single Chunk" and "Authenticating
 * Requests: Using Query Parameters". */
static void s3_examples(void)
{
	mdeploy_aws_header range[] = { { "Range", "bytes=0-9" } };
	mdeploy_aws_header put[] = { { "Date", "Fri, 24 May 2013 00:00:00 GMT" },
		                     { "x-amz-storage-class", "REDUCED_REDUNDANCY" } };
	mdeploy_aws_sign_request req = MDEPLOY_AWS_SIGN_REQUEST_INIT;
	mdeploy_aws_signature *sig;
	char hash[65], *url = NULL, *creq = NULL, *sts = NULL;

	sig = s3_sign("GET", "https://examplebucket.s3.amazonaws.com/test.txt", range, 1, MDEPLOY_AWS_EMPTY_SHA256);
	ok(sig != NULL, "S3 GET object: signs");
	if (sig) {
		is_str("GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
		       "x-amz-content-sha256:" MDEPLOY_AWS_EMPTY_SHA256 "\nx-amz-date:20130524T000000Z\n\n"
		       "host;range;x-amz-content-sha256;x-amz-date\n" MDEPLOY_AWS_EMPTY_SHA256,
		       sig->canonical_request, "S3 GET object: canonical request");
		is_str("AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
		       "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972",
		       sig->string_to_sign, "S3 GET object: string to sign");
		is_str("f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41", sig->signature,
		       "S3 GET object: signature");
		is_str("X-Amz-Content-Sha256", sig->headers[1].name, "S3: X-Amz-Content-Sha256 added");
	}
	mdeploy_aws_signature_free(sig);

	mdeploy_aws__sha256_hex(hash, "Welcome to Amazon S3.", 21);
	is_str("44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072", hash, "S3 PUT: payload hash");
	/* "test$file.text" as sent (%24) and as written: S3 encodes once either way. */
	sig = s3_sign("PUT", "https://examplebucket.s3.amazonaws.com/test%24file.text", put, 2, hash);
	is_str("98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd", sig ? sig->signature : "",
	       "S3 PUT object: signature");
	is_str("date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class", sig ? sig->signed_headers : "",
	       "S3 PUT object: signed headers");
	mdeploy_aws_signature_free(sig);
	sig = s3_sign("PUT", "https://examplebucket.s3.amazonaws.com/test$file.text", put, 2, hash);
	is_str("98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd", sig ? sig->signature : "",
	       "S3 PUT object: '$' unencoded in the URL gives the same signature");
	mdeploy_aws_signature_free(sig);

	sig = s3_sign("GET", "https://examplebucket.s3.amazonaws.com/?lifecycle", NULL, 0, MDEPLOY_AWS_EMPTY_SHA256);
	is_str("fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543", sig ? sig->signature : "",
	       "S3 GET bucket lifecycle: signature ('lifecycle=' in the canonical query)");
	mdeploy_aws_signature_free(sig);
	sig = s3_sign("GET", "https://examplebucket.s3.amazonaws.com/?prefix=J&max-keys=2", NULL, 0,
	              MDEPLOY_AWS_EMPTY_SHA256);
	is_str("34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7", sig ? sig->signature : "",
	       "S3 list objects: signature (query sorted)");
	mdeploy_aws_signature_free(sig);

	req.method = "GET";
	req.url = "https://examplebucket.s3.amazonaws.com/test.txt";
	req.time = S3_TIME;
	req.region = "us-east-1";
	req.service = "s3";
	req.flags = MDEPLOY_AWS_SIGN_S3;
	if (!is_int(0, mdeploy_aws_presign(&url, &req, &s3_creds, 86400, &creq, &sts), "S3 presigned GET: signs")) {
		diag("%s", mdeploy_error_last()->message);
		return;
	}
	is_str("GET\n/test.txt\n"
	       "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3"
	       "%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\n"
	       "host:examplebucket.s3.amazonaws.com\n\nhost\nUNSIGNED-PAYLOAD",
	       creq, "S3 presigned GET: canonical request");
	is_str("AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
	       "3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04",
	       sts, "S3 presigned GET: string to sign");
	is_str("https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
	       "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
	       "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
	       "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
	       url, "S3 presigned GET: URL and signature");
	free(url);
	free(creq);
	free(sts);
}

static void edge_cases(void)
{
	mdeploy_aws_sign_request req = MDEPLOY_AWS_SIGN_REQUEST_INIT;
	mdeploy_aws_credentials cr = { "AKIDEXAMPLE", "secret", "tok/en+=" };
	mdeploy_aws_header bad[] = { { "X-Bad", "a\001b" } };
	mdeploy_aws_header own[] = { { "X-Amz-Date", "20150830T123600Z" } };
	mdeploy_aws_signature *sig = NULL;
	char *url = NULL, *creq = NULL;

	req.method = "POST";
	req.url = "http://127.0.0.1:5000/";
	req.time = SUITE_TIME;
	req.region = "us-east-1";
	req.service = "ssm";
	is_int(0, mdeploy_aws_sign(&sig, &req, &cr), "non-default port: signs");
	like(sig ? sig->canonical_request : "", "\nhost:127.0.0.1:5000\n", "Host keeps a non-default port (as curl sends it)");
	is_str("X-Amz-Security-Token", sig ? sig->headers[1].name : "", "session token header added");
	mdeploy_aws_signature_free(sig);
	sig = NULL;
	req.url = "https://example.com:443/a%20b";
	mdeploy_aws_sign(&sig, &req, &cr);
	like(sig ? sig->canonical_request : "", "\n/a%2520b\n\nhost:example.com\n",
	     "default port dropped from Host; non-S3 path encoded twice");
	mdeploy_aws_signature_free(sig);
	sig = NULL;

	req.url = "ftp://example.com/";
	is_int(MDEPLOY_EINVALID, mdeploy_aws_sign(&sig, &req, &cr), "ftp:// refused");
	req.url = "https://example.com/";
	req.headers = bad;
	req.nheaders = 1;
	is_int(MDEPLOY_EINVALID, mdeploy_aws_sign(&sig, &req, &cr), "control character in a header value refused");
	req.headers = own;
	is_int(MDEPLOY_EINVALID, mdeploy_aws_sign(&sig, &req, &cr), "caller's own X-Amz-Date refused");
	req.headers = NULL;
	req.nheaders = 0;
	req.region = "us east";
	is_int(MDEPLOY_EINVALID, mdeploy_aws_sign(&sig, &req, &cr), "region with a space refused");
	req.region = "us-east-1";
	cr.secret_access_key = "";
	is_int(MDEPLOY_EINVALID, mdeploy_aws_sign(&sig, &req, &cr), "empty secret refused");
	like(mdeploy_error_last()->message, "secret", "error names the secret (not its value)");
	cr.secret_access_key = "secret";
	req.version = 99;
	is_int(MDEPLOY_EVERSION, mdeploy_aws_sign(&sig, &req, &cr), "unknown request version refused");
	req.version = MDEPLOY_AWS_SIGN_REQUEST_VERSION;

	req.method = "GET";
	req.service = "s3";
	req.flags = MDEPLOY_AWS_SIGN_S3;
	req.url = "https://b.s3.amazonaws.com/k?versionId=1";
	is_int(MDEPLOY_EINVALID, mdeploy_aws_presign(&url, &req, &cr, 0, NULL, NULL), "presign: expires 0 refused");
	is_int(MDEPLOY_EINVALID, mdeploy_aws_presign(&url, &req, &cr, 604801, NULL, NULL), "presign: over 7 days refused");
	is_int(0, mdeploy_aws_presign(&url, &req, &cr, 60, &creq, NULL), "presign with a session token and a query");
	like(url, "?versionId=1&X-Amz-Algorithm=", "presign: added after the URL's own query");
	like(url, "&X-Amz-Security-Token=tok%2Fen%2B%3D&", "presign: session token encoded in the URL");
	like(creq, "X-Amz-Security-Token=tok%2Fen%2B%3D&X-Amz-SignedHeaders=host&versionId=1\n",
	     "presign: token and the URL's own query are signed, sorted");
	free(url);
	free(creq);
}

int main(void)
{
	plan_lazy();
	run_suite();
	iam_example();
	s3_examples();
	edge_cases();
	return done();
}
