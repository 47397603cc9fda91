#!/bin/sh
# deploy-reliability.sh - blue/green under continuous HTTP load.
#
# Starts a fleet of PHP instances behind HAProxy (the local provider), keeps
# wrk running against HAProxy, and while it runs:
#   1. deploys a code-only release (blue/green swap);
#   2. deploys a release whose ValidateService fails (automatic rollback);
#   3. rolls back to the retained fleet (instant rollback);
#   4. deploys a release whose health check path answers 503 while / answers
#      200 (the health gate fails it: rollback, blue never drained);
#   5. kills `deploy create` with SIGKILL mid-way, then runs `deploy create`
#      of another bundle (refused, naming the interrupted deployment), then
#      `deploy stop --rollback` of the interrupted one;
#   6. kills one instance with SIGKILL, then `fleet heal` replaces it;
#   7. for every journal step N of a deployment: kills mdeploy with SIGKILL
#      right after step N is journaled, then runs `deploy resume`.
# Each phase reports requests, failed requests (socket errors + non-2xx),
# the switch time HAProxy applied and the command time; after each, the
# group must serve exactly one release from exactly one fleet.
#
# usage: bench/deploy-reliability.sh [--instances N] [--quick] [BUILD_DIR]
#   BUILD_DIR defaults to _build; --quick kills at every third step only.
set -u
instances=4
quick=0
while [ $# -gt 0 ]; do
	case $1 in
	--instances) instances=$2; shift 2 ;;
	--quick) quick=1; shift ;;
	*) break ;;
	esac
done
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/_build}
MDEPLOY=${MDEPLOY:-$build/cli/mdeploy}
[ -x "$MDEPLOY" ] || { echo "deploy-reliability: error: $MDEPLOY not built" >&2; exit 1; }
for p in wrk curl jq php /usr/sbin/haproxy; do
	command -v "$p" >/dev/null || { echo "deploy-reliability: error: $p missing" >&2; exit 1; }
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/mdeploy-bench.XXXXXX")
export MDEPLOY_STATE_DIR="$TMP/state" MDEPLOY_PROGRESS=0
export MDEPLOY_LOCAL_ADDRESS_BASE="127.$((100 + $$ % 150))"
lbport=$((28300 + ($$ % 1400) * 3))
port=$((lbport + 1))
failures=0

