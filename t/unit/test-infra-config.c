/* mdeploy.yml infrastructure: settings by name, and located errors. */
#include "mdeploy_private.h"
#include "tap.h"

#include <stdio.h>
#include <string.h>

static char path[4096];

static int load(mdeploy_config **cfg, const char *text)
{
	mdeploy_config_options o = MDEPLOY_CONFIG_OPTIONS_INIT;
	o.display_name = "mdeploy.yml";
	snprintf(path, sizeof(path), "%s/mdeploy.yml", test_tmpdir());
	if (mdeploy__file_write_atomic(path, text, strlen(text), 0644) != 0)
		return -100;
	return mdeploy_config_load(cfg, path, &o);
}

#define HEAD "application:\n  name: moodle\ninfrastructure:\n"

/* The section `body` fails to load with `needle` in the message. */
static void bad(const char *body, const char *needle, const char *name)
{
	mdeploy_config *cfg = NULL;
	char text[4096];
	int rc;
	snprintf(text, sizeof(text), HEAD "%s", body);
	rc = load(&cfg, text);
	is_int(MDEPLOY_EINVALID, rc, "%s: rejected", name);
	like(rc ? mdeploy_error_last()->message : "", needle, "%s: message", name);
	mdeploy_config_free(cfg);
}

int main(void)
{
	mdeploy_config *cfg = NULL;
	const char *k = NULL, *v = NULL;
	const char *full = HEAD
		"  provider: aws\n"
		"  region: eu-west-1\n"
		"  environment: staging\n"
		"  availability_zones: 3\n"
		"  vpc_cidr: 10.8.0.0/16\n"
		"  domain: moodle.example.org\n"
		"  hosted_zone: Z0123456789ABC\n"
		"  cloudfront: yes\n"
		"  cloudfront_certificate: arn:aws:acm:us-east-1:123456789012:certificate/abc-123\n"
		"  app: { instance_type: m7g.large, image: ami-0123456789abcdef0, min: 2, max: 6, desired: 3,"
		" port: 8080, volume_size: 30, health_check_path: /admin/tool/heartbeat.php }\n"
		"  database: { engine: mysql, version: 8.0.mysql_aurora.3.08.0, class: db.serverless,"
		" min_capacity: 0.5, max_capacity: 16, name: moodle, user: moodleuser, backup_days: 14 }\n"
		"  cache: { engine: redis, node_type: cache.r7g.large }\n"
		"  tags:\n"
		"    - { key: CostCentre, value: learning }\n"
		"    - { key: Owner, value: platform-team }\n";

	plan_lazy();

	is_int(0, load(&cfg, HEAD "  environment: production\n"), "a minimal section loads");
	is_str("local", mdeploy_config_infrastructure_provider(cfg), "provider defaults to local");
	ok(mdeploy_config_infrastructure_setting(cfg, "azs") == NULL, "an absent setting is NULL");
	is_str("moodle", mdeploy_config_infrastructure_setting(cfg, "app"), "app is application.name");
	mdeploy_config_free(cfg);
	cfg = NULL;
	is_int(0, load(&cfg, "application:\n  name: moodle\n"), "no section");
	ok(mdeploy_config_infrastructure_provider(cfg) == NULL, "no section: no provider");
	mdeploy_config_free(cfg);
	cfg = NULL;

	if (!is_int(0, load(&cfg, full), "the full section loads"))
		diag("%s", mdeploy_error_last()->message);
	is_str("aws", mdeploy_config_infrastructure_provider(cfg), "provider");
	is_str("eu-west-1", mdeploy_config_infrastructure_region(cfg), "region");
	{
		static const char *const want[][2] = {
			{ "environment", "staging" }, { "azs", "3" }, { "vpc_cidr", "10.8.0.0/16" },
			{ "domain", "moodle.example.org" }, { "hosted_zone", "Z0123456789ABC" },
			{ "cloudfront", "true" },
			{ "cloudfront_certificate", "arn:aws:acm:us-east-1:123456789012:certificate/abc-123" },
			{ "instance_type", "m7g.large" }, { "image", "ami-0123456789abcdef0" }, { "min_size", "2" },
			{ "max_size", "6" }, { "desired_capacity", "3" }, { "app_port", "8080" }, { "volume_size", "30" },
			{ "health_check_path", "/admin/tool/heartbeat.php" },
			{ "database_engine", "aurora-mysql" }, { "database_version", "8.0.mysql_aurora.3.08.0" },
			{ "database_class", "db.serverless" }, { "database_min_capacity", "0.5" },
			{ "database_max_capacity", "16" }, { "database_name", "moodle" }, { "database_user", "moodleuser" },
			{ "database_backup_days", "14" }, { "cache_engine", "redis" },
			{ "cache_node_type", "cache.r7g.large" },
		};
		size_t i;
		for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
			is_str(want[i][1], mdeploy_config_infrastructure_setting(cfg, want[i][0]), "setting %s", want[i][0]);
	}
	ok(mdeploy_config_infrastructure_setting(cfg, "certificate") == NULL, "certificate not set");
	ok(mdeploy_config_infrastructure_setting(cfg, "nonsense") == NULL, "an unknown name is NULL");
	is_int(2, (long long)mdeploy_config_infrastructure_tag_count(cfg), "two tags");
	is_int(0, mdeploy_config_infrastructure_tag(cfg, 1, &k, &v), "tag 1");
	is_str("Owner", k, "tag 1 key");
	is_str("platform-team", v, "tag 1 value");
	is_int(MDEPLOY_ENOTFOUND, mdeploy_config_infrastructure_tag(cfg, 2, &k, &v), "tag 2 is out of range");
	mdeploy_config_free(cfg);

	bad("  provider: gcp\n", "mdeploy.yml:4:13: infrastructure.provider: unknown provider 'gcp'", "provider");
	bad("  availability_zones: 4\n", "mdeploy.yml:4:23: infrastructure.availability_zones: '4' must be a whole number from 2 to 3",
	    "availability_zones");
	bad("  vpc_cidr: 10.0.0.0/8\n", "infrastructure.vpc_cidr: '10.0.0.0/8' is not an IPv4 range", "vpc_cidr");
	bad("  domain: Moodle.Example.org\n", "infrastructure.domain: 'Moodle.Example.org' is not a host name", "domain");
	bad("  cloudfront: maybe\n", "infrastructure.cloudfront: 'maybe' must be true or false", "cloudfront");
	bad("  cloudfront_certificate: arn:aws:acm:eu-west-1:123456789012:certificate/x\n",
	    "in us-east-1", "cloudfront certificate region");
	bad("  app:\n    min: 3\n    max: 2\n", "mdeploy.yml:5:10: infrastructure.app.min: 3 is more than max (2)", "min > max");
	bad("  app: { desired: 9, max: 4 }\n", "infrastructure.app.desired: 9 is outside min..max", "desired");
	bad("  app: { port: 0 }\n", "infrastructure.app.port: '0' must be a whole number from 1 to 65535", "port");
	bad("  app: { image: ubuntu }\n", "infrastructure.app.image: 'ubuntu' is not an AMI id", "image");
	bad("  database: { engine: oracle }\n", "infrastructure.database.engine: 'oracle' is not a database engine", "engine");
	bad("  database: { min_capacity: 0.3 }\n", "steps of 0.5", "capacity step");
	bad("  database: { min_capacity: 4, max_capacity: 2 }\n", "is more than max_capacity", "capacity order");
	bad("  database: { class: db.r6g.large, max_capacity: 2 }\n", "capacity goes with class db.serverless",
	    "capacity with a fixed class");
	bad("  database: { user: admin }\n", "'admin' is reserved", "reserved user");
	bad("  database: { password: x }\n", "password", "no password key");
	bad("  cache: { engine: memcached, node_type: cache.t4g.small }\n", "Memcached is serverless", "memcached node type");
	bad("  tags:\n    - { key: 'aws:x', value: y }\n", "infrastructure.tags[0].key: 'aws:x' must be", "aws: tag");
	bad("  tags:\n    - { key: a, value: y }\n    - { key: a, value: z }\n", "tag 'a' is given twice", "duplicate tag");
	bad("  provider: aws\n  hosted_zone: Z1\n", "infrastructure.domain: is required with provider aws", "aws needs a domain");
	bad("  provider: aws\n  domain: m.example.org\n", "infrastructure.certificate: is required with provider aws unless hosted_zone",
	    "aws needs a certificate or a zone");
	bad("  provider: aws\n  domain: m.example.org\n  hosted_zone: Z1\n  cloudfront: true\n",
	    "infrastructure.cloudfront_certificate: is required with cloudfront: true", "cloudfront needs its certificate");
	bad("  nonsense: 1\n", "nonsense", "unknown key");
	return done();
}
