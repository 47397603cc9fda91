#!/bin/sh
# libmdeploy.so exports only mdeploy_* symbols of its own.
. "${top_srcdir:-.}/t/lib.sh"

so=$(ls "$top_builddir"/libmdeploy/.libs/libmdeploy.so.* 2>/dev/null | head -n1)
[ -n "$so" ] || skip_all "shared library not built"
: "${NM:=nm}"
$NM -D --defined-only "$so" | awk '$2 ~ /^[TDBRWVi]$/ { print $3 }' | sort >"$TMP/syms"
n=$(wc -l <"$TMP/syms")
ok "$([ "$n" -gt 10 ]; echo $?)" "library exports its API ($n symbols)"
grep -v '^mdeploy_' "$TMP/syms" >"$TMP/bad"
is "$(cat "$TMP/bad")" "" "no exported symbol outside mdeploy_*"
grep '^mdeploy__' "$TMP/syms" >"$TMP/internal"
is "$(cat "$TMP/internal")" "" "no internal mdeploy__ symbol exported"
for f in mdeploy_error_last mdeploy_strerror mdeploy_version mdeploy_exec_run mdeploy_ctx_new; do
	ok "$(grep -qx "$f" "$TMP/syms"; echo $?)" "$f exported"
done
done_testing
