#!/bin/sh
# A failed deployment keeps its logs (issue 10 item 13): the green fleet is
# retired on rollback, which removes its instances' roots, but the log path
# the error prints must still exist afterwards, with the hook's output, and
# `deploy status` lists the logs kept with the deployment.
. "${top_srcdir:-.}/t/lib.sh"

. "$top_srcdir/t/lib-deploy.sh"
deploy_test_init 61

cd "$TMP" || exit 1
cat >mdeploy.yml <<EOF
application:
  name: fl
groups:
  - name: prod
    fleet: { size: 2, min: 1, max: 2, port: $port }
    load_balancer: { listen: '127.0.0.1:$lbport', slots: 8 }
    health_check: { path: /health.php, interval: 200ms, timeout: 1s, healthy_threshold: 2, unhealthy_threshold: 2 }
    drain_timeout: 1s
EOF
deploy_mkrel A "release A"
deploy_mkrel B "release B"
printf '#!/bin/sh\necho "validation of B went wrong: marker-4711"\nexit 3\n' >B/hooks/validate.sh
"$MDEPLOY" -q bundle create B B.tar.zst >/dev/null || exit 1

run mdeploy deploy create prod A.tar.zst
is "$rc" 0 "A deployed"
run mdeploy deploy create prod B.tar.zst
is "$rc" 1 "B fails its validation"
like "$err" "rolled back" "and is rolled back"
log=$(printf '%s\n' "$err" | sed -n 's/.*(log: \([^)]*\)).*/\1/p' | tail -n 1)
ok "$([ -n "$log" ]; echo $?)" "the error names a log: $log"
id=$(mdeploy --json deploy status | jq -r .id)
green=$(mdeploy --json deploy status | jq -r .green_fleet)
run mdeploy fleet show "$green"
ok "$([ "$rc" != 0 ]; echo $?)" "the green fleet $green was retired"
ok "$([ -f "$log" ]; echo $?)" "the log the error printed still exists"
like "$(cat "$log" 2>/dev/null)" "marker-4711" "with the hook's output"
case "$log" in "$MDEPLOY_STATE_DIR/deployments/$id/logs/"*) r=0 ;; *) r=1 ;; esac
is "$r" 0 "kept with the deployment in the state directory"
is "$(stat -c %a "$log" 2>/dev/null)" 600 "readable by its owner only"
is "$(stat -c %a "$MDEPLOY_STATE_DIR/deployments/$id/logs" 2>/dev/null)" 700 "in a directory of its owner only"
run mdeploy --json deploy status "$id"
is "$(printf '%s' "$out" | jq -r --arg l "$log" '.logs | index($l) != null')" true "deploy status --json lists it"
inst=$(basename "$log" .log)
is "$(printf '%s' "$out" | jq -r --arg l "${log%.log}.server.log" '.logs | index($l) != null')" true \
	"and the server log of $inst"
like "$(printf '%s' "$out" | jq -r .error)" "$log" "the recorded error names the kept log"
run mdeploy deploy status "$id"
like "$out" "logs kept:" "deploy status shows the logs kept"
like "$out" "$log" "naming the log"
run mdeploy --json deploy status "$(mdeploy --json deploy history | jq -r '.deployments[-1].id')"
is "$(printf '%s' "$out" | jq -r '.logs | length')" 0 "a deployment that succeeded kept no logs"
is "$(curl -s -m 5 "http://127.0.0.1:$lbport/")" "release A" "release A still serves"
done_testing
