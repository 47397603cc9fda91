/*
 * agent.c - the agent on EC2, pull model. The instances of a green fleet
 * install the release themselves, as CodeDeploy's agent does, but pulled
 * from S3 with nothing listening on the instance:
 *
 *  - fleet_create (fleet.c) asks mdeploy_awsp__agent_stage() for a launch
 *    template version: the bundle is put in provider.agent_bucket under
 *    PREFIX/bundles/<sha256>/<file name> (once per content), and a new
 *    version of the group's launch template, made from its default
 *    version, gets user data that runs `mdeploy agent pull` with the
 *    bundle's location, digest and the trusted keys (all public: user data
 *    is readable by anyone who may describe the instance, so no secret).
 *    The Auto Scaling group is pinned to that version.
 *  - Each instance's agent writes PREFIX/reports/<deployment>/<instance>.json
 *    after every lifecycle event (mdeploy-agent(1) PULL REPORTS);
 *    agent_report reads it for the orchestrator, one GetObject per instance.
 *  - The agent side: mdeploy_awsp__agent_get/put fetch the bundle and write
 *    the report for agent/pull.c, with the instance's credentials.
 *
 * PREFIX is provider.agent_prefix, "mdeploy/agent" by default.
 */
#include "ops.h"
#include "agent.h"
#include "provider/aws/aws.h"

#include <libxml/tree.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>

#define CLS MDEPLOY_ERROR_CLASS_PROVIDER

static const char *prefix_of(mdeploy_provider *p)
{
	const char *v = mdeploy_provider__setting(p, "agent_prefix");
	return v && *v ? v : "mdeploy/agent";
}

static int bucket_of(mdeploy_provider *p, const char **out)
{
	*out = mdeploy_provider__setting(p, "agent_bucket");
	if (!*out || !**out)
		return mdeploy__error_set(MDEPLOY_EINVALID, CLS,
		                          "aws: the instances of a fleet fetch the bundle and report from S3: "
		                          "provider.agent_bucket (mdeploy.yml) names no bucket");
	return 0;
}

unsigned int mdeploy_awsp__agent_timeout_ms(mdeploy_provider *p)
{
	const char *v = mdeploy_provider__setting(p, "agent_timeout");
	unsigned long s = v ? strtoul(v, NULL, 10) : 900;
	if (s == 0 || s > 86400)
		s = 900;
	return (unsigned int)(s * 1000);
}

/* `s` as one shell word: '...' with every ' written '\'' (never expanded by the shell). */
static int sh_quote(mdeploy__buf *b, const char *s)
{
	int rc = mdeploy__buf_puts(b, "'");
	for (; !rc && *s; s++)
		rc = *s == '\'' ? mdeploy__buf_puts(b, "'\\''") : mdeploy__buf_put(b, s, 1);
	return rc ? rc : mdeploy__buf_puts(b, "'");
}

static int sh_opt(mdeploy__buf *b, const char *opt, const char *value)
{
	int rc = mdeploy__buf_printf(b, " \\\n\t%s ", opt);
	return rc ? rc : sh_quote(b, value);
}

/* A public key's PEM text: lines of base64, or "-----BEGIN/END ...-----" of capitals and spaces. */
static int pem_check(const char *pem, size_t i)
{
	const char *c;
	int ok = !!*pem;
	for (c = pem; *c && ok; c++)
		ok = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '+' ||
		     *c == '/' || *c == '=' || *c == '-' || *c == ' ' || *c == '\n';
	if (!ok || strncmp(pem, "-----BEGIN ", 11))
		return mdeploy__error_set(MDEPLOY_EINVALID, CLS, "aws: trusted key %zu is not a PEM public key", i + 1);
	return 0;
}

