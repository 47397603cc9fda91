/*
 * haproxy_cli.c - the local load balancer's files and its Runtime API: one
 * exchange over the 0600 admin socket, changes whose refusal is an error,
 * and the saved server state (see lb.c).
 */
#include "local.h"
#include "haproxy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int mdeploy_local__hap_paths(mdeploy_provider *p, const char *name, lb_paths *lp)
{
	char sub[160];
	char *dir;
	snprintf(sub, sizeof(sub), "lb/%s", name);
	if (!(dir = mdeploy_local__path(p, sub)))
		return MDEPLOY_ENOMEM;
	snprintf(lp->dir, sizeof(lp->dir), "%s", dir);
	free(dir);
	snprintf(lp->sock, sizeof(lp->sock), "%s/admin.sock", lp->dir);
	snprintf(lp->cfg, sizeof(lp->cfg), "%s/haproxy.cfg", lp->dir);
	snprintf(lp->state, sizeof(lp->state), "%s/server-state", lp->dir);
	snprintf(lp->pidfile, sizeof(lp->pidfile), "%s/haproxy.pid", lp->dir);
	snprintf(lp->bindfile, sizeof(lp->bindfile), "%s/bind", lp->dir);
	snprintf(lp->hold, sizeof(lp->hold), "%s/hold", lp->dir);
	if (strlen(lp->sock) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PROVIDER,
			"%s: path too long for a unix socket; use a shorter state directory", lp->sock);
	return 0;
}

void mdeploy_local__hap_sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* One Runtime API exchange: send `cmd` (commands separated by ';'), read the reply to EOF. */
int mdeploy_local__hap_cli_send(const lb_paths *lp, const char *cmd, char **reply)
{
	struct sockaddr_un sa;
	struct timeval tv = { 10, 0 };
	mdeploy__buf out = MDEPLOY__BUF_INIT;
	size_t len = strlen(cmd), off = 0;
	char buf[16384];
	ssize_t n;
	int fd, rc = 0;

	if (reply)
		*reply = NULL;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return mdeploy__error_os(MDEPLOY_ERROR_CLASS_PROVIDER, "socket");
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, lp->sock, strnlen(lp->sock, sizeof(sa.sun_path) - 1));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_PROVIDER, "%s: cannot reach the load balancer", lp->sock);
		if (rc == MDEPLOY_ENOTFOUND || errno == ECONNREFUSED)
			rc = mdeploy__error_set(MDEPLOY_ENETWORK, MDEPLOY_ERROR_CLASS_PROVIDER,
				"load balancer is not running (%s does not answer)", lp->sock);
		close(fd);
		return rc;
	}
	while (off < len) {
		n = send(fd, cmd + off, len - off, MSG_NOSIGNAL);
		if (n < 0) {
			rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_PROVIDER, "%s: send", lp->sock);
			goto out;
		}
		off += (size_t)n;
	}
	if (send(fd, "\n", 1, MSG_NOSIGNAL) != 1) {
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_PROVIDER, "%s: send", lp->sock);
		goto out;
	}
	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
		if ((rc = mdeploy__buf_put(&out, buf, (size_t)n)))
			goto out;
	if (n < 0) {
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_PROVIDER, "%s: no reply", lp->sock);
		goto out;
	}
	if (reply) {
		*reply = mdeploy__buf_detach(&out);
		if (!*reply)
			rc = mdeploy__error_oom();
	}
out:
	mdeploy__buf_dispose(&out);
	close(fd);
	return rc;
}

/*
 * Run change commands; HAProxy answers each with nothing or a line. A
 * reply other than the address notices means a command was refused.
 */
int mdeploy_local__hap_cli_change(const lb_paths *lp, const char *cmd)
{
	char *reply = NULL, *line, *save = NULL;
	int rc;

	if ((rc = cli_send(lp, cmd, &reply)))
		return rc;
	for (line = strtok_r(reply, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!*line || strstr(line, "changed from") || strstr(line, "no need to change"))
			continue;
		rc = mdeploy__error_set(MDEPLOY_ENETWORK, MDEPLOY_ERROR_CLASS_PROVIDER,
			"load balancer refused '%s': %s", cmd, line);
		break;
	}
	free(reply);
	return rc;
}

int mdeploy_local__hap_save_state(const lb_paths *lp)
{
	char *reply = NULL;
	int rc;
	if ((rc = cli_send(lp, "show servers state", &reply)))
		return rc;
	if (strncmp(reply, "1\n", 2) != 0)
		rc = mdeploy__error_set(MDEPLOY_ENETWORK, MDEPLOY_ERROR_CLASS_PROVIDER,
			"unexpected reply to 'show servers state': %.80s", reply);
	else
		rc = mdeploy__file_write_atomic(lp->state, reply, strlen(reply), 0600);
	free(reply);
	return rc;
}

