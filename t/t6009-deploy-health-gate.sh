#!/bin/sh
# The health gate counts real checks, under load through HAProxy (wrk):
# a release whose / answers 200 but whose health path answers 503 must not
# take traffic (HAProxy counts a server leaving maintenance as UP before its
# first check); it fails, rolls back naming each instance and what its
# health path answered, blue is never drained and no request fails. A
# failed first batch (HalfAtATime) stops the installation there. An
# instance in a reused load balancer slot starts with counters at 0.
. "${top_srcdir:-.}/t/lib.sh"

. "$top_srcdir/t/lib-deploy.sh"
deploy_test_init 41
command -v wrk >/dev/null || skip_all "wrk missing"

cd "$TMP" || exit 1
cat >mdeploy.yml <<EOF
application:
  name: hg
groups:
  - name: prod
    fleet: { size: 4, min: 1, max: 4, port: $port }
    load_balancer: { listen: '127.0.0.1:$lbport', slots: 8 }
    health_check: { path: /health.php, interval: 200ms, timeout: 1s, healthy_threshold: 2, unhealthy_threshold: 2 }
    deployment_config: HalfAtATime
    alarms: { window: 500ms }
    drain_timeout: 2s
EOF
deploy_mkrel A "release A"
deploy_mkrel S "release S" sick
deploy_mkrel F "release F"
deploy_mkrel B "release B"
deploy_mkrel C "release C"
printf '#!/bin/sh\necho "F does not validate" >&2\nexit 3\n' >F/hooks/validate.sh
"$MDEPLOY" -q bundle create F F.tar.zst >/dev/null || exit 1
get() { curl -s -m 5 "http://127.0.0.1:$lbport/"; }
weighted() { mdeploy --json lb show hg-prod | jq '[.targets[] | select(.weight > 0 and .state == "ready")] | length'; }

run mdeploy deploy create prod A.tar.zst
is "$rc" 0 "A deployed"
[ "$rc" = 0 ] || diag "$err"
blue=$(mdeploy --json deploy status | jq -r .green_fleet)

# S: / answers 200, /health.php 503.
touch sick
deploy_load_start "http://127.0.0.1:$lbport/"
run mdeploy deploy create prod S.tar.zst
deploy_load_stop
is "$rc" 1 "a release failing its health check is not deployed"
run mdeploy --json deploy status
id=$(printf '%s' "$out" | jq -r .id)
is "$(printf '%s' "$out" | jq -r .status)" RolledBack "status RolledBack"
health_ms=$(printf '%s' "$out" | jq '[.steps[] | select(.step == "health") | .finished_at_ms - .started_at_ms][0]')
ok "$([ "${health_ms:-0}" -ge 1000 ]; echo $?)" "the health step waited for real checks (${health_ms} ms), not the initial state"
error=$(printf '%s' "$out" | jq -r .error)
like "$error" "0 of 4 instances passed the health check" "the error counts the instances"
is "$(printf '%s' "$error" | grep -o 'health path answered 503' | wc -l)" 4 "and names each of the 4 with the status its health path answered"
[ "$(printf "%s" "$error" | grep -o "health path answered 503" | wc -l)" = 4 ] || diag "$error"
like "$error" "L7STS" "and the last check's result"
is "$(printf '%s' "$out" | jq '[.steps[] | select(.step == "shift" or .step == "drain-blue")] | length')" 0 \
	"no traffic was shifted and blue was never drained"
is "$load_bad/$load_errors" "0/0" "under load: no failed request ($load_summary)"
ok "$([ "${load_good:-0}" -gt 50 ]; echo $?)" "and the load ran ($load_good requests)"
is "$(weighted)" 4 "blue's 4 instances take the traffic"
is "$(mdeploy --json fleet list | jq -r '[.fleets[].name] | join(",")')" "$blue" "the failed fleet is gone"
rm -f sick

# F: ValidateService fails. HalfAtATime on 4: after the first batch of 2
# failed, a second batch would leave fewer than 2 healthy: stop there.
deploy_load_start "http://127.0.0.1:$lbport/"
run mdeploy deploy create prod F.tar.zst
deploy_load_stop
is "$rc" 1 "F fails"
run mdeploy --json deploy status
is "$(printf '%s' "$out" | jq -r .status)" RolledBack "and is rolled back"
is "$(printf '%s' "$out" | jq '[.steps[] | select(.step == "install")] | length')" 2 \
	"only the first batch of 2 was installed"
like "$(printf '%s' "$out" | jq -r .error)" "the next batch of 2 was not installed" "the error says the rest was not installed"
like "$(printf '%s' "$out" | jq -r .error)" "F does not validate" "and why the first batch failed"
is "$load_bad/$load_errors" "0/0" "under load: no failed request ($load_summary)"
is "$(curl -s -m 5 "http://127.0.0.1:$lbport/")" "release A" "A serves"

# Counters belong to instances. With 8 slots, B's instances take the slots
# S failed its checks in, and C's those where A served the load.
sum() { mdeploy --json lb show hg-prod | jq --arg f "$1" --arg k "$2" \
	'[.targets[] | select(.instance as $i | $ids | index($i)) | .[$k]] | add' --argjson ids "$(mdeploy --json fleet show "$1" | jq '[.instances[].id]')"; }
served=$(mdeploy --json lb show hg-prod | jq '[.targets[].responses_total] | add')
run mdeploy deploy create prod B.tar.zst
is "$rc" 0 "B deployed"
[ "$rc" = 0 ] || diag "$err"
fleetb=$(mdeploy --json deploy status | jq -r .green_fleet)
is "$(sum "$fleetb" check_failures)" 0 "B's instances show no failed check (S's slots failed hundreds)"
run mdeploy deploy create prod C.tar.zst
is "$rc" 0 "C deployed (into A's slots: A, retained, goes early for them)"
[ "$rc" = 0 ] || diag "$err"
fleetc=$(mdeploy --json deploy status | jq -r .green_fleet)
# 4 answers from C (a request that timed out on a loaded machine is asked again).
n=0
wait_until '[ "$(get)" = "release C" ] && n=$((n + 1)); [ $n -ge 4 ]'
c=$(sum "$fleetc" responses_total)
ok "$([ "$c" -ge 4 ] && [ "$c" -lt 100 ]; echo $?)" "C's instances count their own $c responses, not A's $served"
done_testing
