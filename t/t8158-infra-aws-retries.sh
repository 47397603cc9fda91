#!/bin/sh
# infra apply / destroy with provider aws never make a change set or a stack
# twice: a call whose answer was lost after CloudFormation did the work
# (t/aws-fault-proxy.py "forward": moto did it, the client got a 5xx) is
# not sent again once DescribeChangeSet shows it took effect; each carries
# an idempotency token (CreateChangeSet ClientToken, ExecuteChangeSet and
# DeleteStack ClientRequestToken) the same on every retry, which is what
# AWS itself honours (moto does not: it made a second stack of the same
# name, REVIEW_IN_PROGRESS for ever, and apply waited on it for an hour).
# An apply killed between CreateChangeSet and ExecuteChangeSet leaves a
# change set that the next apply deletes before adding its own. 50 tags
# (mdeploy.yml's maximum) reach the stacks (the call's arrays held 30).
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-moto.sh"
plan 27
moto_start
pport=$(free_port)
setsid python3 "$top_srcdir/t/aws-fault-proxy.py" "$pport" "$MOTO_PORT" >"$TMP/proxy.log" 2>&1 </dev/null &
proxy_pid=$!
trap 'kill -TERM -- "-$proxy_pid" 2>/dev/null || kill -TERM "$proxy_pid"; wait "$proxy_pid" 2>/dev/null;
	[ -n "${bg:-}" ] && kill -KILL "$bg" 2>/dev/null; moto_stop; _tap_cleanup' EXIT
proxy="http://127.0.0.1:$pport"
wait_until 'curl -s -o /dev/null "$proxy/__stats"' || { echo "Bail out! the proxy did not start"; cat "$TMP/proxy.log"; exit 1; }
inject() { curl -s -o /dev/null -X POST --data-binary "$1" "$proxy/__inject"; }
# The query bodies of one action on one stack, from the proxy's log.
sent() { curl -s "$proxy/__stats" | jq -r --arg a "Action=$1&" --arg s "StackName=$2&" \
	'.query[] | select(startswith($a) and contains($s))'; }
# One parameter's value out of a body.
param() { printf '%s\n' "$2" | tr '&' '\n' | sed -n "s/^$1=//p"; }
# moto's own record of its stacks and change sets (not through the API under test).
moto_data() { curl -s "$MOTO_URL/moto-api/data.json" >"$TMP/data.json"; }
stacks_named() { moto_data; jq -r --arg n "$1" '[.cloudformation.Stack[] | select(.name == $n and .status != "DELETE_COMPLETE") | .status] | join(" ")' "$TMP/data.json"; }
# The change sets of a stack (by name) not executed, as moto lists them
# (ListChangeSets straight to moto: data.json keeps deleted ones).
pending_sets() {
	moto_curl cloudformation -X POST "$MOTO_URL/" --data-urlencode Action=ListChangeSets \
		--data-urlencode Version=2010-05-15 --data-urlencode "StackName=$1" >"$TMP/lcs.xml"
	python3 - "$1" "$TMP/lcs.xml" <<'EOF2'
import sys, xml.etree.ElementTree as ET
out = []
for m in ET.parse(sys.argv[2]).iter():
    if not m.tag.endswith("}member") and m.tag != "member":
        continue
    f = {c.tag.split("}")[-1]: (c.text or "") for c in m}
    if f.get("StackName") == sys.argv[1] and not f.get("ExecutionStatus", "").startswith("EXECUTE_"):
        out.append(f.get("ChangeSetName", "?"))
print(" ".join(out))
EOF2
}
AWS_ENDPOINT_URL=$proxy
export AWS_ENDPOINT_URL
export MDEPLOY_STATE_DIR="$TMP/state"
mkdir -p "$MDEPLOY_STATE_DIR"
cp -r "$top_srcdir/t/fixtures/infra-aws-test" "$TMP/tmpl"
chmod -R u+w "$TMP/tmpl"
export MDEPLOY_INFRA_AWS_DIR="$TMP/tmpl"
yml() {
	cat >"$TMP/$1.yml" <<EOF2
application:
  name: moodle
infrastructure:
  provider: aws
  region: us-east-1
  environment: $1
  domain: moodle.example.org
  hosted_zone: Z0123456789ABC
  tags:
EOF2
	i=1
	while [ $i -le 50 ]; do
		printf '    - {key: tag%02d, value: "value %d"}\n' $i $i >>"$TMP/$1.yml"
		i=$((i + 1))
	done
}
yml tok
yml crash
run() { out=$("$MDEPLOY" "$@" 2>"$TMP/err"); rc=$?; err=$(cat "$TMP/err"); }

