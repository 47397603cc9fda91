/*
 * backup.c - the database backup the upgrade gate takes before every
 * upgrade, and its restore when `deploy rollback --restore-database` goes
 * back across the upgrade.
 *
 * Which database: the one Moodle itself uses, read from the release's
 * config.php (PHP with ABORT_AFTER_CONFIG stops Moodle's setup before it
 * connects), so the backup is of what the upgrade will touch, however the
 * settings reached config.php. Only the site's tables (its prefix) are
 * dumped: the database may hold others.
 *
 * Methods, by database type: PostgreSQL pg_dump -Fc, MySQL/MariaDB
 * mysqldump. Each method is a pair of functions in `methods` below; a
 * provider-side method (an RDS snapshot on AWS) takes the same place and
 * records the same fields (method, path or snapshot id, size, digest).
 *
 * The password never reaches a command line: pg_dump, pg_restore and psql
 * get PGPASSWORD in their environment; mysqldump a 0600 option file that
 * is removed afterwards. Backups are files of mode 0600 in
 * <state_dir>/backups/<application>/<group>/ (mode 0700), written under a
 * temporary name and renamed when complete.
 */
#include "deploy_private.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CLS MDEPLOY_ERROR_CLASS_DEPLOY

extern char **environ;

typedef struct db_conn {
	char type[16], host[512], port[16], name[128], user[128], pass[512], prefix[64];
} db_conn;

static void conn_wipe(db_conn *c)
{
	volatile char *p = (volatile char *)c->pass;
	size_t i;
	for (i = 0; i < sizeof(c->pass); i++)
		p[i] = 0;
}

/* The PHP run in the release: Moodle's config.php up to, not including, its database connection. */
static const char read_config_php[] =
	"define('CLI_SCRIPT', true); define('ABORT_AFTER_CONFIG', true);"
	"ob_start(); require getcwd() . '/config.php'; ob_end_clean();"
	"$o = isset($CFG->dboptions) && is_array($CFG->dboptions) ? $CFG->dboptions : array();"
	"$s = isset($o['dbsocket']) && is_string($o['dbsocket']) && $o['dbsocket'] !== '' && $o['dbsocket'][0] === '/'"
	" ? $o['dbsocket'] : '';"
	"echo \"\\n@mdeploy-db@\", json_encode(array('type' => (string)$CFG->dbtype,"
	" 'host' => $s !== '' ? $s : (string)$CFG->dbhost, 'port' => isset($o['dbport']) ? (string)$o['dbport'] : '',"
	" 'name' => (string)$CFG->dbname, 'user' => (string)$CFG->dbuser, 'pass' => (string)$CFG->dbpass,"
	" 'prefix' => (string)$CFG->prefix)), \"\\n\";";

