#!/bin/sh
# mdeploy cron run: Moodle's admin/cli/cron.php once per group (not per
# instance), on the release that takes traffic; one runner per group; a
# supervised runner (--every) follows a blue/green swap to the new release.
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-deploy.sh"
deploy_test_init 113

cd "$TMP" || exit 1
cat >mdeploy.yml <<EOF
application:
  name: cr
groups:
  - name: prod
    fleet: { size: 2, min: 1, max: 4, port: $port }
    load_balancer: { listen: '127.0.0.1:$lbport', slots: 12 }
    health_check: { interval: 100ms, healthy_threshold: 1, unhealthy_threshold: 1 }
    alarms: { window: 100ms }
    drain_timeout: 1s
EOF
export CRON_LOG="$TMP/cron.log"
: >"$CRON_LOG"
# mkrel NAME: a release whose cron.php writes down which release ran it,
# from where, with --keep-alive=0; it fails as Moodle does in maintenance
# when $TMP/maintenance exists.
mkrel() {
	mkdir -p "$1/admin/cli"
	cat >"$1/admin/cli/cron.php" <<EOF
<?php
if (file_exists('$TMP/maintenance')) { echo "CLI maintenance mode active, cron execution suspended.\n"; exit(1); }
file_put_contents(getenv('CRON_LOG'), "cron $1 " . implode(' ', array_slice(\$argv, 1)) . " cwd=" . basename(dirname(getcwd())) . "\n", FILE_APPEND);
echo "Cron run completed correctly\n";
EOF
	deploy_mkrel "$1" "release $1"
}
mkrel A
mkrel B

plan 16

run mdeploy cron run prod
is "$rc" 1 "nothing deployed: cron fails"
like "$err" "no instance takes traffic" "and says why"

run mdeploy deploy create prod A.tar.zst
is "$rc" 0 "A deployed"
[ "$rc" = 0 ] || diag "$err"
run mdeploy cron run prod
is "$rc" 0 "cron runs"
[ "$rc" = 0 ] || diag "$err"
is "$(cat "$CRON_LOG")" "cron A --keep-alive=0 cwd=releases" \
	"once for the group (2 instances), A's cron.php from its release, --keep-alive=0"
like "$out" "cron.php on i-" "it says where it ran"

: >"$TMP/maintenance"
run mdeploy cron run prod
is "$rc" 1 "cron.php failing fails the run"
like "$err" "CLI maintenance mode active, cron execution suspended" "with cron.php's own last line"
rm -f "$TMP/maintenance"

# A supervised runner; a second runner for the group is refused.
: >"$CRON_LOG"
"$MDEPLOY" cron run --every 0.5 prod >"$TMP/runner.out" 2>"$TMP/runner.err" &
runner=$!
i=0
while [ $i -lt 50 ] && ! grep -q . "$CRON_LOG"; do sleep 0.1; i=$((i + 1)); done
run mdeploy cron run prod
is "$rc" 1 "a second runner for the group is refused"
like "$err" "cron for group prod is already running" "and says so"

run mdeploy deploy create prod B.tar.zst
is "$rc" 0 "B deployed while the runner runs (blue/green swap)"
[ "$rc" = 0 ] || diag "$err"
: >"$CRON_LOG"
i=0
while [ $i -lt 50 ] && ! grep -q "cron B" "$CRON_LOG"; do sleep 0.1; i=$((i + 1)); done
ok "$(kill -0 "$runner" 2>/dev/null; echo $?)" "the runner survives the swap"
like "$(cat "$CRON_LOG")" "cron B --keep-alive=0" "and runs B's cron.php after it"
unlike "$(tail -n 1 "$CRON_LOG")" "cron A" "not A's any more"
kill "$runner" 2>/dev/null
wait "$runner" 2>/dev/null

run mdeploy --json cron run --every 0.2 --count 2 prod
is "$(printf '%s' "$out" | jq -r '"\(.runs_total) \(.failed) \(.runs[0].ok) \(.runs[0].fleet)"')" "2 0 true cr-prod-v002" \
	"--json --count 2: two runs, on the live fleet"
run mdeploy --json cron run --every 1 prod
is "$rc" 2 "--json with --every needs --count"
done_testing
