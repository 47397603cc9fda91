# lib-pg.sh - a private PostgreSQL 15 for the fixture tests of the steps
# that touch a database (the backup before an upgrade, its restore), with
# lib-moodle.sh's cluster helpers. Source after lib.sh and lib-deploy.sh:
#   . "$top_srcdir/t/lib-pg.sh"; pg_test_init
#
# pg_test_init: skips the test without PostgreSQL's server or its clients
# (psql, pg_dump, pg_restore); starts a cluster (moodle_pg_start: its own
# port $MOODLE_PGPORT on 127.0.0.1, the password $MOODLE_PGPASS) stopped
# when the test exits, after deploy_test_init's cleanup is set;
# pg_site_db NAME: a database NAME owned by role NAME with a Moodle-like
# mdl_config table (version 2024100700) and mdl_post table;
# pg_site_config DIR NAME: DIR/config.php as Moodle's, for database NAME,
# its password read from $TEST_DBPASS (exported here).
# pg_sql NAME SQL: runs SQL in NAME as the superuser.
. "$top_srcdir/t/lib-moodle.sh"

pg_test_init() {
	MOODLE_PGBIN=
	for _d in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
		[ -x "$_d/initdb" ] && [ -x "$_d/pg_ctl" ] && { MOODLE_PGBIN=$_d; break; }
	done
	[ -n "$MOODLE_PGBIN" ] || skip_all "PostgreSQL server missing (apt-get install -y postgresql)"
	for _c in psql pg_dump pg_restore; do
		command -v "$_c" >/dev/null || skip_all "$_c missing (apt-get install -y postgresql-client)"
	done
	if [ "$(id -u)" = 0 ]; then
		id postgres >/dev/null 2>&1 || skip_all "running as root without a 'postgres' user"
		chmod 711 "$TMP"
	fi
	trap moodle_test_cleanup EXIT
	moodle_pg_start || { echo "Bail out! PostgreSQL did not start"; exit 1; }
	TEST_DBPASS=$MOODLE_PGPASS
	export TEST_DBPASS
}

pg_sql() { moodle_psql "$@"; }

pg_site_db() {
	moodle_pg_createdb "$1" || return 1
	moodle_psql "$1" "SET ROLE \"$1\";
		CREATE TABLE mdl_config (id BIGSERIAL PRIMARY KEY, name VARCHAR(255) UNIQUE NOT NULL, value TEXT NOT NULL);
		INSERT INTO mdl_config (name, value) VALUES ('version', '2024100700');
		CREATE TABLE mdl_post (id BIGSERIAL PRIMARY KEY, message TEXT NOT NULL);
		INSERT INTO mdl_post (message) VALUES ('written before the upgrade');" >/dev/null
}

pg_site_config() {
	cat >"$1/config.php" <<EOT
<?php
unset(\$CFG);
global \$CFG;
\$CFG = new stdClass();
\$CFG->dbtype    = 'pgsql';
\$CFG->dblibrary = 'native';
\$CFG->dbhost    = '127.0.0.1';
\$CFG->dbname    = '$2';
\$CFG->dbuser    = '$2';
\$CFG->dbpass    = getenv('TEST_DBPASS');
\$CFG->prefix    = 'mdl_';
\$CFG->dboptions = array('dbport' => '$MOODLE_PGPORT');
EOT
}