static int take(char *dst, size_t n, json_t *o, const char *key, const char *where)
{
	const char *v = json_string_value(json_object_get(o, key));
	if (!v || strlen(v) >= n)
		return mdeploy__error_set(MDEPLOY_EINVALID, CLS, "%s: the database %s is missing or too long", where, key);
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

/* The database settings of the release `release` (its config.php). */
static int read_conn(const char *release, db_conn *c)
{
	const char *argv[] = { "php", "-r", read_config_php, NULL };
	mdeploy_exec_options eo = MDEPLOY_EXEC_OPTIONS_INIT;
	mdeploy_exec_result *res = NULL;
	char cfgpath[1200];
	const char *out, *mark;
	json_t *o = NULL;
	size_t i;
	int rc;

	memset(c, 0, sizeof(*c));
	snprintf(cfgpath, sizeof(cfgpath), "%s/config.php", release);
	if (!mdeploy__path_exists(cfgpath))
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS, "%s: no config.php: the database to back up is unknown",
		                          release);
	eo.cwd = release;
	eo.search_path = 1;
	eo.timeout_ms = 60000;
	if ((rc = mdeploy_exec_run(&res, argv, &eo)))
		return rc;
	out = mdeploy_exec_result_stdout(res, NULL);
	if (!mdeploy_exec_result_success(res) || !(mark = strstr(out, "\n@mdeploy-db@"))) {
		/* Its output is Moodle's own error (never the settings: they come after the mark). */
		rc = mdeploy__error_set(MDEPLOY_EHOOK, CLS, "%s: cannot read the database settings of config.php (php %s): %.300s",
		                        cfgpath, mdeploy_exec_result_describe(res), out);
		goto out;
	}
	if (!(o = json_loads(mark + 13, JSON_DISABLE_EOF_CHECK, NULL))) {
		rc = mdeploy__error_set(MDEPLOY_EINVALID, CLS, "%s: unreadable database settings", cfgpath);
		goto out;
	}
	if ((rc = take(c->type, sizeof(c->type), o, "type", cfgpath)) || (rc = take(c->host, sizeof(c->host), o, "host", cfgpath)) ||
	    (rc = take(c->port, sizeof(c->port), o, "port", cfgpath)) || (rc = take(c->name, sizeof(c->name), o, "name", cfgpath)) ||
	    (rc = take(c->user, sizeof(c->user), o, "user", cfgpath)) || (rc = take(c->pass, sizeof(c->pass), o, "pass", cfgpath)) ||
	    (rc = take(c->prefix, sizeof(c->prefix), o, "prefix", cfgpath)))
		goto out;
	/* The prefix becomes a table pattern: letters, digits and '_' only. */
	for (i = 0; c->prefix[i]; i++)
		if (!((c->prefix[i] >= 'a' && c->prefix[i] <= 'z') || (c->prefix[i] >= '0' && c->prefix[i] <= '9') ||
		      c->prefix[i] == '_'))
			break;
	if (!c->prefix[0] || c->prefix[i]) {
		rc = mdeploy__error_set(MDEPLOY_EINVALID, CLS, "%s: table prefix '%s' is not lowercase letters, digits and '_'",
		                        cfgpath, c->prefix);
		goto out;
	}
	for (i = 0; c->port[i]; i++)
		if (c->port[i] < '0' || c->port[i] > '9')
			break;
	if (c->port[i] || !c->name[0] || c->name[0] == '-' || strchr(c->name, '=') || c->user[0] == '-' || c->host[0] == '-') {
		rc = mdeploy__error_set(MDEPLOY_EINVALID, CLS, "%s: database name, user, host or port is not usable", cfgpath);
		goto out;
	}
out:
	json_decref(o);
	mdeploy_exec_result_free(res);
	if (rc)
		conn_wipe(c);
	return rc;
}

/* The caller's environment plus `extra` ("K=V"); free with free_env(). */
static char **env_with(const char *extra)
{
	size_t n = 0, i;
	char **e;
	while (environ[n])
		n++;
	if (!(e = calloc(n + 2, sizeof(*e))))
		return NULL;
	for (i = 0; i < n; i++)
		e[i] = environ[i];
	if (extra && !(e[n] = mdeploy__strdup(extra))) {
		free(e);
		return NULL;
	}
	return e;
}

static void free_env(char **e, const char *extra)
{
	size_t n = 0;
	if (!e)
		return;
	while (e[n])
		n++;
	if (extra && n) {
		memset(e[n - 1], 0, strlen(e[n - 1]));
		free(e[n - 1]);
	}
	free(e);
}

