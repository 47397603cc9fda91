/*
 * infra.c - the local provider's infrastructure: plan, apply, destroy,
 * status and outputs over the resources of infra_pg.c, infra_redis.c and
 * infra_tls.c, the records in the state store, and what the groups' hooks
 * read from the parameter and secret stores. See infra.h and mdeploy-infra(1).
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

#define DOC_KEY "infra/local"
#define LOCK_NAME "infra/local"

extern char **environ;

/* ---- helpers ------------------------------------------------------------ */

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

/* ---- the run ------------------------------------------------------------ */

static void run_dispose(infra_run *r)
{
	json_decref(r->doc);
	free(r->dir);
	mdeploy_params_free(r->params);
	mdeploy_secrets_free(r->secrets);
}

static int run_init(infra_run *r, mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                    const mdeploy_infra_options *opts, int apply)
{
	char *text = NULL;
	int rc;

	memset(r, 0, sizeof(*r));
	r->ctx = ctx;
	r->store = store;
	r->cfg = cfg;
	r->opts = opts;
	r->apply = apply;
	r->runas = geteuid() == 0 ? "postgres" : NULL;
	{
		const char *engine = mdeploy_config_infrastructure_setting(cfg, "cache_engine");
		if (engine && strcmp(engine, "redis") && strcmp(engine, "none"))
			return mdeploy__error_set(MDEPLOY_EUNSUPPORTED, INFRA_CLS,
			                          "%s: infrastructure.cache.engine: %s is not built locally (redis or none)",
			                          mdeploy_config_where(cfg, "infrastructure.cache.engine"), engine);
		r->icfg.cache = !engine || strcmp(engine, "none");
		r->icfg.dataroot_owner = mdeploy_config_infrastructure_setting(cfg, "dataroot_owner");
	}
	if (!(r->dir = mdeploy__path_join(mdeploy_ctx_state_dir(ctx), "infra")))
		return mdeploy__error_oom();
	rc = mdeploy_store_value_get(store, DOC_KEY, &text);
	if (rc == MDEPLOY_ENOTFOUND) {
		r->doc = json_pack("{s:{}}", "resources");
	} else if (rc) {
		return rc;
	} else {
		json_error_t je;
		r->doc = json_loads(text, 0, &je);
		free(text);
		if (!r->doc || !json_is_object(json_object_get(r->doc, "resources")))
			return mdeploy__error_set(MDEPLOY_ECORRUPT, INFRA_CLS,
			                          "the infrastructure record in the state store is damaged");
	}
	if (!r->doc)
		return mdeploy__error_oom();
	if ((rc = mdeploy_params_open(&r->params, ctx, NULL)) || (rc = mdeploy_secrets_open(&r->secrets, ctx, NULL)))
		return rc;
	return 0;
}

/* The database (and role) of a group: APP_GROUP in [a-z0-9_], at most 63 bytes. */
static void db_name(const mdeploy_config *cfg, const mdeploy_group *g, char out[64])
{
	const char *app = mdeploy_config_application_name(cfg);
	char *p;
	snprintf(out, 64, "%s_%s", app ? app : "moodle", g->name);
	for (p = out; *p; p++) {
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
		else if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
			*p = '_';
	}
	if (out[0] >= '0' && out[0] <= '9')
		out[0] = '_';
}

static size_t group_count(infra_run *r)
{
	return r->cfg ? mdeploy_config_group_count(r->cfg) : 0;
}

/* ---- moodledata ------------------------------------------------------- */

