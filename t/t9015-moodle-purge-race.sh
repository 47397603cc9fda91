#!/bin/sh
# Moodle's caches purged while the site serves, as mdeploy's releases do:
# real Moodle 4.5.0 (an installed site) deployed by mdeploy with the default
# hooks to 2 instances behind HAProxy, then wrk on the login page of both
# instances (with the load balancer's Host) while
#  - the purge of a code-only release runs again and again on one instance
#    while the site serves (gate.c: purge_caches.php --muc --lang --js
#    --filter), and
#  - the upgrade gate's window is played again and again: maintenance on,
#    Moodle's full purge (what upgrade.php does), each instance's local cache
#    settled (validate-service.sh's local-cache.php), the gate's purge
#    (--muc --theme --lang --js --filter), maintenance off.
# Every answer must be the login page (200) or, in maintenance, Moodle's
# maintenance page (503 + Retry-After): never Moodle's error page (500), and
# no 500 in the servers' logs (HAProxy's health checks included). When one
# is seen, its text and the PHP errors the servers logged are printed
# (the site runs with debug on).
#
# MDEPLOY_TEST_LIVE_PURGE overrides the code-only purge's options: "" (a full
# purge, what mdeploy ran before) or "--theme" shows Moodle's race: a request
# that began before the theme revision changed renders into the compiled
# templates Moodle deletes under it (renderer_base::get_mustache).
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-deploy.sh"
. "$top_srcdir/t/lib-moodle.sh"
moodle_test_init 87
moodle_has_ref v4.5.0 || skip_all "the Moodle repository lacks v4.5.0"
command -v wrk >/dev/null || skip_all "wrk missing"
purges=${MDEPLOY_TEST_PURGES:-12} windows=${MDEPLOY_TEST_WINDOWS:-6}
live_purge=${MDEPLOY_TEST_LIVE_PURGE---muc --lang --js --filter}

moodle_export v4.5.0 "$TMP/rel" && moodle_bundle "$TMP/rel" "$TMP/m450.tar.zst"
ok $? "a bundle of Moodle 4.5.0 with the default hooks"
ok_cmd "PostgreSQL starts on its own port" moodle_pg_start
ok_cmd "an installed Moodle 4.5.0 site in database moodle" moodle_site_restore v4.5.0 moodle "$TMP/moodledata"
# Every PHP notice and warning in the servers' logs: a 500 then says why.
moodle_debug_log moodle

cd "$TMP" || exit 1
moodle_group_prod || exit 1
run mdeploy deploy create prod m450.tar.zst
is "$rc" 0 "Moodle 4.5.0 deployed to 2 instances"
[ "$rc" = 0 ] || { diag "$(printf '%s\n' "$err" | tail -n 30)"; done_testing; exit 1; }
live=$(mdeploy --json fleet list | jq -r '.fleets[] | select(.role == "live") | .name')
roots=$(mdeploy --json fleet show "$live" | jq -r '.instances[].root')
root=$(printf '%s\n' "$roots" | head -n 1)
if [ -n "${MDEPLOY_TEST_PAUSE:-}" ]; then
	diag "paused: $TMP lb $lb roots $roots"; printf '%s\n' "$TMP" "$lb" $roots >"$MDEPLOY_TEST_PAUSE.where"
	while [ -f "$MDEPLOY_TEST_PAUSE" ]; do sleep 5; done
fi

# wrk on each instance with the load balancer's Host (no health check
# decides who answers): answers counted by status; the body of anything but
# 200 or Moodle's maintenance page (503 + Retry-After) kept.
cat >"$TMP/kinds.lua" <<'LUA'
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) ok = 0; maint = 0; other = 0 end
function response(status, headers, body)
	local ra = headers["retry-after"] or headers["Retry-After"]
	if status == 200 then ok = ok + 1 elseif status == 503 and ra then maint = maint + 1 else
		other = other + 1
		io.stderr:write(string.format("OTHER %d at %d\n", status, os.time()))
		local f = io.open(os.getenv("TMP") .. "/other-" .. os.time() .. "-" .. other .. ".html", "w")
		if f then f:write(body or ""); f:close() end
	end
end
function done(summary, latency, requests)
	local a, b, c = 0, 0, 0
	for _, t in ipairs(threads) do a = a + t:get("ok"); b = b + t:get("maint"); c = c + t:get("other") end
	io.write(string.format("KINDS %d %d %d %d\n", a, b, c, summary.errors.connect + summary.errors.timeout))
