#!/bin/sh
# deploy-scale.sh - how long blue/green deployments take as the fleet grows,
# and that batches run in parallel: a first deployment and a code-only swap
# with AllAtOnce (all green instances installed at once), then a swap with
# OneAtATime (one after another), on N instances (default 32).
#
# usage: bench/deploy-scale.sh [N] [BUILD_DIR]
set -u
n=${1:-32}
top=$(cd "$(dirname "$0")/.." && pwd)
build=${2:-$top/_build}
MDEPLOY=${MDEPLOY:-$build/cli/mdeploy}
[ -x "$MDEPLOY" ] || { echo "deploy-scale: error: $MDEPLOY not built" >&2; exit 1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mdeploy-scale.XXXXXX")
export MDEPLOY_STATE_DIR="$TMP/state" MDEPLOY_PROGRESS=0
export MDEPLOY_LOCAL_ADDRESS_BASE="127.$((100 + $$ % 150))"
lbport=$((28300 + ($$ % 1400) * 3))
port=$((lbport + 1))

cleanup() {
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
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkrel() {
	mkdir -p "$1/hooks"
	printf '<?php echo "%s\\n";\n' "$1" >"$1/index.php"
	printf 'version: 0.0\nos: linux\nhooks:\n  ValidateService:\n    - location: hooks/validate.sh\n' >"$1/appspec.yml"
	printf '#!/bin/sh\ncurl -sf "http://$MDEPLOY_INSTANCE_ADDR:%s/" >/dev/null\n' "$port" >"$1/hooks/validate.sh"
	chmod +x "$1/hooks/validate.sh"
	"$MDEPLOY" -q bundle create "$1" "$1.tar.zst" >/dev/null || exit 1
}
config() {
	cat >mdeploy.yml <<EOC
application:
  name: scale
groups:
  - name: prod
    fleet: { size: $n, min: 1, max: $n, port: $port }
    load_balancer: { listen: '127.0.0.1:$lbport', slots: $((n * 2)) }
    health_check: { interval: 200ms, timeout: 1s, healthy_threshold: 1 }
    deployment_config: $1
    alarms: { window: 0s }
    drain_timeout: 1s
EOC
}
now_ms() { date +%s%3N; }
timed() {
	t0=$(now_ms)
	"$MDEPLOY" deploy create prod "$2" >/dev/null 2>"$TMP/log" || { echo "$1 failed: $(tail -n2 "$TMP/log")"; exit 1; }
	ms=$(( $(now_ms) - t0 ))
	id=$("$MDEPLOY" --json deploy status | jq -r .id)
	inst=$("$MDEPLOY" --json deploy status "$id" | jq '[.steps[] | select(.step == "install")] | (map(.finished_at_ms) | max) - (map(.started_at_ms) | min)')
	printf '%-32s %6d ms total, install phase %6d ms for %d instances\n' "$1" "$ms" "$inst" "$n"
}

cd "$TMP" || exit 1
for r in A B C; do mkrel "$r"; done
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) CPUs, $n instances"
config AllAtOnce
timed "first deployment, AllAtOnce" A.tar.zst
timed "code-only swap, AllAtOnce" B.tar.zst
config OneAtATime
timed "code-only swap, OneAtATime" C.tar.zst