static int dataroot_apply(infra_run *r, const mdeploy_group *g, char **path)
{
	char name[256], *dir, owner[64];
	struct stat st;
	json_t *rec;
	uid_t uid = geteuid();
	gid_t gid = getegid();
	int rc;

	if (r->icfg.dataroot_owner) {
		struct passwd *pw = getpwnam(r->icfg.dataroot_owner);
		if (!pw)
			return mdeploy__error_set(MDEPLOY_ENOTFOUND, INFRA_CLS, "%s: no user '%s' on this machine",
			                          mdeploy_config_where(r->cfg, "infrastructure.dataroot_owner"),
			                          r->icfg.dataroot_owner);
		uid = pw->pw_uid;
		gid = pw->pw_gid;
		snprintf(owner, sizeof(owner), "%s", r->icfg.dataroot_owner);
	} else {
		snprintf(owner, sizeof(owner), "uid %ld, mdeploy's user", (long)uid);
	}

	snprintf(name, sizeof(name), "dataroot/%s", g->name);
	if (!(*path = mdeploy__sprintf("%s/moodledata/%s", r->dir, g->name)))
		return mdeploy__error_oom();
	dir = *path;
	rec = mdeploy_local__infra_rec(r, name);
	if (rec && !strcmp(mdeploy_local__infra_str(rec, "state"), "ready") && stat(dir, &st) == 0 &&
	    S_ISDIR(st.st_mode) && st.st_uid == uid && (st.st_mode & 07777) == 02770)
		return 0;
	if ((rc = mdeploy_local__infra_change(r, name, "directory",
	                                      !rec ? "create" : strcmp(mdeploy_local__infra_str(rec, "state"), "ready")
	                                      ? "resume" : "update", 0, "%s (mode 2770, owner %s)", dir, owner)))
		return rc;
	if (!r->apply)
		return 0;
	if (!rec && (rc = mdeploy_local__infra_rec_save(r, name, json_pack("{s:s, s:s, s:s, s:s}", "type", "directory",
	                                                                  "state", "creating", "dir", dir,
	                                                                  "group", g->name))))
		return rc;
	{
		/* The owner must reach its directory: the directories above let others through. */
		char *parent = mdeploy__sprintf("%s/moodledata", r->dir);
		if (!parent)
			return mdeploy__error_oom();
		rc = mdeploy__mkdir_p(parent, 0711);
		if (!rc && chmod(parent, 0711))
			rc = mdeploy__error_os(INFRA_CLS, "chmod 0711 %s", parent);
		free(parent);
		if (!rc && uid != geteuid())
			rc = mdeploy_local__infra_traversable(r);
		if (rc || (rc = mdeploy__mkdir_p(dir, 02770)))
			return rc;
		if (stat(dir, &st))
			return mdeploy__error_os(INFRA_CLS, "stat %s", dir);
	}
	/* The hooks run as mdeploy's user (appspec runas aside) and write there. */
	if ((st.st_uid != uid || st.st_gid != gid) && chown(dir, uid, gid))
		return mdeploy__error_os(INFRA_CLS, "chown %s %s", owner, dir);
	if (chmod(dir, 02770))
		return mdeploy__error_os(INFRA_CLS, "chmod %s", dir);
	return mdeploy_local__infra_rec_state(r, name, "ready");
}

/* ---- parameters and secrets for the hooks -------------------------------- */

static int param_apply(infra_run *r, const char *group, const char *key, const char *value)
{
	const char *app = mdeploy_config_application_name(r->cfg);
	mdeploy_param *cur = NULL;
	char *name;
	int rc;

	if (!(name = mdeploy__sprintf("/%s/%s/%s", app, group, key)))
		return mdeploy__error_oom();
	rc = mdeploy_params_get(&cur, r->params, name);
	if (rc && rc != MDEPLOY_ENOTFOUND)
		goto out;
	if (!rc && !strcmp(cur->value, value)) {
		rc = 0;
		goto out;
	}
	{
		char res[600];
		snprintf(res, sizeof(res), "parameter %s", name);
		if ((rc = mdeploy_local__infra_change(r, res, "parameter", cur ? "update" : "create", 0, "%s", value)))
			goto out;
	}
	if (r->apply)
		rc = mdeploy_params_put(r->params, name, value, MDEPLOY_PARAMS_OVERWRITE, NULL);
out:
	mdeploy_param_free(cur);
	free(name);
	return rc;
}

