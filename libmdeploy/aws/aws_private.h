/*
 * aws_private.h - the AWS client inside libmdeploy (libmdeploy/aws/): SigV4
 * (sigv4.c), credentials (credentials.c), regions and endpoints
 * (endpoint.c), HTTP with retries (http.c), the JSON 1.1, Query/XML and
 * REST-XML protocols (json.c, query.c, restxml.c) and AWS errors (errors.c).
 */
#ifndef MDEPLOY_AWS_PRIVATE_H
#define MDEPLOY_AWS_PRIVATE_H

#include "mdeploy_private.h"
#include "mdeploy/aws.h"

/* sigv4.c */
typedef struct mdeploy_aws__url {
	int https;
	const char *host;      /* host[:port] */
	size_t host_len;
	size_t hostname_len;   /* without :port */
	int port_default;      /* no port, or the scheme's own */
	const char *path;
	size_t path_len;
	const char *query;     /* after '?', NULL when none */
	size_t query_len;
} mdeploy_aws__url;

int mdeploy_aws__url_split(mdeploy_aws__url *u, const char *url);
int mdeploy_aws__uri_encode(mdeploy__buf *b, const char *s, size_t len, int keep_slash);
int mdeploy_aws__canonical_path(mdeploy__buf *out, const char *path, size_t len, int s3);
int mdeploy_aws__canonical_query(mdeploy__buf *out, const char *query, size_t len);
int mdeploy_aws__amz_date(char out[17], char date[9], int64_t t);
void mdeploy_aws__hex(char *out, const unsigned char *bytes, size_t n);
void mdeploy_aws__sha256_hex(char out[65], const void *data, size_t len);


/* ---- credentials.c ---- */
typedef struct mdeploy_aws__creds {
	char *access_key_id;
	char *secret_access_key;
	char *session_token;   /* NULL for long-term keys */
	int64_t expiration;    /* epoch seconds; 0: does not expire */
	const char *source;    /* "environment", "shared-credentials-file", ... (static) */
} mdeploy_aws__creds;

typedef struct mdeploy_aws__client mdeploy_aws__client;

void mdeploy_aws__creds_dispose(mdeploy_aws__creds *c);
/* Fill *c with copies (token may be NULL or ""); wiped by dispose. */
int mdeploy_aws__creds_set(mdeploy_aws__creds *c, const char *akid, const char *secret, const char *token,
                           int64_t expiration, const char *source);

/* credentials_process.c: the profile's credential_process, run without a
 * shell (its words split as the AWS CLI does); 1 when the profile has none. */
int mdeploy_aws__credential_process(mdeploy_aws__creds *out, mdeploy_aws__client *c);
/* Split a command line into words: blanks separate, '...' is literal, "..."
 * keeps \" \\ \$ \` escapes, \ outside quotes escapes the next character.
 * *argv is NULL-terminated, free it with mdeploy_aws__words_free(). */
int mdeploy_aws__words(char ***argv, const char *line);
void mdeploy_aws__words_free(char **argv);

/* ---- the client (endpoint.c: region, endpoints, shared config files) ---- */

typedef struct mdeploy_aws__client_options {
	const char *region;    /* overrides AWS_REGION / the profile (mdeploy.yml) */
	const char *endpoint;  /* overrides every endpoint of this client (mdeploy.yml) */
	const char *profile;   /* overrides AWS_PROFILE */
} mdeploy_aws__client_options;

#include <pthread.h>

typedef struct mdeploy_aws__ini_entry {
	char *key;
	char *value;
} mdeploy_aws__ini_entry;

struct mdeploy_aws__client {
	char *region;
	char *endpoint;                   /* override for every service, or NULL */
	char *profile;                    /* "default" */
	mdeploy_aws__ini_entry *config;   /* the profile's keys: config file, then credentials file */
	size_t nconfig;
	mdeploy_aws__ini_entry *creds_file; /* the profile in the shared credentials file */
	size_t ncreds_file;
	pthread_mutex_t lock;             /* guards what follows */
	mdeploy_aws__creds creds;
	int have_creds;
	int64_t skew;                     /* seconds added to the local clock */
	int max_attempts;
	int retry_tokens;                 /* the standard mode's retry quota */
	int depth;                        /* source_profile hops that led to this client */
};

int mdeploy_aws__client_new(mdeploy_aws__client **out, const mdeploy_aws__client_options *o);
void mdeploy_aws__client_free(mdeploy_aws__client *c);
const char *mdeploy_aws__client_region(const mdeploy_aws__client *c);
/* A value of the client's profile in the shared config file (NULL if none). */
const char *mdeploy_aws__profile_value(const mdeploy_aws__client *c, const char *key);

/*
 * The endpoint URL (no trailing '/') of a service: the client's override,
 * AWS_ENDPOINT_URL_<ENV_ID>, AWS_ENDPOINT_URL, the profile's endpoint_url,
 * then https://<host_prefix>.<region>.amazonaws.com. `env_id` is the AWS
 * CLI's service id in upper case with '_' ("SSM", "SECRETS_MANAGER", "S3").
 * *custom says whether it came from a setting (S3 then uses path-style URLs).
 */
int mdeploy_aws__endpoint(char **out, int *custom, const mdeploy_aws__client *c, const char *host_prefix,
                          const char *env_id);

