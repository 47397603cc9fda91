#!/bin/sh
# Every public header compiles alone, as C99 and C++, with -pedantic -Werror.
. "${top_srcdir:-.}/t/lib.sh"

: "${CC:=cc}"
: "${CXX:=c++}"
inc="$top_srcdir/libmdeploy/include"
for h in ${HEADERS:-$(cd "$top_srcdir" && ls libmdeploy/include/mdeploy.h libmdeploy/include/mdeploy/*.h)}; do
	name=${h#libmdeploy/include/}
	printf '#include <%s>\nint main(void) { return 0; }\n' "$name" >"$TMP/h.c"
	if $CC -std=c99 -pedantic -Werror -Wall -Wextra -I"$inc" -c "$TMP/h.c" -o "$TMP/h.o" 2>"$TMP/cc.err"; then
		ok 0 "$name compiles alone as C99"
	else
		ok 1 "$name compiles alone as C99"; diag "$(cat "$TMP/cc.err")"
	fi
	if command -v "${CXX%% *}" >/dev/null 2>&1; then
		cp "$TMP/h.c" "$TMP/h.cc"
		if $CXX -pedantic -Werror -Wall -Wextra -I"$inc" -c "$TMP/h.cc" -o "$TMP/h.o" 2>"$TMP/cc.err"; then
			ok 0 "$name compiles alone as C++"
		else
			ok 1 "$name compiles alone as C++"; diag "$(cat "$TMP/cc.err")"
		fi
	else
		skip 1 "no C++ compiler"
	fi
done
done_testing
