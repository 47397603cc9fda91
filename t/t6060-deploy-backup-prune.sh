#!/bin/sh
# Retention of the database backups the upgrade gate takes, on a real
# PostgreSQL: a backup stays while a rollback can restore it (the live
# deployment's when it upgraded; the last deployment's when it failed after
# its upgrade began) and is removed once none can, when a deployment or a
# rollback of the group succeeds. Files in the backups directory that the
# gate did not name are left alone.
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-deploy.sh"
deploy_test_init 61
. "$top_srcdir/t/lib-pg.sh"
pg_test_init
pg_site_db site || exit 1
export MDEPLOY_TEST_DATAROOT="$TMP/dataroot"
mkdir -p "$MDEPLOY_TEST_DATAROOT"

# mkrel NAME VERSION [fail]: a release of the "site" database whose upgrade
# hook sets VERSION (or fails after changing nothing, with "fail").
mkrel() {
	mkdir -p "$1/hooks" "$1/admin/cli"
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
EOT
	printf '<?php\n' >"$1/admin/cli/purge_caches.php"
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
	if [ "${3:-}" = fail ]; then
		printf '#!/bin/sh\necho "upgrade failing on purpose" >&2\nexit 1\n' >"$1/hooks/upgrade.sh"
	else
		cat >"$1/hooks/upgrade.sh" <<EOT
#!/bin/sh
PGPASSWORD=\$TEST_DBPASS psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p $MOODLE_PGPORT -U site -d site -c \
	"UPDATE mdl_config SET value = '$2' WHERE name = 'version'"
EOT
	fi
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
backups() { ls "$MDEPLOY_STATE_DIR/backups/pr/prod" 2>/dev/null | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//'; }
sorted() { printf '%s\n' "$@" | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//'; }

cd "$TMP" || exit 1
cat >mdeploy.yml <<EOF
application:
  name: pr
groups:
  - name: prod
    fleet: { size: 1, min: 1, max: 2, port: $port }
    load_balancer: { listen: '127.0.0.1:$lbport', slots: 8 }
    health_check: { interval: 100ms, healthy_threshold: 1, unhealthy_threshold: 1 }
    drain_timeout: 1s
EOF
mkrel A 2024100700
mkrel C 2024100800
mkrel D 2024100900
mkrel F 2024101000 fail

run mdeploy deploy create prod A.tar.zst
is "$rc" 0 "first deployment (A)"
[ "$rc" = 0 ] || diag "$err"

run mdeploy deploy create prod C.tar.zst
is "$rc" 0 "C, with its upgrade"
[ "$rc" = 0 ] || diag "$err"
c=$out
is "$(backups)" "$c.pgdump" "C's backup is kept: rolling back across C restores it"
# Not named as the gate names backups: the operator's, never touched.
: >"$MDEPLOY_STATE_DIR/backups/pr/prod/site-before-migration.pgdump"
: >"$MDEPLOY_STATE_DIR/backups/pr/prod/d-aaaaaaaaa.pgdump.tmp"

run mdeploy deploy create prod D.tar.zst
is "$rc" 0 "D, with its upgrade"
[ "$rc" = 0 ] || diag "$err"
d=$out
is "$(dbversion)" 2024100900 "(the database is D's)"
is "$(backups)" "$(sorted "$d.pgdump" site-before-migration.pgdump)" \
	"D's backup kept; C's removed (no rollback goes back across C any more), with a dump left half written; the operator's file stays"
like "$err" "backup $MDEPLOY_STATE_DIR/backups/pr/prod/$c.pgdump of deployment $c removed: no rollback can restore it" \
	"the removal is said"

# An upgrade that fails once begun: its backup is what its rollback restores.
run mdeploy deploy create prod F.tar.zst
is "$rc" 1 "F's upgrade fails"
f=$(mdeploy --json deploy history prod | jq -r '.deployments[0].id')
is "$(backups)" "$(sorted "$d.pgdump" "$f.pgdump" site-before-migration.pgdump)" \
	"F's backup is kept (the rollback of F restores it), and D's (D is live)"
run mdeploy deploy rollback --restore-database prod
is "$rc" 0 "rollback of F restores its backup"
[ "$rc" = 0 ] || diag "$err"
is "$(dbversion):$(curl -s -m 5 "http://127.0.0.1:$lbport/")" "2024100900:release D" "D serves on D's database"
is "$(backups)" "$(sorted "$d.pgdump" site-before-migration.pgdump)" "F's backup, restored, is removed; D's stays (D is live)"

run mdeploy deploy rollback --restore-database prod
is "$rc" 0 "rollback across D's upgrade restores D's backup"
[ "$rc" = 0 ] || diag "$err"
is "$(dbversion):$(curl -s -m 5 "http://127.0.0.1:$lbport/")" "2024100800:release C" "C serves on C's database"
is "$(backups)" "site-before-migration.pgdump" "D's backup, restored, is removed: C's code is live, no rollback restores anything"
is "$(mdeploy --json deploy status "$d" | jq -r '.steps[] | select(.step == "backup") | .backup.present')" false \
	"deploy status --json: D's backup is not present any more"
like "$(mdeploy deploy status "$d" | grep "$d.pgdump")" "; the file is gone" "deploy status says the file is gone"
done_testing
