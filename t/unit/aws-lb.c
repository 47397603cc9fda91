/*
 * aws-lb.c - the aws provider's load balancer on moto_server (run by
 * t/t8052-aws-lb.sh after moto_start: signatures checked). Setup through
 * the same AWS client: a VPC, two subnets, a launch template, an ALB whose
 * one listener forwards to a target group that infra made, and two fleets
 * (Auto Scaling groups, through the provider). What the provider did is
 * read back from moto with the client (DescribeListeners, DescribeRules,
 * DescribeTargetGroups, DescribeTargetHealth), not through the provider.
 *
 * Then the orchestrator's own traffic code (deploy/traffic.c, rollback.c)
 * on it: a canary shift to the green fleet while a CloudWatch alarm of
 * provider.alarms is in ALARM (SetAlarmState) stops the shift with an
 * alarm, and the rollback puts every request back on blue (weights read
 * back from moto) and retires green (its Auto Scaling group and target
 * group gone from moto).
 */
#include "provider/aws/ops.h"
#include "deploy/deploy_private.h"
#include "tap.h"

#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws-query.h"
#define ELB(a, p, path) q("elasticloadbalancing", "ELASTIC_LOAD_BALANCING_V2", "2015-12-01", a, p, path)
#define CW(a, p, path) q("monitoring", "CLOUDWATCH", "2010-08-01", a, p, path)

/* The deregistration delay of the target group named `name` (DescribeTargetGroupAttributes), "" if none. */
static void drain_of(char *out, size_t n, const char *name)
{
	const char *p1[] = { "Names.member.1", name, NULL };
	char *arn = ELB("DescribeTargetGroups", p1, "TargetGroups/member/TargetGroupArn");
	xmlDoc *doc = NULL;
	xmlNodePtr m;
	out[0] = '\0';
	if (arn) {
		const char *p2[] = { "TargetGroupArn", arn, NULL };
		if (mdeploy_aws__query_call(cl, "elasticloadbalancing", "ELASTIC_LOAD_BALANCING_V2", "2015-12-01",
		                            "DescribeTargetGroupAttributes", p2, &doc) == 0) {
			MDEPLOY_AWSP__FOREACH(m, mdeploy_awsp__xml_root(doc, "DescribeTargetGroupAttributesResult/Attributes")) {
				char *k = mdeploy_awsp__xml_child_text(m, "Key"), *v = mdeploy_awsp__xml_child_text(m, "Value");
				if (k && v && !strcmp(k, "deregistration_delay.timeout_seconds"))
					snprintf(out, n, "%s", v);
				xmlFree(k);
				xmlFree(v);
			}
			xmlFreeDoc(doc);
		} else
			diag("DescribeTargetGroupAttributes: %s", mdeploy_error_last()->message);
	}
	free(arn);
}

/* "arn=weight ..." of a forward action in `doc` under `path`, target groups by name. */
static void weights_of(char *out, size_t n, const char *action, const char *const *params, const char *path)
{
	xmlDoc *doc = NULL;
	xmlNodePtr a, m;
	size_t len = 0;
	out[0] = '\0';
	if (mdeploy_aws__query_call(cl, "elasticloadbalancing", "ELASTIC_LOAD_BALANCING_V2", "2015-12-01", action,
	                            params, &doc)) {
		diag("%s: %s", action, mdeploy_error_last()->message);
		snprintf(out, n, "error");
		return;
	}
	a = mdeploy_awsp__xml_root(doc, path);
	MDEPLOY_AWSP__FOREACH(m, mdeploy_awsp__xml_child(a, "ForwardConfig/TargetGroups")) {
		char *arn = mdeploy_awsp__xml_child_text(m, "TargetGroupArn"), *w = mdeploy_awsp__xml_child_text(m, "Weight");
		const char *s = arn ? strstr(arn, ":targetgroup/") : NULL, *e;
		if (s) {
			s += strlen(":targetgroup/");
			e = strchr(s, '/');
			snprintf(out + len, n - len, "%s%.*s=%s", len ? " " : "", (int)(e ? e - s : (long)strlen(s)), s,
			         w ? w : "?");
			len = strlen(out);
		}
		xmlFree(arn);
		xmlFree(w);
	}
	xmlFreeDoc(doc);
}

