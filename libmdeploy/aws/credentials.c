/*
 * credentials.c - AWS credentials in the AWS CLI's order:
 *
 *  1. environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
 *  2. web identity: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN (or the
 *     profile's web_identity_token_file + role_arn) -> STS
 *     AssumeRoleWithWebIdentity (an unsigned call)
 *  3. a role to assume: the profile's role_arn with source_profile (the
 *     credentials of that profile, which may itself assume a role) or
 *     credential_source (Environment, Ec2InstanceMetadata, EcsContainer)
 *     -> STS AssumeRole signed with them (external_id, duration_seconds,
 *     role_session_name honoured; mfa_serial refused: it needs a person)
 *  4. the shared credentials file (AWS_SHARED_CREDENTIALS_FILE,
 *     ~/.aws/credentials), profile AWS_PROFILE or default, then the shared
 *     config file's keys for that profile
 *  5. the profile's credential_process (credentials_process.c)
 *  6. ECS/EKS container credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
 *     (on 169.254.170.2) or AWS_CONTAINER_CREDENTIALS_FULL_URI, with
 *     AWS_CONTAINER_AUTHORIZATION_TOKEN(_FILE)
 *  7. EC2 instance metadata with IMDSv2 tokens (AWS_EC2_METADATA_SERVICE_ENDPOINT,
 *     off with AWS_EC2_METADATA_DISABLED=true)
 *
 * Temporary credentials are refreshed 5 minutes before they expire. Nothing
 * here logs; secrets are wiped from memory when dropped.
 */
#include "aws/aws_private.h"

#include <jansson.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define REFRESH_MARGIN 300

static void wipe_free(char *s)
{
	if (s) {
		memset(s, 0, strlen(s));
		free(s);
	}
}

void mdeploy_aws__creds_dispose(mdeploy_aws__creds *c)
{
	wipe_free(c->access_key_id);
	wipe_free(c->secret_access_key);
	wipe_free(c->session_token);
	memset(c, 0, sizeof(*c));
}

static int creds_copy(mdeploy_aws__creds *dst, const mdeploy_aws__creds *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->access_key_id = mdeploy__strdup(src->access_key_id);
	dst->secret_access_key = mdeploy__strdup(src->secret_access_key);
	dst->session_token = src->session_token ? mdeploy__strdup(src->session_token) : NULL;
	dst->expiration = src->expiration;
	dst->source = src->source;
	if (!dst->access_key_id || !dst->secret_access_key || (src->session_token && !dst->session_token)) {
		mdeploy_aws__creds_dispose(dst);
		return mdeploy__error_oom();
	}
	return 0;
}

int mdeploy_aws__creds_set(mdeploy_aws__creds *c, const char *akid, const char *secret, const char *token,
                           int64_t expiration, const char *source)
{
	memset(c, 0, sizeof(*c));
	c->access_key_id = mdeploy__strdup(akid);
	c->secret_access_key = mdeploy__strdup(secret);
	c->session_token = token && *token ? mdeploy__strdup(token) : NULL;
	c->expiration = expiration;
	c->source = source;
	if (!c->access_key_id || !c->secret_access_key || (token && *token && !c->session_token)) {
		mdeploy_aws__creds_dispose(c);
		return mdeploy__error_oom();
	}
	return 0;
}

int mdeploy_aws__parse_time(int64_t *out, const char *s)
{
	struct tm tm;
	const char *end;
	memset(&tm, 0, sizeof(tm));
	if (!s || !(end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)))
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_NET, "aws: '%s' is not an ISO 8601 time",
		                          s ? s : "");
	*out = (int64_t)timegm(&tm);
	return 0;
}

static const char *env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

