/*
 * restxml.c - the REST-XML protocol of S3: object URLs (virtual-hosted on
 * AWS, path-style on a configured endpoint such as MinIO, Ceph or moto);
 * the calls themselves are mdeploy_aws__send() with XML answers parsed by
 * mdeploy_aws__xml_parse().
 */
#include "aws/aws_private.h"

#include <stdlib.h>
#include <string.h>

int mdeploy_aws__s3_url(char **out, const mdeploy_aws__client *c, const char *bucket, const char *key,
                        const char *query)
{
	mdeploy__buf b = MDEPLOY__BUF_INIT;
	char *endpoint = NULL;
	int custom, rc;

	*out = NULL;
	if ((rc = mdeploy_aws__endpoint(&endpoint, &custom, c, "s3", "S3")))
		return rc;
	if (custom)
		rc = mdeploy__buf_printf(&b, "%s/%s/", endpoint, bucket);
	else
		rc = mdeploy__buf_printf(&b, "https://%s.s3.%s.amazonaws.com/", bucket, c->region);
	if (!rc && key)
		rc = mdeploy_aws__uri_encode(&b, key, strlen(key), 1);
	if (!rc && query && *query)
		rc = mdeploy__buf_printf(&b, "?%s", query);
	free(endpoint);
	if (rc) {
		mdeploy__buf_dispose(&b);
		return rc;
	}
	*out = mdeploy__buf_detach(&b);
	return *out ? 0 : mdeploy__error_oom();
}
