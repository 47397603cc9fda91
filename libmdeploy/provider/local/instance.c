/*
 * instance.c - local instances: a root directory, a loopback address, and a
 * PHP built-in server run as its own process group.
 *
 * The server serves <root>/current/public when that holds index.php
 * (Moodle 5.1 and later keep the web root there), else <root>/current.
 * PHP resolves the document root once at start, so a switched `current`
 * is picked up by a restart, which the deployment does while the instance
 * is out of the load balancer.
 */
#include "local.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <limits.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

char *mdeploy_local__path(mdeploy_provider *p, const char *sub)
{
	char *s = mdeploy__sprintf("%s/local/%s", mdeploy_ctx_state_dir(p->ctx), sub);
	if (!s)
		mdeploy__error_oom();
	return s;
}

static const char *col(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);
	return s ? s : "";
}

#define INSTANCE_COLUMNS "id, fleet, addr, port, root, pid, pid_start, state, created_at"

static void row_to_instance(sqlite3_stmt *st, local_instance *li)
{
	memset(li, 0, sizeof(*li));
	snprintf(li->id, sizeof(li->id), "%s", col(st, 0));
	snprintf(li->fleet, sizeof(li->fleet), "%s", col(st, 1));
	snprintf(li->address, sizeof(li->address), "%s", col(st, 2));
	li->port = (unsigned int)sqlite3_column_int(st, 3);
	snprintf(li->root, sizeof(li->root), "%s", col(st, 4));
	li->pid = (long)sqlite3_column_int64(st, 5);
	li->pid_start = (unsigned long long)sqlite3_column_int64(st, 6);
	snprintf(li->state, sizeof(li->state), "%s", col(st, 7));
	li->created_at = sqlite3_column_int64(st, 8);
	/* What runs is read from the system, not from what we wrote. */
	if (!strcmp(li->state, "running") && !mdeploy_store__pid_alive(li->pid, li->pid_start))
		snprintf(li->state, sizeof(li->state), "stopped");
}

void mdeploy_local__instance_info(const local_instance *li, mdeploy_instance_info *info)
{
	info->id = li->id;
	info->fleet = li->fleet;
	info->address = li->address;
	info->port = li->port;
	info->root = li->root;
	info->state = li->state;
	info->pid = strcmp(li->state, "running") ? 0 : li->pid;
	info->created_at = li->created_at;
}

int mdeploy_local__instance_load(mdeploy_provider *p, const char *id, local_instance *out)
{
	sqlite3_stmt *st = mdeploy_store__prepare(p->store,
		"SELECT " INSTANCE_COLUMNS " FROM local_instances WHERE id = ?");
	int rc;
	if (!st)
		return MDEPLOY_ERROR;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		row_to_instance(st, out);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PROVIDER,
		                        "instance '%s' not found", id);
	} else {
		rc = mdeploy_store__error(p->store, "cannot read instances");
	}
	sqlite3_finalize(st);
	return rc;
}

int mdeploy_local__instance_foreach(mdeploy_provider *p, const char *fleet, const char *id,
                                    mdeploy_instance_cb cb, void *payload)
{
	sqlite3_stmt *st = mdeploy_store__prepare(p->store,
		"SELECT " INSTANCE_COLUMNS " FROM local_instances"
		" WHERE (?1 IS NULL OR fleet = ?1) AND (?2 IS NULL OR id = ?2) ORDER BY created_at, rowid");
	local_instance *all = NULL;
	size_t n = 0, i;
	int rc;

	if (!st)
		return MDEPLOY_ERROR;
	if (fleet)
		sqlite3_bind_text(st, 1, fleet, -1, SQLITE_STATIC);
	if (id)
		sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	/* Collect first: callbacks may change the inventory. */
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		local_instance *na = realloc(all, (n + 1) * sizeof(*all));
		if (!na) {
			free(all);
			sqlite3_finalize(st);
			return mdeploy__error_oom();
		}
		all = na;
		row_to_instance(st, &all[n++]);
	}
	rc = rc == SQLITE_DONE ? 0 : mdeploy_store__error(p->store, "cannot list instances");
	sqlite3_finalize(st);
	if (!rc && id && n == 0)
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PROVIDER,
		                        "instance '%s' not found", id);
	for (i = 0; !rc && i < n; i++) {
		mdeploy_instance_info info;
		mdeploy_local__instance_info(&all[i], &info);
		if (cb(&info, payload))
			rc = mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_CALLBACK, "aborted by callback");
	}
	free(all);
	return rc;
}

