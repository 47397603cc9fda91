#!/bin/sh
# mdeploy build never reads outside the source tree through a symbolic
# link: a link (or base-directory) resolving outside is refused, naming
# it; links inside are followed; with enable-symlinks: yes links are
# stored as links, never followed.
. "${top_srcdir:-.}/t/lib.sh"

cd "$TMP" || exit 1
echo 'host-secret-Kp4' >host-file
mkdir -p outside-dir src/lib
echo 'outside' >outside-dir/x.php
printf 'version: 0.0\nos: linux\n' >src/appspec.yml
echo '<?php // a' >src/lib/a.php
ln -s lib/a.php src/alias.php
ln -s "$TMP/host-file" src/lib.php
spec() {
	cat >src/buildspec.yml <<YAML
version: 0.2
phases:
  build:
    commands:
      - "true"
artifacts:
  files: ['**/*']
  name: app
$1
YAML
}
entries() { zstd -dc "$1" | tar -tvf - 2>/dev/null; }

spec ""
run mdeploy build --src src -o out
is "$rc" 1 "a link leaving the tree: build fails"
like "$err" "symbolic link 'lib.php' leaves the source tree" "the error names the link"
like "$err" "$TMP/host-file" "and where it resolves"
ok_cmd "no bundle written" test ! -e out/app.tar.zst

rm src/lib.php
run mdeploy build --src src -o out
is "$rc" 0 "links inside the tree: build succeeds"
e=$(entries out/app.tar.zst)
like "$e" "alias.php" "the link inside the tree is in the bundle"
unlike "$(echo "$e" | grep alias.php)" "->" "as the file it names (enable-symlinks: no)"

spec "  enable-symlinks: yes"
run mdeploy build --src src -o out2
is "$rc" 0 "enable-symlinks: yes: build succeeds"
like "$(entries out2/app.tar.zst | grep alias.php)" "alias.php -> lib/a.php" "a link is stored as a link"
ln -s "$TMP/host-file" src/lib.php
run mdeploy build --src src -o out2b
is "$rc" 1 "enable-symlinks: yes, a link leaving the tree: build fails"
like "$err" "'lib.php': symlink to an absolute path" "the error names the link"
ok_cmd "no bundle written" test ! -e out2b/app.tar.zst

rm src/lib.php
ln -s "$TMP/outside-dir" src/dist
spec "  base-directory: dist"
run mdeploy build --src src -o out3
is "$rc" 1 "base-directory through a link leaving the tree: build fails"
like "$err" "base-directory 'dist' leaves the source tree" "the error names base-directory"
ok_cmd "no bundle written" test ! -e out3/app.tar.zst

# A link leaving the tree in a secondary artifact: the whole build fails,
# and the primary bundle made before it is neither left in the output
# directory nor put in the artifact store (it was, as app@1).
rm src/dist
mkdir -p src/extra
ln -s "$TMP/host-file" src/extra/x.php
cat >src/buildspec.yml <<YAML
version: 0.2
phases:
  build:
    commands:
      - "true"
artifacts:
  files: [appspec.yml, lib/a.php]
  name: app
  secondary-artifacts:
    two:
      files: ['extra/*']
      name: two
YAML
run mdeploy build --src src -o out4 --store app
is "$rc" 1 "a link leaving the tree in a secondary artifact: build fails"
like "$err" "symbolic link 'extra/x.php' leaves the source tree" "the error names the link"
ok_cmd "no primary bundle left in the output directory" test ! -e out4/app.tar.zst
ok_cmd "nor the secondary" test ! -e out4/two.tar.zst
run mdeploy artifacts list
is "$out" "" "nothing put in the artifact store"
rm src/extra/x.php
echo '<?php // x' >src/extra/x.php
run mdeploy build --src src -o out4 --store app
is "$rc" 0 "without the link: build succeeds"
[ "$rc" = 0 ] || diag "$err"
ok_cmd "both bundles written" test -s out4/app.tar.zst -a -s out4/two.tar.zst
like "$(mdeploy artifacts list)" "app@1" "the primary bundle stored"

done_testing
