#!/bin/sh
# Who created a deployment and what it deployed: every record says who asked
# (the CLI's user, the console token's name) and the SHA-256 of the bundle
# file (what sha256sum prints) with its signature's key id; `deploy status`
# (text and --json), the console API and the group's live release show
# them. A state store written before these were kept (schema 4, from the
# previous mdeploy) is migrated and its records still read.
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-deploy.sh"
. "$top_srcdir/t/lib-serve.sh"
deploy_test_init 74

command -v jq >/dev/null || { echo "Bail out! jq is needed"; exit 1; }
command -v sqlite3 >/dev/null || { echo "Bail out! sqlite3 is needed"; exit 1; }
trap 'serve_stop; deploy_test_cleanup' EXIT
cd "$TMP" || exit 1

# ---- a state store of the previous schema -----------------------------------
mkdir -m 700 "$MDEPLOY_STATE_DIR"
sqlite3 "$MDEPLOY_STATE_DIR/state.db" <"$top_srcdir/t/fixtures/state-schema4.sql" || exit 1
is "$(sqlite3 "$MDEPLOY_STATE_DIR/state.db" 'SELECT MAX(version) FROM schema_version')" 4 "the fixture is at schema 4"
old=d-uswcw6te3
run mdeploy deploy history --json
is "$rc" 0 "deploy history on the old store"
[ "$rc" = 0 ] || diag "$err"
is "$(printf '%s' "$out" | jq -c --arg id "$old" '.deployments[] | select(.id == $id) |
	[.group, .status, .created_by, .bundle_sha256, .bundle_key_id]')" '["legacy","Succeeded",null,null,null]' \
	"its record reads, with who and digest null (not recorded then)"
is "$(sqlite3 "$MDEPLOY_STATE_DIR/state.db" 'SELECT MAX(version) FROM schema_version')" 5 "opening it migrated it to schema 5"
run mdeploy deploy status "$old"
is "$rc" 0 "deploy status of the old record"
like "$out" "sha256 (not recorded), signer not recorded" "text: the digest was not recorded"
like "$out" "by (not recorded)" "text: nor who"
is "$(mdeploy deploy status --json "$old" | jq -r '.steps | length')" 10 "its journal is still there"

# ---- deployments from the CLI: who and the bundle's digest ------------------------
cat >mdeploy.yml <<EOF
application:
  name: web
groups:
  - name: prod
    fleet: { size: 1, min: 1, max: 2, port: $port }
    load_balancer: { listen: '127.0.0.1:$lbport', slots: 8 }
    health_check: { interval: 100ms, timeout: 1s, healthy_threshold: 1, unhealthy_threshold: 1 }
    alarms: { window: 200ms }
    drain_timeout: 1s
    blue_retention: 1h
EOF
mkdir keys
keyid=$(mdeploy key generate --json keys/release.pem | jq -r .key_id)
ok "$(printf '%s' "$keyid" | grep -qx '[0-9a-f]\{16\}'; echo $?)" "a signing key ($keyid)"
deploy_mkrel one "release one"
mdeploy -q bundle create --sign keys/release.pem one one.signed.tar.zst >/dev/null || exit 1
deploy_mkrel two "release two"
sum1=$(sha256sum one.signed.tar.zst | cut -d' ' -f1)
sum2=$(sha256sum two.tar.zst | cut -d' ' -f1)
me=$(id -un)

run mdeploy deploy create prod one.signed.tar.zst
is "$rc" 0 "deploy a signed bundle from the CLI"
[ "$rc" = 0 ] || diag "$err"
d1=$out
is "$(curl -s -m 5 "http://127.0.0.1:$lbport/")" "release one" "it is live"
mdeploy deploy status --json "$d1" >s1.json
is "$(jq -r '[.created_by, .bundle_sha256, .bundle_key_id] | @tsv' s1.json)" "user:$me	$sum1	$keyid" \
	"status --json: created by the CLI's user, sha256sum of the bundle, the signing key"
run mdeploy deploy status "$d1"
like "$out" "sha256 $sum1, signed by key $keyid" "status text: digest and signer"
like "$out" "by user:$me," "status text: who"

