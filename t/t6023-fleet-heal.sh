#!/bin/sh
# Fleets heal like Auto Scaling groups (issue 12 item 5), under load through
# the group's HAProxy: a killed instance is replaced by `fleet heal`, by
# `fleet scale` before it scales, and by `deploy status`; the replacement
# boots with the live release and joins at the fleet's weight after real
# health checks; scale-in removes the dead instance first, then the newest;
# no request fails throughout.
. "${top_srcdir:-.}/t/lib.sh"

. "$top_srcdir/t/lib-deploy.sh"
command -v wrk >/dev/null || skip_all "wrk missing"
deploy_test_init 79

cd "$TMP" || exit 1
cat >mdeploy.yml <<EOF
application:
  name: hl
groups:
  - name: prod
    fleet: { size: 4, min: 1, max: 6, port: $port }
    load_balancer: { listen: '127.0.0.1:$lbport', slots: 16 }
    health_check: { path: /health.php, interval: 200ms, timeout: 1s, healthy_threshold: 2, unhealthy_threshold: 2 }
    deployment_config: HalfAtATime
    drain_timeout: 1s
EOF
deploy_mkrel A "release A"
live() { mdeploy --json fleet list 2>/dev/null | jq -r '.fleets[] | select(.role == "live") | .name'; }
# (fleet show heals first: call it only while every instance lives, or to see the result)
ids() { "$MDEPLOY" --json fleet show "$1" 2>/dev/null | jq -r '.instances[].id'; }
kill_instance() { # FLEET ID: kill -9 its whole process group, as a crash would
	pid=$(mdeploy --json fleet show "$1" | jq -r --arg i "$2" '.instances[] | select(.id == $i) | .pid')
	kill -KILL "-$pid"
}
up_targets() { mdeploy --json lb show hl-prod | jq -r '[.targets[] | select((.health | startswith("UP")) and .weight > 0)] | length'; }
down_seen() { # ID: wait until the load balancer has taken it out
	i=0
	while [ $i -lt 100 ]; do
		mdeploy --json lb show hl-prod | jq -e --arg i "$1" '.targets[] | select(.instance == $i) | .health | startswith("DOWN")' \
			>/dev/null && return 0
		sleep 0.1; i=$((i + 1))
	done
	return 1
}

run mdeploy deploy create prod A.tar.zst
is "$rc" 0 "A deployed on 4 instances"
fleet=$(live)
deploy_load_start "http://127.0.0.1:$lbport/"

victim=$(ids "$fleet" | sed -n 2p)
kill_instance "$fleet" "$victim"
down_seen "$victim"
ok $? "the load balancer takes the killed instance $victim out"
run mdeploy --json fleet heal
is "$rc" 0 "fleet heal"
[ "$rc" = 0 ] || diag "$err"
is "$(printf '%s' "$out" | jq .replaced)" 1 "replaced 1 instance"
like "$err" "replacing instance $victim" "naming it"
is "$(ids "$fleet" | grep -c "^$victim\$")" 0 "the dead instance is gone"
is "$(mdeploy --json fleet show "$fleet" | jq '[.instances[] | select(.state == "running")] | length')" 4 "4 instances run"
is "$(up_targets)" 4 "4 targets UP and weighted at the load balancer"
new=$(ids "$fleet" | tail -n 1)
is "$(curl -s -m 5 "http://$(mdeploy --json fleet show "$fleet" | jq -r --arg i "$new" '.instances[] | select(.id == $i) | .address'):$port/")" \
	"release A" "the replacement serves the live release"
run mdeploy --json fleet heal "$fleet"
is "$(printf '%s' "$out" | jq .replaced)" 0 "healing a healthy fleet replaces nothing"

# fleet scale up with a dead instance: healed first, then scaled.
victim=$(ids "$fleet" | sed -n 1p)
kill_instance "$fleet" "$victim"
down_seen "$victim"
run mdeploy fleet scale "$fleet" 5
is "$rc" 0 "fleet scale 5 with a dead instance succeeds"
[ "$rc" = 0 ] || diag "$err"
is "$(ids "$fleet" | grep -c "^$victim\$")" 0 "the dead instance was replaced"
is "$(up_targets)" 5 "5 targets UP"

# scale-in: the dead one goes first, then the newest; healthy old ones stay.
victim=$(ids "$fleet" | sed -n 2p)
oldest=$(ids "$fleet" | sed -n 1p)
newest=$(ids "$fleet" | tail -n 1)
kill_instance "$fleet" "$victim"
down_seen "$victim"
run mdeploy fleet scale "$fleet" 3
is "$rc" 0 "fleet scale 3"
[ "$rc" = 0 ] || diag "$err"
left=$(ids "$fleet" | tr '\n' ' ')
is "$(ids "$fleet" | wc -l | tr -d ' ')" 3 "3 instances left: $left"
is "$(ids "$fleet" | grep -c "^$oldest\$")" 1 "the oldest healthy instance stays"
is "$(ids "$fleet" | grep -c "^$newest\$")" 0 "the newest went"
is "$(up_targets)" 3 "3 targets UP"

# deploy status heals too.
victim=$(ids "$fleet" | sed -n 1p)
kill_instance "$fleet" "$victim"
down_seen "$victim"
run mdeploy deploy status
is "$rc" 0 "deploy status"
is "$(ids "$fleet" | grep -c "^$victim\$")" 0 "deploy status replaced the dead instance"
is "$(up_targets)" 3 "3 targets UP again"

deploy_load_stop
is "$load_bad/$load_errors" "0/0" "under load: no failed request ($load_summary)"
ok "$([ "$load_good" -gt 100 ]; echo $?)" "the load ran ($load_good 2xx)"
done_testing
