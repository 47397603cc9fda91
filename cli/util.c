/* util.c - messages, JSON output, context wiring. */
#include "config.h"
#include "cli.h"
#include <signal.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <unistd.h>

struct cli_globals cli;

static void vmsg(const char *prefix, const char *fmt, va_list ap)
{
	cli_progress_end();
	fprintf(stderr, "mdeploy: %s", prefix);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int cli_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg("error: ", fmt, ap);
	va_end(ap);
	return CLI_EXIT_FAILURE;
}

void cli_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg("warning: ", fmt, ap);
	va_end(ap);
}

void cli_hint(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg("hint: ", fmt, ap);
	va_end(ap);
}

void cli_info(const char *fmt, ...)
{
	va_list ap;
	if (cli.quiet)
		return;
	cli_progress_end();
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_usage_error(const char *name, const char *fmt, ...)
{
	const struct cli_command *cmd = name ? cli_find_command(name) : NULL;
	va_list ap;

	va_start(ap, fmt);
	vmsg("error: ", fmt, ap);
	va_end(ap);
	if (cmd) {
		const char *u = cmd->usage, *nl;
		int first = 1;
		while (*u) {
			nl = strchr(u, '\n');
			size_t len = nl ? (size_t)(nl - u) : strlen(u);
			fprintf(stderr, "%s %.*s\n", first ? "usage:" : "      ", (int)len, u);
			first = 0;
			u += len + (nl ? 1 : 0);
		}
		fprintf(stderr, "See 'mdeploy %s --help'.\n", cmd->name);
	} else {
		fprintf(stderr, "See 'mdeploy --help'.\n");
	}
	return CLI_EXIT_USAGE;
}

int cli_lib_error(const char *what)
{
	const mdeploy_error *e = mdeploy_error_last();
	if (what && *what)
		return cli_error("%s: %s", what, e->message);
	return cli_error("%s", e->message);
}

void cli_print_help(const struct cli_command *cmd, FILE *f)
{
	const char *u = cmd->usage, *nl;
	int first = 1;

	while (*u) {
		nl = strchr(u, '\n');
		size_t len = nl ? (size_t)(nl - u) : strlen(u);
		fprintf(f, "%s %.*s\n", first ? "usage:" : "      ", (int)len, u);
		first = 0;
		u += len + (nl ? 1 : 0);
	}
	fprintf(f, "\n%s.\n", cmd->summary);
	if (cmd->help && *cmd->help)
		fprintf(f, "\n%s", cmd->help);
	fprintf(f, "\nCommon options: --json, -q/--quiet, -v/--verbose, --state-dir DIR, --config FILE\n"
	           "See mdeploy-%s(1).\n", cmd->name);
}

enum { OPT_JSON = 0x1000, OPT_STATE_DIR, OPT_CONFIG };

int cli_parse(int argc, char **argv, const char *name, const char *shortopts,
              const struct option *longopts, cli_opt_handler handler, void *data)
{
	static const struct option common[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
		{ "config", required_argument, NULL, OPT_CONFIG },
	};
	struct option all[64];
	char shorts[64];
	size_t n = 0, i;
	int c, rc;

	for (i = 0; longopts && longopts[i].name && n < 40; i++)
		all[n++] = longopts[i];
	for (i = 0; i < sizeof(common) / sizeof(common[0]); i++)
		all[n++] = common[i];
	memset(&all[n], 0, sizeof(all[n]));
	snprintf(shorts, sizeof(shorts), ":hqv%s", shortopts ? shortopts : "");

	/* 0, not 1: glibc then re-reads the option string, so the "+" that main()
	 * used does not stop us at the first operand (options may follow it). */
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, shorts, all, NULL)) != -1) {
		switch (c) {
		case 'h': {
			const struct cli_command *cmd = cli_find_command(name);
			if (cmd)
				cli_print_help(cmd, stdout);
			return CLI_EXIT_OK;
		}
		case OPT_JSON: cli.json = 1; break;
		case 'q': cli.quiet = 1; cli.progress = 0; break;
		case 'v': cli.verbose++; break;
		case OPT_STATE_DIR: cli.state_dir = optarg; break;
		case OPT_CONFIG: cli.config = optarg; break;
		case ':':
			return cli_usage_error(name, "option '%s' needs a value", argv[optind - 1]);
		case '?':
			if (optopt && optopt < 0x1000)
				return cli_usage_error(name, "unknown option '-%c'", optopt);
			return cli_usage_error(name, "unknown option '%s'", argv[optind - 1]);
		default:
			if (!handler)
				return cli_usage_error(name, "unknown option '%s'", argv[optind - 1]);
			if ((rc = handler(c, optarg, data)) != 0)
				return rc;
		}
	}
	return -1;
}