/* The secret APP/GROUP/KEY holds `value` (a copy of an infrastructure secret). */
static int secret_apply(infra_run *r, const char *group, const char *key, const char *value)
{
	const char *app = mdeploy_config_application_name(r->cfg);
	char *name, *cur = NULL;
	int rc;

	if (!(name = mdeploy__sprintf("%s/%s/%s", app, group, key)))
		return mdeploy__error_oom();
	if ((rc = mdeploy_local__infra_secret(r, name, &cur)) || (cur && !strcmp(cur, value)))
		goto out;
	{
		char res[600];
		snprintf(res, sizeof(res), "secret %s", name);
		if ((rc = mdeploy_local__infra_change(r, res, "secret", cur ? "update" : "create", 0, "(value not shown)")))
			goto out;
	}
	if (r->apply)
		rc = mdeploy_secrets_put(r->secrets, name, value, NULL);
out:
	mdeploy_secret_value_free(cur);
	free(name);
	return rc;
}

static int group_params(infra_run *r, const mdeploy_group *g, const char *dbname, const char *dataroot)
{
	json_t *pg = mdeploy_local__infra_rec(r, "postgresql");
	char port[16];
	int rc;

	snprintf(port, sizeof(port), "%u", mdeploy_local__infra_port(pg));
	if ((rc = param_apply(r, g->name, "MOODLE_DBTYPE", "pgsql")) ||
	    (rc = param_apply(r, g->name, "MOODLE_DBHOST", "127.0.0.1")) ||
	    (rc = param_apply(r, g->name, "MOODLE_DBPORT", pg ? port : "(the new cluster's port)")) ||
	    (rc = param_apply(r, g->name, "MOODLE_DBNAME", dbname)) ||
	    (rc = param_apply(r, g->name, "MOODLE_DBUSER", dbname)) ||
	    (rc = param_apply(r, g->name, "MOODLE_DATAROOT", dataroot)))
		return rc;
	if (r->icfg.cache) {
		json_t *redis = mdeploy_local__infra_rec(r, "redis");
		char rport[16], prefix[80], *pw = NULL;
		snprintf(rport, sizeof(rport), "%u", mdeploy_local__infra_port(redis));
		/* Groups share the server: each its own keys. */
		snprintf(prefix, sizeof(prefix), "%s_sess_", dbname);
		if ((rc = param_apply(r, g->name, "MOODLE_REDIS_HOST", "127.0.0.1")) ||
		    (rc = param_apply(r, g->name, "MOODLE_REDIS_PORT", redis ? rport : "(the new server's port)")) ||
		    (rc = param_apply(r, g->name, "MOODLE_REDIS_PREFIX", prefix)) ||
		    (rc = mdeploy_local__infra_secret(r, REDIS_SECRET, &pw)))
			return rc;
		rc = secret_apply(r, g->name, "MOODLE_REDIS_PASSWORD", pw ? pw : "");
		mdeploy_secret_value_free(pw);
	}
	return rc;
}

/* ---- plan / apply ------------------------------------------------------- */

static int steps(infra_run *r)
{
	size_t i;
	int rc;

	if ((rc = mdeploy_local__pg_apply(r)) || (r->icfg.cache && (rc = mdeploy_local__redis_apply(r))) ||
	    (rc = mdeploy_local__tls_apply(r)))
		return rc;
	for (i = 0; i < group_count(r); i++) {
		const mdeploy_group *g = mdeploy_config_group_at(r->cfg, i);
		char dbname[64], *dataroot = NULL;
		db_name(r->cfg, g, dbname);
		if ((rc = mdeploy_local__pg_database_apply(r, g, dbname)) || (rc = dataroot_apply(r, g, &dataroot)) ||
		    (rc = group_params(r, g, dbname, dataroot))) {
			free(dataroot);
			return rc;
		}
		free(dataroot);
	}
	return 0;
}

static int lock(infra_run *r)
{
	mdeploy_lock_options lo = MDEPLOY_LOCK_OPTIONS_INIT;
	int rc = mdeploy_store_lock_acquire(r->store, LOCK_NAME, &lo, NULL);
	if (rc == MDEPLOY_ELOCKED)
		mdeploy__error_prefix("another mdeploy changes the infrastructure");
	return rc;
}

