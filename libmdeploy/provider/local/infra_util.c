/*
 * infra_util.c - what the local infrastructure's parts share: reporting a
 * change, the records in the state store, loopback ports, random values,
 * secrets, ownership, processes (pid files, what a killed apply left
 * running) and running the servers' programs with their output in errors.
 */
#include "infra.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <openssl/rand.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

int mdeploy_local__infra_change(infra_run *r, const char *resource, const char *type, const char *action,
                                int data_loss, const char *fmt, ...)
{
	mdeploy_infra_change c;
	char detail[1024] = "";
	va_list ap;
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(detail, sizeof(detail), fmt, ap);
		va_end(ap);
	}
	c.resource = resource;
	c.type = type;
	c.action = action;
	c.detail = detail;
	c.data_loss = data_loss;
	r->n++;
	mdeploy__log(r->ctx, MDEPLOY_LOG_DEBUG, "infra", "%s %s %s: %s", r->apply ? "apply" : "plan", action,
	             resource, detail);
	if (r->cb && r->cb(&c, r->payload))
		return mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_CALLBACK, "infra: the callback aborted");
	return 0;
}

json_t *mdeploy_local__infra_rec(infra_run *r, const char *name)
{
	return json_object_get(json_object_get(r->doc, "resources"), name);
}

static int doc_save(infra_run *r)
{
	char *text = json_dumps(r->doc, JSON_COMPACT | JSON_SORT_KEYS);
	int rc;
	if (!text)
		return mdeploy__error_oom();
	rc = mdeploy_store_value_set(r->store, DOC_KEY, text);
	free(text);
	return rc;
}

int mdeploy_local__infra_rec_save(infra_run *r, const char *name, json_t *rec)
{
	json_t *res = json_object_get(r->doc, "resources");
	if (rec) {
		json_object_set_new(rec, "updated_at", json_integer((json_int_t)time(NULL)));
		json_object_set_new(res, name, rec);
	} else {
		json_object_del(res, name);
	}
	return doc_save(r);
}

int mdeploy_local__infra_rec_state(infra_run *r, const char *name, const char *state)
{
	json_t *rec = mdeploy_local__infra_rec(r, name);
	if (!rec)
		return 0;
	json_object_set_new(rec, "state", json_string(state));
	json_object_set_new(rec, "updated_at", json_integer((json_int_t)time(NULL)));
	return doc_save(r);
}

const char *mdeploy_local__infra_str(json_t *rec, const char *key)
{
	return json_string_value(json_object_get(rec, key));
}

unsigned int mdeploy_local__infra_port(json_t *rec)
{
	return (unsigned int)json_integer_value(json_object_get(rec, "port"));
}

static int tcp_connect(unsigned int port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return -1;
	}
	return fd;
}

int mdeploy_local__infra_port_open(unsigned int port)
{
	int fd = tcp_connect(port);
	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

int mdeploy_local__infra_connect(unsigned int port)
{
	return tcp_connect(port);
}

int mdeploy_local__infra_free_port(unsigned int *port)
{
	unsigned char rnd[2];
	int i;
	for (i = 0; i < 200; i++) {
		struct sockaddr_in sa;
		int fd, ok;
		unsigned int p;
		if (RAND_bytes(rnd, sizeof(rnd)) != 1)
			return mdeploy__error_set(MDEPLOY_ERROR, INFRA_CLS, "no random bytes for a port");
		/* Below the kernel's ephemeral range, as t/lib.sh's free_port. */
		p = 10000 + ((unsigned int)rnd[0] << 8 | rnd[1]) % 22000;
		if (mdeploy_local__infra_port_open(p))
			continue;
		if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
			return mdeploy__error_os(INFRA_CLS, "socket");
		memset(&sa, 0, sizeof(sa));
		sa.sin_family = AF_INET;
		sa.sin_port = htons((uint16_t)p);
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
		close(fd);
		if (ok) {
			*port = p;
			return 0;
		}
	}
	return mdeploy__error_set(MDEPLOY_ERROR, INFRA_CLS, "no free TCP port on 127.0.0.1 after 200 tries");
}

int mdeploy_local__infra_random(char *out, size_t n)
{
	static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char b;
	size_t i = 0;
	while (i < n) {
		if (RAND_bytes(&b, 1) != 1)
			return mdeploy__error_set(MDEPLOY_ERROR, MDEPLOY_ERROR_CLASS_CRYPTO, "no random bytes");
		if (b >= 248) /* 248 = 4 * 62: no bias */
			continue;
		out[i++] = al[b % 62];
	}
	out[n] = '\0';
	return 0;
}

int mdeploy_local__infra_secret(infra_run *r, const char *name, char **out)
{
	int rc = mdeploy_secrets_get(out, r->secrets, name, MDEPLOY_SECRET_CURRENT, NULL);
	if (rc == MDEPLOY_ENOTFOUND) {
		*out = NULL;
		return 0;
	}
	return rc;
}

int mdeploy_local__infra_chown(infra_run *r, const char *path)
{
	struct passwd *pw;
	if (!r->runas)
		return 0;
	if (!(pw = getpwnam(r->runas)))
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, INFRA_CLS, "no user '%s' to run the servers as", r->runas);
	if (chown(path, pw->pw_uid, pw->pw_gid))
		return mdeploy__error_os(INFRA_CLS, "chown %s %s", r->runas, path);
	return 0;
}

