/* The local provider for real: PHP servers on their own loopback addresses,
 * an HAProxy changed only through its Runtime API, curl through it. */
#include "provider/provider.h"
#include "store/store_private.h"
#include "tap.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static unsigned int rnd(unsigned int n)
{
	unsigned int r = 0;
	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = (unsigned int)getpid();
	return r % n;
}

/* GET url with curl; body into out; returns the HTTP status or 0. */
static int http_get(const char *url, char *out, size_t n)
{
	const char *argv[] = { "curl", "-s", "-m", "5", "-w", "\n%{http_code}", url, NULL };
	mdeploy_exec_options eo = MDEPLOY_EXEC_OPTIONS_INIT;
	mdeploy_exec_result *r = NULL;
	const char *s, *nl;
	int code = 0;

	eo.search_path = 1;
	out[0] = '\0';
	if (mdeploy_exec_run(&r, argv, &eo))
		return 0;
	s = mdeploy_exec_result_stdout(r, NULL);
	if ((nl = strrchr(s, '\n'))) {
		code = atoi(nl + 1);
		snprintf(out, n, "%.*s", (int)(nl - s), s);
	}
	mdeploy_exec_result_free(r);
	return code;
}

static int boot(mdeploy_provider *p, const mdeploy_instance_info *inst, void *payload)
{
	const char *flavour = payload;
	char *dir, *file, *link;
	int rc;
	(void)p;
	dir = mdeploy__sprintf("%s/releases/r1%s", inst->root, !strcmp(flavour, "public") ? "/public" : "");
	file = mdeploy__sprintf("%s/index.php", dir);
	link = mdeploy__sprintf("%s/current", inst->root);
	mdeploy__mkdir_p(dir, 0755);
	{
		static const char php[] = "<?php echo getenv('MDEPLOY_INSTANCE_ID'), ' ', basename(__DIR__), \"\\n\";";
		rc = mdeploy__file_write_atomic(file, php, strlen(php), 0644);
	}
	if (!strcmp(flavour, "public")) {
		/* Moodle 5.1+: the code root has config.php and the web root is public/. */
		char *root_index = mdeploy__sprintf("%s/releases/r1/index.php", inst->root);
		mdeploy__file_write_atomic(root_index, "<?php echo 'wrong docroot';", strlen("<?php echo 'wrong docroot';"), 0644);
		free(root_index);
	}
	if (!rc && symlink("releases/r1", link) != 0)
		rc = -1;
	free(dir);
	free(file);
	free(link);
	return rc;
}

struct ids { char id[8][32]; char addr[8][32]; int n; unsigned int port; char root[8][1024]; long pid[8]; };

static int collect(const mdeploy_instance_info *inst, void *payload)
{
	struct ids *ids = payload;
	if (ids->n < 8) {
		snprintf(ids->id[ids->n], 32, "%s", inst->id);
		snprintf(ids->addr[ids->n], 32, "%s", inst->address);
		snprintf(ids->root[ids->n], 1024, "%s", inst->root);
		ids->pid[ids->n] = inst->pid;
		ids->port = inst->port;
		ids->n += !strcmp(inst->state, "running");
	}
	return 0;
}

struct targets { int n, up; char text[2048]; };

static int tcollect(const mdeploy_target_status *t, void *payload)
{
	struct targets *ts = payload;
	size_t len = strlen(ts->text);
	ts->n++;
	if (!strncmp(t->health, "UP", 2) || !strcmp(t->health, "DRAIN"))
		ts->up++;
	snprintf(ts->text + len, sizeof(ts->text) - len, "%s:%u:%s;", t->instance, t->weight, t->state);
	return 0;
}

static struct targets targets(mdeploy_provider *p, const char *lb)
{
	struct targets ts;
	memset(&ts, 0, sizeof(ts));
	if (mdeploy_lb_targets(p, lb, tcollect, &ts))
		diag("targets: %s", mdeploy_error_last()->message);
	return ts;
}