/* Run a database client with the password in its environment (never its arguments). */
static int run_client(const db_conn *c, const char *const *argv, const char *what)
{
	mdeploy_exec_options eo = MDEPLOY_EXEC_OPTIONS_INIT;
	mdeploy_exec_result *res = NULL;
	char extra[600];
	char **env;
	int rc;

	snprintf(extra, sizeof(extra), "PGPASSWORD=%s", c->pass);
	env = env_with(extra);
	memset(extra, 0, sizeof(extra));
	if (!env)
		return mdeploy__error_oom();
	eo.env = (const char *const *)env;
	eo.search_path = 1;
	eo.merge_stderr = 1;
	eo.timeout_ms = 6 * 3600 * 1000u;
	rc = mdeploy_exec_run(&res, argv, &eo);
	free_env(env, extra);
	if (rc)
		return mdeploy__error_set(rc, CLS, "%s: cannot run %s: %s", what, argv[0], mdeploy_error_last()->message);
	if (!mdeploy_exec_result_success(res)) {
		/* The client's own error, not the notices before it. */
		const char *o = mdeploy_exec_result_stdout(res, NULL), *e = strstr(o, "ERROR:");
		if (!e && strlen(o) > 600)
			e = o + strlen(o) - 600;
		rc = mdeploy__error_set(MDEPLOY_EHOOK, CLS, "%s: %s %s: %.600s", what, argv[0],
		                        mdeploy_exec_result_describe(res), e ? e : o);
	}
	mdeploy_exec_result_free(res);
	return rc;
}

/* libpq's connection arguments: -h -p -U, filled into argv from index *k. */
static void pg_conn_args(const db_conn *c, const char **argv, size_t *k)
{
	if (c->host[0]) {
		argv[(*k)++] = "-h";
		argv[(*k)++] = c->host;
	}
	if (c->port[0]) {
		argv[(*k)++] = "-p";
		argv[(*k)++] = c->port;
	}
	argv[(*k)++] = "-U";
	argv[(*k)++] = c->user;
	argv[(*k)++] = "--no-password";
}

static int pg_dump(const db_conn *c, const char *file)
{
	const char *argv[20];
	char pattern[80];
	size_t k = 0;
	snprintf(pattern, sizeof(pattern), "%s*", c->prefix);
	argv[k++] = "pg_dump";
	argv[k++] = "-Fc";
	argv[k++] = "-t";
	argv[k++] = pattern;
	argv[k++] = "-f";
	argv[k++] = file;
	pg_conn_args(c, argv, &k);
	argv[k++] = "-d";
	argv[k++] = c->name;
	argv[k] = NULL;
	return run_client(c, argv, "database backup");
}

/*
 * The site's tables replaced by the backup's: every relation with the
 * prefix dropped (pg_restore --clean would drop only those in the archive,
 * and a table the upgrade added would break the next upgrade), then the
 * archive restored, stopping at the first error. Not one transaction: a
 * Moodle site is some 2,500 relations, and dropping and creating them all at
 * once overflows PostgreSQL's lock table with its default
 * max_locks_per_transaction. Run again, it does the same from the start.
 */
static int pg_restore(const db_conn *c, const char *file, const char *tmpdir)
{
	char drop[1200], like[140], *text = NULL;
	const char *argv[24];
	size_t k = 0, i, j;
	int rc;

	snprintf(drop, sizeof(drop), "%s/drop.sql", tmpdir);
	for (i = j = 0; c->prefix[i] && j + 3 < sizeof(like); i++) {
		if (c->prefix[i] == '_')
			like[j++] = '\\';
		like[j++] = c->prefix[i];
	}
	like[j] = '\0';
	/* psql's \gexec runs each statement the query makes, each in its own transaction. */
	if (!(text = mdeploy__sprintf(
		"SET client_min_messages = warning;\n"
		"SELECT format('DROP TABLE IF EXISTS %%I CASCADE', c.relname) FROM pg_class c\n"
		"  JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema()\n"
		"  AND c.relkind IN ('r', 'p') AND c.relname LIKE '%s%%' \\gexec\n"
		"SELECT format('DROP %%s IF EXISTS %%I CASCADE', CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'\n"
		"  ELSE 'MATERIALIZED VIEW' END, c.relname) FROM pg_class c\n"
		"  JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema()\n"
		"  AND c.relkind IN ('S', 'v', 'm') AND c.relname LIKE '%s%%' \\gexec\n", like, like)))
		return mdeploy__error_oom();
	rc = mdeploy__file_write_atomic(drop, text, strlen(text), 0600);
	free(text);
	if (rc)
		return rc;
	argv[k++] = "psql";
	argv[k++] = "-X";
	argv[k++] = "-q";
	argv[k++] = "-v";
	argv[k++] = "ON_ERROR_STOP=1";
	pg_conn_args(c, argv, &k);
	argv[k++] = "-d";
	argv[k++] = c->name;
	argv[k++] = "-f";
	argv[k++] = drop;
	argv[k] = NULL;
	rc = run_client(c, argv, "database restore (dropping the site's tables)");
	unlink(drop);
	if (rc)
		return rc;
	k = 0;
	argv[k++] = "pg_restore";
	argv[k++] = "--no-owner";
	argv[k++] = "--no-privileges";
	argv[k++] = "--exit-on-error";
	pg_conn_args(c, argv, &k);
	argv[k++] = "-d";
	argv[k++] = c->name;
	argv[k++] = file;
	argv[k] = NULL;
	return run_client(c, argv, "database restore");
}

