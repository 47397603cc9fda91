/*
 * config_groups.c - the `groups` section of mdeploy.yml: deployment groups
 * (fleet, load balancer, health check, deployment configuration, strategy,
 * traffic shifting, alarms, rollback, blue retention), and CodeDeploy's
 * deployment configurations.
 */
#include "config_private.h"
#include "mdeploy/group.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

struct fleet_raw { unsigned int *size, *min, *max, *port; char *launch_template, *subnets; };
struct lb_raw { char *listen; unsigned int *slots; char *tls_certificate; };
struct health_raw {
	char *path; unsigned int *status; char *interval, *timeout, *host;
	unsigned int *healthy_threshold, *unhealthy_threshold;
};
struct mhh_raw { char *type; unsigned int *value; };
struct traffic_raw { char *type; unsigned int *percent; char *interval; };
struct alarms_raw { unsigned int *http_5xx_percent, *unhealthy_hosts; char *window; };
struct rollback_raw { bool *on_failure, *on_alarm; };
struct cdn_raw { char *distribution; char **invalidate; unsigned int invalidate_count; };
#define CDN_MAX_PATHS 30

/* The public part first, so a pointer to the entry is a pointer to an mdeploy_group. */
struct group_entry {
	mdeploy_group pub;
	char field[32];
	char tls_abs[PATH_MAX + 256];
	char keys_abs[MDEPLOY_GROUP_MAX_KEYS][PATH_MAX + 256];
	const char *keys[MDEPLOY_GROUP_MAX_KEYS + 1];
	/* as libcyaml fills them */
	char *name, *strategy, *deployment_config, *promotion, *drain_timeout, *blue_retention;
	struct fleet_raw *fleet;
	struct lb_raw *load_balancer;
	struct health_raw *health_check;
	struct mhh_raw *minimum_healthy_hosts;
	struct traffic_raw *traffic_shift;
	struct alarms_raw *alarms;
	struct rollback_raw *rollback;
	char **trusted_keys;
	unsigned int trusted_keys_count;
	struct cdn_raw *cdn;
	const char *cdn_paths[CDN_MAX_PATHS + 1];
};

struct mdeploy_config__groups {
	struct group_entry e;
};

#define OPT (CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL)
#define STR(key, type, member) MDEPLOY_CONFIG__STRING(key, CYAML_FLAG_OPTIONAL, type, member)
#define UINTP(key, type, member) CYAML_FIELD_UINT_PTR(key, OPT, type, member)

static const cyaml_schema_field_t fleet_fields[] = {
	UINTP("size", struct fleet_raw, size),
	UINTP("min", struct fleet_raw, min),
	UINTP("max", struct fleet_raw, max),
	UINTP("port", struct fleet_raw, port),
	STR("launch_template", struct fleet_raw, launch_template),
	STR("subnets", struct fleet_raw, subnets),
	CYAML_FIELD_END
};
static const cyaml_schema_field_t lb_fields[] = {
	STR("listen", struct lb_raw, listen),
	UINTP("slots", struct lb_raw, slots),
	STR("tls_certificate", struct lb_raw, tls_certificate),
	CYAML_FIELD_END
};
static const cyaml_schema_field_t health_fields[] = {
	STR("path", struct health_raw, path),
	UINTP("status", struct health_raw, status),
	STR("interval", struct health_raw, interval),
	STR("timeout", struct health_raw, timeout),
	STR("host", struct health_raw, host),
	UINTP("healthy_threshold", struct health_raw, healthy_threshold),
	UINTP("unhealthy_threshold", struct health_raw, unhealthy_threshold),
	CYAML_FIELD_END
};
static const cyaml_schema_field_t mhh_fields[] = {
	STR("type", struct mhh_raw, type),
	UINTP("value", struct mhh_raw, value),
	CYAML_FIELD_END
};
static const cyaml_schema_field_t traffic_fields[] = {
	STR("type", struct traffic_raw, type),
	UINTP("percent", struct traffic_raw, percent),
	STR("interval", struct traffic_raw, interval),
	CYAML_FIELD_END
};
static const cyaml_schema_field_t alarms_fields[] = {
	UINTP("http_5xx_percent", struct alarms_raw, http_5xx_percent),
	UINTP("unhealthy_hosts", struct alarms_raw, unhealthy_hosts),
	STR("window", struct alarms_raw, window),
	CYAML_FIELD_END
};
static const cyaml_schema_field_t rollback_fields[] = {
	CYAML_FIELD_BOOL_PTR("on_failure", OPT, struct rollback_raw, on_failure),
	CYAML_FIELD_BOOL_PTR("on_alarm", OPT, struct rollback_raw, on_alarm),
	CYAML_FIELD_END
};

