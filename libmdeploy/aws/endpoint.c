/*
 * endpoint.c - the AWS client handle: profile (shared config and credentials
 * files, as the AWS CLI reads them), region and endpoints.
 *
 * Region: the caller's (mdeploy.yml), AWS_REGION, AWS_DEFAULT_REGION, the
 * profile's `region`. Endpoint of a service: the caller's (mdeploy.yml),
 * AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, the profile's
 * `endpoint_url`, then AWS's own (https://<service>.<region>.amazonaws.com);
 * AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true ignores the environment and
 * profile settings, as in the CLI.
 */
#include "aws/aws_private.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

static void ini_free(mdeploy_aws__ini_entry *e, size_t n)
{
	size_t i;
	for (i = 0; i < n; i++) {
		free(e[i].key);
		if (e[i].value) {
			/* values may be secrets (aws_secret_access_key) */
			memset(e[i].value, 0, strlen(e[i].value));
			free(e[i].value);
		}
	}
	free(e);
}

static char *trim(char *s)
{
	char *e;
	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = '\0';
	return s;
}

/*
 * The keys of section `want` of an INI file ("default", or "profile NAME" in
 * the config file). A missing file is no error. Nested sub-sections
 * (indented lines under a key with an empty value, e.g. `s3 =`) are skipped.
 */
static int ini_read(mdeploy_aws__ini_entry **out, size_t *n, const char *path, const char *want)
{
	char *data = NULL, *line, *save = NULL;
	size_t len, cap = 0;
	int in = 0, rc;
	mdeploy_aws__ini_entry *e = NULL;

	*out = NULL;
	*n = 0;
	if (!mdeploy__path_exists(path))
		return 0;
	if ((rc = mdeploy__file_read_max(&data, &len, path, 1 << 20)))
		return rc;
	for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *t = trim(line), *eq;
		if (!*t || *t == '#' || *t == ';')
			continue;
		if (*t == '[') {
			char *end = strchr(t, ']');
			if (end) {
				*end = '\0';
				in = !strcmp(trim(t + 1), want);
			}
			continue;
		}
		if (!in || line[0] == ' ' || line[0] == '\t' || !(eq = strchr(t, '=')))
			continue;
		*eq = '\0';
		if (*n == cap) {
			mdeploy_aws__ini_entry *g = realloc(e, (cap = cap ? cap * 2 : 8) * sizeof(*e));
			if (!g)
				goto oom;
			e = g;
		}
		e[*n].key = mdeploy__strdup(trim(t));
		e[*n].value = mdeploy__strdup(trim(eq + 1));
		if (!e[*n].key || !e[*n].value) {
			free(e[*n].key);
			free(e[*n].value);
			goto oom;
		}
		for (t = e[*n].key; *t; t++)
			*t = (char)tolower((unsigned char)*t);
		(*n)++;
	}
	memset(data, 0, len);
	free(data);
	*out = e;
	return 0;
oom:
	memset(data, 0, len);
	free(data);
	ini_free(e, *n);
	*n = 0;
	return mdeploy__error_oom();
}

static const char *ini_get(const mdeploy_aws__ini_entry *e, size_t n, const char *key)
{
	size_t i;
	for (i = 0; i < n; i++)
		if (!strcmp(e[i].key, key))
			return *e[i].value ? e[i].value : NULL;
	return NULL;
}

const char *mdeploy_aws__profile_value(const mdeploy_aws__client *c, const char *key)
{
	const char *v = ini_get(c->creds_file, c->ncreds_file, key);
	return v ? v : ini_get(c->config, c->nconfig, key);
}

static char *home_path(const char *envname, const char *rel)
{
	const char *v = env(envname), *home = env("HOME");
	if (v) {
		if (v[0] == '~' && v[1] == '/' && home)
			return mdeploy__sprintf("%s/%s", home, v + 2);
		return mdeploy__strdup(v);
	}
	return home ? mdeploy__sprintf("%s/%s", home, rel) : NULL;
}

static int check_region(const char *r, const char *from)
{
	const char *p;
	for (p = r; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-')
			break;
	if (*p || p == r || p - r > 40)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_CONFIG,
		                          "aws: region '%s' (from %s) is not a region name like eu-west-1", r, from);
	return 0;
}

