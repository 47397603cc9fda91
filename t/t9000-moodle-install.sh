#!/bin/sh
# The real-Moodle test bed itself: PostgreSQL 15 started by the test, the
# Moodle 4.5.0 tree from the cached repository, PHP with what Moodle needs:
# admin/cli/install_database.php installs a site that serves its login page.
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-deploy.sh"
. "$top_srcdir/t/lib-moodle.sh"
moodle_test_init 71
moodle_has_ref v4.5.0 || skip_all "the Moodle repository has no tag v4.5.0"

plan 6
ok_cmd "PostgreSQL starts on its own port with its socket in the test directory" moodle_pg_start
ok_cmd "an empty database for the site" moodle_pg_createdb moodle
is "$(php -r 'echo ini_get("max_input_vars");')" 5000 "PHP CLI has max_input_vars 5000"

moodle_export v4.5.0 "$TMP/moodle" || exit 1
mkdir -p "$TMP/moodledata"
cat >"$TMP/moodle/config.php" <<EOF
<?php
unset(\$CFG);
global \$CFG;
\$CFG = new stdClass();
\$CFG->dbtype = 'pgsql';
\$CFG->dblibrary = 'native';
\$CFG->dbhost = '127.0.0.1';
\$CFG->dbname = 'moodle';
\$CFG->dbuser = 'moodle';
\$CFG->dbpass = getenv('TEST_DBPASS');
\$CFG->prefix = 'mdl_';
\$CFG->dboptions = array('dbport' => '$MOODLE_PGPORT');
\$CFG->wwwroot = 'http://127.0.0.1:$port';
\$CFG->dataroot = '$TMP/moodledata';
\$CFG->directorypermissions = 02777;
require_once(__DIR__ . '/lib/setup.php');
EOF
t0=$(date +%s)
TEST_DBPASS=$MOODLE_PGPASS php "$TMP/moodle/admin/cli/install_database.php" --agree-license \
	--adminpass=Test-admin-1 --fullname="mdeploy test" --shortname=mdt >"$TMP/install.log" 2>&1
rc=$?
is "$rc" 0 "admin/cli/install_database.php installs Moodle 4.5.0 ($(($(date +%s) - t0)) s)"
[ "$rc" = 0 ] || diag "$(tail -n 20 "$TMP/install.log")"
is "$(moodle_psql moodle "SELECT value FROM mdl_config WHERE name = 'version'")" 2024100700 \
	"the database has the release's version"

(cd "$TMP/moodle" && TEST_DBPASS=$MOODLE_PGPASS exec php -S "127.0.0.1:$port" >"$TMP/php.log" 2>&1) &
server=$!
i=0
while [ $i -lt 50 ] && ! curl -s -o /dev/null "http://127.0.0.1:$port/"; do sleep 0.1; i=$((i + 1)); done
is "$(curl -s -o /dev/null -w '%{http_code}' -m 30 "http://127.0.0.1:$port/login/index.php")" 200 \
	"the login page answers 200"
kill "$server"
wait "$server" 2>/dev/null
done_testing
