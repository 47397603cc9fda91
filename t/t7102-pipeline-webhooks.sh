#!/bin/sh
# Pipeline notifications: webhooks (Slack/Mattermost/Teams {"text"}, the
# Adaptive Card message of a Teams Workflows webhook, or structured JSON) POSTed through libcurl to a local receiver when an
# approval waits, when an execution fails and when it succeeds, with a link
# to the console page; events filtered per webhook; a receiver that is down
# never fails the pipeline and the outcome of each delivery is in the audit
# trail, without the URL's secret path.
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-serve.sh"
. "$top_srcdir/t/lib-pipeline.sh"

command -v python3 >/dev/null || { echo "Bail out! python3 is needed for the webhook receiver"; exit 1; }
cd "$TMP" || exit 1
trap 'serve_stop; [ -n "${recv:-}" ] && kill "$recv" 2>/dev/null; _tap_cleanup' EXIT

# The receiver: one JSON line per POST in got.PATH (path without the leading
# /, secret part included), answering 204; /broken answers 500.
cat >recv.py <<'EOF'
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        name = self.path.strip("/").replace("/", "_")
        with open("got." + name, "a") as f:
            f.write(json.dumps({"ctype": self.headers.get("Content-Type"), "body": json.loads(body)}) + "\n")
        self.send_response(500 if name == "broken" else 204)
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
rport=$(free_port)
python3 recv.py "$rport" &
recv=$!
dead=$(free_port)
[ "$dead" != "$rport" ] || dead=$(free_port)
wait_until "curl -s -o /dev/null -X POST -H 'Content-Type: application/json' -d '{}' http://127.0.0.1:$rport/ready"

mkdir pipelines
cat >pipelines/hooked.yml <<EOF
name: hooked
variables:
  - name: fail
    default: "0"
notifications:
  - url: http://127.0.0.1:$rport/slack/SECRET-T0K3N
  - url: http://127.0.0.1:$rport/json
    format: json
    events: [failed]
  - url: http://127.0.0.1:$rport/mm
    format: mattermost
    events: [approval]
  - url: http://127.0.0.1:$rport/workflows/SECRET-W0RKFL0W
    format: teams-workflows
    events: [approval]
  - url: http://127.0.0.1:$dead/down/SECRET-D0WN
  - url: http://127.0.0.1:$rport/broken
    events: [succeeded]
stages:
  - name: Build
    actions:
      - name: make
        type: shell
        command: "true"
  - name: Gate
    actions:
      - name: Approve
        type: approval
        comment: "ship #{pipeline.name}?"
        timeout: 60s
  - name: Ship
    actions:
      - name: ship
        type: shell
        command: 'test "#{variables.fail}" = 0'
EOF
run mdeploy pipeline validate hooked
is "$rc" 0 "a pipeline with notifications validates"

# The console records its URL; notifications link to the execution's page.
serve_start --public-url http://console.example:8090/
ok $? "serve records where the console is"

mdeploy pipeline run --poll-ms 50 hooked >run1.out 2>run1.err &
pid=$!
wait_until '[ -n "$(latest_id hooked)" ] && [ "$(field "$(latest_id hooked)" ".actions[1].status")" = Waiting ]'
id=$(latest_id hooked)
wait_until '[ -s got.slack_SECRET-T0K3N ]'
is "$(jq -r .ctype got.slack_SECRET-T0K3N)" application/json "a JSON POST"
is "$(jq -r .body.text got.slack_SECRET-T0K3N)" \
	"mdeploy: pipeline hooked (execution $(echo "$id" | cut -c1-8)) waits for approval of Gate/Approve: ship hooked? <http://console.example:8090/#/executions/$id|Open in the console>" \
	"slack: the approval wait, its summary and a link to the console page"
wait_until '[ -s got.mm ]'
is "$(jq -r .body.text got.mm)" \
	"mdeploy: pipeline hooked (execution $(echo "$id" | cut -c1-8)) waits for approval of Gate/Approve: ship hooked? [Open in the console](http://console.example:8090/#/executions/$id)" \
	"mattermost: a markdown link"
wait_until '[ -s got.workflows_SECRET-W0RKFL0W ]'
is "$(jq -c '.body | [.type, (.attachments | length), .attachments[0].contentType, .attachments[0].contentUrl,
	.attachments[0].content.type, .attachments[0].content.version, .attachments[0].content."$schema"]' got.workflows_SECRET-W0RKFL0W)" \
	'["message",1,"application/vnd.microsoft.card.adaptive",null,"AdaptiveCard","1.4","http://adaptivecards.io/schemas/adaptive-card.json"]' \
	"teams-workflows: a message with one Adaptive Card, as a Teams Workflows webhook takes it"
is "$(jq -r '.body.attachments[0].content.body[0] | [.type, .text, .wrap] | @tsv' got.workflows_SECRET-W0RKFL0W)" \
	"TextBlock	mdeploy: pipeline hooked (execution $(echo "$id" | cut -c1-8)) waits for approval of Gate/Approve: ship hooked?	true" \
	"teams-workflows: the text in a TextBlock"