/* MySQL and MariaDB read the password from an option file of mode 0600, never the command line. */
static int my_dump(const db_conn *c, const char *file)
{
	char opt[1200], arg[1300], rf[1300], *text;
	const char *argv[16];
	size_t k = 0, i;
	mdeploy__buf b = { 0 };
	int rc;

	snprintf(opt, sizeof(opt), "%s.cnf", file);
	mdeploy__buf_puts(&b, "[client]\npassword=\"");
	for (i = 0; c->pass[i]; i++) {
		if (c->pass[i] == '"' || c->pass[i] == '\\')
			mdeploy__buf_put(&b, "\\", 1);
		mdeploy__buf_put(&b, &c->pass[i], 1);
	}
	if (mdeploy__buf_puts(&b, "\"\n"))
		return mdeploy__error_oom();
	text = mdeploy__buf_detach(&b);
	rc = mdeploy__file_write_atomic(opt, text, strlen(text), 0600);
	memset(text, 0, strlen(text));
	free(text);
	if (rc)
		return rc;
	snprintf(arg, sizeof(arg), "--defaults-extra-file=%s", opt);
	snprintf(rf, sizeof(rf), "--result-file=%s", file);
	argv[k++] = "mysqldump";
	argv[k++] = arg;  /* must come first */
	argv[k++] = "--single-transaction";
	argv[k++] = "--no-tablespaces";
	argv[k++] = rf;
	if (c->host[0] == '/') {
		argv[k++] = "-S";
		argv[k++] = c->host;
	} else if (c->host[0]) {
		argv[k++] = "-h";
		argv[k++] = c->host;
	}
	if (c->port[0]) {
		argv[k++] = "-P";
		argv[k++] = c->port;
	}
	argv[k++] = "-u";
	argv[k++] = c->user;
	argv[k++] = c->name;
	argv[k] = NULL;
	rc = run_client(c, argv, "database backup");
	unlink(opt);
	return rc;
}

static const struct method {
	const char *dbtype[4];
	const char *name, *ext;
	int (*dump)(const db_conn *c, const char *file);
	int (*restore)(const db_conn *c, const char *file, const char *tmpdir);  /* NULL: by hand */
} methods[] = {
	{ { "pgsql" }, "pg_dump", "pgdump", pg_dump, pg_restore },
	{ { "mysqli", "mariadb", "auroramysql" }, "mysqldump", "sql", my_dump, NULL },
};

static const struct method *method_for(const char *dbtype)
{
	size_t i, j;
	for (i = 0; i < MDEPLOY__ARRAY_SIZE(methods); i++)
		for (j = 0; j < 4 && methods[i].dbtype[j]; j++)
			if (!strcmp(methods[i].dbtype[j], dbtype))
				return &methods[i];
	return NULL;
}

static const struct method *method_named(const char *name)
{
	size_t i;
	for (i = 0; i < MDEPLOY__ARRAY_SIZE(methods); i++)
		if (!strcmp(methods[i].name, name))
			return &methods[i];
	return NULL;
}

