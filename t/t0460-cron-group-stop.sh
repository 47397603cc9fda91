#!/bin/sh
# `mdeploy group stop` ends the group's cron runner (`mdeploy cron run
# --every`): the runner sees the stopped mark and ends (exit 0, saying
# why), and group stop returns only once it has: a cron.php run in
# progress finishes first, no run starts after. While the group is stopped
# cron is refused, naming the group; after `group start` it runs again.
# (Before the fix the runner went on forever, failing every run.)
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-deploy.sh"
deploy_test_init 460

cd "$TMP" || exit 1
cat >mdeploy.yml <<EOF
application:
  name: cs
groups:
  - name: prod
    fleet: { size: 2, min: 1, max: 4, port: $port }
    load_balancer: { listen: '127.0.0.1:$lbport', slots: 12 }
    health_check: { interval: 100ms, healthy_threshold: 1, unhealthy_threshold: 1 }
    alarms: { window: 100ms }
    drain_timeout: 1s
EOF
export CRON_LOG="$TMP/cron.log"
: >"$CRON_LOG"
# A release whose cron.php writes "start" and "end" lines; it takes 2 s
# while $TMP/slow exists.
mkdir -p A/admin/cli
cat >A/admin/cli/cron.php <<EOF
<?php
file_put_contents(getenv('CRON_LOG'), "start\n", FILE_APPEND);
if (file_exists('$TMP/slow')) sleep(2);
file_put_contents(getenv('CRON_LOG'), "end\n", FILE_APPEND);
echo "Cron run completed correctly\n";
EOF
deploy_mkrel A "release A"
runs() { grep -c "^$1\$" "$CRON_LOG"; }
# alive PID: running (a process that ended but was not waited for is a zombie).
alive() { _st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1); [ -n "$_st" ] && [ "$_st" != Z ]; }

plan 16

run mdeploy deploy create prod A.tar.zst
is "$rc" 0 "A deployed"
[ "$rc" = 0 ] || diag "$err"

# A runner between two runs when the group stops.
"$MDEPLOY" cron run --every 0.5 prod >"$TMP/runner.out" 2>"$TMP/runner.err" &
runner=$!
wait_until '[ "$(runs end)" -ge 2 ]'
ok $? "the runner runs cron every 0.5 s"
run mdeploy group stop prod
is "$rc" 0 "group stop"
[ "$rc" = 0 ] || diag "$err"
ok "$(! alive "$runner"; echo $?)" "the cron runner has ended when group stop returns"
alive "$runner" && kill "$runner"
wait "$runner"
is "$?" 0 "the runner exits 0: it ended because its group was stopped"
like "$(cat "$TMP/runner.err")" "group prod was stopped: the cron runner ends" "and says why"
is "$(runs start)" "$(runs end)" "no cron.php run was cut short"

run mdeploy cron run prod
is "$rc" 1 "cron on a stopped group: refused"
like "$err" "group prod is stopped" "naming the group"
run mdeploy cron run --every 0.5 --count 2 prod
is "$rc" 1 "a new runner on a stopped group: refused"

run mdeploy group start prod
is "$rc" 0 "group start"
[ "$rc" = 0 ] || diag "$err"

# A runner in the middle of a run when the group stops: the run finishes,
# then the runner ends, then the group stops.
: >"$TMP/slow"
: >"$CRON_LOG"
"$MDEPLOY" cron run --every 0.5 prod >"$TMP/runner.out" 2>"$TMP/runner.err" &
runner=$!
wait_until '[ "$(runs start)" -ge 1 ]'
ok $? "a slow cron.php run started"
run mdeploy group stop prod
is "$rc" 0 "group stop during a cron run"
[ "$rc" = 0 ] || diag "$err"
is "$(runs end)" "$(runs start)" "the run in progress finished before group stop returned"
ok "$(! alive "$runner"; echo $?)" "and the runner had ended"
alive "$runner" && kill "$runner"
wait "$runner"
is "$?" 0 "runner exit 0"