static const cyaml_schema_value_t key_path_schema = {
	CYAML_VALUE_STRING(CYAML_FLAG_POINTER, char, 0, CYAML_UNLIMITED),
};

static const cyaml_schema_value_t cdn_path_schema = {
	CYAML_VALUE_STRING(CYAML_FLAG_POINTER, char, 0, CYAML_UNLIMITED),
};
static const cyaml_schema_field_t cdn_fields[] = {
	STR("distribution", struct cdn_raw, distribution),
	CYAML_FIELD_SEQUENCE("invalidate", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL, struct cdn_raw, invalidate,
	                     &cdn_path_schema, 0, CYAML_UNLIMITED),
	CYAML_FIELD_END
};

#define SUB(key, type, fields) CYAML_FIELD_MAPPING_PTR(#key, OPT, struct group_entry, key, fields)

static const cyaml_schema_field_t group_fields[] = {
	STR("name", struct group_entry, name),
	STR("strategy", struct group_entry, strategy),
	SUB(fleet, struct fleet_raw, fleet_fields),
	SUB(load_balancer, struct lb_raw, lb_fields),
	SUB(health_check, struct health_raw, health_fields),
	STR("deployment_config", struct group_entry, deployment_config),
	SUB(minimum_healthy_hosts, struct mhh_raw, mhh_fields),
	SUB(traffic_shift, struct traffic_raw, traffic_fields),
	STR("promotion", struct group_entry, promotion),
	SUB(alarms, struct alarms_raw, alarms_fields),
	SUB(rollback, struct rollback_raw, rollback_fields),
	STR("drain_timeout", struct group_entry, drain_timeout),
	STR("blue_retention", struct group_entry, blue_retention),
	CYAML_FIELD_SEQUENCE("trusted_keys", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL, struct group_entry,
	                     trusted_keys, &key_path_schema, 0, CYAML_UNLIMITED),
	SUB(cdn, struct cdn_raw, cdn_fields),
	CYAML_FIELD_END
};

static const cyaml_schema_value_t group_schema = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct group_entry, group_fields),
};

const cyaml_schema_value_t mdeploy_config__groups_schema = {
	CYAML_VALUE_SEQUENCE(CYAML_FLAG_POINTER, struct group_entry, &group_schema, 0, CYAML_UNLIMITED),
};

int mdeploy_duration_parse(const char *s, unsigned int *ms)
{
	char *end;
	double v;
	double mult = 1000;

	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_CONFIG, "'%s' is not a duration", s ? s : "");
	v = strtod(s, &end);
	if (end == s)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_CONFIG, "'%s' is not a duration", s);
	if (!strcmp(end, "ms")) mult = 1;
	else if (!strcmp(end, "s") || !*end) mult = 1000;
	else if (!strcmp(end, "m")) mult = 60000;
	else if (!strcmp(end, "h")) mult = 3600000;
	else
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_CONFIG,
		                          "'%s' is not a duration (use 500ms, 30s, 5m or 1h)", s);
	v *= mult;
	if (v < 0 || v > (double)UINT_MAX)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_CONFIG, "duration '%s' is out of range", s);
	*ms = (unsigned int)v;
	return 0;
}