cleanup() {
	[ -n "${wrkpid:-}" ] && kill "$wrkpid" 2>/dev/null
	for f in "$MDEPLOY_STATE_DIR"/local/lb/*/haproxy.pid; do
		[ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null
	done
	"$MDEPLOY" --json fleet list 2>/dev/null | jq -r '.fleets[].name' | while read -r f; do
		"$MDEPLOY" --json fleet show "$f" | jq -r '.instances[].pid' | while read -r pid; do
			[ "$pid" -gt 0 ] 2>/dev/null && kill -- "-$pid" 2>/dev/null
		done
	done
	for p in /proc/[0-9]*; do
		case "$(readlink "$p/cwd" 2>/dev/null)" in "$TMP"/*) kill -9 "${p#/proc/}" 2>/dev/null ;; esac
	done
	[ -n "${KEEP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkrel() {
	mkdir -p "$1/hooks"
	# Content-Length lets HAProxy keep client connections open: without it
	# PHP's server ends each response by closing, which wrk counts as a
	# read error, and real failures would hide among them.
	printf '<?php usleep(2000); $b = "%s\\n"; header("Content-Length: " . strlen($b)); echo $b;\n' "$2" >"$1/index.php"
	# The health check's own path: answers 503 in the release named Sick.
	printf '<?php if ("%s" === "Sick") http_response_code(503); header("Content-Length: 3"); echo "ok\\n";\n' "$1" >"$1/health.php"
	cat >"$1/appspec.yml" <<EOF
version: 0.0
os: linux
hooks:
  ValidateService:
    - location: hooks/validate.sh
      timeout: 30
EOF
	printf '#!/bin/sh\ncurl -sf "http://$MDEPLOY_INSTANCE_ADDR:%s/" >/dev/null || exit 9\nexit %s\n' \
		"$port" "${3:-0}" >"$1/hooks/validate.sh"
	chmod +x "$1/hooks/validate.sh"
	"$MDEPLOY" -q bundle create "$1" "$1.tar.zst" >/dev/null || exit 1
}

cd "$TMP" || exit 1
cat >mdeploy.yml <<EOF
application:
  name: bench
groups:
  - name: prod
    fleet: { size: $instances, min: 1, max: $((instances * 2)), port: $port }
    load_balancer: { listen: '127.0.0.1:$lbport', slots: $((instances * 4)) }
    health_check: { path: /health.php, interval: 200ms, timeout: 1s, healthy_threshold: 2, unhealthy_threshold: 2 }
    deployment_config: AllAtOnce
    alarms: { http_5xx_percent: 1, window: 1s }
    drain_timeout: 5s
EOF
mkrel A "release A"
mkrel B "release B"
mkrel C "release C"
mkrel Bad "release bad" 1
mkrel Sick "release sick"

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) CPUs, $instances instances, $(haproxy -v 2>/dev/null | head -n1 | cut -d' ' -f1-3), $(php -r 'echo "PHP ", PHP_VERSION;')"
"$MDEPLOY" -q deploy create prod A.tar.zst >/dev/null || { echo "initial deployment failed" >&2; exit 1; }

load_start() {
	wrk -t2 -c16 -d600s "http://127.0.0.1:$lbport/" >"$TMP/wrk.out" 2>&1 &
	wrkpid=$!
	sleep 1
}

# load_stop PHASE EXPECTED_TEXT CMD_MS: stop wrk, report, check the group.
load_stop() {
	sleep 1
	kill -INT "$wrkpid" 2>/dev/null
	wait "$wrkpid" 2>/dev/null
	wrkpid=
	reqs=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$TMP/wrk.out")
	non2xx=$(sed -n 's/^ *Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' "$TMP/wrk.out")
	sockerr=$(sed -n 's/^ *Socket errors: connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\).*/\1 \2 \3 \4/p' "$TMP/wrk.out" |
		awk '{print $1 + $2 + $3 + $4}')
	failed=$(( ${non2xx:-0} + ${sockerr:-0} ))
	live=$("$MDEPLOY" --json lb show bench-prod | jq '[.targets[] | select(.weight > 0 and .state == "ready")] | length')
	served=$(for i in 1 2 3 4 5 6 7 8; do curl -s -m 5 "http://127.0.0.1:$lbport/"; done | sort -u | tr '\n' '|')
	verdict=ok
	if [ "$failed" != 0 ] || [ "$live" != "$instances" ] || [ "$served" != "$2|" ]; then
		verdict=FAIL
		failures=$((failures + 1))
	fi
	printf '%-34s %8s req %4s failed (%s non-2xx, %s socket) switch %5s ms  cmd %6s ms  serving %-10s %s\n' \
		"$1" "${reqs:-?}" "$failed" "${non2xx:-0}" "${sockerr:-0}" "${switch:--}" "$3" "$served" "$verdict"
}

now_ms() { date +%s%3N; }
switch_ms() { sed -n 's/.*traffic to .* applied in \([0-9]*\) ms.*/\1/p' "$1" | tail -n1; }

# 1. code-only swap
load_start
t0=$(now_ms)
"$MDEPLOY" deploy create prod B.tar.zst >/dev/null 2>"$TMP/log"
rc=$?
cmd=$(( $(now_ms) - t0 ))
switch=$(switch_ms "$TMP/log")
[ $rc = 0 ] || { echo "deploy B failed: $(tail -n2 "$TMP/log")"; failures=$((failures + 1)); }
load_stop "code-only blue/green swap" "release B" "$cmd"

# 2. ValidateService fails: automatic rollback
load_start
t0=$(now_ms)
"$MDEPLOY" deploy create prod Bad.tar.zst >/dev/null 2>"$TMP/log"
rc=$?
cmd=$(( $(now_ms) - t0 ))
switch=-
[ $rc = 1 ] || { echo "bad deployment did not fail"; failures=$((failures + 1)); }
load_stop "failing ValidateService (rollback)" "release B" "$cmd"

# 3. instant rollback to the retained fleet
load_start
t0=$(now_ms)
"$MDEPLOY" deploy rollback prod >/dev/null 2>"$TMP/log"
rc=$?
cmd=$(( $(now_ms) - t0 ))
switch=$(switch_ms "$TMP/log")
[ $rc = 0 ] || { echo "rollback failed: $(tail -n2 "$TMP/log")"; failures=$((failures + 1)); }
load_stop "rollback to retained blue" "release A" "$cmd"