static int from_env(mdeploy_aws__creds *out)
{
	const char *id = env("AWS_ACCESS_KEY_ID"), *secret = env("AWS_SECRET_ACCESS_KEY");
	if (!id && !secret)
		return 1;
	if (!id || !secret)
		return mdeploy__error_set(MDEPLOY_EAUTH, MDEPLOY_ERROR_CLASS_CONFIG,
		                          "aws: %s is set but %s is not", id ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
		                          id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
	return mdeploy_aws__creds_set(out, id, secret, env("AWS_SESSION_TOKEN"), 0, "environment");
}

static int from_profile(mdeploy_aws__creds *out, mdeploy_aws__client *c)
{
	const char *id = mdeploy_aws__profile_value(c, "aws_access_key_id");
	const char *secret = mdeploy_aws__profile_value(c, "aws_secret_access_key");
	if (!id && !secret)
		return 1;
	if (!id || !secret)
		return mdeploy__error_set(MDEPLOY_EAUTH, MDEPLOY_ERROR_CLASS_CONFIG,
		                          "aws: profile '%s' has %s but not %s", c->profile,
		                          id ? "aws_access_key_id" : "aws_secret_access_key",
		                          id ? "aws_secret_access_key" : "aws_access_key_id");
	return mdeploy_aws__creds_set(out, id, secret, mdeploy_aws__profile_value(c, "aws_session_token"), 0,
	                 "shared credentials file");
}

/* {"AccessKeyId", "SecretAccessKey", "Token", "Expiration"} (ECS and IMDS). */
static int from_json(mdeploy_aws__creds *out, const char *body, size_t len, const char *source)
{
	json_error_t jerr;
	json_t *doc = json_loadb(body, len, 0, &jerr);
	const char *id, *secret, *token, *exp;
	int64_t expiration = 0;
	int rc;
	if (!doc || !json_is_object(doc)) {
		json_decref(doc);
		return mdeploy__error_set(MDEPLOY_EAUTH, MDEPLOY_ERROR_CLASS_NET,
		                          "aws: %s credentials: the answer is not a JSON object", source);
	}
	id = json_string_value(json_object_get(doc, "AccessKeyId"));
	secret = json_string_value(json_object_get(doc, "SecretAccessKey"));
	token = json_string_value(json_object_get(doc, "Token"));
	exp = json_string_value(json_object_get(doc, "Expiration"));
	if (!id || !secret) {
		json_decref(doc);
		return mdeploy__error_set(MDEPLOY_EAUTH, MDEPLOY_ERROR_CLASS_NET,
		                          "aws: %s credentials: no AccessKeyId/SecretAccessKey in the answer", source);
	}
	if (exp && (rc = mdeploy_aws__parse_time(&expiration, exp))) {
		json_decref(doc);
		return rc;
	}
	rc = mdeploy_aws__creds_set(out, id, secret, token, expiration, source);
	json_decref(doc);
	return rc;
}

static int web_identity(mdeploy_aws__creds *out, mdeploy_aws__client *c)
{
	const char *file = env("AWS_WEB_IDENTITY_TOKEN_FILE"), *role = env("AWS_ROLE_ARN");
	const char *session = env("AWS_ROLE_SESSION_NAME");
	char *token = NULL, *exp_s = NULL, *id = NULL, *secret = NULL, *stoken = NULL;
	char sess[64];
	size_t len;
	xmlDoc *doc = NULL;
	int64_t expiration = 0;
	int rc;

	if (!file || !role) {
		file = mdeploy_aws__profile_value(c, "web_identity_token_file");
		role = mdeploy_aws__profile_value(c, "role_arn");
		session = mdeploy_aws__profile_value(c, "role_session_name");
		if (!file || !role)
			return 1;
	}
	if (!session) {
		snprintf(sess, sizeof(sess), "mdeploy-%lld", (long long)time(NULL));
		session = sess;
	}
	if ((rc = mdeploy__file_read_max(&token, &len, file, 64 * 1024))) {
		mdeploy__error_prefix("aws: web identity token");
		return rc;
	}
	while (len > 0 && (token[len - 1] == '\n' || token[len - 1] == '\r'))
		token[--len] = '\0';
	{
		const char *params[] = { "RoleArn", role, "RoleSessionName", session, "WebIdentityToken", token, NULL };
		rc = mdeploy_aws__query_call(c, NULL, "STS", "2011-06-15", "AssumeRoleWithWebIdentity", params, &doc);
	}
	wipe_free(token);
	if (rc) {
		mdeploy__error_prefix("aws: web identity (role %s)", role);
		return rc == MDEPLOY_ENOTFOUND ? MDEPLOY_EAUTH : rc;
	}
	id = mdeploy_aws__xml_text(doc, "Credentials/AccessKeyId");
	secret = mdeploy_aws__xml_text(doc, "Credentials/SecretAccessKey");
	stoken = mdeploy_aws__xml_text(doc, "Credentials/SessionToken");
	exp_s = mdeploy_aws__xml_text(doc, "Credentials/Expiration");
	xmlFreeDoc(doc);
	if (!id || !secret)
		rc = mdeploy__error_set(MDEPLOY_EAUTH, MDEPLOY_ERROR_CLASS_NET,
		                        "aws: AssumeRoleWithWebIdentity answered without credentials");
	else if (!exp_s || !(rc = mdeploy_aws__parse_time(&expiration, exp_s)))
		rc = mdeploy_aws__creds_set(out, id, secret, stoken, expiration, "web identity");
	wipe_free(id);
	wipe_free(secret);
	wipe_free(stoken);
	free(exp_s);
	return rc;
}

static int get_plain(mdeploy_aws__client *c, mdeploy__buf *body, const char *method, const char *url,
                     const mdeploy_aws_header *h, size_t nh, long timeout_ms, int attempts)
{
	mdeploy_aws__request req = MDEPLOY_AWS__REQUEST_INIT;
	mdeploy_aws__response resp;
	int rc;
	req.method = method;
	req.url = url;
	req.headers = h;
	req.nheaders = nh;
	req.unsigned_request = 1;
	req.timeout_ms = timeout_ms;
	req.max_attempts = attempts;
	rc = mdeploy_aws__send(c, &req, &resp);
	if (!rc) {
		*body = resp.body;
		memset(&resp.body, 0, sizeof(resp.body));
	}
	mdeploy_aws__response_dispose(&resp);
	return rc;
}

static int container(mdeploy_aws__creds *out, mdeploy_aws__client *c)
{
	const char *rel = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"), *full = env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	const char *tokfile = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"), *tok = env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
	char *url, *filetok = NULL;
	mdeploy__buf body = MDEPLOY__BUF_INIT;
	mdeploy_aws_header h[1];
	size_t nh = 0, len;
	int rc;

	if (rel)
		url = mdeploy__sprintf("http://169.254.170.2%s", rel);
	else if (full)
		url = mdeploy__strdup(full);
	else
		return 1;
	if (!url)
		return mdeploy__error_oom();
	if (tokfile) {
		if ((rc = mdeploy__file_read_max(&filetok, &len, tokfile, 16 * 1024))) {
			free(url);
			return rc;
		}
		while (len > 0 && (filetok[len - 1] == '\n' || filetok[len - 1] == '\r'))
			filetok[--len] = '\0';
		tok = filetok;
	}
	if (tok)
		h[nh++] = (mdeploy_aws_header){ "Authorization", tok };
	rc = get_plain(c, &body, "GET", url, h, nh, 5000, 3);
	free(url);
	wipe_free(filetok);
	if (rc) {
		mdeploy__error_prefix("aws: container credentials");
		return rc;
	}
	rc = from_json(out, body.ptr ? body.ptr : "", body.size, "container");
	if (body.ptr)
		memset(body.ptr, 0, body.size);
	mdeploy__buf_dispose(&body);
	return rc;
}

