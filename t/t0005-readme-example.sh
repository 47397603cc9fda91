#!/bin/sh
# The C example of README.md compiles with pkg-config against the built
# library and does what the README says.
. "${top_srcdir:-.}/t/lib.sh"

command -v pkg-config >/dev/null || skip_all "pkg-config missing"
[ -f "$top_builddir/libmdeploy/libmdeploy.pc" ] || skip_all "libmdeploy.pc not built"
# The README's first C block that has a main().
awk '/^```c$/ { inblk = 1; buf = ""; next }
     /^```$/ && inblk { if (buf ~ /int main/) { printf "%s", buf; exit } inblk = 0; next }
     inblk { buf = buf $0 "\n" }' "$top_srcdir/README.md" >"$TMP/stages.c"
like "$(cat "$TMP/stages.c")" "mdeploy_pipeline_load" "the example is in README.md"
# The build tree's own libmdeploy.pc, pointed at the uninstalled library.
flags=$(PKG_CONFIG_PATH="$top_builddir/libmdeploy" pkg-config \
	--define-variable=libdir="$top_builddir/libmdeploy/.libs" \
	--define-variable=includedir="$top_srcdir/libmdeploy/include" \
	--cflags --libs libmdeploy)
ok "$?" "pkg-config knows libmdeploy"
# A sanitizer build of the library needs its runtime in the program too.
san=
if ldd "$top_builddir/libmdeploy/.libs/libmdeploy.so" 2>/dev/null | grep -q libasan; then
	san="-fsanitize=address,undefined"
fi
# shellcheck disable=SC2086
run ${CC:-cc} -Wall -Werror $san -o "$TMP/stages" "$TMP/stages.c" $flags
is "$rc" 0 "it compiles with \$(pkg-config --cflags --libs libmdeploy)"
[ "$rc" = 0 ] || diag "$err"
export LD_LIBRARY_PATH="$top_builddir/libmdeploy/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
run "$TMP/stages" "$top_srcdir/pipelines/moodle-release.yml"
is "$rc" 0 "it runs"
is "$(echo "$out" | tr '\n' ' ')" "Source (1 action) Build (1 action) Staging (1 action) Approval (1 action) Production (2 actions) " \
	"it prints the stages of moodle-release.yml"
printf 'stages: []\n' >"$TMP/bad.yml"
run "$TMP/stages" "$TMP/bad.yml"
is "$rc" 1 "a bad definition: exit 1"
like "$err" "bad.yml:1:9: stages: a pipeline needs at least two stages" "and the located error"
done_testing