static char listener_arn[512];

static void listener_weights(char *out, size_t n)
{
	const char *p[] = { "ListenerArns.member.1", listener_arn, NULL };
	weights_of(out, n, "DescribeListeners", p, "DescribeListenersResult/Listeners/member/DefaultActions/member");
}

static void rule_weights(char *out, size_t n)
{
	const char *p[] = { "ListenerArn", listener_arn, NULL };
	weights_of(out, n, "DescribeRules", p, "DescribeRulesResult/Rules/member/Actions/member");
}

struct tsum { char buf[1024]; unsigned int up, down; };

static int target_cb(const mdeploy_target_status *t, void *payload)
{
	struct tsum *s = payload;
	size_t n = strlen(s->buf);
	snprintf(s->buf + n, sizeof(s->buf) - n, "%s%s:%s:%s:%u:%s", n ? " " : "", t->fleet, t->health, t->state,
	         t->weight, t->check_status);
	if (!strcmp(t->health, "UP"))
		s->up++;
	else
		s->down++;
	return 0;
}

static int fleet_cb(const mdeploy_lb_fleet_status *f, void *payload)
{
	char *buf = payload;
	size_t n = strlen(buf);
	snprintf(buf + n, 512 - n, "%s%s:%u:%u/%u:%u", n ? " " : "", f->fleet, f->weight, f->in_rotation, f->targets,
	         f->share_permille);
	return 0;
}

struct ids { char id[8][32]; size_t n; };

static int inst_cb(const mdeploy_instance_info *i, void *payload)
{
	struct ids *l = payload;
	if (l->n < 8)
		snprintf(l->id[l->n++], 32, "%s", i->id);
	return 0;
}

static int alarm_cb(const mdeploy_lb_alarm *a, void *payload)
{
	char *buf = payload;
	size_t n = strlen(buf);
	snprintf(buf + n, 256 - n, "%s%s=%s", n ? " " : "", a->name, a->state);
	return 0;
}

static int nop_fleet(const mdeploy_fleet_info *f, void *payload)
{
	(void)f;
	(void)payload;
	return 0;
}

static int open_provider(mdeploy_provider **p, mdeploy_ctx *ctx, mdeploy_store *store, const char *const *settings)
{
	mdeploy_provider_options po = MDEPLOY_PROVIDER_OPTIONS_INIT;
	po.name = "aws";
	po.settings = settings;
	if (mdeploy_provider_open(p, ctx, store, &po)) {
		diag("%s", mdeploy_error_last()->message);
		return -1;
	}
	return 0;
}

