#!/bin/sh
# infra apply / destroy with provider aws on moto_server (signatures
# checked): a CloudFormation change set per stack of stacks.yaml executed in
# order with its events streamed; a second apply changes nothing; a stack
# that fails stops the apply with the reason, the stacks before it left as
# they were and named; destroy deletes in the reverse order and keeps the
# data stack (and what it stands on) unless --delete-data, which turns the
# database's deletion protection off first. The templates are small ones of
# moto-modelled resources in the shape of infra/aws/ (t/fixtures/infra-aws-test;
# moto cannot create infra/aws's data stack, see infra/aws/README.md).
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-moto.sh"
plan 43
moto_start
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
EOF2
}
yml test
yml fail
run() { out=$("$MDEPLOY" "$@" 2>"$TMP/err"); rc=$?; err=$(cat "$TMP/err"); }
# The status of a stack as moto has it (DescribeStacks), or "absent".
stack_status() {
	moto_curl cloudformation -X POST "$MOTO_URL/" --data-urlencode Action=DescribeStacks \
		--data-urlencode Version=2010-05-15 --data-urlencode "StackName=$1" >"$TMP/ds.xml"
	s=$(sed -n 's:.*<StackStatus>\([^<]*\)</StackStatus>.*:\1:p' "$TMP/ds.xml" | head -1)
	echo "${s:-absent}"
}

run --json --config "$TMP/test.yml" infra apply
is "$rc" 0 "apply creates the stacks"
[ "$rc" = 0 ] || diag "$err"
is "$(stack_status moodle-test-network) $(stack_status moodle-test-data) $(stack_status moodle-test-app)" \
	"CREATE_COMPLETE CREATE_COMPLETE CREATE_COMPLETE" "... moto has the three stacks, created"
is "$(printf '%s' "$out" | jq -r '[.changes[].resource] | join(" ")')" \
	"network/Vpc network/Name data/Data app/App" "... --json changes: each resource added, layer by layer"
is "$(printf '%s' "$out" | jq -r '.count, .changed' | tr '\n' ' ')" "4 true " "... count 4, changed"
is "$(printf '%s' "$out" | jq -r '[.events[] | select(.status == "CREATE_COMPLETE") | .stack] | join(" ")')" \
	"moodle-test-network moodle-test-data moodle-test-app" "... --json events: the stacks completed in stacks.yaml's order"
is "$(printf '%s' "$out" | jq -r '[.events[] | select(.status == "CREATE_IN_PROGRESS")][0].reason')" \
	"User Initiated" "... events carry their reason"

run --config "$TMP/test.yml" infra apply
is "$rc" 0 "a second apply"
like "$out" "no changes: the infrastructure is as declared" "... changes nothing (no-op change sets)"
is "$err" "" "... and no stack ran an operation (no events)"
is "$(stack_status moodle-test-network)" "CREATE_COMPLETE" "... the stacks are as they were (not updated)"

run --config "$TMP/test.yml" infra status
is "$rc" 0 "status: every stack up"

# A layer that fails: the apply stops there with the reason; the stacks
# before it stay as applied and are named.
sed 's/Type: String, Value: app}/Type: String, Value: app}\n  Subnet:\n    Type: AWS::EC2::Subnet\n    Properties: {VpcId: vpc-00000000deadbeef, CidrBlock: 10.9.0.0\/24}/' \
	"$TMP/tmpl/app.yaml" >"$TMP/app-bad.yaml"
cp "$TMP/tmpl/app.yaml" "$TMP/app-good.yaml"
cp "$TMP/app-bad.yaml" "$TMP/tmpl/app.yaml"
run --config "$TMP/fail.yml" infra apply
is "$rc" 1 "apply with a failing app template fails"
like "$err" "moodle-fail-app" "... naming the stack"
like "$err" "VpcID vpc-00000000deadbeef does not exist" "... with the reason AWS gave"
like "$err" "done before it: network (CREATE_COMPLETE), data (CREATE_COMPLETE); not done: app" \
	"... saying which stacks were applied and which not"
