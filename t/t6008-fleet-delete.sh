#!/bin/sh
# Fleets the state store does not know as live, retained or in flight are
# shown as orphaned by `fleet list` and removed by `fleet delete`, which
# takes them out of the load balancer first and refuses the live fleet.
. "${top_srcdir:-.}/t/lib.sh"

. "$top_srcdir/t/lib-deploy.sh"
deploy_test_init 37

cd "$TMP" || exit 1
cat >mdeploy.yml <<EOF
application:
  name: fd
groups:
  - name: prod
    fleet: { size: 1, min: 1, max: 2, port: $port }
    load_balancer: { listen: '127.0.0.1:$lbport', slots: 8 }
    health_check: { interval: 100ms, healthy_threshold: 1 }
    promotion: manual
    alarms: { window: 100ms }
    drain_timeout: 1s
    blue_retention: 1h
EOF
deploy_mkrel A "release A"
deploy_mkrel B "release B"
deploy_mkrel C "release C"
get() { curl -s -m 5 "http://127.0.0.1:$lbport/"; }
ready() {
	i=0; st=
	while [ $i -lt 300 ]; do
		st=$(mdeploy --json deploy status 2>/dev/null | jq -r .status)
		[ "$st" = Ready ] && break
		sleep 0.1; i=$((i + 1))
	done
	echo "$st"
}
role() { mdeploy --json fleet list | jq -r --arg f "$1" '.fleets[] | select(.name == $f) | .role'; }
registered() { mdeploy --json lb show fd-prod | jq '[.targets[]] | length'; }

run mdeploy deploy create prod A.tar.zst
is "$rc" 0 "first deployment"
[ "$rc" = 0 ] || diag "$err"
live=$(mdeploy --json deploy status | jq -r .green_fleet)
is "$(role "$live")" live "fleet list: $live is live"

# B waits for promotion and is stopped: its green fleet stays, registered, and nothing owns it.
(cd "$TMP" && "$MDEPLOY" deploy create prod B.tar.zst >b.out 2>b.err) &
is "$(ready)" Ready "B waits for promotion"
id=$(mdeploy --json deploy status | jq -r .id)
green=$(mdeploy --json deploy status | jq -r .green_fleet)
is "$(role "$green")" deploying "while B is unfinished its fleet $green is 'deploying'"
run mdeploy fleet delete "$green"
is "$rc" 1 "fleet delete refuses a fleet of a running deployment"
like "$err" "locked by '$id'" "and says why (the deployment holds the lock)"
run mdeploy deploy stop "$id"
is "$rc" 0 "stop B without rollback"
wait
is "$(role "$green")" orphaned "after the stop nothing owns $green: orphaned"
run mdeploy fleet list
like "$out" "orphaned" "the table marks it too"
is "$(registered)" 2 "its instance is still registered with the load balancer"

run mdeploy fleet delete "$live"
is "$rc" 1 "fleet delete refuses the live fleet"
like "$err" "live fleet of group prod" "naming why"
is "$(get)" "release A" "A still serves"

run mdeploy fleet delete "$green"
is "$rc" 0 "fleet delete removes the orphan"
[ "$rc" = 0 ] || diag "$err"
run mdeploy --json fleet list
is "$(printf '%s' "$out" | jq -r '[.fleets[].name] | join(",")')" "$live" "only the live fleet is left"
is "$(registered)" 1 "and only its instance is registered"
is "$(get)" "release A" "A serves throughout"

# A retained fleet may go: the group then has nothing to roll back to instantly.
(cd "$TMP" && "$MDEPLOY" deploy create prod C.tar.zst >c.out 2>c.err; echo $? >c.rc) &
ready >/dev/null
mdeploy deploy promote "$(mdeploy --json deploy status | jq -r .id)" >/dev/null
wait
is "$(cat c.rc)" 0 "C deployed"
is "$(role "$live")" retained "the old live fleet is retained"
run mdeploy fleet delete "$live"
is "$rc" 0 "a retained fleet can be deleted"
run mdeploy --json deploy status
is "$(printf '%s' "$out" | jq -r '.retained.fleet // "none"')" none "and is no longer retained"
is "$(get)" "release C" "C serves"
run mdeploy fleet delete fd-prod-v999
is "$rc" 1 "an unknown fleet is an error"
done_testing