int mdeploy_deployment_config_lookup(mdeploy_deployment_config *out, const char *name)
{
	static const mdeploy_deployment_config known[] = {
		{ "CodeDeployDefault.AllAtOnce", MDEPLOY_MHH_HOST_COUNT, 0 },
		{ "CodeDeployDefault.HalfAtATime", MDEPLOY_MHH_FLEET_PERCENT, 50 },
		{ "CodeDeployDefault.OneAtATime", MDEPLOY_MHH_MOST_CONCURRENCY, 1 },
	};
	size_t i;
	const char *n = name && !strncmp(name, "CodeDeployDefault.", 18) ? name + 18 : name;
	for (i = 0; n && i < MDEPLOY__ARRAY_SIZE(known); i++)
		if (!strcmp(n, known[i].name + 18)) {
			*out = known[i];
			return 0;
		}
	return mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_CONFIG,
		"unknown deployment configuration '%s' (use AllAtOnce, HalfAtATime, OneAtATime or Custom "
		"with minimum_healthy_hosts)", name ? name : "");
}

int mdeploy_deployment_config_plan(const mdeploy_deployment_config *c, unsigned int n,
                                   unsigned int *min_healthy, unsigned int *batch)
{
	unsigned int min;
	switch (c->mhh_type) {
	case MDEPLOY_MHH_MOST_CONCURRENCY:
		min = n ? n - 1 : 0;
		break;
	case MDEPLOY_MHH_FLEET_PERCENT:
		if (c->mhh_value > 99 && n > 0)
			return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_DEPLOY,
				"%s: keeping %u%% of %u instances healthy leaves none to deploy to",
				c->name, c->mhh_value, n);
		min = (unsigned int)(((unsigned long long)n * c->mhh_value + 99) / 100);
		break;
	default:
		min = c->mhh_value;
		if (n > 0 && min >= n)
			return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_DEPLOY,
				"%s: keeping %u of %u instances healthy leaves none to deploy to", c->name, min, n);
		break;
	}
	if (min_healthy)
		*min_healthy = min;
	if (batch)
		*batch = n > min ? n - min : 1;
	return 0;
}

int mdeploy_deployment_config_succeeded(const mdeploy_deployment_config *c, unsigned int n,
                                        unsigned int succeeded, int last_failed_only)
{
	unsigned int min = 0;
	if (c->mhh_type == MDEPLOY_MHH_MOST_CONCURRENCY)
		return succeeded == n || (n > 1 && succeeded == n - 1 && last_failed_only);
	if (mdeploy_deployment_config_plan(c, n, &min, NULL))
		return 0;
	return succeeded >= (min ? min : 1);
}

