/*
 * gitfetch.c - fetch a local or git:// repository with git(1) when it is
 * installed.
 *
 * libgit2's local transport builds the pack it hands over itself and
 * searches deltas anew instead of reusing the source's: on a real Moodle
 * that made a first fetch 5-6 times slower than `git clone --no-local` (a
 * profile shows most of the time in delta search). git's upload-pack
 * reuses the deltas, and index-pack uses every CPU. For URLs that need no
 * credentials (a path, file://, git://) the mirror is therefore fetched by
 * git, with the same refspecs and pruning as do_fetch() in mirror.c, and
 * without the user's or the system's git configuration (no insteadOf
 * rewriting, as with libgit2). When git is missing or fails, libgit2 does
 * the fetch as before: the result is the same, only slower.
 * MDEPLOY_GIT_FETCH=libgit2 forces libgit2.
 */
#include "source_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

static int wants_git(const char *url)
{
	const char *force = getenv("MDEPLOY_GIT_FETCH");
	if (force && !strcmp(force, "libgit2"))
		return 0;
	if (!strncmp(url, "file://", 7) || !strncmp(url, "git://", 6))
		return 1;
	/* A local path (mirror URLs of paths are absolute). */
	return url[0] == '/';
}

/* The caller's environment without GIT_* (a GIT_DIR or GIT_CONFIG_* of the
 * caller must not redirect the fetch), and with git's configuration files
 * and prompts off. */
static char **git_env(void)
{
	static const char *const add[] = { "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
	                                   "GIT_TERMINAL_PROMPT=0", "LC_ALL=C" };
	size_t n = 0, i, k = 0;
	char **env;
	while (environ[n])
		n++;
	if (!(env = calloc(n + MDEPLOY__ARRAY_SIZE(add) + 1, sizeof(*env))))
		return NULL;
	for (i = 0; i < n; i++)
		if (strncmp(environ[i], "GIT_", 4) != 0 && strncmp(environ[i], "LC_ALL=", 7) != 0)
			env[k++] = environ[i];
	for (i = 0; i < MDEPLOY__ARRAY_SIZE(add); i++)
		env[k++] = (char *)add[i];
	return env;
}

/* git's progress ("Receiving objects:  45% (24962/55472), 40.01 MiB | ...")
 * turned into mdeploy's, as libgit2's transfer callback would give it. */
struct progress {
	mdeploy_ctx *ctx;
	const char *url;
	char line[256];
	size_t n;
	unsigned long long cur, total, bytes;
	int rc;
};

static void progress_line(struct progress *p)
{
	unsigned long long cur, total;
	const char *s;
	double amount;
	char unit[8];
	p->line[p->n] = '\0';
	p->n = 0;
	/* A small fetch is unpacked without a progress line: its total then. */
	if ((s = strstr(p->line, "remote: Total ")) && sscanf(s + 14, "%llu", &total) == 1) {
		if (!p->total)
			p->cur = p->total = total;
		return;
	}
	if ((!strstr(p->line, "Receiving objects:") && !strstr(p->line, "Unpacking objects:")) ||
	    !(s = strchr(p->line, '(')) || sscanf(s, "(%llu/%llu)", &cur, &total) != 2)
		return;
	p->cur = cur;
	p->total = total;
	if ((s = strstr(s, "), ")) && sscanf(s + 3, "%lf %7s", &amount, unit) == 2)
		p->bytes = (unsigned long long)(amount * (!strncmp(unit, "GiB", 3) ? 1073741824.0 :
		                                          !strncmp(unit, "MiB", 3) ? 1048576.0 :
		                                          !strncmp(unit, "KiB", 3) ? 1024.0 : 1.0));
	if (!p->rc)
		p->rc = mdeploy__progress(p->ctx, "fetch", p->url, "objects", p->cur, p->total, p->bytes, 0);
}

static int output_cb(mdeploy_exec_stream stream, const char *data, size_t len, void *payload)
{
	struct progress *p = payload;
	size_t i;
	if (stream != MDEPLOY_EXEC_STDERR)
		return 0;
	for (i = 0; i < len; i++) {
		if (data[i] == '\r' || data[i] == '\n')
			progress_line(p);
		else if (p->n < sizeof(p->line) - 1)
			p->line[p->n++] = data[i];
	}
	return p->rc ? 1 : 0;
}

int mdeploy__gitcli_fetch(mdeploy_ctx *ctx, const char *gitdir, const char *url, int lock_fd)
{
	struct progress prog;
	mdeploy_exec_options eo = MDEPLOY_EXEC_OPTIONS_INIT;
	mdeploy_exec_result *res = NULL;
	char *dirarg = NULL, **env = NULL;
	const char *argv[] = { "git", NULL, "-c", "gc.auto=0", "-c", "core.askPass=", "fetch", "--progress",
	                       "--prune", "--force", url, "+refs/heads/*:refs/heads/*",
	                       "+refs/tags/*:refs/tags/*", NULL };
	int rc, keep = -1;

	if (!wants_git(url))
		return 1;
	if (!(dirarg = mdeploy__sprintf("--git-dir=%s", gitdir)) || !(env = git_env())) {
		free(dirarg);
		return mdeploy__error_oom();
	}
	argv[1] = dirarg;
	eo.env = (const char *const *)env;
	eo.search_path = 1;
	eo.capture_max = 4096;
	memset(&prog, 0, sizeof(prog));
	prog.ctx = ctx;
	prog.url = url;
	eo.output_cb = output_cb;
	eo.payload = &prog;
	/* git inherits a copy of the mirror's lock: should mdeploy be killed,
	 * the next mdeploy waits for this git to finish instead of racing it. */
	if (lock_fd >= 0)
		keep = dup(lock_fd);
	mdeploy__log(ctx, MDEPLOY_LOG_DEBUG, "source", "fetching %s with git", url);
	rc = mdeploy_exec_run(&res, argv, &eo);
	if (keep >= 0)
		close(keep);
	if (prog.rc) {
		rc = prog.rc;   /* the progress callback said stop */
	} else if (rc == 0 && mdeploy_exec_result_success(res)) {
		rc = mdeploy__progress(ctx, "fetch", url, "objects", prog.cur, prog.total, prog.bytes, 1);
	} else if (rc == MDEPLOY_ENOMEM) {
		/* out of memory: give up */
	} else {
		const char *err = res ? mdeploy_exec_result_stderr(res, NULL) : NULL;
		mdeploy__log(ctx, rc == MDEPLOY_ENOTFOUND ? MDEPLOY_LOG_DEBUG : MDEPLOY_LOG_WARN, "source",
		             "git fetch of %s %s%s%s; fetching with libgit2", url,
		             res ? mdeploy_exec_result_describe(res) : "could not start",
		             err && *err ? ": " : "", err ? err : "");
		rc = 1;
	}
	mdeploy_exec_result_free(res);
	free(env);
	free(dirarg);
	return rc;
}
