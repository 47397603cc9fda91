#!/bin/sh
# mdeploy serve: the JSON API over HTTP with a real pipeline run (an
# approval, a build, a blue/green deployment to PHP instances behind
# HAProxy): tokens, the documents the CLI's --json prints, status codes,
# bad input, approvals through the API with the audit trail, and hostile
# requests that must not bring the server down.
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-deploy.sh"
. "$top_srcdir/t/lib-serve.sh"
. "$top_srcdir/t/lib-pipeline.sh"
deploy_test_init 71

command -v jq >/dev/null || { echo "Bail out! jq is needed"; exit 1; }
trap 'serve_stop; deploy_test_cleanup' EXIT

cd "$TMP" || exit 1
pipeline_ship_setup web '    blue_retention: 0s' || exit 1
pipeline_ship_yml '          echo "making the site: #{variables.text}"' 120s

# ---- listening and tokens -----------------------------------------------
run mdeploy serve --listen 0.0.0.0 --port 0
is "$rc" 1 "a non-loopback address without TLS: refused"
like "$err" "needs TLS" "non-loopback: says TLS is needed"
run mdeploy serve --listen 127.0.0.1 --tls-cert x.pem --port 0
is "$rc" 2 "--tls-cert without --tls-key: usage error"
run mdeploy serve --listen nowhere --port 0
is "$rc" 1 "an address that is not one: refused"

serve_start
ok $? "serve listens on a free port"
is "$(cat .serve-out)" "http://127.0.0.1:$serve_port/" "serve prints its URL"
like "$(cat .serve-err)" "no tokens yet" "serve says when there is no token"

api "" /api/executions >/dev/null
is "$(api_status)" 401 "no token: 401"
is "$(jq -r .error .body | cut -c1-19)" "a token is needed: " "no token: says what is needed"
api "mdt_00000000" /api/executions >/dev/null
is "$(api_status)" 401 "unknown token: 401"
api "" / >/dev/null
is "$(api_status)" 200 "the page itself needs no token (it asks for one)"

W=$(serve_token alice)
R=$(serve_token viewer --read-only)
ok "$(echo "$W" | grep -qx 'mdt_[0-9a-f]\{64\}'; echo $?)" "token create prints the token once"
run mdeploy serve token create alice
is "$rc" 1 "a token name twice: refused"
run mdeploy serve token create 'bad name'
is "$rc" 1 "a token name with a space: refused"
ok "$(! grep -rq "$W" "$MDEPLOY_STATE_DIR"; echo $?)" "the token itself is nowhere in the state directory"
h=$(printf '%s' "$W" | sha256sum | cut -d' ' -f1)
is "$(sqlite3 "$MDEPLOY_STATE_DIR/state.db" "SELECT name FROM web_tokens WHERE hash = '$h'" 2>/dev/null)" alice \
	"its SHA-256 is stored"
is "$(mdeploy serve token list --json | jq -c '[.tokens[] | [.name, .read_only]]')" '[["alice",false],["viewer",true]]' \
	"token list"

api "$W" /api/session >/dev/null
is "$(api_status)" 200 "session with a token: 200"
is "$(jq -r '[.name, .read_only, .via, (.csrf | length)] | @tsv' .body)" "alice	false	token	64" "session: name, rights, CSRF token"

# ---- a real pipeline run, waiting for its approval -----------------------
"$MDEPLOY" pipeline run --poll-ms 50 ship --var text="release one" >run1.out 2>run1.err &
runner=$!
wait_until '[ "$(api "$R" /api/approvals | jq ".approvals | length")" = 1 ]'
api "$R" /api/approvals >/dev/null
is "$(api_status)" 200 "approvals: 200 with a read-only token"
is "$(jq -r '.approvals[0] | [.pipeline, .action, .summary] | @tsv' .body)" \
	"ship	Gate/Release-manager	waiting for approval: ship release one?" "approvals: the waiting approval, with its summary"