static int apply_or_plan(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                         const mdeploy_infra_options *opts, mdeploy_infra_change_cb cb, void *payload,
                         size_t *n, int apply)
{
	infra_run r;
	int rc, locked = 0;

	if (n)
		*n = 0;
	if (apply && (rc = mdeploy_ctx_ensure_state_dir(ctx)))
		return rc;
	if ((rc = run_init(&r, ctx, store, cfg, opts, apply)))
		goto out;
	r.cb = cb;
	r.payload = payload;
	if (apply) {
		if ((rc = lock(&r)))
			goto out;
		locked = 1;
		if ((rc = mdeploy__mkdir_p(r.dir, 0700)))
			goto out;
	}
	rc = steps(&r);
	if (n)
		*n = r.n;
out:
	if (locked)
		mdeploy_store_lock_release(store, LOCK_NAME);
	run_dispose(&r);
	return rc;
}

int mdeploy_local__infra_plan(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                              const mdeploy_infra_options *opts, mdeploy_infra_change_cb cb, void *payload,
                              size_t *n)
{
	return apply_or_plan(ctx, store, cfg, opts, cb, payload, n, 0);
}

int mdeploy_local__infra_apply(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                               const mdeploy_infra_options *opts, mdeploy_infra_change_cb cb, void *payload,
                               size_t *n)
{
	return apply_or_plan(ctx, store, cfg, opts, cb, payload, n, 1);
}

/* ---- destroy -------------------------------------------------------------- */

static const char *const param_keys[] = {
	"MOODLE_DBTYPE", "MOODLE_DBHOST", "MOODLE_DBPORT", "MOODLE_DBNAME", "MOODLE_DBUSER", "MOODLE_DATAROOT",
	"MOODLE_REDIS_HOST", "MOODLE_REDIS_PORT", "MOODLE_REDIS_PREFIX",
};
static const char *const secret_keys[] = { "MOODLE_DBPASS", "MOODLE_REDIS_PASSWORD" };

static int params_delete(infra_run *r)
{
	const char *app = r->cfg ? mdeploy_config_application_name(r->cfg) : NULL;
	size_t i, k;
	int rc;
	for (i = 0; app && i < group_count(r); i++) {
		const mdeploy_group *g = mdeploy_config_group_at(r->cfg, i);
		for (k = 0; k < MDEPLOY__ARRAY_SIZE(param_keys); k++) {
			char *name = mdeploy__sprintf("/%s/%s/%s", app, g->name, param_keys[k]), res[600];
			if (!name)
				return mdeploy__error_oom();
			rc = mdeploy_params_delete(r->params, name);
			snprintf(res, sizeof(res), "parameter %s", name);
			free(name);
			if (rc == MDEPLOY_ENOTFOUND)
				continue;
			if (rc || (rc = mdeploy_local__infra_change(r, res, "parameter", "delete", 0, NULL)))
				return rc;
		}
	}
	return 0;
}

