#!/bin/sh
# Credentials from the sources a machine in AWS has: EC2 instance metadata
# (IMDSv2 session tokens), ECS container credentials, web identity (STS
# AssumeRoleWithWebIdentity), and their refresh before they expire. Real EC2,
# ECS and STS cannot run here: t/aws-metadata-stub.py plays them on loopback
# with the documented requests and answers, and hands out the moto user's key,
# so what is signed with those credentials is then checked by moto_server.
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-moto.sh"
moto_start
moto_create_bucket creds-art || { echo "Bail out! cannot create the bucket"; exit 1; }

stub_port=$(free_port)
stub="http://127.0.0.1:$stub_port"
stub_pid=
trap 'stub_stop; moto_stop; _tap_cleanup' EXIT
stub_stop() { [ -n "$stub_pid" ] && { kill -TERM -- "-$stub_pid" 2>/dev/null; wait "$stub_pid" 2>/dev/null; stub_pid=; }; }
# stub_start SECONDS: (re)start the stub; its credentials expire SECONDS from when they are asked for.
stub_start() {
	stub_stop
	STUB_KEY_ID=$MOTO_KEY_ID STUB_SECRET=$MOTO_SECRET STUB_EXPIRES_IN=$1 \
		setsid python3 "$top_srcdir/t/aws-metadata-stub.py" "$stub_port" >"$TMP/stub.log" 2>&1 </dev/null &
	stub_pid=$!
	i=0
	until curl -s -o /dev/null "$stub/count"; do
		i=$((i + 1)); [ $i -gt 100 ] && { echo "Bail out! the metadata stub did not start"; cat "$TMP/stub.log"; exit 1; }
		sleep 0.1
	done
}
stub_start 3600
count() { curl -s "$stub/count" | jq -r ".$1"; }

# No keys in the environment: the chain goes on to the machine's sources.
nokeys="-u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY"
doctor() { run env "$@" "$MDEPLOY" doctor --aws --json; aws_line=$(printf '%s' "$out" | jq -c '.checks[] | select(.check == "aws-sts")'); }

# ---- EC2 instance metadata, IMDSv2 ----
doctor $nokeys -u AWS_EC2_METADATA_DISABLED AWS_EC2_METADATA_SERVICE_ENDPOINT="$stub/"
like "$aws_line" '"ok":true' "IMDSv2 credentials accepted by moto"
like "$aws_line" 'credentials from the instance metadata' "source: instance metadata"
is "$(count imds_token)" 1 "an IMDSv2 session token was asked for first (PUT /latest/api/token)"
is "$(count imds_refused)" 0 "every metadata GET carried the token"
is "$(count imds_creds)" 1 "the role's credentials were read once"
doctor $nokeys AWS_EC2_METADATA_SERVICE_ENDPOINT="$stub/"
like "$aws_line" 'no credentials' "AWS_EC2_METADATA_DISABLED=true: metadata not asked"

# ---- refresh before expiry: a put makes several calls in one process ----
cat >"$TMP/mdeploy.yml" <<EOF
application: { name: creds }
stores:
  artifacts: { provider: aws, bucket: creds-art }
EOF
head -c 1000 /dev/urandom >"$TMP/a.bin"
before=$(count imds_creds)
run env $nokeys -u AWS_EC2_METADATA_DISABLED AWS_EC2_METADATA_SERVICE_ENDPOINT="$stub" \
	"$MDEPLOY" --config "$TMP/mdeploy.yml" artifacts put app "$TMP/a.bin"
is "$rc" 0 "artifacts put with instance credentials (valid an hour)"
is "$(( $(count imds_creds) - before ))" 1 "credentials valid for an hour: fetched once for all the calls"
stub_start 120
head -c 1000 /dev/urandom >"$TMP/b.bin"
run env $nokeys -u AWS_EC2_METADATA_DISABLED AWS_EC2_METADATA_SERVICE_ENDPOINT="$stub" \
	"$MDEPLOY" --config "$TMP/mdeploy.yml" artifacts put app "$TMP/b.bin"
