# lib-moodle.sh - the real-Moodle test bed (t9xxx tests, `make check-moodle`).
# Source after lib.sh and lib-deploy.sh:
#   . "$top_srcdir/t/lib.sh"; . "$top_srcdir/t/lib-deploy.sh"; . "$top_srcdir/t/lib-moodle.sh"
#   moodle_test_init 71
#
# moodle_test_init SALT: deploy_test_init SALT, then skips the test unless a
# Moodle git repository, PostgreSQL 15's server and PHP with the extensions
# Moodle needs are here. The repository is $MDEPLOY_MOODLE_GIT (any Moodle
# git repository or bundle, e.g. https://github.com/moodle/moodle.git), else
# ../shared/moodle/moodle-releases.bundle next to the source tree. It is
# cloned bare once into $top_builddir/t/moodle-cache/moodle.git, shared by
# all tests ($MOODLE_GIT); MDEPLOY_MOODLE_REFRESH=1 fetches it again. PHP's
# CLI and the instances' servers (which inherit the environment) read
# $MOODLE_PHP_INI (max_input_vars = 5000) through PHP_INI_SCAN_DIR.
#
# moodle_pg_start: a private PostgreSQL cluster in $TMP/pg: its own port
# ($MOODLE_PGPORT, on 127.0.0.1 only), its unix socket in $TMP/pg/run, a
# generated password ($MOODLE_PGPASS, never on a command line) for
# connections over TCP; stopped when the test exits.
# moodle_pg_createdb NAME: an empty UTF-8 database NAME owned by role NAME,
# whose password is $MOODLE_PGPASS.
# moodle_psql DB SQL: runs SQL in DB as the superuser over the socket,
# unaligned, tuples only.
# moodle_clone REF DIR: a working clone of the cached repository at REF
# (objects shared with the cache), for commits of the test's own.
# moodle_export REF DIR: the tree of REF without .git.
#
# An installed site in seconds (a fresh install is ~3 minutes of CPU):
# moodle_site_restore TAG DB DATAROOT: an installed Moodle TAG site in
# database DB (created, owned by role DB, password $MOODLE_PGPASS) of this
# test's cluster and in DATAROOT (created), with the admin user `admin`,
# password $MOODLE_ADMINPASS, full name "mdeploy test", short name mdt,
# prefix mdl_. The first test to ask for TAG installs it once per build tree
# with admin/cli/install_database.php (in the asking test's cluster, under a
# lock: the others wait) into $MOODLE_CACHE/site-TAG-COMMIT.pgdump (pg_dump -Fc)
# and site-TAG-COMMIT.dataroot.tar (caches left out), keyed by the commit TAG
# names; each later call restores them. Moodle keeps no path or URL of the
# install in the database, so any wwwroot, dataroot and database name work.
# The restored site looks as if cron had just run (tool_task's lastcronstart
# is now, its queued ad hoc tasks are due now: a cache older than 4 hours
# made checks.php CRITICAL, "Oldest unprocessed task"), so admin/cli/checks.php
# passes; cron itself never ran.
# Example (first install and upgrade tests can start from here):
#   moodle_pg_start && moodle_site_restore v4.5.0 moodle "$TMP/moodledata"
# moodle_site_install TAG DIR DB DATAROOT: install_database.php of TAG's tree
# in DIR (exported when missing) into a new DB and DATAROOT; what the cache
# is made with.
#
# A site deployed by mdeploy (the deployment tests start from here):
# moodle_bundle DIR BUNDLE: the release tree in DIR with this source tree's
# default hooks (hooks/appspec.yml, hooks/mdeploy-hooks) bundled as BUNDLE;
# DIR is removed.
# moodle_debug_log DB: Moodle's debugging at DEVELOPER level, not displayed:
# PHP's notices and Moodle's exceptions go to the servers' logs, so a 500
# says why.
# moodle_group_prod: in the current directory, an mdeploy.yml of application
# moodle with one group, prod: 2 instances on $port, its load balancer on
# 127.0.0.1:$lbport ($lb is its URL), the default deployment config and
# health check; prod's parameters MOODLE_DBHOST/DBPORT/DBNAME/DBUSER (the
# database moodle of this test's cluster) and MOODLE_DATAROOT
# ($TMP/moodledata), its secret MOODLE_DBPASS.

MOODLE_PHP_EXTENSIONS="pgsql xml mbstring curl zip gd intl soap"

moodle_find_git() {
	if [ -n "${MDEPLOY_MOODLE_GIT:-}" ]; then
		printf '%s' "$MDEPLOY_MOODLE_GIT"
		return 0
	fi
	_mg=$(cd "$top_srcdir/.." && pwd)/shared/moodle/moodle-releases.bundle
	[ -f "$_mg" ] || return 1
	printf '%s' "$_mg"
}

