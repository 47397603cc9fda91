/*
 * infra_pg.c - the local database: a PostgreSQL cluster of Debian's
 * postgresql package (/usr/lib/postgresql/15/bin) in
 * <state_dir>/infra/postgresql/data, listening on 127.0.0.1 at a port of
 * its own and on a unix socket in .../run (0700: only the cluster's owner).
 *
 * PostgreSQL refuses to run as root: when mdeploy is root the cluster's
 * files belong to `postgres` and its programs run as that user (as
 * t/lib-moodle.sh does), which needs to reach the state directory.
 *
 * Socket connections (the owner only) are trusted; TCP connections need a
 * password (scram-sha-256). The superuser's password is random and thrown
 * away after initdb (it reads it from a 0600 file). A group's role gets its
 * password from the secret store; PostgreSQL is given only its SCRAM
 * verifier, so the password itself never reaches a command line, a SQL
 * statement or the server's log. mdeploy checks a login over TCP with it
 * through a 0600 PGPASSFILE.
 */
#include "infra.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

typedef struct pg_paths {
	char dir[1024], data[1100], run[1100], log[1100], bin[512];
	unsigned int port;
} pg_paths;

static int find_bin(char *out, size_t n)
{
	glob_t gl;
	size_t i;
	const char *env = getenv("MDEPLOY_PG_BINDIR");
	if (env && *env) {
		snprintf(out, n, "%s", env);
		return 0;
	}
	if (access("/usr/lib/postgresql/15/bin/initdb", X_OK) == 0) {
		snprintf(out, n, "/usr/lib/postgresql/15/bin");
		return 0;
	}
	if (glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &gl) == 0) {
		for (i = gl.gl_pathc; i-- > 0;) {
			if (access(gl.gl_pathv[i], X_OK) == 0) {
				snprintf(out, n, "%.*s", (int)(strlen(gl.gl_pathv[i]) - strlen("/initdb")), gl.gl_pathv[i]);
				globfree(&gl);
				return 0;
			}
		}
		globfree(&gl);
	}
	return mdeploy__error_set(MDEPLOY_ENOTFOUND, INFRA_CLS,
	                          "PostgreSQL's server is not installed (no /usr/lib/postgresql/15/bin/initdb): "
	                          "apt-get install postgresql");
}

static int paths(infra_run *r, json_t *rec, pg_paths *pp)
{
	const char *dir = rec ? mdeploy_local__infra_str(rec, "dir") : NULL;
	memset(pp, 0, sizeof(*pp));
	snprintf(pp->dir, sizeof(pp->dir), "%s", dir ? dir : "");
	if (!dir)
		snprintf(pp->dir, sizeof(pp->dir), "%s/postgresql", r->dir);
	snprintf(pp->data, sizeof(pp->data), "%s/data", pp->dir);
	snprintf(pp->run, sizeof(pp->run), "%s/run", pp->dir);
	snprintf(pp->log, sizeof(pp->log), "%s/server.log", pp->dir);
	pp->port = rec ? mdeploy_local__infra_port(rec) : 0;
	return find_bin(pp->bin, sizeof(pp->bin));
}

static int run_pg(infra_run *r, const pg_paths *pp, const char *what, const char *prog, const char *const *args,
                  mdeploy_exec_result **res)
{
	const char *argv[24];
	char path[600];
	size_t i = 0;
	snprintf(path, sizeof(path), "%s/%s", pp->bin, prog);
	argv[i++] = path;
	while (*args && i < MDEPLOY__ARRAY_SIZE(argv) - 1)
		argv[i++] = *args++;
	argv[i] = NULL;
	return mdeploy_local__infra_exec(r, what, argv, 1, NULL, pp->log, res);
}

static long postmaster_pid(const pg_paths *pp)
{
	char f[1200];
	snprintf(f, sizeof(f), "%s/postmaster.pid", pp->data);
	return mdeploy_local__infra_pidfile(f);
}

int mdeploy_local__pg_up(infra_run *r, json_t *rec, long *pid, const char **problem)
{
	static __thread char why[1400];
	pg_paths pp;
	long p;
	(void)r;
	if (pid)
		*pid = 0;
	if (paths(r, rec, &pp)) {
		*problem = "PostgreSQL is not installed";
		return MDEPLOY_ENOTFOUND;
	}
	p = postmaster_pid(&pp);
	if (!mdeploy_local__infra_pid_is(p, "postgres")) {
		snprintf(why, sizeof(why), "not running (no live postmaster in %s)", pp.data);
		*problem = why;
		return MDEPLOY_ECONFLICT;
	}
	if (pid)
		*pid = p;
	if (!mdeploy_local__infra_port_open(pp.port)) {
		snprintf(why, sizeof(why), "postmaster %ld does not accept connections on 127.0.0.1:%u", p, pp.port);
		*problem = why;
		return MDEPLOY_ECONFLICT;
	}
	return 0;
}

