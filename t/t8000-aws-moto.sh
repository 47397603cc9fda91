#!/bin/sh
# The AWS client against moto_server with signature checking on: a signed
# STS GetCallerIdentity (mdeploy doctor --aws) is accepted with the right key
# and refused with a wrong secret or an unknown key; credentials from the
# shared files and AWS_PROFILE; region and endpoint resolution
# (AWS_ENDPOINT_URL_<SERVICE> before AWS_ENDPOINT_URL); secrets never printed.
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-moto.sh"
moto_start

# doctor [ENV-ARGS...]: mdeploy doctor --aws under env(1) ENV-ARGS; $aws_line is its aws-sts check.
doctor() { run env "$@" "$MDEPLOY" doctor --aws --json; aws_line=$(printf '%s' "$out" | jq -c '.checks[] | select(.check == "aws-sts")'); }

doctor
like "$aws_line" '"ok":true' "doctor --aws: moto accepts the signed GetCallerIdentity"
like "$aws_line" 'arn:aws:iam::123456789012:user/mdeploy' "doctor names the principal"
like "$aws_line" 'credentials from the environment' "doctor says where the credentials came from"
unlike "$out$err" "$MOTO_SECRET" "the secret is not printed"

doctor AWS_SECRET_ACCESS_KEY="wrong$MOTO_SECRET"
is "$rc" 1 "wrong secret key: doctor fails"
like "$aws_line" '"ok":false' "wrong secret key: refused"
like "$aws_line" 'SignatureDoesNotMatch' "wrong secret key: moto's SignatureDoesNotMatch is reported"
like "$aws_line" 'request id' "the service's request id is in the error"
unlike "$out$err" "wrong$MOTO_SECRET" "the wrong secret is not printed either"

doctor AWS_ACCESS_KEY_ID=AKIAUNKNOWNKEY000000
like "$aws_line" '"ok":false' "unknown access key: refused"
like "$aws_line" 'InvalidClientTokenId' "unknown access key: InvalidClientTokenId"

# Shared credentials file and profiles (environment keys unset).
cat >"$AWS_SHARED_CREDENTIALS_FILE" <<EOF
[default]
aws_access_key_id = AKIAWRONGDEFAULT0000
aws_secret_access_key = nope

[deployer]
aws_access_key_id = $MOTO_KEY_ID
aws_secret_access_key = $MOTO_SECRET
EOF
chmod 600 "$AWS_SHARED_CREDENTIALS_FILE"
cat >"$AWS_CONFIG_FILE" <<EOF
[profile deployer]
region = eu-west-3
EOF
noenv="-u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_REGION"
doctor $noenv AWS_PROFILE=deployer
like "$aws_line" '"ok":true' "AWS_PROFILE=deployer: the profile's keys from the shared credentials file"
like "$aws_line" 'credentials from the shared credentials file' "source named"
like "$aws_line" 'region eu-west-3' "region from the profile in the shared config file"
unlike "$out$err" "$MOTO_SECRET" "the profile's secret is not printed"
doctor $noenv AWS_REGION=us-east-1
like "$aws_line" 'InvalidClientTokenId' "default profile used without AWS_PROFILE (its key is refused)"
doctor $noenv AWS_PROFILE=nosuch
like "$aws_line" "profile 'nosuch' is in neither" "a named profile that does not exist is an error"

# Endpoints: AWS_ENDPOINT_URL_STS beats AWS_ENDPOINT_URL.
dead=$(free_port)
doctor AWS_ENDPOINT_URL="http://127.0.0.1:$dead" AWS_ENDPOINT_URL_STS="$MOTO_URL/"
like "$aws_line" '"ok":true' "AWS_ENDPOINT_URL_STS is used before AWS_ENDPOINT_URL"
like "$aws_line" "endpoint $MOTO_URL)" "the per-service endpoint is named (trailing / dropped)"
doctor AWS_ENDPOINT_URL="http://127.0.0.1:$dead"
like "$aws_line" '"ok":false' "AWS_ENDPOINT_URL alone (nothing listening): fails"
like "$aws_line" 'after 3 attempts' "connection failures are retried (3 attempts)"
doctor AWS_ENDPOINT_URL="ftp://x"
like "$aws_line" "must start with https:// or http://" "a bad endpoint URL is named"

doctor -u AWS_REGION
like "$aws_line" 'no region' "no region anywhere: a clear error"
doctor AWS_REGION='us east'
like "$aws_line" "is not a region name" "a malformed region is refused before any call"

: >"$AWS_SHARED_CREDENTIALS_FILE"
doctor -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY
like "$aws_line" 'no credentials: tried the environment' "no credentials: the chain tried is listed"

# The IAM policy of mdeploy-aws(7) is a valid JSON policy document.
sed -n '/^The whole policy/,/^\.Ed/p' "$top_srcdir/man/mdeploy-aws.7" | sed '1,/^\.Bd/d;$d' >"$TMP/policy.json"
is "$(jq -r '.Version + " " + (.Statement | length | tostring)' "$TMP/policy.json" 2>&1)" "2012-10-17 5" \
	"mdeploy-aws(7): the IAM policy is valid JSON with its five statements"

done_testing
