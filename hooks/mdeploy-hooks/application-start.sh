#!/bin/sh
# application-start.sh - ApplicationStart: make PHP serve the new release.
# The `current` link already points at it; cached opcodes of the old files
# must go. MDEPLOY_PHP_RELOAD, when set, is the command to run (for example
# "systemctl reload php8.2-fpm"); else a running PHP-FPM unit is reloaded;
# else there is nothing to reset (PHP's built-in server keeps no opcache).
set -eu
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

reload=$(mdh_param MDEPLOY_PHP_RELOAD "")
if [ -n "$reload" ]; then
	mdh_log "reloading PHP: $reload"
	sh -c "$reload" || mdh_die "'$reload' failed"
	exit 0
fi
if command -v systemctl >/dev/null 2>&1; then
	for unit in $(systemctl list-units --type=service --state=running --plain --no-legend 'php*-fpm.service' 2>/dev/null |
		awk '{print $1}'); do
		mdh_log "reloading $unit (opcache reset)"
		systemctl reload "$unit" || mdh_die "cannot reload $unit"
		exit 0
	done
fi
if [ -x /etc/init.d/php-fpm ]; then
	/etc/init.d/php-fpm reload || mdh_die "cannot reload php-fpm"
	exit 0
fi
mdh_log "no PHP-FPM here: nothing to reload"
