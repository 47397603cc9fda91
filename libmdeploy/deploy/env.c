/*
 * env.c - what the orchestrator gives every hook of a group, beside the
 * agent's own variables (see mdeploy-hooks(7)):
 *
 *   MDEPLOY_DEPLOYMENT_KIND  install, upgrade, code-only or downgrade (plan.c)
 *   MDEPLOY_HTTP_PORT   the port every instance of the group serves on
 *   MDEPLOY_LB_URL      the group's load balancer, as users reach it
 *   NAME                each parameter /APP/GROUP/NAME (newest version)
 *   NAME                each secret APP/GROUP/NAME (current version)
 *
 * Values travel in memory into the hooks' environment through execve(2),
 * which only the hook's user (and root) can read: never on a command line,
 * in a file, a log or the journal; the agent masks the secrets' values in
 * what hooks print to the deployment log. The list is wiped when freed.
 */
#include "deploy_private.h"
#include "mdeploy/params.h"
#include "mdeploy/secrets.h"
#include "mdeploy/infra.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLS MDEPLOY_ERROR_CLASS_DEPLOY

/* Set by the agent or the orchestrator: a parameter cannot replace them. */
static const char *const reserved[] = {
	"LIFECYCLE_EVENT", "DEPLOYMENT_ID", "APPLICATION_NAME", "DEPLOYMENT_GROUP_NAME", "DEPLOYMENT_GROUP_ID",
	"MDEPLOY_INSTANCE_ID", "MDEPLOY_INSTANCE_ADDR", "MDEPLOY_RELEASE_DIR", "MDEPLOY_SHARED_DIR", "MDEPLOY_ROOT",
	"MDEPLOY_HTTP_PORT", "MDEPLOY_LB_URL", "MDEPLOY_DEPLOYMENT_KIND", "PATH", "HOME", "USER", "LOGNAME", "SHELL",
};

struct env_build {
	mdeploy_deploy__run *r;
	char **list;
	size_t n, cap;
	const char *prefix;     /* secrets: "APP/GROUP/" */
	mdeploy_secrets *secrets;
	char *names;            /* "\nNAME\n..." of the parameters, to find clashes */
	int rc;                 /* a callback's error, and its message */
	char msg[1024];
	const char **mask;      /* the secrets' values (inside list's strings) */
	size_t nmask;
};

