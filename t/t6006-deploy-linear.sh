#!/bin/sh
# Linear traffic shifting: green's share of the load balancer weight grows by
# percent every interval (seen in `lb show --json` and the journal), and
# the unhealthy_hosts alarm rolls a deployment back when green turns sick.
. "${top_srcdir:-.}/t/lib.sh"

. "$top_srcdir/t/lib-deploy.sh"
deploy_test_init 97


cd "$TMP" || exit 1
cat >mdeploy.yml <<EOF
application:
  name: ln
groups:
  - name: prod
    fleet: { size: 2, min: 1, max: 4, port: $port }
    load_balancer: { listen: '127.0.0.1:$lbport', slots: 12 }
    health_check: { path: /health.php, interval: 100ms, healthy_threshold: 1, unhealthy_threshold: 1 }
    # 3 s a step: each sample below runs mdeploy twice, which takes a second
    # or more under ASan on a loaded machine; 1 s steps were missed there.
    traffic_shift: { type: linear, percent: 25, interval: 3s }
    alarms: { unhealthy_hosts: 1, window: 1s }
    drain_timeout: 1s
EOF
deploy_mkrel A "release A"
deploy_mkrel B "release B"
deploy_mkrel C "release C" sick
get() { curl -s -m 5 "http://127.0.0.1:$lbport/"; }
# green's percentage of the weight of the targets in rotation
share() {
	_a=$(mdeploy --json fleet show "$1" 2>/dev/null | jq -c '[.instances[].address]')
	mdeploy --json lb show ln-prod 2>/dev/null | jq -r --argjson g "${_a:-[]}" '
		[.targets[] | select(.state == "ready")] as $t
		| ([$t[] | .weight] | add) as $all
		| ([$t[] | select(.address as $a | $g | index($a)) | .weight] | add // 0) as $green
		| if $all > 0 then ($green * 100 / $all | round) else "-" end'
}

run mdeploy deploy create prod A.tar.zst
is "$rc" 0 "deploy A"
[ "$rc" = 0 ] || diag "$err"
"$MDEPLOY" deploy create prod B.tar.zst >b.out 2>b.err &
dep=$!
: >shares
while kill -0 "$dep" 2>/dev/null; do
	share ln-prod-v002 >>shares
	sleep 0.2
done
wait "$dep"
is "$?" 0 "linear deployment of B succeeds"
seen=$(grep -v -- - shares | uniq | tr '\n' ' ')
diag "green's share seen: $seen"
is "$(grep -x -e 25 -e 50 -e 75 shares | uniq | tr '\n' ' ')" "25 50 75 " "lb show: green's share went 25, 50, 75 in turn"
is "$(get)" "release B" "then only B"
run mdeploy --json deploy status
is "$(printf '%s' "$out" | jq -r '[.steps[] | select(.step == "shift") | .target] | join(",")')" "25,50,75,100" \
	"journal: shift 25, 50, 75, 100"
gaps=$(printf '%s' "$out" | jq '[.steps[] | select(.step == "shift") | .started_at_ms] | [range(1; length) as $i | .[$i] - .[$i - 1]] | min')
ok "$([ "$gaps" -ge 2950 ] && echo 0 || echo 1)" "an interval (3s) between steps (shortest ${gaps} ms)"

# C's health check fails once $TMP/sick exists: the unhealthy_hosts alarm fires.
# C's steps last 20 s (the alarm is watched all along, so it ends the first
# one at once): the 25% step is seen however slow the machine is.
sed -i 's/percent: 25, interval: 3s/percent: 25, interval: 20s/' mdeploy.yml
ok "$(grep -q 'interval: 20s' mdeploy.yml; echo $?)" "(C's steps set to 20 s)"
"$MDEPLOY" deploy create prod C.tar.zst >c.out 2>c.err &
dep=$!
# Installing C's fleet takes seconds, more on a loaded machine: wait for
# the first step as long as the deployment runs.
while kill -0 "$dep" 2>/dev/null && [ "$(share ln-prod-v003)" != 25 ]; do sleep 0.1; done
is "$(share ln-prod-v003)" 25 "C takes its first 25%"
: >sick
wait "$dep"
is "$?" 1 "the deployment of C fails"
like "$(cat c.err)" "rolled back: alarm: " "rolled back by an alarm"
like "$(cat c.err)" " of ln-prod-v003 failing health checks" "the unhealthy-hosts alarm on green"
run mdeploy --json deploy status
is "$(printf '%s' "$out" | jq -r .status)" RolledBack "status RolledBack"
is "$(get)" "release B" "B serves again"
is "$(share ln-prod-v002)" 100 "B's fleet has all the weight"
done_testing
