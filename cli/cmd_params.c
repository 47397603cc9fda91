/* cmd_params.c - mdeploy params put|get|list|delete: the parameter store. */
#include "config.h"
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { O_OVERWRITE = CLI_OPT_CMD, O_TYPE, O_RECURSIVE };

struct popts {
	unsigned int flags;
	int recursive;
};

static int params_opt(int c, const char *arg, void *data)
{
	struct popts *o = data;
	switch (c) {
	case O_OVERWRITE: o->flags |= MDEPLOY_PARAMS_OVERWRITE; return 0;
	case O_TYPE:
		if (!strcmp(arg, "StringList"))
			o->flags |= MDEPLOY_PARAMS_STRINGLIST;
		else if (strcmp(arg, "String"))
			return cli_usage_error("params", "--type must be String or StringList (secrets go in 'mdeploy secrets')");
		return 0;
	case 'r':
	case O_RECURSIVE: o->recursive = 1; return 0;
	default: return cli_usage_error("params", "unknown option");
	}
}

static json_t *param_json(const mdeploy_param *p)
{
	return json_pack("{s:s, s:s, s:s, s:I, s:I}", "name", p->name, "value", p->value, "type", p->type,
	                 "version", (json_int_t)p->version, "modified", (json_int_t)p->modified);
}

static int list_cb(const mdeploy_param *p, void *payload)
{
	json_t *list = payload;
	if (list)
		json_array_append_new(list, param_json(p));
	else
		printf("%s\t%s\t(version %llu)\n", p->name, p->value, (unsigned long long)p->version);
	return 0;
}

int cmd_params(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "overwrite", no_argument, NULL, O_OVERWRITE },
		{ "type", required_argument, NULL, O_TYPE },
		{ "recursive", no_argument, NULL, O_RECURSIVE },
		{ NULL, 0, NULL, 0 }
	};
	struct popts o = { 0, 0 };
	mdeploy_ctx *ctx = NULL;
	mdeploy_params *params = NULL;
	const char *sub;
	int rc, nargs;

	if ((rc = cli_parse(argc, argv, "params", "r", longopts, params_opt, &o)) >= 0)
		return rc;
	if (optind >= argc)
		return cli_usage_error("params", "missing subcommand");
	sub = argv[optind];
	nargs = argc - optind - 1;
	argv += optind + 1;
	if (strcmp(sub, "put") && strcmp(sub, "get") && strcmp(sub, "list") && strcmp(sub, "delete"))
		return cli_usage_error("params", "unknown subcommand '%s'", sub);
	if ((!strcmp(sub, "put") && nargs != 2) || ((!strcmp(sub, "get") || !strcmp(sub, "delete")) && nargs != 1) ||
	    (!strcmp(sub, "list") && nargs > 1))
		return cli_usage_error("params", "wrong number of arguments for '%s'", sub);
	if ((rc = cli_ctx_open(&ctx)) != 0)
		return rc;
	if (mdeploy_params_open(&params, ctx, NULL) != 0) {
		rc = cli_lib_error("cannot open the parameter store");
		goto out;
	}
	if (!strcmp(sub, "put")) {
		uint64_t version;
		char *value = strcmp(argv[1], "-") ? strdup(argv[1]) : cli_read_stdin();
		if (!value) {
			rc = strcmp(argv[1], "-") ? cli_error("out of memory") : CLI_EXIT_FAILURE;
			goto out;
		}
		rc = mdeploy_params_put(params, argv[0], value, o.flags, &version);
		free(value);
		if (rc) {
			rc = cli_lib_error(NULL);
			if (mdeploy_error_last()->code == MDEPLOY_EEXISTS)
				cli_hint("use --overwrite to add a new version");
			goto out;
		}
		rc = cli.json ? cli_json_print(json_pack("{s:s, s:I}", "name", argv[0], "version", (json_int_t)version))
		              : (printf("%s: version %llu\n", argv[0], (unsigned long long)version), 0);
	} else if (!strcmp(sub, "get")) {
		mdeploy_param *p = NULL;
		if (mdeploy_params_get(&p, params, argv[0]) != 0) {
			rc = cli_lib_error(NULL);
			goto out;
		}
		rc = cli.json ? cli_json_print(param_json(p)) : (printf("%s\n", p->value), 0);
		mdeploy_param_free(p);
	} else if (!strcmp(sub, "list")) {
		json_t *list = cli.json ? json_array() : NULL;
		if (mdeploy_params_list(params, nargs ? argv[0] : "/", o.recursive, list_cb, list) != 0) {
			json_decref(list);
			rc = cli_lib_error(NULL);
			goto out;
		}
		rc = list ? cli_json_print(json_pack("{s:o}", "parameters", list)) : 0;
	} else {
		if (mdeploy_params_delete(params, argv[0]) != 0) {
			rc = cli_lib_error(NULL);
			goto out;
		}
		rc = cli.json ? cli_json_print(json_pack("{s:s, s:b}", "name", argv[0], "deleted", 1))
		              : (printf("%s: deleted\n", argv[0]), 0);
	}
out:
	mdeploy_params_free(params);
	mdeploy_ctx_free(ctx);
	return rc;
}
