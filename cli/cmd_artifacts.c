/* cmd_artifacts.c - mdeploy artifacts list|put|get|gc: the artifact store. */
#include "config.h"
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { O_KEEP = CLI_OPT_CMD, O_IN_USE, O_DRY_RUN, O_OUTPUT };

#define MAX_IN_USE 64

struct aopts {
	mdeploy_artifacts_gc_options gc;
	const char *in_use[MAX_IN_USE + 1];
	size_t nin_use;
	const char *output;
};

static int artifacts_opt(int c, const char *arg, void *data)
{
	struct aopts *o = data;
	char *end;
	unsigned long v;
	switch (c) {
	case O_KEEP:
		errno = 0;
		v = strtoul(arg, &end, 10);
		if (errno || *end || !v || v > 100000)
			return cli_usage_error("artifacts", "--keep wants a positive number");
		o->gc.keep = (unsigned int)v;
		return 0;
	case O_IN_USE:
		if (o->nin_use == MAX_IN_USE)
			return cli_usage_error("artifacts", "at most %d --in-use options", MAX_IN_USE);
		o->in_use[o->nin_use++] = arg;
		return 0;
	case O_DRY_RUN: o->gc.dry_run = 1; return 0;
	case 'o':
	case O_OUTPUT: o->output = arg; return 0;
	default: return cli_usage_error("artifacts", "unknown option");
	}
}

static json_t *artifact_json(const mdeploy_artifact *a)
{
	return json_pack("{s:s, s:I, s:s, s:I, s:I, s:s?}", "name", a->name, "revision", (json_int_t)a->revision,
	                 "sha256", a->sha256, "size", (json_int_t)a->size, "created", (json_int_t)a->created,
	                 "path", a->path);
}

static int list_cb(const mdeploy_artifact *a, void *payload)
{
	json_t *list = payload;
	if (list)
		json_array_append_new(list, artifact_json(a));
	else
		printf("%s@%llu\t%.12s\t%llu bytes\n", a->name, (unsigned long long)a->revision, a->sha256,
		       (unsigned long long)a->size);
	return 0;
}

int cmd_artifacts(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "keep", required_argument, NULL, O_KEEP },
		{ "in-use", required_argument, NULL, O_IN_USE },
		{ "dry-run", no_argument, NULL, O_DRY_RUN },
		{ "output", required_argument, NULL, O_OUTPUT },
		{ NULL, 0, NULL, 0 }
	};
	mdeploy_artifacts_gc_options gd = MDEPLOY_ARTIFACTS_GC_OPTIONS_INIT;
	struct aopts o;
	mdeploy_ctx *ctx = NULL;
	mdeploy_artifacts *arts = NULL;
	const char *sub;
	int rc, nargs;

	memset(&o, 0, sizeof(o));
	o.gc = gd;
	if ((rc = cli_parse(argc, argv, "artifacts", "o:", longopts, artifacts_opt, &o)) >= 0)
		return rc;
	if (optind >= argc)
		return cli_usage_error("artifacts", "missing subcommand");
	sub = argv[optind];
	nargs = argc - optind - 1;
	argv += optind + 1;
	if (strcmp(sub, "list") && strcmp(sub, "put") && strcmp(sub, "get") && strcmp(sub, "gc"))
		return cli_usage_error("artifacts", "unknown subcommand '%s'", sub);
	if ((!strcmp(sub, "list") && nargs > 1) || (!strcmp(sub, "put") && nargs != 2) ||
	    (!strcmp(sub, "get") && nargs != 1) || (!strcmp(sub, "gc") && nargs != 0))
		return cli_usage_error("artifacts", "wrong number of arguments for '%s'", sub);
	if ((rc = cli_ctx_open(&ctx)) != 0)
		return rc;
	if (mdeploy_artifacts_open(&arts, ctx, NULL) != 0) {
		rc = cli_lib_error("cannot open the artifact store");
		goto out;
	}
	if (!strcmp(sub, "list")) {
		json_t *list = cli.json ? json_array() : NULL;
		if (mdeploy_artifacts_list(arts, nargs ? argv[0] : NULL, list_cb, list) != 0) {
			json_decref(list);
			rc = cli_lib_error(NULL);
			goto out;
		}
		rc = list ? cli_json_print(json_pack("{s:o}", "artifacts", list)) : 0;
	} else if (!strcmp(sub, "put")) {
		mdeploy_artifact *a = NULL;
		if (mdeploy_artifacts_put(&a, arts, argv[0], argv[1]) != 0) {
			rc = cli_lib_error(NULL);
			goto out;
		}
		rc = cli.json ? cli_json_print(artifact_json(a))
		              : (printf("%s@%llu\t%s\n", a->name, (unsigned long long)a->revision, a->sha256), 0);
		mdeploy_artifact_free(a);
	} else if (!strcmp(sub, "get")) {
		mdeploy_artifact *a = NULL;
		if (mdeploy_artifacts_get(&a, arts, argv[0]) != 0) {
			rc = cli_lib_error(NULL);
			goto out;
		}
		if (o.output && mdeploy_artifacts_fetch(arts, argv[0], o.output) != 0) {
			mdeploy_artifact_free(a);
			rc = cli_lib_error(NULL);
			goto out;
		}
		if (cli.json) {
			json_t *doc = artifact_json(a);
			if (o.output)
				json_object_set_new(doc, "output", json_string(o.output));
			rc = cli_json_print(doc);
		} else {
			printf("%s@%llu\t%s\t%llu bytes\t%s\n", a->name, (unsigned long long)a->revision, a->sha256,
			       (unsigned long long)a->size, o.output ? o.output : a->path ? a->path : "");
			rc = 0;
		}
		mdeploy_artifact_free(a);
	} else {
		json_t *list = cli.json ? json_array() : NULL;
		uint64_t freed = 0;
		char **deployed = NULL;
		const char **keep = NULL;
		size_t nd = 0, k;
		/* What deployment groups run (and would roll back to) stays. */
		if (mdeploy_artifacts_in_use(&deployed, ctx) != 0) {
			json_decref(list);
			rc = cli_lib_error("cannot read the deployments");
			goto out;
		}
		while (deployed[nd])
			nd++;
		if (!(keep = calloc(nd + o.nin_use + 1, sizeof(*keep)))) {
			mdeploy_artifacts_in_use_free(deployed);
			json_decref(list);
			rc = cli_error("out of memory");
			goto out;
		}
		for (k = 0; k < nd; k++)
			keep[k] = deployed[k];
		for (k = 0; k < o.nin_use; k++)
			keep[nd + k] = o.in_use[k];
		o.gc.in_use = keep;
		rc = mdeploy_artifacts_gc(arts, &o.gc, list_cb, list, &freed);
		free(keep);
		mdeploy_artifacts_in_use_free(deployed);
		if (rc != 0) {
			json_decref(list);
			rc = cli_lib_error(NULL);
			goto out;
		}
		if (list)
			rc = cli_json_print(json_pack("{s:o, s:I, s:b}", "removed", list, "bytes_freed", (json_int_t)freed,
			                              "dry_run", o.gc.dry_run));
		else
			printf("%s%llu bytes freed\n", o.gc.dry_run ? "(dry run) " : "", (unsigned long long)freed);
	}
out:
	mdeploy_artifacts_free(arts);
	mdeploy_ctx_free(ctx);
	return rc;
}
