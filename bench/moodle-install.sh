#!/bin/sh
# moodle-install.sh - per-instance install time on a real Moodle tree,
# against plain extraction of the same bundle.
#
# The tree is REF (default v4.5.5plus) of the Moodle git repository
# $MDEPLOY_MOODLE_GIT, else ../shared/moodle/moodle-releases.bundle, bundled
# as tar.zst with an appspec that has no hooks (the hooks need a database;
# what they cost is Moodle's, measured by the real-Moodle tests). Each
# figure is the best of RUNS (default 3) runs:
#   tar            tar --zstd -xf, nothing else
#   tar + sync     the same, then sync -f (what a crash-safe install needs)
#   bundle extract mdeploy bundle extract (safe extraction, checked against
#                  the manifest, synced, renamed into place)
#   agent install  mdeploy agent install on a fresh root (the whole
#                  lifecycle without hooks: extract, switch `current`)
#   deploy install the `install` step of each instance of a 2-instance
#                  blue/green deployment (journal times: agent events,
#                  server restart, ValidateService), OneAtATime
# and, for the deployment, the time from the command's start to traffic on
# green and to the command's end (the old fleet retired after the lock).
#
# usage: bench/moodle-install.sh [REF] [RUNS] [BUILD_DIR]
set -u
ref=${1:-v4.5.5plus}
runs=${2:-3}
top=$(cd "$(dirname "$0")/.." && pwd)
build=${3:-$top/_build}
MDEPLOY=${MDEPLOY:-$build/cli/mdeploy}
[ -x "$MDEPLOY" ] || { echo "moodle-install: error: $MDEPLOY not built" >&2; exit 1; }
src=${MDEPLOY_MOODLE_GIT:-$(cd "$top/.." && pwd)/shared/moodle/moodle-releases.bundle}
[ -e "$src" ] || { echo "moodle-install: error: no Moodle repository: set MDEPLOY_MOODLE_GIT" >&2; exit 1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mdeploy-minstall.XXXXXX")
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

now_ms() { date +%s%3N; }
best=
keep_best() { [ -z "$best" ] || [ "$1" -lt "$best" ] && best=$1; }
# measure LABEL PREP CMD: best of $runs, PREP (untimed) before each run.
measure() {
	label=$1 prep=$2 cmd=$3 best=
	i=0
	while [ $i -lt "$runs" ]; do
		eval "$prep"
		t0=$(now_ms)
		eval "$cmd" >/dev/null 2>&1 || { echo "moodle-install: error: $label failed" >&2; exit 1; }
		keep_best $(($(now_ms) - t0))
		i=$((i + 1))
	done
	printf '| %s | %s ms |\n' "$label" "$best"
}

cd "$TMP" || exit 1
git clone -q --bare "$src" moodle.git || exit 1
mkdir tree && git -C moodle.git archive "$ref" | tar -x -C tree || exit 1
printf 'version: 0.0\nos: linux\n' >tree/appspec.yml
"$MDEPLOY" -q bundle create tree moodle.tar.zst >/dev/null || exit 1
files=$(find tree -type f | wc -l)
echo "Moodle $ref: $files files, $(du -sm tree | cut -f1) MB; bundle $(($(stat -c %s moodle.tar.zst) / 1048576)) MB;" \
	"best of $runs; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| what | time |"
echo "|---|---:|"
measure "tar --zstd -xf" 'rm -rf x; mkdir x' 'tar --zstd -xf moodle.tar.zst -C x'
measure "tar --zstd -xf, then sync -f" 'rm -rf x; mkdir x' 'tar --zstd -xf moodle.tar.zst -C x && sync -f x'
measure "mdeploy bundle extract" 'rm -rf x' '"$MDEPLOY" -q bundle extract moodle.tar.zst x'
measure "mdeploy agent install (fresh root)" 'rm -rf r' '"$MDEPLOY" -q agent install --root r moodle.tar.zst'
rm -rf x r

cat >mdeploy.yml <<EOF
application:
  name: mbench
groups:
  - name: prod
    fleet: { size: 2, min: 1, max: 2, port: $port }
    load_balancer: { listen: '127.0.0.1:$lbport', slots: 8 }
    health_check: { path: /lib/upgrade.txt, interval: 200ms, timeout: 2s, healthy_threshold: 1 }
    alarms: { window: 0s }
    drain_timeout: 1s
    blue_retention: 0s
EOF
bi= bt= bc=
i=0
while [ $i -le "$runs" ]; do
	t0=$(now_ms)
	out=$("$MDEPLOY" --json deploy create prod moodle.tar.zst 2>/dev/null) || { echo "moodle-install: error: deploy failed" >&2; exit 1; }
	t1=$(now_ms)
	# The first deployment has no old fleet to retire: not counted.
	if [ $i -gt 0 ]; then
		id=$(printf '%s' "$out" | jq -r .id)
		inst=$("$MDEPLOY" --json deploy status "$id" | jq '[.steps[] | select(.step == "install") | .finished_at_ms - .started_at_ms] | max')
		tr=$(printf '%s' "$out" | jq .traffic_applied_ms)
		[ -z "$bi" ] || [ "$inst" -lt "$bi" ] && bi=$inst
		[ -z "$bt" ] || [ "$tr" -lt "$bt" ] && bt=$tr
		[ -z "$bc" ] || [ $((t1 - t0)) -lt "$bc" ] && bc=$((t1 - t0))
	fi
	i=$((i + 1))
done
printf '| deploy: install step of one instance (slowest of 2) | %s ms |\n' "$bi"
printf '| deploy: command start to traffic on green | %s ms |\n' "$bt"
printf '| deploy: whole command (old fleet retired after the lock) | %s ms |\n' "$bc"