static int env_name_ok(const char *s)
{
	const char *p;
	if (!*s || (*s >= '0' && *s <= '9'))
		return 0;
	for (p = s; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return 0;
	return 1;
}

static void wipe_free(char *s)
{
	volatile char *v = s;
	if (!s)
		return;
	while (*v)
		*v++ = '\0';
	free(s);
}

/* A store's list call replaces a callback's error with its own: keep ours. */
static int keep(struct env_build *b, int rc)
{
	if (rc && !b->rc) {
		b->rc = rc;
		snprintf(b->msg, sizeof(b->msg), "%s", mdeploy_error_last()->message);
	}
	return rc;
}

static int push(struct env_build *b, const char *key, const char *value)
{
	char *kv;
	if (b->n + 2 > b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 16;
		char **nl = realloc(b->list, cap * sizeof(*nl));
		if (!nl)
			return mdeploy__error_oom();
		b->list = nl;
		b->cap = cap;
	}
	if (!(kv = mdeploy__sprintf("%s=%s", key, value)))
		return mdeploy__error_oom();
	b->list[b->n++] = kv;
	b->list[b->n] = NULL;
	return 0;
}

/* A store name's last part as a variable name, or an error naming the entry. */
static int check_name(const char *what, const char *full, const char *key)
{
	size_t i;
	if (!env_name_ok(key))
		return mdeploy__error_set(MDEPLOY_EINVALID, CLS,
		                          "%s '%s': '%s' is not an environment variable name (letters, digits and '_', "
		                          "not starting with a digit)", what, full, key);
	for (i = 0; i < MDEPLOY__ARRAY_SIZE(reserved); i++)
		if (!strcmp(reserved[i], key))
			return mdeploy__error_set(MDEPLOY_EINVALID, CLS,
			                          "%s '%s': %s is set by mdeploy for every hook and cannot be replaced",
			                          what, full, key);
	return 0;
}

static int param_cb(const mdeploy_param *prm, void *payload)
{
	struct env_build *b = payload;
	const char *key = strrchr(prm->name, '/');
	char *names;
	int rc;
	key = key ? key + 1 : prm->name;
	if ((rc = check_name("parameter", prm->name, key)) || (rc = push(b, key, prm->value)))
		return keep(b, rc);
	if (!(names = mdeploy__sprintf("%s%s\n", b->names ? b->names : "\n", key)))
		return keep(b, mdeploy__error_oom());
	free(b->names);
	b->names = names;
	return 0;
}

static int secret_cb(const mdeploy_secret_info *info, void *payload)
{
	struct env_build *b = payload;
	size_t pl = strlen(b->prefix);
	const char *key;
	char *value = NULL, *needle;
	int rc, clash;
	if (strncmp(info->name, b->prefix, pl) || strchr(info->name + pl, '/'))
		return 0;
	key = info->name + pl;
	if ((rc = check_name("secret", info->name, key)))
		return keep(b, rc);
	if (!(needle = mdeploy__sprintf("\n%s\n", key)))
		return keep(b, mdeploy__error_oom());
	clash = b->names && strstr(b->names, needle);
	free(needle);
	if (clash)
		return keep(b, mdeploy__error_set(MDEPLOY_EINVALID, CLS,
		                                  "%s is both the parameter /%s%s and the secret %s: keep one",
		                                  key, b->prefix, key, info->name));
	if ((rc = mdeploy_secrets_get(&value, b->secrets, info->name, MDEPLOY_SECRET_CURRENT, NULL))) {
		mdeploy__error_prefix("secret '%s'", info->name);
		return keep(b, rc);
	}
	rc = push(b, key, value);
	mdeploy_secret_value_free(value);
	if (!rc) {
		const char **nm = realloc(b->mask, (b->nmask + 2) * sizeof(*nm));
		if (!nm)
			return keep(b, mdeploy__error_oom());
		b->mask = nm;
		b->mask[b->nmask++] = b->list[b->n - 1] + strlen(key) + 1;
		b->mask[b->nmask] = NULL;
	}
	return keep(b, rc);
}

char *mdeploy_deploy__lb_cert(mdeploy_provider *p, const mdeploy_group *g)
{
	if (g->tls_certificate)
		return mdeploy__strdup(g->tls_certificate);
	return mdeploy_provider_infra_lb_certificate(p);
}

int mdeploy_deploy__lb_url(mdeploy_provider *p, const mdeploy_group *g, char *out, size_t n)
{
	const char *listen = g->listen ? g->listen : "127.0.0.1:8000";
	const char *colon = strrchr(listen, ':');
	char *cert = mdeploy_deploy__lb_cert(p, g);
	int tls = cert != NULL;
	free(cert);
	size_t hl = colon ? (size_t)(colon - listen) : strlen(listen);
	const char *port = colon ? colon + 1 : "";
	int w;
	/* A default port is left out, as a user writes the URL (and Moodle's wwwroot). */
	if ((tls && !strcmp(port, "443")) || (!tls && !strcmp(port, "80")))
		port = "";
	w = snprintf(out, n, "%s://%.*s%s%s", tls ? "https" : "http", (int)hl, listen, *port ? ":" : "", port);
	if (w < 0 || (size_t)w >= n)
		return mdeploy__error_set(MDEPLOY_EINVALID, CLS, "load balancer address '%s' is too long", listen);
	return 0;
}

void mdeploy_deploy__env_free(mdeploy_deploy__run *r)
{
	size_t i;
	for (i = 0; r->env && r->env[i]; i++)
		wipe_free(r->env[i]);
	free(r->env);
	r->env = NULL;
	free(r->mask);
	r->mask = NULL;
}

int mdeploy_deploy__env_load(mdeploy_deploy__run *r)
{
	struct env_build b;
	mdeploy_params *params = NULL;
	char path[300], prefix[300], url[300], port[16];
	int rc;

	if (r->env)
		return 0;
	memset(&b, 0, sizeof(b));
	b.r = r;
	snprintf(port, sizeof(port), "%u", r->g->port);
	snprintf(path, sizeof(path), "/%s/%s", r->app, r->g->name);
	snprintf(prefix, sizeof(prefix), "%s/%s/", r->app, r->g->name);
	b.prefix = prefix;
	/* First: mdeploy_deploy__env_kind() replaces it when the plan's kind is known. */
	if ((rc = push(&b, "MDEPLOY_DEPLOYMENT_KIND", mdeploy_plan_kind_name(r->kind))) ||
	    (rc = mdeploy_deploy__lb_url(r->p, r->g, url, sizeof(url))) || (rc = push(&b, "MDEPLOY_HTTP_PORT", port)) ||
	    (rc = push(&b, "MDEPLOY_LB_URL", url)))
		goto out;
	if ((rc = mdeploy_params_open(&params, r->ctx, NULL)) ||
	    (rc = mdeploy_params_list(params, path, 0, param_cb, &b)))
		goto out;
	if ((rc = mdeploy_secrets_open(&b.secrets, r->ctx, NULL)) || (rc = mdeploy_secrets_list(b.secrets, secret_cb, &b)))
		goto out;
out:
	if (rc && b.rc)
		rc = mdeploy__error_set(b.rc, CLS, "%s", b.msg);
	mdeploy_params_free(params);
	mdeploy_secrets_free(b.secrets);
	free(b.names);
	if (rc) {
		size_t i;
		for (i = 0; i < b.n; i++)
			wipe_free(b.list[i]);
		free(b.list);
		free(b.mask);
		mdeploy__error_prefix("group %s: hook environment", r->g->name);
		return rc;
	}
	r->env = b.list;
	r->mask = b.mask;
	return 0;
}

int mdeploy_deploy__env_kind(mdeploy_deploy__run *r)
{
	char *kv;
	int rc;
	if (!r->env && (rc = mdeploy_deploy__env_load(r)))
		return rc;
	if (!(kv = mdeploy__sprintf("MDEPLOY_DEPLOYMENT_KIND=%s", mdeploy_plan_kind_name(r->kind))))
		return mdeploy__error_oom();
	wipe_free(r->env[0]);
	r->env[0] = kv;
	return 0;
}
