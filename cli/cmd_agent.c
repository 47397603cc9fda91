/* cmd_agent.c - mdeploy agent: the on-host agent (install, run-event, rollback, status, and
 * pull: the agent on EC2 installing from S3 and reporting, as user data runs it). */
#include "config.h"
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

enum {
	O_ROOT = CLI_OPT_CMD, O_ID, O_APP, O_GROUP, O_GROUP_ID, O_INSTANCE_ID, O_INSTANCE_ADDR,
	O_SHARED, O_KEEP, O_ENV, O_ENV_FILE, O_TRAFFIC, O_NO_ONCE, O_BUNDLE, O_TRUSTED, O_IGNORE_STOP,
	O_SHA256, O_REPORT, O_REGION, O_ENDPOINT
};

struct args {
	const char *root;
	const char *bundle;
	const char *shared;
	unsigned int keep;
	int traffic, no_once;
	mdeploy_agent_deployment d;
	char **env;
	size_t nenv;
	const char *keys[17];
	size_t nkeys;
	mdeploy_agent_pull_options pull;
};

static int push_env(struct args *a, const char *kv)
{
	char **n;
	if (!strchr(kv, '=') || kv[0] == '=')
		return cli_usage_error("agent", "--env wants KEY=VALUE, not '%s'", kv);
	if (!(n = realloc(a->env, (a->nenv + 2) * sizeof(*n))) || !(n[a->nenv] = strdup(kv))) {
		if (n)
			a->env = n;
		return cli_error("out of memory");
	}
	a->env = n;
	a->env[++a->nenv] = NULL;
	return 0;
}

/* KEY=VALUE lines; blank lines and # comments skipped. Values are never printed. */
static int read_env_file(struct args *a, const char *path)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = 0, lineno = 0;

	if (!f)
		return cli_error("cannot read '%s': %s", path, strerror(errno));
	while (!rc && (n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (!*line || *line == '#')
			continue;
		if (!strchr(line, '=') || *line == '=')
			rc = cli_error("%s:%d: expected KEY=VALUE", path, lineno);
		else
			rc = push_env(a, line);
	}
	free(line);
	fclose(f);
	return rc;
}

static int opt(int c, const char *arg, void *data)
{
	struct args *a = data;
	char *end;
	switch (c) {
	case O_ROOT: a->root = arg; break;
	case O_ID: a->d.deployment_id = arg; break;
	case O_APP: a->d.application_name = arg; break;
	case O_GROUP: a->d.deployment_group_name = arg; break;
	case O_GROUP_ID: a->d.deployment_group_id = arg; break;
	case O_INSTANCE_ID: a->d.instance_id = arg; break;
	case O_INSTANCE_ADDR: a->d.instance_addr = arg; break;
	case O_SHARED: a->shared = arg; break;
	case O_BUNDLE: a->bundle = arg; break;
	case O_TRAFFIC: a->traffic = 1; break;
	case O_NO_ONCE: a->no_once = 1; break;
	case O_IGNORE_STOP: a->d.ignore_application_stop_failures = 1; break;
	case O_ENV: return push_env(a, arg);
	case O_SHA256: a->pull.bundle_sha256 = arg; break;
	case O_REPORT: a->pull.report_url = arg; break;
	case O_REGION: a->pull.region = arg; break;
	case O_ENDPOINT: a->pull.endpoint = arg; break;
	case O_TRUSTED:
		if (a->nkeys == 16)
			return cli_usage_error("agent", "at most 16 --trusted-key options");
		a->keys[a->nkeys++] = arg;
		break;
	case O_ENV_FILE: return read_env_file(a, arg);
	case O_KEEP:
	{
		/* strtoul takes "-1" as ULONG_MAX: digits only, and a sane bound. */
		unsigned long v;
		errno = 0;
		v = strtoul(arg, &end, 10);
		if (*end || !*arg || arg[0] < '0' || arg[0] > '9' || errno || v == 0 || v > 100000)
			return cli_usage_error("agent", "--keep wants a positive number, not '%s'", arg);
		a->keep = (unsigned int)v;
		break;
	}
	default:
		return cli_usage_error("agent", "unknown option");
	}
	return 0;
}

static char *new_deployment_id(char *buf)
{
	static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	unsigned char r[9];
	int i;
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		unsigned int seed = (unsigned int)time(NULL) ^ (unsigned int)getpid();
		for (i = 0; i < 9; i++)
			r[i] = (unsigned char)rand_r(&seed);
	}
	buf[0] = 'd';
	buf[1] = '-';
	for (i = 0; i < 9; i++)
		buf[2 + i] = b32[r[i] & 31];
	buf[11] = '\0';
	return buf;
}

static json_t *jstr(const char *s)
{
	return s ? json_string(s) : json_null();
}