int mdeploy_local__infra_destroy(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                                 const mdeploy_infra_options *opts, mdeploy_infra_change_cb cb, void *payload,
                                 size_t *n)
{
	infra_run r;
	json_t *pg;
	int rc, locked = 0, stopped = 0;

	if (n)
		*n = 0;
	if ((rc = run_init(&r, ctx, store, cfg, opts, 1)))
		goto out;
	r.cb = cb;
	r.payload = payload;
	if ((rc = lock(&r)))
		goto out;
	locked = 1;
	if ((pg = mdeploy_local__infra_rec(&r, "redis"))) {
		if ((rc = mdeploy_local__redis_stop(&r, pg, &stopped)))
			goto out;
		if (stopped && (rc = mdeploy_local__infra_change(&r, "redis", "redis", "stop", 0, "127.0.0.1:%u",
		                                                 mdeploy_local__infra_port(pg))))
			goto out;
		if ((rc = mdeploy_local__infra_rec_state(&r, "redis", "stopped")))
			goto out;
	}
	if ((pg = mdeploy_local__infra_rec(&r, "postgresql"))) {
		if ((rc = mdeploy_local__pg_stop(&r, pg, &stopped)))
			goto out;
		if (stopped && (rc = mdeploy_local__infra_change(&r, "postgresql", "postgresql", "stop", 0,
		                                                 "127.0.0.1:%u", mdeploy_local__infra_port(pg))))
			goto out;
		if ((rc = mdeploy_local__infra_rec_state(&r, "postgresql", "stopped")))
			goto out;
	}
	if (opts && opts->delete_data) {
		const char *name;
		json_t *rec, *res = json_object_get(r.doc, "resources");
		json_object_foreach(res, name, rec) {
			if ((rc = mdeploy_local__infra_change(&r, name, json_string_value(json_object_get(rec, "type")) ?
			                                      json_string_value(json_object_get(rec, "type")) : "resource",
			                                      "delete", 1, "%s", mdeploy_local__infra_str(rec, "dir") ?
			                                      mdeploy_local__infra_str(rec, "dir") : "")))
				goto out;
		}
		if ((rc = mdeploy__rm_rf(r.dir)) || (rc = params_delete(&r)))
			goto out;
		json_object_clear(res);
		if ((rc = mdeploy_store_value_set(store, DOC_KEY, NULL)))
			goto out;
	}
	if (n)
		*n = r.n;
out:
	if (locked)
		mdeploy_store_lock_release(store, LOCK_NAME);
	run_dispose(&r);
	return rc;
}

/* ---- status and outputs ---------------------------------------------------- */

int mdeploy_local__infra_status(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                                const mdeploy_infra_options *opts, mdeploy_infra_resource_cb cb, void *payload)
{
	infra_run r;
	const char *name;
	json_t *rec;
	int rc;

	if ((rc = run_init(&r, ctx, store, cfg, opts, 0)))
		goto out;
	if (!json_object_size(json_object_get(r.doc, "resources"))) {
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, INFRA_CLS, "no infrastructure here: run 'mdeploy infra apply'");
		goto out;
	}
	json_object_foreach(json_object_get(r.doc, "resources"), name, rec) {
		mdeploy_infra_resource res;
		char endpoint[64] = "";
		memset(&res, 0, sizeof(res));
		res.name = name;
		res.type = mdeploy_local__infra_str(rec, "type");
		res.state = mdeploy_local__infra_str(rec, "state");
		res.dir = mdeploy_local__infra_str(rec, "dir");
		if (mdeploy_local__infra_port(rec)) {
			snprintf(endpoint, sizeof(endpoint), "127.0.0.1:%u", mdeploy_local__infra_port(rec));
			res.endpoint = endpoint;
		}
		if ((rc = mdeploy_local__infra_check(&r, name, rec, &res)))
			goto out;
		if (cb && cb(&res, payload)) {
			rc = mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_CALLBACK, "infra status: the callback aborted");
			goto out;
		}
	}
out:
	run_dispose(&r);
	return rc;
}

