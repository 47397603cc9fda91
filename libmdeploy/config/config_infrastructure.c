/*
 * config_infrastructure.c - the `infrastructure` section of mdeploy.yml:
 * what `mdeploy infra` builds under the deployment groups, and where.
 *
 *   infrastructure:
 *     provider: aws
 *     environment: production
 *     availability_zones: 2
 *     domain: moodle.example.org
 *     hosted_zone: Z0123456789ABCDEFGHIJ
 *     cloudfront: false
 *     app:      { instance_type: t3.medium, min: 2, max: 4, desired: 2 }
 *     database: { engine: aurora-postgresql, class: db.serverless, max_capacity: 8 }
 *     cache:    { engine: redis }
 *     tags:
 *       - { key: CostCentre, value: learning }
 *
 * Every value is read as a string and checked here, so each problem names
 * its file, line and field. A value is then given to the infrastructure
 * code by its setting name (the names infra/aws/stacks.yaml maps onto
 * template parameters: "azs", "database_engine", "min_size" ...), through
 * mdeploy_config_infrastructure_setting(); an absent value is NULL and the
 * template's default holds. What one provider needs or cannot use is its
 * own rule (the provider table's infra_check, e.g. provider/aws/infra.c).
 */
#include "config_private.h"
#include "provider/provider.h"

#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct infra_app {
	char *instance_type, *image, *volume_size, *min, *max, *desired, *port, *health_check_path;
};
struct infra_database {
	char *engine, *version, *class_, *min_capacity, *max_capacity, *name, *user, *backup_days;
};
struct infra_cache {
	char *engine, *node_type;
};
struct infra_tag {
	char *key, *value;
};

struct mdeploy_config__infrastructure {
	char *provider, *region, *environment, *availability_zones, *vpc_cidr, *domain, *hosted_zone,
	     *certificate, *cloudfront, *cloudfront_certificate, *parameter_prefix, *dataroot_owner;
	struct infra_app *app;
	struct infra_database *database;
	struct infra_cache *cache;
	struct infra_tag *tags;
	unsigned int tags_count;
};

#define OPT (CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL)
#define STR(key, type, member) MDEPLOY_CONFIG__STRING(key, CYAML_FLAG_OPTIONAL, type, member)

static const cyaml_schema_field_t app_fields[] = {
	STR("instance_type", struct infra_app, instance_type),
	STR("image", struct infra_app, image),
	STR("volume_size", struct infra_app, volume_size),
	STR("min", struct infra_app, min),
	STR("max", struct infra_app, max),
	STR("desired", struct infra_app, desired),
	STR("port", struct infra_app, port),
	STR("health_check_path", struct infra_app, health_check_path),
	CYAML_FIELD_END
};
static const cyaml_schema_field_t database_fields[] = {
	STR("engine", struct infra_database, engine),
	STR("version", struct infra_database, version),
	STR("class", struct infra_database, class_),
	STR("min_capacity", struct infra_database, min_capacity),
	STR("max_capacity", struct infra_database, max_capacity),
	STR("name", struct infra_database, name),
	STR("user", struct infra_database, user),
	STR("backup_days", struct infra_database, backup_days),
	CYAML_FIELD_END
};
static const cyaml_schema_field_t cache_fields[] = {
	STR("engine", struct infra_cache, engine),
	STR("node_type", struct infra_cache, node_type),
	CYAML_FIELD_END
};
static const cyaml_schema_field_t tag_fields[] = {
	MDEPLOY_CONFIG__STRING("key", 0, struct infra_tag, key),
	MDEPLOY_CONFIG__STRING("value", 0, struct infra_tag, value),
	CYAML_FIELD_END
};
static const cyaml_schema_value_t tag_schema = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct infra_tag, tag_fields),
};

