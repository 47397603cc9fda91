#!/bin/sh
# group stop / group start (issue 10 item 15): stop takes every instance of
# the live and retained fleets down and puts the targets in maintenance at
# the load balancer, keeping the group's state (deployments are refused
# meanwhile); start brings the live release back only once its instances
# passed real health checks, and the retained fleet back warm for an
# instant rollback.
. "${top_srcdir:-.}/t/lib.sh"

. "$top_srcdir/t/lib-deploy.sh"
deploy_test_init 67

cd "$TMP" || exit 1
cat >mdeploy.yml <<EOF
application:
  name: gs
groups:
  - name: prod
    fleet: { size: 2, min: 1, max: 3, port: $port }
    load_balancer: { listen: '127.0.0.1:$lbport', slots: 8 }
    health_check: { path: /health.php, interval: 200ms, timeout: 1s, healthy_threshold: 2, unhealthy_threshold: 2 }
    drain_timeout: 1s
    blue_retention: 1h
EOF
deploy_mkrel A "release A"
deploy_mkrel B "release B" sick
deploy_mkrel C "release C"
lb() { curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$lbport/"; }
running() { mdeploy --json fleet show "$1" | jq -r '[.instances[] | select(.state == "running")] | length'; }
ids() { mdeploy --json fleet show "$1" | jq -c '[.instances[].id]'; }
targets() { # FLEET JQ-FILTER
	mdeploy --json lb show gs-prod | jq -r --argjson ids "$(ids "$1")" \
		"[.targets[] | select(.instance as \$i | \$ids | index(\$i))] | $2"
}

run mdeploy deploy create prod A.tar.zst
is "$rc" 0 "A deployed"
run mdeploy deploy create prod B.tar.zst
is "$rc" 0 "B deployed, A retained"
live=$(mdeploy --json fleet list | jq -r '.fleets[] | select(.role == "live") | .name')
kept=$(mdeploy --json fleet list | jq -r '.fleets[] | select(.role == "retained") | .name')
ok "$([ -n "$live" ] && [ -n "$kept" ]; echo $?)" "a live ($live) and a retained ($kept) fleet"

run mdeploy --json group stop prod
is "$rc" 0 "group stop"
[ "$rc" = 0 ] || diag "$err"
is "$(printf '%s' "$out" | jq -c '[.state, .instances_stopped]')" '["stopped",4]' "--json: stopped, 4 instances"
is "$(running "$live")" 0 "no instance of the live fleet runs"
is "$(running "$kept")" 0 "no instance of the retained fleet runs"
is "$(targets "$live" 'map(.state) | unique | join(",")')" maint "the load balancer has the live targets in maintenance"
is "$(targets "$live" 'map(.weight) | unique | join(",")')" 256 "with their weights kept (the fleet weight spread: 256 each)"
is "$(lb)" 503 "the load balancer answers 503"
is "$(mdeploy --json fleet list | jq -r '.fleets[] | select(.role == "live") | .name')" "$live" "the live fleet is kept"
run mdeploy deploy create prod C.tar.zst
is "$rc" 1 "deploy create refuses a stopped group"
like "$err" "group prod is stopped: run 'mdeploy group start prod' first" "naming what to do"
run mdeploy fleet scale "$live" 3
is "$rc" 1 "fleet scale refuses it too"
run mdeploy deploy rollback prod
is "$rc" 1 "and rollback"
run mdeploy --json group stop prod
is "$(printf '%s' "$out" | jq -c '[.state, .instances_stopped]')" '["stopped",0]' "stopping again changes nothing"
run mdeploy --json deploy status
is "$(printf '%s' "$out" | jq -r .group_stopped)" true "deploy status says the group is stopped"

# B's health path fails: start must not report the group running.
touch sick
run mdeploy group start prod
is "$rc" 1 "start fails while the live release fails its health check"
like "$err" "passed the health check" "naming the health check"
like "$err" "answered 503" "and what the health path answered"
run mdeploy deploy create prod C.tar.zst
like "$err" "is stopped" "the group stays stopped"
rm -f sick

run mdeploy --json group start prod
is "$rc" 0 "group start"
[ "$rc" = 0 ] || diag "$err"
is "$(printf '%s' "$out" | jq -r .state)" running "--json: running"
is "$(curl -s -m 5 "http://127.0.0.1:$lbport/")" "release B" "the live release B serves again"
is "$(targets "$live" 'map(.state + "/" + .health) | unique | join(",")')" "ready/UP" "its targets are ready and UP"
is "$(running "$kept")" 2 "the retained fleet runs again"
is "$(targets "$kept" 'map(.state + "/" + (.weight | tostring)) | unique | join(",")')" "drain/0" \
	"drained, weight 0, as before the stop"
run mdeploy --json deploy status
is "$(printf '%s' "$out" | jq -r .group_stopped)" false "deploy status: no longer stopped"
run mdeploy deploy rollback prod
is "$rc" 0 "rollback to the retained fleet works after the start"
is "$(curl -s -m 5 "http://127.0.0.1:$lbport/")" "release A" "release A serves"
run mdeploy group start prod
is "$rc" 0 "starting a running group is a no-op"
run mdeploy group stop nosuch
is "$rc" 1 "an unknown group fails"
run mdeploy group stop
is "$rc" 2 "a missing group is a usage error"
done_testing