/* The user data: a shell script (cloud-init runs it as root at first boot). */
static int user_data(mdeploy_provider *p, const mdeploy_agent_boot *bt, const char *bucket, const char *key,
                     char **out)
{
	mdeploy__buf b = { 0 };
	const char *endpoint = mdeploy_provider__setting(p, "endpoint");
	const char *root = mdeploy_provider__setting(p, "agent_root");
	char *url = NULL, *report = NULL;
	size_t i;
	int rc;

	if (!(url = mdeploy__sprintf("s3://%s/%s", bucket, key)) ||
	    !(report = mdeploy__sprintf("s3://%s/%s/reports/%s/", bucket, prefix_of(p), bt->deployment_id))) {
		rc = mdeploy__error_oom();
		goto out;
	}
	rc = mdeploy__buf_printf(&b,
		"#!/bin/sh\n"
		"# mdeploy agent, pull model: the user data of deployment %s (written by mdeploy).\n"
		"# The instance installs the release itself and reports each lifecycle event to\n"
		"# %s<instance-id>.json, which the orchestrator reads.\n"
		"# MDEPLOY_INSTANCE_ID, MDEPLOY_INSTANCE_ADDR and MDEPLOY_AGENT_ROOT in the environment\n"
		"# replace what the instance metadata (IMDSv2) and provider.agent_root give.\n"
		"set -u\n"
		"imds() {\n"
		"\tt=$(curl -sf -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' "
		"http://169.254.169.254/latest/api/token) &&\n"
		"\tcurl -sf -H \"X-aws-ec2-metadata-token: $t\" \"http://169.254.169.254/latest/meta-data/$1\"\n"
		"}\n"
		"id=${MDEPLOY_INSTANCE_ID:-$(imds instance-id)}\n"
		"addr=${MDEPLOY_INSTANCE_ADDR:-$(imds local-ipv4)}\n"
		"root=", bt->deployment_id, report);
	if (!rc)
		rc = sh_quote(&b, root && *root ? root : "/srv/mdeploy");
	if (!rc)
		rc = mdeploy__buf_puts(&b, "\n[ -n \"${MDEPLOY_AGENT_ROOT:-}\" ] && root=$MDEPLOY_AGENT_ROOT\n"
		                           "mkdir -p \"$root/keys\" || exit 1\n");
	/* The trusted public keys (PEM: base64 and BEGIN/END lines, checked) as files of the root. */
	for (i = 0; !rc && bt->trusted_keys && bt->trusted_keys[i]; i++) {
		if ((rc = pem_check(bt->trusted_keys[i], i)))
			break;
		rc = mdeploy__buf_printf(&b, "cat >\"$root/keys/trusted-%zu.pem\" <<'MDEPLOY_PEM' || exit 1\n%s%s"
		                         "MDEPLOY_PEM\n", i + 1, bt->trusted_keys[i],
		                         bt->trusted_keys[i][strlen(bt->trusted_keys[i]) - 1] == '\n' ? "" : "\n");
	}
	if (!rc)
		rc = mdeploy__buf_puts(&b, "exec mdeploy agent --root \"$root\" --instance-id \"$id\" --instance-addr \"$addr\"");
	if (!rc) rc = sh_opt(&b, "--deployment-id", bt->deployment_id);
	if (!rc && bt->application_name) rc = sh_opt(&b, "--application", bt->application_name);
	if (!rc && bt->deployment_group_name) rc = sh_opt(&b, "--group", bt->deployment_group_name);
	if (!rc && bt->deployment_group_id) rc = sh_opt(&b, "--group-id", bt->deployment_group_id);
	if (!rc) rc = sh_opt(&b, "--sha256", bt->bundle_sha256);
	if (!rc) rc = sh_opt(&b, "--report", report);
	if (!rc) rc = sh_opt(&b, "--region", mdeploy_aws__client_region(MDEPLOY_AWSP(p)->client));
	if (!rc && endpoint) rc = sh_opt(&b, "--endpoint", endpoint);
	for (i = 0; !rc && bt->trusted_keys && bt->trusted_keys[i]; i++)
		rc = mdeploy__buf_printf(&b, " \\\n\t--trusted-key \"$root/keys/trusted-%zu.pem\"", i + 1);
	for (i = 0; !rc && bt->env && bt->env[i]; i++)
		rc = sh_opt(&b, "--env", bt->env[i]);
	if (!rc)
		rc = mdeploy__buf_puts(&b, " \\\n\tpull");
	if (!rc) rc = mdeploy__buf_puts(&b, " ");
	if (!rc) rc = sh_quote(&b, url);
	if (!rc) rc = mdeploy__buf_puts(&b, "\n");
	if (!rc && b.size > 12000) /* EC2 takes 16 KB, base64'd */
		rc = mdeploy__error_set(MDEPLOY_EINVALID, CLS, "aws: the agent's user data would take %zu bytes (EC2 "
		                        "takes 16 KB base64-encoded): fewer hook variables", b.size);
	if (!rc)
		*out = mdeploy__buf_detach(&b);
out:
	mdeploy__buf_dispose(&b);
	free(url);
	free(report);
	return rc;
}