id=$(jq -r '.approvals[0].execution' .body)

api "$R" "/api/executions/$id" >api.json
mdeploy pipeline status --json "$id" >cli.json
is "$(jq -S 'del(.updated_at)' api.json)" "$(jq -S 'del(.updated_at)' cli.json)" \
	"GET /api/executions/ID is 'pipeline status --json ID'"
api "$R" "/api/executions?pipeline=ship" >/dev/null
is "$(jq -r '.executions[0].id' .body)" "$id" "GET /api/executions?pipeline=: the history"
api "$R" /api/pipelines >/dev/null
is "$(jq -r '.pipelines | map(.name) | join(",")' .body)" ship "GET /api/pipelines: pipelines with executions"
api "$R" "/api/executions/$id/log?action=Source/Make-site" >/dev/null
is "$(api_status)" 200 "log: 200"
like "$(jq -r .log .body)" "making the site: release one" "log: the action's output"
api "$R" "/api/executions/$id/log?action=Source/Make-site&tail=5" >/dev/null
is "$(jq -r '[(.log | length), .truncated] | @tsv' .body)" "5	true" "log: tail=5 gives the last 5 bytes"
api "$R" "/api/executions/$id/log?action=Source/Nope" >/dev/null
is "$(api_status)" 404 "log of an unknown action: 404"
api "$R" "/api/executions/$id/log" >/dev/null
is "$(api_status)" 400 "log without action=: 400"
api "$R" "/api/executions/$id/log?action=Source/Make-site&tail=-1" >/dev/null
is "$(api_status)" 400 "log with tail=-1: 400"
api "$R" /api/executions/00000000-0000-4000-8000-000000000000 >/dev/null
is "$(api_status)" 404 "an unknown execution: 404"
api "$R" "/api/executions/;rm%20-rf" >/dev/null
is "$(api_status)" 400 "an execution id with other characters: 400"
is "$(jq -r .error .body)" "';rm -rf' is not an execution id" "400 says what is wrong"

# ---- deciding: refused without rights, CSRF, a proper body ----------------
appr='{"action":"Gate/Release-manager","comment":"ship it"}'
api_post "$R" "/api/executions/$id/approve" "$appr" >/dev/null
is "$(api_status)" 403 "approve with a read-only token: 403"
like "$(jq -r .error .body)" "read-only" "read-only: says so"
api "$W" "/api/executions/$id/approve" -X POST -H 'Content-Type: application/json' --data-binary "$appr" >/dev/null
is "$(api_status)" 403 "approve without X-CSRF-Token: 403"
like "$(jq -r .error .body)" "CSRF" "CSRF-less: says why"
api "$W" "/api/executions/$id/approve" -X POST -H 'Content-Type: application/json' \
	-H "X-CSRF-Token: $(printf '%064d' 0)" --data-binary "$appr" >/dev/null
is "$(api_status)" 403 "approve with a wrong CSRF token: 403"
api_post "$W" "/api/executions/$id/approve" "$appr" -H 'Origin: http://evil.example' >/dev/null
is "$(api_status)" 403 "approve from another Origin: 403"
api_post "$W" "/api/executions/$id/approve" "$appr" -H 'Sec-Fetch-Site: cross-site' >/dev/null
is "$(api_status)" 403 "approve with Sec-Fetch-Site: cross-site: 403"
api "$W" "/api/executions/$id/approve" -X POST -H 'Content-Type: text/plain' -H "X-CSRF-Token: $(api_csrf "$W")" \
	--data-binary "$appr" >/dev/null