static int pg_start(infra_run *r, const pg_paths *pp)
{
	char t[16];
	const char *args[] = { "-D", pp->data, "-l", pp->log, "-w", "-t", "60", "start", NULL };
	(void)t;
	if (mdeploy_local__infra_port_open(pp->port))
		return mdeploy__error_set(MDEPLOY_ECONFLICT, INFRA_CLS,
		                          "postgresql: port %u on 127.0.0.1 is taken by another program", pp->port);
	return run_pg(r, pp, "postgresql: cannot start the cluster", "pg_ctl", args, NULL);
}

int mdeploy_local__pg_stop(infra_run *r, json_t *rec, int *stopped)
{
	pg_paths pp;
	int rc;
	const char *args[] = { "-D", pp.data, "-m", "fast", "-w", "-t", "60", "stop", NULL };
	*stopped = 0;
	if ((rc = paths(r, rec, &pp)))
		return rc;
	if (!mdeploy_local__infra_pid_is(postmaster_pid(&pp), "postgres"))
		return 0;
	if ((rc = run_pg(r, &pp, "postgresql: cannot stop the cluster", "pg_ctl", args, NULL)))
		return rc;
	*stopped = 1;
	return 0;
}

/* The cluster's owner must reach its directory through the state directory. */
static int check_reach(infra_run *r, const char *dir)
{
	const char *argv[] = { "/usr/bin/test", "-w", dir, NULL };
	if (!r->runas)
		return 0;
	if (mdeploy_local__infra_exec(r, "postgresql", argv, 1, NULL, NULL, NULL)) {
		return mdeploy__error_set(MDEPLOY_EAUTH, INFRA_CLS,
		                          "postgresql: the user '%s' (PostgreSQL refuses to run as root) cannot write to %s: "
		                          "every directory above it must be searchable by others (chmod o+x)",
		                          r->runas, dir);
	}
	return 0;
}

static int pg_create(infra_run *r, pg_paths *pp)
{
	char pw[33], pwfile[1200], conf[1200];
	const char *args[] = { "-D", pp->data, "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8",
	                       "--auth-local=trust", "--auth-host=scram-sha-256", NULL, NULL };
	mdeploy__buf b = MDEPLOY__BUF_INIT;
	char pwarg[1300];
	FILE *f;
	int rc, stopped;

	/* A cluster left by an interrupted apply never held data: start over,
	 * after what that apply left running (initdb, a postmaster). */
	(void)stopped;
	/* initdb's bootstrap postgres names the directory only in PGDATA, so it can
	 * outlive the kill and still write: retry the removal until it is gone (10 s). */
	for (int tries = 0;; tries++) {
		if ((rc = mdeploy_local__infra_kill_under(pp->dir)))
			return rc;
		if (!(rc = mdeploy__rm_rf(pp->data)))
			break;
		if (tries == 20)
			return rc;
		usleep(500 * 1000);
	}
	/* The state directory (0700 when mdeploy made it) must let postgres through. */
	if (r->runas && (rc = mdeploy_local__infra_traversable(r)))
		return rc;
	if ((rc = mdeploy__mkdir_p(pp->run, 0700)) || chmod(pp->dir, 0700) || chmod(pp->run, 0700) ||
	    (rc = mdeploy_local__infra_chown(r, pp->dir)) || (rc = mdeploy_local__infra_chown(r, pp->run)))
		return rc ? rc : mdeploy__error_os(INFRA_CLS, "chmod %s", pp->dir);
	if ((rc = check_reach(r, pp->dir)))
		return rc;
	snprintf(pwfile, sizeof(pwfile), "%s/initdb.pw", pp->dir);
	if ((rc = mdeploy_local__infra_random(pw, 32)))
		return rc;
	unlink(pwfile);
	{
		int fd = open(pwfile, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 || !(f = fdopen(fd, "w"))) {
			if (fd >= 0)
				close(fd);
			return mdeploy__error_os(INFRA_CLS, "cannot create %s", pwfile);
		}
	}
	fprintf(f, "%s\n", pw);
	OPENSSL_cleanse(pw, sizeof(pw));
	if (fclose(f))
		rc = mdeploy__error_os(INFRA_CLS, "cannot write %s", pwfile);
	if (!rc)
		rc = mdeploy_local__infra_chown(r, pwfile);
	snprintf(pwarg, sizeof(pwarg), "--pwfile=%s", pwfile);
	args[9] = pwarg;
	if (!rc)
		rc = run_pg(r, pp, "postgresql: initdb failed", "initdb", args, NULL);
	unlink(pwfile);
	if (rc)
		return rc;
	snprintf(conf, sizeof(conf), "%s/postgresql.conf", pp->data);
	mdeploy__buf_printf(&b,
		"\n# Written by mdeploy infra apply.\n"
		"listen_addresses = '127.0.0.1'\n"
		"port = %u\n"
		"unix_socket_directories = '%s'\n"
		"max_connections = 100\n", pp->port, pp->run);
	if (!(f = fopen(conf, "a"))) {
		mdeploy__buf_dispose(&b);
		return mdeploy__error_os(INFRA_CLS, "cannot open %s", conf);
	}
	fputs(mdeploy__buf_cstr(&b), f);
	mdeploy__buf_dispose(&b);
	if (fclose(f))
		return mdeploy__error_os(INFRA_CLS, "cannot write %s", conf);
	return pg_start(r, pp);
}

