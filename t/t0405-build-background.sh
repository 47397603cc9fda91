#!/bin/sh
# What a build command leaves running in the background (with the build's
# environment, secrets included) ends with the build; it still lives from
# one command to the next, as in CodeBuild.
. "${top_srcdir:-.}/t/lib.sh"

cd "$TMP" || exit 1
mkdir src
printf 'version: 0.0\nos: linux\n' >src/appspec.yml
cat >src/buildspec.yml <<YAML
version: 0.2
phases:
  build:
    commands:
      - sleep 97 & echo \$! >$TMP/bgpid
      - kill -0 \$(cat $TMP/bgpid)
artifacts:
  files: [appspec.yml]
YAML
run mdeploy build --src src -o out
is "$rc" 0 "build succeeds (the background process lived into the next command)"
[ "$rc" = 0 ] || diag "$err"
pid=$(cat bgpid 2>/dev/null)
ok_cmd "the background process was started" test -n "$pid"
# A killed process may take a moment to die on a loaded machine, and stay a
# zombie until PID 1 reaps it (that is not running): polled, up to 60 s,
# which the 97 s sleep outlives if the build did not end it.
gone() { ! kill -0 "$pid" 2>/dev/null || grep -q "^State:.*Z" "/proc/$pid/status" 2>/dev/null; }
alive=no
if [ -n "$pid" ] && ! wait_until gone; then alive=yes; kill "$pid" 2>/dev/null; fi
is "$alive" no "the background process ended with the build"
done_testing