is "$(api_status)" 415 "approve with a form's content type: 415"
api_post "$W" "/api/executions/$id/approve" '{"action": ' >/dev/null
is "$(api_status)" 400 "approve with broken JSON: 400"
like "$(jq -r .error .body)" "not JSON" "broken JSON: says so"
api_post "$W" "/api/executions/$id/approve" '{"comment":"x"}' >/dev/null
is "$(api_status)" 400 "approve without an action: 400"
api_post "$W" "/api/executions/$id/approve" '{"action":"Gate/Nobody"}' >/dev/null
is "$(api_status)" 409 "approve an action that is not waiting: 409"
api "$W" "/api/executions/$id/approve" >/dev/null
is "$(api_status)" 405 "GET on an action: 405"
is "$(mdeploy pipeline status --json "$id" | jq -r '.actions[1].status')" Waiting "nothing refused changed the approval"

api_post "$W" "/api/executions/$id/approve" "$appr" >/dev/null
is "$(api_status)" 200 "approve with a write token and its CSRF token: 200"
is "$(jq -r '[.decision, .by] | @tsv' .body)" "approved	token:alice" "approve: decision and who"
wait "$runner"
is "$?" 0 "the pipeline goes on and succeeds"
is "$(curl -s -m 5 "http://127.0.0.1:$lbport/")" "release one" "the release is live"
is "$(mdeploy pipeline status --json "$id" | jq -r '.actions[1].comment')" "ship it" "the comment is recorded"
is "$(mdeploy pipeline status --json "$id" | jq -r '.actions[1] | [.summary, .variables.by] | @tsv')" \
	"approved by token:alice	token:alice" "the execution records who decided"
mdeploy serve audit --json >audit.json
is "$(jq -r '.audit | map(select(.action == "approve")) | map([.who, .outcome, .target] | join(" ")) | join(",")' audit.json)" \
	"token:alice done $id Gate/Release-manager,token:alice failed $id Gate/Nobody,token:viewer denied $id" \
	"audit: the approval, the failed one and the refusal, with who"
api "$R" /api/audit >/dev/null
is "$(jq -S .audit .body)" "$(jq -S .audit audit.json)" "GET /api/audit is 'serve audit --json'"

# ---- deployments, groups, fleets, load balancer ----------------------------
did=$(mdeploy deploy history --json prod | jq -r '.deployments[0].id')
api "$R" "/api/deployments/$did" >api.json
mdeploy deploy status --json "$did" >cli.json
is "$(jq -S . api.json)" "$(jq -S . cli.json)" "GET /api/deployments/ID is 'deploy status --json ID'"
is "$(jq -r '.steps | length > 3' api.json)" true "the deployment's journal is in it"
is "$(jq -r .created_by api.json)" "pipeline:ship/$id" "a pipeline's deployment: created by the pipeline and its execution"
is "$(jq -r .bundle_sha256 api.json)" "$(sha256sum "$(jq -r .bundle api.json)" | cut -d' ' -f1)" "with its bundle's SHA-256"
api "$R" /api/deployments >api.json
mdeploy deploy history --json >cli.json
is "$(jq -S . api.json)" "$(jq -S . cli.json)" "GET /api/deployments is 'deploy history --json'"
api "$R" /api/deployments/d-nope00000 >/dev/null
is "$(api_status)" 404 "an unknown deployment: 404"
api "$R" /api/fleets >api.json
mdeploy fleet list --json >cli.json
is "$(jq -S . api.json)" "$(jq -S . cli.json)" "GET /api/fleets is 'fleet list --json'"
fleet=$(jq -r '.fleets[0].name' api.json)
api "$R" "/api/fleets/$fleet" >api.json
mdeploy fleet show --json "$fleet" >cli.json
is "$(jq -S . api.json)" "$(jq -S . cli.json)" "GET /api/fleets/NAME is 'fleet show --json NAME'"
api "$R" /api/fleets/nope >/dev/null
is "$(api_status)" 404 "an unknown fleet: 404"
api "$R" /api/lb/web-prod >api.json
mdeploy lb show --json web-prod >cli.json
is "$(jq -c '[.name, .bind, .running, [.targets[] | [.instance, .weight, .state]]]' api.json)" \
	"$(jq -c '[.name, .bind, .running, [.targets[] | [.instance, .weight, .state]]]' cli.json)" \
	"GET /api/lb/NAME is 'lb show --json NAME'"