# network: CreateChangeSet and ExecuteChangeSet done by moto, their answers
# lost (500/503); data: a 503 before moto saw CreateChangeSet (sent again).
inject '[{"count": 1, "status": 503, "code": "ServiceUnavailable", "forward": true,
          "body": "Action=CreateChangeSet&Version=2010-05-15&StackName=moodle-tok-network&"},
         {"count": 1, "status": 500, "code": "InternalFailure", "forward": true,
          "body": "Action=ExecuteChangeSet&Version=2010-05-15&StackName=moodle-tok-network&"},
         {"count": 1, "status": 503, "code": "ServiceUnavailable",
          "body": "Action=CreateChangeSet&Version=2010-05-15&StackName=moodle-tok-data&"}]'
run --config "$TMP/tok.yml" infra apply --timeout 120
is "$rc" 0 "apply: answers of CreateChangeSet and ExecuteChangeSet lost (done by moto), a 503 before moto saw one: applied"
[ "$rc" = 0 ] || diag "$err"
is "$(stacks_named moodle-tok-network)" "CREATE_COMPLETE" "... one network stack in moto, created (not two)"
is "$(stacks_named moodle-tok-data) $(stacks_named moodle-tok-app)" "CREATE_COMPLETE CREATE_COMPLETE" \
	"... the data and app stacks, once each"
cc=$(sent CreateChangeSet moodle-tok-network)
is "$(printf '%s\n' "$cc" | grep -c .)" 1 "... CreateChangeSet sent once for the network stack (DescribeChangeSet found it)"
ex=$(sent ExecuteChangeSet moodle-tok-network)
is "$(printf '%s\n' "$ex" | grep -c .)" 1 "... ExecuteChangeSet sent once (DescribeChangeSet: executing)"
cd_=$(sent CreateChangeSet moodle-tok-data)
is "$(printf '%s\n' "$cd_" | grep -c .)" 2 "... CreateChangeSet sent again when moto had not seen it (data)"
c1=$(param ClientToken "$(printf '%s\n' "$cd_" | sed -n 1p)")
is "$(param ClientToken "$(printf '%s\n' "$cd_" | sed -n 2p)")" "$c1" "... with the same ClientToken"
printf '%s' "$c1" | grep -Eq '^mdeploy-create-[0-9a-f]{32}$'
ok $? "... a token of CloudFormation's characters, under 128 ($c1)"
t1=$(param ClientRequestToken "$ex")
printf '%s' "$t1" | grep -Eq '^mdeploy-execute-[0-9a-f]{32}$'
ok $? "ExecuteChangeSet carries a ClientRequestToken ($t1)"
t2=$(param ClientRequestToken "$(sent ExecuteChangeSet moodle-tok-data)")
test -n "$t2" && test "$t2" != "$t1"
ok $? "... another for another change set"
is "$(param ChangeSetName "$ex" | cut -c1-30)" "arn%3Aaws%3Acloudformation%3Au" "... which it names by its id (ARN)"
moto_data
is "$(jq '[.cloudformation.Stack[] | select(.name == "moodle-tok-network") | .tags | length] | .[0]' "$TMP/data.json")" \
	50 "50 tags on the stack (mdeploy.yml's maximum)"
is "$(jq -r '.cloudformation.Stack[] | select(.name == "moodle-tok-app") | .tags.tag50' "$TMP/data.json")" \
	"value 50" "... the last one with its value"

