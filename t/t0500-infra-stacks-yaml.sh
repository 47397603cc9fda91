#!/bin/sh
# infra/aws/stacks.yaml is read with the checks every YAML file mdeploy
# reads gets (issue 13 items 6, 7): a key given twice (a second
# holds_data: was ignored), a NUL, or nesting deeper than 64 levels is an
# error naming the file and line, before any AWS call (the endpoint here
# refuses connections, so an error about it means the file was accepted).
. "${top_srcdir:-.}/t/lib.sh"

port=$(free_port) || { echo "Bail out! no free port"; exit 1; }
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=not-a-secret
export AWS_CONFIG_FILE="$TMP/none" AWS_SHARED_CREDENTIALS_FILE="$TMP/none"
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN 2>/dev/null
export MDEPLOY_STATE_DIR="$TMP/state" MDEPLOY_INFRA_AWS_DIR="$TMP/aws"
mkdir -p "$MDEPLOY_STATE_DIR" "$TMP/aws"
cp "$top_srcdir/infra/aws/"*.yaml "$TMP/aws/"
cat >"$TMP/mdeploy.yml" <<EOF
application:
  name: moodle
infrastructure:
  provider: aws
  region: us-east-1
  environment: staging
  domain: moodle.example.org
  hosted_zone: Z0123456789ABC
EOF
cfg="--config $TMP/mdeploy.yml"

# The shipped file passes these checks (and the command then reaches the
# endpoint, which refuses): the test's set-up is sound.
run mdeploy $cfg infra status
is "$rc" 1 "shipped stacks.yaml: status fails only at the endpoint"
unlike "$err" "stacks.yaml" "... not because of stacks.yaml"
[ "$rc" = 1 ] || diag "$err"

awk '{print} /^    holds_data: true/ && !d {print "    holds_data: false"; d=1}' \
	"$top_srcdir/infra/aws/stacks.yaml" >"$TMP/aws/stacks.yaml"
line=$(grep -n 'holds_data: false' "$TMP/aws/stacks.yaml" | cut -d: -f1)
run mdeploy $cfg infra status
is "$rc" 1 "holds_data given twice: refused"
like "$err" "$TMP/aws/stacks.yaml:$line:5: duplicate key 'holds_data'" "the error names the file, line and key"

printf 'stacks:\n  - layer: "net\\0work"\n    template: network.yaml\n' >"$TMP/aws/stacks.yaml"
run mdeploy $cfg infra plan
is "$rc" 1 "a NUL in a value: refused"
like "$err" "stacks.yaml:2:12: 'net' holds a NUL character" "the error says so, with the line"

{ printf 'stacks:\n  - layer: network\n    template: network.yaml\n    parameters:\n      x: '
  i=0; while [ $i -lt 70 ]; do printf '['; i=$((i + 1)); done
  i=0; while [ $i -lt 70 ]; do printf ']'; i=$((i + 1)); done; echo; } >"$TMP/aws/stacks.yaml"
run mdeploy $cfg infra status
is "$rc" 1 "nested 70 levels: refused"
like "$err" "stacks.yaml:5:70: nested deeper than 64 levels" "the error says so, with the line"
done_testing
