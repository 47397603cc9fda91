#!/bin/sh
# tap-summary.sh BUILDDIR... - count test points from automake's .trs files.
# Prints "N passed, N failed, N skipped" and exits 1 when any failed.
pass=0 fail=0 skip=0
for d in "$@"; do
	[ -d "$d" ] || continue
	counts=$(find "$d" -path "$d/mdeploy-*" -prune -o -name '*.trs' -exec cat {} + 2>/dev/null | awk '
		/^:test-result: (PASS|XFAIL)/ { p++ }
		/^:test-result: (FAIL|XPASS|ERROR)/ { f++ }
		/^:test-result: SKIP/ { s++ }
		END { printf "%d %d %d\n", p, f, s }')
	set -- $counts "$@"
	pass=$((pass + $1)); fail=$((fail + $2)); skip=$((skip + $3))
	shift 3
done
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
