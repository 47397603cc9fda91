#!/bin/sh
# Numbers on the command line that must be refused as usage errors
# (exit 2), not read as something else: NaN seconds, "-1" read by
# strtoul as the largest number.
. "${top_srcdir:-.}/t/lib.sh"

cd "$TMP" || exit 1
for v in nan -nan inf -1 0 1e9; do
	run mdeploy pipeline watch --interval "$v" some-pipeline
	is "$rc" 2 "pipeline watch --interval $v: usage error"
	like "$err" "'$v' is not a number of seconds" "--interval $v: said so"
done
for v in -1 0 +5 18446744073709551615; do
	run mdeploy agent install --root "$TMP/root" --keep "$v" "$TMP/no-such-revision"
	is "$rc" 2 "agent install --keep $v: usage error"
	like "$err" "--keep wants a positive number, not '$v'" "--keep $v: said so"
done
done_testing
