#!/bin/sh
# validate-service.sh - ValidateService: the login page answers HTTP 200,
# and admin/cli/checks.php reports nothing critical when PHP CLI is here.
# In maintenance mode (climaintenance.html in the dataroot: mdeploy's
# upgrade gate validates green before maintenance goes off) Moodle answers
# every page with 503 and Retry-After: that answer is the one expected then.
#
# URL: MDEPLOY_VALIDATE_URL, else the instance itself, at MDEPLOY_INSTANCE_ADDR
# and MDEPLOY_HTTP_PORT (both given by the orchestrator; no default), plus
# wwwroot's path and /login/index.php, sent with the Host of MOODLE_WWWROOT
# (else of MDEPLOY_LB_URL) so the instance answers as it does behind the load
# balancer instead of redirecting to wwwroot.
#
# First, with PHP CLI here, the instance's local cache is settled
# (local-cache.php): Moodle empties it after a full purge (the upgrade's)
# on the instance's next request, which must not happen under load.
set -eu
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

url=$(mdh_param MDEPLOY_VALIDATE_URL "")
tries=$(mdh_param MDEPLOY_VALIDATE_TRIES 30)
host=
if [ -z "$url" ]; then
	addr=${MDEPLOY_INSTANCE_ADDR:-}
	port=$(mdh_param MDEPLOY_HTTP_PORT "")
	if [ -z "$addr" ] || [ -z "$port" ]; then
		mdh_die "MDEPLOY_INSTANCE_ADDR and MDEPLOY_HTTP_PORT are not both set (mdeploy deploy gives them; by hand, pass them or MDEPLOY_VALIDATE_URL)"
	fi
	wwwroot=$(mdh_wwwroot)
	host=$(mdh_url_hostport "$wwwroot")
	case $addr in *:*) addr="[$addr]" ;; esac
	url="http://$addr:$port$(mdh_url_path "$wwwroot")/login/index.php"
fi

if [ -n "$MDH_PHP" ] && [ -f "$MDH_CONFIG" ] && [ -f "$MDH_WEB/lib/setuplib.php" ]; then
	lc=$("$MDH_PHP" "$(dirname "$0")/local-cache.php" "$MDH_CONFIG" 2>&1) ||
		mdh_die "cannot settle the local cache directory: $(printf '%s' "$lc" | tail -n 3)"
	mdh_log "local cache settled before serving: $lc"
fi

dataroot=$(mdh_param MOODLE_DATAROOT "${MDEPLOY_SHARED_DIR:-/var/lib/mdeploy/shared}/moodledata")
want=200
what=
if [ -f "$dataroot/climaintenance.html" ]; then
	want=503
	what=" with Retry-After (Moodle's maintenance page: maintenance mode is on)"
fi
hdr=$(mktemp)
trap 'rm -f "$hdr"' EXIT
status=000
i=0
while [ "$i" -lt "$tries" ]; do
	if [ -n "$host" ]; then
		res=$(curl -s -o /dev/null -D "$hdr" -w '%{http_code} %{redirect_url}' --max-time 10 -H "Host: $host" "$url" || true)
	else
		res=$(curl -s -o /dev/null -D "$hdr" -w '%{http_code} %{redirect_url}' --max-time 10 "$url" || true)
	fi
	status=${res%% *}
	if [ "$status" = "$want" ]; then
		[ "$want" = 200 ] && break
		grep -qi '^retry-after:' "$hdr" && break
		status="$status without Retry-After"
	fi
	i=$((i + 1))
	sleep 1
done
case $status in
"$want") ;;
30[0-9]) mdh_die "$url${host:+ (Host: $host)} answered HTTP $status, a redirect to '${res#* }', not $want$what, after $tries tries: is MOODLE_WWWROOT the URL this instance is reached by?" ;;
*) mdh_die "$url${host:+ (Host: $host)} answered HTTP $status, not $want$what, after $tries tries" ;;
esac
mdh_log "$url answered HTTP $want$what"

if [ -n "$MDH_PHP" ] && [ -f "$(mdh_script admin/cli/checks.php)" ]; then
	# Nagios-style: 0 ok, 1 warning, 2 critical or error.
	set +e
	out=$(mdh_php admin/cli/checks.php 2>&1)
	rc=$?
	set -e
	printf '%s\n' "$out"
	[ "$rc" -lt 2 ] || mdh_die "admin/cli/checks.php reports a critical problem (exit $rc)"
	mdh_log "admin/cli/checks.php: no critical problem"
fi
