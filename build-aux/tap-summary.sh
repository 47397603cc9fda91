#!/bin/sh
# tap-summary.sh BUILDDIR... - count test points from automake's .trs files.
# Lists each failing test with its first failed points and their diagnostics
# (CI shows only the end of its output: the reason must be there), then
# prints "N passed, N failed, N skipped" and exits 1 when any failed.
pass=0 fail=0 skip=0
for d in "$@"; do
	[ -d "$d" ] || continue
	for trs in $(find "$d" -path "$d/mdeploy-*" -prune -o -name '*.trs' -print 2>/dev/null | sort); do
		grep -q '^:test-result: \(FAIL\|XPASS\|ERROR\)' "$trs" || continue
		log=${trs%.trs}.log
		echo "FAILED: $log: $(grep -c '^:test-result: \(FAIL\|XPASS\|ERROR\)' "$trs") point(s)"
		# The first failed points, each with the diagnostics that follow it.
		[ -f "$log" ] && awk '
			/^not ok/ { n++; if (n > 3) exit; shown = 0; print "  " substr($0, 1, 200); inblock = 1; next }
			/^ok / { inblock = 0; next }
			inblock && /^#/ && shown < 6 { print "    " substr($0, 1, 200); shown++ }
			/^(ERROR|Bail out)/ { print "  " substr($0, 1, 200) }' "$log"
	done
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
