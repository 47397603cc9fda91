/* cmd_moodle.c - mdeploy moodle inspect: what a Moodle tree contains. */
#include "config.h"
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct inspect_opts {
	const char *repo;
	int plugins_only_added;
};

enum { OPT_REPO = CLI_OPT_CMD };

static int inspect_opt(int c, const char *arg, void *data)
{
	struct inspect_opts *o = data;
	if (c == OPT_REPO) {
		o->repo = arg;
		return 0;
	}
	return cli_usage_error("moodle", "unknown option");
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

json_t *cli_moodle_json(const mdeploy_moodle *m);
json_t *cli_moodle_json(const mdeploy_moodle *m)
{
	json_t *doc = json_object(), *plugins = json_array(), *problems = json_array(), *types = json_object();
	size_t i, j;

	json_object_set_new(doc, "layout", json_string(mdeploy_moodle_layout(m)));
	json_object_set_new(doc, "version", str_or_null(mdeploy_moodle_version(m)));
	json_object_set_new(doc, "release", str_or_null(mdeploy_moodle_release(m)));
	json_object_set_new(doc, "branch", str_or_null(mdeploy_moodle_branch(m)));
	json_object_set_new(doc, "maturity", str_or_null(mdeploy_moodle_maturity(m)));
	for (i = 0; i < mdeploy_moodle_type_count(m); i++) {
		const char *dir, *t = mdeploy_moodle_type(m, i, &dir);
		json_object_set_new(types, t, json_string(dir));
	}
	json_object_set_new(doc, "plugintypes", types);
	for (i = 0; i < mdeploy_moodle_plugin_count(m); i++) {
		const mdeploy_moodle_plugin *p = mdeploy_moodle_plugin_at(m, i);
		json_t *o = json_object(), *deps = json_object();
		json_object_set_new(o, "component", json_string(p->component));
		json_object_set_new(o, "path", json_string(p->path));
		json_object_set_new(o, "version", str_or_null(p->version));
		json_object_set_new(o, "requires", str_or_null(p->requires));
		json_object_set_new(o, "release", str_or_null(p->release));
		json_object_set_new(o, "maturity", str_or_null(p->maturity));
		json_object_set_new(o, "origin", str_or_null(p->origin));
		if (p->incompatible)
			json_object_set_new(o, "incompatible", json_string(p->incompatible));
		if (p->supported_min)
			json_object_set_new(o, "supported", json_pack("[s,s]", p->supported_min,
			                                              p->supported_max ? p->supported_max : ""));
		for (j = 0; j < p->dependency_count; j++)
			json_object_set_new(deps, p->dependencies[j].component,
			                    str_or_null(p->dependencies[j].version));
		json_object_set_new(o, "dependencies", deps);
		json_array_append_new(plugins, o);
	}
	json_object_set_new(doc, "plugins", plugins);
	for (i = 0; i < mdeploy_moodle_problem_count(m); i++) {
		const mdeploy_moodle_problem *p = mdeploy_moodle_problem_at(m, i);
		json_array_append_new(problems, json_pack("{s:s, s:o, s:o, s:i, s:s, s:o}", "code", p->code,
		                                          "component", str_or_null(p->component),
		                                          "file", str_or_null(p->file), "line", (int)p->line,
		                                          "message", p->message, "accepted", str_or_null(p->accepted)));
	}
	json_object_set_new(doc, "problems", problems);
	/* Accepted problems (mdeploy.yml source.accept) do not fail. */
	json_object_set_new(doc, "ok", json_boolean(mdeploy_moodle_problem_failing(m) == 0));
	return doc;
}

void cli_moodle_print(const mdeploy_moodle *m);
void cli_moodle_print(const mdeploy_moodle *m)
{
	size_t i;
	printf("Moodle %s (version %s, branch %s, %s)\n",
	       mdeploy_moodle_release(m) ? mdeploy_moodle_release(m) : "?", mdeploy_moodle_version(m),
	       mdeploy_moodle_branch(m) ? mdeploy_moodle_branch(m) : "?",
	       mdeploy_moodle_maturity(m) ? mdeploy_moodle_maturity(m) : "no maturity");
	printf("layout: %s%s\n", mdeploy_moodle_layout(m),
	       !strcmp(mdeploy_moodle_layout(m), "public") ? " (web root public/)" : "");
	printf("%zu plugin types, %zu plugins:\n", mdeploy_moodle_type_count(m), mdeploy_moodle_plugin_count(m));
	for (i = 0; i < mdeploy_moodle_plugin_count(m); i++) {
		const mdeploy_moodle_plugin *p = mdeploy_moodle_plugin_at(m, i);
		printf("  %-32s %-14s %s\n", p->component, p->version ? p->version : "-", p->path);
	}
}

/* Report problems on stderr; returns how many are not accepted. */
int cli_moodle_problems(const mdeploy_moodle *m);
int cli_moodle_problems(const mdeploy_moodle *m)
{
	size_t i, n = mdeploy_moodle_problem_count(m);
	for (i = 0; i < n; i++) {
		const mdeploy_moodle_problem *p = mdeploy_moodle_problem_at(m, i);
		if (p->accepted)
			fprintf(stderr, "mdeploy: accepted: %s (%s)\n", p->message, p->accepted);
		else
			cli_error("%s", p->message);
	}
	return (int)mdeploy_moodle_problem_failing(m);
}

static int cmd_inspect(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "repo", required_argument, NULL, OPT_REPO },
		{ NULL, 0, NULL, 0 }
	};
	struct inspect_opts o = { NULL, 0 };
	mdeploy_moodle_options mo = MDEPLOY_MOODLE_OPTIONS_INIT;
	mdeploy_moodle *m = NULL;
	mdeploy_ctx *ctx = NULL;
	mdeploy_source *src = NULL;
	const char *what;
	struct stat st;
	int rc, nprob;

	if ((rc = cli_parse(argc, argv, "moodle", "", longopts, inspect_opt, &o)) >= 0)
		return rc;
	if (optind >= argc)
		return cli_usage_error("moodle", "inspect needs a directory or a ref");
	if (optind + 1 < argc)
		return cli_usage_error("moodle", "too many arguments");
	what = argv[optind];
	if (!o.repo && stat(what, &st) == 0 && S_ISDIR(st.st_mode)) {
		rc = mdeploy_moodle_open_dir(&m, what, &mo);
	} else if (o.repo) {
		mo.repository = o.repo;
		rc = mdeploy_moodle_open_git(&m, what, &mo);
	} else {
		/* A ref of the core repository of mdeploy.yml, from its mirror. */
		if ((rc = cli_ctx_open(&ctx)) != 0)
			return rc;
		rc = mdeploy_source_open(&src, ctx, NULL);
		if (rc == 0)
			rc = mdeploy_source_open_core_ref(&m, src, what);
	}
	if (rc != 0) {
		rc = cli_lib_error("cannot inspect");
		goto out;
	}
	if (cli.json) {
		rc = cli_json_print(cli_moodle_json(m));
	} else {
		cli_moodle_print(m);
		rc = 0;
	}
	nprob = cli_moodle_problems(m);
	if (nprob)
		rc = cli_error("%d problem%s found", nprob, nprob == 1 ? "" : "s");
out:
	mdeploy_moodle_free(m);
	mdeploy_source_free(src);
	mdeploy_ctx_free(ctx);
	return rc;
}

int cmd_moodle(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		cli_print_help(cli_find_command("moodle"), argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
	}
	if (!strcmp(argv[1], "inspect"))
		return cmd_inspect(argc - 1, argv + 1);
	return cli_usage_error("moodle", "'%s' is not a moodle subcommand", argv[1]);
}
