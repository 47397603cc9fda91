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

#endif
