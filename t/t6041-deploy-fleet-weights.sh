#!/bin/sh
# Traffic is weighed between fleets: a canary sets fleet weights (25 to
# green, 75 to blue) that `lb show` reports per fleet, with the share the
# load balancer gives each now, and real requests follow it; stop
# --rollback gives blue 100 again; after a deployment the live fleet weighs
# 100 and the retained one 0; a rollback swaps them; a scale-out keeps the
# fleet's weight (its servers share it).
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-deploy.sh"
deploy_test_init 41
qport=$(free_port) || skip_all "no free port"

cd "$TMP" || exit 1
cat >mdeploy.yml <<EOF2
application:
  name: fw
groups:
  - name: prod
    fleet: { size: 2, min: 1, max: 4, port: $port }
    load_balancer: { listen: '127.0.0.1:$lbport', slots: 12 }
    health_check: { interval: 100ms, healthy_threshold: 1, unhealthy_threshold: 1 }
    traffic_shift: { type: canary, percent: 25, interval: 10m }
    alarms: { window: 100ms }
    drain_timeout: 1s
  - name: quick
    fleet: { size: 2, min: 1, max: 4, port: $port }
    load_balancer: { listen: '127.0.0.1:$qport', slots: 12 }
    health_check: { interval: 100ms, healthy_threshold: 1, unhealthy_threshold: 1 }
    alarms: { window: 100ms }
    drain_timeout: 1s
EOF2
deploy_mkrel A "release A"
deploy_mkrel B "release B"
fleets() { mdeploy --json lb show "fw-$1" | jq -r "[.fleets[] | $2] | join(\" \")"; }

plan 26

run mdeploy deploy create prod A.tar.zst
is "$rc" 0 "deploy A"
[ "$rc" = 0 ] || diag "$err"
is "$(fleets prod '.fleet + "=" + (.weight | tostring)')" "fw-prod-v001=100" "lb show --json: the live fleet weighs 100"
is "$(fleets prod '.share_percent | tostring')" "100" "... and has all the share"
is "$(mdeploy --json lb show fw-prod | jq -r '[.targets[].fleet] | unique | join(" ")')" fw-prod-v001 \
	"each target names its fleet"

"$MDEPLOY" deploy create prod B.tar.zst >b.out 2>b.err &
dep=$!
i=0
while [ $i -lt 600 ] && kill -0 "$dep" 2>/dev/null &&
	[ "$(fleets prod 'select(.fleet == "fw-prod-v002") | .weight | tostring' 2>/dev/null)" != 25 ]; do
	sleep 0.1
	i=$((i + 1))
done
is "$(fleets prod '.fleet + "=" + (.weight | tostring)')" "fw-prod-v001=75 fw-prod-v002=25" "canary: fleet weights 75 and 25"
is "$(fleets prod '.share_percent | tostring')" "75 25" "the load balancer's weights give 75% and 25%"
is "$(fleets prod '.in_rotation | tostring')" "2 2" "both fleets' targets are in rotation"
run mdeploy lb show fw-prod
ok "$(printf '%s' "$out" | grep -Eq '^FLEET +WEIGHT +SHARE +TARGETS +IN-ROTATION$'; echo $?)" "lb show: a fleet table"
ok "$(printf '%s' "$out" | grep -Eq '^fw-prod-v002 +25 +25\.0% +2 +2$'; echo $?)" "with green's weight and share"
: >seen
j=0
while [ $j -lt 400 ]; do
	curl -s -m 2 "http://127.0.0.1:$lbport/" >>seen
	j=$((j + 1))
done
a=$(grep -c "release A" seen)
b=$(grep -c "release B" seen)
diag "400 requests during the canary: $a to A, $b to B"
ok "$([ $((a + b)) -eq 400 ] && [ "$b" -ge 60 ] && [ "$b" -le 140 ]; echo $?)" \
	"real requests follow the fleet weights (B got $b of 400, 25% is 100)"
run mdeploy deploy stop --rollback "$(mdeploy --json deploy status | jq -r .id)"
is "$rc" 0 "stop --rollback in the canary"
[ "$rc" = 0 ] || diag "$err"
wait "$dep"
diag "the deployment: $(tail -1 b.err)"
is "$(fleets prod '.fleet + "=" + (.weight | tostring)')" "fw-prod-v001=100" \
	"blue weighs 100 again; green's weight went with its targets"
is "$(curl -s -m 5 "http://127.0.0.1:$lbport/")" "release A" "A serves"

run mdeploy deploy create quick A.tar.zst
is "$rc" 0 "quick: deploy A"
run mdeploy deploy create quick B.tar.zst
is "$rc" 0 "quick: deploy B (all at once)"
is "$(fleets quick '.fleet + "=" + (.weight | tostring)')" "fw-quick-v001=0 fw-quick-v002=100" \
	"the live fleet 100, the retained one 0"
is "$(fleets quick '.share_percent | tostring')" "0 100" "shares 0% and 100%"
is "$(mdeploy --json lb show fw-quick | jq -r '[.targets[] | select(.fleet == "fw-quick-v001") | .state + "/" + (.weight | tostring)] | unique | join(" ")')" \
	"drain/0" "the retained fleet's targets: drained, weight 0"
run mdeploy deploy rollback quick
is "$rc" 0 "rollback"
is "$(fleets quick '.fleet + "=" + (.weight | tostring)')" "fw-quick-v001=100 fw-quick-v002=0" "the weights swapped back"
is "$(curl -s -m 5 "http://127.0.0.1:$qport/")" "release A" "A serves"

run mdeploy fleet scale fw-quick-v001 3
is "$rc" 0 "scale the live fleet to 3"
[ "$rc" = 0 ] || diag "$err"
is "$(fleets quick 'select(.fleet == "fw-quick-v001") | (.weight | tostring) + "/" + (.targets | tostring)')" "100/3" \
	"the fleet keeps weight 100 over 3 targets"
is "$(mdeploy --json lb show fw-quick | jq -r '[.targets[] | select(.fleet == "fw-quick-v001") | .weight] | unique | join(" ")')" \
	256 "each of its servers at 256"
is "$(mdeploy --json fleet show fw-quick-v001 | jq -c '.load_balancer | [.name, .weight, .share_percent, .targets]')" \
	'["fw-quick",100,100,3]' "fleet show --json: the fleet's weight and share at its group's load balancer"
run mdeploy fleet show fw-quick-v002
like "$out" "load balancer fw-quick: fleet weight 0, 0.0% of new requests" "fleet show: the retained fleet weighs 0"