static int sha256_file(const char *path, char sha[65], uint64_t *size)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char buf[65536], d[32];
	static const char hex[] = "0123456789abcdef";
	ssize_t n;
	int fd, i;
	*size = 0;
	if (!md)
		return mdeploy__error_oom();
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		EVP_MD_CTX_free(md);
		return mdeploy__error_os(CLS, "cannot open '%s'", path);
	}
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			EVP_MD_CTX_free(md);
			return mdeploy__error_os(CLS, "cannot read '%s'", path);
		}
		EVP_DigestUpdate(md, buf, (size_t)n);
		*size += (uint64_t)n;
	}
	close(fd);
	EVP_DigestFinal_ex(md, d, NULL);
	EVP_MD_CTX_free(md);
	for (i = 0; i < 32; i++) {
		sha[2 * i] = hex[d[i] >> 4];
		sha[2 * i + 1] = hex[d[i] & 15];
	}
	sha[64] = '\0';
	return 0;
}

/* <state_dir>/backups/<app>/<group>, created with mode 0700. */
static int backup_dir(mdeploy_deploy__run *r, char *out, size_t n)
{
	char *d;
	int rc;
	snprintf(out, n, "%s/backups/%s/%s", mdeploy_ctx_state_dir(r->ctx), r->app, r->g->name);
	if ((rc = mdeploy__mkdir_p(out, 0700)))
		return rc;
	if (chmod(out, 0700) < 0)
		return mdeploy__error_os(CLS, "cannot make '%s' private", out);
	if ((d = mdeploy__sprintf("%s/backups", mdeploy_ctx_state_dir(r->ctx)))) {
		chmod(d, 0700);
		free(d);
	}
	return 0;
}

/*
 * The backup step: the database of fleet `target`'s release (a green
 * instance whose install succeeded) dumped before the upgrade, recorded in
 * the step's journal data: method, database, path, bytes, sha256, ms.
 */
int mdeploy_deploy__s_backup(mdeploy_deploy__run *r, const char *target, void *arg)
{
	const struct method *m;
	db_conn c;
	inst_list l;
	char release[1100], dir[1024], file[1200], tmp[1300], sha[65];
	uint64_t t0, bytes = 0;
	size_t i = 0;
	int rc;
	(void)arg;

	if ((rc = mdeploy_deploy__pick_instance(r, target, "the database backup", &l, &i)))
		return rc;
	snprintf(release, sizeof(release), "%s/current", l.root[i]);
	if ((rc = read_conn(release, &c)))
		return rc;
	if (!(m = method_for(c.type))) {
		rc = mdeploy__error_set(MDEPLOY_EUNSUPPORTED, CLS, "no backup method for database type '%s': the upgrade needs a "
		                        "backup first (pgsql: pg_dump; mysqli, mariadb, auroramysql: mysqldump)", c.type);
		goto out;
	}
	if ((rc = backup_dir(r, dir, sizeof(dir))))
		goto out;
	snprintf(file, sizeof(file), "%s/%s.%s", dir, r->id, m->ext);
	snprintf(tmp, sizeof(tmp), "%s.tmp", file);
	unlink(tmp);
	{
		/* The client creates the file: umask 077 keeps it private from the first byte. */
		mode_t old = umask(077);
		t0 = mdeploy__now_ms();
		rc = m->dump(&c, tmp);
		umask(old);
	}
	if (rc) {
		unlink(tmp);
		goto out;
	}
	if (chmod(tmp, 0600) < 0 || (rc = sha256_file(tmp, sha, &bytes)) || rename(tmp, file) < 0) {
		rc = rc ? rc : mdeploy__error_os(CLS, "cannot keep the backup '%s'", file);
		unlink(tmp);
		goto out;
	}
	{
		json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:I}", "method", m->name, "dbtype", c.type,
		                      "database", c.name, "path", file, "bytes", (json_int_t)bytes, "sha256", sha,
		                      "ms", (json_int_t)(mdeploy__now_ms() - t0));
		free(r->step_data);
		r->step_data = o ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
	}
	mdeploy__log(r->ctx, MDEPLOY_LOG_INFO, "deploy", "%s: database %s backed up with %s to %s (%llu bytes, %llu ms)",
	             r->id, c.name, m->name, file, (unsigned long long)bytes, (unsigned long long)(mdeploy__now_ms() - t0));
