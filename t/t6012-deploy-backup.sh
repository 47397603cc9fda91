#!/bin/sh
# The database backup before every upgrade, on a real PostgreSQL: the
# upgrade gate dumps the database the release's config.php names (pg_dump
# -Fc, the site's tables) after maintenance goes on and before the upgrade;
# the file is kept 0600 in the state directory and recorded in the journal
# (path, bytes, sha256, ms); the password is never on a command line nor in
# the journal. A failed backup stops the deployment before the upgrade: the
# database untouched, maintenance off again, the old release serving.
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-deploy.sh"
deploy_test_init 97
. "$top_srcdir/t/lib-pg.sh"
pg_test_init
pg_site_db site || exit 1
export MDEPLOY_TEST_DATAROOT="$TMP/dataroot"
mkdir -p "$MDEPLOY_TEST_DATAROOT" "$TMP/bin"

# pg_dump as it is, recording its arguments and whether it got a password
# in its environment; failing on demand.
real_pg_dump=$(command -v pg_dump)
cat >"$TMP/bin/pg_dump" <<EOF
#!/bin/sh
printf '%s\n' "\$*" >>"$TMP/pg_dump.argv"
[ -n "\${PGPASSWORD:-}" ] && echo "PGPASSWORD set" >>"$TMP/pg_dump.argv"
[ ! -f "$TMP/fail-dump" ] || { echo "pg_dump: error: failing on purpose" >&2; exit 1; }
exec "$real_pg_dump" "\$@"
EOF
chmod +x "$TMP/bin/pg_dump"
export PATH="$TMP/bin:$PATH"

# mkrel NAME VERSION: a release of the "site" database: its upgrade hook
# sets the version and adds a table; ValidateService wants the version.
mkrel() {
	mkdir -p "$1/hooks" "$1/admin/cli"
	# Like Moodle's lib/setup.php: in maintenance every page is the maintenance page, 503 with Retry-After.
	cat >"$1/index.php" <<EOT
<?php
if (file_exists(getenv('MDEPLOY_TEST_DATAROOT') . '/climaintenance.html')) {
	header(\$_SERVER['SERVER_PROTOCOL'] . ' 503 Moodle under maintenance');
	header('Retry-After: 300');
	echo "maintenance page of $1\\n";
	exit;
}
echo "release $1\\n";
EOT
	pg_site_config "$1" site
	cat >"$1/admin/cli/maintenance.php" <<'EOT'
<?php
$d = getenv('MDEPLOY_TEST_DATAROOT');
if ($argv[1] === '--enable') { file_put_contents("$d/climaintenance.html", 'on'); }
else { @unlink("$d/climaintenance.html"); }
file_put_contents("$d/log", "maintenance $argv[1]\n", FILE_APPEND);
EOT
	cat >"$1/admin/cli/purge_caches.php" <<'EOT'
<?php
// What Moodle's would purge depends on the options; whether the site was in maintenance then.
$d = getenv('MDEPLOY_TEST_DATAROOT');
file_put_contents("$d/log", "purge caches " . (file_exists("$d/climaintenance.html") ? "in-maintenance" : "serving") .
	" " . implode(' ', array_slice($argv, 1)) . "\n", FILE_APPEND);
EOT
	cat >"$1/appspec.yml" <<'EOT'
version: 0.0
os: linux
hooks:
  AfterInstall:
    - location: hooks/upgrade.sh
      scope: once
  ValidateService:
    - location: hooks/validate.sh
EOT
	cat >"$1/hooks/upgrade.sh" <<EOT
#!/bin/sh
echo "upgrade on \$MDEPLOY_INSTANCE_ID" >>"\$MDEPLOY_TEST_DATAROOT/log"
# What users get through the load balancer during the window, once its
# health checks (every 100 ms) have seen the maintenance page.
sleep 1
curl -s -m 5 -D "$TMP/window.headers" -o "$TMP/window.body" "http://127.0.0.1:$lbport/"
PGPASSWORD=\$TEST_DBPASS psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p $MOODLE_PGPORT -U site -d site -c \
	"UPDATE mdl_config SET value = '$2' WHERE name = 'version'; CREATE TABLE IF NOT EXISTS mdl_added_$2 (id BIGSERIAL PRIMARY KEY);"
EOT
	cat >"$1/hooks/validate.sh" <<EOT
#!/bin/sh
v=\$(PGPASSWORD=\$TEST_DBPASS psql -X -A -t -h 127.0.0.1 -p $MOODLE_PGPORT -U site -d site -c \
	"SELECT value FROM mdl_config WHERE name = 'version'")
[ "\$v" = $2 ] || { echo "CRITICAL: database version \$v, release $2" >&2; exit 2; }
EOT
	chmod +x "$1/hooks/upgrade.sh" "$1/hooks/validate.sh"
	printf '{"components": {"core": "%s"}}\n' "$2" >"$1.json"
	"$MDEPLOY" -q bundle create --source-json "$1.json" "$1" "$1.tar.zst" >/dev/null || exit 1
}
dbversion() { pg_sql site "SELECT value FROM mdl_config WHERE name = 'version'"; }

