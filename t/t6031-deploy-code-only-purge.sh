#!/bin/sh
# A code-only release of a Moodle-like tree (it has admin/cli/purge_caches.php)
# ends with purge-caches: the drained old fleet goes into maintenance at the
# load balancer (no request, no health check reaches the old code) before
# the caches are purged through the new one. A rollback to that retained
# fleet registers its targets again: they pass real checks, then serve.
. "${top_srcdir:-.}/t/lib.sh"

[ -x /usr/sbin/haproxy ] && command -v php >/dev/null && command -v curl >/dev/null ||
	skip_all "haproxy, php or curl missing"
export MDEPLOY_LOCAL_ADDRESS_BASE="127.$((100 + ($$ + 59) % 150))"
lbport=$(free_port) && port=$(free_port) || skip_all "no free port"
[ "$lbport" != "$port" ] || port=$(free_port) || skip_all "no free port"
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

run mdeploy deploy create prod A.tar.zst
is "$rc" 0 "first deployment"
[ "$rc" = 0 ] || diag "$err"
: >"$MDEPLOY_TEST_DATAROOT/log"

run mdeploy deploy create prod B.tar.zst
is "$rc" 0 "code-only deployment of B"
[ "$rc" = 0 ] || diag "$err"
run mdeploy --json deploy status
is "$(printf '%s' "$out" | jq -r '[.steps[] | .step] | map(select(. == "drain-blue" or . == "purge-caches")) | join(",")')" \
	"drain-blue,purge-caches" "the caches are purged after blue is drained"
is "$(grep -c "^purge caches" "$MDEPLOY_TEST_DATAROOT/log")" 1 "purge_caches.php ran once"
is "$(sed -n 's/^purge caches //p' "$MDEPLOY_TEST_DATAROOT/log")" "serving --muc --lang --js --filter" \
	"green serves during the purge: no theme revision bump, no local cache purge (Moodle fails requests under them, t9015)"
run mdeploy --json lb show up-prod
is "$(printf '%s' "$out" | jq -r '[.targets[] | select(.weight == 0) | .state] | unique | join(",")')" "maint" \
	"the old fleet's targets are in maintenance (no checks reach the old code)"
[ "$rc" = 0 ] || diag "$out$err"
is "$(curl -s -m 5 "http://127.0.0.1:$lbport/")" "release B" "B serves"
run mdeploy deploy rollback prod
is "$rc" 0 "rollback to the retained fleet of A"
[ "$rc" = 0 ] || diag "$err"
is "$(curl -s -m 5 "http://127.0.0.1:$lbport/")" "release A" "A serves again"
run mdeploy --json lb show up-prod
is "$(printf '%s' "$out" | jq -r '[.targets[] | select(.weight > 0) | .state] | unique | join(",")')" "ready" \
	"A's targets are ready again"
# Going back, Moodle's caches hold B's strings: purged through A once B is
# drained and out of rotation (no check reaches B's code to refill them).
is "$(printf '%s' "$out" | jq -r '[.targets[] | select(.weight == 0) | .state] | unique | join(",")')" "maint" \
	"B's targets are in maintenance after the rollback"
run mdeploy --json deploy status
is "$(printf '%s' "$out" | jq -r '[.steps[] | .step] | join(",")')" "rollback-shift,drain,purge-caches,swap" \
	"the rollback purges the caches after B is drained"
is "$(printf '%s' "$out" | jq -r '.steps[] | select(.step == "purge-caches") | .target')" \
	"$(printf '%s' "$out" | jq -r '.steps[] | select(.step == "rollback-shift") | .target')" "through A's fleet"
is "$(grep -c "^purge caches serving --muc --lang --js --filter$" "$MDEPLOY_TEST_DATAROOT/log")" 2 \
	"purge_caches.php ran again, the purge a serving site survives"
run mdeploy deploy rollback prod
is "$rc" 0 "and a rollback of the rollback goes to B again"
[ "$rc" = 0 ] || diag "$err"
is "$(curl -s -m 5 "http://127.0.0.1:$lbport/")" "release B" "B serves (its targets registered again)"
done_testing