int main(void)
{
	mdeploy_aws__client_options co;
	mdeploy_ctx *ctx = NULL;
	mdeploy_store *store = NULL;
	mdeploy_provider *p = NULL, *pa = NULL, *pbad = NULL;
	mdeploy_fleet_options fo = MDEPLOY_FLEET_OPTIONS_INIT;
	mdeploy_lb_options lo = MDEPLOY_LB_OPTIONS_INIT;
	mdeploy_ctx_options cto = MDEPLOY_CTX_OPTIONS_INIT;
	char *vpc, *sa, *sb, *v, *seed, subnets[128], buf[1024], fl[512], bind[300];
	const char *settings[] = { "launch_template", "lt", "subnets", subnets, NULL };
	const char *settings_alarm[] = { "launch_template", "lt", "subnets", subnets, "alarms", "app-prod-5xx", NULL };
	const char *settings_bad[] = { "listener", "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/"
	                               "nope/0123456789abcdef/0123456789abcdef", NULL };
	struct ids blue, green;
	struct tsum ts;
	size_t i;
	int rc;

	plan_lazy();
	memset(&co, 0, sizeof(co));
	if (mdeploy_aws__client_new(&cl, &co)) {
		diag("%s", mdeploy_error_last()->message);
		return 1;
	}
	{
		const char *p1[] = { "CidrBlock", "10.9.0.0/16", NULL };
		vpc = EC2("CreateVpc", p1, "vpc/vpcId");
	}
	{
		const char *pa_[] = { "VpcId", vpc, "CidrBlock", "10.9.1.0/24", "AvailabilityZone", "us-east-1a", NULL };
		const char *pb_[] = { "VpcId", vpc, "CidrBlock", "10.9.2.0/24", "AvailabilityZone", "us-east-1b", NULL };
		sa = EC2("CreateSubnet", pa_, "subnet/subnetId");
		sb = EC2("CreateSubnet", pb_, "subnet/subnetId");
	}
	snprintf(subnets, sizeof(subnets), "%s,%s", sa ? sa : "", sb ? sb : "");
	{
		const char *p1[] = { "LaunchTemplateName", "lt", "LaunchTemplateData.ImageId", "ami-12c6146b",
		                     "LaunchTemplateData.InstanceType", "t3.micro", NULL };
		free(EC2("CreateLaunchTemplate", p1, NULL));
	}
	/* The ALB as infra/aws/app.yaml makes it: one listener forwarding to a first target group. */
	{
		const char *p1[] = { "Name", "app-prod", "Subnets.member.1", sa, "Subnets.member.2", sb, NULL };
		const char *p2[] = { "Name", "infra-first", "Protocol", "HTTP", "Port", "80", "VpcId", vpc, NULL };
		char *lb = ELB("CreateLoadBalancer", p1, "LoadBalancers/member/LoadBalancerArn");
		seed = ELB("CreateTargetGroup", p2, "TargetGroups/member/TargetGroupArn");
		if (lb && seed) {
			const char *p3[] = { "LoadBalancerArn", lb, "Protocol", "HTTP", "Port", "80",
			                     "DefaultActions.member.1.Type", "forward",
			                     "DefaultActions.member.1.TargetGroupArn", seed, NULL };
			v = ELB("CreateListener", p3, "Listeners/member/ListenerArn");
			snprintf(listener_arn, sizeof(listener_arn), "%s", v ? v : "");
			free(v);
		}
		free(lb);
	}
	ok(vpc && sa && sb && seed && listener_arn[0], "setup: VPC, subnets, launch template, ALB app-prod + listener");
	if (!listener_arn[0])
		return done();

	mdeploy_ctx_new(&ctx, &cto);
	if (mdeploy_store_open(&store, ctx, NULL)) {
		diag("%s", mdeploy_error_last()->message);
		return 1;
	}
	if (open_provider(&p, ctx, store, settings))
		return done();

	/* two fleets of two instances */
	fo.desired = 2;
	fo.min = 1;
	fo.max = 4;
	fo.port = 8080;
	is_int(0, mdeploy_fleet_create(p, "app-prod-v001", &fo), "fleet app-prod-v001 (blue)");
	is_int(0, mdeploy_fleet_create(p, "app-prod-v002", &fo), "fleet app-prod-v002 (green)");
	memset(&blue, 0, sizeof(blue));
	memset(&green, 0, sizeof(green));
	mdeploy_instance_foreach(p, "app-prod-v001", inst_cb, &blue);
	mdeploy_instance_foreach(p, "app-prod-v002", inst_cb, &green);
	is_int(2, (int)(blue.n + green.n) / 2, "two instances each");

	/* ensure: finds the ALB by name and its forwarding listener; creates nothing */
	lo.health_path = "/health.php";
	lo.health_interval_ms = 3000;  /* below ALB's 5 s minimum */
	lo.healthy_threshold = 3;
	lo.drain_timeout_ms = 44500;   /* mdeploy.yml's drain_timeout; ELB takes whole seconds */
	if (!is_int(0, mdeploy_lb_ensure(p, "app-prod", &lo), "lb_ensure app-prod"))
		diag("%s", mdeploy_error_last()->message);
	ok(mdeploy_lb_running(p, "app-prod"), "lb_running");
	is_int(1000, (int)mdeploy_lb_poll_ms(p, 200), "waits read target health at most once a second (throttling)");
	is_int(5000, (int)mdeploy_lb_poll_ms(p, 5000), "... and every health-check interval when longer");
	ok(!mdeploy_lb_running(p, "app-none"), "lb_running: no ALB of that name");
	is_int(0, mdeploy_lb_bind(p, "app-prod", bind, sizeof(bind)), "lb_bind");
	like(bind, ".elb.amazonaws.com:80", "bind is the ALB's DNS name and the listener's port");
	rc = mdeploy_lb_ensure(p, "app-none", &lo);
	is_int(MDEPLOY_ENOTFOUND, rc, "lb_ensure of an ALB that does not exist: ENOTFOUND");
	like(mdeploy_error_last()->message, "LoadBalancerNotFound); set provider.listener", "... naming the code and the fix");

	/* register blue: its target group made, in the listener at weight 0 */
	for (i = 0; i < blue.n; i++)
		if (!is_int(0, mdeploy_lb_register(p, "app-prod", blue.id[i], 0, MDEPLOY_TARGET_READY), "register blue"))
			diag("%s", mdeploy_error_last()->message);
	listener_weights(buf, sizeof(buf));
	is_str("infra-first=1 app-prod-v001=0", buf, "moto: blue's target group joined the listener at weight 0");
	{
		const char *p1[] = { "Names.member.1", "app-prod-v001", NULL };
		v = ELB("DescribeTargetGroups", p1, "TargetGroups/member/HealthCheckPath");
		is_str("/health.php", v, "moto: the target group checks the health path given");
		free(v);
		v = ELB("DescribeTargetGroups", p1, "TargetGroups/member/HealthCheckIntervalSeconds");
		is_str("5", v, "moto: interval 3 s raised to ALB's minimum 5 s");
		free(v);
		v = ELB("DescribeTargetGroups", p1, "TargetGroups/member/HealthyThresholdCount");
		is_str("3", v, "moto: healthy threshold 3");
		free(v);
		v = ELB("DescribeTargetGroups", p1, "TargetGroups/member/Port");
		is_str("8080", v, "moto: the fleet's port");
		free(v);
	}
	drain_of(buf, sizeof(buf), "app-prod-v001");
	is_str("45", buf, "moto DescribeTargetGroupAttributes: deregistration delay from drain_timeout (44.5 s -> 45)");
	{
		mdeploy_fleet_weight w[2] = { { "app-prod-v001", 100, MDEPLOY_TARGET_READY },
		                              { "infra-first", 0, -1 } };
		if (!is_int(0, mdeploy_lb_set_fleet_weights(p, "app-prod", w, 1), "blue at weight 100"))
			diag("%s", mdeploy_error_last()->message);
		listener_weights(buf, sizeof(buf));
		is_str("infra-first=0 app-prod-v001=100", buf,
		       "moto: blue 100; infra's target group without targets loses its weight");
	}

	/* register green from another handle that never ensured (a resumed deployment):
	 * its target group gets the health check of the live fleet's */
	{
		mdeploy_provider *p2 = NULL;
		if (!open_provider(&p2, ctx, store, settings)) {
			is_int(0, mdeploy_lb_register(p2, "app-prod", green.id[0], 0, MDEPLOY_TARGET_READY),
			       "register green from a handle that did not ensure");
			mdeploy_provider_free(p2);
		}
	}
	{
		const char *p1[] = { "Names.member.1", "app-prod-v002", NULL };
		v = ELB("DescribeTargetGroups", p1, "TargetGroups/member/HealthCheckPath");
		is_str("/health.php", v, "moto: green's target group checks the live fleet's health path");
		free(v);
		v = ELB("DescribeTargetGroups", p1, "TargetGroups/member/HealthyThresholdCount");
		is_str("3", v, "moto: and its threshold");
		free(v);
	}
	drain_of(buf, sizeof(buf), "app-prod-v002");
	is_str("45", buf, "moto: and its deregistration delay");

	/* register green, shift 10% to it: one ModifyListener, read back from listener and rule */
	for (i = 0; i < green.n; i++)
		mdeploy_lb_register(p, "app-prod", green.id[i], 0, MDEPLOY_TARGET_READY);
	{
		mdeploy_fleet_weight w[2] = { { "app-prod-v002", 10, MDEPLOY_TARGET_READY },
		                              { "app-prod-v001", 90, MDEPLOY_TARGET_READY } };
		if (!is_int(0, mdeploy_lb_set_fleet_weights(p, "app-prod", w, 2), "shift: green 10, blue 90"))
			diag("%s", mdeploy_error_last()->message);
	}
	listener_weights(buf, sizeof(buf));
	is_str("infra-first=0 app-prod-v001=90 app-prod-v002=10", buf, "moto DescribeListeners: 90/10");
	rule_weights(buf, sizeof(buf));
	is_str("infra-first=0 app-prod-v001=90 app-prod-v002=10", buf, "moto DescribeRules (default rule): 90/10");
	fl[0] = '\0';
	is_int(0, mdeploy_lb_fleets(p, "app-prod", fleet_cb, fl), "lb_fleets");
	is_str("app-prod-v001:90:2/2:900 app-prod-v002:10:2/2:100", fl, "fleets: weights, targets, shares");
	{
		mdeploy_fleet_weight w[1] = { { "app-prod-v009", 10, -1 } };
		is_int(MDEPLOY_ENOTFOUND, mdeploy_lb_set_fleet_weights(p, "app-prod", w, 1),
		       "a fleet without a target group: ENOTFOUND");
		listener_weights(buf, sizeof(buf));
		is_str("infra-first=0 app-prod-v001=90 app-prod-v002=10", buf, "moto: nothing changed");
	}

	/* health: moto's targets are healthy unless their instance is stopped */
	memset(&ts, 0, sizeof(ts));
	is_int(0, mdeploy_lb_targets(p, "app-prod", target_cb, &ts), "lb_targets");
	is_int(4, (int)ts.up, "four targets UP (healthy)");
	like(ts.buf, "app-prod-v002:UP:ready:10:L7OK", "green's targets: UP, ready, weight 10, check passed");
	{
		const char *p1[] = { "InstanceId.1", green.id[0], NULL };
		free(EC2("StopInstances", p1, NULL));
	}
	memset(&ts, 0, sizeof(ts));
	mdeploy_lb_targets(p, "app-prod", target_cb, &ts);
	is_int(1, (int)ts.down, "a stopped instance's target is not UP");
	like(ts.buf, "app-prod-v002:DOWN:ready:10:Target.InvalidState", "... DOWN with ELB's reason as the check");
	fl[0] = '\0';
	mdeploy_lb_fleets(p, "app-prod", fleet_cb, fl);
	like(fl, "app-prod-v002:10:1/2:", "fleets: green has 1 of 2 in rotation");
	{
		const char *p1[] = { "InstanceId.1", green.id[0], NULL };
		free(EC2("StartInstances", p1, NULL));
	}

	/* states: drain/maint deregister, ready registers, one call per target group */
	{
		mdeploy_lb_change c[1] = { { blue.id[1], -1, MDEPLOY_TARGET_MAINT } };
		is_int(0, mdeploy_lb_apply(p, "app-prod", c, 1), "lb_apply: a blue target to maint");
		fl[0] = '\0';
		mdeploy_lb_fleets(p, "app-prod", fleet_cb, fl);
		like(fl, "app-prod-v001:90:1/1:", "moto: deregistered (1 target left)");
		c[0].state = MDEPLOY_TARGET_READY;
		is_int(0, mdeploy_lb_apply(p, "app-prod", c, 1), "lb_apply: back to ready");
		fl[0] = '\0';
		mdeploy_lb_fleets(p, "app-prod", fleet_cb, fl);
		like(fl, "app-prod-v001:90:2/2:", "moto: registered again");
	}

	/* errors name the API call and AWS's error code */
	if (!open_provider(&pbad, ctx, store, settings_bad)) {
		rc = mdeploy_lb_ensure(pbad, "app-prod", &lo);
		ok(rc != 0, "a listener ARN that does not exist fails");
		like(mdeploy_error_last()->message, "aws: elasticloadbalancing:DescribeListeners: ListenerNotFound: ",
		     "... naming the call and the code");
		mdeploy_provider_free(pbad);
	}
	is_int(MDEPLOY_ENOTFOUND, mdeploy_lb_register(p, "app-prod", "i-0123456789abcdef0", 0, MDEPLOY_TARGET_READY),
	       "registering an instance of no Auto Scaling group: ENOTFOUND");
	like(mdeploy_error_last()->message, "autoscaling:DescribeAutoScalingInstances", "... naming the call");

	/* alarms: provider.alarms read with DescribeAlarms */
	if (open_provider(&pa, ctx, store, settings_alarm))
		return done();
	fl[0] = '\0';
	rc = mdeploy_lb_alarms(pa, "app-prod", alarm_cb, fl);
	is_int(MDEPLOY_ENOTFOUND, rc, "an alarm named in provider.alarms that does not exist: ENOTFOUND");
	like(mdeploy_error_last()->message, "alarm 'app-prod-5xx' (mdeploy.yml provider.alarms) does not exist", "... naming it");
	{
		const char *p1[] = { "AlarmName", "app-prod-5xx", "MetricName", "HTTPCode_Target_5XX_Count",
		                     "Namespace", "AWS/ApplicationELB", "Statistic", "Sum", "Period", "60",
		                     "EvaluationPeriods", "1", "Threshold", "10",
		                     "ComparisonOperator", "GreaterThanThreshold", NULL };
		free(CW("PutMetricAlarm", p1, NULL));
	}
	fl[0] = '\0';
	is_int(0, mdeploy_lb_alarms(pa, "app-prod", alarm_cb, fl), "lb_alarms");
	like(fl, "app-prod-5xx=OK", "the alarm, not in ALARM");

	/* The orchestrator's shift on it: canary of 10 percent, then watch; the alarm goes off. */
	{
		mdeploy_group g;
		mdeploy_deploy__run r;
		mdeploy_deployment_record rec;
		mdeploy_deployment *d = NULL;
		char id[12];

		memset(&g, 0, sizeof(g));
		g.name = "prod";
		g.traffic_interval_ms = 4000;
		g.alarm_window_ms = 1000;
		g.rollback_on_alarm = g.rollback_on_failure = 1;
		g.drain_timeout_ms = 1000;
		memset(&r, 0, sizeof(r));
		r.ctx = ctx;
		r.g = &g;
		r.store = store;
		r.p = pa;
		mdeploy_deployment_id_new(id);
		memset(&rec, 0, sizeof(rec));
		rec.id = id;
		rec.application = "app";
		rec.group = "prod";
		rec.status = "InProgress";
		rec.strategy = "blue-green";
		mdeploy_store_deployment_insert(store, &rec);
		snprintf(r.id, sizeof(r.id), "%s", id);
		snprintf(r.app, sizeof(r.app), "app");
		snprintf(r.lb, sizeof(r.lb), "app-prod");
		snprintf(r.lock, sizeof(r.lock), "deploy/app/prod");
		snprintf(r.key, sizeof(r.key), "deploy/app/prod");
		snprintf(r.blue, sizeof(r.blue), "app-prod-v001");
		snprintf(r.green, sizeof(r.green), "app-prod-v002");
		is_int(0, mdeploy_deploy__lock_take(&r, "t8052", 0), "the group lock");
		{
			const char *p1[] = { "AlarmName", "app-prod-5xx", "StateValue", "ALARM",
			                     "StateReason", "Threshold Crossed: 42 5xx", NULL };
			free(CW("SetAlarmState", p1, NULL));
		}
		rc = mdeploy_deploy__step(&r, "shift", "10", mdeploy_deploy__s_shift, NULL);
		is_int(MDEPLOY_ECONFLICT, rc, "the canary step stops with the alarm");
		like(mdeploy_error_last()->message, "alarm: app-prod-5xx is in ALARM: Threshold Crossed: 42 5xx",
		     "... an alarm (rolls back when rollback.on_alarm), naming it and its reason");
		listener_weights(buf, sizeof(buf));
		is_str("infra-first=0 app-prod-v001=90 app-prod-v002=10", buf, "moto: the canary had moved 10 percent");
		rc = mdeploy_deploy__rollback(&r, mdeploy_error_last()->message);
		is_int(MDEPLOY_EHOOK, rc, "rollback");
		like(mdeploy_error_last()->message, "rolled back: alarm: app-prod-5xx", "... says why");
		listener_weights(buf, sizeof(buf));
		is_str("infra-first=0 app-prod-v001=100", buf,
		       "moto: blue takes everything, green's target group left the listener");
		{
			const char *p1[] = { "Names.member.1", "app-prod-v002", NULL };
			v = ELB("DescribeTargetGroups", p1, "TargetGroups/member/TargetGroupArn");
			ok(v == NULL, "moto: green's target group deleted");
			free(v);
			mdeploy_error_clear();
		}
		/* Retired after the lock, as every rollback does (retire.c). */
		is_int(0, mdeploy_fleet_get(pa, "app-prod-v002", nop_fleet, NULL), "green's group waits for retirement");
		{
			size_t retired = 0;
			is_int(0, mdeploy_deploy__retire_pending(&r, &retired), "retire pending fleets");
			is_int(1, (int)retired, "... one");
		}
		is_int(MDEPLOY_ENOTFOUND, mdeploy_fleet_get(pa, "app-prod-v002", nop_fleet, NULL),
		       "moto: green's Auto Scaling group deleted");
		is_int(0, mdeploy_fleet_get(pa, "app-prod-v001", nop_fleet, NULL), "moto: blue's is there");
		if (mdeploy_store_deployment_get(store, id, &d) == 0) {
			is_str("RolledBack", mdeploy_deployment_record_of(d)->status, "the deployment is RolledBack");
			mdeploy_deployment_free(d);
		}
		r.p = NULL; /* the test's, not the run's */
		r.store = NULL;
		mdeploy_deploy__run_dispose(&r);
	}

	/* A target group found (a crash after CreateTargetGroup, replayed) with ELB's default 300 s:
	 * its deregistration delay is set to drain_timeout. */
	{
		const char *p1[] = { "Name", "app-prod-v003", "Protocol", "HTTP", "Port", "8080", "VpcId", vpc, NULL };
		struct ids third;
		free(ELB("CreateTargetGroup", p1, NULL));
		drain_of(buf, sizeof(buf), "app-prod-v003");
		is_str("300", buf, "moto: a target group made before, ELB's default delay");
		fo.desired = 1;
		is_int(0, mdeploy_fleet_create(p, "app-prod-v003", &fo), "fleet app-prod-v003");
		memset(&third, 0, sizeof(third));
		mdeploy_instance_foreach(p, "app-prod-v003", inst_cb, &third);
		if (is_int(1, (int)third.n, "its instance") &&
		    !is_int(0, mdeploy_lb_register(p, "app-prod", third.id[0], 0, MDEPLOY_TARGET_READY), "register it"))
			diag("%s", mdeploy_error_last()->message);
		drain_of(buf, sizeof(buf), "app-prod-v003");
		is_str("45", buf, "moto: the found target group's delay set from drain_timeout");
	}

	mdeploy_provider_free(pa);
	mdeploy_provider_free(p);
	mdeploy_store_free(store);
	mdeploy_ctx_free(ctx);
	mdeploy_aws__client_free(cl);
	free(vpc);
	free(sa);
	free(sb);
	free(seed);
	return done();
}
