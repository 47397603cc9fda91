#!/bin/sh
# Blue retention expiry: once blue_retention has passed, `deploy cleanup`
# (or the next create/rollback of the group) terminates the retained
# fleet, and a rollback then deploys the last good bundle again.
. "${top_srcdir:-.}/t/lib.sh"

. "$top_srcdir/t/lib-deploy.sh"
deploy_test_init 53


cd "$TMP" || exit 1
cat >mdeploy.yml <<EOF
application:
  name: rt
groups:
  - name: prod
    fleet: { size: 1, min: 1, max: 2, port: $port }
    load_balancer: { listen: '127.0.0.1:$lbport', slots: 8 }
    health_check: { interval: 100ms, healthy_threshold: 1 }
    alarms: { window: 100ms }
    drain_timeout: 1s
    blue_retention: 20s
EOF
deploy_mkrel A "release A"
deploy_mkrel B "release B"
get() { curl -s -m 5 "http://127.0.0.1:$lbport/"; }
fleets() { mdeploy --json fleet list | jq -r '[.fleets[].name] | join(",")'; }

run mdeploy deploy create prod A.tar.zst
is "$rc" 0 "deploy A"
[ "$rc" = 0 ] || diag "$err"
run mdeploy deploy create prod B.tar.zst
is "$rc" 0 "deploy B"
[ "$rc" = 0 ] || diag "$err"
is "$(get)" "release B" "B serves"
is "$(fleets)" "rt-prod-v001,rt-prod-v002" "A's fleet is retained as blue"
run mdeploy --json deploy cleanup prod
is "$rc" 0 "cleanup before the retention expired"
is "$(printf '%s' "$out" | jq .terminated)" 0 "terminates nothing"
is "$(fleets)" "rt-prod-v001,rt-prod-v002" "A's fleet is still retained"
sleep 20.5
run mdeploy deploy rollback prod
is "$rc" 0 "rollback after the retention expired"
[ "$rc" = 0 ] || diag "$err"
is "$(get)" "release A" "A serves again"
f=$(fleets)
unlike "$f" "rt-prod-v001" "the expired fleet was terminated ($f)"
like "$f" "rt-prod-v003" "A was deployed again on a new fleet"
run mdeploy --json deploy status
is "$(printf '%s' "$out" | jq -r .status)" Succeeded "the redeployment succeeded"
like "$(printf '%s' "$out" | jq -r .bundle)" "A.tar.zst" "with A's bundle"
# B's fleet is retained now; cleanup (every group) retires it once expired.
run mdeploy --json deploy status
is "$(printf '%s' "$out" | jq -r .retained.fleet)" rt-prod-v002 "status: B's fleet is retained in turn"
exp=$(printf '%s' "$out" | jq .retained.expires_at_ms)
now=$(($(date +%s) * 1000))
ok "$([ "$exp" -gt "$((now - 1000))" ] && [ "$exp" -le "$((now + 21000))" ] && echo 0 || echo 1)" \
	"status: it expires within blue_retention ($exp, now $now)"
run mdeploy deploy status
like "$out" "retains rt-prod-v002 until 20" "status (text) says until when"
sleep 20.5
run mdeploy --json deploy status
is "$(printf '%s' "$out" | jq -r '.retained // "none"')" none "status after expiry terminates it"
is "$(fleets)" "rt-prod-v003" "only the live fleet is left"

# history touches the group too; cleanup reports what it did.
run mdeploy deploy create prod B.tar.zst
is "$rc" 0 "deploy B again"
is "$(fleets)" "rt-prod-v003,rt-prod-v004" "A's fleet is retained"
sleep 20.5
run mdeploy deploy history prod
is "$rc" 0 "history of the group after expiry"
is "$(fleets)" "rt-prod-v004" "terminates the retained fleet"
run mdeploy deploy create prod A.tar.zst
is "$rc" 0 "deploy A again"
sleep 20.5
run mdeploy --json deploy cleanup
is "$rc" 0 "cleanup of every group after expiry"
is "$(printf '%s' "$out" | jq .terminated)" 1 "terminates one fleet"
is "$(fleets)" "rt-prod-v005" "only the live fleet is left"
is "$(get)" "release A" "and it still serves"
run mdeploy deploy cleanup prod
is "$rc" 0 "cleanup again"
is "$err" "0 retained fleets terminated" "is a no-op"
run mdeploy deploy cleanup nosuch
is "$rc" 1 "cleanup of an unknown group fails"
like "$err" "nosuch" "naming it"
run mdeploy deploy cleanup prod extra
is "$rc" 2 "too many arguments: usage error"
done_testing
