#!/bin/sh
# mdeploy serve in a real browser: Debian's chromium, headless, driven by
# playwright-core (t/browser/console.cjs) against a real `mdeploy serve` and
# real pipeline runs deploying to PHP instances behind HAProxy with a canary
# shift. The page follows an execution without reload, an approval is
# clicked and the pipeline goes on, the weights change on screen during the
# canary, the rollback button works, requests without a token or without
# the CSRF token are refused. Screenshots go to t/screenshots/ in the build
# directory. Needs node, npm (the npm registry, once) and /usr/bin/chromium:
# without them the test fails, saying what is missing.
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-deploy.sh"
. "$top_srcdir/t/lib-serve.sh"
. "$top_srcdir/t/lib-pipeline.sh"
deploy_test_init 72

for tool in node npm jq; do
	command -v "$tool" >/dev/null || { echo "Bail out! $tool is missing: the browser tests need it"; exit 1; }
done
[ -x /usr/bin/chromium ] || { echo "Bail out! /usr/bin/chromium is missing (apt-get install chromium)"; exit 1; }
deps="$top_builddir/t/browser-deps"
"$top_srcdir/build-aux/browser-deps.sh" "$deps" >"$TMP/deps.log" 2>&1 ||
	{ echo "Bail out! cannot install playwright-core: $(tail -n 3 "$TMP/deps.log" | tr '\n' ' ')"; exit 1; }
shots="$top_builddir/t/screenshots"
rm -rf "$shots"
mkdir -p "$shots"
trap 'serve_stop; deploy_test_cleanup' EXIT

cd "$TMP" || exit 1
pipeline_ship_setup web '    traffic_shift: { type: canary, percent: 50, interval: 6s }
    blue_retention: 1h' || exit 1
pipeline_ship_yml '          echo "making the site: #{variables.text}"
          sleep 2
          echo "still making it"
          sleep 4' 300s

serve_start
ok $? "serve listens"
W=$(serve_token alice)
R=$(serve_token viewer --read-only)

BROWSER_DEPS=$deps BASE=$base WTOKEN=$W RTOKEN=$R MDEPLOY=$MDEPLOY LBURL="http://127.0.0.1:$lbport/" SHOTS=$shots \
	timeout 600 node "$top_srcdir/t/browser/console.cjs" >results 2>node.err
node_rc=$?
while IFS='	' read -r st name; do
	case $st in
	0|1) ok "$st" "$name" ;;
	'#') echo "# $name" ;;
	esac
done <results
is "$node_rc" 0 "the browser run exits 0"
[ "$node_rc" = 0 ] || diag "$(tail -n 20 node.err)"
n=$(ls "$shots"/*.png 2>/dev/null | wc -l)
ok "$([ "$n" -ge 8 ]; echo $?)" "screenshots saved in $shots ($n)"
done_testing