like "$out" "add     data/Data" "... the stacks applied before it were reported"
is "$(stack_status moodle-fail-network) $(stack_status moodle-fail-data)" "CREATE_COMPLETE CREATE_COMPLETE" \
	"... and stay as applied"
# --json on failure: the document still comes, with what was done and seen and the error.
run --json --config "$TMP/fail.yml" infra apply
is "$rc" 1 "apply --json, still failing, fails"
is "$(printf '%s' "$out" | jq -r '.operation, .changed' | tr '\n' ' ')" "apply true " \
	"... --json document printed all the same"
like "$(printf '%s' "$out" | jq -r '.error')" "VpcID vpc-00000000deadbeef does not exist" "... with the error"
is "$(printf '%s' "$out" | jq -r '[.changes[] | "\(.action):\(.resource)"] | join(" ")')" \
	"delete:moodle-fail-app" "... and the change made before it (the failed stack removed)"
is "$(printf '%s' "$out" | jq -r '[.events[] | select(.stack == "moodle-fail-app") | .status] | any(. == "DELETE_COMPLETE")')" \
	"true" "... and the events seen before it (the failed stack's deletion)"
like "$err" "VpcID vpc-00000000deadbeef does not exist" "... the error on stderr as well"
run --config "$TMP/fail.yml" infra status
is "$rc" 1 "status after the failure: not all up"
cp "$TMP/app-good.yaml" "$TMP/tmpl/app.yaml"
run --config "$TMP/fail.yml" infra apply
is "$rc" 0 "apply once the template is fixed"
[ "$rc" = 0 ] || diag "$err"
like "$out" "delete  moodle-fail-app: left by a create that did not complete" "... the failed stack was removed"
like "$out" "add     app/App" "... and created again"
unlike "$out" "network/" "... the earlier stacks needed nothing"
is "$(stack_status moodle-fail-app)" "CREATE_COMPLETE" "... moto has it created"

# destroy keeps the data stack (and the network it stands on) unless --delete-data.
run --config "$TMP/test.yml" infra destroy
is "$rc" 0 "destroy without --delete-data"
[ "$rc" = 0 ] || diag "$err"
is "$(stack_status moodle-test-app)" "absent" "... deletes the app stack"
is "$(stack_status moodle-test-data) $(stack_status moodle-test-network)" "CREATE_COMPLETE CREATE_COMPLETE" \
	"... keeps the data stack and the network under it"
like "$out" "keep    moodle-test-data: holds data (database, files, cache, artifacts): deleted only with --delete-data" "... saying why the data stack stays"
like "$out" "keep    moodle-test-network: the data stack, which holds data, stands on it" "... and the network"
like "$err" "moodle-test-app: DELETE_COMPLETE" "... events streamed on stderr"

run --json --config "$TMP/test.yml" infra destroy --delete-data
is "$rc" 0 "destroy --delete-data"
[ "$rc" = 0 ] || diag "$err"
is "$(stack_status moodle-test-data) $(stack_status moodle-test-network)" "absent absent" "... deletes the data and network stacks"
is "$(printf '%s' "$out" | jq -r '[.changes[] | "\(.action):\(.resource):\(.data_loss)"] | join(" ")')" \
	"update:moodle-test-data:false delete:moodle-test-data:true delete:moodle-test-network:false" \
	"... deletion protection off, then the data stack (data_loss), then the network"
is "$(printf '%s' "$out" | jq -r '[.events[] | select(.stack == "moodle-test-data") | .status] | join(" ")')" \
	"UPDATE_IN_PROGRESS UPDATE_COMPLETE DELETE_IN_PROGRESS DELETE_COMPLETE" "... the update done before the delete"
run --config "$TMP/test.yml" infra destroy
like "$out" "nothing to destroy" "destroy again: nothing to destroy"

run --config "$TMP/test.yml" infra status --timeout 5
is "$rc" 2 "--timeout goes with apply and destroy only"
run --config "$TMP/test.yml" infra apply --timeout 0
is "$rc" 2 "--timeout 0 is refused"
rm -rf "$TMP/app-bad.yaml"
test ! -e "$MDEPLOY_STATE_DIR/infra"
ok $? "nothing local was made (provider aws never falls back to local)"
done_testing