static const char *port_str(unsigned int port)
{
	static __thread char b[16];
	snprintf(b, sizeof(b), "%u", port);
	return b;
}

int mdeploy_local__pg_apply(infra_run *r)
{
	json_t *rec = mdeploy_local__infra_rec(r, "postgresql");
	const char *state = rec ? mdeploy_local__infra_str(rec, "state") : NULL;
	const char *problem = NULL;
	pg_paths pp;
	int rc;

	if ((rc = paths(r, rec, &pp)))
		return rc;
	if (!rec || !strcmp(state, "creating")) {
		if (!rec && (rc = mdeploy_local__infra_free_port(&pp.port)))
			return rc;
		if ((rc = mdeploy_local__infra_change(r, "postgresql", "postgresql", rec ? "resume" : "create", 0,
		                                      "PostgreSQL cluster on 127.0.0.1:%s, data in %s",
		                                      r->apply || rec ? port_str(pp.port) : "(a free port)", pp.data)))
			return rc;
		if (!r->apply)
			return 0;
		if (!rec) {
			rec = json_pack("{s:s, s:s, s:i, s:s, s:s}", "type", "postgresql", "state", "creating",
			                "port", (int)pp.port, "dir", pp.dir, "bin", pp.bin);
			if ((rc = mdeploy_local__infra_rec_save(r, "postgresql", rec)))
				return rc;
		}
		if ((rc = pg_create(r, &pp)))
			return rc;
		return mdeploy_local__infra_rec_state(r, "postgresql", "ready");
	}
	if (mdeploy_local__pg_up(r, rec, NULL, &problem) == 0) {
		if (strcmp(state, "ready"))
			return r->apply ? mdeploy_local__infra_rec_state(r, "postgresql", "ready") : 0;
		return 0;
	}
	if ((rc = mdeploy_local__infra_change(r, "postgresql", "postgresql", "start", 0,
	                                      "PostgreSQL cluster on 127.0.0.1:%u, data in %s (%s)", pp.port,
	                                      pp.data, problem)))
		return rc;
	if (!r->apply)
		return 0;
	if ((rc = pg_start(r, &pp)))
		return rc;
	return mdeploy_local__infra_rec_state(r, "postgresql", "ready");
}

/* ---- a group's database ------------------------------------------------- */

static int b64(char *out, const unsigned char *in, int n)
{
	return EVP_EncodeBlock((unsigned char *)out, in, n);
}

/* PostgreSQL's SCRAM-SHA-256 verifier of `pw` (what pg_authid keeps). */
static int scram_verifier(const char *pw, char *out, size_t n)
{
	unsigned char salt[16], salted[32], ck[32], sk[32], stored[32];
	char s64[32], st64[64], sk64[64];
	unsigned int l = 0;
	if (RAND_bytes(salt, sizeof(salt)) != 1 ||
	    PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), salt, sizeof(salt), 4096, EVP_sha256(), 32, salted) != 1 ||
	    !HMAC(EVP_sha256(), salted, 32, (const unsigned char *)"Client Key", 10, ck, &l) ||
	    !SHA256(ck, 32, stored) ||
	    !HMAC(EVP_sha256(), salted, 32, (const unsigned char *)"Server Key", 10, sk, &l))
		return mdeploy__error_set(MDEPLOY_ERROR, MDEPLOY_ERROR_CLASS_CRYPTO, "cannot compute a SCRAM verifier");
	b64(s64, salt, sizeof(salt));
	b64(st64, stored, 32);
	b64(sk64, sk, 32);
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(ck, sizeof(ck));
	snprintf(out, n, "SCRAM-SHA-256$4096:%s$%s:%s", s64, st64, sk64);
	return 0;
}

