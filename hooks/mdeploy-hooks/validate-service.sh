#!/bin/sh
# validate-service.sh - ValidateService: the login page answers HTTP 200,
# and admin/cli/checks.php reports nothing critical when PHP CLI is here.
#
# URL: MDEPLOY_VALIDATE_URL, else http://MDEPLOY_INSTANCE_ADDR[:MDEPLOY_HTTP_PORT]
# + /login/index.php, sent with the Host of MOODLE_WWWROOT so the instance is
# asked directly, not through the load balancer.
set -eu
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

wwwroot=$(mdh_param MOODLE_WWWROOT "")
url=$(mdh_param MDEPLOY_VALIDATE_URL "")
tries=$(mdh_param MDEPLOY_VALIDATE_TRIES 30)
host=
if [ -z "$url" ]; then
	addr=${MDEPLOY_INSTANCE_ADDR:-127.0.0.1}
	port=$(mdh_param MDEPLOY_HTTP_PORT "")
	url="http://$addr${port:+:$port}/login/index.php"
	if [ -n "$wwwroot" ]; then
		host=${wwwroot#*://}
		host=${host%%/*}
	fi
fi

status=000
i=0
while [ "$i" -lt "$tries" ]; do
	if [ -n "$host" ]; then
		status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H "Host: $host" "$url" || true)
	else
		status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$url" || true)
	fi
	[ "$status" = 200 ] && break
	i=$((i + 1))
	sleep 1
done
[ "$status" = 200 ] || mdh_die "$url answered HTTP $status, not 200, after $tries tries"
mdh_log "$url answered HTTP 200"

if [ -n "$MDH_PHP" ] && [ -f "$MDH_WEB/admin/cli/checks.php" ]; then
	# Nagios-style: 0 ok, 1 warning, 2 critical or error.
	set +e
	out=$(mdh_php admin/cli/checks.php 2>&1)
	rc=$?
	set -e
	printf '%s\n' "$out"
	[ "$rc" -lt 2 ] || mdh_die "admin/cli/checks.php reports a critical problem (exit $rc)"
	mdh_log "admin/cli/checks.php: no critical problem"
fi
