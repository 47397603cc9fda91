/*
 * install.c - installing a release on instances through the agent: the
 * lifecycle events up to ValidateService, batches of instances installed in
 * parallel by worker processes, and the tally of their results.
 */
#include "deploy_private.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define CLS MDEPLOY_ERROR_CLASS_DEPLOY

const char *const mdeploy_deploy__install_events[] = {
	"ApplicationStop", "DownloadBundle", "BeforeInstall", "Install", "AfterInstall", "ApplicationStart",
};

/* Who and what for the agent, with the hooks' environment (loaded once per run: env.c). */
int mdeploy_deploy__agent_deployment(mdeploy_deploy__run *r, mdeploy_agent_deployment *d, const char *id,
                                     const char *addr, char *group_id, size_t n, int once)
{
	mdeploy_agent_deployment def = MDEPLOY_AGENT_DEPLOYMENT_INIT;
	int rc = mdeploy_deploy__env_load(r);
	snprintf(group_id, n, "dg-%s-%s", r->app, r->g->name);
	*d = def;
	d->deployment_id = r->id;
	d->application_name = r->app;
	d->deployment_group_name = r->g->name;
	d->deployment_group_id = group_id;
	d->instance_id = id;
	d->instance_addr = addr;
	d->run_once_hooks = once;
	/* What this deployment does to the database: the install hook installs only on "install". */
	if (!rc)
		rc = mdeploy_deploy__env_kind(r);
	d->env = (const char *const *)r->env;
	d->mask = (const char *const *)r->mask;
	return rc;
}

int mdeploy_deploy__s_install(mdeploy_deploy__run *r, const char *target, void *arg)
{
	struct install_arg *ia = arg;
	mdeploy_agent_options ao = MDEPLOY_AGENT_OPTIONS_INIT;
	mdeploy_agent_deployment d;
	mdeploy_agent *agent = NULL;
	char gid[160];
	size_t i;
	int rc;

	ao.ctx = r->ctx;
	ao.trusted_keys = mdeploy_deploy__trusted_keys(r);
	if ((rc = mdeploy_agent_open(&agent, ia->root, &ao)))
		return rc;
	if ((rc = mdeploy_deploy__agent_deployment(r, &d, target, ia->addr, gid, sizeof(gid), ia->once))) {
		mdeploy_agent_free(agent);
		return rc;
	}
	if (mdeploy_agent_last_successful(agent) && !strcmp(mdeploy_agent_last_successful(agent), r->id)) {
		/* Installed and validated before a crash: make sure it serves. */
		rc = mdeploy_instance_start(r->p, target);
		mdeploy_agent_free(agent);
		return rc;
	}
	for (i = 0; i < MDEPLOY__ARRAY_SIZE(mdeploy_deploy__install_events) && !rc; i++) {
		rc = mdeploy_agent_run_event(agent, mdeploy_deploy__install_events[i], i == 1 ? r->bundle : NULL, &d);
		if (rc)
			mdeploy__error_prefix("instance %s", target);
	}
	/* The provider runs the server: (re)start it on the new release, then validate. */
	if (!rc && (rc = mdeploy_instance_restart(r->p, target)) == 0 && !ia->no_validate) {
		rc = mdeploy_agent_run_event(agent, "ValidateService", NULL, &d);
		if (rc)
			mdeploy__error_prefix("instance %s", target);
	}
	mdeploy_agent_free(agent);
	return rc;
}

/* Count one install result. */
void mdeploy_deploy__tally(mdeploy_deploy__run *r, const inst_list *l, size_t i, const int *res, char (*msg)[1024],
                           unsigned int *succeeded, int *last_failed_only, char *err, size_t nerr)
{
	if (res[i] == 0) {
		(*succeeded)++;
		*last_failed_only = 0;
		return;
	}
	mdeploy_deploy__keep_log(r, l->id[i], l->root[i], msg[i], sizeof(msg[0]));
	if (!err[0])
		snprintf(err, nerr, "%s", msg[i]);
	*last_failed_only = i + 1 == l->n && *succeeded == i;
	mdeploy__log(r->ctx, MDEPLOY_LOG_WARN, "deploy", "%s", msg[i]);
}

/*
 * Install on instances [from, to) at once, one worker process each, as
 * CodeDeploy deploys a batch in parallel. Every step is journaled by this
 * process before its worker starts; a worker opens its own connections (an
 * SQLite handle must not cross fork()). res[i] gets 0 or the error code and
 * msg[i] the message.
 */