is "$(jq -r '.fleets | map("\(.fleet) \(.percent)") | join(",")' api.json)" "$fleet 100" "lb: the live fleet takes 100%"
api "$R" /api/groups >/dev/null
is "$(jq -r '.groups[0] | [.name, .strategy, .live.id, .traffic.fleets[0].percent] | @tsv' .body)" \
	"prod	blue-green	$did	100" "groups: live release and weights"
api "$R" /api/groups/prod >/dev/null
is "$(jq -r '.history[0].id' .body)" "$did" "a group: its history"
api "$R" /api/groups/nope >/dev/null
is "$(api_status)" 404 "an unknown group: 404"

# ---- rollback and stop through the API ---------------------------------------
"$MDEPLOY" pipeline run --poll-ms 50 ship --var text="release two" >run2.out 2>&1 &
runner=$!
wait_until 'id2=$(api "$R" /api/approvals | jq -r ".approvals[0].execution // empty"); [ -n "$id2" ]'
api_post "$W" "/api/executions/$id2/approve" '{"action":"Gate/Release-manager"}' >/dev/null
is "$(api_status)" 200 "second release approved"
wait "$runner"
is "$(curl -s -m 5 "http://127.0.0.1:$lbport/")" "release two" "second release live"
api_post "$R" /api/groups/prod/rollback '{}' >/dev/null
is "$(api_status)" 403 "rollback with a read-only token: 403"
api_post "$W" /api/groups/prod/rollback '{}' >/dev/null
is "$(api_status)" 200 "rollback: 200"
[ "$(api_status)" = 200 ] || diag "$(cat .body)"
is "$(curl -s -m 5 "http://127.0.0.1:$lbport/")" "release one" "rolled back to the first release"
mdeploy deploy status --json "$(jq -r .id .body)" >rb.json
is "$(jq -r '[.strategy, .created_by, .bundle_key_id != null] | @tsv' rb.json)" "rollback	token:alice	true" \
	"the rollback's record: created by the token, the bundle's signer"
is "$(jq -r .bundle_sha256 rb.json)" "$(sha256sum "$(jq -r .bundle rb.json)" | cut -d' ' -f1)" \
	"and the SHA-256 of the bundle it deployed again"
# The old fleet was retired (blue_retention 0s): the rollback booted new
# instances from the server's thread, whose signals are blocked for sigwait.
# They must not inherit that mask, or SIGTERM could not stop them.
n=0 bad=
for pid in $(mdeploy fleet list --json | jq -r '.fleets[].name' | while read -r f; do
	mdeploy fleet show --json "$f" | jq -r '.instances[] | select(.state == "running") | .pid'; done); do
	mask=$(awk '/^SigBlk:/ { print $2 }' "/proc/$pid/status")
	n=$((n + 1))
	[ $((0x$mask & 0x4003)) = 0 ] || bad="$bad $pid:$mask"
done
ok "$([ "$n" -ge 1 ]; echo $?)" "the rollback started instances ($n)"
is "$bad" "" "no instance started by the console has SIGINT/SIGTERM/SIGHUP blocked"
api_post "$W" /api/deployments/d-nope00000/stop '{"rollback":true}' >/dev/null
is "$(api_status)" 404 "stop an unknown deployment: 404"
api_post "$W" "/api/deployments/$did/stop" '{"rollback":"yes"}' >/dev/null
is "$(api_status)" 400 "stop with rollback not a boolean: 400"
is "$(mdeploy serve audit --json | jq -r '.audit | map(select(.action == "rollback")) | map("\(.who) \(.outcome)") | join(",")')" \
	"token:alice done,token:viewer denied" "audit: the rollback and its refusal"

