/* cmd_source.c - mdeploy source: lock, fetch, status, validate, export, diff. */
#include "config.h"
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

json_t *cli_moodle_json(const mdeploy_moodle *m);
void cli_moodle_print(const mdeploy_moodle *m);
int cli_moodle_problems(const mdeploy_moodle *m);

enum { OPT_LOCKED = CLI_OPT_CMD, OPT_REPO };

struct source_opts {
	int locked;
	const char *repo;
};

static int source_opt(int c, const char *arg, void *data)
{
	struct source_opts *o = data;
	switch (c) {
	case OPT_LOCKED: o->locked = 1; return 0;
	case OPT_REPO: o->repo = arg; return 0;
	default: return cli_usage_error("source", "unknown option");
	}
}

static int open_source(mdeploy_ctx **ctx, mdeploy_source **src)
{
	int rc;
	if ((rc = cli_ctx_open(ctx)) != 0)
		return rc;
	if (mdeploy_source_open(src, *ctx, NULL) != 0)
		return cli_lib_error("");
	return 0;
}

static int do_lock(mdeploy_source *src)
{
	if (mdeploy_source_lock(src) != 0)
		return cli_lib_error("");
	if (cli.json)
		return cli_json_print(json_load_file(mdeploy_source_lock_path(src), JSON_PRESERVE_ORDER, NULL));
	return 0;
}

static int do_fetch(mdeploy_source *src, int locked)
{
	if (mdeploy_source_fetch(src, locked ? MDEPLOY_SOURCE_LOCKED : 0) != 0)
		return cli_lib_error("");
	if (cli.json)
		return cli_json_print(json_pack("{s:b, s:b}", "ok", 1, "locked", locked));
	return 0;
}

struct status_out {
	json_t *arr;
	int moved;
};

static int status_cb(const mdeploy_source_state *st, void *payload)
{
	struct status_out *o = payload;
	o->moved += st->moved;
	if (cli.json) {
		json_array_append_new(o->arr, json_pack("{s:s, s:s, s:s, s:o, s:o, s:b}", "component", st->component,
		                                         "url", st->url, "ref", st->ref,
		                                         "locked", st->locked ? json_string(st->locked) : json_null(),
		                                         "upstream", st->upstream ? json_string(st->upstream) : json_null(),
		                                         "moved", st->moved));
		return 0;
	}
	if (!st->locked)
		printf("%-28s %-14s not locked (upstream %.12s)\n", st->component, st->ref,
		       st->upstream ? st->upstream : "missing");
	else if (!st->upstream)
		printf("%-28s %-14s GONE upstream (locked %.12s)\n", st->component, st->ref, st->locked);
	else if (st->moved)
		printf("%-28s %-14s moved %.12s -> %.12s\n", st->component, st->ref, st->locked, st->upstream);
	else
		printf("%-28s %-14s up to date (%.12s)\n", st->component, st->ref, st->locked);
	return 0;
}

static int do_status(mdeploy_source *src)
{
	struct status_out o = { json_array(), 0 };
	if (mdeploy_source_status(src, status_cb, &o) != 0) {
		json_decref(o.arr);
		return cli_lib_error("cannot get status");
	}
	if (cli.json)
		return cli_json_print(json_pack("{s:o, s:b}", "repositories", o.arr, "moved", o.moved > 0));
	json_decref(o.arr);
	if (o.moved)
		cli_hint("run 'mdeploy source lock' to lock the refs as they are now");
	return 0;
}

static int do_validate(mdeploy_source *src)
{
	mdeploy_release *rel = NULL;
	const mdeploy_moodle *m;
	int rc, n;

	if (mdeploy_source_assemble(&rel, src) != 0)
		return cli_lib_error("cannot assemble the release");
	m = mdeploy_release_moodle(rel);
	if (cli.json)
		rc = cli_json_print(cli_moodle_json(m));
	else {
		cli_moodle_print(m);
		rc = 0;
	}
	if ((n = cli_moodle_problems(m)) != 0)
		rc = cli_error("%d problem%s found", n, n == 1 ? "" : "s");
	else if (!cli.json && mdeploy_moodle_problem_count(m))
		printf("ok: no problems but %zu accepted in mdeploy.yml\n", mdeploy_moodle_problem_count(m));
	else if (!cli.json)
		printf("ok: no problems\n");
	mdeploy_release_free(rel);
	return rc;
}