static char *base64(const char *s)
{
	size_t n = strlen(s);
	char *out = malloc(4 * ((n + 2) / 3) + 1);
	if (out)
		EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
	return out;
}

int mdeploy_awsp__agent_stage(mdeploy_provider *p, const mdeploy_agent_boot *bt, const char *lt,
                              const char *source_version, char **version)
{
	mdeploy_awsp *a = MDEPLOY_AWSP(p);
	mdeploy_awsp__s3 s3;
	const char *bucket, *base = strrchr(bt->bundle, '/');
	char *key = NULL, *ud = NULL, *ud64 = NULL, desc[160];
	uint64_t have = 0;
	xmlDoc *doc = NULL;
	int rc;

	*version = NULL;
	if ((rc = bucket_of(p, &bucket)))
		return rc;
	memset(&s3, 0, sizeof(s3));
	s3.client = a->client;
	s3.bucket = (char *)bucket;
	s3.part_size = (size_t)16 << 20;
	s3.parallel = 4;
	base = base ? base + 1 : bt->bundle;
	/* Content-addressed: the same bundle is put once, whatever deploys it. */
	if (!(key = mdeploy__sprintf("%s/bundles/%s/%s", prefix_of(p), bt->bundle_sha256, base)))
		return mdeploy__error_oom();
	rc = mdeploy_awsp__s3_head(&s3, key, &have);
	if (rc == MDEPLOY_ENOTFOUND || !rc) {
		mdeploy__log(p->ctx, MDEPLOY_LOG_DEBUG, "aws", "call s3:%s", rc ? "PutObject" : "HeadObject");
		rc = rc ? mdeploy_awsp__s3_put_file(&s3, key, bt->bundle, bt->bundle_sha256) : 0;
	}
	if (rc) {
		mdeploy__error_prefix("aws: staging the bundle in s3://%s/%s", bucket, key);
		goto out;
	}
	if ((rc = user_data(p, bt, bucket, key, &ud)))
		goto out;
	if (!(ud64 = base64(ud))) {
		rc = mdeploy__error_oom();
		goto out;
	}
	snprintf(desc, sizeof(desc), "mdeploy %s: agent pull of %.64s", bt->deployment_id, bt->bundle_sha256);
	{
		const char *q[] = { "LaunchTemplateName", lt, "SourceVersion", source_version,
		                    "VersionDescription", desc, "LaunchTemplateData.UserData", ud64, NULL };
		if ((rc = mdeploy_awsp__ec2(p, "CreateLaunchTemplateVersion", q, &doc)))
			goto out;
	}
	if (!(*version = mdeploy_aws__xml_text(doc, "launchTemplateVersion/versionNumber")))
		rc = mdeploy__error_set(MDEPLOY_ERROR, CLS, "aws: ec2:CreateLaunchTemplateVersion answered no version");
out:
	xmlFreeDoc(doc);
	if (ud) {
		memset(ud, 0, strlen(ud));
		free(ud);
	}
	free(ud64);
	free(key);
	return rc;
}

