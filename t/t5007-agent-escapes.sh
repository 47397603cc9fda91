#!/bin/sh
# mdeploy agent install stays inside what it deploys: files[].source may
# not leave the revision, permissions touch only what the deployment
# installed, and a hook script reached through a symbolic link leaving the
# revision is refused.
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/fixtures/agent-rev.sh"

echo 'host secret' >"$TMP/secret"
mkdir -p "$TMP/hostdir"
echo 'host file' >"$TMP/hostdir/file"

# files[].source with '..'
mkrev a
cat >>"$TMP/a/appspec.yml" <<YML
files:
  - source: ../../../secret
    destination: $TMP/dest-a
YML
run mdeploy agent install --root "$TMP/root" --deployment-id d-a "$TMP/a"
is "$rc" 1 "source with '..': install fails"
like "$err" "files[0]: source '../../../secret' leaves the revision" "the error names the source"
ok_cmd "nothing copied" test ! -e "$TMP/dest-a/secret"

# files[].source through a symlinked directory
mkrev b
ln -s "$TMP/hostdir" "$TMP/b/linkdir"
cat >>"$TMP/b/appspec.yml" <<YML
files:
  - source: linkdir/file
    destination: $TMP/dest-b
YML
run mdeploy agent install --root "$TMP/root-b" --deployment-id d-b "$TMP/b"
is "$rc" 1 "source through a symlink leaving the revision: install fails"
like "$err" "files[0]: source 'linkdir/file' leaves the revision through a symbolic link" "the error names the source"
ok_cmd "nothing copied" test ! -e "$TMP/dest-b/file"

# permissions on a host file the deployment did not install
echo canary >"$TMP/canary"
chmod 644 "$TMP/canary"
mkrev c
cat >>"$TMP/c/appspec.yml" <<YML
permissions:
  - object: $TMP/canary
    mode: 777
YML
run mdeploy agent install --root "$TMP/root-c" --deployment-id d-c "$TMP/c"
is "$rc" 1 "permissions on a file not installed: install fails"
like "$err" "permissions[0]: object '$TMP/canary' was not installed by this deployment" "the error names the object"
is "$(stat -c %a "$TMP/canary")" 644 "the canary's mode is untouched"

# permissions on a directory: only what the deployment put there
mkdir -p "$TMP/www"
echo host >"$TMP/www/host.txt"
chmod 644 "$TMP/www/host.txt"
chmod 755 "$TMP/www"
mkrev d
mkdir -p "$TMP/d/web"
echo ours >"$TMP/d/web/ours.txt"
cat >>"$TMP/d/appspec.yml" <<YML
file_exists_behavior: OVERWRITE
files:
  - source: web
    destination: $TMP/www
  - source: web
    destination: $TMP/made/by/us
permissions:
  - object: $TMP/www
    mode: 600
    type: [file]
  - object: $TMP/www
    mode: 700
    type: [directory]
  - object: $TMP/made
    mode: 711
    type: [directory]
YML
run mdeploy agent install --root "$TMP/root-d" --deployment-id d-d "$TMP/d"
is "$rc" 0 "permissions on a directory holding host files: install succeeds"
[ "$rc" = 0 ] || diag "$err"
is "$(stat -c %a "$TMP/www/ours.txt")" 600 "the installed file gets the mode"
is "$(stat -c %a "$TMP/www/host.txt")" 644 "the host file beside it is untouched"
is "$(stat -c %a "$TMP/www")" 755 "the directory that existed before is untouched"
is "$(stat -c %a "$TMP/made")" 711 "a directory the deployment created gets the mode"
is "$(stat -c %a "$TMP/made/by")" 711 "and those under it"

# a hook script through a symlink leaving the revision
cat >"$TMP/evil.sh" <<EOF
#!/bin/sh
touch "$TMP/evil-ran"
EOF
chmod +x "$TMP/evil.sh"
mkrev e
rm "$TMP/e/scripts/hook.sh"
ln -s "$TMP/evil.sh" "$TMP/e/scripts/hook.sh"
run mdeploy agent install --root "$TMP/root-e" --deployment-id d-e "$TMP/e"
is "$rc" 1 "hook script through a symlink leaving the revision: install fails"
like "$err" "script 'scripts/hook.sh' is reached through a symbolic link leaving the revision (resolves to '$TMP/evil.sh')" \
	"the error names the script and its target"
ok_cmd "the host program did not run" test ! -e "$TMP/evil-ran"
done_testing
