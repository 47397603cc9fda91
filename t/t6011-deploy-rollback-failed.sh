#!/bin/sh
# Rollback to a retained fleet leaves out an instance whose install failed
# (issue 10 item 14): with AllAtOnce one of B's two instances may fail
# ValidateService and B still goes live on the other; after C, `deploy
# rollback` returns to B and must put only B's good instance behind the
# load balancer, never the one that failed.
. "${top_srcdir:-.}/t/lib.sh"

. "$top_srcdir/t/lib-deploy.sh"
deploy_test_init 47

cd "$TMP" || exit 1
cat >mdeploy.yml <<EOF
application:
  name: rf
groups:
  - name: prod
    fleet: { size: 2, min: 1, max: 2, port: $port }
    load_balancer: { listen: '127.0.0.1:$lbport', slots: 8 }
    health_check: { path: /health.php, interval: 200ms, timeout: 1s, healthy_threshold: 2, unhealthy_threshold: 2 }
    deployment_config: AllAtOnce
    drain_timeout: 1s
EOF
deploy_mkrel A "release A"
deploy_mkrel B "release B"
deploy_mkrel C "release C"
# The first of B's instances to validate fails, the other passes.
printf '#!/bin/sh\nmkdir "%s/one-failed" 2>/dev/null && { echo "B fails here" >&2; exit 3; }\ncurl -sf "http://$MDEPLOY_INSTANCE_ADDR:%s/" >/dev/null\n' \
	"$TMP" "$port" >B/hooks/validate.sh
"$MDEPLOY" -q bundle create B B.tar.zst >/dev/null || exit 1
targets() { mdeploy --json lb show rf-prod | jq -r '[.targets[] | select(.weight > 0)] | length'; }

run mdeploy deploy create prod A.tar.zst
is "$rc" 0 "A deployed"
run mdeploy deploy create prod B.tar.zst
is "$rc" 0 "B deployed with one of its two instances failed (AllAtOnce)"
[ "$rc" = 0 ] || diag "$err"
fleetb=$(mdeploy --json deploy status | jq -r .green_fleet)
is "$(targets)" 1 "B serves from its one good instance"
run mdeploy deploy create prod C.tar.zst
is "$rc" 0 "C deployed, B retained"
is "$(mdeploy --json deploy status | jq -r .green_fleet)" "$(mdeploy --json fleet list | jq -r '.fleets[] | select(.role == "live") | .name')" "C is live"
run mdeploy deploy rollback prod
is "$rc" 0 "rollback to the retained B"
[ "$rc" = 0 ] || diag "$err"
like "$err" "failed its install: left out" "the failed instance is named as left out"
is "$(targets)" 1 "only B's good instance takes traffic after the rollback"
ids=$(mdeploy --json fleet show "$fleetb" | jq -c '[.instances[].id]')
is "$(mdeploy --json lb show rf-prod | jq -r --argjson ids "$ids" '[.targets[] | select(.instance as $i | $ids | index($i))] | length')" 1 \
	"the failed instance of $fleetb was not registered"
ok=0
for i in 1 2 3 4 5 6 7 8 9 10; do
	[ "$(curl -s -m 5 "http://127.0.0.1:$lbport/")" = "release B" ] || ok=1
done
is "$ok" 0 "10 requests through the load balancer all answer release B"
done_testing