#define T struct mdeploy_config__infrastructure
static const cyaml_schema_field_t infrastructure_fields[] = {
	STR("provider", T, provider),
	STR("region", T, region),
	STR("environment", T, environment),
	STR("availability_zones", T, availability_zones),
	STR("vpc_cidr", T, vpc_cidr),
	STR("domain", T, domain),
	STR("hosted_zone", T, hosted_zone),
	STR("certificate", T, certificate),
	STR("cloudfront", T, cloudfront),
	STR("cloudfront_certificate", T, cloudfront_certificate),
	STR("parameter_prefix", T, parameter_prefix),
	STR("dataroot_owner", T, dataroot_owner),
	CYAML_FIELD_MAPPING_PTR("app", OPT, T, app, app_fields),
	CYAML_FIELD_MAPPING_PTR("database", OPT, T, database, database_fields),
	CYAML_FIELD_MAPPING_PTR("cache", OPT, T, cache, cache_fields),
	CYAML_FIELD_SEQUENCE("tags", OPT, T, tags, &tag_schema, 0, 50),
	CYAML_FIELD_END
};

const cyaml_schema_value_t mdeploy_config__infrastructure_schema = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, T, infrastructure_fields),
};

/* ---- checks ------------------------------------------------------------- */

static int matches(const char *s, const char *ere)
{
	regex_t re;
	int ok;
	if (regcomp(&re, ere, REG_EXTENDED | REG_NOSUB))
		return 0;
	ok = regexec(&re, s, 0, NULL, 0) == 0;
	regfree(&re);
	return ok;
}

/* A whole number in [lo, hi]; *out gets it. */
static int number(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;
	if (!s || !*s || *s == '+' || *s == '-' || *s == ' ')
		return 0;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return 0;
	if (out)
		*out = v;
	return 1;
}

static void check_number(mdeploy_config__problems *p, const char *field, const char *s, long lo, long hi,
                         long *out)
{
	if (s && !number(s, lo, hi, out))
		mdeploy_config__problem(p, field, "'%s' must be a whole number from %ld to %ld", s, lo, hi);
}

static void check_re(mdeploy_config__problems *p, const char *field, const char *s, const char *ere,
                     const char *what)
{
	if (s && !matches(s, ere))
		mdeploy_config__problem(p, field, "'%s' is not %s", s, what);
}

/* Aurora Serverless v2 capacity: 0 to 256 ACUs in steps of 0.5; *out in half units. */
static int capacity(const char *s, long *out)
{
	long whole = 0;
	char buf[16];
	const char *dot;
	if (!s || strlen(s) >= sizeof(buf))
		return 0;
	if ((dot = strchr(s, '.'))) {
		memcpy(buf, s, (size_t)(dot - s));
		buf[dot - s] = '\0';
		if (strcmp(dot, ".0") && strcmp(dot, ".5"))
			return 0;
	} else {
		strcpy(buf, s);
	}
	if (!number(buf, 0, 256, &whole))
		return 0;
	*out = whole * 2 + (dot && dot[1] == '5');
	return *out <= 512;
}

static int boolean(const char *s, int *out)
{
	static const char *const yes[] = { "true", "yes", "on", NULL }, *const no[] = { "false", "no", "off", NULL };
	size_t i;
	for (i = 0; s && yes[i]; i++)
		if (!strcmp(s, yes[i]) || !strcmp(s, no[i])) {
			*out = !strcmp(s, yes[i]);
			return 1;
		}
	return 0;
}

#define NAME_RE "^[a-z][a-z0-9-]{0,30}$"
#define ACM_RE "^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[A-Za-z0-9-]+$"

