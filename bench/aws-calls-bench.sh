#!/bin/sh
# aws-calls-bench.sh [N...] - the AWS API calls one blue/green deployment
# of N instances makes through the aws provider (default N = 2 4 8 16), by
# phase and by API, on a private moto_server with signature checking (as
# in the tests). Run from a build tree after `make check` built it, or:
#   make -C _build bench/aws-calls && bench/aws-calls-bench.sh 2 4 8
set -u
top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
BIN=${AWS_CALLS:-$top_srcdir/_build/bench/aws-calls}
[ -x "$BIN" ] || { echo "aws-calls-bench: build $BIN first (make -C _build bench/aws-calls)" >&2; exit 1; }
. "$top_srcdir/t/lib.sh" >/dev/null
. "$top_srcdir/t/lib-moto.sh"
[ $# -gt 0 ] || set -- 2 4 8 16
for n do
	moto_start   # a fresh server per size: nothing left from the last one
	"$BIN" "$n" >"$TMP/calls-$n.txt" || { echo "aws-calls $n failed" >&2; exit 1; }
	moto_stop
done
printf '%s, moto %s (signatures checked)\n' "$(date -u +%Y-%m-%d)" \
	"$(python3 -c 'import moto; print(moto.__version__)' 2>/dev/null || echo '?')"
# phase/API rows, one column per N
cat "$TMP"/calls-*.txt | awk -v ns="$*" '
	BEGIN { k = split(ns, N, " ") }
	{ key = $2 " " $3; if (!(key in seen)) { seen[key] = 1; order[++m] = key }
	  c[key, $1] += $4 }
	END {
		printf "%-14s %-52s", "phase", "api"; for (i = 1; i <= k; i++) printf " %6s", "N=" N[i]; printf "\n"
		for (j = 1; j <= m; j++) { split(order[j], a, " ")
			printf "%-14s %-52s", a[1], a[2]; for (i = 1; i <= k; i++) printf " %6d", c[order[j], N[i]]; printf "\n" }
	}'
