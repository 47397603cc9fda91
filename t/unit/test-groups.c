/* mdeploy.yml groups, and CodeDeploy's deployment configurations. */
#include "mdeploy_private.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int load(mdeploy_config **cfg, const char *groups)
{
	mdeploy_config_options o = MDEPLOY_CONFIG_OPTIONS_INIT;
	char path[4096], *text = mdeploy__sprintf("application:\n  name: moodle\n%s", groups);
	int rc;
	o.display_name = "mdeploy.yml";
	snprintf(path, sizeof(path), "%s/mdeploy.yml", test_tmpdir());
	rc = mdeploy__file_write_atomic(path, text, strlen(text), 0644);
	free(text);
	if (rc)
		return -100;
	return mdeploy_config_load(cfg, path, &o);
}

static void bad(const char *text, const char *needle, const char *name)
{
	mdeploy_config *cfg = NULL;
	is_int(MDEPLOY_EINVALID, load(&cfg, text), "%s: rejected", name);
	like(mdeploy_error_last()->message, needle, "%s: message", name);
	mdeploy_config_free(cfg);
}

int main(void)
{
	mdeploy_config *cfg = NULL;
	const mdeploy_group *g;
	mdeploy_deployment_config c;
	unsigned int min = 99, batch = 99, ms = 0;

	plan_lazy();
	{
		/* The certificate of the TLS group below must exist when the file loads. */
		char pem[4096];
		snprintf(pem, sizeof(pem), "%s/lb.pem", test_tmpdir());
		mdeploy__file_write_atomic(pem, "x", 1, 0600);
	}

	is_int(0, load(&cfg,
		"groups:\n"
		"  - name: production\n"
		"    strategy: blue-green\n"
		"    fleet: { size: 4, min: 2, max: 8, port: 8081 }\n"
		"    load_balancer: { listen: '127.0.0.1:8443', slots: 32, tls_certificate: lb.pem }\n"
		"    health_check: { path: /login/index.php, status: 200, interval: 500ms, timeout: 1s,\n"
		"                    healthy_threshold: 3, unhealthy_threshold: 2 }\n"
		"    deployment_config: Custom\n"
		"    minimum_healthy_hosts: { type: FLEET_PERCENT, value: 75 }\n"
		"    traffic_shift: { type: canary, percent: 10, interval: 5m }\n"
		"    promotion: manual\n"
		"    alarms: { http_5xx_percent: 5, unhealthy_hosts: 1, window: 1m }\n"
		"    rollback: { on_failure: true, on_alarm: false }\n"
		"    drain_timeout: 20s\n"
		"    blue_retention: 1h\n"
		"  - name: staging\n"
		"    strategy: in-place\n"
		"    load_balancer: { listen: '127.0.0.1:8001' }\n"), "a file with two groups loads");
	if (!cfg) {
		diag("%s", mdeploy_error_last()->message);
		return done();
	}
	is_int(2, (long long)mdeploy_config_group_count(cfg), "two groups");
	g = mdeploy_config_group_find(cfg, "production");
	ok(g != NULL, "find production");
	is_int(MDEPLOY_STRATEGY_BLUE_GREEN, g->strategy, "strategy");
	ok(g->size == 4 && g->min == 2 && g->max == 8 && g->port == 8081, "fleet sizes and port");
	is_str("127.0.0.1:8443", g->listen, "listen");
	is_int(32, g->slots, "slots");
	like(g->tls_certificate, "/lb.pem", "certificate resolved against the file's directory");
	bad("groups:\n  - name: p\n    load_balancer: { tls_certificate: missing.pem }\n",
	    "mdeploy.yml:5:39: groups[0].load_balancer.tls_certificate: cannot read '", "a certificate that does not exist");
	bad("groups:\n  - name: p\n    fleet: { size: 2.5 }\n",
	    "mdeploy.yml:5:20: groups[0].fleet.size: '2.5' is not a whole number", "size: 2.5");
	bad("groups:\n  - name: p\n    rollback: { on_failure: perhaps }\n",
	    "mdeploy.yml:5:29: groups[0].rollback.on_failure: 'perhaps' is not a boolean", "on_failure: perhaps");
	bad("groups:\n  - name: \"p\\0q\"\n",
	    "mdeploy.yml:4:11: groups[0].name: 'p' holds a NUL character", "a NUL in a name");
	ok(g->tls_certificate[0] == '/', "certificate path is absolute");
	is_str("/login/index.php", g->health_path, "health path");
	ok(g->health_interval_ms == 500 && g->health_timeout_ms == 1000, "health durations in ms");
	ok(g->healthy_threshold == 3 && g->unhealthy_threshold == 2, "thresholds");
	is_str("Custom", g->config.name, "custom deployment config");
	ok(g->config.mhh_type == MDEPLOY_MHH_FLEET_PERCENT && g->config.mhh_value == 75, "minimum healthy hosts");
	ok(g->traffic == MDEPLOY_TRAFFIC_CANARY && g->traffic_percent == 10 && g->traffic_interval_ms == 300000,
	   "canary 10%% for 5 minutes");
	ok(g->manual_promotion, "manual promotion");
	ok(g->alarm_5xx_percent == 5 && g->alarm_unhealthy_hosts == 1 && g->alarm_window_ms == 60000, "alarms");
	ok(g->rollback_on_failure && !g->rollback_on_alarm, "rollback switches");
	ok(g->drain_timeout_ms == 20000 && g->blue_retention_ms == 3600000, "drain timeout and retention");
	is_str("mdeploy.yml:17:21", mdeploy_config_where(cfg, "groups[0].blue_retention"), "where works for group fields");

	g = mdeploy_config_group_at(cfg, 1);
	is_str("staging", g->name, "second group");
	is_int(MDEPLOY_STRATEGY_IN_PLACE, g->strategy, "in-place");
	ok(g->size == 2 && g->min == 1 && g->max == 4 && g->port == 8080, "fleet defaults");
	is_str("CodeDeployDefault.OneAtATime", g->config.name, "default deployment config OneAtATime");
	is_str("/", g->health_path, "default health path");
	ok(g->rollback_on_failure && g->rollback_on_alarm, "rollback on by default");
	ok(g->blue_retention_ms == 3600000, "default retention one hour");
	ok(mdeploy_config_group_find(cfg, "qa") == NULL, "unknown group: NULL");
	like(mdeploy_error_last()->message, "no deployment group 'qa' (groups: 'production', 'staging')",
	     "error lists the groups");
	g = mdeploy_config_group_find(cfg, "staging");
	ok(g && g->launch_template == NULL && g->subnets == NULL, "no launch template or subnets by default");
	mdeploy_config_free(cfg);

	if (load(&cfg, "groups:\n  - name: p\n    fleet: { launch_template: lt-p, subnets: 'subnet-1a,subnet-2b' }\n") == 0) {
		g = mdeploy_config_group_find(cfg, "p");
		is_str("lt-p", g ? g->launch_template : NULL, "fleet.launch_template");
		is_str("subnet-1a,subnet-2b", g ? g->subnets : NULL, "fleet.subnets");
		mdeploy_config_free(cfg);
	} else
		ok(0, "fleet.launch_template/subnets load: %s", mdeploy_error_last()->message);
	bad("groups:\n  - name: p\n    fleet: { subnets: 'subnet-1 subnet-2' }\n",
	    "groups[0].fleet.subnets: must be subnet ids separated by commas", "subnets with a space");
	bad("groups:\n  - name: p\n    fleet: { launch_template: '' }\n",
	    "groups[0].fleet.launch_template: must not be empty", "empty launch template");
	bad("groups:\n  - name: p\n    strategy: red-black\n", "groups[0].strategy: 'red-black' must be", "bad strategy");
	bad("groups:\n  - name: p\n    fleet: { size: 9, max: 4 }\n", "groups[0].fleet: needs min <= size <= max", "size above max");
	bad("groups:\n  - name: p\n    deployment_config: TwoAtATime\n", "unknown deployment configuration 'TwoAtATime'", "unknown config");
	bad("groups:\n  - name: p\n    deployment_config: Custom\n", "Custom needs minimum_healthy_hosts", "custom without minimum");
	bad("groups:\n  - name: p\n    fleet: { size: 3 }\n    deployment_config: Custom\n"
	    "    minimum_healthy_hosts: { type: HOST_COUNT, value: 3 }\n", "leaves none to deploy to", "minimum = size");
	bad("groups:\n  - name: p\n    health_check: { interval: soon }\n", "groups[0].health_check.interval: 'soon' is not a duration", "bad duration");
	bad("groups:\n  - name: p\n  - name: p\n    load_balancer: { listen: '127.0.0.1:9' }\n", "'p' is already the name of groups[0]", "duplicate name");
	bad("groups:\n  - name: p\n  - name: q\n", "is already where groups[0] listens", "two groups on one address");
	bad("groups:\n  - name: p\n    colour: blue\n", "colour", "unknown key");
	bad("groups:\n  - name: Prod\n", "'Prod' must be 1-40 lowercase", "bad name");
	bad("groups:\n  - name: p\n    strategy: in-place\n    traffic_shift: { type: linear }\n",
	    "only apply to blue-green", "traffic shift on in-place");
	bad("groups:\n  - name: p\n    load_balancer: { listen: localhost }\n", "must be ADDRESS:PORT", "listen without port");

	/* CodeDeploy's rules */
	is_int(0, mdeploy_deployment_config_lookup(&c, "CodeDeployDefault.AllAtOnce"), "AllAtOnce by full name");
	mdeploy_deployment_config_plan(&c, 4, &min, &batch);
	ok(min == 0 && batch == 4, "AllAtOnce, 4 instances: min 0, batch 4");
	ok(mdeploy_deployment_config_succeeded(&c, 4, 1, 0), "AllAtOnce succeeds with one success");
	ok(!mdeploy_deployment_config_succeeded(&c, 4, 0, 0), "and fails with none");
	is_int(0, mdeploy_deployment_config_lookup(&c, "HalfAtATime"), "HalfAtATime by short name");
	mdeploy_deployment_config_plan(&c, 4, &min, &batch);
	ok(min == 2 && batch == 2, "HalfAtATime, 4: min 2, batch 2");
	mdeploy_deployment_config_plan(&c, 5, &min, &batch);
	ok(min == 3 && batch == 2, "HalfAtATime, 5: min 3 (rounded up), batch 2");
	ok(mdeploy_deployment_config_succeeded(&c, 5, 3, 0) && !mdeploy_deployment_config_succeeded(&c, 5, 2, 0),
	   "HalfAtATime, 5: 3 successes pass, 2 fail");
	mdeploy_deployment_config_plan(&c, 1, &min, &batch);
	ok(min == 1 && batch == 1, "HalfAtATime, 1: still one at a time");
	is_int(0, mdeploy_deployment_config_lookup(&c, "OneAtATime"), "OneAtATime");
	mdeploy_deployment_config_plan(&c, 4, &min, &batch);
	ok(min == 3 && batch == 1, "OneAtATime, 4: min 3, batch 1");
	ok(mdeploy_deployment_config_succeeded(&c, 4, 4, 0), "OneAtATime: all succeeded");
	ok(mdeploy_deployment_config_succeeded(&c, 4, 3, 1), "OneAtATime: only the last failed is still success");
	ok(!mdeploy_deployment_config_succeeded(&c, 4, 3, 0), "OneAtATime: another one failed is failure");
	ok(!mdeploy_deployment_config_succeeded(&c, 1, 0, 1), "OneAtATime: a single instance must succeed");
	c.name = "Custom"; c.mhh_type = MDEPLOY_MHH_FLEET_PERCENT; c.mhh_value = 40;
	mdeploy_deployment_config_plan(&c, 9, &min, &batch);
	ok(min == 4 && batch == 5, "FLEET_PERCENT 40 of 9: batches of 5, min 4 (CodeDeploy's example)");
	ok(mdeploy_deployment_config_succeeded(&c, 9, 4, 0) && !mdeploy_deployment_config_succeeded(&c, 9, 3, 0),
	   "succeeds with 4 or more");
	c.mhh_type = MDEPLOY_MHH_HOST_COUNT; c.mhh_value = 6;
	mdeploy_deployment_config_plan(&c, 9, &min, &batch);
	ok(min == 6 && batch == 3, "HOST_COUNT 6 of 9: batches of 3 (CodeDeploy's example)");
	is_int(MDEPLOY_EINVALID, mdeploy_deployment_config_plan(&c, 6, &min, &batch), "HOST_COUNT 6 of 6 refused");
	is_int(MDEPLOY_ENOTFOUND, mdeploy_deployment_config_lookup(&c, "Fast"), "unknown name");

	is_int(0, mdeploy_duration_parse("250ms", &ms), "250ms");
	is_int(250, ms, "= 250");
	mdeploy_duration_parse("1.5s", &ms);
	is_int(1500, ms, "1.5s = 1500");
	mdeploy_duration_parse("90", &ms);
	is_int(90000, ms, "bare number is seconds");
	is_int(MDEPLOY_EINVALID, mdeploy_duration_parse("-1s", &ms), "negative refused");
	return done();
}