/* The lowest free address under the base; runs inside the caller's transaction. */
static int pick_address(mdeploy_provider *p, char *out, size_t n)
{
	sqlite3_stmt *st = mdeploy_store__prepare(p->store, "SELECT 1 FROM local_instances WHERE addr = ?");
	unsigned int i;
	int rc;

	if (!st)
		return MDEPLOY_ERROR;
	for (i = 0; i < 253u * 256u; i++) {
		snprintf(out, n, "%s.%u.%u", p->address_base, i / 253, 2 + i % 253);
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, out, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE) {
			sqlite3_finalize(st);
			return 0;
		}
		if (rc != SQLITE_ROW) {
			rc = mdeploy_store__error(p->store, "cannot read instances");
			sqlite3_finalize(st);
			return rc;
		}
	}
	sqlite3_finalize(st);
	return mdeploy__error_set(MDEPLOY_ECONFLICT, MDEPLOY_ERROR_CLASS_PROVIDER,
	                          "no free address left under %s", p->address_base);
}

int mdeploy_local__instance_create(mdeploy_provider *p, const char *fleet, unsigned int port,
                                   local_instance *out)
{
	unsigned char r[6];
	char *dir = NULL;
	sqlite3_stmt *st = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return mdeploy__error_os(MDEPLOY_ERROR_CLASS_OS, "getrandom");
	snprintf(out->id, sizeof(out->id), "i-%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4], r[5]);
	snprintf(out->fleet, sizeof(out->fleet), "%s", fleet);
	snprintf(out->state, sizeof(out->state), "pending");
	out->port = port;
	out->created_at = mdeploy_store__unix_ms() / 1000;
	{
		char sub[64];
		snprintf(sub, sizeof(sub), "instances/%s", out->id);
		if (!(dir = mdeploy_local__path(p, sub)))
			return MDEPLOY_ENOMEM;
	}
	snprintf(out->root, sizeof(out->root), "%s", dir);
	free(dir);
	if ((rc = mdeploy__mkdir_p(out->root, 0755)))
		return rc;
	if ((rc = mdeploy_store__begin(p->store)))
		goto fail;
	if ((rc = pick_address(p, out->address, sizeof(out->address))))
		goto fail_tx;
	if (!(st = mdeploy_store__prepare(p->store,
		"INSERT INTO local_instances (id, fleet, addr, port, root, state, created_at) VALUES (?,?,?,?,?,?,?)"))) {
		rc = MDEPLOY_ERROR;
		goto fail_tx;
	}
	sqlite3_bind_text(st, 1, out->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, fleet, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, out->address, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, (int)port);
	sqlite3_bind_text(st, 5, out->root, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, "pending", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, out->created_at);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = mdeploy_store__error(p->store, "cannot record an instance");
		goto fail_tx;
	}
	sqlite3_finalize(st);
	st = NULL;
	if ((rc = mdeploy_store__commit(p->store)))
		goto fail;
	mdeploy__log(p->ctx, MDEPLOY_LOG_INFO, "provider", "instance %s of %s: %s:%u, root %s",
	             out->id, fleet, out->address, port, out->root);
	return 0;
fail_tx:
	sqlite3_finalize(st);
	mdeploy_store__rollback(p->store);
fail:
	mdeploy__rm_rf(out->root);
	return rc;
}

static int set_process(mdeploy_provider *p, const char *id, long pid, unsigned long long start,
                       const char *state)
{
	sqlite3_stmt *st = mdeploy_store__prepare(p->store,
		"UPDATE local_instances SET pid = ?, pid_start = ?, state = ? WHERE id = ?");
	int rc = 0;
	if (!st)
		return MDEPLOY_ERROR;
	sqlite3_bind_int64(st, 1, pid);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)start);
	sqlite3_bind_text(st, 3, state, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = mdeploy_store__error(p->store, "cannot update an instance");
	sqlite3_finalize(st);
	return rc;
}

static int can_connect(const char *addr, unsigned int port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;
	if (fd < 0)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, addr, &sa.sin_addr);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* The last line of the server's log, for error messages. */
static void log_tail(const char *root, char *out, size_t n)
{
	char *path = mdeploy__sprintf("%s/log/server.log", root), *data = NULL, *line;
	size_t len;
	out[0] = '\0';
	if (path && mdeploy__file_read(&data, &len, path) == 0) {
		while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
			data[--len] = '\0';
		line = strrchr(data, '\n');
		snprintf(out, n, "%s", line ? line + 1 : data);
	}
	free(data);
	free(path);
}

