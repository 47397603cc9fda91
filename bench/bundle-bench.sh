#!/bin/sh
# bench/bundle-bench.sh - time mdeploy's bundles against tar|zstd, tar|gzip and
# git archive|gzip on the same tree, in the same run.
#
# usage: bench/bundle-bench.sh [TREE]
#
# TREE is a Moodle checkout (a directory; a git work tree is not needed).
# Without it, bench/mktree.py generates a tree of Moodle's shape (45,700
# files, 580 MB; BENCH_FILES and BENCH_MB change that) in a scratch
# directory. MDEPLOY is the binary (default: _build/cli/mdeploy). Prints a
# Markdown table of wall time, peak memory and output size, with ratios.
# This is a benchmark, not a test: run it on a quiet machine.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
MDEPLOY=${MDEPLOY:-$top/_build/cli/mdeploy}
[ -x "$MDEPLOY" ] || { echo "bench: build mdeploy first ($MDEPLOY)" >&2; exit 1; }
for t in zstd gzip git tar /usr/bin/time; do
	command -v "$t" >/dev/null 2>&1 || { echo "bench: needs $t" >&2; exit 1; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/mdeploy-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [ $# -ge 1 ]; then
	src=$(cd "$1" && pwd)
	label="$src"
else
	python3 "$here/mktree.py" "$work/tree" "${BENCH_FILES:-45700}" "${BENCH_MB:-580}" >&2
	src=$work/tree
	label="generated tree (bench/mktree.py ${BENCH_FILES:-45700} ${BENCH_MB:-580})"
fi
[ -f "$src/appspec.yml" ] || printf 'version: 0.0\nos: linux\n' >"$work/appspec.yml"
files=$(find "$src" -path '*/.git' -prune -o -type f -print | wc -l)
bytes=$(find "$src" -path '*/.git' -prune -o -type f -printf '%s\n' | awk '{s+=$1} END {print s}')

# git archive needs a commit of the same tree.
repo=$work/repo
git init -q "$repo"
cp -a "$src/." "$repo/"
[ -f "$repo/appspec.yml" ] || cp "$work/appspec.yml" "$repo/"
git -C "$repo" add -A
git -C "$repo" -c user.name=bench -c user.email=bench@example.invalid commit -q -m tree
tree=$repo   # the same bytes for everyone, .git left out by all of them
# Warm the page cache so the first contender is not penalised.
tar -C "$tree" --exclude=.git -cf - . >/dev/null

# run N NAME OUTPUT CMD: the best wall time of N runs (the machine may be
# shared: the minimum is the least disturbed) and the biggest peak RSS.
runs=${BENCH_RUNS:-3}
load0=$(cut -d' ' -f1-3 /proc/loadavg)
results=$work/results
: >"$results"
run() {
	count=$1 name=$2 out=$3; shift 3
	best= peak=0
	while [ "$count" -gt 0 ]; do
		rm -rf "$work/x"
		/usr/bin/time -f '%e %M' -o "$work/time" sh -c "$*" </dev/null
		read -r s kib <"$work/time"
		best=$(awk -v a="$best" -v b="$s" 'BEGIN { print (a == "" || b < a) ? b : a }')
		[ "$kib" -gt "$peak" ] && peak=$kib
		count=$((count - 1))
	done
	size=$(stat -c %s "$out" 2>/dev/null || echo 0)
	printf '%s\t%s\t%s\t%s\n' "$name" "$best" "$peak" "$size" >>"$results"
	echo "bench: $name: $best s, $peak KiB peak, $size bytes" >&2
}

run "$runs" "tar -c | zstd -3 -T0" "$work/ref.tar.zst" \
	"tar -C '$tree' --exclude=.git -cf - . | zstd -q -f -3 -T0 -o '$work/ref.tar.zst'"
run "$runs" "mdeploy bundle create (tar.zst)" "$work/b.tar.zst" \
	"'$MDEPLOY' -q bundle create --time 1764000000 '$tree' '$work/b.tar.zst' >/dev/null"
run "$runs" "mdeploy bundle verify (tar.zst)" "$work/none" \
	"'$MDEPLOY' -q bundle verify '$work/b.tar.zst' >/dev/null"
run 1 "git archive | gzip" "$work/ref-git.tar.gz" \
	"git -C '$repo' archive HEAD | gzip -6 >'$work/ref-git.tar.gz'"
run 1 "tar -c | gzip -6" "$work/ref.tar.gz" \
	"tar -C '$tree' --exclude=.git -cf - . | gzip -6 >'$work/ref.tar.gz'"
run 1 "mdeploy bundle create (tgz)" "$work/b.tgz" \
	"'$MDEPLOY' -q bundle create --time 1764000000 '$tree' '$work/b.tgz' >/dev/null"
run "$runs" "mdeploy bundle extract (tar.zst)" "$work/none" \
	"'$MDEPLOY' -q bundle extract '$work/b.tar.zst' '$work/x' >/dev/null"

t() { awk -F'\t' -v n="$1" '$1 == n {print $2}' "$results"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

echo "Date: $(date -u +%Y-%m-%dT%H:%MZ), host: $(nproc) CPUs, $(uname -sr), load average before: $load0, after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "Tree: $label: $files files, $((bytes / 1048576)) MB"
echo
echo "| step | wall s | peak RSS MiB | output MB |"
echo "|---|---:|---:|---:|"
tab=$(printf '\t')
while IFS="$tab" read -r name s kib size; do
	printf '| %s | %s | %s | %s |\n' "$(printf '%s' "$name" | sed 's/|/\\|/g')" "$s" "$((kib / 1024))" \
		"$(awk -v b="$size" 'BEGIN { printf "%.1f", b / 1048576 }')"
done <"$results"
echo
echo "- tar.zst bundle vs tar|zstd -3 -T0: $(ratio "$(t 'mdeploy bundle create (tar.zst)')" "$(t 'tar -c | zstd -3 -T0')")x the time (goal <= 1.3)"
echo "- git archive|gzip vs tar.zst bundle: $(ratio "$(t 'git archive | gzip')" "$(t 'mdeploy bundle create (tar.zst)')")x faster (goal >= 3)"
echo "- tgz bundle vs tar|gzip -6: $(ratio "$(t 'mdeploy bundle create (tgz)')" "$(t 'tar -c | gzip -6')")x the time (goal <= 1.0)"
echo "- verify vs create (tar.zst): $(ratio "$(t 'mdeploy bundle verify (tar.zst)')" "$(t 'mdeploy bundle create (tar.zst)')")x the time (goal < 1)"
