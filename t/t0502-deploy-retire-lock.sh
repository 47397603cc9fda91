#!/bin/sh
# A deployment that records the retirement of the old fleet takes the
# fleet's retire lock (retire/FLEET) right then, under the group lock, and
# keeps it until it has terminated the fleet. Before, it took the lock only
# after releasing the group lock: a `deploy status` or `fleet list` in
# between terminated the fleet itself, and the deployment reported a
# retirement (and its time) it had not done. MDEPLOY_TEST_RETIRE_AFTER_HOLD
# holds the deployment in that window (after the group lock's release,
# before the termination) as long as the file exists.
. "${top_srcdir:-.}/t/lib.sh"

. "$top_srcdir/t/lib-deploy.sh"
deploy_test_init 502

cd "$TMP" || exit 1
cat >mdeploy.yml <<EOF
application:
  name: rl
groups:
  - name: prod
    fleet: { size: 1, min: 1, max: 2, port: $port }
    load_balancer: { listen: '127.0.0.1:$lbport', slots: 4 }
    health_check: { path: /health.php, interval: 200ms, timeout: 1s, healthy_threshold: 1, unhealthy_threshold: 2 }
    drain_timeout: 1s
    blue_retention: 0s
EOF
for r in A B; do deploy_mkrel $r "release $r"; done
role() { mdeploy --json fleet list | jq -r --arg f "$1" '.fleets[] | select(.name == $f) | .role'; }
live() { mdeploy --json fleet list | jq -r '.fleets[] | select(.role == "live") | .name'; }

run mdeploy deploy create prod A.tar.zst
is "$rc" 0 "A deployed"
[ "$rc" = 0 ] || diag "$err"
fa=$(live)

: >hold
MDEPLOY_TEST_RETIRE_AFTER_HOLD="$TMP/hold" "$MDEPLOY" deploy create prod B.tar.zst >b.out 2>b.err &
bpid=$!
wait_until 'test -e hold.reached || ! kill -0 "$bpid" 2>/dev/null'
kill -0 "$bpid" 2>/dev/null
ok $? "B's command is between the group lock's release and the termination"
is "$(sqlite3 "$MDEPLOY_STATE_DIR/state.db" "SELECT status FROM deployments WHERE bundle LIKE '%B.tar.zst'")" Succeeded \
	"B is Succeeded"
is "$(sqlite3 "$MDEPLOY_STATE_DIR/state.db" "SELECT owner || ' ' || pid FROM locks WHERE name = 'retire/$fa'")" "retire $bpid" \
	"B's command holds retire/$fa already"

# What runs pending retirements (cleanup) leaves this one to B.
run mdeploy deploy status
is "$rc" 0 "deploy status meanwhile"
[ "$rc" = 0 ] || diag "$err"
run mdeploy fleet list
is "$rc" 0 "fleet list meanwhile"
is "$(role "$fa")" retiring "$fa is still there, retiring: left to B's command"

rm -f hold
wait "$bpid"
brc=$?
is "$brc" 0 "B's command ends with 0"
[ "$brc" = 0 ] || diag "B's command said: $(cat b.err)"
like "$(cat b.err)" "$fa terminated in" "B's command terminated $fa itself"
is "$(mdeploy --json fleet list | jq -r '[.fleets[].name] | join(",")')" "$(live)" "only B's fleet is left"
is "$(sqlite3 "$MDEPLOY_STATE_DIR/state.db" "SELECT count(*) FROM locks WHERE name LIKE 'retire/%'")" 0 \
	"no retire lock is left"
done_testing