int mdeploy_local__infra_check(infra_run *r, const char *name, json_t *rec, mdeploy_infra_resource *res)
{
	const char *type = res->type ? res->type : "";
	struct stat st;
	if (strcmp(res->state ? res->state : "", "ready")) {
		res->problem = res->state && !strcmp(res->state, "stopped") ? "stopped (infra destroy): run infra apply"
		                                                          : "not finished: run infra apply";
		return 0;
	}
	if (!strcmp(type, "postgresql")) {
		res->up = mdeploy_local__pg_up(r, rec, &res->pid, &res->problem) == 0;
	} else if (!strcmp(type, "database")) {
		char secret[600];
		const char *app = r->cfg ? mdeploy_config_application_name(r->cfg) : NULL;
		const char *group = mdeploy_local__infra_str(rec, "group");
		json_t *pg = mdeploy_local__infra_rec(r, "postgresql");
		snprintf(secret, sizeof(secret), "%s/%s/MOODLE_DBPASS", app ? app : "", group ? group : "");
		if (pg && mdeploy_local__pg_up(r, pg, NULL, &res->problem) == 0)
			res->up = mdeploy_local__pg_login(r, mdeploy_local__infra_str(rec, "name"), secret,
			                                  &res->problem) == 0;
		res->endpoint = mdeploy_local__infra_str(rec, "name");
	} else if (!strcmp(type, "redis")) {
		res->up = mdeploy_local__redis_up(r, rec, &res->pid, &res->problem) == 0;
	} else if (!strcmp(type, "certificate")) {
		static __thread char lb[1100];
		snprintf(lb, sizeof(lb), "%s/lb.pem", res->dir ? res->dir : "");
		res->endpoint = lb;
		res->up = mdeploy_local__tls_up(r, &res->problem) == 0;
	} else if (!strcmp(type, "directory")) {
		res->up = res->dir && stat(res->dir, &st) == 0 && S_ISDIR(st.st_mode);
		if (!res->up)
			res->problem = "the directory is missing";
	} else {
		res->problem = "unknown resource type";
	}
	(void)name;
	return 0;
}

int mdeploy_local__infra_outputs(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                                 const mdeploy_infra_options *opts, mdeploy_infra_output_cb cb, void *payload)
{
	infra_run r;
	size_t i, k;
	int rc;

	if ((rc = run_init(&r, ctx, store, cfg, opts, 0)))
		goto out;
	if (!mdeploy_local__infra_rec(&r, "postgresql")) {
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, INFRA_CLS, "no infrastructure here: run 'mdeploy infra apply'");
		goto out;
	}
	for (i = 0; i < group_count(&r) && !rc; i++) {
		const mdeploy_group *g = mdeploy_config_group_at(cfg, i);
		const char *app = mdeploy_config_application_name(cfg);
		for (k = 0; k < MDEPLOY__ARRAY_SIZE(param_keys) && !rc; k++) {
			mdeploy_infra_output o = { NULL, NULL, 0 };
			mdeploy_param *prm = NULL;
			char *name = mdeploy__sprintf("/%s/%s/%s", app, g->name, param_keys[k]);
			if (!name) {
				rc = mdeploy__error_oom();
				break;
			}
			rc = mdeploy_params_get(&prm, r.params, name);
			if (!rc) {
				o.name = name;
				o.value = prm->value;
				if (cb && cb(&o, payload))
					rc = mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_CALLBACK, "infra outputs: the callback aborted");
			} else if (rc == MDEPLOY_ENOTFOUND) {
				rc = 0;
			}
			mdeploy_param_free(prm);
			free(name);
		}
		for (k = 0; k < MDEPLOY__ARRAY_SIZE(secret_keys) && !rc; k++) {
			mdeploy_infra_output o = { NULL, NULL, 1 };
			char *name = mdeploy__sprintf("%s/%s/%s", app, g->name, secret_keys[k]), *v = NULL;
			if (!name) {
				rc = mdeploy__error_oom();
				break;
			}
			if (!(rc = mdeploy_local__infra_secret(&r, name, &v)) && v) {
				o.name = name;
				if (cb && cb(&o, payload))
					rc = mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_CALLBACK, "infra outputs: the callback aborted");
			}
			mdeploy_secret_value_free(v);
			free(name);
		}
	}
	if (!rc && mdeploy_local__infra_rec(&r, "certificate")) {
		char ca[1100], lb[1100];
		mdeploy_infra_output o1 = { "ca_certificate", ca, 0 }, o2 = { "lb_certificate", lb, 0 };
		snprintf(ca, sizeof(ca), "%s/tls/ca.pem", r.dir);
		snprintf(lb, sizeof(lb), "%s/tls/lb.pem", r.dir);
		if (cb && (cb(&o1, payload) || cb(&o2, payload)))
			rc = mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_CALLBACK, "infra outputs: the callback aborted");
	}
out:
	run_dispose(&r);
	return rc;
}

