#!/bin/sh
# install.sh - the first install of the site (scope: once), before
# upgrade.sh. Probes the database through the release's config.php:
#   a site is there:  nothing to do (a redeploy never re-installs);
#   tables but no finished install: fails, naming what to clean up;
#   empty:            installs the site with admin/cli/install_database.php
#                     (through install-database.php, which keeps the admin
#                     password off the command line), then runs
#                     admin/cli/cron.php once (checks.php is CRITICAL until
#                     cron has run).
# Under mdeploy an empty database is installed only when the deployment is
# the group's first (MDEPLOY_DEPLOYMENT_KIND=install): a group with a live
# release whose database is empty has lost it, and a new empty site is not
# the answer. The password (MOODLE_ADMINPASS) is never printed.
set -eu
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

[ -n "$MDH_PHP" ] || mdh_die "the install needs the PHP CLI on this instance (apt-get install -y php-cli)"
[ -f "$MDH_CONFIG" ] || mdh_die "no config.php in the release: after-install.sh must run first"

hooks=$(cd "$(dirname "$0")" && pwd)
kind=${MDEPLOY_DEPLOYMENT_KIND:-}

set +e
state=$("$MDH_PHP" "$hooks/db-state.php" "$MDH_CONFIG" 2>&1)
rc=$?
set -e
# Moodle's own setup fails when it cannot connect, and on tables an install
# left half made; its message says which.
[ "$rc" = 0 ] || mdh_die "Moodle cannot load a site from the database: it cannot be reached, or it holds an" \
	"install that failed part way (then drop its tables, or the database, and deploy again)." \
	"Moodle said: $(printf '%s' "$state" | grep -v '^[[:space:]]*$' | tail -n 3 | tr '\n' ' ')"
state=$(printf '%s\n' "$state" | tail -n 1)
case $state in
installed\ *)
	mdh_log "the database holds a Moodle site (version ${state#installed }): nothing to install"
	exit 0 ;;
partial\ *)
	mdh_die "the database holds ${state#partial } tables with this site's prefix but no finished install" \
		"(an install failed part way): drop those tables, or the database, and deploy again" ;;
empty) ;;
*) mdh_die "unexpected answer from db-state.php: $state" ;;
esac
case $kind in
install|'') ;;
*) mdh_die "the database is empty, but this is not the group's first deployment ($kind):" \
	"refusing to install a new site in place of the one that was there; restore the database" ;;
esac

pass=$(mdh_param MOODLE_ADMINPASS "")
[ -n "$pass" ] || mdh_die "the database is empty and MOODLE_ADMINPASS (the admin password, a secret) is not set:" \
	"cannot install the site"
script=$(mdh_script admin/cli/install_database.php)
[ -f "$script" ] || mdh_die "the release has no admin/cli/install_database.php"

mdh_log "the database is empty: installing the site"
# The password and the site's names reach the wrapper through its
# environment only (install_database.php would take them on argv).
MDH_ADMINPASS=$pass \
MDH_ADMINUSER=$(mdh_param MOODLE_ADMINUSER admin) \
MDH_ADMINEMAIL=$(mdh_param MOODLE_ADMINEMAIL "") \
MDH_FULLNAME=$(mdh_param MOODLE_FULLNAME "Moodle") \
MDH_SHORTNAME=$(mdh_param MOODLE_SHORTNAME "moodle") \
MDH_SUMMARY=$(mdh_param MOODLE_SUMMARY "") \
MDH_SUPPORTEMAIL=$(mdh_param MOODLE_SUPPORTEMAIL "") \
MDH_LANG=$(mdh_param MOODLE_LANG en) \
	"$MDH_PHP" "$hooks/install-database.php" "$script" ||
	mdh_die "INSTALL FAILED: admin/cli/install_database.php did not finish; no instance serves the site." \
		"Drop the tables it created (or the database) before deploying again"
unset pass
mdh_log "site installed"

# checks.php reports CRITICAL until cron has run once.
mdh_php admin/cli/cron.php --keep-alive=0 ||
	mdh_die "the site is installed, but its first admin/cli/cron.php run failed"
mdh_log "admin/cli/cron.php ran once"
