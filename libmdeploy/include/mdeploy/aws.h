/*
 * mdeploy/aws.h - AWS Signature Version 4.
 *
 * The signer libmdeploy uses for every AWS call, public so that programs
 * linking libmdeploy can sign their own requests: give the request (method,
 * URL, headers, payload hash), the time, region, service and credentials;
 * get back the headers to add (Authorization, X-Amz-Date,
 * X-Amz-Security-Token, X-Amz-Content-Sha256) and, to check against AWS's
 * documentation, the canonical request and string to sign it built.
 * mdeploy_aws_presign() builds a query-string-signed URL (S3 GET URLs that
 * instances can fetch without credentials).
 *
 * Pure functions: no I/O, no global state; safe from any thread. Secrets are
 * only read; nothing here logs.
 */
#ifndef MDEPLOY_AWS_H
#define MDEPLOY_AWS_H

#include "common.h"

MDEPLOY_BEGIN_DECL

/* Credentials: an access key id, its secret, and a session token for
 * temporary credentials (NULL or "" for long-term keys). Borrowed. */
typedef struct mdeploy_aws_credentials {
	const char *access_key_id;
	const char *secret_access_key;
	const char *session_token;
} mdeploy_aws_credentials;

typedef struct mdeploy_aws_header {
	const char *name;
	const char *value;
} mdeploy_aws_header;

/* The payload hash of an empty body (hex SHA-256 of ""). */
#define MDEPLOY_AWS_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
/* For S3 requests whose body is not hashed (and presigned URLs). */
#define MDEPLOY_AWS_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

/* S3 rules: the path is neither normalized nor encoded twice. */
#define MDEPLOY_AWS_SIGN_S3             (1u << 0)
/* Add (and sign) X-Amz-Content-Sha256 with the payload hash (S3 wants it). */
#define MDEPLOY_AWS_SIGN_CONTENT_SHA256 (1u << 1)

typedef struct mdeploy_aws_sign_request {
	unsigned int version;
	const char *method;               /* "GET", "POST"... */
	/* scheme://host[:port]/path?query as it goes on the wire. The Host
	 * header is taken from it (port only when not the scheme's default)
	 * unless `headers` has one. */
	const char *url;
	const mdeploy_aws_header *headers; /* headers to sign (may repeat a name) */
	size_t nheaders;
	const char *payload_hash;         /* hex SHA-256 of the body; NULL: empty body */
	int64_t time;                     /* seconds since the epoch, UTC */
	const char *region;               /* "eu-west-1" */
	const char *service;              /* signing name: "s3", "ssm", "secretsmanager" */
	unsigned int flags;               /* MDEPLOY_AWS_SIGN_* */
} mdeploy_aws_sign_request;

#define MDEPLOY_AWS_SIGN_REQUEST_VERSION 1
#define MDEPLOY_AWS_SIGN_REQUEST_INIT { MDEPLOY_AWS_SIGN_REQUEST_VERSION, NULL, NULL, NULL, 0, NULL, 0, NULL, NULL, 0 }

/* The result of signing. All strings belong to it. */
typedef struct mdeploy_aws_signature {
	/* Headers to add to the request, in this order: X-Amz-Date,
	 * X-Amz-Security-Token (with a session token), X-Amz-Content-Sha256 (with
	 * MDEPLOY_AWS_SIGN_CONTENT_SHA256), Authorization. */
	mdeploy_aws_header headers[4];
	size_t nheaders;
	const char *canonical_request;
	const char *string_to_sign;
	const char *signed_headers;        /* "host;x-amz-date" */
	char signature[65];                /* lowercase hex */
} mdeploy_aws_signature;

/*
 * Sign a request with SigV4 (AWS4-HMAC-SHA256). On success *out is the
 * caller's, freed with mdeploy_aws_signature_free(). Fails with
 * MDEPLOY_EINVALID for a URL that is not http(s)://host/..., a missing field,
 * a header name or value with a control character, or a malformed payload
 * hash.
 */
MDEPLOY_EXTERN(int) mdeploy_aws_sign(mdeploy_aws_signature **out, const mdeploy_aws_sign_request *req,
                                     const mdeploy_aws_credentials *creds);
MDEPLOY_EXTERN(void) mdeploy_aws_signature_free(mdeploy_aws_signature *sig);

/*
 * A presigned URL: `req->url` with X-Amz-Algorithm, X-Amz-Credential,
 * X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders, X-Amz-Security-Token (with
 * a session token) and X-Amz-Signature added to its query. Only the host (and
 * `req->headers`) are signed; the payload hash is UNSIGNED-PAYLOAD unless
 * req->payload_hash says otherwise. `expires` is in seconds, 1..604800.
 * *url is the caller's (free()). When `canonical_request` / `string_to_sign`
 * are not NULL they receive the texts signed (caller frees).
 */
MDEPLOY_EXTERN(int) mdeploy_aws_presign(char **url, const mdeploy_aws_sign_request *req,
                                        const mdeploy_aws_credentials *creds, unsigned int expires,
                                        char **canonical_request, char **string_to_sign);

/* The SigV4 signing key, HMAC chain of date (YYYYMMDD), region, service and
 * "aws4_request", as 32 raw bytes in `key`. */
MDEPLOY_EXTERN(int) mdeploy_aws_signing_key(unsigned char key[32], const char *secret_access_key,
                                            const char *date, const char *region, const char *service);

/*
 * Who the AWS credentials are: STS GetCallerIdentity, signed with the
 * credentials found as the AWS CLI finds them (environment, web identity,
 * shared files with AWS_PROFILE, container, EC2 instance metadata), in the
 * region and at the endpoint found as the CLI finds them (AWS_REGION,
 * AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL, the profile). `region`, `endpoint`
 * and `profile` override those when not NULL (mdeploy.yml). MDEPLOY_EAUTH
 * when no credentials are found or AWS refuses them; MDEPLOY_ENETWORK when
 * STS cannot be reached. Secrets are never part of the result or errors.
 */
typedef struct mdeploy_aws_identity {
	char account[32];
	char arn[512];
	char user_id[256];
	char region[64];
	char endpoint[512];            /* the STS endpoint used */
	char credentials_source[48];   /* "environment", "shared credentials file", "web identity", ... */
} mdeploy_aws_identity;

MDEPLOY_EXTERN(int) mdeploy_aws_whoami(mdeploy_aws_identity *out, const char *region, const char *endpoint,
                                       const char *profile);

/*
 * mdeploy doctor's AWS check of a configuration: for each store of the
 * context's mdeploy.yml whose provider is aws (stores.params, .secrets,
 * .artifacts, .state, in that order), mdeploy_aws_whoami() with that store's
 * region, endpoint and profile, and for the state store that its DynamoDB
 * table has the keys and the index mdeploy-aws(7) gives; `cb` gets the store's key ("params"), the
 * result (0 or an MDEPLOY_E* code) and the identity or the error message.
 * *checked (may be NULL) is the number of aws stores. A context without an
 * mdeploy.yml has none. A non-zero return from `cb` stops with MDEPLOY_EUSER.
 */
struct mdeploy_ctx;
typedef int (*mdeploy_aws_store_check_cb)(const char *store, int result, const mdeploy_aws_identity *id,
                                          const char *error, void *payload);
MDEPLOY_EXTERN(int) mdeploy_aws_check_stores(struct mdeploy_ctx *ctx, mdeploy_aws_store_check_cb cb, void *payload,
                                             unsigned int *checked);

MDEPLOY_END_DECL

#endif