static void fmt_time(char *buf, size_t n, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!t) {
		snprintf(buf, n, "-");
		return;
	}
	gmtime_r(&tt, &tm);
	strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int print_status(mdeploy_agent *ag)
{
	const mdeploy_agent_history_entry *fail = NULL;
	size_t i, n = mdeploy_agent_history_count(ag);
	char t1[32], t2[32];

	for (i = n; i-- > 0;) {
		const mdeploy_agent_history_entry *e = mdeploy_agent_history_at(ag, i);
		if (e->status && (!strcmp(e->status, "Failed") || !strcmp(e->status, "Interrupted"))) {
			fail = e;
			break;
		}
	}
	if (cli.json) {
		json_t *doc = json_object(), *hist = json_array(), *rel = json_array();
		for (i = 0; i < n; i++) {
			const mdeploy_agent_history_entry *e = mdeploy_agent_history_at(ag, i);
			fmt_time(t1, sizeof(t1), e->started);
			fmt_time(t2, sizeof(t2), e->finished);
			json_array_append_new(hist, json_pack("{s:s, s:o, s:o, s:o, s:s, s:o, s:s}", "deployment_id",
			                                      e->deployment_id, "status", jstr(e->status), "event",
			                                      jstr(e->event), "message", jstr(e->message), "started", t1,
			                                      "finished", e->finished ? json_string(t2) : json_null(),
			                                      "log", e->log_path));
		}
		for (i = 0; i < mdeploy_agent_release_count(ag); i++)
			json_array_append_new(rel, json_string(mdeploy_agent_release_at(ag, i)));
		json_object_set_new(doc, "root", json_string(mdeploy_agent_root(ag)));
		json_object_set_new(doc, "live", jstr(mdeploy_agent_live(ag)));
		json_object_set_new(doc, "last_successful", jstr(mdeploy_agent_last_successful(ag)));
		json_object_set_new(doc, "previous", jstr(mdeploy_agent_previous(ag)));
		json_object_set_new(doc, "in_progress", jstr(mdeploy_agent_pending(ag)));
		json_object_set_new(doc, "releases", rel);
		json_object_set_new(doc, "history", hist);
		json_object_set_new(doc, "last_failure", fail ? json_pack("{s:s, s:o, s:o}", "deployment_id",
		                    fail->deployment_id, "event", jstr(fail->event), "message", jstr(fail->message))
		                    : json_null());
		return cli_json_print(doc);
	}
	printf("root:            %s\n", mdeploy_agent_root(ag));
	printf("live:            %s\n", mdeploy_agent_live(ag) ? mdeploy_agent_live(ag) : "-");
	printf("last successful: %s\n", mdeploy_agent_last_successful(ag) ? mdeploy_agent_last_successful(ag) : "-");
	printf("previous:        %s\n", mdeploy_agent_previous(ag) ? mdeploy_agent_previous(ag) : "-");
	printf("in progress:     %s\n", mdeploy_agent_pending(ag) ? mdeploy_agent_pending(ag) : "-");
	printf("releases:       ");
	for (i = 0; i < mdeploy_agent_release_count(ag); i++)
		printf(" %s", mdeploy_agent_release_at(ag, i));
	printf("%s\n", mdeploy_agent_release_count(ag) ? "" : " -");
	if (fail)
		printf("last failure:    %s at %s: %s\n", fail->deployment_id, fail->event ? fail->event : "-",
		       fail->message ? fail->message : "-");
	if (n)
		printf("history:\n");
	for (i = 0; i < n; i++) {
		const mdeploy_agent_history_entry *e = mdeploy_agent_history_at(ag, i);
		fmt_time(t1, sizeof(t1), e->started);
		printf("  %-16s %-12s %-20s %s\n", e->deployment_id, e->status ? e->status : "-",
		       e->event ? e->event : "-", t1);
	}
	return CLI_EXIT_OK;
}