end
LUA
export TMP
addrs=$(mdeploy --json fleet show "$live" | jq -r '.instances[] | "\(.address):\(.port)"')
# load_start NAME / load_stop NAME: wrk on every instance in the background;
# the sums in $k_ok $k_maint $k_other $k_err, 500s in the servers' logs in $k_log500.
load_start() {
	for r in $roots; do : >"$r/log/server.log"; done
	rm -f "$TMP"/other-*.html
	pids=
	for a in $addrs; do
		wrk -t1 -c4 -d900s --timeout 10s -s "$TMP/kinds.lua" -H "Host: 127.0.0.1:$lbport" \
			"http://$a/login/index.php" >"$TMP/$1.$a.out" 2>&1 &
		pids="$pids $!"
	done
	sleep 2
}
load_stop() {
	sleep 2
	kill -INT $pids
	wait $pids 2>/dev/null
	k_ok=0 k_maint=0 k_other=0 k_err=0 _ls=$1
	for a in $addrs; do
		# shellcheck disable=SC2046
		set -- $(sed -n 's/^KINDS //p' "$TMP/$_ls.$a.out")
		k_ok=$((k_ok + ${1:-0})) k_maint=$((k_maint + ${2:-0})) k_other=$((k_other + ${3:-1})) k_err=$((k_err + ${4:-0}))
	done
	k_log500=$(cat $(for r in $roots; do echo "$r/log/server.log"; done) | grep -c ' \[500\]: ')
}
# why: the bodies of the odd answers and what the servers logged.
why() {
	for f in "$TMP"/other-*.html; do
		[ -f "$f" ] && diag "${f##*/}: $(sed -e 's/<[^>]*>/ /g' "$f" | tr -s ' \n' | grep -v '^ *$' |
			grep -iv 'style\|{\|}\|;$' | head -n 6)"
	done
	for r in $roots; do
		diag "$r/log/server.log:" "$(grep -e 'PHP ' -e ' \[500\]: ' -e 'exception' "$r/log/server.log" |
			sed 's/^\[[^]]*\] \[[^]]*\] //' | cut -c 1-300 | sort | uniq -c | sort -rn | head -n 15)"
	done
}

# A code-only release's purge, while the site serves.
load_start live
t0=$(date +%s)
n=0 failed=0
while [ "$n" -lt "$purges" ]; do
	# shellcheck disable=SC2086
	(cd "$root/current" && php admin/cli/purge_caches.php $live_purge) >>"$TMP/purge.log" 2>&1 || failed=$((failed + 1))
	n=$((n + 1))
	sleep 1
done
load_stop live
diag "code-only purge (purge_caches.php $live_purge): $purges times in $(($(date +%s) - t0)) s; $k_ok login pages, $k_maint maintenance pages, $k_other other, $k_err connect errors or timeouts; $k_log500 500s logged"
is "$failed" 0 "purge_caches.php $live_purge succeeded $purges times"
ok "$([ "$k_ok" -gt 50 ]; echo $?)" "the instances answered all along ($k_ok login pages)"
is "$k_other $k_err $k_maint $k_log500" "0 0 0 0" \
	"while a code-only release's purge ran, every answer was the login page (no 500, none logged)"
[ "$k_other$k_log500" = 00 ] || why

# The upgrade gate's window.
load_start gate
t0=$(date +%s)
n=0 failed=0
while [ "$n" -lt "$windows" ]; do
	(
		set -e
		cd "$root/current"
		php admin/cli/maintenance.php --enable >/dev/null
		php admin/cli/purge_caches.php
		for r in $roots; do php mdeploy-hooks/local-cache.php "$r/current/config.php"; done
		php admin/cli/purge_caches.php --muc --theme --lang --js --filter
		php admin/cli/maintenance.php --disable >/dev/null
	) >>"$TMP/gate.log" 2>&1 || failed=$((failed + 1))
	n=$((n + 1))
	sleep 2
done
load_stop gate
diag "upgrade window: $windows times in $(($(date +%s) - t0)) s; $k_ok login pages, $k_maint maintenance pages, $k_other other, $k_err connect errors or timeouts; $k_log500 500s logged"
is "$failed" 0 "the window's commands succeeded $windows times"
ok "$([ "$k_maint" -gt 0 ] && [ "$k_ok" -gt 50 ]; echo $?)" "login and maintenance pages answered ($k_ok, $k_maint)"
is "$k_other $k_err $k_log500" "0 0 0" \
	"around the upgrade gate's purges, every answer was the login page or the maintenance page (no 500, none logged)"
[ "$k_other$k_log500" = 00 ] || why
grep -q '^purged ' "$TMP/gate.log"
ok $? "local-cache.php settled a local cache Moodle's full purge had made stale"
done_testing
