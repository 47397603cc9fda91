/*
 * infra_redis.c - the local session and cache store: a Redis server
 * (Debian's redis-server) on a port of its own on 127.0.0.1, with a
 * password, data in <state_dir>/infra/redis/data (saved on stop, so
 * sessions survive a destroy without --delete-data).
 *
 * The password is generated into the secret store (REDIS_SECRET) and is
 * the truth: redis.conf (0600, its only other copy, which Redis must read)
 * is written from it before every start. Each group gets it as the secret
 * APP/GROUP/MOODLE_REDIS_PASSWORD, the host and port as parameters.
 * "Up" means a connection that authenticates and answers PING.
 */
#include "infra.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

typedef struct redis_paths {
	char dir[1024], data[1100], conf[1100], pid[1100], log[1100];
	unsigned int port;
} redis_paths;

static void paths(infra_run *r, json_t *rec, redis_paths *rp)
{
	const char *dir = rec ? mdeploy_local__infra_str(rec, "dir") : NULL;
	memset(rp, 0, sizeof(*rp));
	if (dir)
		snprintf(rp->dir, sizeof(rp->dir), "%s", dir);
	else
		snprintf(rp->dir, sizeof(rp->dir), "%s/redis", r->dir);
	snprintf(rp->data, sizeof(rp->data), "%s/data", rp->dir);
	snprintf(rp->conf, sizeof(rp->conf), "%s/redis.conf", rp->dir);
	snprintf(rp->pid, sizeof(rp->pid), "%s/redis.pid", rp->dir);
	snprintf(rp->log, sizeof(rp->log), "%s/redis.log", rp->dir);
	rp->port = rec ? mdeploy_local__infra_port(rec) : 0;
}

static const char *server_path(void)
{
	const char *env = getenv("MDEPLOY_REDIS_SERVER");
	if (env && *env)
		return env;
	return "/usr/bin/redis-server";
}

/* AUTH and PING over TCP: 0 when both answer as they should. */
static int ping(unsigned int port, const char *pw, const char **problem)
{
	static __thread char why[512];
	struct timeval tv = { 3, 0 };
	char buf[256];
	size_t got = 0;
	mdeploy__buf b = MDEPLOY__BUF_INIT;
	int fd = mdeploy_local__infra_connect(port), ok = 0;

	if (fd < 0) {
		snprintf(why, sizeof(why), "nothing accepts connections on 127.0.0.1:%u", port);
		*problem = why;
		return MDEPLOY_ECONFLICT;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	/* RESP arrays: the password travels as bytes, never parsed as a command line. */
	mdeploy__buf_printf(&b, "*2\r\n$4\r\nAUTH\r\n$%zu\r\n%s\r\n*1\r\n$4\r\nPING\r\n", strlen(pw), pw);
	if (write(fd, b.ptr, b.size) == (ssize_t)b.size) {
		while (got < sizeof(buf) - 1) {
			ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);
			if (n <= 0)
				break;
			got += (size_t)n;
			buf[got] = '\0';
			if (strstr(buf, "+PONG\r\n") || (buf[0] == '-' && strchr(buf, '\n')))
				break;
		}
		buf[got] = '\0';
		ok = !strncmp(buf, "+OK\r\n+PONG\r\n", 12);
	}
	OPENSSL_cleanse(b.ptr, b.size);
	mdeploy__buf_dispose(&b);
	close(fd);
	if (!ok) {
		char *nl;
		snprintf(why, sizeof(why), "127.0.0.1:%u does not accept the password (answered '%.200s')", port,
		         buf[0] ? buf : "nothing");
		if ((nl = strchr(why, '\r')))
			snprintf(nl, sizeof(why) - (size_t)(nl - why), "')");
		*problem = why;
		return MDEPLOY_EAUTH;
	}
	return 0;
}

int mdeploy_local__redis_up(infra_run *r, json_t *rec, long *pid, const char **problem)
{
	static __thread char why[1200];
	redis_paths rp;
	char *pw = NULL;
	long p;
	int rc;

	paths(r, rec, &rp);
	if (pid)
		*pid = 0;
	p = mdeploy_local__infra_pidfile(rp.pid);
	if (!mdeploy_local__infra_pid_is(p, "redis-server")) {
		snprintf(why, sizeof(why), "not running (no live redis-server in %s)", rp.pid);
		*problem = why;
		return MDEPLOY_ECONFLICT;
	}
	if (pid)
		*pid = p;
	if ((rc = mdeploy_local__infra_secret(r, REDIS_SECRET, &pw)))
		return rc;
	if (!pw) {
		*problem = "no secret " REDIS_SECRET;
		return MDEPLOY_ENOTFOUND;
	}
	rc = ping(rp.port, pw, problem);
	mdeploy_secret_value_free(pw);
	return rc;
}

static int write_conf(const redis_paths *rp, const char *pw)
{
	mdeploy__buf b = MDEPLOY__BUF_INIT;
	int rc;
	mdeploy__buf_printf(&b,
		"# Written by mdeploy infra apply from the secret " REDIS_SECRET " before each start.\n"
		"bind 127.0.0.1\n"
		"protected-mode yes\n"
		"port %u\n"
		"daemonize yes\n"
		"pidfile %s\n"
		"logfile %s\n"
		"dir %s\n"
		"save 300 1\n"
		"appendonly no\n"
		"requirepass %s\n", rp->port, rp->pid, rp->log, rp->data, pw);
	if (!b.ptr)
		return mdeploy__error_oom();
	rc = mdeploy__file_write_atomic(rp->conf, b.ptr, b.size, 0600);
	OPENSSL_cleanse(b.ptr, b.size);
	mdeploy__buf_dispose(&b);
	return rc;
}