int cmd_agent(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "root", required_argument, NULL, O_ROOT },
		{ "deployment-id", required_argument, NULL, O_ID },
		{ "application", required_argument, NULL, O_APP },
		{ "group", required_argument, NULL, O_GROUP },
		{ "group-id", required_argument, NULL, O_GROUP_ID },
		{ "instance-id", required_argument, NULL, O_INSTANCE_ID },
		{ "instance-addr", required_argument, NULL, O_INSTANCE_ADDR },
		{ "shared-dir", required_argument, NULL, O_SHARED },
		{ "keep", required_argument, NULL, O_KEEP },
		{ "env", required_argument, NULL, O_ENV },
		{ "env-file", required_argument, NULL, O_ENV_FILE },
		{ "traffic-hooks", no_argument, NULL, O_TRAFFIC },
		{ "no-once-hooks", no_argument, NULL, O_NO_ONCE },
		{ "bundle", required_argument, NULL, O_BUNDLE },
		{ "trusted-key", required_argument, NULL, O_TRUSTED },
		{ "ignore-stop-failures", no_argument, NULL, O_IGNORE_STOP },
		{ "sha256", required_argument, NULL, O_SHA256 },
		{ "report", required_argument, NULL, O_REPORT },
		{ "region", required_argument, NULL, O_REGION },
		{ "endpoint", required_argument, NULL, O_ENDPOINT },
		{ NULL, 0, NULL, 0 }
	};
	mdeploy_agent_options o = MDEPLOY_AGENT_OPTIONS_INIT;
	mdeploy_agent_deployment dinit = MDEPLOY_AGENT_DEPLOYMENT_INIT;
	mdeploy_agent_pull_options pinit = MDEPLOY_AGENT_PULL_OPTIONS_INIT;
	struct args a;
	mdeploy_ctx *ctx = NULL;
	mdeploy_agent *ag = NULL;
	const char *sub;
	char idbuf[16];
	int rc, nargs;

	memset(&a, 0, sizeof(a));
	a.d = dinit;
	a.pull = pinit;
	if ((rc = cli_parse(argc, argv, "agent", "", longopts, opt, &a)) >= 0)
		goto out;
	if (optind >= argc) {
		rc = cli_usage_error("agent", "missing subcommand");
		goto out;
	}
	sub = argv[optind];
	nargs = argc - optind - 1;
	if (strcmp(sub, "install") && strcmp(sub, "run-event") && strcmp(sub, "rollback") && strcmp(sub, "status") &&
	    strcmp(sub, "pull")) {
		rc = cli_usage_error("agent", "unknown subcommand '%s'", sub);
		goto out;
	}
	if (!a.root) {
		rc = cli_usage_error("agent", "--root DIR is required");
		goto out;
	}
	if (nargs != ((!strcmp(sub, "install") || !strcmp(sub, "run-event") || !strcmp(sub, "pull")) ? 1 : 0)) {
		rc = cli_usage_error("agent", nargs ? "too many arguments" : "missing argument");
		goto out;
	}
	a.d.env = (const char *const *)a.env;
	a.d.traffic_hooks = a.traffic;
	a.d.run_once_hooks = !a.no_once;
	if ((rc = cli_ctx_open(&ctx)) != 0)
		goto out;
	o.ctx = ctx;
	o.keep_releases = a.keep;
	o.shared_dir = a.shared;
	o.trusted_keys = a.nkeys ? a.keys : NULL;
	if (mdeploy_agent_open(&ag, a.root, &o) != 0) {
		rc = cli_lib_error("cannot open the agent root");
		goto out;
	}
	if (!strcmp(sub, "status")) {
		rc = print_status(ag);
		goto out;
	}
	if (!strcmp(sub, "install")) {
		if (!a.d.deployment_id)
			a.d.deployment_id = new_deployment_id(idbuf);
		cli_info("deploying %s as %s into %s", argv[optind + 1], a.d.deployment_id, mdeploy_agent_root(ag));
		rc = mdeploy_agent_install(ag, argv[optind + 1], &a.d);
	} else if (!strcmp(sub, "pull")) {
		if (!a.d.deployment_id || !a.d.instance_id || !a.pull.bundle_sha256) {
			rc = cli_usage_error("agent", "pull needs --deployment-id, --instance-id and --sha256");
			goto out;
		}
		a.pull.bundle_url = argv[optind + 1];
		cli_info("pulling %s as %s on %s into %s", a.pull.bundle_url, a.d.deployment_id, a.d.instance_id,
		         mdeploy_agent_root(ag));
		rc = mdeploy_agent_pull(ag, &a.pull, &a.d);
	} else if (!strcmp(sub, "run-event")) {
		if (!a.d.deployment_id) {
			rc = cli_usage_error("agent", "run-event needs --deployment-id ID");
			goto out;
		}
		rc = mdeploy_agent_run_event(ag, argv[optind + 1], a.bundle, &a.d);
	} else {
		rc = mdeploy_agent_rollback(ag, a.d.deployment_id ? &a.d : NULL);
	}
	if (rc) {
		const mdeploy_error *e = mdeploy_error_last();
		if (cli.json)
			cli_json_print(json_pack("{s:b, s:s, s:s, s:s?}", "ok", 0, "error", e->message, "code",
			                         mdeploy_strerror(e->code), "deployment_id", a.d.deployment_id));
		rc = cli_error("%s", e->message);
		goto out;
	}
	if (cli.json) {
		rc = print_status(ag);
	} else {
		cli_info("%s: live release is now %s", sub, mdeploy_agent_live(ag) ? mdeploy_agent_live(ag) : "-");
		rc = CLI_EXIT_OK;
	}
out:
	mdeploy_agent_free(ag);
	mdeploy_ctx_free(ctx);
	if (a.env) {
		size_t i;
		for (i = 0; i < a.nenv; i++)
			free(a.env[i]);
		free(a.env);
	}
	return rc;
}
