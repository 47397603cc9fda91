#!/bin/sh
# infra status / infra outputs with provider aws read the CloudFormation
# stacks of infra/aws/ (APP-ENV-LAYER) through the library's signed Query
# client, on moto_server with signature checking; plan/apply/destroy say
# apply, with the network stack there (as CreateStack made it, with its
# outputs), creates the other layers from its outputs with the real templates
# (t8156 tests apply and destroy in detail).
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-moto.sh"
plan 26
moto_start
export MDEPLOY_INFRA_AWS_DIR="$top_srcdir/infra/aws"
export MDEPLOY_STATE_DIR="$TMP/state"
mkdir -p "$MDEPLOY_STATE_DIR"
cat >"$TMP/mdeploy.yml" <<EOF2
application:
  name: moodle
infrastructure:
  provider: aws
  region: us-east-1
  environment: staging
  domain: moodle.example.org
  hosted_zone: Z0123456789ABC
EOF2
cfg="--config $TMP/mdeploy.yml"

run() { out=$("$MDEPLOY" "$@" 2>"$TMP/err"); rc=$?; err=$(cat "$TMP/err"); }
run $cfg infra status
is "$rc" 1 "status before any stack: an error"
like "$err" "no stack of this application exists" "... saying no stack exists"

run $cfg infra plan
is "$rc" 0 "plan on an empty account"
[ "$rc" = 0 ] || diag "$err"
like "$out" "would add     network/Vpc" "... adds the VPC through a network change set"
like "$out" "network/NatGateway2" "... and both NAT gateways"
like "$out" "moodle-staging-data" "... and says the data stack"
like "$out" "planned once the network stack exists" "... is planned once the network stack exists"
run $cfg infra status
like "$err" "no stack of this application exists" "the plan left no stack behind"

# The network layer, created as CloudFormation would be asked to (the only
# layer moto can create, see infra/aws/README.md).
moto_curl cloudformation -o "$TMP/create.xml" -w '%{http_code}' -X POST "$MOTO_URL/" \
	--data-urlencode Action=CreateStack --data-urlencode Version=2010-05-15 \
	--data-urlencode StackName=moodle-staging-network \
	--data-urlencode "TemplateBody@$top_srcdir/infra/aws/network.yaml" \
	--data-urlencode Parameters.member.1.ParameterKey=AppName \
	--data-urlencode Parameters.member.1.ParameterValue=moodle \
	--data-urlencode Parameters.member.2.ParameterKey=Environment \
	--data-urlencode Parameters.member.2.ParameterValue=staging \
	--data-urlencode Parameters.member.3.ParameterKey=SubnetCidrs \
	--data-urlencode Parameters.member.3.ParameterValue=10.40.0.0/19,10.40.32.0/19,10.40.64.0/19,10.40.96.0/19,10.40.128.0/19,10.40.160.0/19 \
	>"$TMP/code"
is "$(cat "$TMP/code")" 200 "moto created the network stack"
[ "$(cat "$TMP/code")" = 200 ] || diag "$(cat "$TMP/create.xml")"

run $cfg infra status
is "$rc" 1 "status with only the network stack: fails (three layers are not there)"
like "$out" "network" "... lists the network layer"
like "$out" "CREATE_COMPLETE" "... as created"
like "$out" "not created" "... and the other layers as not created"
run --json $cfg infra outputs
is "$rc" 0 "outputs"
vpc=$(printf '%s' "$out" | jq -r '.outputs."network.VpcId" // empty' 2>/dev/null)
like "$vpc" "vpc-" "outputs give network.VpcId ($vpc)"
subnets=$(printf '%s' "$out" | jq -r '.outputs."network.PrivateSubnetIds" // empty' 2>/dev/null)
is "$(printf '%s' "$subnets" | tr ',' '\n' | grep -c '^subnet-')" 2 "outputs give the two private subnets"

# A wrong secret key is refused by moto: the library signs every call.
AWS_SECRET_ACCESS_KEY=wrong$AWS_SECRET_ACCESS_KEY run $cfg infra status
is "$rc" 1 "a wrong key is refused (calls are signed and checked)"

run $cfg infra plan
is "$rc" 0 "plan with the network stack there"
unlike "$out" "network/" "... the network stack as created needs no change"
like "$out" "would add     data/DatabaseCluster" "... and the data stack's resources, from the network stack's outputs"
unlike "$out" "planned once the network" "... no layer waits on the network stack any more"
run $cfg infra apply
is "$rc" 0 "apply with the real templates"
[ "$rc" = 0 ] || diag "$err"
like "$out" "add     edge/" "... creates the layers after the network from its outputs, up to edge"
unlike "$out" "network/" "... the network stack as it was"
run $cfg infra status
is "$rc" 0 "status: all four stacks up"
[ "$rc" = 0 ] || diag "$out"
test ! -e "$MDEPLOY_STATE_DIR/infra"
ok $? "nothing local was made (provider aws never falls back to local)"
done_testing
