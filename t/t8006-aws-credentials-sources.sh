#!/bin/sh
# Two more credential sources of the AWS CLI, on moto_server (signature
# checking on): a profile that assumes a role (role_arn + source_profile,
# chained, or credential_source) through STS AssumeRole, and a profile's
# credential_process, run without a shell, whose JSON output gives the keys.
# Secrets never show in output or logs.
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-moto.sh"
moto_start

iam() { moto_curl iam -f -o /dev/null -X POST --data-urlencode Version=2010-05-08 "$@" "$MOTO_URL/"; }
# Trusted: the user; the auditor also trusts the deployer role's sessions (the chain).
trust() { printf '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":[%s]},"Action":"sts:AssumeRole"}]}' "$1"; }
user='"arn:aws:iam::123456789012:user/mdeploy"'
all='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'
for role in mdeploy-deployer mdeploy-auditor; do
	principals=$user
	[ $role = mdeploy-auditor ] &&
		principals="$user,\"arn:aws:iam::123456789012:role/mdeploy-deployer\",\"arn:aws:sts::123456789012:assumed-role/mdeploy-deployer/t8006\""
	iam --data-urlencode Action=CreateRole --data-urlencode RoleName=$role \
		--data-urlencode "AssumeRolePolicyDocument=$(trust "$principals")" &&
	iam --data-urlencode Action=PutRolePolicy --data-urlencode RoleName=$role --data-urlencode PolicyName=all \
		--data-urlencode "PolicyDocument=$all" || { echo "Bail out! cannot create role $role"; exit 1; }
done
arn=arn:aws:iam::123456789012:role

