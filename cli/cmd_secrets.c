/*
 * cmd_secrets.c - mdeploy secrets put|get|list|rotate: the secret store.
 * Values are read from stdin (so they stay out of shell history and ps)
 * and printed only with --reveal.
 */
#include "config.h"
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { O_PREVIOUS = CLI_OPT_CMD, O_VERSION_ID, O_REVEAL, O_KEY_FILE, O_GENERATE };

struct sopts {
	int previous, reveal, generate;
	const char *version_id;
	const char *key_file;
};

static int secrets_opt(int c, const char *arg, void *data)
{
	struct sopts *o = data;
	switch (c) {
	case O_PREVIOUS: o->previous = 1; return 0;
	case O_VERSION_ID: o->version_id = arg; return 0;
	case O_REVEAL: o->reveal = 1; return 0;
	case O_KEY_FILE: o->key_file = arg; return 0;
	case O_GENERATE: o->generate = 1; return 0;
	default: return cli_usage_error("secrets", "unknown option");
	}
}

static void iso(char *out, size_t n, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int list_cb(const mdeploy_secret_info *i, void *payload)
{
	json_t *list = payload;
	char changed[32];
	iso(changed, sizeof(changed), i->changed);
	if (list)
		json_array_append_new(list, json_pack("{s:s, s:s?, s:s?, s:I, s:I}", "name", i->name,
		                                      "current_version", i->current_version,
		                                      "previous_version", i->previous_version,
		                                      "created", (json_int_t)i->created, "changed", (json_int_t)i->changed));
	else
		printf("%s\tchanged %s\t%s\n", i->name, changed, i->previous_version ? "current+previous" : "current");
	return 0;
}

int cmd_secrets(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "previous", no_argument, NULL, O_PREVIOUS },
		{ "version-id", required_argument, NULL, O_VERSION_ID },
		{ "reveal", no_argument, NULL, O_REVEAL },
		{ "key-file", required_argument, NULL, O_KEY_FILE },
		{ "generate", no_argument, NULL, O_GENERATE },
		{ NULL, 0, NULL, 0 }
	};
	mdeploy_secrets_options so = MDEPLOY_SECRETS_OPTIONS_INIT;
	struct sopts o;
	mdeploy_ctx *ctx = NULL;
	mdeploy_secrets *secrets = NULL;
	const char *sub;
	char id[33];
	int rc, nargs;

	memset(&o, 0, sizeof(o));
	if ((rc = cli_parse(argc, argv, "secrets", "", longopts, secrets_opt, &o)) >= 0)
		return rc;
	if (optind >= argc)
		return cli_usage_error("secrets", "missing subcommand");
	sub = argv[optind];
	nargs = argc - optind - 1;
	argv += optind + 1;
	if (strcmp(sub, "put") && strcmp(sub, "get") && strcmp(sub, "list") && strcmp(sub, "rotate"))
		return cli_usage_error("secrets", "unknown subcommand '%s'", sub);
	if ((strcmp(sub, "list") && nargs != 1) || (!strcmp(sub, "list") && nargs != 0))
		return cli_usage_error("secrets", "wrong number of arguments for '%s'", sub);
	if ((rc = cli_ctx_open(&ctx)) != 0)
		return rc;
	so.key_file = o.key_file;
	if (mdeploy_secrets_open(&secrets, ctx, &so) != 0) {
		rc = cli_lib_error("cannot open the secret store");
		goto out;
	}
	if (!strcmp(sub, "put") || !strcmp(sub, "rotate")) {
		char *value = NULL;
		int is_put = !strcmp(sub, "put");
		if (is_put || !o.generate) {
			if (!(value = cli_read_stdin())) {
				rc = CLI_EXIT_FAILURE;
				goto out;
			}
			if (!*value) {
				free(value);
				rc = cli_error("no value on standard input%s", is_put ? "" : " (use --generate for a random one)");
				goto out;
			}
		}
		rc = is_put ? mdeploy_secrets_put(secrets, argv[0], value, id)
		            : mdeploy_secrets_rotate(secrets, argv[0], value, id);
		mdeploy_secret_value_free(value);
		if (rc) {
			rc = cli_lib_error(NULL);
			goto out;
		}
		rc = cli.json ? cli_json_print(json_pack("{s:s, s:s}", "name", argv[0], "version_id", id))
		              : (printf("%s: version %s is current\n", argv[0], id), 0);
	} else if (!strcmp(sub, "get")) {
		char *value = NULL;
		if (mdeploy_secrets_get(&value, secrets, argv[0], o.previous ? MDEPLOY_SECRET_PREVIOUS : MDEPLOY_SECRET_CURRENT,
		                        o.version_id) != 0) {
			rc = cli_lib_error(NULL);
			goto out;
		}
		if (cli.json) {
			json_t *doc = json_pack("{s:s, s:s}", "name", argv[0], "stage", o.previous ? "previous" : "current");
			if (o.reveal)
				json_object_set_new(doc, "value", json_string(value));
			rc = cli_json_print(doc);
		} else if (o.reveal) {
			printf("%s\n", value);
			rc = 0;
		} else {
			printf("%s: *** (%zu characters; --reveal prints it)\n", argv[0], strlen(value));
			rc = 0;
		}
		mdeploy_secret_value_free(value);
	} else {
		json_t *list = cli.json ? json_array() : NULL;
		if (mdeploy_secrets_list(secrets, list_cb, list) != 0) {
			json_decref(list);
			rc = cli_lib_error(NULL);
			goto out;
		}
		rc = list ? cli_json_print(json_pack("{s:o}", "secrets", list)) : 0;
	}
out:
	mdeploy_secrets_free(secrets);
	mdeploy_ctx_free(ctx);
	return rc;
}