int mdeploy_deploy__install_batch(mdeploy_deploy__run *r, const inst_list *l, size_t from, size_t to,
                                  size_t once_index, int *res, char (*msg)[1024])
{
	pid_t pids[64];
	int fds[64];
	int64_t seqs[64];
	pid_t parent;
	size_t i, k;
	int rc = 0;
	const char *crash = getenv("MDEPLOY_TEST_CRASH_AT");

	for (i = from; i < to; i++) {
		k = i - from;
		pids[k] = 0;
		fds[k] = -1;
		res[i] = 0;
		msg[i][0] = '\0';
		if (mdeploy_deploy__is_done(r, "install", l->id[i]))
			continue;
		if ((rc = mdeploy_deploy__beat(r)) || (rc = mdeploy_store_journal_begin(r->store, r->id, "install", l->id[i], NULL, &seqs[k])))
			break;
		r->steps++;
		if (crash && atoi(crash) > 0 && (unsigned int)atoi(crash) == r->steps) {
			fflush(NULL);
			kill(getpid(), SIGKILL);
		}
		mdeploy__log(r->ctx, MDEPLOY_LOG_INFO, "deploy", "%s: install %s", r->id, l->id[i]);
		{
			int pfd[2];
			if (pipe(pfd) != 0) {
				rc = mdeploy__error_os(CLS, "pipe");
				break;
			}
			fflush(NULL);
			parent = getpid();
			pids[k] = fork();
			if (pids[k] < 0) {
				close(pfd[0]);
				close(pfd[1]);
				pids[k] = 0;
				rc = mdeploy__error_os(CLS, "fork");
				break;
			}
			if (pids[k] == 0) {
				mdeploy_deploy__run c = *r;
				mdeploy_provider_options po = MDEPLOY_PROVIDER_OPTIONS_INIT;
				struct install_arg ia;
				const char *m;
				int crc;
				close(pfd[0]);
				/*
				 * A worker dies with the deployment: killed mid-batch, the
				 * deployment is resumed, which installs this instance again;
				 * an orphaned worker still installing it would race that.
				 */
				if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
					_exit(3);
				c.done = NULL;
				c.ndone = 0;
				c.store = NULL;
				c.p = NULL;
				ia.root = l->root[i];
				ia.addr = l->addr[i];
				ia.once = i == once_index;
				ia.no_validate = r->install_no_validate;
				mdeploy_error_clear();
				crc = mdeploy_store_open(&c.store, r->ctx, NULL);
				po.name = mdeploy_config_provider_name(r->cfg);
				po.settings = mdeploy_config_provider_settings(r->cfg);
				if (!crc)
					crc = mdeploy_provider_open(&c.p, r->ctx, c.store, &po);
				if (!crc)
					crc = mdeploy_deploy__s_install(&c, l->id[i], &ia);
				m = crc ? mdeploy_error_last()->message : "";
				if (write(pfd[1], &crc, sizeof(crc)) != (ssize_t)sizeof(crc) ||
				    write(pfd[1], m, strlen(m)) < 0)
					_exit(3);
				_exit(crc ? 1 : 0);
			}
			close(pfd[1]);
			fds[k] = pfd[0];
		}
	}
	/* Collect every worker started, even after an error. */
	for (i = from; i < to; i++) {
		int code = MDEPLOY_EHOOK, st;
		ssize_t n;
		size_t len = 0;
		k = i - from;
		if (!pids[k])
			continue;
		if (read(fds[k], &code, sizeof(code)) != (ssize_t)sizeof(code))
			code = MDEPLOY_EHOOK;
		while (len + 1 < sizeof(msg[0]) && (n = read(fds[k], msg[i] + len, sizeof(msg[0]) - 1 - len)) > 0)
			len += (size_t)n;
		msg[i][len] = '\0';
		close(fds[k]);
		waitpid(pids[k], &st, 0);
		if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0) && code == 0)
			code = MDEPLOY_EHOOK;
		if (code && !msg[i][0])
			snprintf(msg[i], sizeof(msg[0]), "instance %s: the install worker died", l->id[i]);
		res[i] = code;
		mdeploy_store_journal_end(r->store, r->id, seqs[k], code == 0, code ? msg[i] : NULL);
		if (code == 0) {
			done_mark *nd = realloc(r->done, (r->ndone + 1) * sizeof(*nd));
			if (nd) {
				r->done = nd;
				if ((r->done[r->ndone].key = mdeploy__sprintf("install\t%s", l->id[i])))
					r->ndone++;
			}
		}
	}
	return rc;
}

int mdeploy_deploy__agent_event(mdeploy_deploy__run *r, const char *id, const char *root, const char *addr,
                                const char *event)
{
	mdeploy_agent_options ao = MDEPLOY_AGENT_OPTIONS_INIT;
	mdeploy_agent_deployment d;
	mdeploy_agent *agent = NULL;
	char gid[160];
	int rc;
	ao.ctx = r->ctx;
	if ((rc = mdeploy_agent_open(&agent, root, &ao)))
		return rc;
	rc = mdeploy_deploy__agent_deployment(r, &d, id, addr, gid, sizeof(gid), 0);
	/* The traffic hooks of a host that never had a release have nothing to run. */
	if (!rc && (mdeploy_agent_last_successful(agent) || !strstr(event, "BlockTraffic")))
		rc = mdeploy_agent_run_event(agent, event, NULL, &d);
	if (rc)
		mdeploy__error_prefix("instance %s", id);
	mdeploy_agent_free(agent);
	return rc;
}
