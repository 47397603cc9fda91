#!/bin/sh
# after-install.sh - AfterInstall: render config.php, prepare the local
# cache directory, build the alternative component cache.
# See mdeploy-hooks(7) for the parameters.
set -eu
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

dbtype=$(mdh_param MOODLE_DBTYPE pgsql)
dbhost=$(mdh_require MOODLE_DBHOST)
dbname=$(mdh_require MOODLE_DBNAME)
dbuser=$(mdh_require MOODLE_DBUSER)
dbpass=$(mdh_require MOODLE_DBPASS)
dbport=$(mdh_param MOODLE_DBPORT "")
prefix=$(mdh_param MOODLE_PREFIX mdl_)
wwwroot=$(mdh_require MOODLE_WWWROOT)
dataroot=$(mdh_param MOODLE_DATAROOT "${MDEPLOY_SHARED_DIR:-/var/lib/mdeploy/shared}/moodledata")
cacheroot=$(mdh_param MOODLE_LOCALCACHE_ROOT "${MDEPLOY_ROOT:-/var/cache/mdeploy}/localcache")
deployment=${DEPLOYMENT_ID:-$(basename "$MDH_RELEASE")}
localcachedir="$cacheroot/$deployment"
sslproxy=$(mdh_param MOODLE_SSLPROXY "")
redis_host=$(mdh_param MOODLE_REDIS_HOST "")
redis_port=$(mdh_param MOODLE_REDIS_PORT 6379)
redis_prefix=$(mdh_param MOODLE_REDIS_PREFIX "${prefix}sess_")
webgroup=$(mdh_param MOODLE_WEB_GROUP "")

case $dbtype in
pgsql|mariadb|mysqli|sqlsrv|auroramysql) ;;
*) mdh_die "MOODLE_DBTYPE must be pgsql, mariadb, mysqli, auroramysql or sqlsrv" ;;
esac
case $wwwroot in
http://*|https://*) ;;
*) mdh_die "MOODLE_WWWROOT must start with http:// or https://" ;;
esac
case $redis_port in
''|*[!0-9]*) mdh_die "MOODLE_REDIS_PORT must be a number" ;;
esac

# PHP single-quoted string: escape \ and '.
q() { printf '%s' "$1" | sed -e "s/\\\\/\\\\\\\\/g" -e "s/'/\\\\'/g"; }

mkdir -p "$dataroot" "$localcachedir"
# Each release gets its own local cache; drop those of releases that are gone.
if [ -n "${MDEPLOY_ROOT:-}" ] && [ -d "$MDEPLOY_ROOT/releases" ]; then
	for d in "$cacheroot"/*; do
		[ -d "$d" ] || continue
		[ -d "$MDEPLOY_ROOT/releases/${d##*/}" ] || rm -rf "$d"
	done
fi

tmp="$MDH_CONFIG.tmp.$$"
trap 'rm -f "$tmp"' EXIT
umask 027
{
	echo "<?php  // Moodle configuration file, rendered by mdeploy-hooks/after-install.sh"
	echo "// for deployment $(q "$deployment"). Do not edit: the next deployment replaces it."
	echo "unset(\$CFG);"
	echo "global \$CFG;"
	echo "\$CFG = new stdClass();"
	echo "\$CFG->dbtype    = '$(q "$dbtype")';"
	echo "\$CFG->dblibrary = 'native';"
	echo "\$CFG->dbhost    = '$(q "$dbhost")';"
	echo "\$CFG->dbname    = '$(q "$dbname")';"
	echo "\$CFG->dbuser    = '$(q "$dbuser")';"
	echo "\$CFG->dbpass    = '$(q "$dbpass")';"
	echo "\$CFG->prefix    = '$(q "$prefix")';"
	echo "\$CFG->dboptions = array('dbpersist' => 0, 'dbport' => '$(q "$dbport")', 'dbsocket' => '');"
	echo "\$CFG->wwwroot   = '$(q "$wwwroot")';"
	echo "\$CFG->dataroot  = '$(q "$dataroot")';"
	echo "\$CFG->localcachedir = '$(q "$localcachedir")';"
	echo "\$CFG->alternative_component_cache = '$(q "$localcachedir/core_component.php")';"
	echo "\$CFG->admin     = 'admin';"
	echo "\$CFG->directorypermissions = 02770;"
	case $sslproxy in
	1|true|yes|on) echo "\$CFG->sslproxy  = true;" ;;
	esac
	if [ -n "$redis_host" ]; then
		printf '%s\n' "\$CFG->session_handler_class = '\\core\\session\\redis';"
		echo "\$CFG->session_redis_host = '$(q "$redis_host")';"
		echo "\$CFG->session_redis_port = $redis_port;"
		echo "\$CFG->session_redis_prefix = '$(q "$redis_prefix")';"
		echo "\$CFG->session_redis_acquire_lock_timeout = 120;"
		echo "\$CFG->session_redis_lock_expire = 7200;"
	fi
	echo "require_once(__DIR__ . '/lib/setup.php');"
} >"$tmp"
chmod 0640 "$tmp"
if [ -n "$webgroup" ]; then
	chgrp "$webgroup" "$tmp" || mdh_die "cannot give config.php to group $webgroup"
fi
mv -f "$tmp" "$MDH_CONFIG"
trap - EXIT
mdh_log "config.php written (mode 0640) for $dbtype database on the configured host"

if [ -z "$MDH_PHP" ]; then
	mdh_log "no PHP CLI here: alternative component cache not built"
	exit 0
fi
# Moodle 5.1 keeps lib/setup.php under public/; config.php stays at the root.
if [ "$MDH_WEB" != "$MDH_RELEASE" ] && [ ! -f "$MDH_RELEASE/lib/setup.php" ]; then
	sed -i "s|__DIR__ . '/lib/setup.php'|__DIR__ . '/public/lib/setup.php'|" "$MDH_CONFIG"
fi
if [ -f "$MDH_WEB/admin/cli/alternative_component_cache.php" ]; then
	mdh_php admin/cli/alternative_component_cache.php --rebuild >/dev/null ||
		mdh_die "admin/cli/alternative_component_cache.php --rebuild failed"
	mdh_log "alternative component cache built in the release's local cache"
fi