static void check_app(const struct infra_app *a, mdeploy_config__problems *p)
{
	long mn = -1, mx = -1, want = -1;
	check_re(p, "infrastructure.app.instance_type", a->instance_type, "^[a-z][a-z0-9-]*\\.[a-z0-9]+$",
	         "an EC2 instance type (like t3.medium)");
	check_re(p, "infrastructure.app.image", a->image, "^(ami-[0-9a-f]{8,17}|(/[A-Za-z0-9_.-]+)+)$",
	         "an AMI id (ami-...) or a Parameter Store path naming one (/aws/service/...)");
	check_number(p, "infrastructure.app.volume_size", a->volume_size, 8, 16384, NULL);
	check_number(p, "infrastructure.app.min", a->min, 0, 1000, &mn);
	check_number(p, "infrastructure.app.max", a->max, 1, 1000, &mx);
	check_number(p, "infrastructure.app.desired", a->desired, 0, 1000, &want);
	check_number(p, "infrastructure.app.port", a->port, 1, 65535, NULL);
	check_re(p, "infrastructure.app.health_check_path", a->health_check_path, "^/[!-~]*$",
	         "a path starting with '/'");
	if (mn >= 0 && mx >= 0 && mn > mx)
		mdeploy_config__problem(p, "infrastructure.app.min", "%ld is more than max (%ld)", mn, mx);
	if (want >= 0 && ((mn >= 0 && want < mn) || (mx >= 0 && want > mx)))
		mdeploy_config__problem(p, "infrastructure.app.desired", "%ld is outside min..max", want);
}

static void check_database(const struct infra_database *d, mdeploy_config__problems *p)
{
	long lo = -1, hi = -1;
	check_re(p, "infrastructure.database.engine", d->engine,
	         "^(aurora-postgresql|aurora-mysql|postgresql|mysql)$",
	         "a database engine (aurora-postgresql or aurora-mysql)");
	check_re(p, "infrastructure.database.version", d->version, "^[0-9][A-Za-z0-9._-]{0,63}$",
	         "an engine version (like 16.4 or 8.0.mysql_aurora.3.08.0)");
	check_re(p, "infrastructure.database.class", d->class_, "^db\\.[a-z0-9]+(\\.[a-z0-9]+)?$",
	         "a DB instance class (db.serverless or like db.r6g.large)");
	if (d->min_capacity && !capacity(d->min_capacity, &lo))
		mdeploy_config__problem(p, "infrastructure.database.min_capacity",
		                        "'%s' must be 0 to 256 Aurora capacity units in steps of 0.5", d->min_capacity);
	if (d->max_capacity && (!capacity(d->max_capacity, &hi) || hi < 2))
		mdeploy_config__problem(p, "infrastructure.database.max_capacity",
		                        "'%s' must be 1 to 256 Aurora capacity units in steps of 0.5", d->max_capacity);
	else if (lo >= 0 && hi >= 0 && lo > hi)
		mdeploy_config__problem(p, "infrastructure.database.min_capacity", "%s is more than max_capacity (%s)",
		                        d->min_capacity, d->max_capacity);
	if ((d->min_capacity || d->max_capacity) && d->class_ && strcmp(d->class_, "db.serverless"))
		mdeploy_config__problem(p, d->min_capacity ? "infrastructure.database.min_capacity" :
		                        "infrastructure.database.max_capacity",
		                        "capacity goes with class db.serverless, not %s", d->class_);
	check_re(p, "infrastructure.database.name", d->name, "^[a-z][a-z0-9_]{0,62}$",
	         "a database name (a lowercase letter, then letters, digits or '_')");
	check_re(p, "infrastructure.database.user", d->user, "^[a-z][a-z0-9_]{0,15}$",
	         "a user name (a lowercase letter, then up to 15 letters, digits or '_')");
	if (d->user && (!strcmp(d->user, "admin") || !strcmp(d->user, "rdsadmin") || !strcmp(d->user, "postgres")))
		mdeploy_config__problem(p, "infrastructure.database.user", "'%s' is reserved by Aurora", d->user);
	check_number(p, "infrastructure.database.backup_days", d->backup_days, 1, 35, NULL);
}

static void provider_problem(void *payload, const char *field, const char *message)
{
	mdeploy_config__problem(payload, field, "%s", message);
}

