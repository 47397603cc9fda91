#!/bin/sh
# The state store on DynamoDB (moto_server, signature checking on): two
# state directories stand for two machines whose mdeploy.yml names the same
# table (stores.state). One lock per group: of two deployments racing for a
# group exactly one runs, the other is refused naming the holder; the
# journal written by one is read by the other (deploy status, history);
# after kill -9 of a deployment its lease runs out and the other machine
# takes the lock over and resumes the deployment from the journal.
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-deploy.sh"
deploy_test_init 84
. "$top_srcdir/t/lib-moto.sh"
moto_start
lbport2=$(free_port) && port2=$(free_port) && lbport3=$(free_port) && port3=$(free_port) ||
	{ echo "Bail out! no free port"; exit 1; }

cleanup() {
	for d in "$TMP"/a "$TMP"/b; do
		for f in "$d"/local/lb/*/haproxy.pid; do
			[ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null
		done
	done
	# instances and anything else still running in the test's directory
	for p in /proc/[0-9]*; do
		case "$(readlink "$p/cwd" 2>/dev/null)" in "$TMP"/*) kill -9 "${p#/proc/}" 2>/dev/null ;; esac
	done
	moto_stop
	_tap_cleanup
}
trap cleanup EXIT

# The table as mdeploy-aws(7) defines it.
moto_curl dynamodb -f -o /dev/null -X POST -H "Content-Type: application/x-amz-json-1.0" \
	-H "X-Amz-Target: DynamoDB_20120810.CreateTable" --data-binary '{
  "TableName": "mdeploy-state",
  "AttributeDefinitions": [
    {"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"},
    {"AttributeName": "gpk", "AttributeType": "S"}, {"AttributeName": "created_ms", "AttributeType": "N"}],
  "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
  "GlobalSecondaryIndexes": [{"IndexName": "by-group",
    "KeySchema": [{"AttributeName": "gpk", "KeyType": "HASH"}, {"AttributeName": "created_ms", "KeyType": "RANGE"}],
    "Projection": {"ProjectionType": "ALL"}}],
  "BillingMode": "PAY_PER_REQUEST"}' "$MOTO_URL/" || { echo "Bail out! cannot create the table"; exit 1; }

cd "$TMP" || exit 1
cat >mdeploy.yml <<EOF
application:
  name: st
stores:
  state: { provider: aws, table: mdeploy-state, lease: 2 }
groups:
  - name: prod
    fleet: { size: 1, min: 1, max: 2, port: $port }
    load_balancer: { listen: '127.0.0.1:$lbport', slots: 4 }
    health_check: { path: /health.php, interval: 100ms, healthy_threshold: 1 }
    alarms: { window: 200ms }
    drain_timeout: 1s
  - name: two
    fleet: { size: 1, min: 1, max: 2, port: $port2 }
    load_balancer: { listen: '127.0.0.1:$lbport2', slots: 4 }
    health_check: { path: /health.php, interval: 100ms, healthy_threshold: 1 }
    alarms: { window: 200ms }
    drain_timeout: 1s
  - name: three
    fleet: { size: 1, min: 1, max: 2, port: $port3 }
    load_balancer: { listen: '127.0.0.1:$lbport3', slots: 4 }
    health_check: { path: /health.php, interval: 100ms, healthy_threshold: 1 }
    alarms: { window: 200ms }
    drain_timeout: 1s
EOF
# A release whose install takes a while (its BeforeInstall hook sleeps), so two deployments overlap.
deploy_mkrel Slow "release Slow"
cat >>Slow/appspec.yml <<'EOF'
  BeforeInstall:
    - location: hooks/slow.sh
EOF
printf '#!/bin/sh\ntouch %s/slow.running\nsleep 3\nrm -f %s/slow.running\n' "$TMP" "$TMP" >Slow/hooks/slow.sh
chmod +x Slow/hooks/slow.sh
"$MDEPLOY" -q bundle create Slow Slow.tar.zst >/dev/null || exit 1
deploy_mkrel R "release R"
sed -i "s/:$port\//:$port2\//" R/hooks/validate.sh
"$MDEPLOY" -q bundle create R R.tar.zst >/dev/null || exit 1
deploy_mkrel T "release T"
sed -i "s/:$port\//:$port3\//" T/hooks/validate.sh
"$MDEPLOY" -q bundle create T T.tar.zst >/dev/null || exit 1
host=$(hostname)

A() { MDEPLOY_STATE_DIR="$TMP/a" "$MDEPLOY" "$@"; }
B() { MDEPLOY_STATE_DIR="$TMP/b" "$MDEPLOY" "$@"; }

# ---- two machines race for one group: exactly one wins ----
# MDEPLOY_TEST_LOCK_RACE_MS widens the window between reading the lock and
# writing it, so both read it free: only the conditional write keeps one out.
(MDEPLOY_TEST_LOCK_RACE_MS=700 A deploy create prod Slow.tar.zst >a.out 2>a.err; echo $? >a.rc) &
apid=$!
(MDEPLOY_TEST_LOCK_RACE_MS=700 B deploy create prod Slow.tar.zst >b.out 2>b.err; echo $? >b.rc) &
bpid=$!
# The loser is refused at once; while the winner's hook runs (3 s, longer
# than the 2 s lease, so only renewals keep the lock), the loser keeps trying.
i=0
while [ ! -f a.rc ] && [ ! -f b.rc ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
if [ -f b.rc ]; then win=a lose=b; else win=b lose=a; fi
# Retry while the winner's hook runs: it holds the lock then for sure.
i=0
while [ ! -f slow.running ] && [ ! -f $win.rc ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
tries=0 refused=0
while [ -f slow.running ]; do
	MDEPLOY_STATE_DIR="$TMP/$lose" "$MDEPLOY" deploy create prod Slow.tar.zst >/dev/null 2>retry.err
	r=$?
	tries=$((tries + 1))
	[ "$r" = 1 ] && grep -q "is locked by" retry.err && refused=$((refused + 1))
	[ "$r" = 1 ] || { diag "retry $tries: exit $r: $(cat retry.err)"; break; }
	sleep 0.2
done
wait "$apid" "$bpid"
arc=$(cat a.rc) brc=$(cat b.rc)
is "$(printf '%s\n' "$arc" "$brc" | sort | tr '\n' ' ')" "0 1 " "of two state dirs racing for group prod, exactly one deploys"
[ "$arc$brc" = "01" ] || [ "$arc$brc" = "10" ] || diag "a: $(cat a.err)" "b: $(cat b.err)"
ok "$([ "$tries" -ge 5 ] && [ "$refused" = "$tries" ]; echo $?)" \
	"while the winner works past its lease (renewed), the other is refused every time ($refused of $tries tries)"
id=$(sed -n 's/.*\(d-[a-z2-7]\{9\}\).*/\1/p' "$win.out" "$win.err" | head -n1)
like "$(cat "$lose.err")" "'group/st/prod' is locked by '$id' (pid " "the other is refused, naming the holder (its deployment id)"
like "$(cat "$lose.err")" "on $host, heartbeat" "... its host and heartbeat"
like "$(cat "$lose.err")" "state table 'mdeploy-state'" "... and the table"
is "$(curl -s -m 5 "http://127.0.0.1:$lbport/")" "release Slow" "the winner's release serves"

# ---- the journal is one: the loser's state dir sees the winner's deployment ----
run env MDEPLOY_STATE_DIR="$TMP/$lose" "$MDEPLOY" --json deploy status "$id"
is "$rc" 0 "deploy status of the winner's deployment from the other state dir"
[ "$rc" = 0 ] || diag "$err"
is "$(printf '%s' "$out" | jq -r .status)" Succeeded "... Succeeded"
is "$(printf '%s' "$out" | jq -r '[.created_by, .bundle_sha256] | @tsv')" "user:$(id -un)	$(sha256sum Slow.tar.zst | cut -d' ' -f1)" \
	"... who created it and its bundle's SHA-256, kept in the table"
wsteps=$(MDEPLOY_STATE_DIR="$TMP/$win" "$MDEPLOY" --json deploy status "$id" | jq -c '[.steps[] | [.step, .state]]')
is "$(printf '%s' "$out" | jq -c '[.steps[] | [.step, .state]]')" "$wsteps" "... with the same journal the winner sees"
ok "$([ "$(printf '%s' "$out" | jq '.steps | length')" -ge 5 ]; echo $?)" "... its steps ($(printf '%s' "$out" | jq '.steps | length'))"
run env MDEPLOY_STATE_DIR="$TMP/$lose" "$MDEPLOY" --json deploy history prod
is "$(printf '%s' "$out" | jq -r '[.deployments[].id] | join(",")')" "$id" "deploy history from the other state dir: the one deployment"
is "$(ls "$TMP/$lose"/state.db >/dev/null 2>&1 && sqlite3 "$TMP/$lose/state.db" 'SELECT count(*) FROM deployments' 2>/dev/null || echo 0)" 0 \
	"nothing of it in the loser's SQLite file"

# ---- a group held elsewhere: the lock is per group ----
# ---- kill -9 of a holder: its lease runs out, the other machine takes over and resumes ----
MDEPLOY_TEST_CRASH_AT=1 A deploy create two R.tar.zst >/dev/null 2>&1
is "$?" 137 "deploy create of group two from state dir a killed at its first step"
dead=$(B --json deploy history two | jq -r '.deployments[0].id')
ok "$(case "$dead" in d-?????????) echo 0 ;; *) echo 1 ;; esac)" "state dir b sees the killed deployment ($dead)"
run B deploy resume "$dead"
is "$rc" 1 "resume from state dir b while the lease runs: refused"
like "$err" "is locked by '$dead'" "... naming the dead holder"
like "$err" "lease ends in" "... and when its lease ends"
# Once the lease ran out, a new deployment still refuses to take over: it names the interrupted one.
i=0
while :; do
	run B deploy create two R.tar.zst
	case "$err" in *"is locked by '$dead'"*) ;; *) break ;; esac
	i=$((i + 1))
	[ $i -lt 100 ] || break
	sleep 0.2