# moodle_repo_init: $MOODLE_GIT, the shared bare clone of the Moodle
# repository (made on first use); skips the test when there is none. For
# tests of the real trees that need no database or PHP (source, bundles).
moodle_repo_init() {
	MOODLE_SOURCE=$(moodle_find_git) ||
		skip_all "no Moodle git repository: set MDEPLOY_MOODLE_GIT to one" \
			"(e.g. https://github.com/moodle/moodle.git or a local clone or bundle)" \
			"or put moodle-releases.bundle in ../shared/moodle/"
	MOODLE_CACHE="$top_builddir/t/moodle-cache"
	MOODLE_GIT="$MOODLE_CACHE/moodle.git"
	mkdir -p "$MOODLE_CACHE" || skip_all "cannot create $MOODLE_CACHE"
	# One clone for every test, whichever starts first makes it.
	if ! (
		flock 9
		if [ ! -f "$MOODLE_GIT/mdeploy-source" ]; then
			rm -rf "$MOODLE_GIT.tmp"
			git clone -q --bare "$MOODLE_SOURCE" "$MOODLE_GIT.tmp" >&2 || exit 1
			printf '%s\n' "$MOODLE_SOURCE" >"$MOODLE_GIT.tmp/mdeploy-source"
			rm -rf "$MOODLE_GIT" && mv "$MOODLE_GIT.tmp" "$MOODLE_GIT"
		elif [ -n "${MDEPLOY_MOODLE_REFRESH:-}" ] ||
		     [ "$(cat "$MOODLE_GIT/mdeploy-source")" != "$MOODLE_SOURCE" ]; then
			git -C "$MOODLE_GIT" fetch -q --prune --force "$MOODLE_SOURCE" \
				'+refs/heads/*:refs/heads/*' '+refs/tags/*:refs/tags/*' >&2 || exit 1
			printf '%s\n' "$MOODLE_SOURCE" >"$MOODLE_GIT/mdeploy-source"
		fi
	) 9>"$MOODLE_CACHE/lock"; then
		skip_all "cannot clone the Moodle repository '$MOODLE_SOURCE'"
	fi
}

moodle_test_init() {
	deploy_test_init "$1"
	MOODLE_SOURCE=$(moodle_find_git) ||
		skip_all "no Moodle git repository: set MDEPLOY_MOODLE_GIT to one" \
			"(e.g. https://github.com/moodle/moodle.git or a local clone or bundle)" \
			"or put moodle-releases.bundle in ../shared/moodle/"
	MOODLE_PGBIN=
	for _d in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
		[ -x "$_d/initdb" ] && [ -x "$_d/pg_ctl" ] && { MOODLE_PGBIN=$_d; break; }
	done
	[ -n "$MOODLE_PGBIN" ] || skip_all "PostgreSQL server missing (apt-get install -y postgresql)"
	command -v psql >/dev/null || skip_all "psql missing (apt-get install -y postgresql-client)"
	_missing=
	for _e in $MOODLE_PHP_EXTENSIONS; do
		php -r "exit(extension_loaded('$_e') ? 0 : 1);" 2>/dev/null || _missing="$_missing php8.2-$_e"
	done
	[ -z "$_missing" ] || skip_all "PHP extensions Moodle needs are missing:$_missing"
	if [ "$(id -u)" = 0 ]; then
		# PostgreSQL refuses to run as root: its files belong to `postgres`,
		# which must be able to reach them through $TMP.
		id postgres >/dev/null 2>&1 || skip_all "running as root without a 'postgres' user"
		chmod 711 "$TMP"
	fi

	moodle_repo_init

	mkdir -p "$TMP/php.d"
	MOODLE_PHP_INI="$TMP/php.d/90-mdeploy-moodle.ini"
	cat >"$MOODLE_PHP_INI" <<'EOF'
; What Moodle's installer and admin pages need (see TESTING-NOTES.md).
max_input_vars = 5000
memory_limit = 512M
EOF
	# A leading ':' keeps PHP's own scan directory.
	export PHP_INI_SCAN_DIR=":$TMP/php.d"
	MOODLE_PGPORT=
	trap moodle_test_cleanup EXIT
}

# moodle_has_ref REF: the cached repository has REF.
moodle_has_ref() {
	git --git-dir="$MOODLE_GIT" rev-parse -q --verify "$1^{commit}" >/dev/null
}

moodle_clone() {
	git clone -q --shared --no-checkout "$MOODLE_GIT" "$2" &&
		git -C "$2" checkout -q -B mdeploy-test "$1"
}

moodle_export() {
	mkdir -p "$2" && git --git-dir="$MOODLE_GIT" archive "$1" | tar -x -C "$2"
}

# Run a PostgreSQL program as the cluster's owner.
moodle_pg_as() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

