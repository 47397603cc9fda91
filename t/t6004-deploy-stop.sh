#!/bin/sh
# deploy stop without --rollback: the deployment ends as Stopped, traffic
# stays on blue, and green is kept running for inspection; the next
# deployment of the group proceeds normally.
. "${top_srcdir:-.}/t/lib.sh"

. "$top_srcdir/t/lib-deploy.sh"
deploy_test_init 31


cd "$TMP" || exit 1
cat >mdeploy.yml <<EOF
application:
  name: st
groups:
  - name: manual
    fleet: { size: 1, min: 1, max: 2, port: $port }
    load_balancer: { listen: '127.0.0.1:$lbport', slots: 8 }
    health_check: { interval: 100ms, healthy_threshold: 1 }
    promotion: manual
    alarms: { window: 100ms }
    drain_timeout: 1s
EOF
deploy_mkrel A "release A"
deploy_mkrel B "release B"
deploy_mkrel C "release C"
get() { curl -s -m 5 "http://127.0.0.1:$lbport/"; }
ready() {
	i=0; st=
	while [ $i -lt 150 ]; do
		st=$(mdeploy --json deploy status 2>/dev/null | jq -r .status)
		[ "$st" = Ready ] && break
		sleep 0.1; i=$((i + 1))
	done
	echo "$st"
}

run mdeploy deploy create manual A.tar.zst
is "$rc" 0 "first deployment"
[ "$rc" = 0 ] || diag "$err"
is "$(get)" "release A" "A serves"

(cd "$TMP" && "$MDEPLOY" deploy create manual B.tar.zst >b.out 2>b.err; echo $? >b.rc) &
is "$(ready)" Ready "B is validated and waits for promotion"
id=$(mdeploy --json deploy status | jq -r .id)
green=$(mdeploy --json deploy status | jq -r .green_fleet)
run mdeploy deploy stop "$id"
is "$rc" 0 "stop without --rollback"
[ "$rc" = 0 ] || diag "$err"
wait
is "$(cat b.rc)" 1 "the stopped deployment exits 1"
like "$(cat b.err)" "stopped" "and says it was stopped"
run mdeploy --json deploy status "$id"
is "$(printf '%s' "$out" | jq -r .status)" Stopped "status Stopped, not RolledBack"
is "$(printf '%s' "$out" | jq -r '[.steps[] | select(.step == "shift")] | length')" 0 "no traffic shift was journaled"
is "$(get)" "release A" "traffic unchanged: A serves"
run mdeploy --json lb show st-manual
is "$(printf '%s' "$out" | jq '[.targets[] | select(.weight > 0)] | length')" 1 "only blue's instance takes traffic"
run mdeploy --json fleet list
like "$(printf '%s' "$out" | jq -r '[.fleets[].name] | join(",")')" "$green" "green fleet $green is kept"
addr=$(mdeploy --json fleet show "$green" | jq -r '.instances[0].address')
is "$(curl -s -m 5 "http://$addr:$port/")" "release B" "and still serves B directly, for inspection"
run mdeploy deploy stop "$id"
is "$rc" 1 "stopping it again is refused"
like "$err" "already ended" "because it already ended"

# The next deployment proceeds normally and leaves A's fleet as blue.
(cd "$TMP" && "$MDEPLOY" deploy create manual C.tar.zst >c.out 2>c.err; echo $? >c.rc) &
is "$(ready)" Ready "the next deployment reaches Ready"
run mdeploy deploy promote "$(mdeploy --json deploy status | jq -r .id)"
is "$rc" 0 "promote"
wait
is "$(cat c.rc)" 0 "the next deployment succeeds"
is "$(get)" "release C" "C serves"
done_testing
