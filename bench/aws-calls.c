/*
 * aws-calls.c - AWS API calls a blue/green deployment of N instances makes
 * through the aws provider, counted by API and by phase (run by
 * bench/aws-calls-bench.sh after moto_start; moto with signatures).
 *
 * The phases call the orchestrator's own code where it is reachable from
 * here (deploy/traffic.c's split, watch and drain, health.c's gate,
 * retention.c's retirement) and the same provider calls as bluegreen.c's
 * static steps otherwise (fleet create, register: a target listing, then
 * lb_register per instance). Waits are one poll each (moto's targets are
 * healthy at once, intervals 0): the cost of one poll is printed apart, a
 * real deployment pays it once per poll interval.
 *
 * Output: "N PHASE API COUNT" lines, then "N total COUNT".
 */
#include "provider/aws/ops.h"
#include "deploy/deploy_private.h"

#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static mdeploy_aws__client *cl;

struct counter {
	char api[64][80];
	unsigned int n[64];
	size_t k;
	unsigned int total;
};

static struct counter cnt;

static int log_cb(mdeploy_log_level level, const char *component, const char *message, void *payload)
{
	size_t i;
	(void)level;
	(void)payload;
	if (strcmp(component, "aws") || strncmp(message, "call ", 5))
		return 0;
	message += 5;
	cnt.total++;
	for (i = 0; i < cnt.k; i++)
		if (!strcmp(cnt.api[i], message)) {
			cnt.n[i]++;
			return 0;
		}
	if (cnt.k < 64) {
		snprintf(cnt.api[cnt.k], sizeof(cnt.api[0]), "%s", message);
		cnt.n[cnt.k++] = 1;
	}
	return 0;
}

static unsigned int grand;

static void phase(unsigned int n, const char *name, int rc)
{
	size_t i;
	if (rc)
		fprintf(stderr, "aws-calls: %s: %s\n", name, mdeploy_error_last()->message);
	for (i = 0; i < cnt.k; i++)
		printf("%u %s %s %u\n", n, name, cnt.api[i], cnt.n[i]);
	printf("%u %s all %u\n", n, name, cnt.total);
	grand += cnt.total;
	memset(&cnt, 0, sizeof(cnt));
}

static char *q(const char *svc, const char *env, const char *ver, const char *action, const char *const *params,
               const char *path)
{
	xmlDoc *doc = NULL;
	char *v = NULL;
	if (mdeploy_aws__query_call(cl, svc, env, ver, action, params, &doc)) {
		fprintf(stderr, "setup %s: %s\n", action, mdeploy_error_last()->message);
		exit(1);
	}
	v = path ? mdeploy_aws__xml_text(doc, path) : strdup("");
	xmlFreeDoc(doc);
	return v;
}
#define EC2(a, p, path) q("ec2", "EC2", "2016-11-15", a, p, path)
#define ELB(a, p, path) q("elasticloadbalancing", "ELASTIC_LOAD_BALANCING_V2", "2015-12-01", a, p, path)
#define CW(a, p, path) q("monitoring", "CLOUDWATCH", "2010-08-01", a, p, path)

static int register_fleet(mdeploy_deploy__run *r, const char *fleet)
{
	inst_list l;
	target_list t;
	size_t i, j;
	int rc;
	if ((rc = mdeploy_deploy__instances(r, fleet, &l)))
		return rc;
	/* bluegreen.c's s_register, one step per instance: registered already? then register */
	for (i = 0; i < l.n; i++) {
		int seen = 0;
		if ((rc = mdeploy_deploy__targets(r, &t)))
			return rc;
		for (j = 0; j < t.n; j++)
			seen |= !strcmp(t.t[j].instance, l.id[i]);
		if (!seen && (rc = mdeploy_lb_register(r->p, r->lb, l.id[i], 0, MDEPLOY_TARGET_READY)))
			return rc;
	}
	return 0;
}

