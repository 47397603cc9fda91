#!/bin/sh
# Blue/green deployments for real: PHP fleets on loopback behind HAProxy,
# the agent installing bundles, traffic switched through the Runtime API,
# rollback (instant and automatic), resume after kill -9, manual promotion,
# stop --rollback, and the upgrade plan.
. "${top_srcdir:-.}/t/lib.sh"

[ -x /usr/sbin/haproxy ] && command -v php >/dev/null && command -v curl >/dev/null ||
	skip_all "haproxy, php or curl missing"

n=$(( $$ % 150 ))
export MDEPLOY_LOCAL_ADDRESS_BASE="127.$((100 + n))"
lbport=$((10000 + ($$ % 2000) * 3))
port=$((lbport + 1))
mport=$((lbport + 2))
export MDEPLOY_PROGRESS=0

cleanup() {
	# Stop what the test started: instance process groups and HAProxy.
	for f in "$MDEPLOY_STATE_DIR"/local/lb/*/haproxy.pid; do
		[ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null
	done
	mdeploy --json fleet list 2>/dev/null | jq -r '.fleets[].name' 2>/dev/null | while read -r f; do
		mdeploy --json fleet show "$f" 2>/dev/null | jq -r '.instances[].pid' | while read -r pid; do
			[ "$pid" -gt 0 ] 2>/dev/null && kill -- "-$pid" 2>/dev/null
		done
	done
	# and anything else still running in the test's directory
	for p in /proc/[0-9]*; do
		case "$(readlink "$p/cwd" 2>/dev/null)" in "$TMP"/*) kill -9 "${p#/proc/}" 2>/dev/null ;; esac
	done
	_tap_cleanup
}
trap cleanup EXIT

# mkrel DIR TEXT [VALIDATE_EXIT]: a release whose index.php prints TEXT and
# whose ValidateService checks the instance really serves.
mkrel() {
	mkdir -p "$1/hooks"
	printf '<?php echo "%s\\n";\n' "$2" >"$1/index.php"
	cat >"$1/appspec.yml" <<EOF
version: 0.0
os: linux
hooks:
  ValidateService:
    - location: hooks/validate.sh
      timeout: 30
EOF
	printf '#!/bin/sh\ncurl -sf "http://$MDEPLOY_INSTANCE_ADDR:%s/" >/dev/null || exit 9\nexit %s\n' \
		"$port" "${3:-0}" >"$1/hooks/validate.sh"
	chmod +x "$1/hooks/validate.sh"
}

cd "$TMP" || exit 1
cat >mdeploy.yml <<EOF
application:
  name: demo
groups:
  - name: prod
    fleet: { size: 2, min: 1, max: 4, port: $port }
    load_balancer: { listen: '127.0.0.1:$lbport', slots: 16 }
    health_check: { interval: 100ms, timeout: 1s, healthy_threshold: 1, unhealthy_threshold: 1 }
    alarms: { window: 200ms }
    drain_timeout: 2s
  - name: manual
    fleet: { size: 1, min: 1, max: 2, port: $port }
    load_balancer: { listen: '127.0.0.1:$mport', slots: 8 }
    health_check: { interval: 100ms, healthy_threshold: 1 }
    promotion: manual
    alarms: { window: 100ms }
    drain_timeout: 1s
EOF
mkrel relA "release A"
mkrel relB "release B"
mkrel relC "release C"
mkrel relBad "release bad" 1
for r in A B C Bad; do "$MDEPLOY" -q bundle create "rel$r" "$r.tar.zst" >/dev/null || exit 1; done
get() { curl -s -m 5 "http://127.0.0.1:$lbport/"; }

run mdeploy deploy plan prod A.tar.zst
is "$rc" 0 "plan before the first deployment"
like "$out" "first deployment" "plan: a first deployment is an install/upgrade"

run mdeploy deploy create prod A.tar.zst
is "$rc" 0 "deploy A"
[ "$rc" = 0 ] || diag "$err"
idA=$out
like "$idA" "d-" "create prints the deployment id"
is "$(get)" "release A" "A serves through HAProxy"
run mdeploy --json fleet show demo-prod-v001
is "$(printf '%s' "$out" | jq '[.instances[] | select(.state == "running")] | length')" 2 "green fleet v001 has 2 running instances"

run mdeploy --json deploy plan prod B.tar.zst
is "$(printf '%s' "$out" | jq -r .upgrade)" false "plan: B changes no component version"
like "$(printf '%s' "$out" | jq -r .reason)" "no downtime" "plan says why"

run mdeploy deploy create prod B.tar.zst
is "$rc" 0 "deploy B (code only)"
idB=$out
is "$(get)" "release B" "B serves"
run mdeploy --json lb show demo-prod
is "$(printf '%s' "$out" | jq '.targets | length')" 4 "blue (retained) and green are both registered"
is "$(printf '%s' "$out" | jq '[.targets[] | select(.weight == 0)] | length')" 2 "blue has weight 0"
is "$(printf '%s' "$out" | jq -r '[.targets[] | select(.weight == 0) | .state] | unique | join(",")')" drain "blue is drained"
run mdeploy --json deploy status "$idB"
is "$(printf '%s' "$out" | jq -r .status)" Succeeded "status: Succeeded"
is "$(printf '%s' "$out" | jq -r .blue_fleet)" demo-prod-v001 "status names blue"
is "$(printf '%s' "$out" | jq -r '[.steps[] | select(.state != "done")] | length')" 0 "every journal step done"

start=$(date +%s%N)
run mdeploy deploy rollback prod
ms=$(( ($(date +%s%N) - start) / 1000000 ))
is "$rc" 0 "rollback while blue is retained"
is "$(get)" "release A" "A serves again"
ok "$([ "$ms" -lt 3000 ] && echo 0 || echo 1)" "rollback took ${ms} ms (whole command)"
run mdeploy deploy rollback prod
is "$(get)" "release B" "rolling back again returns to B (the retained fleet swapped)"

run mdeploy deploy create prod Bad.tar.zst
is "$rc" 1 "a release whose ValidateService fails is refused"
like "$err" "ValidateService" "the error names the event"
is "$(get)" "release B" "B still serves"
run mdeploy --json deploy status
is "$(printf '%s' "$out" | jq -r .status)" RolledBack "status: RolledBack"
run mdeploy --json fleet list demo-prod
is "$(printf '%s' "$out" | jq '.fleets | length')" 2 "the failed green fleet is gone"

cp B.tar.zst T.tar.zst
printf 'garbage' | dd of=T.tar.zst bs=1 seek=200 conv=notrunc 2>/dev/null
run mdeploy deploy create prod T.tar.zst
is "$rc" 1 "a tampered bundle is refused"
run mdeploy --json fleet list demo-prod
is "$(printf '%s' "$out" | jq '.fleets | length')" 2 "before any instance changed"
"$MDEPLOY" -q key generate signer.pem signer.pub >/dev/null 2>&1
run mdeploy deploy create --trusted-key signer.pub prod B.tar.zst
is "$rc" 1 "an unsigned bundle is refused when a trusted key is required"
run mdeploy --json fleet list demo-prod
is "$(printf '%s' "$out" | jq '.fleets | length')" 2 "before any instance changed"
run mdeploy deploy create qa B.tar.zst
is "$rc" 1 "unknown group refused"
like "$err" "no deployment group 'qa'" "and named"

# kill -9 in the middle, then resume
MDEPLOY_TEST_CRASH_AT=7 "$MDEPLOY" deploy create prod C.tar.zst >crash.out 2>crash.err
is "$?" 137 "mdeploy killed with SIGKILL at journal step 7"
run mdeploy --json deploy status
idC=$(printf '%s' "$out" | jq -r .id)
is "$(printf '%s' "$out" | jq -r .status)" InProgress "the crashed deployment is InProgress"
is "$(get)" "release B" "B serves meanwhile"
run mdeploy deploy resume "$idC"
is "$rc" 0 "resume finishes it"
[ "$rc" = 0 ] || diag "$err"
like "$err" "took over the lock" "the dead owner's lock is taken over with a warning"
is "$(get)" "release C" "C serves"
run mdeploy --json lb show demo-prod
is "$(printf '%s' "$out" | jq '[.targets[] | select(.weight > 0)] | length')" 2 "exactly one fleet takes traffic"

# scaling the live fleet: new instances boot with the live release and join
live=$(mdeploy --json deploy status "$idC" | jq -r .green_fleet)
run mdeploy fleet scale "$live" 3
is "$rc" 0 "scale the live fleet out to 3"
[ "$rc" = 0 ] || diag "$err"
run mdeploy --json lb show demo-prod
is "$(printf '%s' "$out" | jq '[.targets[] | select(.weight > 0 and .state == "ready")] | length')" 3 "three instances take traffic"
new=$(mdeploy --json fleet show "$live" | jq -r '.instances[-1].address')
is "$(curl -s -m 5 "http://$new:$port/")" "release C" "the new instance serves the live release"
run mdeploy fleet scale "$live" 2
is "$rc" 0 "scale in to 2"
run mdeploy --json lb show demo-prod
is "$(printf '%s' "$out" | jq '[.targets[] | select(.weight > 0)] | length')" 2 "two take traffic"
is "$(get)" "release C" "C still serves"
old=$(mdeploy --json deploy status "$idC" | jq -r .blue_fleet)
run mdeploy fleet scale "$old" 3
is "$rc" 1 "a retained fleet is not scaled as the live one"
like "$err" "is not the live fleet" "and says so"

# manual promotion and stop --rollback
"$MDEPLOY" deploy create manual A.tar.zst >m1.out 2>m1.err
is "$?" 0 "first deployment to a manual group (no blue: promote first)" 
(cd "$TMP" && "$MDEPLOY" deploy create manual B.tar.zst >m2.out 2>m2.err; echo $? >m2.rc) &
i=0; st=
while [ $i -lt 100 ]; do
	st=$(mdeploy --json deploy status 2>/dev/null | jq -r .status)
	[ "$st" = Ready ] && break
	sleep 0.1; i=$((i + 1))
done
is "$st" Ready "green is validated and waits for promotion"
is "$(curl -s -m 5 "http://127.0.0.1:$mport/")" "release A" "no traffic moved yet"
id=$(mdeploy --json deploy status | jq -r .id)
run mdeploy deploy promote "$id"
is "$rc" 0 "promote"
wait
is "$(cat m2.rc)" 0 "the deployment finishes after promotion"
is "$(curl -s -m 5 "http://127.0.0.1:$mport/")" "release B" "B serves on the manual group"

(cd "$TMP" && "$MDEPLOY" deploy create manual C.tar.zst >m3.out 2>m3.err; echo $? >m3.rc) &
i=0; st=
while [ $i -lt 100 ]; do
	st=$(mdeploy --json deploy status 2>/dev/null | jq -r .status)
	[ "$st" = Ready ] && break
	sleep 0.1; i=$((i + 1))
done
id=$(mdeploy --json deploy status | jq -r .id)
run mdeploy deploy stop --rollback "$id"
is "$rc" 0 "stop --rollback"
[ "$rc" = 0 ] || diag "$err" "$(cat m3.err)"
wait
is "$(cat m3.rc)" 1 "the stopped deployment exits 1"
run mdeploy --json deploy status "$id"
is "$(printf '%s' "$out" | jq -r .status)" RolledBack "status RolledBack"
is "$(curl -s -m 5 "http://127.0.0.1:$mport/")" "release B" "B still serves"

run mdeploy --json deploy history prod
ok "$([ "$(printf '%s' "$out" | jq '.deployments | length')" -ge 6 ] && echo 0 || echo 1)" "history lists the group's deployments"
run mdeploy deploy frob
is "$rc" 2 "unknown subcommand: usage error"

# A group naming a CDN on a provider without one: refused before anything changes
# (its invalidation after the cutover would be skipped, and the status would lie).
sed 's|^    drain_timeout: 2s|&\n    cdn: { distribution: E2QWRUHAPOMQZL, invalidate: [ "/theme/*" ] }|' mdeploy.yml >cdn.yml
before=$(mdeploy --json fleet list | jq -c '[.fleets[].name]')
run mdeploy --config cdn.yml deploy create prod C.tar.zst
is "$rc" 1 "cdn on the local provider: refused"
like "$err" "group prod names a CDN (cdn.distribution E2QWRUHAPOMQZL) and provider local has none" "... saying why"
is "$(mdeploy --json fleet list | jq -c '[.fleets[].name]')" "$before" "... before any fleet is made"
done_testing
