/*
 * aws-query.h - for the aws provider's unit tests on moto_server: one
 * Query-protocol call through the same AWS client the provider uses, its
 * answer read back at an XPath. The test sets `cl` before the first call.
 */
#ifndef MDEPLOY_T_AWS_QUERY_H
#define MDEPLOY_T_AWS_QUERY_H

#include <libxml/tree.h>
#include <stdlib.h>
#include <string.h>

static mdeploy_aws__client *cl;

/* The text at `path` of ACTION's answer (a copy to free; "" when path is NULL), NULL on an error (diagnosed). */
static char *q(const char *svc, const char *env, const char *ver, const char *action, const char *const *params,
               const char *path)
{
	xmlDoc *doc = NULL;
	char *v = NULL;
	if (mdeploy_aws__query_call(cl, svc, env, ver, action, params, &doc)) {
		diag("%s: %s", action, mdeploy_error_last()->message);
		return NULL;
	}
	v = path ? mdeploy_aws__xml_text(doc, path) : strdup("");
	xmlFreeDoc(doc);
	return v;
}
#define EC2(a, p, path) q("ec2", "EC2", "2016-11-15", a, p, path)

#endif