done
is "$rc" 1 "after the lease ran out, a new deploy create from state dir b refuses"
like "$err" "deployment $dead was interrupted at step load-balancer" "... naming the interrupted deployment and its step"
# Poll: refused while the lease runs, then taken over.
i=0
while :; do
	run B deploy resume "$dead"
	[ "$rc" = 0 ] && break
	case "$err" in *"is locked by '$dead'"*) ;; *) break ;; esac
	i=$((i + 1))
	[ $i -lt 100 ] || break
	sleep 0.2
done
is "$rc" 0 "after the lease ran out, resume from state dir b takes over and finishes"
[ "$rc" = 0 ] || diag "$err"
like "$err" "took over the lock of '$dead'" "... saying it took the lock over"
is "$(B --json deploy status "$dead" | jq -r .status)" Succeeded "the deployment Succeeded"
is "$(A --json deploy status "$dead" | jq -r .status)" Succeeded "... state dir a sees that too"
is "$(A --json deploy status "$dead" | jq -r '.steps[0].step')" load-balancer "its journal starts with a's step"
is "$(curl -s -m 5 "http://127.0.0.1:$lbport2/")" "release R" "group two serves the resumed release"
run B deploy create two R.tar.zst
is "$rc" 0 "group two's lock was released: it deploys again"
[ "$rc" = 0 ] || diag "$err"
# ---- two machines racing to take over one expired lease: exactly one resumes ----
MDEPLOY_TEST_CRASH_AT=1 A deploy create three T.tar.zst >/dev/null 2>&1
is "$?" 137 "deploy create of group three from state dir a killed at its first step"
dead3=$(A --json deploy history three | jq -r '.deployments[0].id')
sleep 3 # its 2 s lease runs out (no renewal after kill -9)
(MDEPLOY_TEST_LOCK_RACE_MS=700 A deploy resume "$dead3" >ra.out 2>ra.err; echo $? >ra.rc) &
rapid=$!
(MDEPLOY_TEST_LOCK_RACE_MS=700 B deploy resume "$dead3" >rb.out 2>rb.err; echo $? >rb.rc) &
wait "$rapid" "$!"
is "$(cat ra.rc rb.rc | sort | tr '\n' ' ')" "0 1 " "both read the expired lease, exactly one takes it over and resumes"
[ "$(cat ra.rc rb.rc | sort | tr '\n' ' ')" = "0 1 " ] || diag "a: $(cat ra.err)" "b: $(cat rb.err)"
if [ "$(cat ra.rc)" = 0 ]; then lerr=rb.err; else lerr=ra.err; fi
like "$(cat $lerr)" "is locked by '$dead3'" "the other is refused, naming the holder"
is "$(curl -s -m 5 "http://127.0.0.1:$lbport3/")" "release T" "group three serves the resumed release"