static int wait_up(mdeploy_provider *p, const char *lb, int want)
{
	int i;
	for (i = 0; i < 100; i++) {
		if (targets(p, lb).up == want)
			return 1;
		usleep(50000);
	}
	return 0;
}

static int fleet_cb(const mdeploy_fleet_info *f, void *payload)
{
	char *out = payload;
	sprintf(out + strlen(out), "%s:%u/%u/%u:%u;", f->name, f->min, f->desired, f->max, f->running);
	return 0;
}

int main(void)
{
	const char *tmp = test_tmpdir();
	char *state = mdeploy__sprintf("%s/s", tmp);
	mdeploy_ctx_options co = MDEPLOY_CTX_OPTIONS_INIT;
	mdeploy_provider_options po = MDEPLOY_PROVIDER_OPTIONS_INIT;
	mdeploy_fleet_options fo = MDEPLOY_FLEET_OPTIONS_INIT;
	mdeploy_lb_options lo = MDEPLOY_LB_OPTIONS_INIT;
	mdeploy_ctx *ctx = NULL;
	mdeploy_store *store = NULL;
	mdeploy_provider *p = NULL;
	struct ids ids;
	char base[16], bind[64], url[128], body[256], fl[512] = "", seen[2][64];
	unsigned int port = 1100 + rnd(8800), lbport;
	int i, hits[2];
	struct stat st;

	if (access("/usr/sbin/haproxy", X_OK) != 0 || system("php -v >/dev/null 2>&1") != 0) {
		plan_skip_all("haproxy or php missing");
		return 0;
	}
	plan_lazy();
	snprintf(base, sizeof(base), "127.%u", 100 + rnd(150));
	lbport = port + 1;
	snprintf(bind, sizeof(bind), "127.0.0.1:%u", lbport);
	co.state_dir = state;
	mdeploy_ctx_new(&ctx, &co);
	if (mdeploy_store_open(&store, ctx, NULL)) {
		diag("%s", mdeploy_error_last()->message);
		return 1;
	}
	po.address_base = base;
	po.boot_cb = boot;
	po.payload = (void *)"plain";
	po.php_workers = 2;
	is_int(0, mdeploy_provider_open(&p, ctx, store, &po), "open the local provider");
	is_str("local", mdeploy_provider_name(p), "its name");
	{
		mdeploy_provider *q = NULL;
		mdeploy_provider_options bad = MDEPLOY_PROVIDER_OPTIONS_INIT;
		bad.name = "nimbus";
		is_int(MDEPLOY_ENOTFOUND, mdeploy_provider_open(&q, ctx, store, &bad), "unknown provider refused");
	}

	/* --- fleets and instances --- */
	fo.desired = 2; fo.min = 1; fo.max = 4; fo.port = port;
	is_int(MDEPLOY_EINVALID, mdeploy_fleet_create(p, "bad name", &fo), "invalid fleet name refused");
	fo.launch_template = "lt";
	is_int(MDEPLOY_EINVALID, mdeploy_fleet_create(p, "demo-prod-v001", &fo),
	       "a launch template is refused, not ignored (aws only)");
	fo.launch_template = NULL;
	fo.desired = 5;
	is_int(MDEPLOY_EINVALID, mdeploy_fleet_create(p, "demo-prod-v001", &fo), "desired above max refused");
	fo.desired = 2;
	is_int(0, mdeploy_fleet_create(p, "demo-prod-v001", &fo), "create a fleet of 2");
	if (mdeploy_error_last()->code)
		diag("%s", mdeploy_error_last()->message);
	is_int(MDEPLOY_EEXISTS, mdeploy_fleet_create(p, "demo-prod-v001", &fo), "same name again: EEXISTS");
	memset(&ids, 0, sizeof(ids));
	mdeploy_instance_foreach(p, "demo-prod-v001", collect, &ids);
	is_int(2, ids.n, "two instances running");
	ok(strcmp(ids.addr[0], ids.addr[1]) != 0 && !strncmp(ids.addr[0], base, strlen(base)),
	   "each on its own loopback address (%s, %s)", ids.addr[0], ids.addr[1]);
	for (i = 0; i < 2; i++) {
		snprintf(url, sizeof(url), "http://%s:%u/", ids.addr[i], port);
		is_int(200, http_get(url, body, sizeof(body)), "instance %d serves on %s", i, url);
		like(body, ids.id[i], "instance %d answers with its own id", i);
	}
	mdeploy_fleet_get(p, "demo-prod-v001", fleet_cb, fl);
	is_str("demo-prod-v001:1/2/4:2;", fl, "fleet sizes and running count");

	/* --- the load balancer --- */
	lo.bind = bind;
	lo.slots = 8;
	lo.health_interval_ms = 100;
	lo.healthy_threshold = 1;
	lo.unhealthy_threshold = 1;
	is_int(0, mdeploy_lb_ensure(p, "demo-prod", &lo), "start HAProxy");
	if (mdeploy_error_last()->code)
		diag("%s", mdeploy_error_last()->message);
	ok(mdeploy_lb_running(p, "demo-prod"), "it runs");
	{
		char *sock = mdeploy__sprintf("%s/local/lb/demo-prod/admin.sock", state);
		ok(stat(sock, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0600,
		   "admin socket is mode 0600");
		free(sock);
	}
	is_int(0, mdeploy_lb_ensure(p, "demo-prod", &lo), "ensure again is a no-op");
	is_int(50, (int)mdeploy_lb_poll_ms(p, 1000), "waits read HAProxy's targets every 50 ms");
	is_int(50, (int)mdeploy_lb_poll_ms(p, 30000), "... whatever the health-check interval");
	is_int(0, targets(p, "demo-prod").n, "no targets yet");
	for (i = 0; i < 2; i++)
		is_int(0, mdeploy_lb_register(p, "demo-prod", ids.id[i], 100, MDEPLOY_TARGET_READY),
		       "register instance %d", i);
	ok(wait_up(p, "demo-prod", 2), "both targets pass HAProxy's health checks");
	{
		/* Weights belong to fleets: registered, a fleet without weight takes nothing yet. */
		mdeploy_fleet_weight fw = { "demo-prod-v001", 100, -1 };
		mdeploy_fleet_weight none = { "demo-nothing-v001", 100, -1 };
		mdeploy_fleet_weight big = { "demo-prod-v001", 1000, -1 };
		struct targets ts = targets(p, "demo-prod");
		snprintf(seen[0], sizeof(seen[0]), "%s:0:ready;", ids.id[0]);
		like(ts.text, seen[0], "a target of a fleet without weight joins at 0");
		is_int(MDEPLOY_EINVALID, mdeploy_lb_set_fleet_weights(p, "demo-prod", &big, 1), "fleet weight 1000 refused");
		is_int(MDEPLOY_ENOTFOUND, mdeploy_lb_set_fleet_weights(p, "demo-prod", &none, 1),
		       "a fleet without targets refused");
		is_int(0, mdeploy_lb_set_fleet_weights(p, "demo-prod", &fw, 1), "fleet weight 100");
		ts = targets(p, "demo-prod");
		snprintf(seen[0], sizeof(seen[0]), "%s:256:ready;", ids.id[0]);
		snprintf(seen[1], sizeof(seen[1]), "%s:256:ready;", ids.id[1]);
		ok(strstr(ts.text, seen[0]) && strstr(ts.text, seen[1]), "spread: 256 on each of its servers (%s)", ts.text);
	}
	snprintf(url, sizeof(url), "http://%s/", bind);
	hits[0] = hits[1] = 0;
	for (i = 0; i < 10; i++) {
		if (http_get(url, body, sizeof(body)) != 200)
			continue;
		if (strstr(body, ids.id[0])) hits[0]++;
		if (strstr(body, ids.id[1])) hits[1]++;
	}
	ok(hits[0] >= 3 && hits[1] >= 3 && hits[0] + hits[1] == 10,
	   "curl through HAProxy reaches both instances (%d/%d)", hits[0], hits[1]);

	{
		mdeploy_lb_change ch = { NULL, -1, MDEPLOY_TARGET_DRAIN };
		mdeploy_lb_change weighted = { NULL, 0, -1 };
		mdeploy_lb_change bad = { "i-000000000000", -1, MDEPLOY_TARGET_DRAIN };
		ch.instance = weighted.instance = ids.id[0];
		is_int(MDEPLOY_EINVALID, mdeploy_lb_apply(p, "demo-prod", &weighted, 1),
		       "a target's own weight is refused: weights belong to fleets");
		like(mdeploy_error_last()->message, "mdeploy_lb_set_fleet_weights", "and the error says what to use");
		is_int(0, mdeploy_lb_apply(p, "demo-prod", &ch, 1), "drain instance 0");
		is_int(MDEPLOY_ENOTFOUND, mdeploy_lb_apply(p, "demo-prod", &bad, 1), "unknown instance refused");
	}
	hits[0] = hits[1] = 0;
	for (i = 0; i < 6; i++) {
		http_get(url, body, sizeof(body));
		if (strstr(body, ids.id[0])) hits[0]++;
		if (strstr(body, ids.id[1])) hits[1]++;
	}
	ok(hits[0] == 0 && hits[1] == 6, "a drained target takes no new traffic (%d/%d)", hits[0], hits[1]);
	{
		struct targets ts = targets(p, "demo-prod");
		snprintf(seen[0], sizeof(seen[0]), "%s:256:drain;", ids.id[0]);
		snprintf(seen[1], sizeof(seen[1]), "%s:256:ready;", ids.id[1]);
		like(ts.text, seen[0], "target 0 reads weight 256, drain");
		like(ts.text, seen[1], "target 1 reads weight 256, ready");
	}

	/* A restart of HAProxy restores addresses, weights and states from the saved state. */
	is_int(0, mdeploy_lb_stop(p, "demo-prod"), "stop HAProxy");
	ok(!mdeploy_lb_running(p, "demo-prod"), "stopped");
	is_int(0, mdeploy_lb_ensure(p, "demo-prod", &lo), "start it again");
	{
		struct targets ts = targets(p, "demo-prod");
		is_int(2, ts.n, "both targets restored");
		like(ts.text, seen[0], "drain and its weight restored");
		like(ts.text, seen[1], "weight 256 restored");
	}
	ok(wait_up(p, "demo-prod", 2), "targets come back up");
	is_int(200, http_get(url, body, sizeof(body)), "serves after the restart");
	like(body, ids.id[1], "from the instance in rotation");

	/* --- scaling --- */
	po.boot_cb = NULL;  /* new instances copy their sibling's release */
	{
		mdeploy_provider *q = NULL;
		mdeploy_provider_open(&q, ctx, store, &po);
		is_int(0, mdeploy_fleet_scale(q, "demo-prod-v001", 3, 0, 0), "scale out to 3 (clone a sibling's release)");
		memset(&ids, 0, sizeof(ids));
		mdeploy_instance_foreach(q, "demo-prod-v001", collect, &ids);
		is_int(3, ids.n, "three running");
		snprintf(url, sizeof(url), "http://%s:%u/", ids.addr[2], port);
		is_int(200, http_get(url, body, sizeof(body)), "the new instance serves");
		like(body, "r1", "the release it copied");
		is_int(MDEPLOY_EINVALID, mdeploy_fleet_scale(q, "demo-prod-v001", 9, 0, 0), "above max refused");
		is_int(0, mdeploy_fleet_scale(q, "demo-prod-v001", 2, 0, 0), "scale in to 2");
		ok(!mdeploy_store__pid_alive(ids.pid[2], 0), "the newest instance's server is gone");
		ok(!mdeploy__path_exists(ids.root[2]), "and its root");
		mdeploy_provider_free(q);
	}

	/* --- Moodle 5.1+ layout: serve public/ --- */
	{
		mdeploy_provider *q = NULL;
		po.boot_cb = boot;
		po.payload = (void *)"public";
		mdeploy_provider_open(&q, ctx, store, &po);
		fo.desired = fo.min = fo.max = 1;
		is_int(0, mdeploy_fleet_create(q, "demo-new-v001", &fo), "a fleet serving a public/ release");
		memset(&ids, 0, sizeof(ids));
		mdeploy_instance_foreach(q, "demo-new-v001", collect, &ids);
		snprintf(url, sizeof(url), "http://%s:%u/", ids.addr[0], port);
		http_get(url, body, sizeof(body));
		like(body, "public", "document root is current/public when it has index.php");
		is_int(0, mdeploy_instance_restart(q, ids.id[0]), "restart an instance");
		is_int(200, http_get(url, body, sizeof(body)), "serves after restart");
		{
			/* A server the store never recorded (a crash between fork and write) must not outlive it. */
			pid_t stray = fork();
			if (stray == 0) {
				setsid();
				if (chdir(ids.root[0]) != 0)
					_exit(1);
				execlp("sleep", "sleep", "30", (char *)NULL);
				_exit(1);
			}
			usleep(100000);
			is_int(0, mdeploy_instance_terminate(q, ids.id[0]), "terminate the instance");
			{
				int ws = 0;
				ok(waitpid(stray, &ws, 0) == stray && WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL,
				   "an unrecorded process in its root is killed with it");
			}
		}
		fl[0] = '\0';
		mdeploy_fleet_get(q, "demo-new-v001", fleet_cb, fl);
		is_str("demo-new-v001:0/0/1:0;", fl, "desired shrinks with it");
		is_int(0, mdeploy_fleet_terminate(q, "demo-new-v001"), "terminate the empty fleet");
		mdeploy_provider_free(q);
	}

	/* --- a fleet whose server cannot start leaves nothing --- */
	{
		mdeploy_provider *q = NULL;
		mdeploy_provider_options o2 = po;
		o2.boot_cb = NULL;
		mdeploy_provider_open(&q, ctx, store, &o2);
		fo.desired = fo.min = fo.max = 1;
		is_int(MDEPLOY_ENOTFOUND, mdeploy_fleet_create(q, "demo-empty-v001", &fo),
		       "nothing to serve: creation fails");
		like(mdeploy_error_last()->message, "nothing to serve", "and says why");
		fl[0] = '\0';
		mdeploy_fleet_foreach(q, "demo-empty", fleet_cb, fl);
		is_str("", fl, "no fleet left behind");
		mdeploy_provider_free(q);
	}

	/* --- deregister and terminate --- */
	memset(&ids, 0, sizeof(ids));
	mdeploy_instance_foreach(p, "demo-prod-v001", collect, &ids);
	is_int(0, mdeploy_lb_deregister(p, "demo-prod", ids.id[0]), "deregister");
	is_int(MDEPLOY_ENOTFOUND, mdeploy_lb_deregister(p, "demo-prod", ids.id[0]), "twice: ENOTFOUND");
	is_int(1, targets(p, "demo-prod").n, "one target left");
	is_int(0, mdeploy_lb_register(p, "demo-prod", ids.id[0], 10, MDEPLOY_TARGET_READY), "the freed slot is reused");
	is_int(0, mdeploy_fleet_terminate(p, "demo-prod-v001"), "terminate the fleet");
	ok(!mdeploy_store__pid_alive(ids.pid[0], 0) && !mdeploy_store__pid_alive(ids.pid[1], 0),
	   "its servers are gone");
	is_int(MDEPLOY_ENOTFOUND, mdeploy_fleet_get(p, "demo-prod-v001", fleet_cb, fl), "and the fleet");
	is_int(0, mdeploy_lb_stop(p, "demo-prod"), "stop HAProxy");

	mdeploy_provider_free(p);
	mdeploy_store_free(store);
	mdeploy_ctx_free(ctx);
	free(state);
	return done();
}