# 4. the health path fails: the health gate must stop it before any traffic moves
load_start
t0=$(now_ms)
"$MDEPLOY" deploy create prod Sick.tar.zst >/dev/null 2>"$TMP/log"
rc=$?
cmd=$(( $(now_ms) - t0 ))
switch=-
[ $rc = 1 ] && grep -q "health" "$TMP/log" || { echo "the health-failing release was not refused: $(tail -n2 "$TMP/log")"; failures=$((failures + 1)); }
load_stop "health path answers 503 (rollback)" "release A" "$cmd"

# 5. crash, then create: refused until the interrupted one is stopped
load_start
t0=$(now_ms)
MDEPLOY_TEST_CRASH_AT=4 "$MDEPLOY" deploy create prod C.tar.zst >/dev/null 2>"$TMP/log"
rc=$?
dead=$("$MDEPLOY" --json deploy status | jq -r .id)
"$MDEPLOY" deploy create prod B.tar.zst >/dev/null 2>>"$TMP/log"
rc2=$?
"$MDEPLOY" deploy stop --rollback "$dead" >/dev/null 2>>"$TMP/log"
rc3=$?
cmd=$(( $(now_ms) - t0 ))
switch=-
if [ $rc != 137 ] || [ $rc2 != 1 ] || ! grep -q "was interrupted" "$TMP/log" || [ $rc3 != 0 ]; then
	echo "crash then create: create exit $rc, second create exit $rc2, stop exit $rc3: $(tail -n3 "$TMP/log")"
	failures=$((failures + 1))
fi
load_stop "kill -9, create refused, stop" "release A" "$cmd"

# 6. an instance dies: fleet heal replaces it
load_start
t0=$(now_ms)
livefleet=$("$MDEPLOY" --json fleet list 2>"$TMP/log" | jq -r '.fleets[] | select(.role == "live") | .name')
victim=$("$MDEPLOY" --json fleet show "$livefleet" 2>>"$TMP/log" | jq -r '.instances[0].pid')
[ -n "$victim" ] && kill -KILL "-$victim"
sleep 2
healed=$("$MDEPLOY" --json fleet heal 2>"$TMP/log" | jq -r .replaced)
cmd=$(( $(now_ms) - t0 ))
switch=-
[ "$healed" = 1 ] || { echo "fleet heal replaced '$healed' (fleet '$livefleet', pid '$victim'): $(tail -n4 "$TMP/log")"; failures=$((failures + 1)); }
load_stop "instance killed, fleet heal" "release A" "$cmd"

# 7. kill -9 after each journal step, then resume
steps=$("$MDEPLOY" --json deploy history prod | jq -r '[.deployments[] | select(.status == "Succeeded" and .strategy == "blue-green")][0].id' |
	xargs "$MDEPLOY" --json deploy status | jq '.steps | length')
next=B
live_text="release A"
n=1
while [ "$n" -le "$steps" ]; do
	load_start
	t0=$(now_ms)
	MDEPLOY_TEST_CRASH_AT=$n "$MDEPLOY" deploy create prod "$next.tar.zst" >/dev/null 2>"$TMP/log"
	rc=$?
	id=$("$MDEPLOY" --json deploy status | jq -r .id)
	"$MDEPLOY" deploy resume "$id" >/dev/null 2>>"$TMP/log"
	rc2=$?
	cmd=$(( $(now_ms) - t0 ))
	switch=$(switch_ms "$TMP/log")
	status=$("$MDEPLOY" --json deploy status "$id" | jq -r .status)
	if [ $rc != 137 ] || [ $rc2 != 0 ] || [ "$status" != Succeeded ]; then
		echo "crash at step $n: create exit $rc, resume exit $rc2, status $status: $(tail -n2 "$TMP/log")"
		failures=$((failures + 1))
	fi
	live_text="release $next"
	load_stop "kill -9 at step $n/$steps, resume" "$live_text" "$cmd"
	[ "$next" = B ] && next=C || next=B
	n=$((n + (quick ? 3 : 1)))
done

echo "# failures: $failures"
[ "$failures" = 0 ]