static int log_cb(mdeploy_log_level level, const char *component, const char *message, void *payload)
{
	(void)payload;
	if (level == MDEPLOY_LOG_ERROR)
		cli_error("%s", message);
	else if (level == MDEPLOY_LOG_WARN)
		cli_warn("%s", message);
	else if (level == MDEPLOY_LOG_INFO)
		cli_info("%s", message);
	else {
		cli_progress_end();
		fprintf(stderr, "mdeploy: %s: %s\n", component ? component : "debug", message);
	}
	return 0;
}

int cli_ctx_open(mdeploy_ctx **out)
{
	mdeploy_ctx_options opts = MDEPLOY_CTX_OPTIONS_INIT;
	opts.state_dir = cli.state_dir;
	opts.config_path = cli.config;
	opts.log_cb = log_cb;
	opts.progress_cb = cli_progress;
	opts.log_level = cli.quiet ? MDEPLOY_LOG_WARN
	               : cli.verbose >= 2 ? MDEPLOY_LOG_TRACE
	               : cli.verbose == 1 ? MDEPLOY_LOG_DEBUG : MDEPLOY_LOG_INFO;
	if (mdeploy_ctx_new(out, &opts) != 0)
		return cli_lib_error("cannot set up");
	return 0;
}

int cli_json_set_name(json_t *o, const char *key, const char *name)
{
	static const char digits[] = "0123456789abcdef";
	char hkey[64], *hex;
	size_t n, i;
	int rc;
	if (!name)
		return 0;
	if (mdeploy_bundle_name_is_utf8(name))
		return json_object_set_new(o, key, json_string(name));
	n = strlen(name);
	if (!(hex = malloc(2 * n + 1)))
		return -1;
	for (i = 0; i < n; i++) {
		hex[2 * i] = digits[(unsigned char)name[i] >> 4];
		hex[2 * i + 1] = digits[(unsigned char)name[i] & 15];
	}
	hex[2 * n] = '\0';
	snprintf(hkey, sizeof(hkey), "%s_hex", key);
	rc = json_object_set_new(o, hkey, json_string(hex));
	free(hex);
	return rc;
}

int cli_json_print(json_t *doc)
{
	int rc;
	if (!doc)
		return cli_error("out of memory building JSON output");
	rc = json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
	fputc('\n', stdout);
	json_decref(doc);
	return rc == 0 ? 0 : cli_error("cannot write JSON output");
}

const char *cli_who(char *buf, size_t n)
{
	struct passwd *pw = getpwuid(geteuid());
	snprintf(buf, n, "user:%s", pw && pw->pw_name ? pw->pw_name : "?");
	return buf;
}

void cli_audit(mdeploy_ctx *ctx, const char *action, const char *target, int ok, const char *detail)
{
	const mdeploy_error *e = mdeploy_error_last();
	int code = e->code, klass = e->klass;
	char who[160], *saved = strdup(e->message), *d = detail ? strdup(detail) : NULL;
	cli_who(who, sizeof(who));
	if (mdeploy_audit_record(ctx, who, action, target, ok ? "done" : "failed", d))
		cli_warn("cannot write the audit trail: %s", mdeploy_error_last()->message);
	/* The caller reports the error of the decision, not ours. */
	if (code && saved)
		mdeploy_error_set(code, klass, "%s", saved);
	else
		mdeploy_error_clear();
	free(saved);
	free(d);
}

static volatile sig_atomic_t caught_signal;

static void on_stop_signal(int sig)
{
	caught_signal = sig;
	mdeploy_interrupt();
}

void cli_interruptible(void)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	struct sigaction sa;
	size_t i;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

int cli_interrupt_end(int rc)
{
	int sig = caught_signal;
	if (!sig)
		return rc;
	fflush(stdout);
	signal(sig, SIG_DFL);
	raise(sig);
	return rc;
}
