/*
 * provider/aws/agent.h - the agent on EC2 (agent.c): what fleet_create and
 * the provider table use, and the S3 transfers of `mdeploy agent pull`
 * (agent/pull.c) with the instance's own credentials.
 */
#ifndef MDEPLOY_PROVIDER_AWS_AGENT_H
#define MDEPLOY_PROVIDER_AWS_AGENT_H

#include "provider/provider.h"

/* Stage the bundle in provider.agent_bucket and make a version of launch template `lt`
 * (from `source_version`) whose user data runs the agent; *version gets its number (xmlFree). */
int mdeploy_awsp__agent_stage(mdeploy_provider *p, const mdeploy_agent_boot *bt, const char *lt,
                              const char *source_version, char **version);
int mdeploy_awsp__agent_report(mdeploy_provider *p, const char *deployment, const char *instance, char **json);
unsigned int mdeploy_awsp__agent_timeout_ms(mdeploy_provider *p);

/* s3://BUCKET/KEY to `file` (0600), and `data` to s3://BUCKET/KEY; region/endpoint may be NULL
 * (the AWS CLI's settings). */
int mdeploy_awsp__agent_get(const char *url, const char *region, const char *endpoint, const char *file);
int mdeploy_awsp__agent_put(const char *url, const char *region, const char *endpoint, const char *data, size_t len);

#endif