/*
 * Credentials as the AWS CLI finds them; cached and refreshed 5 minutes
 * before they expire. *out is a copy, the caller's (dispose it).
 */
int mdeploy_aws__credentials(mdeploy_aws__creds *out, mdeploy_aws__client *c);
/* Forget cached temporary credentials (after the service refused them as
 * expired): 1 when there were some to forget, 0 for long-term keys. */
int mdeploy_aws__credentials_reset(mdeploy_aws__client *c);

/* The client's notion of now (local clock + the skew learned from a service). */
int64_t mdeploy_aws__now(mdeploy_aws__client *c);
int mdeploy_aws__parse_time(int64_t *out, const char *iso8601);

/* ---- http.c: one call, signed, retried ---- */
typedef struct mdeploy_aws__request {
	const char *service;          /* signing name: "ssm", "s3"... */
	const char *method;
	const char *url;
	const mdeploy_aws_header *headers;
	size_t nheaders;
	const void *body;             /* memory body, or */
	int body_fd;                  /* a file range (when body is NULL and body_fd >= 0) */
	int64_t body_off;
	size_t body_len;
	const char *payload_hash;     /* NULL: computed from a memory body */
	unsigned int sign_flags;      /* MDEPLOY_AWS_SIGN_* */
	int unsigned_request;         /* not signed (STS web identity, IMDS, ECS) */
	int out_fd;                   /* >= 0: the response body goes there (from its current offset) */
	long timeout_ms;              /* 0: no overall limit */
	int max_attempts;             /* 0: the client's */
	const char *signing_region;   /* NULL: the client's (global services: CloudFront signs us-east-1) */
} mdeploy_aws__request;

#define MDEPLOY_AWS__REQUEST_INIT { NULL, NULL, NULL, NULL, 0, NULL, -1, 0, 0, NULL, 0, 0, -1, 0, 0, NULL }

typedef struct mdeploy_aws__response {
	long status;
	mdeploy__buf body;
	char *request_id;
	char *etag;
	char *error_code;             /* the service's error code on failure */
	char *content_range;
	int64_t date;                 /* Date header, 0 if none */
	int64_t content_length;       /* Content-Length header, -1 if none */
	int attempts;
} mdeploy_aws__response;

void mdeploy_aws__response_dispose(mdeploy_aws__response *r);

/*
 * Send `req` (signed unless unsigned_request) with the standard retry mode:
 * throttling, 5xx and connection errors retried up to the attempts (AWS_MAX_ATTEMPTS,
 * default 3) with exponential backoff and full jitter, within a retry quota;
 * a clock-skew refusal corrected once. A status other than 2xx is an error:
 * the service's code, message and request id in the error message, the code
 * mapped to MDEPLOY_E* and kept in resp->error_code.
 */
int mdeploy_aws__send(mdeploy_aws__client *c, const mdeploy_aws__request *req, mdeploy_aws__response *resp);

/* ---- errors.c ---- */
/* Fill code/message/request id from an error response (JSON or XML body, or headers). */
int mdeploy_aws__error_set(const char *service, long status, const char *body, size_t len,
                           const char *header_type, const char *header_request_id, char **code_out);
int mdeploy_aws__error_is_throttle(const char *code);
int mdeploy_aws__error_is_transient(const char *code);
int mdeploy_aws__error_is_skew(const char *code, const char *message);

/* ---- json.c: JSON 1.0/1.1 (SSM, Secrets Manager, DynamoDB) ---- */
struct json_t;
int mdeploy_aws__json_call(mdeploy_aws__client *c, const char *service, const char *env_id,
                           const char *json_version, const char *target, struct json_t *request,
                           struct json_t **response);

/* ---- query.c: Query protocol with XML responses (STS, IAM, EC2, ELBv2...) ---- */
struct _xmlDoc;
int mdeploy_aws__query_call(mdeploy_aws__client *c, const char *service, const char *env_id, const char *version,
                            const char *action, const char *const *params, struct _xmlDoc **response);
/*
 * The same, sent once (no retry): for a call that is not idempotent, whose
 * caller looks after a failure whether it took effect before sending it again
 * (an answer lost after the service did the work). *status: the answer's
 * HTTP status, 0 when none came (connection failed or timed out).
 */
int mdeploy_aws__query_call_once(mdeploy_aws__client *c, const char *service, const char *env_id,
                                 const char *version, const char *action, const char *const *params,
                                 long *status, struct _xmlDoc **response);
/* Text of the first element at `path` ("GetCallerIdentityResult/Arn"), matched
 * by local name anywhere in the document; NULL when absent (caller frees). */
char *mdeploy_aws__xml_text(struct _xmlDoc *doc, const char *path);
int mdeploy_aws__xml_parse(struct _xmlDoc **out, const char *data, size_t len, const char *what);

/* ---- restxml.c: REST-XML (S3) ---- */
/* https://bucket.s3.<region>.amazonaws.com/key, or <endpoint>/bucket/key for
 * a configured endpoint (path-style, MinIO/Ceph/moto). `query` may be NULL. */
int mdeploy_aws__s3_url(char **out, const mdeploy_aws__client *c, const char *bucket, const char *key,
                        const char *query);

#endif