static int pg_sql(infra_run *r, const pg_paths *pp, const char *what, const char *sql, char **out)
{
	char port[16];
	const char *args[] = { "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", pp->run, "-p", port,
	                       "-U", "postgres", "-d", "postgres", "-c", sql, NULL };
	mdeploy_exec_result *res = NULL;
	int rc;
	snprintf(port, sizeof(port), "%u", pp->port);
	if ((rc = run_pg(r, pp, what, "psql", args, &res)))
		return rc;
	if (out) {
		char *s = mdeploy__strdup(mdeploy_exec_result_stdout(res, NULL));
		size_t l = s ? strlen(s) : 0;
		while (l && (s[l - 1] == '\n' || s[l - 1] == ' '))
			s[--l] = '\0';
		*out = s;
	}
	mdeploy_exec_result_free(res);
	return out && !*out ? mdeploy__error_oom() : 0;
}

int mdeploy_local__pg_login(infra_run *r, const char *dbname, const char *secret_name, const char **problem)
{
	static __thread char why[512];
	json_t *rec = mdeploy_local__infra_rec(r, "postgresql");
	char *pw = NULL, passfile[1200], envpass[1300], port[16], **env = NULL;
	const char *argv[20];
	mdeploy__buf b = MDEPLOY__BUF_INIT;
	pg_paths pp;
	size_t i, ne;
	int rc, fd = -1;

	*problem = NULL;
	if ((rc = paths(r, rec, &pp)) || (rc = mdeploy_local__infra_secret(r, secret_name, &pw)))
		return rc;
	if (!pw) {
		snprintf(why, sizeof(why), "no secret %s", secret_name);
		*problem = why;
		return MDEPLOY_ENOTFOUND;
	}
	snprintf(passfile, sizeof(passfile), "%s/pgpass.XXXXXX", r->dir);
	if ((fd = mkstemp(passfile)) < 0) {
		mdeploy_secret_value_free(pw);
		return mdeploy__error_os(INFRA_CLS, "cannot create a password file in %s", r->dir);
	}
	fchmod(fd, 0600);
	mdeploy__buf_printf(&b, "127.0.0.1:%u:%s:%s:%s\n", pp.port, dbname, dbname, pw);
	mdeploy_secret_value_free(pw);
	if (write(fd, mdeploy__buf_cstr(&b), b.size) != (ssize_t)b.size)
		rc = mdeploy__error_os(INFRA_CLS, "cannot write %s", passfile);
	OPENSSL_cleanse(b.ptr, b.size);
	mdeploy__buf_dispose(&b);
	close(fd);
	for (ne = 0; environ[ne]; ne++)
		;
	if (!rc && !(env = calloc(ne + 3, sizeof(*env))))
		rc = mdeploy__error_oom();
	if (!rc) {
		size_t k = 0;
		for (i = 0; i < ne; i++)
			if (strncmp(environ[i], "PGPASSWORD=", 11) && strncmp(environ[i], "PGPASSFILE=", 11))
				env[k++] = environ[i];
		snprintf(envpass, sizeof(envpass), "PGPASSFILE=%s", passfile);
		env[k++] = envpass;
		env[k++] = "PGCONNECT_TIMEOUT=10";
		env[k] = NULL;
		snprintf(port, sizeof(port), "%u", pp.port);
		i = 0;
		{
			static char psql[600];
			snprintf(psql, sizeof(psql), "%s/psql", pp.bin);
			argv[i++] = psql;
		}
		argv[i++] = "-X"; argv[i++] = "-q"; argv[i++] = "-A"; argv[i++] = "-t"; argv[i++] = "-w";
		argv[i++] = "-h"; argv[i++] = "127.0.0.1"; argv[i++] = "-p"; argv[i++] = port;
		argv[i++] = "-U"; argv[i++] = dbname; argv[i++] = "-d"; argv[i++] = dbname;
		argv[i++] = "-c"; argv[i++] = "SELECT 1"; argv[i] = NULL;
		rc = mdeploy_local__infra_exec(r, "postgresql login", argv, 0, (const char *const *)env, NULL, NULL);
		if (rc) {
			snprintf(why, sizeof(why), "login as %s over TCP failed: %s", dbname, mdeploy_error_last()->message);
			*problem = why;
		}
	}
	unlink(passfile);
	free(env);
	return rc;
}

