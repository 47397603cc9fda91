/* The state store on real SQLite: migrations, deployments, journal, and
 * group locks raced by several processes, including a kill -9'd owner. */
#include "store/store_private.h"
#include "tap.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char warnings[4096];

static int log_cb(mdeploy_log_level level, const char *component, const char *message, void *payload)
{
	(void)component; (void)payload;
	if (level == MDEPLOY_LOG_WARN) {
		strncat(warnings, message, sizeof(warnings) - strlen(warnings) - 2);
		strcat(warnings, "\n");
	}
	return 0;
}

static mdeploy_ctx *new_ctx(const char *state)
{
	mdeploy_ctx_options o = MDEPLOY_CTX_OPTIONS_INIT;
	mdeploy_ctx *ctx = NULL;
	o.state_dir = state;
	o.log_cb = log_cb;
	if (mdeploy_ctx_new(&ctx, &o))
		return NULL;
	return ctx;
}

struct collect { char text[2048]; int n; };

static int journal_cb(const mdeploy_journal_entry *e, void *payload)
{
	struct collect *c = payload;
	size_t len = strlen(c->text);
	snprintf(c->text + len, sizeof(c->text) - len, "%lld:%s:%s:%s;", (long long)e->seq, e->step,
	         e->target ? e->target : "-", e->state);
	c->n++;
	return 0;
}

static int deploy_cb(const mdeploy_deployment_record *r, void *payload)
{
	struct collect *c = payload;
	size_t len = strlen(c->text);
	snprintf(c->text + len, sizeof(c->text) - len, "%s:%s;", r->id, r->status);
	c->n++;
	return 0;
}

/* A child that opens its own connection and tries the lock once. */
static void racer(const char *state, int go_fd, int hold_ms)
{
	mdeploy_ctx *ctx;
	mdeploy_store *st = NULL;
	char c;
	int rc;

	if (read(go_fd, &c, 1) != 1)
		_exit(90);
	ctx = new_ctx(state);
	if (!ctx || mdeploy_store_open(&st, ctx, NULL))
		_exit(91);
	rc = mdeploy_store_lock_acquire(st, "app/prod", NULL, NULL);
	usleep((useconds_t)hold_ms * 1000);
	mdeploy_store_free(st);
	mdeploy_ctx_free(ctx);
	_exit(rc == 0 ? 0 : rc == MDEPLOY_ELOCKED ? 1 : 92);
}

static void test_race(const char *state)
{
	int go[2], i, winners = 0, losers = 0, other = 0, status;
	pid_t kids[4];

	if (pipe(go))
		return;
	for (i = 0; i < 4; i++) {
		if ((kids[i] = fork()) == 0) {
			close(go[1]);
			racer(state, go[0], 400);
		}
	}
	close(go[0]);
	/* Release all four at the same instant. */
	if (write(go[1], "xxxx", 4) != 4)
		diag("write failed");
	close(go[1]);
	for (i = 0; i < 4; i++) {
		waitpid(kids[i], &status, 0);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			winners++;
		else if (WIFEXITED(status) && WEXITSTATUS(status) == 1)
			losers++;
		else
			other++;
	}
	is_int(1, winners, "four processes racing: exactly one gets the lock");
	is_int(3, losers, "the other three get MDEPLOY_ELOCKED");
	is_int(0, other, "no racer failed otherwise");
}

/* A waiter that takes the lock, says which one it is on `fd`, and releases it. */
static pid_t waiter(const char *state, int fd, char tag)
{
	pid_t pid = fork();
	if (pid == 0) {
		mdeploy_ctx *cctx = new_ctx(state);
		mdeploy_store *cst = NULL;
		mdeploy_lock_options co = MDEPLOY_LOCK_OPTIONS_INIT;
		co.wait_ms = 20000;
		if (!cctx || mdeploy_store_open(&cst, cctx, NULL) || mdeploy_store_lock_acquire(cst, "fifo", &co, NULL))
			_exit(1);
		if (write(fd, &tag, 1) != 1)
			_exit(1);
		usleep(50000);
		mdeploy_store_lock_release(cst, "fifo");
		_exit(0);
	}
	return pid;
}