is "$rc" 0 "artifacts put with credentials expiring in 2 minutes"
ok "$(test "$(count imds_creds)" -ge 3; echo $?)" "credentials inside the 5-minute margin are fetched again before each call ($(count imds_creds) fetches)"

stub_start 3600

# ---- temporary credentials refused as expired: fetched again, once ----
pport=$(free_port)
setsid python3 "$top_srcdir/t/aws-fault-proxy.py" "$pport" "$MOTO_PORT" >"$TMP/proxy.log" 2>&1 </dev/null &
proxy_pid=$!
trap 'kill -TERM -- "-$proxy_pid" 2>/dev/null; stub_stop; moto_stop; _tap_cleanup' EXIT
i=0; until curl -s -o /dev/null "http://127.0.0.1:$pport/__stats"; do i=$((i + 1)); [ $i -gt 100 ] && break; sleep 0.1; done
curl -s -o /dev/null -X POST --data-binary '{"count": 1, "status": 403, "code": "ExpiredToken"}' "http://127.0.0.1:$pport/__inject"
before=$(count imds_creds)
doctor $nokeys -u AWS_EC2_METADATA_DISABLED AWS_EC2_METADATA_SERVICE_ENDPOINT="$stub/" AWS_ENDPOINT_URL="http://127.0.0.1:$pport"
like "$aws_line" '"ok":true' "STS said ExpiredToken once: new instance credentials, and the call succeeds"
is "$(( $(count imds_creds) - before ))" 2 "the credentials were fetched again after the refusal"
kill -TERM -- "-$proxy_pid" 2>/dev/null; wait "$proxy_pid" 2>/dev/null

# ---- ECS container credentials ----
printf 'ecs-auth-token\n' >"$TMP/ecs-token"
doctor $nokeys AWS_CONTAINER_CREDENTIALS_FULL_URI="$stub/ecs/creds" AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE="$TMP/ecs-token"
like "$aws_line" '"ok":true' "ECS container credentials accepted by moto"
like "$aws_line" 'credentials from the container' "source: container"
is "$(count ecs)" 1 "the container endpoint was asked with its authorization token"
doctor $nokeys AWS_CONTAINER_CREDENTIALS_FULL_URI="$stub/ecs/creds" AWS_CONTAINER_AUTHORIZATION_TOKEN=wrong
like "$aws_line" 'container credentials' "a refused container token is an error naming the source"
is "$(count ecs_refused)" 1 "... the endpoint refused it"

# ---- web identity: STS AssumeRoleWithWebIdentity, then calls with the session ----
printf 'web-identity-jwt\n' >"$TMP/web-token"
doctor $nokeys AWS_WEB_IDENTITY_TOKEN_FILE="$TMP/web-token" AWS_ROLE_ARN=arn:aws:iam::123456789012:role/ci-deployer \
	AWS_ENDPOINT_URL_STS="$stub"
like "$aws_line" '"ok":true' "web identity: GetCallerIdentity signed with the session's key and token"
like "$aws_line" 'assumed-role/ci-deployer' "the assumed role is named"
like "$aws_line" 'credentials from the web identity' "source: web identity"
is "$(count web_identity)" 1 "AssumeRoleWithWebIdentity was called, unsigned, with the token file's token"
printf 'other-jwt\n' >"$TMP/web-token"
doctor $nokeys AWS_WEB_IDENTITY_TOKEN_FILE="$TMP/web-token" AWS_ROLE_ARN=arn:aws:iam::123456789012:role/ci-deployer \
	AWS_ENDPOINT_URL_STS="$stub"
like "$aws_line" 'InvalidIdentityToken' "a refused web identity token: STS's error"
unlike "$out$err" "stub-session-token" "the session token is never printed"
unlike "$out$err" "$MOTO_SECRET" "the secret is never printed"

# The environment comes first: keys there win over the machine's sources.
doctor -u AWS_EC2_METADATA_DISABLED AWS_EC2_METADATA_SERVICE_ENDPOINT="$stub/"
like "$aws_line" 'credentials from the environment' "environment keys are used before instance metadata"

done_testing