static int do_export(mdeploy_source *src, const char *dir)
{
	mdeploy_release *rel = NULL;
	int rc = 0;
	if (mdeploy_source_assemble(&rel, src) != 0)
		return cli_lib_error("cannot assemble the release");
	if (mdeploy_release_export(rel, dir) != 0)
		rc = cli_lib_error("cannot export");
	else if (cli.json)
		rc = cli_json_print(json_loads(mdeploy_release_manifest(rel), 0, NULL));
	else
		cli_info("exported %s %s to %s", mdeploy_moodle_release(mdeploy_release_moodle(rel)),
		         mdeploy_moodle_layout(mdeploy_release_moodle(rel)), dir);
	mdeploy_release_free(rel);
	return rc;
}

/* A or B of diff: a lock or manifest file, else a ref of a repository. */
static int open_side(mdeploy_release **out, mdeploy_ctx *ctx, const char *what, const char *repo)
{
	struct stat st;
	if (stat(what, &st) == 0 && S_ISREG(st.st_mode))
		return mdeploy_release_open_file(out, ctx, what);
	if (repo)
		return mdeploy_release_open_rev(out, repo, what);
	{
		/* A ref of mdeploy.yml's core, from its mirror. */
		mdeploy_source *src = NULL;
		int rc = mdeploy_source_open(&src, ctx, NULL);
		if (rc == 0)
			rc = mdeploy_release_open_core_rev(out, src, what);
		mdeploy_source_free(src);
		return rc;
	}
}

/* The text of a release manifest file, or NULL when `path` is not one. */
static char *read_manifest(const char *path)
{
	json_t *doc = json_load_file(path, 0, NULL);
	char *text = NULL;
	if (doc && json_object_get(doc, "mdeploy_release"))
		text = json_dumps(doc, 0);
	json_decref(doc);
	return text;
}

static const char *kind_name(mdeploy_change_kind k)
{
	switch (k) {
	case MDEPLOY_CHANGE_ADDED: return "added";
	case MDEPLOY_CHANGE_REMOVED: return "removed";
	case MDEPLOY_CHANGE_CHANGED: return "changed";
	default: return "unchanged";
	}
}

static int do_diff(mdeploy_ctx *ctx, const char *a, const char *b, const char *repo)
{
	mdeploy_release *ra = NULL, *rb = NULL;
	mdeploy_release_diff *d = NULL;
	size_t i;
	int rc = 0;

	if (open_side(&ra, ctx, a, repo) != 0 || open_side(&rb, ctx, b, repo) != 0) {
		/* Two manifests on a host without the mirrors: compare versions only. */
		char *ta = NULL, *tb = NULL;
		int missing = mdeploy_error_last()->code == MDEPLOY_ENOTFOUND;
		if (missing && (ta = read_manifest(a)) && (tb = read_manifest(b))) {
			cli_warn("the repositories of these manifests are not fetched here: "
			         "comparing component versions only");
			if (mdeploy_release_diff_manifests(&d, ta, tb) != 0)
				rc = cli_lib_error("cannot compare");
		} else {
			rc = cli_lib_error(ra ? b : a);
		}
		free(ta);
		free(tb);
		if (rc)
			goto out;
	} else if (mdeploy_release_diff_new(&d, ra, rb) != 0) {
		rc = cli_lib_error("cannot compare");
		goto out;
	}
	if (cli.json) {
		json_t *arr = json_array(), *causes = json_array();
		for (i = 0; i < mdeploy_release_diff_count(d); i++) {
			const mdeploy_component_change *c = mdeploy_release_diff_get(d, i);
			json_array_append_new(arr, json_pack("{s:s, s:s, s:o, s:o, s:o, s:b}", "component", c->component,
			                                     "change", kind_name(c->kind),
			                                     "old_version", c->old_version ? json_string(c->old_version) : json_null(),
			                                     "new_version", c->new_version ? json_string(c->new_version) : json_null(),
			                                     "files_changed", c->files_counted ? json_integer((json_int_t)c->files_changed)
			                                                                       : json_null(),
			                                     "upgrade", c->upgrade));
			json_object_set_new(json_array_get(arr, json_array_size(arr) - 1), "reason",
			                    c->reason ? json_string(c->reason) : json_null());
			if (c->upgrade)
				json_array_append_new(causes, json_string(c->component));
		}
		rc = cli_json_print(json_pack("{s:s, s:o, s:o}", "classification",
		                              mdeploy_release_diff_upgrade(d) ? "upgrade" : "code-only",
		                              "components", arr, "upgrade_caused_by", causes));
		goto out;
	}
	for (i = 0; i < mdeploy_release_diff_count(d); i++) {
		const mdeploy_component_change *c = mdeploy_release_diff_get(d, i);
		char versions[96];
		if (c->kind == MDEPLOY_CHANGE_ADDED)
			snprintf(versions, sizeof(versions), "%s", c->new_version);
		else if (c->kind == MDEPLOY_CHANGE_REMOVED)
			snprintf(versions, sizeof(versions), "%s", c->old_version);
		else if (c->upgrade)
			snprintf(versions, sizeof(versions), "%s -> %s", *c->old_version ? c->old_version : "?",
			         *c->new_version ? c->new_version : "?");
		else
			snprintf(versions, sizeof(versions), "%s", c->new_version);
		if (c->files_counted)
			printf("%-8s %-28s %-28s %zu file%s%s\n", kind_name(c->kind), c->component, versions,
			       c->files_changed, c->files_changed == 1 ? "" : "s", c->upgrade ? "  [upgrade]" : "");
		else
			printf("%-8s %-28s %-28s %s\n", kind_name(c->kind), c->component, versions,
			       c->upgrade ? "[upgrade]" : "");
	}
	if (mdeploy_release_diff_upgrade(d)) {
		printf("upgrade: Moodle will need its database upgrade (caused by");
		for (i = 0; i < mdeploy_release_diff_count(d); i++)
			if (mdeploy_release_diff_get(d, i)->upgrade)
				printf(" %s", mdeploy_release_diff_get(d, i)->component);
		printf(")\n");
		for (i = 0; i < mdeploy_release_diff_count(d); i++) {
			const mdeploy_component_change *c = mdeploy_release_diff_get(d, i);
			if (c->upgrade && c->reason)
				printf("  %s: %s\n", c->component, c->reason);
		}
	} else {
		printf("code-only: no version changed and no plugin added or removed; "
		       "can be swapped with zero downtime\n");
	}
out:
	mdeploy_release_diff_free(d);
	mdeploy_release_free(ra);
	mdeploy_release_free(rb);
	return rc;
}