/*
 * Arrival order: A queues long before B (so A's retries are far apart and
 * B's close together); when the holder releases, A must still go first. A
 * command that does not wait is refused while others queue.
 */
static void test_fifo(mdeploy_store *st, const char *state)
{
	int p[2], status;
	pid_t a, b;
	char order[3] = "";
	if (pipe(p) != 0) {
		ok(0, "pipe");
		return;
	}
	is_int(0, mdeploy_store_lock_acquire(st, "fifo", NULL, NULL), "FIFO: the holder takes the lock");
	a = waiter(state, p[1], 'A');
	usleep(2500000);
	b = waiter(state, p[1], 'B');
	usleep(150000);
	is_int(0, mdeploy_store_lock_acquire(st, "fifo", NULL, NULL), "the holder still re-acquires its own lock");
	mdeploy_store_lock_release(st, "fifo");
	{
		mdeploy_lock_options lo = MDEPLOY_LOCK_OPTIONS_INIT;
		lo.owner = "latecomer";
		is_int(MDEPLOY_ELOCKED, mdeploy_store_lock_acquire(st, "fifo", &lo, NULL),
		       "a caller that does not wait is refused while others queue");
		like(mdeploy_error_last()->message, "waiting before this one", "and told why");
	}
	close(p[1]);
	ok(read(p[0], order, 1) == 1 && read(p[0], order + 1, 1) == 1, "both waiters got the lock");
	is_str("AB", order, "in arrival order");
	close(p[0]);
	waitpid(a, &status, 0);
	waitpid(b, &status, 0);
	is_int(0, mdeploy_store_lock_acquire(st, "fifo", NULL, NULL), "the lock is free again, no ticket left");
	mdeploy_store_lock_release(st, "fifo");
}