# ---- reject ------------------------------------------------------------------------
"$MDEPLOY" pipeline run --poll-ms 50 ship --var text="release three" >run3.out 2>&1 &
runner=$!
wait_until 'id3=$(api "$R" /api/approvals | jq -r ".approvals[0].execution // empty"); [ -n "$id3" ]'
api_post "$W" "/api/executions/$id3/reject" '{"action":"Gate/Release-manager","comment":"not on a Friday"}' >/dev/null
is "$(api_status)" 200 "reject: 200"
is "$(jq -r '[.decision, .comment, .by] | @tsv' .body)" "rejected	not on a Friday	token:alice" "reject: decision, comment, who"
wait "$runner"
is "$?" 1 "a rejected pipeline fails"
api "$R" "/api/executions/$id3" >/dev/null
is "$(jq -r '[.status, .actions[1].status, .actions[1].comment] | @tsv' .body)" "Failed	Failed	not on a Friday" \
	"the execution shows the rejection and its comment"
is "$(curl -s -m 5 "http://127.0.0.1:$lbport/")" "release one" "nothing was deployed"
is "$(mdeploy serve audit --json | jq -r --arg t "$id3 Gate/Release-manager" '.audit[] | select(.target == $t) | "\(.who) \(.action) \(.outcome) \(.detail)"')" \
	"token:alice reject done not on a Friday" "audit: the rejection, with who and why"

# ---- hostile requests ----------------------------------------------------------
head -c 100000 /dev/zero | tr '\0' a | sed 's/^/X-Big: /' >big.hdr
code=$(curl -s -o /dev/null -w '%{http_code}' -H @big.hdr "$base/api/session")
ok "$([ "$code" -ge 400 ] 2>/dev/null; echo $?)" "a 100 kB header: refused ($code)"
head -c 200000 /dev/zero | tr '\0' a >big.body
api_post "$W" "/api/executions/$id/approve" @big.body >/dev/null
is "$(api_status)" 413 "a 200 kB body: 413"
is "$(curl -s -o /dev/null -w '%{http_code}' --path-as-is "$base/assets/../../../etc/passwd")" 404 "../ in an asset path: 404"
is "$(curl -s -o /dev/null -w '%{http_code}' "$base/assets/%2e%2e%2f%2e%2e%2fetc%2fpasswd")" 404 "encoded ../ in an asset path: 404"
is "$(curl -s -o /dev/null -w '%{http_code}' "$base/assets/app.js%00.png")" 404 "a NUL in a path: 404"
is "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$base/api/executions")" 405 "DELETE: 405"
is "$(curl -s -o /dev/null -w '%{http_code}' -X BREW "$base/")" 405 "an unknown method: 405"
# raw bytes: garbage, a negative Content-Length, a 100 kB request line, a NUL, broken chunks
timeout 30 python3 - "$serve_port" <<'PY'
import socket, sys
for data in (b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
             b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", b"GET /\0 HTTP/1.1\r\nHost: x\r\n\r\n",
             b"POST /api/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.settimeout(5)
    try:
        s.sendall(data)
        s.recv(4096)
    except OSError:
        pass
    s.close()
PY
api "$W" "/api/deployments?limit=99999999999999999999" >/dev/null
is "$(api_status)" 400 "a huge limit: 400"
api "$W" "/api/executions?pipeline=../../etc" >/dev/null
is "$(api_status)" 400 "a pipeline name with ../: 400"
api "$W" /api/session >/dev/null
is "$(api_status)" 200 "the server still answers after all that"
ok "$(kill -0 "$serve_pid"; echo $?)" "and still runs"

# ---- revocation -------------------------------------------------------------------
run mdeploy serve token revoke viewer
is "$rc" 0 "token revoke"
api "$R" /api/session >/dev/null
is "$(api_status)" 401 "a revoked token: 401"
run mdeploy serve token revoke viewer
is "$rc" 1 "revoke twice: not found"

pid=$serve_pid
serve_stop
ok "$(! kill -0 "$pid" 2>/dev/null; echo $?)" "SIGTERM stops the server"
done_testing