cd "$TMP" || exit 1
cat >mdeploy.yml <<EOF
application:
  name: up
groups:
  - name: prod
    fleet: { size: 2, min: 1, max: 4, port: $port }
    load_balancer: { listen: '127.0.0.1:$lbport', slots: 12 }
    health_check: { interval: 100ms, healthy_threshold: 1, unhealthy_threshold: 1 }
    drain_timeout: 1s
EOF
mkrel A 2024100700
mkrel C 2024100800
mkrel F 2024100900

run mdeploy deploy create prod A.tar.zst
is "$rc" 0 "first deployment"
[ "$rc" = 0 ] || diag "$err"
is "$(cat "$TMP/pg_dump.argv" 2>/dev/null)" "" "a first deployment (no upgrade gate) takes no backup"

# A failed backup: no upgrade, maintenance off again, A still serves.
: >"$MDEPLOY_TEST_DATAROOT/log"
: >"$TMP/fail-dump"
run mdeploy deploy create prod F.tar.zst
rm -f "$TMP/fail-dump"
is "$rc" 1 "a failed backup fails the deployment"
like "$err" "database backup: pg_dump" "the error names the backup and pg_dump"
like "$err" "failing on purpose" "and gives pg_dump's own message"
like "$err" "the upgrade did not run (the database is untouched)" "and says the upgrade did not run"
is "$(cut -d' ' -f1,2 "$MDEPLOY_TEST_DATAROOT/log" | tr '\n' ';')" "maintenance --enable;maintenance --disable;" \
	"maintenance went on, then off again; no upgrade ran"
is "$(dbversion)" 2024100700 "the database keeps A's version"
ok "$([ ! -f "$MDEPLOY_TEST_DATAROOT/climaintenance.html" ]; echo $?)" "maintenance is off"
is "$(curl -s -m 5 "http://127.0.0.1:$lbport/")" "release A" "A still serves"
run mdeploy --json deploy status
is "$(printf '%s' "$out" | jq -r '[.steps[] | .step] | index("upgrade")')" null "the journal has no upgrade step"
is "$(ls "$MDEPLOY_STATE_DIR/backups/up/prod/" 2>/dev/null)" "" "no partial backup file is left"

# The upgrade: a backup between maintenance on and the upgrade.
: >"$MDEPLOY_TEST_DATAROOT/log"
: >"$TMP/pg_dump.argv"
run mdeploy deploy create prod C.tar.zst
is "$rc" 0 "deployment of C with its upgrade"
[ "$rc" = 0 ] || diag "$err"
id=$out
is "$(dbversion)" 2024100800 "the database was upgraded"
run mdeploy --json deploy status "$id"
status=$out
steps=$(printf '%s' "$status" | jq -r '[.steps[] | .step] | join(",")')
like "$steps" "maintenance-on,backup,upgrade," "the backup comes after maintenance on and before the upgrade"
b=$(printf '%s' "$status" | jq -c '.steps[] | select(.step == "backup") | .backup')
file=$(printf '%s' "$b" | jq -r .path)
is "$file" "$MDEPLOY_STATE_DIR/backups/up/prod/$id.pgdump" "the journal records the backup's path, in the state directory"
is "$(printf '%s' "$b" | jq -r '"\(.method) \(.dbtype) \(.database)"')" "pg_dump pgsql site" "the method and the database"
is "$(printf '%s' "$b" | jq -r .bytes)" "$(stat -c %s "$file")" "the journal records its size"
is "$(printf '%s' "$b" | jq -r .sha256)" "$(sha256sum "$file" | cut -d' ' -f1)" "and its sha256"
ok "$(printf '%s' "$b" | jq -e '.ms >= 0' >/dev/null; echo $?)" "and how long it took"
is "$(stat -c %a "$file")" 600 "the backup file is mode 0600"
is "$(stat -c %a "$MDEPLOY_STATE_DIR/backups/up/prod")" 700 "its directory is mode 0700"
like "$(pg_restore -l "$file")" "TABLE DATA public mdl_config" "it is a pg_dump archive of the site's tables"
is "$(pg_restore -a -t mdl_config -f - "$file" | grep -c 2024100700)" 1 "taken before the upgrade (the old version in it)"
unlike "$(cat "$TMP/pg_dump.argv")" "$TEST_DBPASS" "the password is not on pg_dump's command line"
like "$(cat "$TMP/pg_dump.argv")" "PGPASSWORD set" "pg_dump got it in its environment"
unlike "$status" "$TEST_DBPASS" "the password is not in the journal or status"
ok "$(grep -rqF "$TEST_DBPASS" "$MDEPLOY_STATE_DIR" 2>/dev/null; [ $? = 1 ]; echo $?)" \
	"the password is in no file of the state directory"