int main(void)
{
	const char *tmp = test_tmpdir();
	char *state = mdeploy__sprintf("%s/state", tmp);
	mdeploy_ctx *ctx = new_ctx(state);
	mdeploy_store *st = NULL, *st2 = NULL;
	mdeploy_deployment *d = NULL;
	mdeploy_lock_info info;
	mdeploy_lock_options lo = MDEPLOY_LOCK_OPTIONS_INIT;
	struct collect c;
	char id[12], id2[12], *val = NULL;
	int64_t seq = 0, seq2 = 0;
	int rc, p[2], status;
	pid_t pid = -1;
	uint64_t t0;

	plan_lazy();

	/* --- open and migrate --- */
	is_int(0, mdeploy_store_open(&st, ctx, NULL), "open creates the store");
	is_int(mdeploy_store_schema_latest(), mdeploy_store_schema_version(st), "migrated to the latest schema");
	ok(mdeploy_store_schema_latest() >= 2, "at least two migrations");
	{
		sqlite3_stmt *q = mdeploy_store__prepare(st, "PRAGMA journal_mode");
		ok(q && sqlite3_step(q) == SQLITE_ROW && !strcmp((const char *)sqlite3_column_text(q, 0), "wal"),
		   "database is in WAL mode");
		sqlite3_finalize(q);
	}
	is_int(0, mdeploy_store_open(&st2, ctx, NULL), "a second connection opens it too");
	is_int(mdeploy_store_schema_latest(), mdeploy_store_schema_version(st2), "no migration twice");
	mdeploy_store_free(st2);
	st2 = NULL;

	/* A file from a newer mdeploy is refused, and left alone. */
	{
		char *newer = mdeploy__sprintf("%s/newer.db", tmp);
		mdeploy_store_options so = MDEPLOY_STORE_OPTIONS_INIT;
		sqlite3 *raw;
		sqlite3_open(newer, &raw);
		sqlite3_exec(raw, "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL);"
		             "INSERT INTO schema_version VALUES (999, 0)", NULL, NULL, NULL);
		sqlite3_close(raw);
		so.path = newer;
		is_int(MDEPLOY_ECONFLICT, mdeploy_store_open(&st2, ctx, &so), "newer schema refused");
		like(mdeploy_error_last()->message, "schema version 999", "error names the version");
		ok(st2 == NULL, "no handle on failure");
		free(newer);

		newer = mdeploy__sprintf("%s/garbage.db", tmp);
		mdeploy__file_write_atomic(newer, "this is not a database, not at all, really not.....................................................", 100, 0600);
		so.path = newer;
		rc = mdeploy_store_open(&st2, ctx, &so);
		ok(rc == MDEPLOY_ECORRUPT, "a file that is not a database: ECORRUPT (got %d)", rc);
		free(newer);
	}

	/* --- deployments and journal --- */
	is_int(0, mdeploy_deployment_id_new(id), "new deployment id");
	ok(strlen(id) == 11 && !strncmp(id, "d-", 2) && strspn(id + 2, "abcdefghijklmnopqrstuvwxyz234567") == 9,
	   "id is d- and 9 base32 characters (%s)", id);
	mdeploy_deployment_id_new(id2);
	ok(strcmp(id, id2) != 0, "ids differ");
	{
		mdeploy_deployment_record r = { 0 };
		r.id = id; r.application = "moodle"; r.group = "prod"; r.strategy = "blue-green";
		r.revision = "r2"; r.previous_revision = "r1";
		is_int(0, mdeploy_store_deployment_insert(st, &r), "insert a deployment");
		is_int(MDEPLOY_EEXISTS, mdeploy_store_deployment_insert(st, &r), "duplicate id refused");
		r.id = id2; r.revision = "r3";
		mdeploy_store_deployment_insert(st, &r);
	}
	is_int(0, mdeploy_store_deployment_get(st, id, &d), "get it back");
	is_str("Created", mdeploy_deployment_record_of(d)->status, "default status Created");
	is_str("r1", mdeploy_deployment_record_of(d)->previous_revision, "previous revision kept");
	is_int(0, mdeploy_deployment_record_of(d)->completed_at, "not completed");
	mdeploy_deployment_free(d);
	is_int(MDEPLOY_ENOTFOUND, mdeploy_store_deployment_get(st, "d-nope", &d), "unknown id: ENOTFOUND");

	is_int(0, mdeploy_store_journal_begin(st, id, "create-fleet", "moodle-prod-v002", "{\"size\":4}", &seq),
	       "journal: step written before it runs");
	is_int(1, seq, "first step is 1");
	is_int(0, mdeploy_store_journal_end(st, id, seq, 1, NULL), "step done");
	mdeploy_store_journal_begin(st, id, "install", "i-1", NULL, &seq2);
	is_int(2, seq2, "second step is 2");
	mdeploy_store_journal_begin(st, id2, "create-fleet", NULL, NULL, &seq);
	is_int(1, seq, "numbering is per deployment");
	memset(&c, 0, sizeof(c));
	mdeploy_store_journal_foreach(st, id, journal_cb, &c);
	is_str("1:create-fleet:moodle-prod-v002:done;2:install:i-1:started;", c.text,
	       "journal reads back in order; the open step is still 'started'");
	is_int(0, mdeploy_store_journal_end(st, id, 2, 0, "hook failed"), "step failed");
	memset(&c, 0, sizeof(c));
	mdeploy_store_journal_foreach(st, id, journal_cb, &c);
	like(c.text, "2:install:i-1:failed;", "failed state recorded");
	is_int(MDEPLOY_ENOTFOUND, mdeploy_store_journal_begin(st, "d-missing", "x", NULL, NULL, NULL),
	       "journal for an unknown deployment refused");
	is_int(MDEPLOY_ENOTFOUND, mdeploy_store_journal_end(st, id, 99, 1, NULL), "unknown step refused");

	is_int(0, mdeploy_store_deployment_set_status(st, id, "Failed", "install failed on i-1"), "set status");
	mdeploy_store_deployment_get(st, id, &d);
	is_str("Failed", mdeploy_deployment_record_of(d)->status, "status stored");
	is_str("install failed on i-1", mdeploy_deployment_record_of(d)->error, "error stored");
	ok(mdeploy_deployment_record_of(d)->completed_at > 0, "final status sets completed_at");
	mdeploy_deployment_free(d);
	is_int(0, mdeploy_store_deployment_set_data(st, id2, "{\"green\":\"v3\"}"), "set data");
	mdeploy_store_deployment_get(st, id2, &d);
	is_str("{\"green\":\"v3\"}", mdeploy_deployment_record_of(d)->data, "data stored");
	mdeploy_deployment_free(d);
	memset(&c, 0, sizeof(c));
	mdeploy_store_deployment_foreach(st, "moodle", "prod", 0, deploy_cb, &c);
	is_int(2, c.n, "history lists both");
	memset(&c, 0, sizeof(c));
	mdeploy_store_deployment_foreach(st, "moodle", "staging", 0, deploy_cb, &c);
	is_int(0, c.n, "history filters by group");

	is_int(0, mdeploy_store_value_set(st, "group/moodle/prod/live", "moodle-prod-v002"), "set a value");
	is_int(0, mdeploy_store_value_get(st, "group/moodle/prod/live", &val), "get it");
	is_str("moodle-prod-v002", val, "value");
	free(val);
	mdeploy_store_value_set(st, "group/moodle/prod/live", NULL);
	is_int(MDEPLOY_ENOTFOUND, mdeploy_store_value_get(st, "group/moodle/prod/live", &val), "deleted");

	/* --- locks in one process --- */
	memset(&info, 0xff, sizeof(info));
	is_int(0, mdeploy_store_lock_acquire(st, "moodle/prod", NULL, &info), "acquire a free lock");
	is_str("", info.name, "no takeover reported");
	is_int(0, mdeploy_store_lock_acquire(st, "moodle/prod", NULL, NULL), "re-acquire by the holder");
	is_int(0, mdeploy_store_lock_get(st, "moodle/prod", &info), "describe the holder");
	is_int((long long)getpid(), info.pid, "holder pid");
	ok(info.heartbeat_at > 0 && info.host[0], "holder host and heartbeat recorded");
	lo.owner = "d-someoneelse";
	rc = mdeploy_store_lock_acquire(st, "moodle/prod", &lo, NULL);
	is_int(MDEPLOY_ELOCKED, rc, "another owner is refused while the holder lives");
	like(mdeploy_error_last()->message, "is locked by", "error names the holder");
	is_int(0, mdeploy_store_lock_heartbeat(st, "moodle/prod"), "heartbeat");
	is_int(0, mdeploy_store_lock_release(st, "moodle/prod"), "release");
	is_int(MDEPLOY_ENOTFOUND, mdeploy_store_lock_release(st, "moodle/prod"), "release twice: ENOTFOUND");
	is_int(MDEPLOY_ELOCKED, mdeploy_store_lock_heartbeat(st, "moodle/prod"), "heartbeat of a lost lock: ELOCKED");

	/* A lock held from another host: alive while its heartbeat is fresh. */
	{
		char sql[512];
		snprintf(sql, sizeof(sql), "INSERT INTO locks VALUES ('moodle/remote', 'd-remote', 'other-host', 1, 1, 0, %lld)",
		         (long long)mdeploy_store__unix_ms());
		mdeploy_store__exec(st, sql);
		lo.owner = NULL;
		lo.stale_ms = 60000;
		is_int(MDEPLOY_ELOCKED, mdeploy_store_lock_acquire(st, "moodle/remote", &lo, NULL),
		       "another host's lock with a fresh heartbeat holds");
		lo.stale_ms = 1;
		usleep(5000);
		warnings[0] = '\0';
		is_int(0, mdeploy_store_lock_acquire(st, "moodle/remote", &lo, &info),
		       "another host's lock with a stale heartbeat is taken over");
		is_str("other-host", info.host, "takeover reports the dead holder");
		like(warnings, "taking over from dead owner 'd-remote'", "takeover logs a warning");
		mdeploy_store_lock_release(st, "moodle/remote");
		lo.stale_ms = 60000;
	}

	/* --- two or more processes --- */
	test_race(state);
	warnings[0] = '\0';
	is_int(0, mdeploy_store_lock_acquire(st, "app/prod", NULL, &info),
	       "after the racers exit, their lock is taken over");
	like(warnings, "taking over from dead owner", "with a warning");
	mdeploy_store_lock_release(st, "app/prod");

	/* kill -9 of the owner */
	if (pipe(p) == 0 && (pid = fork()) == 0) {
		mdeploy_ctx *cctx = new_ctx(state);
		mdeploy_store *cst = NULL;
		mdeploy_lock_options co = MDEPLOY_LOCK_OPTIONS_INIT;
		close(p[0]);
		co.owner = "d-killed";
		if (!cctx || mdeploy_store_open(&cst, cctx, NULL) || mdeploy_store_lock_acquire(cst, "moodle/prod", &co, NULL))
			_exit(1);
		if (write(p[1], "L", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	{
		char ch = 0;
		ok(read(p[0], &ch, 1) == 1 && ch == 'L', "child holds the lock");
		close(p[0]);
	}
	lo.owner = NULL;
	lo.wait_ms = 0;
	is_int(MDEPLOY_ELOCKED, mdeploy_store_lock_acquire(st, "moodle/prod", &lo, NULL),
	       "a live owner in another process holds the lock");
	like(mdeploy_error_last()->message, "d-killed", "error names the owner");
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	warnings[0] = '\0';
	{
		/* A caller that must not inherit unfinished work is refused, and told who died. */
		mdeploy_lock_options no = MDEPLOY_LOCK_OPTIONS_INIT;
		mdeploy_lock_info dead;
		no.flags = MDEPLOY_LOCK_NO_TAKEOVER;
		no.wait_ms = 5000;
		t0 = mdeploy__now_ms();
		is_int(MDEPLOY_ELOCKED, mdeploy_store_lock_acquire(st, "moodle/prod", &no, &dead),
		       "NO_TAKEOVER: a dead owner's lock is refused");
		ok(mdeploy__now_ms() - t0 < 2000, "at once, without waiting for a dead owner");
		is_str("d-killed", dead.owner, "the dead holder is described");
		like(mdeploy_error_last()->message, "which is gone", "the error says it is gone");
		is_str("", warnings, "nothing was taken over");
	}
	is_int(0, mdeploy_store_lock_acquire(st, "moodle/prod", &lo, &info), "kill -9'd owner: lock taken over");
	is_int((long long)pid, info.pid, "previous holder is the killed pid");
	is_str("d-killed", info.owner, "previous owner reported");
	like(warnings, "dead owner 'd-killed'", "warning logged");
	mdeploy_store_lock_release(st, "moodle/prod");

	/* --wait: queue behind a live owner until it releases */
	if (pipe(p) == 0 && (pid = fork()) == 0) {
		mdeploy_ctx *cctx = new_ctx(state);
		mdeploy_store *cst = NULL;
		close(p[0]);
		if (!cctx || mdeploy_store_open(&cst, cctx, NULL) || mdeploy_store_lock_acquire(cst, "moodle/prod", NULL, NULL))
			_exit(1);
		if (write(p[1], "L", 1) != 1)
			_exit(1);
		usleep(400000);
		mdeploy_store_lock_release(cst, "moodle/prod");
		for (;;)
			pause();
	}
	close(p[1]);
	{
		char ch = 0;
		if (read(p[0], &ch, 1) != 1)
			diag("child failed");
		close(p[0]);
	}
	t0 = mdeploy__now_ms();
	lo.wait_ms = 100;
	is_int(MDEPLOY_ELOCKED, mdeploy_store_lock_acquire(st, "moodle/prod", &lo, NULL), "short wait times out");
	ok(mdeploy__now_ms() - t0 >= 100, "it waited");
	lo.wait_ms = 10000;
	warnings[0] = '\0';
	is_int(0, mdeploy_store_lock_acquire(st, "moodle/prod", &lo, &info), "--wait gets it once released");
	is_str("", info.name, "a clean release is no takeover");
	is_str("", warnings, "and no warning");
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	test_fifo(st, state);

	mdeploy_store_free(st);
	mdeploy_ctx_free(ctx);
	free(state);
	return done();
}