int mdeploy_config__infrastructure_check(mdeploy_config *cfg, mdeploy_config__problems *p)
{
	const struct mdeploy_config__infrastructure *in = cfg->doc->infrastructure;
	const mdeploy_provider_ops *ops;
	unsigned int i, j;
	int cf = 0;

	if (!in)
		return 0;
	ops = mdeploy_provider__find(in->provider ? in->provider : mdeploy_provider__default_name());
	if (!ops || !ops->infra_apply) {
		mdeploy_config__problem(p, "infrastructure.provider", "unknown provider '%s' (this build has: %s)",
		                        in->provider, mdeploy_provider__infra_names());
		ops = NULL;
	}
	check_re(p, "infrastructure.region", in->region, "^[a-z]{2}(-[a-z]+)+-[0-9]+$", "an AWS Region (like eu-west-1)");
	check_re(p, "infrastructure.environment", in->environment, NAME_RE,
	         "an environment name (a lowercase letter, then up to 30 letters, digits or '-')");
	check_number(p, "infrastructure.availability_zones", in->availability_zones, 2, 3, NULL);
	check_re(p, "infrastructure.vpc_cidr", in->vpc_cidr,
	         "^((25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])/(1[6-9]|2[0-4])$",
	         "an IPv4 range from /16 to /24 (like 10.40.0.0/16)");
	check_re(p, "infrastructure.domain", in->domain,
	         "^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$",
	         "a host name in lowercase (like moodle.example.org)");
	check_re(p, "infrastructure.hosted_zone", in->hosted_zone, "^Z[A-Z0-9]{1,31}$",
	         "a Route 53 hosted zone id (like Z0123456789ABCDEFGHIJ)");
	check_re(p, "infrastructure.certificate", in->certificate, ACM_RE, "an ACM certificate ARN");
	if (in->cloudfront && !boolean(in->cloudfront, &cf))
		mdeploy_config__problem(p, "infrastructure.cloudfront", "'%s' must be true or false", in->cloudfront);
	check_re(p, "infrastructure.cloudfront_certificate", in->cloudfront_certificate,
	         "^arn:aws[a-z-]*:acm:us-east-1:[0-9]{12}:certificate/[A-Za-z0-9-]+$",
	         "an ACM certificate ARN in us-east-1 (CloudFront takes its certificates from there)");
	check_re(p, "infrastructure.parameter_prefix", in->parameter_prefix, "^(/[A-Za-z0-9_.-]+)+$",
	         "a Parameter Store path (like /mdeploy/moodle/production)");
	if (in->app)
		check_app(in->app, p);
	if (in->database)
		check_database(in->database, p);
	if (in->cache) {
		check_re(p, "infrastructure.cache.engine", in->cache->engine, "^(redis|memcached|none)$",
		         "a cache engine (redis, memcached, or none with provider local)");
		check_re(p, "infrastructure.cache.node_type", in->cache->node_type, "^cache\\.[a-z0-9]+\\.[a-z0-9]+$",
		         "an ElastiCache node type (like cache.t4g.small)");
		if (in->cache->node_type && in->cache->engine && !strcmp(in->cache->engine, "memcached"))
			mdeploy_config__problem(p, "infrastructure.cache.node_type",
			                        "Memcached is serverless: it has no node type");
	}
	/* A user name as useradd(8) takes it. */
	check_re(p, "infrastructure.dataroot_owner", in->dataroot_owner, "^[a-z_][a-z0-9_.-]{0,31}$",
	         "a user name (lowercase letters, digits, '_', '-', '.')");
	for (i = 0; i < in->tags_count; i++) {
		char field[64];
		const struct infra_tag *t = &in->tags[i];
		snprintf(field, sizeof(field), "infrastructure.tags[%u].key", i);
		if (!*t->key || strlen(t->key) > 128 || !strncmp(t->key, "aws:", 4))
			mdeploy_config__problem(p, field, "'%s' must be 1-128 characters, not starting with 'aws:'", t->key);
		for (j = 0; j < i; j++)
			if (!strcmp(in->tags[j].key, t->key))
				mdeploy_config__problem(p, field, "tag '%s' is given twice", t->key);
		snprintf(field, sizeof(field), "infrastructure.tags[%u].value", i);
		if (strlen(t->value) > 256)
			mdeploy_config__problem(p, field, "is longer than 256 characters");
	}
	/* What the provider cannot do without, or has no use for: its own rules. */
	(void)cf;
	if (ops && ops->infra_check)
		ops->infra_check(cfg, provider_problem, p);
	return 0;
}