static int imds(mdeploy_aws__creds *out, mdeploy_aws__client *c)
{
	const char *dis = env("AWS_EC2_METADATA_DISABLED"), *base = env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	mdeploy__buf token = MDEPLOY__BUF_INIT, role = MDEPLOY__BUF_INIT, body = MDEPLOY__BUF_INIT;
	mdeploy_aws_header h[1];
	char *url = NULL, *nl;
	size_t blen;
	int rc;

	if (dis && !strcasecmp(dis, "true"))
		return 1;
	if (!base)
		base = "http://169.254.169.254";
	blen = strlen(base);
	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	/* IMDSv2: a session token first (PUT), then the role and its credentials. */
	h[0] = (mdeploy_aws_header){ "X-aws-ec2-metadata-token-ttl-seconds", "21600" };
	if (!(url = mdeploy__sprintf("%.*s/latest/api/token", (int)blen, base)))
		return mdeploy__error_oom();
	rc = get_plain(c, &token, "PUT", url, h, 1, 1000, 1);
	free(url);
	if (rc) {
		/* Not on EC2 (or IMDS off): nothing left to try. */
		return 1;
	}
	h[0] = (mdeploy_aws_header){ "X-aws-ec2-metadata-token", token.ptr ? token.ptr : "" };
	if (!(url = mdeploy__sprintf("%.*s/latest/meta-data/iam/security-credentials/", (int)blen, base))) {
		rc = mdeploy__error_oom();
		goto out;
	}
	rc = get_plain(c, &role, "GET", url, h, 1, 1000, 2);
	free(url);
	if (rc) {
		if (rc == MDEPLOY_ENOTFOUND)
			rc = mdeploy__error_set(MDEPLOY_EAUTH, MDEPLOY_ERROR_CLASS_NET,
			                        "aws: instance metadata: this instance has no IAM role");
		goto out;
	}
	if (role.ptr && (nl = strchr(role.ptr, '\n')))
		*nl = '\0';
	if (!role.ptr || !*role.ptr) {
		rc = mdeploy__error_set(MDEPLOY_EAUTH, MDEPLOY_ERROR_CLASS_NET, "aws: instance metadata: no IAM role");
		goto out;
	}
	if (!(url = mdeploy__sprintf("%.*s/latest/meta-data/iam/security-credentials/%s", (int)blen, base, role.ptr))) {
		rc = mdeploy__error_oom();
		goto out;
	}
	rc = get_plain(c, &body, "GET", url, h, 1, 1000, 2);
	free(url);
	if (!rc)
		rc = from_json(out, body.ptr ? body.ptr : "", body.size, "instance metadata");
out:
	if (token.ptr)
		memset(token.ptr, 0, token.size);
	if (body.ptr)
		memset(body.ptr, 0, body.size);
	mdeploy__buf_dispose(&token);
	mdeploy__buf_dispose(&role);
	mdeploy__buf_dispose(&body);
	return rc;
}

