/*
 * provider/aws/aws.h - the aws provider's stores on the AWS client
 * (libmdeploy/aws/): parameters on SSM Parameter Store (params.c), secrets
 * on Secrets Manager (secrets.c), artifacts on S3 (artifacts.c, with the
 * object calls and multipart uploads in s3.c). stores.c registers them.
 */
#ifndef MDEPLOY_PROVIDER_AWS_H
#define MDEPLOY_PROVIDER_AWS_H

#include "provider/store.h"
#include "aws/aws_private.h"

/* A client for stores.<kind> (region, endpoint, profile keys). */
int mdeploy_awsp__client(mdeploy_aws__client **out, const mdeploy_provider__store_args *a);
/* stores.<kind>.prefix, or the default made from the application name
 * (`fmt` has one %s; "mdeploy" without an mdeploy.yml). */
int mdeploy_awsp__prefix(char **out, const mdeploy_provider__store_args *a, const char *fmt);

int mdeploy_awsp__params_new(void **impl, const mdeploy_provider__params_ops **ops,
                             const mdeploy_provider__store_args *a);
int mdeploy_awsp__secrets_new(void **impl, const mdeploy_provider__secrets_ops **ops,
                              const mdeploy_provider__store_args *a);
/* state.c: locks, deployments and the journal in a DynamoDB table */
int mdeploy_awsp__state_new(void **impl, const mdeploy_store__shared_ops **ops,
                            const mdeploy_provider__store_args *a);
/* 0 when stores.state.table exists with the keys and index mdeploy-aws(7) gives. */
int mdeploy_awsp__state_check(const mdeploy_provider__store_args *a);
int mdeploy_awsp__artifacts_new(void **impl, const mdeploy_provider__artifacts_ops **ops,
                                const mdeploy_provider__store_args *a);

/* s3.c */
typedef struct mdeploy_awsp__s3 {
	mdeploy_aws__client *client;
	char *bucket;
	char *kms_key;       /* SSE-KMS key, or NULL for SSE-S3 (AES256) */
	size_t part_size;    /* multipart part size in bytes */
	unsigned int parallel;
} mdeploy_awsp__s3;

/* Upload a file (multipart with parallel parts above one part's size), with
 * x-amz-checksum-sha256 and server-side encryption; `sha256_hex` is the
 * whole file's digest (stored as x-amz-meta-sha256). */
int mdeploy_awsp__s3_put_file(mdeploy_awsp__s3 *s, const char *key, const char *file, const char *sha256_hex);
int mdeploy_awsp__s3_put_empty(mdeploy_awsp__s3 *s, const char *key);
/* A small object into memory; *etag (may be NULL) gets its ETag. */
int mdeploy_awsp__s3_get_mem(mdeploy_awsp__s3 *s, const char *key, mdeploy__buf *out, char **etag);
/* A small object from memory, with extra headers (If-Match / If-None-Match);
 * MDEPLOY_ECONFLICT when a condition failed. */
int mdeploy_awsp__s3_put_mem(mdeploy_awsp__s3 *s, const char *key, const char *data, size_t len,
                             const char *content_type, const mdeploy_aws_header *extra, size_t nextra);
/* Download to an open file descriptor. */
int mdeploy_awsp__s3_get_fd(mdeploy_awsp__s3 *s, const char *key, int fd);
/* 0 when the object exists (size in *size), MDEPLOY_ENOTFOUND when not. */
int mdeploy_awsp__s3_head(mdeploy_awsp__s3 *s, const char *key, uint64_t *size);
int mdeploy_awsp__s3_delete(mdeploy_awsp__s3 *s, const char *key);

#endif
