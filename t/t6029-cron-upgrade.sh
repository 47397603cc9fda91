#!/bin/sh
# The upgrade gate and the group's cron: a cron run that began before
# maintenance went on ends before the database upgrade starts, so no
# scheduled task runs while the database changes.
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-deploy.sh"
deploy_test_init 127
export MDEPLOY_TEST_DATAROOT="$TMP/dataroot"
mkdir -p "$MDEPLOY_TEST_DATAROOT"
# The backup before the upgrade dumps the database config.php names.
. "$top_srcdir/t/lib-pg.sh"
pg_test_init
pg_site_db site || exit 1

# mkrel NAME CORE_VERSION: Moodle-like admin/cli scripts and an upgrade hook
# that write down what they do, in order, in the shared "dataroot".
mkrel() {
	mkdir -p "$1/hooks" "$1/admin/cli"
	printf '<?php echo "release %s\\n";\n' "$1" >"$1/index.php"
	pg_site_config "$1" site
	cat >"$1/admin/cli/maintenance.php" <<'EOF'
<?php
$d = getenv('MDEPLOY_TEST_DATAROOT');
if ($argv[1] === '--enable') { file_put_contents("$d/climaintenance.html", 'on'); }
else { @unlink("$d/climaintenance.html"); }
file_put_contents("$d/log", "maintenance $argv[1]\n", FILE_APPEND);
EOF
	cat >"$1/admin/cli/purge_caches.php" <<'EOF'
<?php
EOF
	# A long scheduled task; in maintenance cron.php stops at once, as Moodle's.
	cat >"$1/admin/cli/cron.php" <<'EOF'
<?php
$d = getenv('MDEPLOY_TEST_DATAROOT');
if (file_exists("$d/climaintenance.html")) { echo "CLI maintenance mode active, cron execution suspended.\n"; exit(1); }
file_put_contents("$d/log", "cron start\n", FILE_APPEND);
// Long enough that maintenance goes on while it runs, however slow the machine:
// it runs until then (at most 60 s), and 1 s more.
for ($i = 0; $i < 600 && !file_exists("$d/climaintenance.html"); $i++) { usleep(100000); }
sleep(1);
file_put_contents("$d/log", "cron end\n", FILE_APPEND);
EOF
	cat >"$1/appspec.yml" <<'EOF'
version: 0.0
os: linux
hooks:
  AfterInstall:
    - location: hooks/upgrade.sh
      scope: once
EOF
	cat >"$1/hooks/upgrade.sh" <<'EOF'
#!/bin/sh
echo "upgrade" >>"$MDEPLOY_TEST_DATAROOT/log"
EOF
	chmod +x "$1/hooks/upgrade.sh"
	printf '{"components": {"core": "%s"}}\n' "$2" >"$1.json"
	"$MDEPLOY" -q bundle create --source-json "$1.json" "$1" "$1.tar.zst" >/dev/null || exit 1
}

cd "$TMP" || exit 1
cat >mdeploy.yml <<EOF
application:
  name: cu
groups:
  - name: prod
    fleet: { size: 2, min: 1, max: 4, port: $port }
    load_balancer: { listen: '127.0.0.1:$lbport', slots: 12 }
    health_check: { interval: 100ms, healthy_threshold: 1, unhealthy_threshold: 1 }
    alarms: { window: 100ms }
    drain_timeout: 1s
EOF
mkrel A 2024100700
mkrel C 2024100800

plan 6
run mdeploy deploy create prod A.tar.zst
is "$rc" 0 "A deployed"
[ "$rc" = 0 ] || diag "$err"
: >"$MDEPLOY_TEST_DATAROOT/log"

"$MDEPLOY" cron run prod >"$TMP/cron.out" 2>&1 &
cron=$!
i=0
while [ $i -lt 600 ] && ! grep -q "cron start" "$MDEPLOY_TEST_DATAROOT/log"; do sleep 0.1; i=$((i + 1)); done
run mdeploy deploy create prod C.tar.zst
is "$rc" 0 "the upgrade deployment succeeds"
[ "$rc" = 0 ] || diag "$err"
wait "$cron"
is "$?" 0 "the cron run that began first succeeds"
log=$(tr '\n' ';' <"$MDEPLOY_TEST_DATAROOT/log")
like "$log" "cron start;maintenance --enable;cron end;upgrade;" \
	"maintenance goes on, the cron run in progress ends, then the upgrade starts"
like "$err" "waiting for the cron run of group prod in progress" "the deployment says it waits for cron"
run mdeploy --json deploy status
is "$(printf '%s' "$out" | jq -r .status)" Succeeded "the deployment succeeded"
done_testing
