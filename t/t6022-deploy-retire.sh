#!/bin/sh
# Retiring the old fleet holds neither the deployment nor the group lock
# (issue 10 item 16): a deployment reports Succeeded once traffic is on
# green and the retirement is recorded, and terminates the old fleet after
# releasing the lock, so another deployment can start meanwhile. A
# retirement interrupted by a crash is finished by a later command.
# MDEPLOY_TEST_RETIRE_DELAY_MS makes the termination slow (N ms), or kills
# the process right before it (-1).
. "${top_srcdir:-.}/t/lib.sh"

. "$top_srcdir/t/lib-deploy.sh"
deploy_test_init 73

cd "$TMP" || exit 1
cat >mdeploy.yml <<EOF
application:
  name: rt
groups:
  - name: prod
    fleet: { size: 2, min: 1, max: 2, port: $port }
    load_balancer: { listen: '127.0.0.1:$lbport', slots: 8 }
    health_check: { path: /health.php, interval: 200ms, timeout: 1s, healthy_threshold: 2, unhealthy_threshold: 2 }
    drain_timeout: 1s
    blue_retention: 0s
EOF
for r in A B C D; do deploy_mkrel $r "release $r"; done
role() { mdeploy --json fleet list | jq -r --arg f "$1" '.fleets[] | select(.name == $f) | .role'; }
live() { mdeploy --json fleet list | jq -r '.fleets[] | select(.role == "live") | .name'; }

run mdeploy deploy create prod A.tar.zst
is "$rc" 0 "A deployed"
fa=$(live)

# B's retirement is held while $TMP/hold exists (then takes 4 s more), so
# that what follows happens during it however slow the machine is.
: >hold
MDEPLOY_TEST_RETIRE_HOLD="$TMP/hold" MDEPLOY_TEST_RETIRE_DELAY_MS=4000 \
	"$MDEPLOY" deploy create prod B.tar.zst >b.out 2>b.err &
bpid=$!
# Polled in the store itself, so this test does not depend on what `deploy
# status` or `fleet list` do with a recorded retirement (t0502: they leave
# it to the command holding the fleet's retire lock, taken when recorded).
db="$MDEPLOY_STATE_DIR/state.db"
st=
# B's status once its command holds the lock retire/FLEET of A's fleet
b_state() {
	sqlite3 "$db" "SELECT d.status FROM deployments d, locks l
		WHERE d.bundle LIKE '%B.tar.zst' AND l.name = 'retire/$fa'" 2>/dev/null
}
wait_until 'st=$(b_state); [ "$st" = Succeeded ] || ! kill -0 "$bpid" 2>/dev/null'
kill -0 "$bpid" 2>/dev/null
ok $? "B is Succeeded while its command is still retiring the old fleet"
[ "$st" = Succeeded ] || diag "B's status (with the retire lock) after the wait: '$st'; its command said: $(cat b.err)"
is "$(curl -s -m 5 "http://127.0.0.1:$lbport/")" "release B" "B serves"
is "$(role "$fa")" retiring "fleet list shows $fa as retiring"
is "$(mdeploy --json lb show rt-prod | jq -r --argjson ids "$(mdeploy --json fleet show "$fa" | jq -c '[.instances[].id]')" \
	'[.targets[] | select(.instance as $i | $ids | index($i))] | length')" 0 "$fa is out of the load balancer"
run mdeploy deploy create prod C.tar.zst
is "$rc" 0 "C deploys meanwhile: the retirement holds no lock"
[ "$rc" = 0 ] || diag "$err"
kill -0 "$bpid" 2>/dev/null
ok $? "B's command was still retiring the old fleet then"
rm -f hold
wait "$bpid"
brc=$?
is "$brc" 0 "B's command ends with 0"
[ "$brc" = 0 ] || diag "B's command said: $(cat b.err)"
# Honest timings (issue 12 item 4): the retirement's time is B's, outside its steps.
run mdeploy --json deploy status "$(cat b.out)"
is "$(printf '%s' "$out" | jq '.timings.retire_ms >= 4000')" true \
	"deploy status: the old fleet's retirement took $(printf '%s' "$out" | jq .timings.retire_ms) ms, after the lock"
is "$(printf '%s' "$out" | jq '[.timings | has("queued_ms", "validate_ms", "plan_ms", "heal_ms")] | all')" true \
	"and the time before the steps: queued, validate, plan, heal"
is "$(printf '%s' "$out" | jq '[.steps[] | select(.step == "finish") | .finished_at_ms - .started_at_ms] | max < 4000')" true \
	"the finish step does not hold the retirement"
run mdeploy deploy status "$(cat b.out)"
like "$out" "the old fleet retired in" "deploy status says where the time went"
is "$(mdeploy --json fleet list | jq -r '[.fleets[].name] | join(",")')" "$(live)" "only C's fleet is left"

fc=$(live)
MDEPLOY_TEST_RETIRE_DELAY_MS=-1 "$MDEPLOY" deploy create prod D.tar.zst >d.out 2>d.err
is "$?" 137 "D's command is killed before it terminates the old fleet"
is "$(role "$fc")" retiring "$fc is left retiring"
is "$(curl -s -m 5 "http://127.0.0.1:$lbport/")" "release D" "D serves"
run mdeploy --json deploy cleanup prod
is "$rc" 0 "deploy cleanup"
[ "$rc" = 0 ] || diag "$err"
run mdeploy fleet show "$fc"
is "$rc" 1 "finished the interrupted retirement: $fc is gone"
is "$(mdeploy --json deploy status | jq -r .status)" Succeeded "D was Succeeded"
is "$(mdeploy --json fleet list | jq -r '[.fleets[] | select(.role != "live")] | length')" 0 "nothing else is left"
is "$(curl -s -m 5 "http://127.0.0.1:$lbport/")" "release D" "D still serves"
done_testing