int main(int argc, char **argv)
{
	unsigned int n = argc > 1 ? (unsigned int)atoi(argv[1]) : 4;
	mdeploy_aws__client_options co;
	mdeploy_ctx *ctx = NULL;
	mdeploy_store *store = NULL;
	mdeploy_provider *p = NULL;
	mdeploy_provider_options po = MDEPLOY_PROVIDER_OPTIONS_INIT;
	mdeploy_ctx_options cto = MDEPLOY_CTX_OPTIONS_INIT;
	mdeploy_fleet_options fo = MDEPLOY_FLEET_OPTIONS_INIT;
	mdeploy_lb_options lo = MDEPLOY_LB_OPTIONS_INIT;
	mdeploy_deploy__run r;
	mdeploy_group g;
	char *vpc, *sa, *sb, *lb, *seed, subnets[128];
	const char *settings[] = { "launch_template", "lt", "subnets", subnets, "alarms", "bench-5xx", NULL };
	mdeploy_deployment_record rec;
	char id[12];
	int rc;

	memset(&co, 0, sizeof(co));
	if (mdeploy_aws__client_new(&cl, &co))
		return 1;
	{
		const char *p1[] = { "CidrBlock", "10.9.0.0/16", NULL };
		vpc = EC2("CreateVpc", p1, "vpc/vpcId");
	}
	{
		const char *pa[] = { "VpcId", vpc, "CidrBlock", "10.9.1.0/24", "AvailabilityZone", "us-east-1a", NULL };
		const char *pb[] = { "VpcId", vpc, "CidrBlock", "10.9.2.0/24", "AvailabilityZone", "us-east-1b", NULL };
		sa = EC2("CreateSubnet", pa, "subnet/subnetId");
		sb = EC2("CreateSubnet", pb, "subnet/subnetId");
	}
	snprintf(subnets, sizeof(subnets), "%s,%s", sa, sb);
	{
		const char *p1[] = { "LaunchTemplateName", "lt", "LaunchTemplateData.ImageId", "ami-12c6146b",
		                     "LaunchTemplateData.InstanceType", "t3.micro", NULL };
		free(EC2("CreateLaunchTemplate", p1, NULL));
	}
	{
		const char *p1[] = { "Name", "bench-prod", "Subnets.member.1", sa, "Subnets.member.2", sb, NULL };
		const char *p2[] = { "Name", "infra-first", "Protocol", "HTTP", "Port", "80", "VpcId", vpc, NULL };
		lb = ELB("CreateLoadBalancer", p1, "LoadBalancers/member/LoadBalancerArn");
		seed = ELB("CreateTargetGroup", p2, "TargetGroups/member/TargetGroupArn");
		{
			const char *p3[] = { "LoadBalancerArn", lb, "Protocol", "HTTP", "Port", "80",
			                     "DefaultActions.member.1.Type", "forward",
			                     "DefaultActions.member.1.TargetGroupArn", seed, NULL };
			free(ELB("CreateListener", p3, NULL));
		}
	}
	{
		const char *p1[] = { "AlarmName", "bench-5xx", "MetricName", "HTTPCode_Target_5XX_Count",
		                     "Namespace", "AWS/ApplicationELB", "Statistic", "Sum", "Period", "60",
		                     "EvaluationPeriods", "1", "Threshold", "10",
		                     "ComparisonOperator", "GreaterThanThreshold", NULL };
		free(CW("PutMetricAlarm", p1, NULL));
	}

	cto.log_cb = log_cb;
	cto.log_level = MDEPLOY_LOG_DEBUG;
	mdeploy_ctx_new(&ctx, &cto);
	if (mdeploy_store_open(&store, ctx, NULL))
		return 1;
	po.name = "aws";
	po.settings = settings;
	if (mdeploy_provider_open(&p, ctx, store, &po)) {
		fprintf(stderr, "%s\n", mdeploy_error_last()->message);
		return 1;
	}
	memset(&g, 0, sizeof(g));
	g.name = "prod";
	g.health_path = "/";
	g.health_interval_ms = 5000;
	g.healthy_threshold = 2;
	g.drain_timeout_ms = 1000;
	memset(&r, 0, sizeof(r));
	r.ctx = ctx;
	r.g = &g;
	r.store = store;
	r.p = p;
	mdeploy_deployment_id_new(id);
	memset(&rec, 0, sizeof(rec));
	rec.id = id;
	rec.application = "bench";
	rec.group = "prod";
	rec.status = "InProgress";
	rec.strategy = "blue-green";
	mdeploy_store_deployment_insert(store, &rec);
	snprintf(r.id, sizeof(r.id), "%s", id);
	snprintf(r.lb, sizeof(r.lb), "bench-prod");
	snprintf(r.lock, sizeof(r.lock), "group/bench/prod");
	snprintf(r.key, sizeof(r.key), "deploy/bench/prod");
	if (mdeploy_deploy__lock_take(&r, "aws-calls", 0))
		return 1;

	/* blue, live: made and put at weight 100 outside the count */
	fo.desired = fo.max = n;
	fo.min = 1;
	fo.port = 8080;
	if (mdeploy_fleet_create(p, "bench-prod-v001", &fo) || mdeploy_lb_ensure(p, "bench-prod", &lo) ||
	    register_fleet(&r, "bench-prod-v001")) {
		fprintf(stderr, "blue: %s\n", mdeploy_error_last()->message);
		return 1;
	}
	{
		mdeploy_fleet_weight w = { "bench-prod-v001", 100, MDEPLOY_TARGET_READY };
		mdeploy_lb_set_fleet_weights(p, "bench-prod", &w, 1);
	}
	memset(&cnt, 0, sizeof(cnt));
	/* A new handle, as a new deployment opens one: nothing cached. */
	mdeploy_provider_free(p);
	if (mdeploy_provider_open(&p, ctx, store, &po))
		return 1;
	r.p = p;
	snprintf(r.blue, sizeof(r.blue), "bench-prod-v001");
	snprintf(r.green, sizeof(r.green), "bench-prod-v002");

	phase(n, "lb_ensure", mdeploy_lb_ensure(p, "bench-prod", &lo));
	rc = mdeploy_fleet_create(p, "bench-prod-v002", &fo);
	phase(n, "fleet_create", rc);
	phase(n, "register", register_fleet(&r, "bench-prod-v002"));
	phase(n, "health_gate", mdeploy_deploy__wait_healthy(&r, "bench-prod-v002"));
	phase(n, "shift_10", mdeploy_deploy__apply_split(&r, r.blue, r.green, 10));
	phase(n, "watch_poll", mdeploy_deploy__watch(&r, 0));
	phase(n, "shift_100", mdeploy_deploy__apply_split(&r, r.blue, r.green, 100));
	r.alarms_at = 0;
	phase(n, "watch_poll", mdeploy_deploy__watch(&r, 0));
	phase(n, "drain_blue", mdeploy_deploy__s_drain(&r, r.blue, NULL));
	phase(n, "retire_blue", mdeploy_deploy__retire_fleet(&r, r.blue));
	printf("%u total all %u\n", n, grand);

	r.p = NULL;
	r.store = NULL;
	mdeploy_deploy__run_dispose(&r);
	mdeploy_provider_free(p);
	mdeploy_store_free(store);
	mdeploy_ctx_free(ctx);
	mdeploy_aws__client_free(cl);
	free(vpc);
	free(sa);
	free(sb);
	free(lb);
	free(seed);
	return 0;
}
