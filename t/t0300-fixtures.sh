#!/bin/sh
# t/fixtures/mkmoodle.sh builds the documented repositories, reproducibly.
. "${top_srcdir:-.}/t/lib.sh"
command -v git >/dev/null 2>&1 || skip_all "git not installed"

run sh "$top_srcdir/t/fixtures/mkmoodle.sh" "$TMP/fx"
is "$rc" 0 "generator succeeds"
is "$out$err" "" "generator is silent"
tags=$(git -C "$TMP/fx/moodle" tag | sort | tr '\n' ' ')
is "$tags" "broken-misplaced broken-versionphp subplugins-block subplugins-block-removed v4.5.0 v4.5.1 v4.5.2 v5.1.0 vendored " "core tags"
is "$(git -C "$TMP/fx/moodle" cat-file -p v5.1.0:public/lib/components.json | grep -c plugintypes)" 1 \
	"v5.1.0 has the public/ layout"
is "$(git -C "$TMP/fx/mod_certx" tag | tr '\n' ' ')" "v1.0.0 v1.0.1 v1.1.0 v2.0.0 " "plugin tags"
ok "$(test -f "$TMP/fx/mdeploy.yml"; echo $?)" "example mdeploy.yml written"
first=$(git -C "$TMP/fx/moodle" rev-parse v4.5.2)
run sh "$top_srcdir/t/fixtures/mkmoodle.sh" "$TMP/fx"
is "$rc" 0 "second run over the same directory succeeds"
is "$(git -C "$TMP/fx/moodle" rev-parse v4.5.2)" "$first" "commit ids are reproducible"
done_testing
