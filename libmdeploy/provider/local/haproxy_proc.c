/*
 * haproxy_proc.c - the HAProxy process behind the local load balancer:
 * its configuration, written once (see lb.c for why it is never reloaded),
 * and starting it as a daemon that answers on its Runtime API socket.
 */
#include "local.h"
#include "haproxy.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

long read_pid(const lb_paths *lp)
{
	char *data = NULL;
	size_t len;
	long pid = 0;
	if (mdeploy__file_read(&data, &len, lp->pidfile) == 0)
		pid = strtol(data, NULL, 10);
	free(data);
	return pid;
}

int is_haproxy(long pid)
{
	char path[64], comm[64] = "";
	FILE *f;
	if (pid <= 0 || !mdeploy_store__pid_alive(pid, 0))
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	if (!(f = fopen(path, "r")))
		return 0;
	if (!fgets(comm, sizeof(comm), f))
		comm[0] = '\0';
	fclose(f);
	return !strncmp(comm, "haproxy", 7);
}

int write_config(const lb_paths *lp, const mdeploy_lb_options *o)
{
	mdeploy__buf b = MDEPLOY__BUF_INIT;
	unsigned int slots = o->slots ? o->slots : 64;
	const char *host = o->health_host;   /* mdeploy_lb_ensure() gives the current version */
	int rc;

	if (strchr(o->bind, ' ') || strchr(o->bind, '\n') || !strchr(o->bind, ':'))
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
		                          "load balancer bind '%s' must be ADDRESS:PORT", o->bind);
	if (o->health_path[0] != '/' || strpbrk(o->health_path, " \t\r\n"))
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
		                          "health check path '%s' must start with '/' and hold no spaces", o->health_path);
	if (host && (!*host || strpbrk(host, " \t\r\n\\\"'#%")))
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
		                          "health check host '%s' must be a host name, with no spaces or quotes", host);
	mdeploy__buf_printf(&b,
		"# Written once by mdeploy. Changed only through the Runtime API on\n"
		"# %s; the server state lives in %s.\n"
		"global\n"
		"\tstats socket %s mode 600 level admin\n"
		"\tstats timeout 10s\n"
		"\tserver-state-file %s\n"
		"\tpidfile %s\n"
		"\tmaxconn 4096\n"
		"\n"
		"defaults\n"
		"\tmode http\n"
		"\tload-server-state-from-file global\n"
		"\toption redispatch\n"
		"\tretries 3\n"
		"\tretry-on conn-failure empty-response\n"
		"\ttimeout connect 2s\n"
		"\ttimeout client 60s\n"
		"\ttimeout server 60s\n"
		"\ttimeout http-request 10s\n"
		"\ttimeout check %ums\n"
		"\n"
		"frontend fe\n"
		"\tbind %s%s%s\n"
		"\tdefault_backend " BACKEND "\n"
		"\n"
		"backend " BACKEND "\n"
		"\tbalance roundrobin\n"
		"\toption httpchk GET %s\n"
		"%s%s%s"
		"\thttp-check expect status %u\n"
		"\tdefault-server init-addr last,127.0.0.1 check inter %ums rise %u fall %u\n"
		"\tserver-template s 1-%u localhost:%d disabled\n",
		lp->sock, lp->state, lp->sock, lp->state, lp->pidfile,
		o->health_timeout_ms ? o->health_timeout_ms : 2000,
		o->bind, o->tls_cert ? " ssl crt " : "", o->tls_cert ? o->tls_cert : "",
		o->health_path, host ? "\thttp-check send hdr Host " : "", host ? host : "", host ? "\n" : "",
		o->health_status ? o->health_status : 200,
		o->health_interval_ms ? o->health_interval_ms : 1000,
		o->healthy_threshold ? o->healthy_threshold : 2,
		o->unhealthy_threshold ? o->unhealthy_threshold : 2,
		slots, FREE_PORT);
	if (!b.ptr)
		return mdeploy__error_oom();
	/* Checked by HAProxy before it becomes the configuration: it is written only once. */
	{
		char *tmp = mdeploy__sprintf("%s.new", lp->cfg);
		const char *prog = access("/usr/sbin/haproxy", X_OK) == 0 ? "/usr/sbin/haproxy" : "haproxy";
		const char *argv[] = { prog, "-c", "-q", "-f", tmp, NULL };
		mdeploy_exec_options eo = MDEPLOY_EXEC_OPTIONS_INIT;
		mdeploy_exec_result *r = NULL;
		eo.search_path = 1;
		eo.merge_stderr = 1;
		eo.timeout_ms = 20000;
		if (!tmp) {
			mdeploy__buf_dispose(&b);
			return mdeploy__error_oom();
		}
		rc = mdeploy__file_write_atomic(tmp, b.ptr, b.size, 0600);
		mdeploy__buf_dispose(&b);
		if (!rc && (rc = mdeploy_exec_run(&r, argv, &eo)) == 0 && !mdeploy_exec_result_success(r)) {
			const char *outp = mdeploy_exec_result_stdout(r, NULL);
			const char *alert = strstr(outp, "[ALERT]");
			rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
			                        "load balancer configuration refused by haproxy: %.600s", alert ? alert : outp);
		}
		mdeploy_exec_result_free(r);
		if (!rc && rename(tmp, lp->cfg) != 0)
			rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_PROVIDER, "rename %s", tmp);
		if (rc)
			unlink(tmp);
		free(tmp);
	}
	if (!rc)
		rc = mdeploy__file_write_atomic(lp->bindfile, o->bind, strlen(o->bind), 0600);
	return rc;
}

int start_haproxy(mdeploy_provider *p, const lb_paths *lp)
{
	const char *prog = access("/usr/sbin/haproxy", X_OK) == 0 ? "/usr/sbin/haproxy" : "haproxy";
	const char *argv[] = { prog, "-D", "-f", lp->cfg, NULL };
	mdeploy_exec_options eo = MDEPLOY_EXEC_OPTIONS_INIT;
	mdeploy_exec_result *r = NULL;
	uint64_t t0;
	int rc;

	eo.search_path = 1;
	eo.merge_stderr = 1;
	eo.timeout_ms = 20000;
	eo.cwd = lp->dir;
	unlink(lp->sock);
	if ((rc = mdeploy_exec_run(&r, argv, &eo))) {
		mdeploy__error_prefix("cannot start haproxy");
		return rc;
	}
	if (!mdeploy_exec_result_success(r)) {
		const char *outp = mdeploy_exec_result_stdout(r, NULL);
		const char *alert = strstr(outp, "[ALERT]");
		rc = mdeploy__error_set(MDEPLOY_EHOOK, MDEPLOY_ERROR_CLASS_PROVIDER, "haproxy %s: %.600s",
		                        mdeploy_exec_result_describe(r), alert ? alert : outp);
		mdeploy_exec_result_free(r);
		return rc;
	}
	mdeploy_exec_result_free(r);
	t0 = mdeploy__now_ms();
	for (;;) {
		char *reply = NULL;
		if (cli_send(lp, "show info", &reply) == 0) {
			free(reply);
			break;
		}
		if (mdeploy__now_ms() - t0 > 5000)
			return mdeploy__error_set(MDEPLOY_ETIMEOUT, MDEPLOY_ERROR_CLASS_PROVIDER,
			                          "haproxy started but %s does not answer", lp->sock);
		sleep_ms(10);
	}
	mdeploy__log(p->ctx, MDEPLOY_LOG_INFO, "provider", "load balancer started (pid %ld, %s)",
	             read_pid(lp), lp->cfg);
	return 0;
}