out:
	conn_wipe(&c);
	return rc;
}

/* ---- the record of a deployment's backup, and its restore ---- */

static int backup_cb(const mdeploy_journal_entry *e, void *payload)
{
	json_t **o = payload;
	if (!strcmp(e->step, "backup") && !strcmp(e->state, "done") && e->data) {
		json_decref(*o);
		*o = json_loads(e->data, 0, NULL);
	}
	return 0;
}

int mdeploy_deploy__backup_of(mdeploy_store *store, const char *deployment, mdeploy_deploy__backup *b)
{
	json_t *o = NULL;
	const char *s;
	memset(b, 0, sizeof(*b));
	if (mdeploy_store_journal_foreach(store, deployment, backup_cb, &o))
		return MDEPLOY_ERROR;
	if (!o)
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, CLS, "deployment %s recorded no database backup", deployment);
	snprintf(b->method, sizeof(b->method), "%s", (s = json_string_value(json_object_get(o, "method"))) ? s : "");
	snprintf(b->path, sizeof(b->path), "%s", (s = json_string_value(json_object_get(o, "path"))) ? s : "");
	snprintf(b->sha256, sizeof(b->sha256), "%s", (s = json_string_value(json_object_get(o, "sha256"))) ? s : "");
	snprintf(b->database, sizeof(b->database), "%s", (s = json_string_value(json_object_get(o, "database"))) ? s : "");
	b->bytes = (uint64_t)json_integer_value(json_object_get(o, "bytes"));
	json_decref(o);
	b->restorable = method_named(b->method) && method_named(b->method)->restore;
	return 0;
}

/* The backup file is the one recorded: same size, same sha256. */
int mdeploy_deploy__backup_verify(const mdeploy_deploy__backup *b)
{
	char sha[65];
	uint64_t bytes = 0;
	int rc;
	if ((rc = sha256_file(b->path, sha, &bytes)))
		return mdeploy__error_set(rc, CLS, "backup of database %s: %s", b->database, mdeploy_error_last()->message);
	if (bytes != b->bytes || strcmp(sha, b->sha256))
		return mdeploy__error_set(MDEPLOY_EVERIFY, CLS, "backup %s is not the one recorded (%llu bytes, sha256 %s; "
		                          "recorded %llu bytes, sha256 %s): not restored", b->path, (unsigned long long)bytes,
		                          sha, (unsigned long long)b->bytes, b->sha256);
	return 0;
}

/*
 * The restore step: the backup `arg` (a mdeploy_deploy__backup) put back
 * into the database of fleet `target`'s release, after checking that the
 * file is the one recorded (size and digest).
 */
int mdeploy_deploy__s_restore(mdeploy_deploy__run *r, const char *target, void *arg)
{
	const mdeploy_deploy__backup *b = arg;
	const struct method *m = method_named(b->method);
	db_conn c;
	inst_list l;
	char release[1100], dir[1024];
	size_t i = 0;
	int rc;

	if (!m || !m->restore)
		return mdeploy__error_set(MDEPLOY_EUNSUPPORTED, CLS, "a %s backup cannot be restored by mdeploy: restore %s by hand",
		                          b->method, b->path);
	if ((rc = mdeploy_deploy__backup_verify(b)))
		return rc;
	if ((rc = mdeploy_deploy__pick_instance(r, target, "the database restore", &l, &i)))
		return rc;
	snprintf(release, sizeof(release), "%s/current", l.root[i]);
	if ((rc = read_conn(release, &c)))
		return rc;
	if (method_for(c.type) != m) {
		rc = mdeploy__error_set(MDEPLOY_EINVALID, CLS, "backup %s was taken with %s; the database is now %s: not restored",
		                        b->path, b->method, c.type);
		goto out;
	}
	if (!(rc = backup_dir(r, dir, sizeof(dir)))) {
		mode_t old = umask(077);
		rc = m->restore(&c, b->path, dir);
		umask(old);
	}
out:
	conn_wipe(&c);
	return rc;
}