cd "$TMP" || exit 1
mkdir "cred dir"
# The process: prints the moto user's keys (from a 0600 file), records its argv.
( umask 077; printf '%s\n%s\n' "$MOTO_KEY_ID" "$MOTO_SECRET" >keys )
cat >"cred dir/cred.sh" <<EOF
#!/bin/sh
for a in "\$@"; do printf '[%s]' "\$a"; done >"$TMP/argv"
{ read -r id; read -r secret; } <"$TMP/keys"
printf '{"Version": 1, "AccessKeyId": "%s", "SecretAccessKey": "%s", "Expiration": "2099-01-01T00:00:00Z"}\n' "\$id" "\$secret"
EOF
cat >v2.sh <<EOF
#!/bin/sh
{ read -r id; read -r secret; } <"$TMP/keys"
printf '{"Version": 2, "AccessKeyId": "%s", "SecretAccessKey": "%s"}\n' "\$id" "\$secret"
EOF
cat >fail.sh <<'EOF'
#!/bin/sh
echo "vault: permission denied for role moodle" >&2
exit 3
EOF
chmod +x "cred dir/cred.sh" v2.sh fail.sh
( umask 077; printf '[base]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$MOTO_KEY_ID" "$MOTO_SECRET" \
	>"$AWS_SHARED_CREDENTIALS_FILE" )
cat >"$AWS_CONFIG_FILE" <<EOF
[profile deployer]
role_arn = $arn/mdeploy-deployer
source_profile = base
role_session_name = t8006
external_id = moodle-ci
[profile chained]
role_arn = $arn/mdeploy-auditor
source_profile = deployer
[profile loop-a]
role_arn = $arn/mdeploy-deployer
source_profile = loop-b
[profile loop-b]
role_arn = $arn/mdeploy-deployer
source_profile = loop-a
[profile mfa]
role_arn = $arn/mdeploy-deployer
source_profile = base
mfa_serial = arn:aws:iam::123456789012:mfa/someone
[profile ecsrole]
role_arn = $arn/mdeploy-deployer
credential_source = EcsContainer
role_session_name = t8006
[profile badsource]
role_arn = $arn/mdeploy-deployer
credential_source = Laptop
[profile proc]
credential_process = "$TMP/cred dir/cred.sh" --label 'a b' '\$(touch $TMP/pwned)' "q\\"uote"
[profile proc-role]
role_arn = $arn/mdeploy-auditor
source_profile = proc
[profile proc-v2]
credential_process = $TMP/v2.sh
[profile proc-fail]
credential_process = $TMP/fail.sh
[profile proc-missing]
credential_process = $TMP/no-such-program
EOF
cat >mdeploy.yml <<EOF
application:
  name: moodle
stores:
  params: { provider: aws }
EOF
nokeys="-u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY"
# doctor PROFILE: mdeploy doctor --aws as that profile; $aws_line is its aws-sts check.
doctor() { run env $nokeys AWS_PROFILE="$1" "$MDEPLOY" -v doctor --aws --json; aws_line=$(printf '%s' "$out" | jq -c '.checks[] | select(.check == "aws-sts")'); }
nosecret() { unlike "$out$err" "$MOTO_SECRET" "$1: the secret key is not printed"; }

# ---- role_arn + source_profile ----
doctor deployer
like "$aws_line" '"ok":true' "a profile with role_arn + source_profile: doctor's STS check passes"
like "$aws_line" "arn:aws:sts::123456789012:assumed-role/mdeploy-deployer/t8006" "the caller is the assumed role (session name from the profile)"
like "$aws_line" "credentials from the assumed role" "doctor says where the credentials came from"
nosecret "assume role"
run env $nokeys AWS_PROFILE=deployer "$MDEPLOY" params put /prod/theme boost
is "$rc" 0 "a store call signed with the role's temporary credentials (session token) passes moto"
[ "$rc" = 0 ] || diag "$err"
is "$(env $nokeys AWS_PROFILE=deployer "$MDEPLOY" params get /prod/theme)" boost "and reads back"
doctor chained
like "$aws_line" "assumed-role/mdeploy-auditor/" "a chain: a role assumed with another role's credentials"
doctor loop-a
is "$rc" 1 "source_profile loop: an error"
like "$out$err" "more than 5 source_profile hops" "... saying so"
doctor mfa
is "$rc" 1 "mfa_serial: refused"
like "$out$err" "MFA code (mfa_serial)" "... saying why"
# credential_source: the container's credentials (ECS cannot run here: the
# stub of t8002 plays its endpoint, handing out the moto user's keys).
stub_port=$(free_port)
stub="http://127.0.0.1:$stub_port"
STUB_KEY_ID=$MOTO_KEY_ID STUB_SECRET=$MOTO_SECRET setsid python3 "$top_srcdir/t/aws-metadata-stub.py" "$stub_port" \
	>"$TMP/stub.log" 2>&1 </dev/null &
stub_pid=$!
trap 'kill -TERM -- "-$stub_pid" 2>/dev/null; moto_stop; _tap_cleanup' EXIT
i=0
until curl -s -o /dev/null "$stub/count"; do
	i=$((i + 1)); [ $i -gt 100 ] && { echo "Bail out! the metadata stub did not start"; cat "$TMP/stub.log"; exit 1; }
	sleep 0.1
done
run env $nokeys AWS_PROFILE=ecsrole AWS_CONTAINER_CREDENTIALS_FULL_URI="$stub/ecs/creds" \
	AWS_CONTAINER_AUTHORIZATION_TOKEN=ecs-auth-token "$MDEPLOY" doctor --aws --json
aws_line=$(printf '%s' "$out" | jq -c '.checks[] | select(.check == "aws-sts")')
like "$aws_line" "assumed-role/mdeploy-deployer/t8006" "credential_source EcsContainer: the role assumed with the container's credentials"
ok "$([ "$(curl -s "$stub/count" | jq -r .ecs)" -ge 1 ]; echo $?)" "... which were asked from the container endpoint"
doctor ecsrole
is "$rc" 1 "credential_source EcsContainer outside a container: an error"
like "$out$err" "credential_source EcsContainer has no credentials" "... saying so"
doctor badsource
like "$out$err" "credential_source 'Laptop' is not Environment, Ec2InstanceMetadata or EcsContainer" "an unknown credential_source is named"

# ---- credential_process ----
doctor proc
like "$aws_line" '"ok":true' "credential_process: doctor's STS check passes"
like "$aws_line" "arn:aws:iam::123456789012:user/mdeploy" "the caller is the user whose keys the process printed"
like "$aws_line" "credentials from the credential_process" "doctor says so"
nosecret "credential_process"
is "$(cat argv)" '[--label][a b][$(touch '"$TMP"'/pwned)][q"uote]' "the command line is split into words as the AWS CLI does"
ok "$(test ! -e pwned; echo $?)" "... and no shell ran it (\$(...) stayed text)"
doctor proc-role
like "$aws_line" "assumed-role/mdeploy-auditor/" "a role assumed with credential_process keys"
doctor proc-v2
is "$rc" 1 "credential_process output with Version 2: refused"
like "$out$err" "credential_process output has no" "... saying so"
like "$out$err" "Version" "... naming the field"
nosecret "Version 2"
doctor proc-fail
is "$rc" 1 "a failing credential_process: an error"
like "$out$err" "credential_process '$TMP/fail.sh' failed" "... naming the program"
like "$out$err" "exit" "... its exit status"
like "$out$err" "vault: permission denied for role moodle" "... and what it said on stderr"
doctor proc-missing
is "$rc" 1 "a missing credential_process program: an error"
like "$out$err" "no-such-program" "... naming it"
ls -l "$AWS_SHARED_CREDENTIALS_FILE" keys >/dev/null
done_testing