run A --json deploy history
is "$(printf '%s' "$out" | jq -r '[.deployments[].group] | sort | unique | join(",")')" "prod,three,two" \
	"deploy history of every group (a scan of the records) from state dir a"

# ---- doctor checks the table ----
run A --json doctor --aws
is "$(printf '%s' "$out" | jq -r '.checks[] | select(.check == "aws-sts:stores.state") | .ok')" true \
	"doctor --aws: the state table is there with its keys and index"
moto_curl dynamodb -f -o /dev/null -X POST -H "Content-Type: application/x-amz-json-1.0" \
	-H "X-Amz-Target: DynamoDB_20120810.CreateTable" --data-binary '{"TableName": "noindex",
  "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}],
  "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
  "BillingMode": "PAY_PER_REQUEST"}' "$MOTO_URL/" || { echo "Bail out! cannot create the table"; exit 1; }
sed 's/table: mdeploy-state/table: noindex/' mdeploy.yml >noindex.yml
run env MDEPLOY_STATE_DIR="$TMP/c" "$MDEPLOY" --config "$TMP/noindex.yml" --json doctor --aws
is "$(printf '%s' "$out" | jq -r '.checks[] | select(.check == "aws-sts:stores.state") | .detail')" \
	"state table 'noindex': no index by-group on gpk and created_ms, see mdeploy-aws(7)" "doctor --aws: a table without the index is named"