/* The credentials of STS's <Credentials> in an answer. */
static int sts_credentials(mdeploy_aws__creds *out, xmlDoc *doc, const char *action, const char *source)
{
	char *id = mdeploy_aws__xml_text(doc, "Credentials/AccessKeyId");
	char *secret = mdeploy_aws__xml_text(doc, "Credentials/SecretAccessKey");
	char *stoken = mdeploy_aws__xml_text(doc, "Credentials/SessionToken");
	char *exp_s = mdeploy_aws__xml_text(doc, "Credentials/Expiration");
	int64_t expiration = 0;
	int rc;

	if (!id || !secret)
		rc = mdeploy__error_set(MDEPLOY_EAUTH, MDEPLOY_ERROR_CLASS_NET, "aws: %s answered without credentials", action);
	else if (!exp_s || !(rc = mdeploy_aws__parse_time(&expiration, exp_s)))
		rc = mdeploy_aws__creds_set(out, id, secret, stoken, expiration, source);
	wipe_free(id);
	wipe_free(secret);
	wipe_free(stoken);
	free(exp_s);
	return rc;
}

#define MAX_ROLE_HOPS 5

static int assume_role(mdeploy_aws__creds *out, mdeploy_aws__client *c)
{
	const char *role = mdeploy_aws__profile_value(c, "role_arn");
	const char *src = mdeploy_aws__profile_value(c, "source_profile");
	const char *csrc = mdeploy_aws__profile_value(c, "credential_source");
	const char *session = mdeploy_aws__profile_value(c, "role_session_name");
	const char *ext = mdeploy_aws__profile_value(c, "external_id");
	const char *duration = mdeploy_aws__profile_value(c, "duration_seconds");
	const char *params[11];
	mdeploy_aws__client_options o;
	mdeploy_aws__client *sub = NULL;
	mdeploy_aws__creds seed;
	xmlDoc *doc = NULL;
	char sess[64];
	size_t np = 0;
	int rc;

	if (!role || (!src && !csrc))
		return 1; /* not a role profile (role_arn with web_identity_token_file: web identity) */
	if (src && csrc)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_CONFIG,
		                          "aws: profile '%s' has both source_profile and credential_source", c->profile);
	if (mdeploy_aws__profile_value(c, "mfa_serial"))
		return mdeploy__error_set(MDEPLOY_EUNSUPPORTED, MDEPLOY_ERROR_CLASS_CONFIG,
		                          "aws: profile '%s' asks for an MFA code (mfa_serial), which mdeploy cannot type: "
		                          "use a role without MFA for automation", c->profile);
	if (c->depth >= MAX_ROLE_HOPS)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_CONFIG,
		                          "aws: profile '%s': more than %d source_profile hops (a loop?)", c->profile,
		                          MAX_ROLE_HOPS);
	memset(&seed, 0, sizeof(seed));
	if (csrc) {
		if (!strcmp(csrc, "Environment"))
			rc = from_env(&seed);
		else if (!strcmp(csrc, "Ec2InstanceMetadata"))
			rc = imds(&seed, c);
		else if (!strcmp(csrc, "EcsContainer"))
			rc = container(&seed, c);
		else
			return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_CONFIG,
			                          "aws: profile '%s': credential_source '%s' is not Environment, "
			                          "Ec2InstanceMetadata or EcsContainer", c->profile, csrc);
		if (rc > 0)
			return mdeploy__error_set(MDEPLOY_EAUTH, MDEPLOY_ERROR_CLASS_CONFIG,
			                          "aws: profile '%s': credential_source %s has no credentials", c->profile, csrc);
		if (rc)
			return rc;
	} else if (!strcmp(src, c->profile)) {
		/* A profile that is its own source: its static keys, as the AWS CLI does. */
		if ((rc = from_profile(&seed, c)) > 0)
			return mdeploy__error_set(MDEPLOY_EAUTH, MDEPLOY_ERROR_CLASS_CONFIG,
			                          "aws: profile '%s' is its own source_profile but has no keys", c->profile);
		if (rc)
			return rc;
	}
	o.region = c->region;
	o.endpoint = c->endpoint;
	o.profile = seed.access_key_id ? c->profile : src;
	if ((rc = mdeploy_aws__client_new(&sub, &o))) {
		mdeploy_aws__creds_dispose(&seed);
		mdeploy__error_prefix("aws: profile '%s': source_profile", c->profile);
		return rc;
	}
	sub->depth = c->depth + 1;
	if (seed.access_key_id) {
		sub->creds = seed; /* the sub-client owns them now */
		sub->have_creds = 1;
	}
	if (!session) {
		snprintf(sess, sizeof(sess), "mdeploy-%lld", (long long)time(NULL));
		session = sess;
	}
	params[np++] = "RoleArn";
	params[np++] = role;
	params[np++] = "RoleSessionName";
	params[np++] = session;
	if (ext) {
		params[np++] = "ExternalId";
		params[np++] = ext;
	}
	if (duration) {
		params[np++] = "DurationSeconds";
		params[np++] = duration;
	}
	params[np] = NULL;
	rc = mdeploy_aws__query_call(sub, "sts", "STS", "2011-06-15", "AssumeRole", params, &doc);
	mdeploy_aws__client_free(sub);
	if (rc) {
		mdeploy__error_prefix("aws: profile '%s': assuming role %s", c->profile, role);
		return rc == MDEPLOY_ENOTFOUND ? MDEPLOY_EAUTH : rc;
	}
	rc = sts_credentials(out, doc, "AssumeRole", "assumed role");
	xmlFreeDoc(doc);
	return rc;
}

