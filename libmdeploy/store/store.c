/* store.c - open the SQLite state store and migrate its schema. */
#include "store_private.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/*
 * Migrations, in order: migration i brings the schema to version i + 1.
 * Only append; never edit one that has shipped.
 */
static const char *const migrations[] = {
	/* 1: deployments, their journal, locks, values */
	"CREATE TABLE deployments ("
	" id TEXT PRIMARY KEY, application TEXT NOT NULL, group_name TEXT NOT NULL,"
	" status TEXT NOT NULL, strategy TEXT, revision TEXT, bundle TEXT,"
	" previous_revision TEXT, error TEXT, data TEXT,"
	" created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, completed_at INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX deployments_group ON deployments(application, group_name, created_at);"
	"CREATE TABLE journal ("
	" deployment_id TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,"
	" seq INTEGER NOT NULL, step TEXT NOT NULL, target TEXT, state TEXT NOT NULL,"
	" data TEXT, error TEXT, started_at INTEGER NOT NULL, finished_at INTEGER NOT NULL DEFAULT 0,"
	" PRIMARY KEY (deployment_id, seq));"
	"CREATE TABLE locks ("
	" name TEXT PRIMARY KEY, owner TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL,"
	" pid_start INTEGER NOT NULL, acquired_at INTEGER NOT NULL, heartbeat_at INTEGER NOT NULL);"
	"CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at INTEGER NOT NULL);",
	/* 2: the local provider's inventory of fleets and instances */
	"CREATE TABLE local_fleets ("
	" name TEXT PRIMARY KEY, desired INTEGER NOT NULL, min_size INTEGER NOT NULL,"
	" max_size INTEGER NOT NULL, port INTEGER NOT NULL, tags TEXT NOT NULL DEFAULT '{}',"
	" created_at INTEGER NOT NULL);"
	"CREATE TABLE local_instances ("
	" id TEXT PRIMARY KEY, fleet TEXT NOT NULL, addr TEXT NOT NULL UNIQUE, port INTEGER NOT NULL,"
	" root TEXT NOT NULL, pid INTEGER NOT NULL DEFAULT 0, pid_start INTEGER NOT NULL DEFAULT 0,"
	" state TEXT NOT NULL, created_at INTEGER NOT NULL);"
	"CREATE INDEX local_instances_fleet ON local_instances(fleet);",
	/* 3: pipeline executions, their actions, artifacts and triggers */
	mdeploy_pipeline__schema,
	/* 4: web console tokens and the audit trail */
	mdeploy_web__schema,
	/* 5: who created a deployment, and the digest and signer of its bundle */
	"ALTER TABLE deployments ADD COLUMN created_by TEXT;"
	"ALTER TABLE deployments ADD COLUMN bundle_sha256 TEXT;"
	"ALTER TABLE deployments ADD COLUMN bundle_key_id TEXT;",
};

int mdeploy_store_schema_latest(void)
{
	return (int)MDEPLOY__ARRAY_SIZE(migrations);
}

int mdeploy_store_options_init(mdeploy_store_options *opts, unsigned int version)
{
	mdeploy_store_options def = MDEPLOY_STORE_OPTIONS_INIT;
	int rc;
	if ((rc = mdeploy__options_check(version, MDEPLOY_STORE_OPTIONS_VERSION, "mdeploy_store_options")))
		return rc;
	*opts = def;
	opts->version = version;
	return 0;
}

sqlite3 *mdeploy_store__db(mdeploy_store *store) { return store->db; }
mdeploy_ctx *mdeploy_store__ctx(mdeploy_store *store) { return store->ctx; }
const char *mdeploy_store_path(const mdeploy_store *store) { return store->path; }
int mdeploy_store_schema_version(mdeploy_store *store) { return store->schema_version; }

int mdeploy_store__shared_key(const char *key)
{
	return key && (!strncmp(key, "deploy/", 7) || !strncmp(key, "deployment/", 11));
}

int mdeploy_store__error(mdeploy_store *store, const char *what)
{
	int ec = store->db ? sqlite3_extended_errcode(store->db) : SQLITE_ERROR;
	int code;
	switch (ec & 0xff) {
	case SQLITE_BUSY: case SQLITE_LOCKED: code = MDEPLOY_ELOCKED; break;
	case SQLITE_NOMEM: code = MDEPLOY_ENOMEM; break;
	case SQLITE_CORRUPT: case SQLITE_NOTADB: code = MDEPLOY_ECORRUPT; break;
	case SQLITE_CONSTRAINT: code = MDEPLOY_EEXISTS; break;
	case SQLITE_CANTOPEN: case SQLITE_IOERR: case SQLITE_FULL: case SQLITE_READONLY:
		code = MDEPLOY_EOS; break;
	default: code = MDEPLOY_ERROR; break;
	}
	return mdeploy__error_set(code, MDEPLOY_ERROR_CLASS_STORE, "%s: %s: %s", store->path, what,
	                          store->db ? sqlite3_errmsg(store->db) : sqlite3_errstr(ec));
}

int mdeploy_store__exec(mdeploy_store *store, const char *sql)
{
	if (sqlite3_exec(store->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return mdeploy_store__error(store, "query failed");
	return 0;
}

int mdeploy_store__begin(mdeploy_store *store)
{
	return mdeploy_store__exec(store, "BEGIN IMMEDIATE");
}

int mdeploy_store__commit(mdeploy_store *store)
{
	int rc = mdeploy_store__exec(store, "COMMIT");
	if (rc)
		mdeploy_store__rollback(store);
	return rc;
}

void mdeploy_store__rollback(mdeploy_store *store)
{
	if (!sqlite3_get_autocommit(store->db))
		sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
}

sqlite3_stmt *mdeploy_store__prepare(mdeploy_store *store, const char *sql)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(store->db, sql, -1, &st, NULL) != SQLITE_OK) {
		mdeploy_store__error(store, "cannot prepare a query");
		sqlite3_finalize(st);
		return NULL;
	}
	return st;
}

