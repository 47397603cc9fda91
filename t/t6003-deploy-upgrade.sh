#!/bin/sh
# The Moodle upgrade gate, with the default deployment config (OneAtATime):
# a release that changes a component version is installed on every green
# instance without its `scope: once` (upgrade) hooks and without
# ValidateService; maintenance goes on through the live release's
# admin/cli/maintenance.php (a shared dataroot); the upgrade runs once;
# every green instance is validated against the upgraded "database";
# traffic moves all at once, blue is drained, then maintenance goes off and
# caches are purged. An install failure stops it before the upgrade. A
# code-only release takes none of that; a downgrade is refused.
. "${top_srcdir:-.}/t/lib.sh"

[ -x /usr/sbin/haproxy ] && command -v php >/dev/null && command -v curl >/dev/null ||
	skip_all "haproxy, php or curl missing"
export MDEPLOY_LOCAL_ADDRESS_BASE="127.$((100 + ($$ + 53) % 150))"
lbport=$((28300 + ($$ % 1400) * 3))
port=$((lbport + 1))
export MDEPLOY_PROGRESS=0
export MDEPLOY_TEST_DATAROOT="$TMP/dataroot"
mkdir -p "$MDEPLOY_TEST_DATAROOT"

cleanup() {
	for f in "$MDEPLOY_STATE_DIR"/local/lb/*/haproxy.pid; do
		[ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null
	done
	mdeploy --json fleet list 2>/dev/null | jq -r '.fleets[].name' 2>/dev/null | while read -r f; do
		mdeploy --json fleet show "$f" 2>/dev/null | jq -r '.instances[].pid' | while read -r pid; do
			[ "$pid" -gt 0 ] 2>/dev/null && kill -- "-$pid" 2>/dev/null
		done
	done
	# and anything else still running in the test's directory
	for p in /proc/[0-9]*; do
		case "$(readlink "$p/cwd" 2>/dev/null)" in "$TMP"/*) kill -9 "${p#/proc/}" 2>/dev/null ;; esac
	done
	_tap_cleanup
}
trap cleanup EXIT
# The backup before the upgrade dumps the database config.php names.
. "$top_srcdir/t/lib-deploy.sh"
. "$top_srcdir/t/lib-pg.sh"
pg_test_init
pg_site_db site || exit 1

# mkrel NAME CORE_VERSION: a Moodle-like release whose admin/cli scripts
# record what they do in the shared "dataroot".
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
// What Moodle's would purge depends on the options; whether the site was in maintenance then.
$d = getenv('MDEPLOY_TEST_DATAROOT');
file_put_contents("$d/log", "purge caches " . (file_exists("$d/climaintenance.html") ? "in-maintenance" : "serving") .
	" " . implode(' ', array_slice($argv, 1)) . "\n", FILE_APPEND);
EOF
	cat >"$1/appspec.yml" <<'EOF'
version: 0.0
os: linux
hooks:
  AfterInstall:
    - location: hooks/after-install.sh
    - location: hooks/upgrade.sh
      scope: once
  ValidateService:
    - location: hooks/validate.sh
EOF
	# The "database" is a file in the shared dataroot: its version must be
	# the release's for the release to validate (as checks.php would say).
	printf '%s\n' "$2" >"$1/hooks/version"
	cat >"$1/hooks/after-install.sh" <<'EOF'
#!/bin/sh
[ -f "$MDEPLOY_TEST_DATAROOT/fail-install" ] && ! mkdir "$MDEPLOY_TEST_DATAROOT/installed-one" 2>/dev/null && {
	echo "install failed on purpose" >&2; exit 1; }
exit 0
EOF
	cat >"$1/hooks/upgrade.sh" <<'EOF'
#!/bin/sh
if [ -f "$MDEPLOY_TEST_DATAROOT/climaintenance.html" ]; then m=on; else m=off; fi
echo "upgrade on $MDEPLOY_INSTANCE_ID, maintenance $m" >>"$MDEPLOY_TEST_DATAROOT/log"
cp "$(dirname "$0")/version" "$MDEPLOY_TEST_DATAROOT/dbversion"
EOF
	cat >"$1/hooks/validate.sh" <<'EOF'
#!/bin/sh
echo "validate on $MDEPLOY_INSTANCE_ID" >>"$MDEPLOY_TEST_DATAROOT/log"
[ ! -f "$MDEPLOY_TEST_DATAROOT/fail-validate" ] || { echo "CRITICAL: on purpose" >&2; exit 2; }
[ ! -f "$MDEPLOY_TEST_DATAROOT/dbversion" ] || cmp -s "$MDEPLOY_TEST_DATAROOT/dbversion" "$(dirname "$0")/version" ||
	{ echo "CRITICAL: upgrade pending" >&2; exit 2; }
EOF
	chmod +x "$1/hooks/upgrade.sh" "$1/hooks/after-install.sh" "$1/hooks/validate.sh"
	printf '{"components": {"core": "%s", "mod_forum": "2024100700"}}\n' "$2" >"$1.json"
	"$MDEPLOY" -q bundle create --source-json "$1.json" "$1" "$1.tar.zst" >/dev/null || exit 1
}

cd "$TMP" || exit 1
cat >mdeploy.yml <<EOF
application:
  name: up
groups:
  - name: prod
    fleet: { size: 2, min: 1, max: 4, port: $port }
    load_balancer: { listen: '127.0.0.1:$lbport', slots: 12 }
    health_check: { interval: 100ms, healthy_threshold: 1, unhealthy_threshold: 1 }
    traffic_shift: { type: canary, percent: 50, interval: 1s }
    alarms: { window: 100ms }
    drain_timeout: 1s
EOF
mkrel A 2024100700
mkrel B 2024100700
mkrel C 2024100800

run mdeploy deploy create prod A.tar.zst
is "$rc" 0 "first deployment"
[ "$rc" = 0 ] || diag "$err"
: >"$MDEPLOY_TEST_DATAROOT/log"

run mdeploy --json deploy plan prod B.tar.zst
is "$(printf '%s' "$out" | jq -r .upgrade)" false "plan: B changes no version"
run mdeploy deploy create prod B.tar.zst
is "$rc" 0 "code-only deployment of B"
is "$(grep -c "^maintenance" "$MDEPLOY_TEST_DATAROOT/log")" 0 "no maintenance for a code-only release"
run mdeploy --json deploy status
is "$(printf '%s' "$out" | jq -r '[.steps[] | select(.step == "shift") | .target] | join(",")')" "50,100" "code-only: the canary applies"
: >"$MDEPLOY_TEST_DATAROOT/log"

run mdeploy --json deploy plan prod C.tar.zst
is "$(printf '%s' "$out" | jq -r .upgrade)" true "plan: C needs an upgrade"
is "$(printf '%s' "$out" | jq -r '.changes[] | "\(.component) \(.from) -> \(.to)"')" "core 2024100700 -> 2024100800" \
	"plan names the component whose version changed"
run mdeploy deploy create prod C.tar.zst
is "$rc" 0 "deployment of C through the upgrade gate"
[ "$rc" = 0 ] || diag "$err"
log=$(cut -d' ' -f1,2 "$MDEPLOY_TEST_DATAROOT/log" | tr '\n' ';')
is "$log" "maintenance --enable;upgrade on;validate on;validate on;purge caches;maintenance --disable;" \
	"OneAtATime: maintenance on, upgrade once, both instances validated, caches purged, maintenance off"
is "$(sed -n 's/^purge caches //p' "$MDEPLOY_TEST_DATAROOT/log")" "in-maintenance --muc --theme --lang --js --filter" \
	"the purge runs in maintenance (no request reads the caches), local caches left to the instances"
run mdeploy --json deploy status
steps=$(printf '%s' "$out" | jq -r '[.steps[] | .step + (if .step == "shift" then .target else "" end)] | join(",")')
like "$steps" "install,install,lb-hold,maintenance-on,backup,upgrade,validate,validate," \
	"both installs come before the hold, maintenance, the backup and the upgrade"
like "$steps" "shift100,drain-blue,purge-caches,maintenance-off,lb-release" \
	"traffic moves, blue is drained and caches purged before maintenance goes off (old code never serves the new database)"
like "$(cat "$MDEPLOY_TEST_DATAROOT/log")" "maintenance on" "the upgrade hook ran under maintenance"
ok "$([ ! -f "$MDEPLOY_TEST_DATAROOT/climaintenance.html" ]; echo $?)" "maintenance is off at the end"
run mdeploy --json deploy status
is "$(printf '%s' "$out" | jq -r '[.steps[] | select(.step == "shift") | .target] | join(",")')" "100" \
	"after an upgrade traffic moves all at once"
is "$(curl -s -m 5 "http://127.0.0.1:$lbport/")" "release C" "C serves"

# A green instance that fails to install stops the gate before maintenance
# and the upgrade: the database is untouched.
mkrel F 2024100900
: >"$MDEPLOY_TEST_DATAROOT/log"
: >"$MDEPLOY_TEST_DATAROOT/fail-install"
run mdeploy deploy create prod F.tar.zst
rm -rf "$MDEPLOY_TEST_DATAROOT/fail-install" "$MDEPLOY_TEST_DATAROOT/installed-one"
is "$rc" 1 "an install failure fails the upgrade"
like "$err" "the database upgrade needs them all and did not run (the database is untouched)" "and says the database is untouched"
is "$(cut -d' ' -f1,2 "$MDEPLOY_TEST_DATAROOT/log" | tr '\n' ';')" "" "no maintenance, no upgrade, no validation"
is "$(cat "$MDEPLOY_TEST_DATAROOT/dbversion")" 2024100800 "the database keeps C's version"
is "$(curl -s -m 5 "http://127.0.0.1:$lbport/")" "release C" "C still serves"
# A release whose versions are lower than the live one's is a downgrade:
# Moodle would refuse to run it on the upgraded database.
mkrel D 2024100705.01
run mdeploy --json deploy plan prod D.tar.zst
is "$rc" 1 "plan: a downgrade exits 1"
is "$(printf '%s' "$out" | jq -r '"\(.kind) \(.refused) \(.upgrade)"')" "downgrade true false" \
	"plan: D is a refused downgrade, not an upgrade"
is "$(printf '%s' "$out" | jq -r '.changes[] | select(.downgrade) | "\(.component) \(.from) -> \(.to)"')" \
	"core 2024100800 -> 2024100705.01" "plan names the component whose version goes down"
like "$err" "would be refused: it is a downgrade" "plan says the deployment would be refused"
run mdeploy deploy plan prod D.tar.zst
like "$out" "prod: downgrade (refused)" "plan's text names the downgrade"
like "$out" "2024100800 -> 2024100705.01  (downgrade)" "and marks the component"
run mdeploy --json deploy plan --allow-downgrade prod D.tar.zst
is "$rc:$(printf '%s' "$out" | jq -r .refused)" "0:false" "plan --allow-downgrade: not refused"
: >"$MDEPLOY_TEST_DATAROOT/log"
run mdeploy deploy create prod D.tar.zst
is "$rc" 1 "create refuses a downgrade"
like "$err" "D.tar.zst: refused: downgrade: 1 component version is lower than the live release's (core 2024100800 -> 2024100705.01)" \
	"the error names the component and both versions"
like "$err" "--allow-downgrade" "and says how to allow it"
is "$(cat "$MDEPLOY_TEST_DATAROOT/log")" "" "nothing ran for the refused downgrade"
is "$(curl -s -m 5 "http://127.0.0.1:$lbport/")" "release C" "C still serves"
: >"$MDEPLOY_TEST_DATAROOT/log"
run mdeploy deploy rollback prod
is "$rc" 1 "rollback across the upgrade is refused"
like "$err" "upgraded the database, and the previous release's code cannot run on it" "and says why"
like "$err" "'mdeploy deploy rollback --restore-database prod' restores the backup taken before the upgrade" \
	"and gives the command that restores the backup"
is "$(cat "$MDEPLOY_TEST_DATAROOT/log")" "" "nothing ran for the refused rollback"
is "$(curl -s -m 5 "http://127.0.0.1:$lbport/")" "release C" "C still serves after the refusal"
mkrel E 2024100800.00
run mdeploy --json deploy plan prod E.tar.zst
is "$(printf '%s' "$out" | jq -r '"\(.kind) \([.changes[] | select(.downgrade)] | length)"')" "upgrade 0" \
	"2024100800 -> 2024100800.00 is no downgrade"
# A failure after the upgrade started: traffic stays on (or returns to)
# blue, but maintenance stays on: old code must not serve the new database.
mkrel G 2024101000
: >"$MDEPLOY_TEST_DATAROOT/log"
: >"$MDEPLOY_TEST_DATAROOT/fail-validate"
run mdeploy deploy create prod G.tar.zst
rm -f "$MDEPLOY_TEST_DATAROOT/fail-validate"
is "$rc" 1 "a validation failure after the upgrade fails the deployment"
like "$err" "the database upgrade had started, so the site stays in maintenance: restore the database" \
	"the error says the site stays in maintenance until the database is restored"
ok "$([ -f "$MDEPLOY_TEST_DATAROOT/climaintenance.html" ]; echo $?)" "maintenance is still on"
unlike "$(cat "$MDEPLOY_TEST_DATAROOT/log")" "maintenance --disable" "maintenance was never turned off"
like "$err" "with 'mdeploy deploy rollback --restore-database prod', which turns maintenance off once it is back" \
	"and gives the command that restores the backup the failed deployment took"
gid=$(mdeploy --json deploy history prod | jq -r '.deployments[0].id')
is "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$lbport/")" 200 \
	"C serves (this fixture knows no maintenance page), the load balancer holding its targets"
# Rollback after that failure: C stays; the backup G took is the way back.
: >"$MDEPLOY_TEST_DATAROOT/log"
run mdeploy deploy rollback prod
is "$rc" 1 "rollback after a failure past the upgrade is refused without --restore-database"
like "$err" "deployment $gid failed after its database upgrade began" "naming the failed deployment"
like "$err" "'mdeploy deploy rollback --restore-database prod' restores the backup taken before that upgrade" \
	"and the command"
is "$(cat "$MDEPLOY_TEST_DATAROOT/log")" "" "nothing ran"
run mdeploy --json deploy rollback --restore-database prod
is "$rc" 0 "rollback --restore-database restores G's backup"
[ "$rc" = 0 ] || diag "$err"
rid=$(printf '%s' "$out" | jq -r .id)
run mdeploy --json deploy status "$rid"
is "$(printf '%s' "$out" | jq -r '[.steps[] | .step] | join(",")')" \
	"lb-hold,maintenance-on,restore,purge-caches,maintenance-off,lb-release" \
	"maintenance (already on), the restore, caches purged and maintenance off through C, the load balancer released"
ok "$([ ! -f "$MDEPLOY_TEST_DATAROOT/climaintenance.html" ]; echo $?)" "maintenance is off"
is "$(curl -s -m 5 "http://127.0.0.1:$lbport/")" "release C" "C serves"
run mdeploy deploy rollback prod
unlike "$err" "failed after its database upgrade began" "the failure is dealt with: no second restore"
rm -f "$MDEPLOY_TEST_DATAROOT/climaintenance.html"
done_testing
