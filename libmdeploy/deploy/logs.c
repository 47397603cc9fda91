/*
 * logs.c - a failed deployment keeps its instances' logs. The agent writes
 * each instance's hook output to ROOT/logs/ID.log and the server writes
 * ROOT/log/server.log; retiring the green fleet removes ROOT. Before that,
 * both are copied to STATE/deployments/ID/logs/ (INSTANCE.log and
 * INSTANCE.server.log, 0600 in a 0700 directory: hooks may print what only
 * the operator should read), and error messages naming the instance's log
 * are rewritten to name the kept copy, so the path an error prints exists
 * after the deployment ended.
 */
#include "deploy_private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CLS MDEPLOY_ERROR_CLASS_DEPLOY

/* A server log can grow without bound under load: its last part is what explains a failure. */
#define KEEP_MAX (1024 * 1024)

static char *logs_dir(mdeploy_ctx *ctx, const char *id)
{
	return mdeploy__sprintf("%s/deployments/%s/logs", mdeploy_ctx_state_dir(ctx), id);
}

/* Copy the last KEEP_MAX bytes of `from` to `to` (0600). 1 when `from` does not exist. */
static int copy_tail(const char *from, const char *to)
{
	char buf[65536];
	struct stat st;
	ssize_t n;
	int in, out, rc = 0;

	if ((in = open(from, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? 1 : mdeploy__error_os(CLS, "%s", from);
	if (fstat(in, &st) == 0 && st.st_size > KEEP_MAX)
		lseek(in, st.st_size - KEEP_MAX, SEEK_SET);
	if ((out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
		close(in);
		return mdeploy__error_os(CLS, "%s", to);
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			rc = mdeploy__error_os(CLS, "%s", to);
			break;
		}
	if (n < 0 && !rc)
		rc = mdeploy__error_os(CLS, "%s", from);
	close(in);
	if (close(out) && !rc)
		rc = mdeploy__error_os(CLS, "%s", to);
	return rc;
}

/* Replace every `from` in msg (size n) by `to`. */
static void replace_all(char *msg, size_t n, const char *from, const char *to)
{
	size_t lf = strlen(from), lt = strlen(to);
	char *p = msg;
	while (lf && (p = strstr(p, from))) {
		size_t rest = strlen(p + lf);
		if ((size_t)(p - msg) + lt + rest + 1 > n)
			return;
		memmove(p + lt, p + lf, rest + 1);
		memcpy(p, to, lt);
		p += lt;
	}
}

/*
 * Keep instance `id`'s logs of this deployment; `msg` (may be NULL) gets
 * the instance's log path replaced by the kept one. Best effort: a log that
 * cannot be kept is a warning (the deployment's outcome does not depend on
 * it) and the message keeps naming the original.
 */
void mdeploy_deploy__keep_log(mdeploy_deploy__run *r, const char *id, const char *root, char *msg, size_t n)
{
	char *dir = logs_dir(r->ctx, r->id), *abs = root ? realpath(root, NULL) : NULL;
	char *hooks = NULL, *kept = NULL, *server = NULL, *kept_server = NULL;
	int rc;

	if (!dir || !abs)
		goto out;
	hooks = mdeploy__sprintf("%s/logs/%s.log", abs, r->id);
	kept = mdeploy__sprintf("%s/%s.log", dir, id);
	server = mdeploy__sprintf("%s/log/server.log", abs);
	kept_server = mdeploy__sprintf("%s/%s.server.log", dir, id);
	if (!hooks || !kept || !server || !kept_server)
		goto out;
	if ((rc = mdeploy__mkdir_p(dir, 0700)) == 0 && (rc = copy_tail(hooks, kept)) == 0) {
		if (msg)
			replace_all(msg, n, hooks, kept);
	}
	if (rc < 0 || (rc = copy_tail(server, kept_server)) < 0)
		mdeploy__log(r->ctx, MDEPLOY_LOG_WARN, "deploy", "%s: the logs of instance %s were not kept: %s", r->id, id,
		             mdeploy_error_last()->message);
out:
	mdeploy_error_clear();
	free(dir);
	free(abs);
	free(hooks);
	free(kept);
	free(server);
	free(kept_server);
}

/* Keep the logs of every instance of `fleet` (see above). */
void mdeploy_deploy__keep_fleet_logs(mdeploy_deploy__run *r, const char *fleet, char *msg, size_t n)
{
	inst_list l;
	size_t i;
	if (!fleet || !fleet[0] || mdeploy_deploy__instances(r, fleet, &l)) {
		mdeploy_error_clear();
		return;
	}
	for (i = 0; i < l.n; i++)
		mdeploy_deploy__keep_log(r, l.id[i], l.root[i], msg, n);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int mdeploy_deploy_logs(mdeploy_ctx *ctx, const char *id, int (*cb)(const char *path, void *payload), void *payload)
{
	char *dir, **names = NULL, **nn;
	size_t n = 0, i;
	struct dirent *de;
	DIR *d;
	int rc = 0;

	if (!ctx || !id || !cb || strchr(id, '/') || !id[0] || id[0] == '.')
		return mdeploy__error_set(MDEPLOY_EINVALID, CLS, "context, a deployment id and a callback are required");
	if (!(dir = logs_dir(ctx, id)))
		return mdeploy__error_oom();
	if (!(d = opendir(dir))) {
		free(dir);
		return 0; /* nothing kept: the deployment did not fail, or kept nothing */
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (!(nn = realloc(names, (n + 1) * sizeof(*names))) || !(nn[n] = mdeploy__sprintf("%s/%s", dir, de->d_name))) {
			names = nn ? nn : names;
			rc = mdeploy__error_oom();
			break;
		}
		names = nn;
		n++;
	}
	closedir(d);
	if (!rc && n)
		qsort(names, n, sizeof(*names), cmp_str);
	for (i = 0; i < n; i++) {
		if (!rc && cb(names[i], payload))
			rc = mdeploy__error_set(MDEPLOY_EUSER, CLS, "stopped by the callback");
		free(names[i]);
	}
	free(names);
	free(dir);
	return rc;
}
