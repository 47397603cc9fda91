/* cmd_serve.c - mdeploy serve: the web console, its tokens and its audit trail. */
#include "config.h"
#include "cli.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { O_LISTEN = CLI_OPT_CMD, O_PORT, O_CERT, O_KEY, O_URL, O_PORT_FILE, O_READ_ONLY, O_LIMIT,
       O_PROXY_HEADER, O_PROXY, O_PROXY_WRITER };

#define MAX_LIST 32

struct sopts {
	const char *listen, *cert, *key, *url, *port_file, *proxy_header;
	const char *proxies[MAX_LIST + 1], *writers[MAX_LIST + 1];
	int nproxies, nwriters;
	unsigned int port, limit;
	int read_only;
};

static int on_opt(int c, const char *arg, void *data)
{
	struct sopts *o = data;
	char *end;
	unsigned long v;
	switch (c) {
	case O_LISTEN: o->listen = arg; return 0;
	case O_CERT: o->cert = arg; return 0;
	case O_KEY: o->key = arg; return 0;
	case O_URL: o->url = arg; return 0;
	case O_PORT_FILE: o->port_file = arg; return 0;
	case O_READ_ONLY: o->read_only = 1; return 0;
	case O_PROXY_HEADER: o->proxy_header = arg; return 0;
	case O_PROXY:
	case O_PROXY_WRITER:
		if ((c == O_PROXY ? o->nproxies : o->nwriters) >= MAX_LIST)
			return cli_usage_error("serve", "at most %d --%s options", MAX_LIST,
			                       c == O_PROXY ? "trusted-proxy" : "proxy-writer");
		if (c == O_PROXY)
			o->proxies[o->nproxies++] = arg;
		else
			o->writers[o->nwriters++] = arg;
		return 0;
	case O_PORT:
	case O_LIMIT:
		v = strtoul(arg, &end, 10);
		if (!*arg || *end || *arg == '-' || v > (c == O_PORT ? 65535UL : 100000UL))
			return cli_usage_error("serve", "'%s' is not a %s", arg, c == O_PORT ? "port" : "number");
		if (c == O_PORT)
			o->port = (unsigned int)v;
		else
			o->limit = (unsigned int)v;
		return 0;
	}
	return cli_usage_error("serve", "unknown option");
}

static const char *when(int64_t ms, char *buf, size_t n)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	if (!ms)
		return "never";
	gmtime_r(&t, &tm);
	strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

static int token_cb(const mdeploy_web_token_info *t, void *payload)
{
	char a[32], b[32];
	if (payload)
		json_array_append_new(payload, json_pack("{s:s, s:b, s:I, s:I}", "name", t->name, "read_only", t->read_only,
		                                         "created_at", (json_int_t)t->created_at,
		                                         "last_used_at", (json_int_t)t->last_used_at));
	else
		printf("%-24s %-10s %-20s %s\n", t->name, t->read_only ? "read-only" : "write",
		       when(t->created_at, a, sizeof(a)), when(t->last_used_at, b, sizeof(b)));
	return 0;
}

static int count_cb(const mdeploy_web_token_info *t, void *payload)
{
	(void)t;
	(*(int *)payload)++;
	return 0;
}

static int audit_cb(const mdeploy_audit_entry *e, void *payload)
{
	char a[32];
	if (payload)
		json_array_append_new(payload, mdeploy_audit_entry_to_json(e));
	else
		printf("%-20s %-20s %-13s %-7s %s%s%s\n", when(e->at, a, sizeof(a)), e->who, e->action, e->outcome,
		       e->target, e->detail ? "  " : "", e->detail ? e->detail : "");
	return 0;
}

static int token(mdeploy_ctx *ctx, const struct sopts *o, const char *const *args, int nargs)
{
	const char *sub = nargs ? args[0] : "";
	if (!strcmp(sub, "create")) {
		char *secret = NULL;
		if (nargs != 2)
			return cli_usage_error("serve", nargs < 2 ? "missing NAME" : "too many arguments");
		if (mdeploy_web_token_create(ctx, args[1], o->read_only, &secret))
			return cli_lib_error("cannot create the token");
		if (cli.json)
			cli_json_print(json_pack("{s:s, s:b, s:s}", "name", args[1], "read_only", o->read_only, "token", secret));
		else
			printf("%s\n", secret);
		cli_info("token '%s' (%s) created: it is shown only now, keep it secret", args[1],
		         o->read_only ? "read-only" : "write");
		memset(secret, 0, strlen(secret));
		free(secret);
		return CLI_EXIT_OK;
	}
	if (!strcmp(sub, "list")) {
		json_t *arr = cli.json ? json_array() : NULL;
		if (nargs != 1)
			return cli_usage_error("serve", "too many arguments");
		if (!cli.json)
			printf("%-24s %-10s %-20s %s\n", "NAME", "RIGHTS", "CREATED", "LAST USED");
		if (mdeploy_web_token_foreach(ctx, token_cb, arr)) {
			json_decref(arr);
			return cli_lib_error("cannot list tokens");
		}
		return arr ? cli_json_print(json_pack("{s:o}", "tokens", arr)) : CLI_EXIT_OK;
	}
	if (!strcmp(sub, "revoke")) {
		if (nargs != 2)
			return cli_usage_error("serve", nargs < 2 ? "missing NAME" : "too many arguments");
		if (mdeploy_web_token_revoke(ctx, args[1]))
			return cli_lib_error(NULL);
		if (cli.json)
			return cli_json_print(json_pack("{s:s, s:b}", "name", args[1], "revoked", 1));
		cli_info("token '%s' revoked", args[1]);
		return CLI_EXIT_OK;
	}
	return cli_usage_error("serve", nargs ? "unknown token subcommand '%s'" : "missing token subcommand%s", sub);
}

