#!/bin/sh
# The local infrastructure with its secrets on AWS Secrets Manager (moto,
# signatures checked): apply generates the database and Redis passwords into
# Secrets Manager; destroy keeps them; destroy --delete-data deletes them
# there (without a recovery window, so the next apply can make them again at
# once), each deletion reported.
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-infra.sh"
. "$top_srcdir/t/lib-moto.sh"
infra_test_init redis
plan 12
moto_start
trap 'moto_stop; infra_test_cleanup' EXIT
cd "$TMP" || exit 1
export MDEPLOY_STATE_DIR="$TMP/state"
lb=$(free_port) || exit 1
cat >mdeploy.yml <<EOF2
application:
  name: moodle
groups:
  - name: prod
    load_balancer: { listen: 127.0.0.1:$lb }
stores:
  secrets: { provider: aws }
EOF2
# The names Secrets Manager holds, sorted, one line.
sm_names() {
	moto_json secretsmanager secretsmanager.ListSecrets '{}' | jq -r '[.SecretList[].Name] | sort | join(" ")'
}
names="mdeploy/moodle/mdeploy-infra/local/REDIS_PASSWORD mdeploy/moodle/moodle/prod/MOODLE_DBPASS mdeploy/moodle/moodle/prod/MOODLE_REDIS_PASSWORD"

run mdeploy infra apply
is "$rc" 0 "apply with the secrets on Secrets Manager"
[ "$rc" = 0 ] || diag "$err"
is "$(sm_names)" "$names" "... the passwords are generated there"
test ! -e "$MDEPLOY_STATE_DIR/secrets/secrets.json"
ok $? "... and not in a local secret store"
run mdeploy --json infra status
is "$(printf '%s' "$out" | jq -r .up)" true "status: the database takes the password read from Secrets Manager"

run mdeploy infra destroy
is "$rc" 0 "destroy"
is "$(sm_names)" "$names" "... keeps the secrets (the data is kept)"

pw=$(moto_json secretsmanager secretsmanager.GetSecretValue '{"SecretId":"mdeploy/moodle/moodle/prod/MOODLE_DBPASS"}' |
	jq -r .SecretString)
[ ${#pw} -ge 24 ] || diag "no password read back (${#pw} characters)"
run mdeploy --json infra destroy --delete-data
is "$rc" 0 "destroy --delete-data"
[ "$rc" = 0 ] || diag "$err"
is "$(sm_names)" "" "... deletes the secrets from Secrets Manager"
is "$(printf '%s' "$out" | jq -r '[.changes[] | select(.type == "secret" and .action == "delete")] | length')" 3 \
	"... each deletion reported"
unlike "$out$err" "$pw" "... and no password printed"

run mdeploy infra apply
is "$rc" 0 "apply again right after"
[ "$rc" = 0 ] || diag "$err"
is "$(sm_names)" "$names" "... makes the secrets again under the same names (no recovery window in the way)"
mdeploy infra destroy --delete-data >/dev/null 2>&1
done_testing
