/*
 * The source API as another program uses it: lock, assemble, the walk
 * stream (what the bundle stage writes archives from), progress, and
 * mirrors surviving concurrent fetches and a killed fetch's leftovers.
 */
#include <mdeploy.h>
#include "tap.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct seen {
	char last[4096];
	int sorted, count;
	int link_ok, exec_ok, plugin_origin_ok, sizes_ok, public_manifest;
	int abort_at;
};

static int walk_cb(const mdeploy_source_entry *e, mdeploy_source_reader *r, void *payload)
{
	struct seen *s = payload;
	char buf[7];
	size_t n, total = 0, len;
	const void *all = mdeploy_source_content(r, &len);

	if (s->count && strcmp(s->last, e->path) >= 0)
		s->sorted = 0;
	snprintf(s->last, sizeof(s->last), "%s", e->path);
	s->count++;
	/* Read in small pieces: the stream gives exactly size bytes. */
	do {
		if (mdeploy_source_read(r, buf, sizeof(buf), &n) != 0)
			return 1;
		total += n;
	} while (n);
	if (total != e->size || len != e->size || (e->size && !all) || strlen(e->oid) != 40)
		s->sizes_ok = 0;
	if (!strcmp(e->path, "weblib-link.php"))
		s->link_ok = e->mode == 0120000 && len == 14 && !memcmp(all, "lib/weblib.php", 14);
	if (!strcmp(e->path, "admin/cron.sh"))
		s->exec_ok = e->mode == 0100755;
	if (!strcmp(e->path, "mod/certx/lib.php"))
		s->plugin_origin_ok = !strcmp(e->origin, "mod_certx");
	if (s->abort_at && s->count == s->abort_at)
		return 42;
	return 0;
}

static int fetch_progress_done;
static int progress_cb(const mdeploy_progress *p, void *payload)
{
	(void)payload;
	if (!strcmp(p->operation, "fetch") && p->done && !strcmp(p->unit, "objects") && p->total > 0)
		fetch_progress_done++;
	return 0;
}

static int open_ctx(mdeploy_ctx **ctx, const char *state, const char *config)
{
	mdeploy_ctx_options o = MDEPLOY_CTX_OPTIONS_INIT;
	o.state_dir = state;
	o.config_path = config;
	o.progress_cb = progress_cb;
	return mdeploy_ctx_new(ctx, &o);
}

static int count_entries(const char *dir, const char *needle)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;
	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strstr(de->d_name, needle))
			n++;
	closedir(d);
	return n;
}

