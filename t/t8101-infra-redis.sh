#!/bin/sh
# mdeploy infra on the local provider, its Redis part: apply starts a real
# redis-server on 127.0.0.1 with a generated password (secret), gives each
# group MOODLE_REDIS_HOST/PORT/PREFIX and the password as its secret
# MOODLE_REDIS_PASSWORD; Redis refuses clients without it; status checks
# AUTH + PING and fails when it is down or the password is wrong; apply
# starts it again; destroy saves and keeps its data.
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-infra.sh"
infra_test_init redis
trap 'mdeploy infra destroy >/dev/null 2>&1; infra_test_cleanup' EXIT

plan 20
cd "$TMP" || exit 1
infra_two_groups || exit 1

run mdeploy --json infra plan
like "$(printf '%s' "$out" | jq -r '[.changes[] | "\(.action) \(.resource)"] | join(",")')" "create redis" \
	"plan would create the Redis server"
t0=$(date +%s%N)
run mdeploy infra apply
is "$rc" 0 "infra apply succeeds ($((($(date +%s%N) - t0) / 1000000)) ms)"
[ "$rc" = 0 ] || diag "$err"
rport=$(mdeploy params get /moodle/prod/MOODLE_REDIS_PORT)
is "$(mdeploy params get /moodle/staging/MOODLE_REDIS_HOST):$(mdeploy params get /moodle/staging/MOODLE_REDIS_PORT)" \
	"127.0.0.1:$rport" "both groups get the server's host and port"
is "$(mdeploy params get /moodle/prod/MOODLE_REDIS_PREFIX) $(mdeploy params get /moodle/staging/MOODLE_REDIS_PREFIX)" \
	"moodle_prod_sess_ moodle_staging_sess_" "... and a key prefix of their own"
is "$(ss -Hltn "sport = :$rport" | awk '{print $4}')" "127.0.0.1:$rport" "Redis listens on 127.0.0.1:$rport only"

pw=$(mdeploy secrets get --reveal moodle/prod/MOODLE_REDIS_PASSWORD)
is "$pw" "$(mdeploy secrets get --reveal moodle/staging/MOODLE_REDIS_PASSWORD)" "both groups get the same password"
ok "$([ ${#pw} -ge 24 ]; echo $?)" "it is generated (${#pw} characters)"
# redis-cli reads the password from REDISCLI_AUTH: never on a command line.
is "$(REDISCLI_AUTH=$pw redis-cli -h 127.0.0.1 -p "$rport" PING 2>&1)" PONG "Redis answers PING with the password"
like "$(redis-cli -h 127.0.0.1 -p "$rport" PING 2>&1)" NOAUTH "... and refuses a client without it"
is "$(grep -rlaF -- "$pw" "$MDEPLOY_STATE_DIR" | sed "s|$MDEPLOY_STATE_DIR/||")" "infra/redis/redis.conf" \
	"the password is in no file but redis.conf (Redis reads it there)"
is "$(stat -c %a "$MDEPLOY_STATE_DIR/infra/redis/redis.conf")" 600 "... which has mode 0600"

run mdeploy --json infra apply
is "$(printf '%s' "$out" | jq -r .count)" 0 "a second apply changes nothing"
run mdeploy --json infra status
is "$(printf '%s' "$out" | jq -r '.resources[] | select(.name == "redis") | "\(.up) \(.endpoint)"')" \
	"true 127.0.0.1:$rport" "status: Redis is up (AUTH + PING)"

# Someone changes the password behind mdeploy's back: status says so, apply fixes it.
REDISCLI_AUTH=$pw redis-cli -h 127.0.0.1 -p "$rport" CONFIG SET requirepass other >/dev/null 2>&1
run mdeploy --json infra status
ok "$([ "$rc" = 1 ] && printf '%s' "$out" | jq -e '.resources[] | select(.name == "redis" and .up == false) |
	.problem | test("does not accept the password")' >/dev/null; echo $?)" \
	"status fails when Redis does not take the secret's password"
run mdeploy --json infra apply
is "$(printf '%s' "$out" | jq -r '[.changes[] | "\(.action) \(.resource)"] | join(",")')" "update redis" \
	"apply restarts it from the secret"
is "$(REDISCLI_AUTH=$pw redis-cli -h 127.0.0.1 -p "$rport" PING 2>&1)" PONG "... which works again"

# Data survives destroy (saved on stop) and the next apply.
REDISCLI_AUTH=$pw redis-cli -h 127.0.0.1 -p "$rport" SET moodle_prod_sess_x kept >/dev/null
rpid=$(cat "$MDEPLOY_STATE_DIR/infra/redis/redis.pid")
run mdeploy --json infra destroy
like "$(printf '%s' "$out" | jq -r '[.changes[] | "\(.action) \(.resource)"] | join(",")')" "stop redis" \
	"destroy stops Redis"
ok "$(! kill -0 "$rpid" 2>/dev/null; echo $?)" "... its process is gone"
run mdeploy infra apply
is "$(REDISCLI_AUTH=$pw redis-cli -h 127.0.0.1 -p "$rport" GET moodle_prod_sess_x 2>&1)" kept \
	"after apply, a key written before destroy is still there"
run mdeploy infra destroy --delete-data
is "$(pgrep -f "$TMP/" | wc -l)" 0 "nothing runs from the test's directory after destroy"
done_testing
