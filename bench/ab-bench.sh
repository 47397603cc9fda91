#!/bin/sh
# ab-bench.sh - one bundle step of moodle-bench.sh, two mdeploy builds and
# the standard tool, in rotating order (so none always runs on the cache
# the others warmed), with wall and CPU (user + system) time per run and
# the ratios of the sums against the standard tool.
#
# usage: bench/ab-bench.sh [-n ROUNDS] [-a OLD_MDEPLOY] STEP TREE [REPO REF]
#   STEP     bundle   bundle create TREE b.tar.zst   vs  tar -c TREE | zstd -3 -T0
#            git      bundle create --git REPO --rev REF  vs  git archive REF | zstd -3 -T0
#            extract  bundle extract b.tar.zst       vs  zstd -dc | tar -x, then sync -f OUT
#            (syncfs of the output's filesystem, as mdeploy's extract does; a bare
#            sync flushes every filesystem's dirty data, other users' too)
#   TREE     a directory (for git: the export of REF, used for nothing else)
#   OLD_MDEPLOY  a second build to compare (e.g. a copy of main's cli/.libs/mdeploy
#            with LD_LIBRARY_PATH set by a wrapper); without it only the new one runs.
# MDEPLOY (environment) is the new build, default _build/cli/.libs/mdeploy run
# directly (libtool's wrapper script forks sed and ls on every run: tens of
# milliseconds, and more under load, that the standard tools do not pay).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
new=${MDEPLOY:-}
old=
rounds=3
while [ $# -gt 0 ]; do
	case $1 in
	-n) rounds=$2; shift 2 ;;
	-a) old=$2; shift 2 ;;
	*) break ;;
	esac
done
[ $# -ge 2 ] || { sed -n '6,/^set -eu/p' "$0" | sed '$d' >&2; exit 2; }
step=$1 tree=$(cd "$2" && pwd -P)
repo=${3:-} ref=${4:-}
[ "$step" != git ] || [ -n "$ref" ] || { echo "ab-bench: git needs REPO REF" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/mdeploy-ab.XXXXXX")
trap 'rm -rf "$work"' EXIT
if [ -z "$new" ]; then
	new=$work/mdeploy
	printf '#!/bin/sh\nLD_LIBRARY_PATH=%s exec %s "$@"\n' "$top/_build/libmdeploy/.libs" \
		"$top/_build/cli/.libs/mdeploy" >"$new"
	chmod +x "$new"
fi
export MDEPLOY_PROGRESS=0

# The bundle the extract step reads, made once by the new build.
if [ "$step" = extract ]; then
	"$new" -q bundle create --no-appspec-check "$tree" "$work/in.tar.zst" >/dev/null
	tar -c -C "$tree" . | zstd -q -3 -T0 >"$work/in-tar.tar.zst"
fi

run() { # WHO: one timed run, "WHO wall cpu" on stdout
	_who=$1
	case $_who in
	old) _m=$old ;;
	new) _m=$new ;;
	esac
	rm -rf "$work/out" "$work/out.tar.zst"
	case $step:$_who in
	bundle:std) _c="tar -c -C '$tree' . | zstd -q -3 -T0 >'$work/out.tar.zst'" ;;
	bundle:*) _c="'$_m' -q bundle create --no-appspec-check '$tree' '$work/out.tar.zst' >/dev/null" ;;
	git:std) _c="git --git-dir='$repo' archive '$ref' | zstd -q -3 -T0 >'$work/out.tar.zst'" ;;
	git:*) _c="'$_m' -q bundle create --no-appspec-check --git '$repo' --rev '$ref' '$work/out.tar.zst' >/dev/null" ;;
	extract:std) _c="mkdir '$work/out' && zstd -q -dc '$work/in-tar.tar.zst' | tar -x -C '$work/out' && sync -f '$work/out'" ;;
	extract:*) _c="'$_m' -q bundle extract '$work/in.tar.zst' '$work/out' >/dev/null" ;;
	esac
	/usr/bin/time -f "$_who %e %U %S" -o "$work/t" sh -c "$_c"
	awk '{ printf "%s %.2f %.2f\n", $1, $2, $3 + $4 }' "$work/t"
	if [ "$step" != extract ] && [ "$_who" != std ]; then
		if [ -f "$work/prev.tar.zst" ]; then
			cmp -s "$work/prev.tar.zst" "$work/out.tar.zst" || echo "ab-bench: $_who's bundle differs" >&2
		else
			mv "$work/out.tar.zst" "$work/prev.tar.zst"
		fi
	fi
}

who="new std"
[ -z "$old" ] || who="old new std"
i=0
load0=$(cut -d' ' -f1-3 /proc/loadavg)
while [ "$i" -lt "$rounds" ]; do
	# rotate: round 0 old new std, round 1 new std old, round 2 std old new
	set -- $who
	k=0
	while [ "$k" -lt $((i % $#)) ]; do
		_f=$1; shift; set -- "$@" "$_f"; k=$((k + 1))
	done
	for w in "$@"; do run "$w"; done
	i=$((i + 1))
done >"$work/res"
cat "$work/res"
echo "ab-bench: $step, $rounds rounds, $(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%MZ), load before $load0, after $(cut -d' ' -f1-3 /proc/loadavg)"
awk '{ w[$1] += $2; c[$1] += $3 }
	END {
		for (k in w) if (k != "std") printf "%s/std: wall %.2fx (%.2f s / %.2f s), cpu %.2fx (%.2f s / %.2f s)\n", k, w[k] / w["std"], w[k], w["std"], c[k] / c["std"], c[k], c["std"]
	}' "$work/res" | sort
