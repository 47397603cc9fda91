# lib-deploy.sh - shared setup of the deployment tests. Source after lib.sh:
#   . "$top_srcdir/t/lib-deploy.sh"; deploy_test_init 31
#
# deploy_test_init SALT: skips the test without haproxy, php or curl; gives
# it a loopback address base of its own (SALT keeps tests started at the same
# time apart), free ports $lbport and $port below the ephemeral range, and an
# EXIT trap that stops its load balancers, its instances, $loop (a background
# load loop, when set) and anything else still running in $TMP.
#
# deploy_mkrel DIR TEXT [SICK]: a release whose index.php prints TEXT, whose
# ValidateService hook fetches the instance on $port, and whose health.php
# answers 503 once $TMP/sick exists when SICK is given; bundled as DIR.tar.zst.

deploy_test_init() {
	[ -x /usr/sbin/haproxy ] && command -v php >/dev/null && command -v curl >/dev/null ||
		skip_all "haproxy, php or curl missing"
	export MDEPLOY_LOCAL_ADDRESS_BASE="127.$((100 + ($$ + $1) % 150))"
	lbport=$(free_port) && port=$(free_port) || skip_all "no free port"
	[ "$lbport" != "$port" ] || port=$(free_port) || skip_all "no free port"
	export MDEPLOY_PROGRESS=0
	trap deploy_test_cleanup EXIT
}

deploy_test_cleanup() {
	[ -n "${loop:-}" ] && kill "$loop" 2>/dev/null
	for f in "$MDEPLOY_STATE_DIR"/local/lb/*/haproxy.pid; do
		[ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null
	done
	mdeploy --json fleet list 2>/dev/null | jq -r '.fleets[].name' 2>/dev/null | while read -r f; do
		mdeploy --json fleet show "$f" 2>/dev/null | jq -r '.instances[].pid' | while read -r pid; do
			[ "$pid" -gt 0 ] 2>/dev/null && kill -- "-$pid" 2>/dev/null
		done
	done
	# and anything else still running in the test's directory
	for p in /proc/[0-9]*; do
		case "$(readlink "$p/cwd" 2>/dev/null)" in "$TMP"/*) kill -9 "${p#/proc/}" 2>/dev/null ;; esac
	done
	_tap_cleanup
}

deploy_mkrel() {
	mkdir -p "$1/hooks"
	printf '<?php echo "%s\\n";\n' "$2" >"$1/index.php"
	printf '<?php if ("%s" && file_exists("%s/sick")) http_response_code(503); echo "ok";\n' \
		"${3:-}" "$TMP" >"$1/health.php"
	cat >"$1/appspec.yml" <<EOT
version: 0.0
os: linux
hooks:
  ValidateService:
    - location: hooks/validate.sh
EOT
	printf '#!/bin/sh\ncurl -sf "http://$MDEPLOY_INSTANCE_ADDR:%s/" >/dev/null\n' "$port" >"$1/hooks/validate.sh"
	chmod +x "$1/hooks/validate.sh"
	"$MDEPLOY" -q bundle create "$1" "$1.tar.zst" >/dev/null || exit 1
}

# deploy_load_start URL: wrk against URL in the background until
# deploy_load_stop, which sets $load_good, $load_bad (responses other than
# 2xx), $load_errors (connect errors and timeouts) and $load_summary. wrk
# counts every connection PHP's server closes as a read error, so failures
# are counted by status code in a Lua hook (see TESTING-NOTES.md).
deploy_load_start() {
	cat >"$TMP/count.lua" <<'LUA'
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) good = 0; bad = 0 end
function response(status, headers, body)
	if status >= 200 and status < 300 then good = good + 1 else bad = bad + 1 end
end
function done(summary, latency, requests)
	local g, b = 0, 0
	for _, t in ipairs(threads) do g = g + t:get("good"); b = b + t:get("bad") end
	io.write(string.format("RESULT %d %d %d\n", g, b, summary.errors.connect + summary.errors.timeout))
end
LUA
	wrk -t2 -c8 -d600s --timeout 5s -s "$TMP/count.lua" "$1" >"$TMP/wrk.out" 2>&1 &
	loop=$!
	sleep 1
}

deploy_load_stop() {
	[ -n "${loop:-}" ] || return 0
	kill -INT "$loop" 2>/dev/null
	wait "$loop" 2>/dev/null
	loop=
	set -- $(sed -n 's/^RESULT //p' "$TMP/wrk.out")
	load_good=${1:-0} load_bad=${2:-?} load_errors=${3:-?}
	load_summary="$load_good 2xx, $load_bad other, $load_errors connect errors or timeouts"
}