int mdeploy_aws__client_new(mdeploy_aws__client **out, const mdeploy_aws__client_options *o)
{
	mdeploy_aws__client *c;
	char *path, *section;
	const char *region = NULL, *from = NULL, *v;
	int rc;

	*out = NULL;
	if (!(c = calloc(1, sizeof(*c))))
		return mdeploy__error_oom();
	pthread_mutex_init(&c->lock, NULL);
	c->profile = mdeploy__strdup(o && o->profile ? o->profile
	                             : env("AWS_PROFILE") ? env("AWS_PROFILE")
	                             : env("AWS_DEFAULT_PROFILE") ? env("AWS_DEFAULT_PROFILE") : "default");
	if (!c->profile) {
		rc = MDEPLOY_ENOMEM;
		goto fail;
	}
	/* The config file names profiles "[profile NAME]", except [default]. */
	path = home_path("AWS_CONFIG_FILE", ".aws/config");
	section = strcmp(c->profile, "default") ? mdeploy__sprintf("profile %s", c->profile) : mdeploy__strdup("default");
	rc = path && section ? ini_read(&c->config, &c->nconfig, path, section) : MDEPLOY_ENOMEM;
	free(path);
	free(section);
	if (rc)
		goto fail;
	path = home_path("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials");
	rc = path ? ini_read(&c->creds_file, &c->ncreds_file, path, c->profile) : MDEPLOY_ENOMEM;
	free(path);
	if (rc)
		goto fail;
	/* A profile named by the user must exist (the CLI says "The config
	 * profile (x) could not be found"); the default one may be absent. */
	if (strcmp(c->profile, "default") && !c->nconfig && !c->ncreds_file) {
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_CONFIG,
		                        "aws: profile '%s' is in neither the shared config nor credentials file",
		                        c->profile);
		goto fail;
	}

	if (o && o->region)
		region = o->region, from = "mdeploy.yml";
	else if ((v = env("AWS_REGION")))
		region = v, from = "AWS_REGION";
	else if ((v = env("AWS_DEFAULT_REGION")))
		region = v, from = "AWS_DEFAULT_REGION";
	else if ((v = ini_get(c->config, c->nconfig, "region")))
		region = v, from = "the shared config file";
	if (!region) {
		rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_CONFIG,
		                        "aws: no region: set region in mdeploy.yml, AWS_REGION, or region in the "
		                        "profile '%s' of ~/.aws/config", c->profile);
		goto fail;
	}
	if ((rc = check_region(region, from)))
		goto fail;
	if (!(c->region = mdeploy__strdup(region)) ||
	    (o && o->endpoint && !(c->endpoint = mdeploy__strdup(o->endpoint)))) {
		rc = MDEPLOY_ENOMEM;
		goto fail;
	}
	c->max_attempts = 3;
	if ((v = env("AWS_MAX_ATTEMPTS"))) {
		char *end;
		long n = strtol(v, &end, 10);
		if (*end || n < 1 || n > 20) {
			rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_CONFIG,
			                        "aws: AWS_MAX_ATTEMPTS '%s' must be a number from 1 to 20", v);
			goto fail;
		}
		c->max_attempts = (int)n;
	}
	c->retry_tokens = 500;
	*out = c;
	return 0;
fail:
	mdeploy_aws__client_free(c);
	return rc;
}

void mdeploy_aws__client_free(mdeploy_aws__client *c)
{
	if (!c)
		return;
	mdeploy_aws__creds_dispose(&c->creds);
	ini_free(c->config, c->nconfig);
	ini_free(c->creds_file, c->ncreds_file);
	free(c->region);
	free(c->endpoint);
	free(c->profile);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

const char *mdeploy_aws__client_region(const mdeploy_aws__client *c)
{
	return c->region;
}

static int check_url(const char *url, const char *from)
{
	if (strncmp(url, "https://", 8) && strncmp(url, "http://", 7))
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_CONFIG,
		                          "aws: endpoint '%s' (from %s) must start with https:// or http://", url, from);
	return 0;
}

int mdeploy_aws__endpoint(char **out, int *custom, const mdeploy_aws__client *c, const char *host_prefix,
                          const char *env_id)
{
	const char *v = NULL, *from = NULL, *ign = env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
	char name[96];
	size_t len;
	int rc;

	*out = NULL;
	*custom = 1;
	snprintf(name, sizeof(name), "AWS_ENDPOINT_URL_%s", env_id);
	if (c->endpoint)
		v = c->endpoint, from = "mdeploy.yml";
	else if (!(ign && !strcasecmp(ign, "true"))) {
		if ((v = env(name)))
			from = name;
		else if ((v = env("AWS_ENDPOINT_URL")))
			from = "AWS_ENDPOINT_URL";
		else if ((v = ini_get(c->config, c->nconfig, "endpoint_url")))
			from = "the profile's endpoint_url";
	}
	if (v) {
		if ((rc = check_url(v, from)))
			return rc;
		len = strlen(v);
		while (len > 0 && v[len - 1] == '/')
			len--;
		*out = strndup(v, len);
	} else {
		*custom = 0;
		*out = mdeploy__sprintf("https://%s.%s.amazonaws.com", host_prefix, c->region);
	}
	return *out ? 0 : mdeploy__error_oom();
}