static int set_role(infra_run *r, const pg_paths *pp, const char *dbname, const char *pw, int exists)
{
	char verifier[256], *sql;
	int rc;
	if ((rc = scram_verifier(pw, verifier, sizeof(verifier))))
		return rc;
	sql = mdeploy__sprintf("%s ROLE \"%s\" LOGIN PASSWORD '%s'", exists ? "ALTER" : "CREATE", dbname, verifier);
	if (!sql)
		return mdeploy__error_oom();
	rc = pg_sql(r, pp, "postgresql: cannot set the role", sql, NULL);
	free(sql);
	return rc;
}

int mdeploy_local__pg_database_apply(infra_run *r, const mdeploy_group *g, const char *dbname)
{
	const char *app = mdeploy_config_application_name(r->cfg);
	json_t *pg = mdeploy_local__infra_rec(r, "postgresql"), *rec;
	char name[256], *secret = NULL, *pw = NULL, *out = NULL, *sql = NULL;
	const char *problem = NULL;
	pg_paths pp;
	int rc, exists;

	snprintf(name, sizeof(name), "database/%s", g->name);
	rec = mdeploy_local__infra_rec(r, name);
	if (!(secret = mdeploy__sprintf("%s/%s/MOODLE_DBPASS", app, g->name)))
		return mdeploy__error_oom();
	if ((rc = paths(r, pg, &pp)) || (rc = mdeploy_local__infra_secret(r, secret, &pw)))
		goto out;
	if (rec && !strcmp(mdeploy_local__infra_str(rec, "state"), "ready")) {
		/* In place: the role must take the secret's password. */
		if (!pg || mdeploy_local__pg_up(r, pg, NULL, &problem))
			goto out; /* plan on a stopped cluster: its start is the change */
		if (pw && mdeploy_local__pg_login(r, dbname, secret, &problem) == 0)
			goto out;
		if ((rc = mdeploy_local__infra_change(r, name, "database", "update", 0,
		                                      "password of role %s from secret %s (%s)", dbname, secret,
		                                      pw ? problem : "the secret is missing")) || !r->apply)
			goto out;
	} else {
		if ((rc = mdeploy_local__infra_change(r, name, "database", rec ? "resume" : "create", 0,
		                                      "database %s owned by role %s, its password in secret %s",
		                                      dbname, dbname, secret)) || !r->apply)
			goto out;
		if (!rec && (rc = mdeploy_local__infra_rec_save(r, name, json_pack("{s:s, s:s, s:s, s:s}", "type",
		                                                                  "database", "state", "creating",
		                                                                  "name", dbname, "group", g->name))))
			goto out;
	}
	if (!pw) {
		char gen[33];
		if ((rc = mdeploy_local__infra_random(gen, 32)) ||
		    (rc = mdeploy_secrets_put(r->secrets, secret, gen, NULL))) {
			OPENSSL_cleanse(gen, sizeof(gen));
			goto out;
		}
		OPENSSL_cleanse(gen, sizeof(gen));
		if ((rc = mdeploy_local__infra_secret(r, secret, &pw)))
			goto out;
	}
	if (!(sql = mdeploy__sprintf("SELECT count(*) FROM pg_roles WHERE rolname = '%s'", dbname))) {
		rc = mdeploy__error_oom();
		goto out;
	}
	if ((rc = pg_sql(r, &pp, "postgresql: cannot look the role up", sql, &out)))
		goto out;
	exists = !strcmp(out, "1");
	if ((rc = set_role(r, &pp, dbname, pw, exists)))
		goto out;
	free(sql);
	free(out);
	out = NULL;
	if (!(sql = mdeploy__sprintf("SELECT count(*) FROM pg_database WHERE datname = '%s'", dbname))) {
		rc = mdeploy__error_oom();
		goto out;
	}
	if ((rc = pg_sql(r, &pp, "postgresql: cannot look the database up", sql, &out)))
		goto out;
	if (strcmp(out, "1")) {
		free(sql);
		if (!(sql = mdeploy__sprintf("CREATE DATABASE \"%s\" OWNER \"%s\" ENCODING 'UTF8' TEMPLATE template0",
		                             dbname, dbname))) {
			rc = mdeploy__error_oom();
			goto out;
		}
		if ((rc = pg_sql(r, &pp, "postgresql: cannot create the database", sql, NULL)))
			goto out;
	}
	rc = mdeploy_local__infra_rec_state(r, name, "ready");
out:
	mdeploy_secret_value_free(pw);
	free(secret);
	free(sql);
	free(out);
	return rc;
}