static int redis_start(infra_run *r, const redis_paths *rp)
{
	const char *argv[] = { server_path(), rp->conf, NULL };
	const char *problem = NULL;
	char *pw = NULL;
	uint64_t t0;
	int rc;

	if (access(argv[0], X_OK))
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, INFRA_CLS,
		                          "redis: %s is not installed: apt-get install redis-server", argv[0]);
	if (mdeploy_local__infra_port_open(rp->port))
		return mdeploy__error_set(MDEPLOY_ECONFLICT, INFRA_CLS,
		                          "redis: port %u on 127.0.0.1 is taken by another program", rp->port);
	if ((rc = mdeploy_local__infra_secret(r, REDIS_SECRET, &pw)))
		return rc;
	if (!pw)
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, INFRA_CLS, "redis: no secret %s", REDIS_SECRET);
	rc = write_conf(rp, pw);
	if (!rc && (rc = mdeploy__mkdir_p(rp->data, 0700)) == 0)
		rc = mdeploy_local__infra_exec(r, "redis: cannot start the server", argv, 0, NULL, rp->log, NULL);
	t0 = mdeploy__now_ms();
	while (!rc && ping(rp->port, pw, &problem)) {
		if (mdeploy__now_ms() - t0 > 10000) {
			rc = mdeploy__error_set(MDEPLOY_ETIMEOUT, INFRA_CLS, "redis: started but %s", problem);
			break;
		}
		usleep(20000);
	}
	mdeploy_secret_value_free(pw);
	return rc;
}

int mdeploy_local__redis_stop(infra_run *r, json_t *rec, int *stopped)
{
	redis_paths rp;
	long p;
	uint64_t t0;
	paths(r, rec, &rp);
	*stopped = 0;
	p = mdeploy_local__infra_pidfile(rp.pid);
	if (!mdeploy_local__infra_pid_is(p, "redis-server"))
		return 0;
	/* SIGTERM: Redis saves its data, then exits. */
	if (kill((pid_t)p, SIGTERM))
		return mdeploy__error_os(INFRA_CLS, "redis: cannot stop pid %ld", p);
	t0 = mdeploy__now_ms();
	while (mdeploy_local__infra_pid_is(p, "redis-server")) {
		if (mdeploy__now_ms() - t0 > 30000)
			return mdeploy__error_set(MDEPLOY_ETIMEOUT, INFRA_CLS, "redis: pid %ld did not stop in 30 s", p);
		usleep(20000);
	}
	*stopped = 1;
	return 0;
}

int mdeploy_local__redis_apply(infra_run *r)
{
	json_t *rec = mdeploy_local__infra_rec(r, "redis");
	const char *state = rec ? mdeploy_local__infra_str(rec, "state") : NULL;
	const char *problem = NULL;
	char *pw = NULL;
	redis_paths rp;
	int rc, stopped;

	paths(r, rec, &rp);
	if (!rec || !strcmp(state, "creating")) {
		char port[16] = "(a free port)";
		if (!rec && r->apply && (rc = mdeploy_local__infra_free_port(&rp.port)))
			return rc;
		if (r->apply || rec)
			snprintf(port, sizeof(port), "%u", rp.port);
		if ((rc = mdeploy_local__infra_change(r, "redis", "redis", rec ? "resume" : "create", 0,
		                                      "Redis on 127.0.0.1:%s with a password (secret %s), data in %s",
		                                      port, REDIS_SECRET, rp.data)) || !r->apply)
			return rc;
		if (!rec && (rc = mdeploy_local__infra_rec_save(r, "redis", json_pack("{s:s, s:s, s:i, s:s}", "type",
		                                                                     "redis", "state", "creating", "port",
		                                                                     (int)rp.port, "dir", rp.dir))))
			return rc;
		if ((rc = mdeploy_local__infra_kill_under(rp.dir)) || (rc = mdeploy__mkdir_p(rp.dir, 0700)) ||
		    (rc = mdeploy_local__infra_secret(r, REDIS_SECRET, &pw)))
			return rc;
		if (!pw) {
			char gen[33];
			if ((rc = mdeploy_local__infra_random(gen, 32)) == 0)
				rc = mdeploy_secrets_put(r->secrets, REDIS_SECRET, gen, NULL);
			OPENSSL_cleanse(gen, sizeof(gen));
			if (rc)
				return rc;
		}
		mdeploy_secret_value_free(pw);
		if ((rc = redis_start(r, &rp)))
			return rc;
		return mdeploy_local__infra_rec_state(r, "redis", "ready");
	}
	rc = mdeploy_local__redis_up(r, rec, NULL, &problem);
	if (!rc)
		return strcmp(state, "ready") && r->apply ? mdeploy_local__infra_rec_state(r, "redis", "ready") : 0;
	/* Down, or running with another password than the secret's: (re)start from the secret. */
	if ((rc = mdeploy_local__infra_change(r, "redis", "redis", rc == MDEPLOY_EAUTH ? "update" : "start", 0,
	                                      "Redis on 127.0.0.1:%u, data in %s (%s)", rp.port, rp.data, problem)) ||
	    !r->apply)
		return rc;
	if ((rc = mdeploy_local__redis_stop(r, rec, &stopped)) || (rc = redis_start(r, &rp)))
		return rc;
	return mdeploy_local__infra_rec_state(r, "redis", "ready");
}