run mdeploy deploy status "$id"
like "$out" "pg_dump of site: $file (" "deploy status shows the backup"

# The maintenance window through the load balancer: Moodle's page, not
# HAProxy's "no server" 503. The health checks fail during the window; the
# gate holds the targets in rotation from before maintenance goes on until
# it is off again.
like "$(head -n 1 "$TMP/window.headers")" "503 Moodle under maintenance" \
	"during the window the load balancer passes on the release's maintenance response"
like "$(tr "A-Z" "a-z" <"$TMP/window.headers")" "retry-after: 300" "with its Retry-After"
is "$(cat "$TMP/window.body")" "maintenance page of A" "and its page (served by blue, the live release)"
like "$steps" "lb-hold,maintenance-on,backup,upgrade," "the targets are held before maintenance goes on"
like "$steps" "purge-caches,maintenance-off,lb-release," "caches purged in maintenance; the targets released after it is off"
run mdeploy --json lb show up-prod
is "$(printf '%s' "$out" | jq -r '[.targets[] | select(.weight > 0) | .health] | unique | join(",")')" UP \
	"after the release the serving targets are UP by their health checks"
is "$(curl -s -m 5 "http://127.0.0.1:$lbport/")" "release C" "C serves"

# Rollback across the upgrade: refused, with the command that restores.
pg_sql site "INSERT INTO mdl_post (message) VALUES ('written after the upgrade')" >/dev/null
: >"$MDEPLOY_TEST_DATAROOT/log"
run mdeploy deploy rollback prod
is "$rc" 1 "rollback across the upgrade is refused"
like "$err" "deployment $id upgraded the database, and the previous release's code cannot run on it" "and says why"
like "$err" "'mdeploy deploy rollback --restore-database prod' restores the backup taken before the upgrade ($file," \
	"and gives the command that restores the backup"
like "$err" "what was written since the upgrade is lost" "and what that loses"
is "$(dbversion):$(cat "$MDEPLOY_TEST_DATAROOT/log")" "2024100800:" "nothing ran, the database is C's"
is "$(curl -s -m 5 "http://127.0.0.1:$lbport/")" "release C" "C still serves"

# A backup that is not the one recorded is not restored, and nothing changes.
cp "$file" "$TMP/backup.keep"
printf 'x' >>"$file"
run mdeploy deploy rollback --restore-database prod
is "$rc" 1 "a tampered backup: the restore is refused"
like "$err" "backup $file is not the one recorded" "naming the file"
is "$(dbversion):$(cat "$MDEPLOY_TEST_DATAROOT/log")" "2024100800:" "nothing ran: no maintenance, the database is C's"
cp "$TMP/backup.keep" "$file"

# --restore-database: maintenance on through C, the backup restored, A back.
# The load balancer is sampled meanwhile: Moodle's page, never its own 503.
(while :; do curl -s -m 5 "http://127.0.0.1:$lbport/" | head -n 1 >>"$TMP/rb.samples"; sleep 0.05; done) &
sampler=$!
c_fleet=$(mdeploy --json fleet list | jq -r '.fleets[] | select(.role == "live") | .name')
run mdeploy --json deploy rollback --restore-database prod
kill "$sampler"
is "$rc" 0 "rollback --restore-database succeeds"
[ "$rc" = 0 ] || diag "$err"
rid=$(printf '%s' "$out" | jq -r .id)
is "$(dbversion)" 2024100700 "the database has A's version again"
is "$(pg_sql site "SELECT count(*) FROM pg_tables WHERE tablename = 'mdl_added_2024100800'")" 0 \
	"the table the upgrade added is gone (every table of the site replaced, not only the backup's)"
is "$(pg_sql site "SELECT string_agg(message, ',' ORDER BY id) FROM mdl_post")" "written before the upgrade" \
	"what was written after the upgrade is lost, as said"
is "$(curl -s -m 5 "http://127.0.0.1:$lbport/")" "release A" "A serves again"
ok "$([ ! -f "$MDEPLOY_TEST_DATAROOT/climaintenance.html" ]; echo $?)" "maintenance is off"
is "$(awk '{ print $1, ($1 == "purge" ? $3 : $2) }' "$MDEPLOY_TEST_DATAROOT/log" | tr '\n' ';')" \
	"maintenance --enable;purge in-maintenance;maintenance --disable;" \
	"maintenance on, caches purged in maintenance, then off"
