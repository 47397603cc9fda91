#!/bin/sh
# moodle-bench.sh - the source and bundle stages on a real Moodle repository,
# each step against the git/tar/zstd pipeline doing the same work, in
# interleaved pairs (mdeploy, then the anchor, ROUNDS times), as the issue's
# table asks.
#
# usage: bench/moodle-bench.sh [-m MDEPLOY] [-n ROUNDS] REPO REF
#   REPO  a Moodle git repository (bare or not), e.g. a clone of
#         ../shared/moodle/moodle-releases.bundle
#   REF   the release to work on, e.g. v4.5.0
#
# Steps (mdeploy vs anchor):
#   fetch file://   source fetch, fresh state     git clone --bare --no-local
#   fetch git://    the same from git daemon      git clone --bare git://
#   fetch again     source fetch, nothing new     -
#   export          source export DIR             git archive REF | tar -x
#   bundle tar.zst  bundle create DIR b.tar.zst   tar -c DIR | zstd -3 -T0
#   bundle --git    bundle create --git           git archive REF | zstd -3 -T0
#   extract         bundle extract b.tar.zst      zstd -dc | tar -x, then sync -f (syncfs, as mdeploy)
# Prints a line per pair (seconds, peak RSS) and the median ratio per step,
# with the load average. Work happens in $BENCH_DIR or a temporary directory.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
MDEPLOY=$top/_build/cli/mdeploy
rounds=3
while [ $# -gt 0 ]; do
	case $1 in
	-m) MDEPLOY=$2; shift 2 ;;
	-n) rounds=$2; shift 2 ;;
	*) break ;;
	esac
done
[ $# -eq 2 ] || { sed -n '6,9p' "$0" >&2; exit 2; }
repo=$(cd "$1" && pwd -P)
ref=$2
[ -x "$MDEPLOY" ] || { echo "moodle-bench: $MDEPLOY not built" >&2; exit 1; }
command -v zstd >/dev/null || { echo "moodle-bench: zstd missing" >&2; exit 1; }

work=${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/mdeploy-mbench.XXXXXX")}
mkdir -p "$work"
daemon_pid=
cleanup() {
	[ -z "$daemon_pid" ] || kill "$daemon_pid" 2>/dev/null || true
	[ -n "${BENCH_DIR:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
export MDEPLOY_PROGRESS=0
results=$work/results
: >"$results"

# timed NAME CMD...: runs CMD, appends "NAME seconds rss_kb" to results.
timed() {
	_n=$1; shift
	/usr/bin/time -f '%e %M' -o "$work/.t" "$@" >/dev/null
	echo "$_n $(cat "$work/.t")" >>"$results"
}
sh_timed() { timed "$1" sh -c "$2"; }

# git daemon for the git:// step, on a free port.
port=$(awk 'BEGIN { srand(); print 20000 + int(rand() * 20000) }')
git daemon --reuseaddr --export-all --base-path="$(dirname "$repo")" --listen=127.0.0.1 --port="$port" \
	"$(dirname "$repo")" >/dev/null 2>&1 &
daemon_pid=$!
sleep 1
giturl=git://127.0.0.1:$port/$(basename "$repo")

app() {
	mkdir -p "$work/app-$1"
	printf 'application:\n  name: bench\nsource:\n  core:\n    url: %s\n    ref: %s\n' "$2" "$ref" \
		>"$work/app-$1/mdeploy.yml"
}
app file "$repo"
app git "$giturl"

i=1
while [ "$i" -le "$rounds" ]; do
	r=$work/r$i
	mkdir -p "$r"
	export MDEPLOY_STATE_DIR="$r/state"
	cd "$work/app-file"
	timed "fetch-file:mdeploy" "$MDEPLOY" -q source fetch
	timed "fetch-file:git" git clone -q --bare --no-local "$repo" "$r/clone.git"
	timed "fetch-again:mdeploy" "$MDEPLOY" -q source fetch
	MDEPLOY_STATE_DIR="$r/state-git"
	cd "$work/app-git"
	timed "fetch-git:mdeploy" "$MDEPLOY" -q source fetch
	timed "fetch-git:git" git clone -q --bare "$giturl" "$r/clone-git.git"
	MDEPLOY_STATE_DIR="$r/state"
	cd "$work/app-file"
	"$MDEPLOY" -q source lock
	timed "export:mdeploy" "$MDEPLOY" -q source export "$r/export"
	mkdir "$r/archive"
	sh_timed "export:git" "git --git-dir='$r/clone.git' archive '$ref' | tar -x -C '$r/archive'"
	timed "bundle:mdeploy" "$MDEPLOY" -q bundle create --no-appspec-check "$r/export" "$r/b.tar.zst"
	sh_timed "bundle:tar" "tar -c -C '$r/export' . | zstd -q -3 -T0 >'$r/t.tar.zst'"
	mirror=$(ls -d "$r"/state/mirrors/*.git)
	timed "bundle-git:mdeploy" "$MDEPLOY" -q bundle create --no-appspec-check --git "$mirror" --rev "$ref" \
		"$r/g.tar.zst"
	sh_timed "bundle-git:git" "git --git-dir='$r/clone.git' archive '$ref' | zstd -q -3 -T0 >'$r/a.tar.zst'"
	timed "extract:mdeploy" "$MDEPLOY" -q bundle extract "$r/b.tar.zst" "$r/x"
	mkdir "$r/y"
	sh_timed "extract:tar" "zstd -q -dc '$r/t.tar.zst' | tar -x -C '$r/y' && sync -f '$r/y'"
	files=$(find "$r/export" -type f | wc -l)
	mb=$(du -sm "$r/export" | cut -f1)
	rm -rf "$r"
	i=$((i + 1))
done

echo "moodle-bench: $repo @ $ref: $files files, $mb MB; $(nproc) CPUs; $(date -u +%Y-%m-%dT%H:%MZ)"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v rounds="$rounds" '
	{ split($1, a, ":"); step = a[1]; who = a[2]; n = ++cnt[$1]; t[$1, n] = $2; m[$1, n] = $3
	  if (!(step in seen)) { seen[step] = 1; order[++ns] = step } }
	function med(x, k,   i, j, v, tmp) {
		for (i = 1; i <= k; i++) v[i] = x[i]
		for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (v[j] < v[i]) { tmp = v[i]; v[i] = v[j]; v[j] = tmp }
		return v[int((k + 1) / 2)]
	}
	END {
		printf "%-12s %-10s %-28s %-28s %s\n", "step", "who", "seconds per round", "peak RSS MB", "median ratio"
		for (s = 1; s <= ns; s++) {
			step = order[s]; anchor = ""
			for (k in cnt) { split(k, a, ":"); if (a[1] == step && a[2] != "mdeploy") anchor = a[2] }
			for (w = 0; w < 2; w++) {
				who = w == 0 ? "mdeploy" : anchor
				if (who == "") continue
				key = step ":" who; line = ""; rss = ""
				for (i = 1; i <= cnt[key]; i++) { line = line sprintf("%.2f ", t[key, i]); rss = rss sprintf("%d ", m[key, i] / 1024); r[i] = t[key, i] }
				if (w == 0) for (i = 1; i <= cnt[key]; i++) md[i] = t[key, i]
				ratio = ""
				if (w == 1) { for (i = 1; i <= cnt[key]; i++) q[i] = t[key, i] > 0 ? md[i] / t[key, i] : 0
				              ratio = sprintf("%.2fx", med(q, cnt[key])) }
				printf "%-12s %-10s %-28s %-28s %s\n", step, who, line, rss, ratio
			}
		}
	}' "$results"