# ---- configuration: what is wrong is said, never a silent fall back to SQLite ----
sed 's/table: mdeploy-state, //' mdeploy.yml >notable.yml
run env MDEPLOY_STATE_DIR="$TMP/c" "$MDEPLOY" --config "$TMP/notable.yml" deploy history prod
is "$rc" 1 "stores.state without a table: an error"
like "$err" "needs stores.state.table" "... naming the missing key"
sed 's/table: mdeploy-state/table: no-such-table/' mdeploy.yml >missing.yml
run env MDEPLOY_STATE_DIR="$TMP/c" "$MDEPLOY" --config "$TMP/missing.yml" deploy history prod
is "$rc" 1 "a table that does not exist: an error"
like "$err" "state table 'no-such-table'" "... naming the table"
like "$err" "ResourceNotFoundException" "... with DynamoDB's error"
sed 's/provider: aws, table: mdeploy-state, lease: 2/provider: local, table: x/' mdeploy.yml >local.yml
run env MDEPLOY_STATE_DIR="$TMP/c" "$MDEPLOY" --config "$TMP/local.yml" deploy history prod
is "$rc" 1 "provider local takes no state option"
like "$err" "stores.state.table: not an option of the local state store" "... saying so"
like "$err" "local.yml:" "... at file:line"
done_testing
