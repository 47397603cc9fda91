#!/bin/sh
# deploy plan lists, as a dry run, the provider operations a deployment
# would make (libmdeploy's provider interface, with how the local provider
# does each), changing nothing; the deployment that follows makes them:
# the same green fleet, the same traffic steps and fleet weights.
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-deploy.sh"
deploy_test_init 42
ipport=$(free_port) || skip_all "no free port"

cd "$TMP" || exit 1
cat >mdeploy.yml <<EOF2
application:
  name: po
groups:
  - name: prod
    fleet: { size: 2, min: 1, max: 4, port: $port }
    load_balancer: { listen: '127.0.0.1:$lbport', slots: 12 }
    health_check: { interval: 100ms, healthy_threshold: 1, unhealthy_threshold: 1 }
    traffic_shift: { type: canary, percent: 20, interval: 1s }
    alarms: { window: 200ms }
    drain_timeout: 1s
  - name: ip
    strategy: in-place
    fleet: { size: 2, min: 1, max: 4, port: $port }
    load_balancer: { listen: '127.0.0.1:$ipport', slots: 8 }
    health_check: { interval: 100ms, healthy_threshold: 1, unhealthy_threshold: 1 }
    deployment_config: OneAtATime
    drain_timeout: 1s
EOF2
deploy_mkrel A "release A"
deploy_mkrel B "release B"
deploy_mkrel C "release C"
ops() { mdeploy --json deploy plan "$1" "$2" | jq -r "[.operations[] | $3] | join(\" \")"; }

plan 17

run mdeploy --json deploy plan prod A.tar.zst
is "$rc" 0 "plan the first deployment"
is "$(printf '%s' "$out" | jq -r '[.operations[].step] | join(",")')" "load-balancer,create-fleet,register,health,shift 100,watch" \
	"its provider operations, step by step"
is "$(printf '%s' "$out" | jq -r '[.operations[].call] | join(",")')" \
	"lb_ensure,fleet_create,lb_register,lb_targets,lb_set_fleet_weights,lb_targets" "named as the provider interface names them"
is "$(printf '%s' "$out" | jq -r '.operations[1].target + ": " + .operations[1].detail')" "po-prod-v001: desired 2, min 1, max 4" \
	"the green fleet it would create, with its sizes"
is "$(printf '%s' "$out" | jq -r '[.operations[] | select(.how == null or .how == "")] | length')" 0 \
	"each says how the local provider carries it out"
run mdeploy deploy create prod A.tar.zst
is "$rc" 0 "deploy A"

fleets_before=$(mdeploy --json fleet list | jq -c '[.fleets[].name]')
run mdeploy deploy plan prod B.tar.zst
is "$rc" 0 "plan B"
like "$out" "provider operations (dry run):" "human output lists them"
ok "$(printf '%s' "$out" | grep -Eq '^ +5\. shift 20 +lb_set_fleet_weights +po-prod: po-prod-v002 20, po-prod-v001 80'; echo $?)" \
	"the canary's fleet weights"
is "$(ops prod B.tar.zst 'select(.call == "fleet_create") | .target')" po-prod-v002 "planning again names the same green fleet"
is "$(mdeploy --json fleet list | jq -c '[.fleets[].name]')" "$fleets_before" "planning created nothing"
planned=$(ops prod B.tar.zst 'select(.call == "lb_set_fleet_weights") | .step + "=" + .detail')
run mdeploy deploy create prod B.tar.zst
is "$rc" 0 "deploy B"
run mdeploy --json deploy status
is "$(printf '%s' "$out" | jq -r .green_fleet)" po-prod-v002 "the deployment created the planned fleet"
is "$(printf '%s' "$out" | jq -r '[.steps[] | select(.step == "shift" or .step == "drain-blue") | .step + " " + .target] | join(",")')" \
	"shift 20,shift 100,drain-blue po-prod-v001" "and made the planned traffic steps ($planned)"

# With a retained fleet, the next deployment retires it.
is "$(ops prod C.tar.zst 'select(.step == "finish" or .step == "retire") | .call + " " + .target')" \
	"lb_deregister po-prod-v001 fleet_terminate po-prod-v001" "an older retained fleet's retirement is planned"

run mdeploy deploy create ip A.tar.zst
is "$rc" 0 "deploy A in place (first: a fleet)"
is "$(ops ip B.tar.zst '.call' | tr ' ' '\n' | sort -u | tr '\n' ' ')" "lb_ensure lb_set_states lb_targets " \
	"an in-place plan: target states only, no fleet created"