is "$(jq -r '.body.attachments[0].content.actions[0] | [.type, .title, .url] | @tsv' got.workflows_SECRET-W0RKFL0W)" \
	"Action.OpenUrl	Open in the console	http://console.example:8090/#/executions/$id" "teams-workflows: a button to the console page"
ok "$([ ! -e got.json ]; echo $?)" "a webhook for failures only is not told about the approval"

run mdeploy pipeline approve "$id" Gate/Approve
is "$rc" 0 "approved"
wait "$pid"
is "$?" 0 "the pipeline succeeds although one webhook is down and another answers 500"
wait_until '[ "$(wc -l <got.slack_SECRET-T0K3N)" -ge 2 ]'
is "$(sed -n 2p got.slack_SECRET-T0K3N | jq -r .body.text)" \
	"mdeploy: pipeline hooked (execution $(echo "$id" | cut -c1-8)) succeeded <http://console.example:8090/#/executions/$id|Open in the console>" \
	"slack: the success"
is "$(wc -l <got.mm | tr -d ' ')" 1 "a webhook for approvals only is not told about the success"
like "$(cat run1.err)" "notification to http://127.0.0.1:$dead/... failed" "a failed delivery is a warning in the log"
unlike "$(cat run1.err)" "SECRET" "the log does not show the webhook's secret path"
mdeploy serve audit --json >audit.json
notes() { jq -r --arg t "$2" --arg o "$1" '[.audit[] | select(.action == "notify" and .outcome == $o and .target == $t)] | length' audit.json; }
is "$(notes done "http://127.0.0.1:$rport/...")/$(notes failed "http://127.0.0.1:$rport/...")/$(notes failed "http://127.0.0.1:$dead/...")" \
	"4/1/2" "audit: every delivery and its outcome (4 delivered, the 500 and the two to a closed port failed)"
unlike "$(cat audit.json)" "SECRET" "the audit trail does not show the secret path"
is "$(jq -r --arg t "$id Gate/Approve" '[.audit[] | select(.action == "approve" and .target == $t)][0] | "\(.who) \(.outcome)"' audit.json)" \
	"user:$(id -un) done" "audit: 'pipeline approve' from the CLI, with the user who decided"
is "$(field "$id" '.actions[1] | [.summary, .variables.by] | @tsv')" "approved by user:$(id -un)	user:$(id -un)" \
	"the execution records who decided from the CLI"
run mdeploy pipeline approve "$id" Gate/Approve
is "$rc" 1 "approve twice: refused"
like "$err" "not waiting for approval" "approve twice: the decision's error is reported, not the audit's"
is "$(mdeploy serve audit --json | jq -r '.audit[0] | "\(.action) \(.outcome)"')" "approve failed" "audit: the refused approval"

# A failure: the slack hook and the failures-only json hook hear of it.
serve_stop
mdeploy pipeline run --poll-ms 50 --var fail=1 hooked >run2.out 2>run2.err &
pid=$!
wait_until '[ "$(latest_id hooked)" != "$id" ] && [ "$(field "$(latest_id hooked)" ".actions[1].status")" = Waiting ]'
id2=$(latest_id hooked)
mdeploy pipeline approve "$id2" Gate/Approve >/dev/null
wait "$pid"
is "$?" 1 "the second run fails"
wait_until '[ -s got.json ]'
is "$(jq -c '.body | [.event, .pipeline, .execution, .action, .url, .source]' got.json)" \
	"[\"failed\",\"hooked\",\"$id2\",null,\"http://console.example:8090/#/executions/$id2\",\"mdeploy\"]" \
	"json: a structured document for the failure"
like "$(jq -r .body.detail got.json)" "ship" "json: the failure's detail names the action"
like "$(tail -n 1 got.slack_SECRET-T0K3N | jq -r .body.text)" "pipeline hooked (execution $(echo "$id2" | cut -c1-8)) failed: " \
	"slack: the failure"
MDEPLOY_CONSOLE_URL=https://deploy.example.org/ mdeploy pipeline run --poll-ms 50 hooked >/dev/null 2>&1 &
pid=$!
wait_until '[ "$(wc -l <got.mm)" -ge 3 ]'
like "$(tail -n 1 got.mm | jq -r .body.text)" "(https://deploy.example.org/#/executions/" "MDEPLOY_CONSOLE_URL sets the link"
mdeploy pipeline stop --abandon "$(latest_id hooked)" >/dev/null 2>&1
wait "$pid"

# Bad notifications are problems of the definition, with their place.
cat >pipelines/bad.yml <<EOF
name: bad
notifications:
  - url: ftp://example.org/x
    format: irc
    events: [approval, exploded]
  - format: slack
stages:
  - name: A
    actions: [{ name: a, type: shell, command: "true" }]
  - name: B
    actions: [{ name: b, type: shell, command: "true" }]
EOF
run mdeploy pipeline validate bad
is "$rc" 1 "bad notifications: invalid"
like "$err" "bad.yml:3:10: notifications[0].url: 'ftp://example.org/x' is not an http:// or https:// URL" "bad URL, with its place"
like "$err" "notifications[0].format: 'irc' is not a format (slack, mattermost, teams, teams-workflows, json)" "bad format"
like "$err" "notifications[0].events[1]: 'exploded' is not an event" "bad event"
like "$err" "notifications[1].url: is required" "missing URL"
done_testing