/* ---- accessors ------------------------------------------------------------ */

const char *mdeploy_config_infrastructure_provider(const mdeploy_config *cfg)
{
	const struct mdeploy_config__infrastructure *in = cfg && cfg->doc ? cfg->doc->infrastructure : NULL;
	if (!in)
		return NULL;
	return in->provider ? in->provider : mdeploy_provider__default_name();
}

const char *mdeploy_config_infrastructure_region(const mdeploy_config *cfg)
{
	return cfg && cfg->doc && cfg->doc->infrastructure ? cfg->doc->infrastructure->region : NULL;
}

const char *mdeploy_config_infrastructure_setting(const mdeploy_config *cfg, const char *name)
{
	const struct mdeploy_config__infrastructure *in = cfg && cfg->doc ? cfg->doc->infrastructure : NULL;
	const struct infra_app *a;
	const struct infra_database *d;
	int b;
	if (!name)
		return NULL;
	if (!strcmp(name, "app"))
		return mdeploy_config_application_name(cfg);
	if (!in)
		return NULL;
	a = in->app;
	d = in->database;
#define S(n, v) if (!strcmp(name, n)) return (v)
	S("environment", in->environment);
	S("azs", in->availability_zones);
	S("vpc_cidr", in->vpc_cidr);
	S("domain", in->domain);
	S("hosted_zone", in->hosted_zone);
	S("certificate", in->certificate);
	S("cloudfront_certificate", in->cloudfront_certificate);
	S("parameter_prefix", in->parameter_prefix);
	if (!strcmp(name, "cloudfront"))
		return in->cloudfront && boolean(in->cloudfront, &b) ? (b ? "true" : "false") : NULL;
	S("instance_type", a ? a->instance_type : NULL);
	S("image", a ? a->image : NULL);
	S("volume_size", a ? a->volume_size : NULL);
	S("min_size", a ? a->min : NULL);
	S("max_size", a ? a->max : NULL);
	S("desired_capacity", a ? a->desired : NULL);
	S("app_port", a ? a->port : NULL);
	S("health_check_path", a ? a->health_check_path : NULL);
	if (!strcmp(name, "database_engine")) {
		const char *e = d ? d->engine : NULL;
		return !e ? NULL : !strcmp(e, "postgresql") ? "aurora-postgresql" : !strcmp(e, "mysql") ? "aurora-mysql" : e;
	}
	S("database_version", d ? d->version : NULL);
	S("database_class", d ? d->class_ : NULL);
	S("database_min_capacity", d ? d->min_capacity : NULL);
	S("database_max_capacity", d ? d->max_capacity : NULL);
	S("database_name", d ? d->name : NULL);
	S("database_user", d ? d->user : NULL);
	S("database_backup_days", d ? d->backup_days : NULL);
	S("cache_engine", in->cache ? in->cache->engine : NULL);
	S("cache_node_type", in->cache ? in->cache->node_type : NULL);
	S("dataroot_owner", in->dataroot_owner);
#undef S
	return NULL;
}

size_t mdeploy_config_infrastructure_tag_count(const mdeploy_config *cfg)
{
	return cfg && cfg->doc && cfg->doc->infrastructure ? cfg->doc->infrastructure->tags_count : 0;
}

int mdeploy_config_infrastructure_tag(const mdeploy_config *cfg, size_t i, const char **key, const char **value)
{
	if (i >= mdeploy_config_infrastructure_tag_count(cfg))
		return MDEPLOY_ENOTFOUND;
	*key = cfg->doc->infrastructure->tags[i].key;
	*value = cfg->doc->infrastructure->tags[i].value;
	return 0;
}
