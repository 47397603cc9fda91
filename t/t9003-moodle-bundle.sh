#!/bin/sh
# The real Moodle 4.5 tree bundles, verifies and extracts in every format
# under LANG=C (with a UTF-8 file name added, as Moodle 4.1 ships one), and
# `bundle create --git` gives the very bytes of bundling the exported tree
# (admin/settings/ beside admin/settings.php and many more such names).
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-moodle.sh"
command -v jq >/dev/null 2>&1 || skip_all "jq not installed"
moodle_repo_init
moodle_has_ref v4.5.0 || skip_all "the Moodle repository has no v4.5.0"
cd "$TMP" || exit 1
export LANG=C LC_ALL=C

mkdir -p ov/lib/tests/fixtures
printf 'version: 0.0\nos: linux\nfiles:\n  - source: /\n    destination: /srv/moodle\n' >ov/appspec.yml
printf 'smile\n' >"ov/lib/tests/fixtures/$(printf '\360\237\230\200').txt"

run mdeploy bundle create --git "$MOODLE_GIT" --rev v4.5.0 --overlay ov --time 1764000000 git.tar.zst
is "$rc" 0 "bundle create --git of the real 4.5 tree"
[ "$rc" = 0 ] || diag "$err"
zstd -dc git.tar.zst | tar -xOf - .mdeploy/manifest.json | jq .source >source.json
moodle_export v4.5.0 tree
cp -a ov/. tree/
run mdeploy bundle create --time 1764000000 --source-json source.json tree dir.tar.zst
is "$rc" 0 "bundle create of the exported tree"
cmp -s git.tar.zst dir.tar.zst
ok $? "--git and the exported tree's bundle are byte-identical"
zstd -dc dir.tar.zst | tar -tf - >dir.list
ok "$(grep -qx 'admin/settings/' dir.list && grep -qx 'admin/settings.php' dir.list; echo $?)" \
	"the tree has admin/settings/ and admin/settings.php"

for fmt in tar.zst tgz tar zip; do
	run mdeploy bundle create --time 1764000000 tree "b.$fmt"
	is "$rc" 0 "$fmt: bundle create"
	[ "$rc" = 0 ] || diag "$err"
	run mdeploy bundle verify "b.$fmt"
	is "$rc" 0 "$fmt: verify"
	[ "$rc" = 0 ] || diag "$err"
done
for fmt in tar.zst zip; do
	run mdeploy bundle extract "b.$fmt" "x-$fmt"
	is "$rc" 0 "$fmt: extract"
	run diff -r --no-dereference -x .mdeploy tree "x-$fmt"
	is "$rc" 0 "$fmt: the extracted tree is the exported one, UTF-8 name included"
	[ "$rc" = 0 ] || diag "$(printf '%s' "$out" | head -n 5)"
	rm -rf "x-$fmt"
done
done_testing