int cmd_source(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "locked", no_argument, NULL, OPT_LOCKED },
		{ "repo", required_argument, NULL, OPT_REPO },
		{ NULL, 0, NULL, 0 }
	};
	struct source_opts o = { 0, NULL };
	mdeploy_ctx *ctx = NULL;
	mdeploy_source *src = NULL;
	const char *sub;
	int rc, nargs;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		cli_print_help(cli_find_command("source"), argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
	}
	sub = argv[1];
	if ((rc = cli_parse(argc - 1, argv + 1, "source", "", longopts, source_opt, &o)) >= 0)
		return rc;
	nargs = argc - 1 - optind;
	argv += 1 + optind;
	if (strcmp(sub, "lock") && strcmp(sub, "fetch") && strcmp(sub, "status") && strcmp(sub, "validate") &&
	    strcmp(sub, "export") && strcmp(sub, "diff"))
		return cli_usage_error("source", "'%s' is not a source subcommand", sub);
	if (o.locked && strcmp(sub, "fetch"))
		return cli_usage_error("source", "--locked goes with fetch");
	if (o.repo && strcmp(sub, "diff"))
		return cli_usage_error("source", "--repo goes with diff");
	if (!strcmp(sub, "export") ? nargs != 1 : !strcmp(sub, "diff") ? nargs != 2 : nargs != 0)
		return cli_usage_error("source", "wrong number of arguments for '%s'", sub);
	if (!strcmp(sub, "diff")) {
		if ((rc = cli_ctx_open(&ctx)) == 0)
			rc = do_diff(ctx, argv[0], argv[1], o.repo);
		goto out;
	}
	if ((rc = open_source(&ctx, &src)) != 0)
		goto out;
	if (!strcmp(sub, "lock"))
		rc = do_lock(src);
	else if (!strcmp(sub, "fetch"))
		rc = do_fetch(src, o.locked);
	else if (!strcmp(sub, "status"))
		rc = do_status(src);
	else if (!strcmp(sub, "validate"))
		rc = do_validate(src);
	else
		rc = do_export(src, argv[0]);
out:
	mdeploy_source_free(src);
	mdeploy_ctx_free(ctx);
	return rc;
}