int main(void)
{
	char cmd[8192], fx[1024], cfgpath[1100], state[1024], mirrors[1100], core_mirror[1400];
	mdeploy_ctx *ctx = NULL;
	mdeploy_source *src = NULL;
	mdeploy_release *rel = NULL;
	struct seen s;
	const mdeploy_moodle *m;
	int rc, i, status;

	plan_lazy();
	snprintf(fx, sizeof(fx), "%s/fx", test_tmpdir());
	snprintf(cfgpath, sizeof(cfgpath), "%s/mdeploy.yml", fx);
	snprintf(state, sizeof(state), "%s/state", test_tmpdir());
	snprintf(mirrors, sizeof(mirrors), "%s/mirrors", state);
	snprintf(cmd, sizeof(cmd), "sh '%s' '%s'", test_srcpath("t/fixtures/mkmoodle.sh"), fx);
	if (system(cmd) != 0) {
		plan_skip_all("fixture generator failed (git missing?)");
		return 0;
	}

	is_int(0, open_ctx(&ctx, state, cfgpath), "context");
	is_int(0, mdeploy_source_open(&src, ctx, NULL), "source open");
	is_int(MDEPLOY_ENOTFOUND, mdeploy_source_assemble(&rel, src), "assemble without a lock: ENOTFOUND");
	like(mdeploy_error_last()->message, "run 'mdeploy source lock'", "with a hint");
	rc = mdeploy_source_lock(src);
	is_int(0, rc, "lock");
	if (rc)
		diag("%s", mdeploy_error_last()->message);
	ok(fetch_progress_done >= 4, "progress reported a finished fetch per repository (%d)", fetch_progress_done);
	is_int(0, mdeploy_source_assemble(&rel, src), "assemble");
	m = mdeploy_release_moodle(rel);
	is_str("2024100700.00", mdeploy_moodle_version(m), "core version of the release");
	ok(mdeploy_moodle_find(m, "workflowstep_email") != NULL, "subplugin of a plugin repository");
	is_int(0, (long long)mdeploy_moodle_problem_count(m), "no problems");
	like(mdeploy_release_manifest(rel), "\"mdeploy_release\": 1", "manifest");

	memset(&s, 0, sizeof(s));
	s.sorted = s.sizes_ok = 1;
	is_int(0, mdeploy_release_walk(rel, walk_cb, &s), "walk");
	ok(s.count > 20, "walk saw %d entries", s.count);
	ok(s.sorted, "entries come sorted by path");
	ok(s.sizes_ok, "size, content and read() agree for every entry");
	ok(s.link_ok, "a symlink is mode 0120000 with its target as content");
	ok(s.exec_ok, "an executable keeps 0100755");
	ok(s.plugin_origin_ok, "plugin files name their repository");
	memset(&s, 0, sizeof(s));
	s.sorted = s.sizes_ok = 1;
	s.abort_at = 3;
	is_int(MDEPLOY_EUSER, mdeploy_release_walk(rel, walk_cb, &s), "a non-zero callback stops the walk: EUSER");
	is_int(3, s.count, "and nothing more is walked");
	mdeploy_release_free(rel);
	rel = NULL;

	/* A killed fetch leaves a half clone and git lock files: the next fetch copes. */
	{
		DIR *d = opendir(mirrors);
		struct dirent *de;
		core_mirror[0] = '\0';
		while (d && (de = readdir(d)))
			if (strstr(de->d_name, "-moodle.git") && !strstr(de->d_name, ".lock"))
				snprintf(core_mirror, sizeof(core_mirror), "%s/%s", mirrors, de->d_name);
		if (d)
			closedir(d);
	}
	ok(core_mirror[0] != '\0', "core mirror found");
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s.tmp-99999/objects' && touch '%s/packed-refs.lock' "
	         "'%s/refs/heads/main.lock'", core_mirror, core_mirror, core_mirror);
	is_int(0, system(cmd), "leftovers of a killed fetch made");
	rc = mdeploy_source_fetch(src, 0);
	is_int(0, rc, "fetch after a killed fetch succeeds");
	if (rc)
		diag("%s", mdeploy_error_last()->message);
	is_int(0, count_entries(mirrors, ".tmp-"), "the half clone is removed");
	snprintf(cmd, sizeof(cmd), "%s/packed-refs.lock", core_mirror);
	ok(access(cmd, F_OK) != 0, "stale git lock files are removed");

	/* Two processes fetching the same mirrors at once, from scratch. */
	mdeploy_source_free(src);
	src = NULL;
	mdeploy_ctx_free(ctx);
	ctx = NULL;
	snprintf(state, sizeof(state), "%s/state2", test_tmpdir());
	snprintf(mirrors, sizeof(mirrors), "%s/mirrors", state);
	{
		pid_t kids[2];
		int ok_kids = 0;
		for (i = 0; i < 2; i++) {
			kids[i] = fork();
			if (kids[i] == 0) {
				mdeploy_ctx *c = NULL;
				mdeploy_source *sr = NULL;
				int r = open_ctx(&c, state, cfgpath) || mdeploy_source_open(&sr, c, NULL) ||
				        mdeploy_source_fetch(sr, 0);
				mdeploy_source_free(sr);
				mdeploy_ctx_free(c);
				_exit(r ? 1 : 0);
			}
		}
		for (i = 0; i < 2; i++)
			if (waitpid(kids[i], &status, 0) == kids[i] && WIFEXITED(status) && WEXITSTATUS(status) == 0)
				ok_kids++;
		is_int(2, ok_kids, "two concurrent fetches of the same mirrors both succeed");
	}
	is_int(4, count_entries(mirrors, ".git") - count_entries(mirrors, ".git.lock"), "four mirrors, no duplicates");
	is_int(0, count_entries(mirrors, ".tmp-"), "no temporary clone left");
	is_int(0, open_ctx(&ctx, state, cfgpath), "context on the concurrently fetched cache");
	is_int(0, mdeploy_source_open(&src, ctx, NULL), "source open");
	is_int(0, mdeploy_source_fetch(src, MDEPLOY_SOURCE_LOCKED), "fetch --locked from it");
	is_int(0, mdeploy_source_assemble(&rel, src), "and assemble");
	mdeploy_release_free(rel);
	mdeploy_source_free(src);
	mdeploy_ctx_free(ctx);
	return done();
}