static pid_t spawn_server(const local_instance *li, const char *docroot, unsigned int workers)
{
	int pfd[2];
	pid_t child, server = -1;

	if (pipe2(pfd, O_CLOEXEC) != 0)
		return -1;
	child = fork();
	if (child < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (child == 0) {
		/* Double fork: the server is re-parented to init, never our zombie;
		 * it leads its own session and process group, which stop signals. */
		pid_t g = fork();
		if (g == 0) {
			char listen[64], w[16], *log;
			int fd, maxfd;
			sigset_t none;
			/* A clean signal mask: a caller that blocks signals for sigwait
			 * (mdeploy serve's threads) must not pass that on to a server
			 * that has to stop on SIGTERM. */
			sigemptyset(&none);
			sigprocmask(SIG_SETMASK, &none, NULL);
			setsid();
			snprintf(listen, sizeof(listen), "%s:%u", li->address, li->port);
			snprintf(w, sizeof(w), "%u", workers);
			fd = open("/dev/null", O_RDONLY);
			if (fd >= 0) {
				dup2(fd, 0);
				close(fd);
			}
			log = mdeploy__sprintf("%s/log/server.log", li->root);
			fd = log ? open(log, O_WRONLY | O_CREAT | O_APPEND, 0644) : -1;
			if (fd >= 0) {
				dup2(fd, 1);
				dup2(fd, 2);
				close(fd);
			}
			maxfd = (int)sysconf(_SC_OPEN_MAX);
			if (maxfd < 0 || maxfd > 65536)
				maxfd = 65536;
			for (fd = 3; fd < maxfd; fd++)
				if (fd != pfd[1])
					close(fd);
			if (chdir(li->root) != 0)
				_exit(127);
			if (workers > 1)
				setenv("PHP_CLI_SERVER_WORKERS", w, 1);
			else
				unsetenv("PHP_CLI_SERVER_WORKERS");
			setenv("MDEPLOY_INSTANCE_ID", li->id, 1);
			setenv("MDEPLOY_INSTANCE_ROOT", li->root, 1);
			signal(SIGPIPE, SIG_DFL);
			execlp("php", "php", "-S", listen, "-t", docroot, (char *)NULL);
			fprintf(stderr, "mdeploy: cannot run php: %s\n", strerror(errno));
			_exit(127);
		}
		if (write(pfd[1], &g, sizeof(g)) != (ssize_t)sizeof(g))
			_exit(1);
		_exit(g > 0 ? 0 : 1);
	}
	close(pfd[1]);
	if (read(pfd[0], &server, sizeof(server)) != (ssize_t)sizeof(server))
		server = -1;
	close(pfd[0]);
	waitpid(child, NULL, 0);
	return server;
}

int mdeploy_local__instance_start(mdeploy_provider *p, const char *id)
{
	local_instance li;
	char *current = NULL, *docroot = NULL, *probe = NULL, *logdir = NULL, tail[512];
	unsigned long long start = 0;
	uint64_t t0;
	pid_t pid;
	int rc;

	if ((rc = mdeploy_local__instance_load(p, id, &li)))
		return rc;
	if (!strcmp(li.state, "running"))
		return 0;
	current = mdeploy__sprintf("%s/current", li.root);
	probe = mdeploy__sprintf("%s/current/public/index.php", li.root);
	logdir = mdeploy__sprintf("%s/log", li.root);
	if (!current || !probe || !logdir) {
		rc = mdeploy__error_oom();
		goto out;
	}
	if (!mdeploy__is_dir(current)) {
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PROVIDER,
			"instance '%s' has nothing to serve: %s is missing", id, current);
		goto out;
	}
	docroot = mdeploy__path_exists(probe) ? mdeploy__sprintf("%s/public", current) : mdeploy__strdup(current);
	if (!docroot || (rc = mdeploy__mkdir_p(logdir, 0755))) {
		rc = docroot ? rc : mdeploy__error_oom();
		goto out;
	}
	if (can_connect(li.address, li.port)) {
		rc = mdeploy__error_set(MDEPLOY_ECONFLICT, MDEPLOY_ERROR_CLASS_PROVIDER,
			"instance '%s': %s:%u is already in use by another process", id, li.address, li.port);
		goto out;
	}
	if ((pid = spawn_server(&li, docroot, p->opts.php_workers ? p->opts.php_workers : 4)) <= 0) {
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_PROVIDER, "instance '%s': cannot start the server", id);
		goto out;
	}
	/* Record the process at once, so a crash of ours never loses track of it. */
	start = mdeploy_store__pid_start(pid);
	if ((rc = set_process(p, id, pid, start, "running")))
		goto out;
	t0 = mdeploy__now_ms();
	while (!can_connect(li.address, li.port)) {
		if (!mdeploy_store__pid_alive(pid, start)) {
			log_tail(li.root, tail, sizeof(tail));
			set_process(p, id, 0, 0, "stopped");
			rc = mdeploy__error_set(MDEPLOY_EHOOK, MDEPLOY_ERROR_CLASS_PROVIDER,
				"instance '%s': the server exited at start: %s", id, tail[0] ? tail : "(no output)");
			goto out;
		}
		if (mdeploy__now_ms() - t0 > (p->opts.start_timeout_ms ? p->opts.start_timeout_ms : 10000)) {
			mdeploy_local__instance_stop(p, id);
			rc = mdeploy__error_set(MDEPLOY_ETIMEOUT, MDEPLOY_ERROR_CLASS_PROVIDER,
				"instance '%s': %s:%u did not accept connections in time", id, li.address, li.port);
			goto out;
		}
		sleep_ms(10);
	}
	mdeploy__log(p->ctx, MDEPLOY_LOG_DEBUG, "provider", "instance %s: serving %s on %s:%u (pid %ld)",
	             id, docroot, li.address, li.port, (long)pid);
