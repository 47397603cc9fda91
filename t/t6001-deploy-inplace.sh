#!/bin/sh
# In-place deployments: batches that keep the minimum healthy hosts, each
# instance drained (Before/AfterBlockTraffic), installed, health-checked
# and put back (Before/AfterAllowTraffic); a failure rolls the updated
# instances back. Real PHP instances behind HAProxy, under a curl loop.
. "${top_srcdir:-.}/t/lib.sh"

. "$top_srcdir/t/lib-deploy.sh"
deploy_test_init 77

mkrel() {
	mkdir -p "$1/hooks"
	printf '<?php $b = "%s\\n"; header("Content-Length: " . strlen($b)); echo $b;\n' "$2" >"$1/index.php"
	cat >"$1/appspec.yml" <<EOF2
version: 0.0
os: linux
hooks:
  BeforeBlockTraffic:
    - location: hooks/event.sh
  AfterBlockTraffic:
    - location: hooks/event.sh
  ValidateService:
    - location: hooks/validate.sh
  BeforeAllowTraffic:
    - location: hooks/event.sh
  AfterAllowTraffic:
    - location: hooks/event.sh
EOF2
	printf '#!/bin/sh\necho "$LIFECYCLE_EVENT $MDEPLOY_INSTANCE_ID" >>"%s/events.log"\n' "$TMP" >"$1/hooks/event.sh"
	printf '#!/bin/sh\ncurl -sf "http://$MDEPLOY_INSTANCE_ADDR:%s/" >/dev/null || exit 9\nexit %s\n' \
		"$port" "${3:-0}" >"$1/hooks/validate.sh"
	chmod +x "$1/hooks/"*.sh
	"$MDEPLOY" -q bundle create "$1" "$1.tar.zst" >/dev/null || exit 1
}

cd "$TMP" || exit 1
cat >mdeploy.yml <<EOF
application:
  name: ip
groups:
  - name: prod
    strategy: in-place
    fleet: { size: 3, min: 1, max: 6, port: $port }
    load_balancer: { listen: '127.0.0.1:$lbport', slots: 12 }
    health_check: { interval: 100ms, timeout: 1s, healthy_threshold: 1, unhealthy_threshold: 1 }
    deployment_config: OneAtATime
    drain_timeout: 2s
EOF
mkrel A "release A"
mkrel B "release B"
mkrel Bad "release bad" 1
get() { curl -s -m 5 "http://127.0.0.1:$lbport/"; }
each() {
	mdeploy --json fleet show ip-prod-v001 | jq -r '.instances[].address' | while read -r a; do
		curl -s -m 5 "http://$a:$port/"
	done | sort -u | tr '\n' '|'
}

run mdeploy deploy create prod A.tar.zst
is "$rc" 0 "first deployment creates the fleet"
[ "$rc" = 0 ] || diag "$err"
is "$(get)" "release A" "A serves"

# a client loop through HAProxy during the in-place deployment
: >loop.out
(while :; do curl -s -o /dev/null -w '%{http_code}\n' -m 5 "http://127.0.0.1:$lbport/" >>loop.out; done) &
loop=$!
: >events.log
run mdeploy deploy create prod B.tar.zst
is "$rc" 0 "in-place deployment of B"
[ "$rc" = 0 ] || diag "$err"
kill "$loop"; wait "$loop" 2>/dev/null; loop=
is "$(each)" "release B|" "every instance serves B"
run mdeploy --json fleet list
is "$(printf '%s' "$out" | jq -r '[.fleets[].name] | join(",")')" ip-prod-v001 "still the one fleet"
run mdeploy --json deploy status
is "$(printf '%s' "$out" | jq -r .strategy)" in-place "recorded as in-place"
is "$(printf '%s' "$out" | jq -r '[.steps[] | .step] | map(select(. == "block" or . == "install" or . == "allow")) | join(",")')" \
	"block,install,allow,block,install,allow,block,install,allow" "OneAtATime: block, install, allow per instance in turn"
is "$(grep -c . loop.out)" "$(grep -c '^200$' loop.out)" "every request during the deployment got 200 ($(grep -c . loop.out) requests)"
is "$(grep -c BeforeBlockTraffic events.log)" 3 "BeforeBlockTraffic ran on each instance"
is "$(grep -c AfterAllowTraffic events.log)" 3 "AfterAllowTraffic ran on each instance"
first=$(sed -n 1p events.log | cut -d' ' -f1)
is "$first" BeforeBlockTraffic "the first hook is BeforeBlockTraffic"

run mdeploy deploy create prod Bad.tar.zst
is "$rc" 1 "a failing ValidateService fails the in-place deployment"
run mdeploy --json deploy status
is "$(printf '%s' "$out" | jq -r .status)" RolledBack "and rolls it back"
is "$(each)" "release B|" "every instance serves B again"
run mdeploy --json lb show ip-prod
is "$(printf '%s' "$out" | jq -r '[.targets[] | .state] | unique | join(",")')" ready "every instance is back in rotation"
done_testing