moodle_pg_start() {
	MOODLE_PGDATA="$TMP/pg/data"
	MOODLE_PGSOCKET="$TMP/pg/run"
	MOODLE_PGPORT=$(free_port) || { diag "no free port for PostgreSQL"; return 1; }
	MOODLE_PGPASS=$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')
	mkdir -p "$TMP/pg/run" || return 1
	(umask 077 && printf '%s\n' "$MOODLE_PGPASS" >"$TMP/pg/pwfile")
	[ "$(id -u)" = 0 ] && chown -R postgres "$TMP/pg"
	# Socket connections (only the cluster's owner can reach the directory)
	# are trusted; TCP connections, on 127.0.0.1 only, need the password.
	moodle_pg_as "$MOODLE_PGBIN/initdb" -D "$MOODLE_PGDATA" -U postgres -E UTF8 --locale=C.UTF-8 \
		--auth-local=trust --auth-host=scram-sha-256 --pwfile="$TMP/pg/pwfile" \
		>"$TMP/pg/initdb.log" 2>&1 || { diag "initdb failed:" "$(tail -n 5 "$TMP/pg/initdb.log")"; return 1; }
	rm -f "$TMP/pg/pwfile"
	chmod 700 "$TMP/pg/run"
	# A test cluster: durability traded for speed (a Moodle install writes a lot).
	cat >>"$MOODLE_PGDATA/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $MOODLE_PGPORT
unix_socket_directories = '$MOODLE_PGSOCKET'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 50
EOF
	moodle_pg_as "$MOODLE_PGBIN/pg_ctl" -D "$MOODLE_PGDATA" -l "$TMP/pg/server.log" -w -t 60 start \
		>/dev/null 2>&1 || { diag "PostgreSQL did not start:" "$(tail -n 5 "$TMP/pg/server.log")"; return 1; }
}

moodle_psql() {
	moodle_pg_as psql -X -q -A -t -v ON_ERROR_STOP=1 -h "$MOODLE_PGSOCKET" -p "$MOODLE_PGPORT" \
		-U postgres -d "$1" -c "$2"
}

moodle_pg_createdb() {
	# The password goes through psql's standard input, not its arguments.
	printf "CREATE ROLE \"%s\" LOGIN PASSWORD '%s';\nCREATE DATABASE \"%s\" OWNER \"%s\" ENCODING 'UTF8';\n" \
		"$1" "$MOODLE_PGPASS" "$1" "$1" |
		moodle_pg_as psql -X -q -v ON_ERROR_STOP=1 -h "$MOODLE_PGSOCKET" -p "$MOODLE_PGPORT" \
			-U postgres -d postgres >/dev/null
}

moodle_pg_stop() {
	[ -n "${MOODLE_PGPORT:-}" ] && [ -f "$MOODLE_PGDATA/postmaster.pid" ] || return 0
	moodle_pg_as "$MOODLE_PGBIN/pg_ctl" -D "$MOODLE_PGDATA" -m fast -w -t 30 stop >/dev/null 2>&1
}

moodle_test_cleanup() {
	moodle_pg_stop
	deploy_test_cleanup
}

MOODLE_ADMINPASS=Test-admin-1

# A config.php for tree DIR on database DB and DATAROOT; the password comes
# from the environment ($MOODLE_TEST_DBPASS), never from the file or argv.
moodle_write_config() {
	cat >"$1/config.php" <<EOF
<?php
unset(\$CFG);
global \$CFG;
\$CFG = new stdClass();
\$CFG->dbtype = 'pgsql';
\$CFG->dblibrary = 'native';
\$CFG->dbhost = '127.0.0.1';
\$CFG->dbname = '$2';
\$CFG->dbuser = '$2';
\$CFG->dbpass = getenv('MOODLE_TEST_DBPASS');
\$CFG->prefix = 'mdl_';
\$CFG->dboptions = array('dbport' => '$MOODLE_PGPORT');
\$CFG->wwwroot = 'http://127.0.0.1';
\$CFG->dataroot = '$3';
\$CFG->directorypermissions = 02777;
require_once(__DIR__ . '/lib/setup.php');
EOF
}

moodle_site_install() {
	[ -d "$2" ] || moodle_export "$1" "$2" || return 1
	mkdir -p "$4" || return 1
	moodle_pg_createdb "$3" || return 1
	moodle_write_config "$2" "$3" "$4" || return 1
	# Through the hooks' wrapper: the admin password stays off the command line.
	MOODLE_TEST_DBPASS=$MOODLE_PGPASS MDH_ADMINPASS=$MOODLE_ADMINPASS MDH_ADMINEMAIL=admin@example.org \
		MDH_FULLNAME="mdeploy test" MDH_SHORTNAME=mdt \
		php "$top_srcdir/hooks/mdeploy-hooks/install-database.php" "$2/admin/cli/install_database.php" \
		>"$TMP/install-$3.log" 2>&1 ||
		{ diag "install_database.php failed:" "$(tail -n 20 "$TMP/install-$3.log")"; return 1; }
	rm -f "$2/config.php"
}