static int resolve(mdeploy_aws__creds *out, mdeploy_aws__client *c)
{
	int rc;
	if ((rc = from_env(out)) <= 0)
		return rc;
	if ((rc = assume_role(out, c)) <= 0)
		return rc;
	if ((rc = web_identity(out, c)) <= 0)
		return rc;
	if ((rc = from_profile(out, c)) <= 0)
		return rc;
	if ((rc = mdeploy_aws__credential_process(out, c)) <= 0)
		return rc;
	if ((rc = container(out, c)) <= 0)
		return rc;
	if ((rc = imds(out, c)) <= 0)
		return rc;
	return mdeploy__error_set(MDEPLOY_EAUTH, MDEPLOY_ERROR_CLASS_CONFIG,
	                          "aws: no credentials: tried the environment (AWS_ACCESS_KEY_ID), web identity "
	                          "(AWS_WEB_IDENTITY_TOKEN_FILE), the profile '%s' of the shared credentials and config "
	                          "files (keys, role_arn, credential_process), container credentials and EC2 instance "
	                          "metadata",
	                          c->profile);
}

int mdeploy_aws__credentials(mdeploy_aws__creds *out, mdeploy_aws__client *c)
{
	mdeploy_aws__creds fresh;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&c->lock);
	if (c->have_creds && c->creds.expiration && (int64_t)time(NULL) + REFRESH_MARGIN >= c->creds.expiration) {
		mdeploy_aws__creds_dispose(&c->creds);
		c->have_creds = 0;
	}
	if (!c->have_creds) {
		/* resolve() may call STS/IMDS through mdeploy_aws__send(), which
		 * takes the lock for the retry quota: resolve unlocked. */
		pthread_mutex_unlock(&c->lock);
		rc = resolve(&fresh, c);
		pthread_mutex_lock(&c->lock);
		if (!rc && !c->have_creds) {
			c->creds = fresh;
			c->have_creds = 1;
		} else if (!rc) {
			mdeploy_aws__creds_dispose(&fresh);
		}
	}
	if (!rc)
		rc = creds_copy(out, &c->creds);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int mdeploy_aws__credentials_reset(mdeploy_aws__client *c)
{
	int reset = 0;
	pthread_mutex_lock(&c->lock);
	if (c->have_creds && c->creds.expiration) {
		mdeploy_aws__creds_dispose(&c->creds);
		c->have_creds = 0;
		reset = 1;
	}
	pthread_mutex_unlock(&c->lock);
	return reset;
}