run mdeploy --json deploy status "$rid"
is "$(printf '%s' "$out" | jq -r '[.steps[] | .step] | join(",")')" \
	"lb-hold,maintenance-on,restore,rollback-shift,drain,purge-caches,maintenance-off,lb-release,swap,retire" \
	"the restore's sequence: the database back before traffic moves, caches purged, maintenance off once A serves"
is "$(printf '%s' "$out" | jq -r '[.created_by, .bundle_sha256] | @tsv')" "user:$(id -un)	$(sha256sum A.tar.zst | cut -d' ' -f1)" \
	"its record: who, and the digest of A, which its retained fleet runs"
is "$(mdeploy --json fleet list | jq -r --arg f "$c_fleet" '[.fleets[] | select(.name == $f)] | length')" 0 \
	"the fleet that ran the upgraded code is terminated (it must not come back on the restored database)"
is "$(grep -v -e '^release [AC]$' -e '^maintenance page of [AC]$' "$TMP/rb.samples" | sort | uniq -c)" "" \
	"during the restore the load balancer answered a release or its maintenance page, nothing else"
ok "$(grep -q '^maintenance page of' "$TMP/rb.samples"; echo $?)" "(the maintenance page was seen)"
unlike "$(cat "$MDEPLOY_STATE_DIR"/local/lb/*/server-state 2>/dev/null)$(ls "$MDEPLOY_STATE_DIR"/local/lb/*/hold 2>/dev/null)" "hold" \
	"the load balancer is released"
run mdeploy deploy rollback prod
unlike "$err" "--restore-database" "the restored release is not one across an upgrade"

# A restore whose process dies is finished by resume, never undone.
run mdeploy deploy create prod C.tar.zst
is "$rc" 0 "C again, with its upgrade"
[ "$rc" = 0 ] || diag "$err"
: >"$MDEPLOY_TEST_DATAROOT/log"
run env MDEPLOY_TEST_CRASH_AT=3 "$MDEPLOY" --json deploy rollback --restore-database prod
rid=$(mdeploy --json deploy history prod | jq -r '.deployments[0].id')
like "$(mdeploy --json deploy status "$rid" | jq -r '"\(.interrupted) \(.interrupted_at)"')" "true restore " \
	"killed as the restore began: the deployment is interrupted at the restore"

is "$(dbversion)" 2024100800 "(the database is still C's)"
run mdeploy deploy resume "$rid"
is "$rc" 0 "deploy resume finishes the restore"
[ "$rc" = 0 ] || diag "$err"
is "$(dbversion):$(curl -s -m 5 "http://127.0.0.1:$lbport/")" "2024100700:release A" "A serves on A's database"
is "$(mdeploy --json deploy status "$rid" | jq -r '.status')" Succeeded "the restore is Succeeded"
ok "$([ ! -f "$MDEPLOY_TEST_DATAROOT/climaintenance.html" ]; echo $?)" "maintenance is off"

# Without a retained fleet: the restore, then the previous bundle deployed
# again through the gate (a downgrade the restore allows).
sed -i 's/^    drain_timeout: 1s$/    drain_timeout: 1s\n    blue_retention: 0s/' mdeploy.yml
run mdeploy deploy create prod C.tar.zst
is "$rc" 0 "C again, with its upgrade, retaining no fleet"
is "$(mdeploy --json fleet list | jq -r '[.fleets[] | select(.role != "live")] | length')" 0 "(A's fleet is gone)"
run mdeploy --json deploy rollback --restore-database prod
is "$rc" 0 "rollback --restore-database without a retained fleet"
[ "$rc" = 0 ] || diag "$err"
is "$(dbversion):$(curl -s -m 5 "http://127.0.0.1:$lbport/")" "2024100700:release A" "A serves on A's database"
ok "$([ ! -f "$MDEPLOY_TEST_DATAROOT/climaintenance.html" ]; echo $?)" "maintenance is off"
h=$(mdeploy --json deploy history prod | jq -r '[.deployments[0:2][] | "\(.strategy) \(.status)"] | join(", ")')
is "$h" "rollback Succeeded, rollback Succeeded" "two records: the restore, then A deployed again"
r1=$(mdeploy --json deploy history prod | jq -r '.deployments[1].id')
is "$(mdeploy --json deploy status "$r1" | jq -r '[.steps[] | .step] | join(",")')" "lb-hold,maintenance-on,restore" \
	"the restore's record: the database back under maintenance"
done_testing