moodle_site_cache() {
	_msc_commit=$(git --git-dir="$MOODLE_GIT" rev-parse -q --verify "$1^{commit}") ||
		{ diag "no $1 in $MOODLE_GIT"; return 1; }
	MOODLE_SITE_DUMP="$MOODLE_CACHE/site-$1-$_msc_commit.pgdump"
	MOODLE_SITE_DATA="$MOODLE_CACHE/site-$1-$_msc_commit.dataroot.tar"
	[ -f "$MOODLE_SITE_DUMP" ] && [ -f "$MOODLE_SITE_DATA" ] && return 0
	(
		flock 9
		[ -f "$MOODLE_SITE_DUMP" ] && [ -f "$MOODLE_SITE_DATA" ] && exit 0
		_t0=$(date +%s)
		_db=mdeploy_site_cache
		_tree="$TMP/site-cache-tree" _data="$TMP/site-cache-data"
		rm -rf "$_tree" "$_data"
		moodle_site_install "$1" "$_tree" "$_db" "$_data" || exit 1
		moodle_pg_as pg_dump -Fc -h "$MOODLE_PGSOCKET" -p "$MOODLE_PGPORT" -U postgres --no-owner \
			--no-privileges "$_db" >"$MOODLE_SITE_DUMP.tmp" || exit 1
		tar -C "$_data" -cf "$MOODLE_SITE_DATA.tmp" --exclude=./cache --exclude=./localcache \
			--exclude=./sessions --exclude=./temp --exclude=./trashdir . || exit 1
		mv "$MOODLE_SITE_DUMP.tmp" "$MOODLE_SITE_DUMP" && mv "$MOODLE_SITE_DATA.tmp" "$MOODLE_SITE_DATA" || exit 1
		moodle_psql postgres "DROP DATABASE $_db" >/dev/null
		moodle_psql postgres "DROP ROLE $_db" >/dev/null
		rm -rf "$_tree" "$_data"
		diag "installed Moodle $1 once for the site cache in $(($(date +%s) - _t0)) s"
	) 9>"$MOODLE_CACHE/site-$1.lock"
}

moodle_site_restore() {
	moodle_site_cache "$1" || return 1
	moodle_pg_createdb "$2" || return 1
	moodle_pg_as pg_restore -h "$MOODLE_PGSOCKET" -p "$MOODLE_PGPORT" -U postgres --no-owner \
		--role="$2" -d "$2" <"$MOODLE_SITE_DUMP" || { diag "pg_restore of $MOODLE_SITE_DUMP failed"; return 1; }
	moodle_psql "$2" "DELETE FROM mdl_config_plugins WHERE plugin = 'tool_task' AND name IN ('lastcronstart', 'lastcroninterval');
		INSERT INTO mdl_config_plugins (plugin, name, value) VALUES
		('tool_task', 'lastcronstart', extract(epoch FROM now())::bigint::text), ('tool_task', 'lastcroninterval', '60');
		UPDATE mdl_task_adhoc SET nextruntime = extract(epoch FROM now())::bigint,
			timecreated = extract(epoch FROM now())::bigint" ||
		return 1
	mkdir -p "$3" && tar -C "$3" -xf "$MOODLE_SITE_DATA"
}

moodle_bundle() {
	cp "$top_srcdir/hooks/appspec.yml" "$1/" && cp -R "$top_srcdir/hooks/mdeploy-hooks" "$1/" &&
		"$MDEPLOY" -q bundle create "$1" "$2" >/dev/null && rm -rf "$1"
}

moodle_debug_log() {
	moodle_psql "$1" "UPDATE mdl_config SET value = '32767' WHERE name = 'debug';
	UPDATE mdl_config SET value = '0' WHERE name = 'debugdisplay'" >/dev/null
}

moodle_group_prod() {
	cat >mdeploy.yml <<EOF
application:
  name: moodle
groups:
  - name: prod
    fleet: { size: 2, port: $port }
    load_balancer: { listen: 127.0.0.1:$lbport }
EOF
	lb="http://127.0.0.1:$lbport"
	for _kv in MOODLE_DBHOST=127.0.0.1 MOODLE_DBPORT="$MOODLE_PGPORT" MOODLE_DBNAME=moodle MOODLE_DBUSER=moodle \
		MOODLE_DATAROOT="$TMP/moodledata"; do
		"$MDEPLOY" -q params put "/moodle/prod/${_kv%%=*}" "${_kv#*=}" >/dev/null || return 1
	done
	printf '%s' "$MOODLE_PGPASS" | "$MDEPLOY" -q secrets put moodle/prod/MOODLE_DBPASS >/dev/null
}