run mdeploy deploy create prod two.tar.zst
is "$rc" 0 "deploy an unsigned bundle"
d2=$out
is "$(mdeploy deploy status --json "$d2" | jq -c '[.created_by, .bundle_sha256, .bundle_key_id]')" \
	"[\"user:$me\",\"$sum2\",null]" "unsigned: the digest, no key"
like "$(mdeploy deploy status "$d2")" "sha256 $sum2, unsigned" "status text: unsigned"
is "$(mdeploy deploy history --json prod | jq -r '[.deployments[] | .bundle_sha256] | join(" ")')" "$sum2 $sum1" \
	"deploy history --json has them too"

# ---- the console: the live release, and a rollback made through it -----------
serve_start
ok $? "serve"
W=$(serve_token alice)
api "$W" /api/groups/prod >g.json
is "$(jq -r '.live | [.id, .created_by, .bundle_sha256, (.bundle_key_id // "none")] | @tsv' g.json)" \
	"$d2	user:$me	$sum2	none" "API: the group's live release says who and what"
api "$W" "/api/deployments/$d1" >a1.json
is "$(jq -S . a1.json)" "$(mdeploy deploy status --json "$d1" | jq -S .)" "GET /api/deployments/ID is 'deploy status --json ID'"
api_post "$W" /api/groups/prod/rollback '{}' >rb.json
is "$(api_status)" 200 "rollback through the console API"
[ "$(api_status)" = 200 ] || diag "$(cat rb.json)"
d3=$(jq -r .id rb.json)
is "$(curl -s -m 5 "http://127.0.0.1:$lbport/")" "release one" "back on release one (its retained fleet)"
is "$(mdeploy deploy status --json "$d3" | jq -r '[.strategy, .created_by, .bundle_sha256, .bundle_key_id] | @tsv')" \
	"rollback	token:alice	$sum1	$keyid" "the rollback's record: the token's name, release one's digest and signer"
api "$W" /api/groups/prod >g.json
is "$(jq -r '.live | [.id, .created_by, .bundle_sha256, .bundle_key_id] | @tsv' g.json)" "$d3	token:alice	$sum1	$keyid" \
	"API: the live release is the rollback, by the token, with the bundle it went back to"
api "$W" /api/deployments >all.json
is "$(jq -S . all.json)" "$(mdeploy deploy history --json | jq -S .)" "GET /api/deployments is 'deploy history --json'"

# ---- an interrupted deployment: the API says what the CLI says ------------------
# (the console used to answer "status": "Interrupted" where --json keeps the
# record's status and adds "interrupted": one builder for both now)
deploy_mkrel three "release three"
MDEPLOY_TEST_CRASH_AT=3 "$MDEPLOY" deploy create prod three.tar.zst >/dev/null 2>crash.err
rc=$?
is "$rc" 137 "a deployment killed half-way (at its third step)"
[ "$rc" = 137 ] || diag "$(tail -n 3 crash.err)"
d4=$(mdeploy deploy history --json prod | jq -r '.deployments[0].id')
mdeploy deploy status --json "$d4" >s4.json
is "$(jq -r '[.status, .interrupted, .created_by, .bundle_sha256] | @tsv' s4.json)" \
	"InProgress	true	user:$me	$(sha256sum three.tar.zst | cut -d' ' -f1)" "deploy status --json: interrupted, who, digest"
api "$W" "/api/deployments/$d4" >a4.json
is "$(jq -S . a4.json)" "$(jq -S . s4.json)" "GET /api/deployments/ID of the interrupted one is 'deploy status --json ID'"
api "$W" "/api/deployments?group=prod" >h4.json
is "$(jq -S . h4.json)" "$(mdeploy deploy history --json prod | jq -S .)" "and the history is 'deploy history --json GROUP'"
# The bundle file changes afterwards: the records keep what was deployed.
printf x >>one.signed.tar.zst
is "$(mdeploy deploy status --json "$d1" | jq -r .bundle_sha256)" "$sum1" "the record keeps the digest deployed"
serve_stop
done_testing