static int serve(mdeploy_ctx *ctx, const struct sopts *o)
{
	mdeploy_web_options wo = MDEPLOY_WEB_OPTIONS_INIT;
	mdeploy_web *web = NULL;
	sigset_t set;
	int sig = 0, ntokens = 0;
	char url[512];

	wo.address = o->listen;
	wo.port = o->port;
	wo.tls_cert = o->cert;
	wo.tls_key = o->key;
	wo.public_url = o->url;
	wo.proxy_user_header = o->proxy_header;
	wo.trusted_proxies = o->nproxies ? o->proxies : NULL;
	wo.proxy_writers = o->nwriters ? o->writers : NULL;
	/* Block the signals before the server's threads start, so they inherit the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (mdeploy_web_start(&web, ctx, &wo)) {
		int rc = cli_lib_error("cannot start the console");
		if (mdeploy_error_last()->code == MDEPLOY_EINVALID && o->listen && !o->cert)
			cli_hint("give --tls-cert FILE and --tls-key FILE, or listen on 127.0.0.1");
		else if (mdeploy_error_last()->code == MDEPLOY_EINVALID && o->proxy_header && !o->nproxies)
			cli_hint("give the proxy's address with --trusted-proxy ADDR");
		return rc;
	}
	if (o->url)
		snprintf(url, sizeof(url), "%s", o->url);
	else
		snprintf(url, sizeof(url), "%s://%s%s%s:%u/", o->cert ? "https" : "http", o->listen && strchr(o->listen, ':') ? "[" : "",
		         o->listen ? o->listen : "127.0.0.1", o->listen && strchr(o->listen, ':') ? "]" : "", mdeploy_web_port(web));
	if (o->port_file) {
		FILE *f = fopen(o->port_file, "w");
		if (!f || fprintf(f, "%u\n", mdeploy_web_port(web)) < 0 || fclose(f)) {
			mdeploy_web_stop(web);
			return cli_error("cannot write '%s'", o->port_file);
		}
	}
	if (cli.json) {
		cli_json_print(json_pack("{s:s, s:i}", "url", url, "port", (int)mdeploy_web_port(web)));
	} else {
		printf("%s\n", url);
	}
	fflush(stdout);
	cli_info("console at %s (state %s); Ctrl-C stops it", url, mdeploy_ctx_state_dir(ctx));
	if (o->proxy_header)
		cli_info("users named by %s are believed from %d trusted prox%s (%s); %s", o->proxy_header, o->nproxies,
		         o->nproxies == 1 ? "y" : "ies", o->proxies[0],
		         o->nwriters ? "--proxy-writer users may change things" : "all of them read only");
	if (!o->proxy_header && mdeploy_web_token_foreach(ctx, count_cb, &ntokens) == 0 && !ntokens)
		cli_hint("no tokens yet: every page asks for one; create one with 'mdeploy serve token create NAME'");
	while (sigwait(&set, &sig) == 0 && sig == SIGHUP)
		;
	cli_info("stopping on signal %d", sig);
	mdeploy_web_stop(web);
	return CLI_EXIT_OK;
}

int cmd_serve(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, O_LISTEN },
		{ "port", required_argument, NULL, O_PORT },
		{ "tls-cert", required_argument, NULL, O_CERT },
		{ "tls-key", required_argument, NULL, O_KEY },
		{ "public-url", required_argument, NULL, O_URL },
		{ "port-file", required_argument, NULL, O_PORT_FILE },
		{ "read-only", no_argument, NULL, O_READ_ONLY },
		{ "limit", required_argument, NULL, O_LIMIT },
		{ "trust-proxy-header", required_argument, NULL, O_PROXY_HEADER },
		{ "trusted-proxy", required_argument, NULL, O_PROXY },
		{ "proxy-writer", required_argument, NULL, O_PROXY_WRITER },
		{ NULL, 0, NULL, 0 }
	};
	struct sopts o;
	mdeploy_ctx *ctx = NULL;
	const char *const *args;
	int rc, nargs;

	memset(&o, 0, sizeof(o));
	o.port = 8090;
	if ((rc = cli_parse(argc, argv, "serve", "", longopts, on_opt, &o)) >= 0)
		return rc;
	args = (const char *const *)argv + optind;
	nargs = argc - optind;
	if (nargs && strcmp(args[0], "token") && strcmp(args[0], "audit"))
		return cli_usage_error("serve", "unknown subcommand '%s'", args[0]);
	if (!o.cert != !o.key)
		return cli_usage_error("serve", "--tls-cert and --tls-key go together");
	if ((o.nproxies || o.nwriters) && !o.proxy_header)
		return cli_usage_error("serve", "--trusted-proxy and --proxy-writer need --trust-proxy-header HEADER");
	if ((rc = cli_ctx_open(&ctx)))
		return rc;
	if (!nargs) {
		rc = serve(ctx, &o);
	} else if (!strcmp(args[0], "token")) {
		rc = token(ctx, &o, args + 1, nargs - 1);
	} else {
		json_t *arr = cli.json ? json_array() : NULL;
		if (nargs != 1) {
			rc = cli_usage_error("serve", "too many arguments");
		} else if (mdeploy_audit_foreach(ctx, o.limit ? o.limit : 50, audit_cb, arr)) {
			rc = cli_lib_error("cannot read the audit trail");
		} else {
			rc = arr ? cli_json_print(json_pack("{s:O}", "audit", arr)) : CLI_EXIT_OK;
		}
		json_decref(arr);
	}
	mdeploy_ctx_free(ctx);
	return rc;
}
