#!/bin/sh
# Who may carry on a deployment, under load through HAProxy (wrk):
# after kill -9 of `deploy create`, a new `deploy create` refuses and names
# the interrupted deployment (it used to take its lock over and leave two
# fleets taking traffic); status and history show it as interrupted; `deploy
# rollback` undoes it first. Commands are served in arrival order (the lock
# is taken before the bundle is validated), and `deploy rollback` reports
# its time from the command's start.
. "${top_srcdir:-.}/t/lib.sh"

. "$top_srcdir/t/lib-deploy.sh"
deploy_test_init 43
command -v wrk >/dev/null || skip_all "wrk missing"

cd "$TMP" || exit 1
cat >mdeploy.yml <<EOF
application:
  name: ow
groups:
  - name: prod
    fleet: { size: 2, min: 1, max: 4, port: $port }
    load_balancer: { listen: '127.0.0.1:$lbport', slots: 12 }
    health_check: { path: /health.php, interval: 100ms, healthy_threshold: 1 }
    alarms: { window: 200ms }
    drain_timeout: 1s
    blue_retention: 1h
EOF
deploy_mkrel A "release A"
deploy_mkrel B "release B"
deploy_mkrel C "release C"
# Big's validation (signature digest, extraction) takes a while.
deploy_mkrel Big "release Big"
head -c 40000000 /dev/urandom >Big/blob.bin
"$MDEPLOY" -q bundle create Big Big.tar.zst >/dev/null || exit 1
get() { curl -s -m 5 "http://127.0.0.1:$lbport/"; }
weighted() { mdeploy --json lb show ow-prod | jq '[.targets[] | select(.weight > 0)] | length'; }

run mdeploy deploy create prod A.tar.zst
is "$rc" 0 "A deployed"
[ "$rc" = 0 ] || diag "$err"

# kill -9 after the health step is journaled: green is registered, weight 0.
deploy_load_start "http://127.0.0.1:$lbport/"
MDEPLOY_TEST_CRASH_AT=7 "$MDEPLOY" deploy create prod B.tar.zst >/dev/null 2>&1
is "$?" 137 "deploy create of B killed at its health step"
dead=$(mdeploy --json deploy status | jq -r .id)
deadfleet=$(mdeploy --json deploy status | jq -r .green_fleet)
run mdeploy deploy create prod C.tar.zst
is "$rc" 1 "a new deployment refuses to take over"
like "$err" "deployment $dead was interrupted at step health" "it names the interrupted deployment and its step"
like "$err" "mdeploy deploy resume $dead" "and says how to go on"
is "$(get)" "release A" "A still serves"
is "$(weighted)" 2 "only A's fleet takes traffic"
run mdeploy --json deploy status "$dead"
is "$(printf '%s' "$out" | jq -r '.interrupted')" true "deploy status shows it as interrupted"
is "$(printf '%s' "$out" | jq -r '.interrupted_at')" "health $deadfleet" "at its health step"
run mdeploy deploy status "$dead"
like "$out" "deployment $dead: Interrupted" "in text too"
run mdeploy deploy history prod
like "$out" "Interrupted" "and in the history"
run mdeploy --json fleet list
is "$(printf '%s' "$out" | jq -r --arg f "$deadfleet" '.fleets[] | select(.name == $f) | .role')" deploying \
	"its fleet is still owned by it"

# rollback undoes the interrupted deployment: A stays.
run mdeploy deploy rollback prod
is "$rc" 0 "deploy rollback"
[ "$rc" = 0 ] || diag "$err"
is "$(mdeploy --json deploy status "$dead" | jq -r .status)" RolledBack "the interrupted deployment is rolled back"
is "$(mdeploy --json fleet list | jq '[.fleets[]] | length')" 1 "its fleet is gone"
is "$(get)" "release A" "A serves"
deploy_load_stop
is "$load_bad/$load_errors" "0/0" "under load: no failed request ($load_summary)"

# Arrival order: Big (slow to validate) first, then C with --wait. Big must
# not be refused because C validated faster.
"$MDEPLOY" deploy create prod Big.tar.zst >big.out 2>big.err &
bigpid=$!
sleep 0.3
run mdeploy deploy create --wait prod C.tar.zst
wait "$bigpid"
is "$?" 0 "the first command (Big) is served first, not refused"
[ -s big.err ] && grep -q error big.err && diag "$(cat big.err)"
is "$rc" 0 "the second (C, --wait) waits its turn"
run mdeploy --json deploy history prod
is "$(printf '%s' "$out" | jq -r '[.deployments[] | select(.status == "Succeeded") | .bundle | split("/") | last][0:2] | join(",")')" \
	"C.tar.zst,Big.tar.zst" "in arrival order: Big then C"
is "$(get)" "release C" "C serves"

# Honest timings: from the command's start, not from inside the library.
t0=$(date +%s%3N)
run mdeploy deploy rollback prod
t1=$(date +%s%3N)
is "$rc" 0 "rollback to the retained fleet"
[ "$rc" = 0 ] || diag "$err"
lib=$(printf '%s\n' "$err" | sed -n 's/.* \([0-9]*\) ms after the rollback call.*/\1/p')
traffic=$(printf '%s\n' "$err" | sed -n 's/.*traffic moved \([0-9]*\) ms after the command started.*/\1/p')
total=$(printf '%s\n' "$err" | sed -n 's/.*it took \([0-9]*\) ms in all.*/\1/p')
wall=$((t1 - t0))
ok "$([ "${traffic:-0}" -ge "${lib:-1}" ] && [ "$traffic" -le "$total" ]; echo $?)" \
	"traffic applied $traffic ms after the command started (the library's own timer: $lib ms), within its $total ms"
# The command's start is its process's, which /proc gives in clock ticks (10 ms): up to one tick early.
ok "$([ "${total:-0}" -le $((wall + 10)) ]; echo $?)" \
	"the command's time ($total ms) is within what the caller waited ($wall ms, give or take a 10 ms clock tick)"
run mdeploy --json deploy rollback prod
is "$(printf '%s' "$out" | jq '.traffic_applied_ms > 0 and .command_ms >= .traffic_applied_ms')" true "--json reports both"
run mdeploy --json deploy status
is "$(printf '%s' "$out" | jq '[.steps[] | select(.finished_at_ms == 0 or .finished_at_ms == null)] | length')" 0 \
	"deploy status has every step's duration"
done_testing