int mdeploy_awsp__agent_report(mdeploy_provider *p, const char *deployment, const char *instance, char **json)
{
	mdeploy_awsp__s3 s3;
	mdeploy__buf b = { 0 };
	const char *bucket;
	char *key;
	int rc;

	if ((rc = bucket_of(p, &bucket)))
		return rc;
	memset(&s3, 0, sizeof(s3));
	s3.client = MDEPLOY_AWSP(p)->client;
	s3.bucket = (char *)bucket;
	if (!(key = mdeploy__sprintf("%s/reports/%s/%s.json", prefix_of(p), deployment, instance)))
		return mdeploy__error_oom();
	mdeploy__log(p->ctx, MDEPLOY_LOG_DEBUG, "aws", "call s3:GetObject");
	rc = mdeploy_awsp__s3_get_mem(&s3, key, &b, NULL);
	if (!rc && !(*json = mdeploy__buf_detach(&b)))
		rc = mdeploy__error_oom();
	if (rc == MDEPLOY_ENOTFOUND)
		mdeploy__error_set(rc, CLS, "aws: no report of instance %s for %s yet (s3://%s/%s)", instance,
		                   deployment, bucket, key);
	mdeploy__buf_dispose(&b);
	free(key);
	return rc;
}

/* ---- the agent's side: s3://bucket/key with the instance's credentials ---- */

static int s3_open(mdeploy_awsp__s3 *s3, char **key, const char *url, const char *region, const char *endpoint)
{
	mdeploy_aws__client_options co;
	const char *slash;
	int rc;

	memset(s3, 0, sizeof(*s3));
	*key = NULL;
	if (strncmp(url, "s3://", 5) || !(slash = strchr(url + 5, '/')) || slash == url + 5 || !slash[1])
		return mdeploy__error_set(MDEPLOY_EINVALID, CLS, "'%s' is not an S3 location (s3://BUCKET/KEY)", url);
	memset(&co, 0, sizeof(co));
	co.region = region;
	co.endpoint = endpoint;
	if ((rc = mdeploy_aws__client_new(&s3->client, &co)))
		return rc;
	if (!(s3->bucket = strndup(url + 5, (size_t)(slash - url - 5))) || !(*key = mdeploy__strdup(slash + 1))) {
		mdeploy_aws__client_free(s3->client);
		free(s3->bucket);
		return mdeploy__error_oom();
	}
	s3->part_size = (size_t)16 << 20;
	s3->parallel = 4;
	return 0;
}

static void s3_close(mdeploy_awsp__s3 *s3, char *key)
{
	mdeploy_aws__client_free(s3->client);
	free(s3->bucket);
	free(key);
}

int mdeploy_awsp__agent_get(const char *url, const char *region, const char *endpoint, const char *file)
{
	mdeploy_awsp__s3 s3;
	char *key;
	int fd, rc = s3_open(&s3, &key, url, region, endpoint);
	if (rc)
		return rc;
	if ((fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
		rc = mdeploy__error_os(CLS, "%s", file);
	} else {
		rc = mdeploy_awsp__s3_get_fd(&s3, key, fd);
		if (close(fd) != 0 && !rc)
			rc = mdeploy__error_os(CLS, "%s", file);
	}
	if (rc && rc != MDEPLOY_ENOMEM)
		mdeploy__error_prefix("fetching %s", url);
	s3_close(&s3, key);
	return rc;
}

int mdeploy_awsp__agent_put(const char *url, const char *region, const char *endpoint, const char *data, size_t len)
{
	mdeploy_awsp__s3 s3;
	char *key;
	int rc = s3_open(&s3, &key, url, region, endpoint);
	if (rc)
		return rc;
	rc = mdeploy_awsp__s3_put_mem(&s3, key, data, len, "application/json", NULL, 0);
	if (rc && rc != MDEPLOY_ENOMEM)
		mdeploy__error_prefix("writing %s", url);
	s3_close(&s3, key);
	return rc;
}
