#!/bin/sh
# upgrade.sh - the once-per-deployment Moodle upgrade (scope: once).
# Maintenance on, admin/cli/upgrade.php --non-interactive, maintenance off.
# Under mdeploy's upgrade gate maintenance is already on (the orchestrator
# turned it on through the live release): then it is left on, for the
# orchestrator to turn off once traffic has moved to the new release (old
# code must never serve the upgraded database). Nothing pending: nothing
# changes, maintenance included.
# When the upgrade fails the site is left in maintenance and this exits
# non-zero: an administrator must look before anyone uses the site.
set -eu
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

[ -n "$MDH_PHP" ] || mdh_die "the upgrade needs the PHP CLI on this instance (apt-get install -y php-cli)"
[ -f "$MDH_CONFIG" ] || mdh_die "no config.php in the release: after-install.sh must run first"

# Exit 2 means an upgrade is pending, 0 that there is none (Moodle 3.2+).
set +e
mdh_php admin/cli/upgrade.php --is-pending >/dev/null 2>&1
pending=$?
set -e
case $pending in
0) mdh_log "no upgrade pending: nothing to do"; exit 0 ;;
2) ;;
*) mdh_die "admin/cli/upgrade.php --is-pending failed (exit $pending): is the database reachable and installed?" ;;
esac

dataroot=$(mdh_param MOODLE_DATAROOT "${MDEPLOY_SHARED_DIR:-/var/lib/mdeploy/shared}/moodledata")
if [ -f "$dataroot/climaintenance.html" ]; then
	ours=
	mdh_log "upgrade pending; maintenance mode is already on (left on afterwards)"
else
	ours=1
	mdh_log "upgrade pending: enabling maintenance mode"
	mdh_php admin/cli/maintenance.php --enable || mdh_die "cannot enable maintenance mode"
fi
if ! mdh_php admin/cli/upgrade.php --non-interactive; then
	echo "$mdh_name: error: UPGRADE FAILED: the site stays in maintenance mode." >&2
	echo "$mdh_name: error: fix the cause, then run admin/cli/upgrade.php and admin/cli/maintenance.php --disable" >&2
	exit 1
fi
if [ -z "$ours" ]; then
	mdh_log "upgrade done; maintenance mode stays on for the deployment to end"
	exit 0
fi
mdh_php admin/cli/maintenance.php --disable || mdh_die "upgrade done, but maintenance mode could not be disabled"
mdh_log "upgrade done; maintenance mode disabled"