int64_t mdeploy_store__unix_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

unsigned long long mdeploy_store__pid_start(long pid)
{
	char path[64], buf[1024], *p;
	FILE *f;
	size_t n;
	unsigned long long start = 0;
	int field;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if (!(f = fopen(path, "r")))
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: fields restart after the last ')'. */
	if (!(p = strrchr(buf, ')')))
		return 0;
	p++;
	/* Field 3 (state) follows; starttime is field 22. */
	for (field = 3; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (p)
		start = strtoull(p + 1, NULL, 10);
	/* A zombie is dead for our purposes. */
	{
		char *s = strrchr(buf, ')');
		if (s && s[1] == ' ' && (s[2] == 'Z' || s[2] == 'X'))
			return 0;
	}
	return start;
}

int mdeploy_store__pid_alive(long pid, unsigned long long start)
{
	unsigned long long now;
	if (pid <= 0)
		return 0;
	if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
		return 0;
	now = mdeploy_store__pid_start(pid);
	if (now == 0)
		return 0;
	return start == 0 || now == start;
}

static int read_version(mdeploy_store *store, int *version)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_exec(store->db,
		"CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
		NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return mdeploy_store__error(store, "not a state store");
	if (!(st = mdeploy_store__prepare(store, "SELECT COALESCE(MAX(version), 0) FROM schema_version")))
		return MDEPLOY_ERROR;
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = mdeploy_store__error(store, "cannot read the schema version");
		sqlite3_finalize(st);
		return rc;
	}
	*version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return 0;
}

static int migrate(mdeploy_store *store)
{
	int version = 0, rc, latest = mdeploy_store_schema_latest();

	/* Serialise migrations across processes: read the version inside the write transaction. */
	if ((rc = mdeploy_store__begin(store)))
		return rc;
	if ((rc = read_version(store, &version)))
		goto fail;
	if (version > latest) {
		rc = mdeploy__error_set(MDEPLOY_ECONFLICT, MDEPLOY_ERROR_CLASS_STORE,
			"%s: schema version %d was written by a newer mdeploy (this one knows up to %d)",
			store->path, version, latest);
		goto fail;
	}
	for (; version < latest; version++) {
		char sql[96];
		if ((rc = mdeploy_store__exec(store, migrations[version]))) {
			mdeploy__error_prefix("migration to schema version %d", version + 1);
			goto fail;
		}
		snprintf(sql, sizeof(sql), "INSERT INTO schema_version VALUES (%d, %lld)", version + 1,
		         (long long)(mdeploy_store__unix_ms() / 1000));
		if ((rc = mdeploy_store__exec(store, sql)))
			goto fail;
		mdeploy__log(store->ctx, MDEPLOY_LOG_DEBUG, "store", "%s: migrated to schema version %d",
		             store->path, version + 1);
	}
	if ((rc = mdeploy_store__commit(store)))
		return rc;
	store->schema_version = version;
	return 0;
fail:
	mdeploy_store__rollback(store);
	return rc;
}

int mdeploy_store_open(mdeploy_store **out, mdeploy_ctx *ctx, const mdeploy_store_options *opts)
{
	mdeploy_store_options def = MDEPLOY_STORE_OPTIONS_INIT;
	mdeploy_store *store;
	int rc;

	*out = NULL;
	if (!opts)
		opts = &def;
	if ((rc = mdeploy__options_check(opts->version, MDEPLOY_STORE_OPTIONS_VERSION, "mdeploy_store_options")))
		return rc;
	if (!(store = calloc(1, sizeof(*store))))
		return mdeploy__error_oom();
	store->ctx = ctx;
	if (opts->path) {
		store->path = mdeploy__strdup(opts->path);
	} else {
		if ((rc = mdeploy_ctx_ensure_state_dir(ctx)))
			goto fail;
		store->path = mdeploy__path_join(mdeploy_ctx_state_dir(ctx), "state.db");
	}
	if (!store->path) {
		rc = mdeploy__error_oom();
		goto fail;
	}
	if (sqlite3_open_v2(store->path, &store->db,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		rc = mdeploy_store__error(store, "cannot open the state store");
		goto fail;
	}
	chmod(store->path, 0600);
	sqlite3_busy_timeout(store->db, (int)(opts->busy_timeout_ms ? opts->busy_timeout_ms : 10000));
	if ((rc = mdeploy_store__exec(store, "PRAGMA journal_mode=WAL")) ||
	    (rc = mdeploy_store__exec(store, "PRAGMA synchronous=NORMAL")) ||
	    (rc = mdeploy_store__exec(store, "PRAGMA foreign_keys=ON")))
		goto fail;
	if ((rc = migrate(store)))
		goto fail;
	if ((rc = mdeploy_provider__state_open(&store->shared_impl, &store->shared, ctx)))
		goto fail;
	if (store->shared)
		mdeploy__log(ctx, MDEPLOY_LOG_DEBUG, "store", "locks, deployments and the journal in %s",
		             store->shared->name);
	*out = store;
	return 0;
fail:
	mdeploy_store_free(store);
	return rc;
}

void mdeploy_store_free(mdeploy_store *store)
{
	if (!store)
		return;
	if (store->shared)
		store->shared->free(store->shared_impl);
	if (store->db)
		sqlite3_close_v2(store->db);
	free(store->path);
	free(store);
}