/* Group names go into fleet and load balancer names: keep them plain. */
static int name_ok(const char *s)
{
	size_t i, n = strlen(s);
	if (n == 0 || n > 40 || s[0] < 'a' || s[0] > 'z' || s[n - 1] == '-')
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

/* A host name, IPv4 address or [IPv6] address, with an optional :PORT. */
static int health_host_ok(const char *h)
{
	size_t i, n = strlen(h);
	if (n == 0 || n > 261)
		return 0;
	for (i = 0; i < n; i++)
		if (!((h[i] | 32) >= 'a' && (h[i] | 32) <= 'z') && !(h[i] >= '0' && h[i] <= '9') &&
		    !strchr(".-:[]", h[i]))
			return 0;
	return h[0] != '-' && h[0] != '.' && h[0] != ':';
}

static int duration_field(mdeploy_config__problems *p, const char *field, const char *value,
                          unsigned int def, unsigned int *out)
{
	if (!value) {
		*out = def;
		return 0;
	}
	if (mdeploy_duration_parse(value, out)) {
		mdeploy_config__problem(p, field, "%s", mdeploy_error_last()->message);
		mdeploy_error_clear();
		return -1;
	}
	return 0;
}

/* `c` relative to the configuration's directory, made absolute into out. */
static void config_path(mdeploy_config *cfg, const char *c, char *out, size_t n)
{
	char dir[PATH_MAX];
	if (c[0] == '/')
		snprintf(out, n, "%s", c);
	else if (realpath(mdeploy_config_dir(cfg), dir))
		snprintf(out, n, "%s/%s", dir, c);
	else
		snprintf(out, n, "%s/%s", mdeploy_config_dir(cfg), c);
}

static void check_keys(mdeploy_config *cfg, mdeploy_config__problems *p, struct group_entry *e)
{
	unsigned int i;
	char f[96];

	e->pub.trusted_keys = NULL;
	if (!e->trusted_keys)
		return;
	snprintf(f, sizeof(f), "%s.trusted_keys", e->field);
	if (e->trusted_keys_count == 0 || e->trusted_keys_count > MDEPLOY_GROUP_MAX_KEYS) {
		mdeploy_config__problem(p, f, "must list 1 to %d public key files", MDEPLOY_GROUP_MAX_KEYS);
		return;
	}
	for (i = 0; i < e->trusted_keys_count; i++) {
		snprintf(f, sizeof(f), "%s.trusted_keys[%u]", e->field, i);
		if (!e->trusted_keys[i][0]) {
			mdeploy_config__problem(p, f, "is empty");
			continue;
		}
		config_path(cfg, e->trusted_keys[i], e->keys_abs[i], sizeof(e->keys_abs[i]));
		if (access(e->keys_abs[i], R_OK) != 0)
			mdeploy_config__problem(p, f, "cannot read the public key '%s': %s", e->keys_abs[i], strerror(errno));
		e->keys[i] = e->keys_abs[i];
	}
	e->keys[i] = NULL;
	e->pub.trusted_keys = e->keys;
}

static void check_group(mdeploy_config *cfg, mdeploy_config__problems *p, struct group_entry *e)
{
	mdeploy_group *g = &e->pub;
	char f[96];

#define F(sub) (snprintf(f, sizeof(f), "%s.%s", e->field, sub), f)
	g->field = e->field;
	g->name = e->name;
	if (!e->name)
		mdeploy_config__problem(p, F("name"), "is required");
	else if (!name_ok(e->name))
		mdeploy_config__problem(p, F("name"), "'%s' must be 1-40 lowercase letters, digits or '-', "
		                        "starting with a letter", e->name);

	g->strategy = MDEPLOY_STRATEGY_BLUE_GREEN;
	if (e->strategy && !strcmp(e->strategy, "in-place"))
		g->strategy = MDEPLOY_STRATEGY_IN_PLACE;
	else if (e->strategy && strcmp(e->strategy, "blue-green"))
		mdeploy_config__problem(p, F("strategy"), "'%s' must be in-place or blue-green", e->strategy);

	/* fleet */
	g->size = e->fleet && e->fleet->size ? *e->fleet->size : 2;
	g->min = e->fleet && e->fleet->min ? *e->fleet->min : (g->size ? g->size - (g->size > 1) : 0);
	g->max = e->fleet && e->fleet->max ? *e->fleet->max : g->size * 2;
	g->port = e->fleet && e->fleet->port ? *e->fleet->port : 8080;
	if (g->size == 0)
		mdeploy_config__problem(p, F("fleet.size"), "must be at least 1");
	g->launch_template = e->fleet ? e->fleet->launch_template : NULL;
	g->subnets = e->fleet ? e->fleet->subnets : NULL;
	if (g->launch_template && !*g->launch_template)
		mdeploy_config__problem(p, F("fleet.launch_template"), "must not be empty");
	if (g->subnets && (!*g->subnets || strspn(g->subnets, "abcdefghijklmnopqrstuvwxyz0123456789-,") !=
	                   strlen(g->subnets)))
		mdeploy_config__problem(p, F("fleet.subnets"), "must be subnet ids separated by commas (got '%s')",
		                        g->subnets);
	/* cdn: what a cutover invalidates */
	g->cdn_distribution = NULL;
	g->cdn_invalidate = NULL;
	if (e->cdn) {
		unsigned int i;
		const char *d = e->cdn->distribution, *c;
		if (!d || !*d || strspn(d, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != strlen(d) || strlen(d) > 64)
			mdeploy_config__problem(p, F("cdn.distribution"), "must be a distribution id (capital letters and "
			                        "digits, e.g. E2QWRUHAPOMQZL), got '%s'", d ? d : "");
		if (!e->cdn->invalidate_count)
			mdeploy_config__problem(p, F("cdn.invalidate"), "must list the paths a cutover invalidates "
			                        "(e.g. /theme/*)");
		else if (e->cdn->invalidate_count > CDN_MAX_PATHS)
			mdeploy_config__problem(p, F("cdn.invalidate"), "takes at most %d paths (a wildcard covers many)",
			                        CDN_MAX_PATHS);
		for (i = 0; i < e->cdn->invalidate_count && i < CDN_MAX_PATHS; i++) {
			const char *path = e->cdn->invalidate[i];
			for (c = path; *c && (unsigned char)*c > ' ' && *c != 0x7f; c++)
				;
			if (path[0] != '/' || *c || strlen(path) > 4000) {
				char fi[64];
				snprintf(fi, sizeof(fi), "cdn.invalidate[%u]", i);
				mdeploy_config__problem(p, F(fi), "'%s' must be a path starting with '/', without spaces or "
				                        "control characters", path);
			}
			e->cdn_paths[i] = path;
		}
		e->cdn_paths[i] = NULL;
		g->cdn_distribution = d;
		g->cdn_invalidate = e->cdn_paths;
	}
	if (g->min > g->size || g->size > g->max)
		mdeploy_config__problem(p, F("fleet"), "needs min <= size <= max (got %u, %u, %u)",
		                        g->min, g->size, g->max);
	if (g->port == 0 || g->port > 65535)
		mdeploy_config__problem(p, F("fleet.port"), "%u is not a TCP port", g->port);

	/* load balancer */
	g->listen = e->load_balancer && e->load_balancer->listen ? e->load_balancer->listen : "127.0.0.1:8000";
	{
		const char *colon = strrchr(g->listen, ':');
		if (!colon || colon == g->listen || !colon[1] || strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
		    atoi(colon + 1) <= 0 || atoi(colon + 1) > 65535 || strpbrk(g->listen, " \t\n"))
			mdeploy_config__problem(p, F("load_balancer.listen"), "'%s' must be ADDRESS:PORT", g->listen);
	}
	g->slots = e->load_balancer && e->load_balancer->slots ? *e->load_balancer->slots : 64;
	if (g->slots < 2 * g->max || g->slots > 4096)
		mdeploy_config__problem(p, F("load_balancer.slots"),
		                        "%u must hold blue and green at their maximum size (at least %u) and be at most 4096",
		                        g->slots, 2 * g->max);
	g->tls_certificate = NULL;
	if (e->load_balancer && e->load_balancer->tls_certificate) {
		config_path(cfg, e->load_balancer->tls_certificate, e->tls_abs, sizeof(e->tls_abs));
		/* HAProxy runs from its own directory: the path is made absolute;
		 * a file it cannot read would only fail when it starts. */
		if (access(e->tls_abs, R_OK) != 0)
			mdeploy_config__problem(p, F("load_balancer.tls_certificate"), "cannot read '%s': %s",
			                        e->tls_abs, strerror(errno));
		g->tls_certificate = e->tls_abs;
	}

	/* health check */
	g->health_path = e->health_check && e->health_check->path ? e->health_check->path : "/";
	if (g->health_path[0] != '/' || strpbrk(g->health_path, " \t\r\n"))
		mdeploy_config__problem(p, F("health_check.path"), "'%s' must start with '/' and hold no spaces",
		                        g->health_path);
	/* The Host header of the checks: a name (or address) with an optional port, nothing HAProxy would parse. */
	g->health_host = e->health_check ? e->health_check->host : NULL;
	if (g->health_host && !health_host_ok(g->health_host))
		mdeploy_config__problem(p, F("health_check.host"), "'%s' is not a host name, address or HOST:PORT",
		                        g->health_host);
	g->health_status = e->health_check && e->health_check->status ? *e->health_check->status : 200;
	if (g->health_status < 100 || g->health_status > 599)
		mdeploy_config__problem(p, F("health_check.status"), "%u is not an HTTP status", g->health_status);
	duration_field(p, F("health_check.interval"), e->health_check ? e->health_check->interval : NULL,
	               2000, &g->health_interval_ms);
	duration_field(p, F("health_check.timeout"), e->health_check ? e->health_check->timeout : NULL,
	               2000, &g->health_timeout_ms);
	g->healthy_threshold = e->health_check && e->health_check->healthy_threshold ? *e->health_check->healthy_threshold : 2;
	g->unhealthy_threshold = e->health_check && e->health_check->unhealthy_threshold ? *e->health_check->unhealthy_threshold : 2;
	if (g->healthy_threshold == 0 || g->healthy_threshold > 10)
		mdeploy_config__problem(p, F("health_check.healthy_threshold"), "must be 1 to 10");
	if (g->unhealthy_threshold == 0 || g->unhealthy_threshold > 10)
		mdeploy_config__problem(p, F("health_check.unhealthy_threshold"), "must be 1 to 10");
	if (g->health_interval_ms < 100)
		mdeploy_config__problem(p, F("health_check.interval"), "must be at least 100ms");

	/* deployment configuration */
	if (e->deployment_config && !strcmp(e->deployment_config, "Custom")) {
		g->config.name = "Custom";
		if (!e->minimum_healthy_hosts || !e->minimum_healthy_hosts->type || !e->minimum_healthy_hosts->value) {
			mdeploy_config__problem(p, F("minimum_healthy_hosts"),
			                        "Custom needs minimum_healthy_hosts with type and value");
		} else {
			const char *t = e->minimum_healthy_hosts->type;
			g->config.mhh_value = *e->minimum_healthy_hosts->value;
			if (!strcmp(t, "HOST_COUNT"))
				g->config.mhh_type = MDEPLOY_MHH_HOST_COUNT;
			else if (!strcmp(t, "FLEET_PERCENT"))
				g->config.mhh_type = MDEPLOY_MHH_FLEET_PERCENT;
			else
				mdeploy_config__problem(p, F("minimum_healthy_hosts.type"),
				                        "'%s' must be HOST_COUNT or FLEET_PERCENT", t);
			if (g->config.mhh_type == MDEPLOY_MHH_FLEET_PERCENT && g->config.mhh_value > 99)
				mdeploy_config__problem(p, F("minimum_healthy_hosts.value"), "must be 0 to 99 (percent)");
			else if (g->config.mhh_type == MDEPLOY_MHH_HOST_COUNT && g->config.mhh_value >= g->size)
				mdeploy_config__problem(p, F("minimum_healthy_hosts.value"),
				                        "%u healthy hosts of a fleet of %u leaves none to deploy to",
				                        g->config.mhh_value, g->size);
		}
	} else {
		if (mdeploy_deployment_config_lookup(&g->config, e->deployment_config ? e->deployment_config : "OneAtATime")) {
			mdeploy_config__problem(p, F("deployment_config"), "%s", mdeploy_error_last()->message);
			mdeploy_error_clear();
		}
		if (e->minimum_healthy_hosts)
			mdeploy_config__problem(p, F("minimum_healthy_hosts"),
			                        "only applies with deployment_config: Custom");
	}

	/* traffic shifting */
	g->traffic = MDEPLOY_TRAFFIC_ALL_AT_ONCE;
	g->traffic_percent = 100;
	g->traffic_interval_ms = 0;
	if (e->traffic_shift) {
		const char *t = e->traffic_shift->type ? e->traffic_shift->type : "all-at-once";
		if (!strcmp(t, "canary"))
			g->traffic = MDEPLOY_TRAFFIC_CANARY;
		else if (!strcmp(t, "linear"))
			g->traffic = MDEPLOY_TRAFFIC_LINEAR;
		else if (strcmp(t, "all-at-once"))
			mdeploy_config__problem(p, F("traffic_shift.type"), "'%s' must be all-at-once, canary or linear", t);
		if (g->traffic != MDEPLOY_TRAFFIC_ALL_AT_ONCE) {
			g->traffic_percent = e->traffic_shift->percent ? *e->traffic_shift->percent : 10;
			if (g->traffic_percent < 1 || g->traffic_percent > 99)
				mdeploy_config__problem(p, F("traffic_shift.percent"), "must be 1 to 99");
			duration_field(p, F("traffic_shift.interval"), e->traffic_shift->interval, 60000,
			               &g->traffic_interval_ms);
		} else if (e->traffic_shift->percent || e->traffic_shift->interval) {
			mdeploy_config__problem(p, F("traffic_shift"), "percent and interval only apply to canary and linear");
		}
	}
	if (e->promotion && strcmp(e->promotion, "auto") && strcmp(e->promotion, "manual"))
		mdeploy_config__problem(p, F("promotion"), "'%s' must be auto or manual", e->promotion);
	g->manual_promotion = e->promotion && !strcmp(e->promotion, "manual");

	/* alarms and rollback */
	g->alarm_5xx_percent = e->alarms && e->alarms->http_5xx_percent ? *e->alarms->http_5xx_percent : 0;
	g->alarm_unhealthy_hosts = e->alarms && e->alarms->unhealthy_hosts ? *e->alarms->unhealthy_hosts : 0;
	if (g->alarm_5xx_percent > 100)
		mdeploy_config__problem(p, F("alarms.http_5xx_percent"), "must be 1 to 100");
	duration_field(p, F("alarms.window"), e->alarms ? e->alarms->window : NULL, 10000, &g->alarm_window_ms);
	g->rollback_on_failure = !(e->rollback && e->rollback->on_failure && !*e->rollback->on_failure);
	g->rollback_on_alarm = !(e->rollback && e->rollback->on_alarm && !*e->rollback->on_alarm);
	duration_field(p, F("drain_timeout"), e->drain_timeout, 30000, &g->drain_timeout_ms);
	duration_field(p, F("blue_retention"), e->blue_retention, 3600000, &g->blue_retention_ms);
	if (g->strategy == MDEPLOY_STRATEGY_IN_PLACE && (e->traffic_shift || e->promotion || e->blue_retention))
		mdeploy_config__problem(p, F("strategy"),
		                        "traffic_shift, promotion and blue_retention only apply to blue-green");
	check_keys(cfg, p, e);
#undef F
}

int mdeploy_config__groups_check(mdeploy_config *cfg, mdeploy_config__problems *p)
{
	struct mdeploy_config__doc *d = cfg->doc;
	unsigned int i, j;

	for (i = 0; i < d->groups_count; i++) {
		struct group_entry *e = &d->groups[i].e;
		snprintf(e->field, sizeof(e->field), "groups[%u]", i);
		check_group(cfg, p, e);
		for (j = 0; j < i; j++) {
			const struct group_entry *o = &d->groups[j].e;
			char f[64];
			if (e->name && o->name && !strcmp(e->name, o->name)) {
				snprintf(f, sizeof(f), "%s.name", e->field);
				mdeploy_config__problem(p, f, "'%s' is already the name of %s", e->name, o->field);
			}
			if (!strcmp(e->pub.listen, o->pub.listen)) {
				snprintf(f, sizeof(f), "%s.load_balancer.listen", e->field);
				mdeploy_config__problem(p, f, "'%s' is already where %s listens", e->pub.listen, o->field);
			}
		}
	}
	return 0;
}

size_t mdeploy_config_group_count(const mdeploy_config *cfg)
{
	return cfg && cfg->doc ? cfg->doc->groups_count : 0;
}

const mdeploy_group *mdeploy_config_group_at(const mdeploy_config *cfg, size_t i)
{
	if (i >= mdeploy_config_group_count(cfg))
		return NULL;
	return &cfg->doc->groups[i].e.pub;
}

const mdeploy_group *mdeploy_config_group_find(const mdeploy_config *cfg, const char *name)
{
	mdeploy__buf names = MDEPLOY__BUF_INIT;
	size_t i, n = mdeploy_config_group_count(cfg);
	for (i = 0; i < n; i++)
		if (name && cfg->doc->groups[i].e.pub.name && !strcmp(cfg->doc->groups[i].e.pub.name, name))
			return &cfg->doc->groups[i].e.pub;
	for (i = 0; i < n; i++)
		mdeploy__buf_printf(&names, "%s'%s'", i ? ", " : "", cfg->doc->groups[i].e.pub.name);
	mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_CONFIG,
	                   "%s: no deployment group '%s' (%s%s)", cfg ? cfg->display : "mdeploy.yml",
	                   name ? name : "", n ? "groups: " : "no groups section",
	                   n ? mdeploy__buf_cstr(&names) : "");
	mdeploy__buf_dispose(&names);
	return NULL;
}