long mdeploy_local__infra_pidfile(const char *path)
{
	char *data = NULL;
	size_t len;
	long pid = 0;
	if (mdeploy__file_read(&data, &len, path) == 0)
		pid = strtol(data, NULL, 10);
	free(data);
	return pid;
}

int mdeploy_local__infra_pid_is(long pid, const char *comm)
{
	char path[64], buf[64] = "";
	FILE *f;
	if (pid <= 0 || kill((pid_t)pid, 0) != 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	if (!(f = fopen(path, "r")))
		return 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return !strncmp(buf, comm, strlen(comm));
}

/* Non-zero when one of the NUL-separated arguments is `dir` or lies under it. */
static int cmdline_has(const char *cmd, size_t len, const char *dir)
{
	size_t dl = strlen(dir), i = 0;
	while (i < len) {
		const char *a = cmd + i, *eq;
		size_t al = strnlen(a, len - i);
		/* "--pwfile=DIR/..." counts too. */
		if (a[0] == '-' && (eq = memchr(a, '=', al)))
			a = eq + 1;
		if (!strncmp(a, dir, dl) && (a[dl] == '\0' || a[dl] == '/'))
			return 1;
		i += al + 1;
	}
	return 0;
}

int mdeploy_local__infra_kill_under(const char *dir)
{
	DIR *d;
	struct dirent *e;
	long pids[256];
	size_t n = 0, i;
	uint64_t t0;

	if (!(d = opendir("/proc")))
		return mdeploy__error_os(INFRA_CLS, "opendir /proc");
	while ((e = readdir(d)) && n < MDEPLOY__ARRAY_SIZE(pids)) {
		char path[64], buf[8192];
		long pid = strtol(e->d_name, NULL, 10);
		ssize_t len;
		int fd;
		if (pid <= 0 || pid == (long)getpid())
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			continue;
		len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len <= 0)
			continue;
		buf[len] = '\0';
		if (cmdline_has(buf, (size_t)len, dir) && kill((pid_t)pid, SIGKILL) == 0)
			pids[n++] = pid;
	}
	closedir(d);
	t0 = mdeploy__now_ms();
	for (i = 0; i < n; i++) {
		while (kill((pid_t)pids[i], 0) == 0 && mdeploy__now_ms() - t0 < 10000) {
			char st[64], buf[512];
			FILE *f;
			int zombie = 0;
			snprintf(st, sizeof(st), "/proc/%ld/stat", pids[i]);
			if ((f = fopen(st, "r"))) {
				if (fgets(buf, sizeof(buf), f)) {
					char *rp = strrchr(buf, ')');
					zombie = rp && (rp[2] == 'Z' || rp[2] == 'X');
				}
				fclose(f);
			}
			if (zombie)
				break;
			usleep(10000);
		}
	}
	return 0;
}

static char *file_tail(const char *path, size_t max)
{
	char *data = NULL, *out;
	size_t len;
	if (!path || mdeploy__file_read(&data, &len, path))
		return NULL;
	while (len && (data[len - 1] == '\n' || data[len - 1] == ' '))
		data[--len] = '\0';
	out = mdeploy__strdup(len > max ? data + len - max : data);
	free(data);
	return out;
}

int mdeploy_local__infra_exec(infra_run *r, const char *what, const char *const *argv, int as_owner,
                              const char *const *env, const char *log, mdeploy_exec_result **result)
{
	mdeploy_exec_options eo = MDEPLOY_EXEC_OPTIONS_INIT;
	mdeploy_exec_result *res = NULL;
	int rc;

	if (result)
		*result = NULL;
	eo.merge_stderr = 1;
	eo.timeout_ms = 120000;
	eo.env = env;
	eo.cwd = "/";
	if (as_owner)
		eo.user = r->runas;
	mdeploy__log(r->ctx, MDEPLOY_LOG_DEBUG, "infra", "running %s", argv[0]);
	if ((rc = mdeploy_exec_run(&res, argv, &eo))) {
		mdeploy__error_prefix("%s: cannot run %s", what, argv[0]);
		return rc;
	}
	if (!mdeploy_exec_result_success(res)) {
		char *tail = file_tail(log, 800);
		const char *outp = mdeploy_exec_result_stdout(res, NULL);
		size_t ol = strlen(outp);
		rc = mdeploy__error_set(MDEPLOY_EHOOK, INFRA_CLS, "%s: %s %s: %s%s%s", what, argv[0],
		                        mdeploy_exec_result_describe(res), ol > 800 ? outp + ol - 800 : outp,
		                        tail ? "\nlog " : "", tail ? tail : "");
		if (tail && log) {
			mdeploy__error_prefix("%s", ""); /* keep the message */
		}
		free(tail);
		mdeploy_exec_result_free(res);
		return rc;
	}
	if (result)
		*result = res;
	else
		mdeploy_exec_result_free(res);
	return 0;
}

int mdeploy_local__infra_traversable(infra_run *r)
{
	const char *sd = mdeploy_ctx_state_dir(r->ctx);
	struct stat st;
	if (stat(sd, &st) == 0 && !(st.st_mode & S_IXOTH) && chmod(sd, (st.st_mode & 07777) | S_IXOTH))
		return mdeploy__error_os(INFRA_CLS, "chmod o+x %s", sd);
	if (chmod(r->dir, 0711))
		return mdeploy__error_os(INFRA_CLS, "chmod 0711 %s", r->dir);
	return 0;
}