# An update killed between CreateChangeSet and ExecuteChangeSet (the
# execute held by the proxy), then applied again.
sed -i 's/Value: app}/Value: app2}/' "$TMP/tmpl/app.yaml"
inject '[{"count": 1, "status": 500, "code": "InternalFailure", "hold": 60,
          "body": "Action=ExecuteChangeSet&Version=2010-05-15&StackName=moodle-tok-app&"}]'
"$MDEPLOY" --config "$TMP/tok.yml" infra apply >"$TMP/bg.out" 2>&1 &
bg=$!
wait_until 'curl -s "$proxy/__stats" | jq -e ".held == 1" >/dev/null'
ok $? "an update of the app stack is waiting on ExecuteChangeSet"
kill -KILL "$bg"; wait "$bg" 2>/dev/null; bg=
left=$(pending_sets moodle-tok-app)
printf '%s' "$left" | grep -Eq '^mdeploy-apply-[0-9]+-[0-9a-f]{8}-app$'
ok $? "... killed (-9): its change set is left on the stack, not executed ($left)"
inject '[]'
run --config "$TMP/tok.yml" infra apply
is "$rc" 0 "apply again"
[ "$rc" = 0 ] || diag "$err"
is "$(pending_sets moodle-tok-app)" "" "... the interrupted run's change set is gone (none left unexecuted)"
is "$(sent DeleteChangeSet moodle-tok-app | grep -c .)" 1 "... deleted once"
is "$(stacks_named moodle-tok-app)" "UPDATE_COMPLETE" "... the stack updated by this run's own"

# A first create killed the same way: the stack under review is deleted and made again, once.
inject '[{"count": 1, "status": 500, "code": "InternalFailure", "hold": 60,
          "body": "Action=ExecuteChangeSet&Version=2010-05-15&StackName=moodle-crash-network&"}]'
"$MDEPLOY" --config "$TMP/crash.yml" infra apply >"$TMP/bg.out" 2>&1 &
bg=$!
wait_until 'curl -s "$proxy/__stats" | jq -e ".held == 2" >/dev/null'
kill -KILL "$bg"; wait "$bg" 2>/dev/null; bg=
is "$(stacks_named moodle-crash-network)" "REVIEW_IN_PROGRESS" "a create killed before its change set ran: the stack under review"
inject '[]'
run --config "$TMP/crash.yml" infra apply
is "$rc" 0 "apply again"
[ "$rc" = 0 ] || diag "$err"
is "$(stacks_named moodle-crash-network)" "CREATE_COMPLETE" "... one network stack, created"

# destroy: DeleteStack's answer lost after moto deleted (retried, the same token).
inject '[{"count": 1, "status": 500, "code": "InternalFailure", "forward": true,
          "body": "Action=DeleteStack&Version=2010-05-15&StackName=arn%3Aaws%3Acloudformation%3Aus-east-1%3A123456789012%3Astack%2Fmoodle-tok-app%2F"}]'
run --config "$TMP/tok.yml" infra destroy --delete-data
is "$rc" 0 "destroy --delete-data, DeleteStack's answer lost once"
[ "$rc" = 0 ] || diag "$err"
ds=$(curl -s "$proxy/__stats" | jq -r '.query[] | select(startswith("Action=DeleteStack&") and contains("moodle-tok-app"))')
d1=$(param ClientRequestToken "$(printf '%s\n' "$ds" | sed -n 1p)")
printf '%s' "$d1" | grep -Eq '^mdeploy-delete-[0-9a-f]{32}$'
ok $? "... DeleteStack carries a ClientRequestToken ($d1)"
is "$(printf '%s\n' "$ds" | grep -c .) $(param ClientRequestToken "$(printf '%s\n' "$ds" | sed -n 2p)")" "2 $d1" \
	"... sent again with the same one"
is "$(pending_sets moodle-tok-data)" "" "... the deletion protection's change set made once, executed"
is "$(stacks_named moodle-tok-app)$(stacks_named moodle-tok-data)$(stacks_named moodle-tok-network)" "" \
	"... no stack left"