out:
	free(current);
	free(probe);
	free(logdir);
	free(docroot);
	return rc;
}

int mdeploy_local__instance_stop(mdeploy_provider *p, const char *id)
{
	local_instance li;
	uint64_t t0;
	int rc;

	if ((rc = mdeploy_local__instance_load(p, id, &li)))
		return rc;
	if (li.pid > 0 && mdeploy_store__pid_alive(li.pid, li.pid_start)) {
		kill(-(pid_t)li.pid, SIGTERM);
		t0 = mdeploy__now_ms();
		while (mdeploy_store__pid_alive(li.pid, li.pid_start) && mdeploy__now_ms() - t0 < 3000)
			sleep_ms(10);
	}
	/* Workers left behind by the leader go with the group. */
	if (li.pid > 0 && (mdeploy_store__pid_start(li.pid) == li.pid_start || !mdeploy_store__pid_alive(li.pid, 0))) {
		kill(-(pid_t)li.pid, SIGKILL);
		/* SIGKILL is asynchronous: a worker may hold the listening socket
		 * for a moment yet, and a restart right after must find the
		 * address free. */
		t0 = mdeploy__now_ms();
		while (can_connect(li.address, li.port) && mdeploy__now_ms() - t0 < 3000)
			sleep_ms(10);
	}
	if (strcmp(li.state, "pending") || li.pid)
		return set_process(p, id, 0, 0, "stopped");
	return 0;
}

/*
 * Kill whatever still runs in an instance's root (the server chdir()s
 * there), so that a server whose pid was never recorded (a crash between
 * fork and the store write) cannot outlive its instance.
 */
static void kill_strays(const char *root)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	size_t n = strlen(root);
	char link[64], target[PATH_MAX];
	ssize_t len;

	if (!d)
		return;
	while ((de = readdir(d))) {
		long pid = strtol(de->d_name, NULL, 10);
		if (pid <= 1 || pid == (long)getpid())
			continue;
		snprintf(link, sizeof(link), "/proc/%ld/cwd", pid);
		if ((len = readlink(link, target, sizeof(target) - 1)) <= 0)
			continue;
		target[len] = '\0';
		if (!strncmp(target, root, n) && (target[n] == '\0' || target[n] == '/')) {
			pid_t pg = getpgid((pid_t)pid);
			if (pg > 1 && pg != getpgid(0))
				kill(-pg, SIGKILL);
			kill((pid_t)pid, SIGKILL);
		}
	}
	closedir(d);
}

int mdeploy_local__instance_destroy(mdeploy_provider *p, const char *id)
{
	local_instance li;
	sqlite3_stmt *st;
	int rc;

	if ((rc = mdeploy_local__instance_load(p, id, &li)))
		return rc;
	if ((rc = mdeploy_local__instance_stop(p, id)))
		return rc;
	kill_strays(li.root);
	if ((rc = mdeploy__rm_rf(li.root)) && rc != MDEPLOY_ENOTFOUND)
		return rc;
	if (!(st = mdeploy_store__prepare(p->store, "DELETE FROM local_instances WHERE id = ?")))
		return MDEPLOY_ERROR;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : mdeploy_store__error(p->store, "cannot remove an instance");
	sqlite3_finalize(st);
	if (!rc)
		mdeploy__log(p->ctx, MDEPLOY_LOG_INFO, "provider", "instance %s of %s terminated", id, li.fleet);
	return rc;
}

int mdeploy_local__instance_terminate(mdeploy_provider *p, const char *id)
{
	local_instance li;
	sqlite3_stmt *st;
	int rc;

	if ((rc = mdeploy_local__instance_load(p, id, &li)))
		return rc;
	if ((rc = mdeploy_local__instance_destroy(p, id)))
		return rc;
	/* As an Auto Scaling group with "should decrement desired capacity". */
	if (!(st = mdeploy_store__prepare(p->store,
		"UPDATE local_fleets SET desired = MAX(desired - 1, 0), min_size = MIN(min_size, MAX(desired - 1, 0))"
		" WHERE name = ?")))
		return MDEPLOY_ERROR;
	sqlite3_bind_text(st, 1, li.fleet, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : mdeploy_store__error(p->store, "cannot update a fleet");
	sqlite3_finalize(st);
	return rc;
}
