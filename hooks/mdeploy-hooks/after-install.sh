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
wwwroot=$(mdh_wwwroot)
dataroot=$(mdh_param MOODLE_DATAROOT "${MDEPLOY_SHARED_DIR:-/var/lib/mdeploy/shared}/moodledata")
cacheroot=$(mdh_param MOODLE_LOCALCACHE_ROOT "${MDEPLOY_ROOT:-/var/cache/mdeploy}/localcache")
deployment=${DEPLOYMENT_ID:-$(basename "$MDH_RELEASE")}
localcachedir="$cacheroot/$deployment"
sslproxy=$(mdh_param MOODLE_SSLPROXY auto)
reverseproxy=$(mdh_param MOODLE_REVERSEPROXY auto)
redis_host=$(mdh_param MOODLE_REDIS_HOST "")
redis_port=$(mdh_param MOODLE_REDIS_PORT 6379)
redis_prefix=$(mdh_param MOODLE_REDIS_PREFIX "${prefix}sess_")
redis_pass=$(mdh_param MOODLE_REDIS_PASSWORD "")
redis_tls=$(mdh_param MOODLE_REDIS_TLS false)
redis_muc=$(mdh_param MOODLE_REDIS_MUC auto)
case $redis_prefix in
*sess_) muc_default=${redis_prefix%sess_}muc_ ;;
*) muc_default=${redis_prefix}muc_ ;;
esac
muc_prefix=$(mdh_param MOODLE_REDIS_MUC_PREFIX "$muc_default")
webgroup=$(mdh_param MOODLE_WEB_GROUP "")

case $dbtype in
pgsql|mariadb|mysqli|sqlsrv|auroramysql) ;;
*) mdh_die "MOODLE_DBTYPE must be pgsql, mariadb, mysqli, auroramysql or sqlsrv" ;;
esac
# Behind the load balancer (see mdeploy-hooks(7) and Moodle's lib/setuplib.php):
# sslproxy when TLS ends there (an https wwwroot, instances on plain HTTP);
# reverseproxy when users reach another port than the instance serves on,
# else Moodle answers every request with a redirect to wwwroot. Not when
# the ports agree: Moodle then refuses the request ("reverseproxyabused").
case $sslproxy in
auto) case $wwwroot in https://*) sslproxy=true ;; *) sslproxy=false ;; esac ;;
1|true|yes|on) sslproxy=true ;;
0|false|no|off|'') sslproxy=false ;;
*) mdh_die "MOODLE_SSLPROXY must be auto, true or false" ;;
esac
case $sslproxy:$wwwroot in
true:http://*) mdh_die "MOODLE_SSLPROXY is true but MOODLE_WWWROOT is not https://: Moodle refuses that" ;;
esac
wwwport=$(mdh_url_port "$wwwroot")
case $reverseproxy in
auto)
	reverseproxy=false
	if [ -n "$wwwport" ] && [ -n "${MDEPLOY_HTTP_PORT:-}" ] && [ "$wwwport" != "$MDEPLOY_HTTP_PORT" ]; then
		reverseproxy=true
	fi ;;
1|true|yes|on) reverseproxy=true ;;
0|false|no|off|'') reverseproxy=false ;;
*) mdh_die "MOODLE_REVERSEPROXY must be auto, true or false" ;;
esac
case $redis_port in
''|*[!0-9]*) mdh_die "MOODLE_REDIS_PORT must be a number" ;;
esac
case $redis_tls in
1|true|yes|on) redis_tls=true ;;
0|false|no|off|'') redis_tls=false ;;
*) mdh_die "MOODLE_REDIS_TLS must be true or false" ;;
esac
case $redis_muc in
auto) if [ -n "$redis_host" ]; then redis_muc=true; else redis_muc=false; fi ;;
1|true|yes|on) redis_muc=true ;;
0|false|no|off|'') redis_muc=false ;;
*) mdh_die "MOODLE_REDIS_MUC must be auto, true or false" ;;
esac
[ "$redis_muc" = false ] || [ -n "$redis_host" ] || mdh_die "MOODLE_REDIS_MUC is true but MOODLE_REDIS_HOST is not set"
# The application cache's store code, beside this script (in the release).
mucphp="$(cd "$(dirname "$0")" && pwd)/muc-redis.php"
[ "$redis_muc" = false ] || [ -f "$mucphp" ] || mdh_die "$mucphp is missing (the application cache in Redis needs it)"

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
	[ "$sslproxy" = true ] && echo "\$CFG->sslproxy  = true;"
	[ "$reverseproxy" = true ] && echo "\$CFG->reverseproxy = true;"
	if [ -n "$redis_host" ]; then
		printf '%s\n' "\$CFG->session_handler_class = '\\core\\session\\redis';"
		echo "\$CFG->session_redis_host = '$(q "$redis_host")';"
		echo "\$CFG->session_redis_port = $redis_port;"
		echo "\$CFG->session_redis_prefix = '$(q "$redis_prefix")';"
		[ -n "$redis_pass" ] && echo "\$CFG->session_redis_auth = '$(q "$redis_pass")';"
		echo "\$CFG->session_redis_acquire_lock_timeout = 120;"
		echo "\$CFG->session_redis_lock_expire = 7200;"
		[ "$redis_tls" = true ] && echo "\$CFG->session_redis_encrypt = array('verify_peer' => true, 'verify_peer_name' => true);"
	fi
	if [ "$redis_muc" = true ]; then
		# The application cache (MUC) in Redis: the store is declared here and
		# added by muc-redis.php when Moodle reads MUC's configuration, so the
		# password stays in this file, never in dataroot/muc/config.php.
		echo "\$CFG->mdeploy_muc_redis = array("
		echo "    'server' => '$(q "$redis_host"):$redis_port',"
		echo "    'prefix' => '$(q "$muc_prefix")',"
		echo "    'password' => '$(q "$redis_pass")',"
		echo "    'encryption' => $redis_tls,"
		echo ");"
		echo "\$CFG->alternative_cache_factory_class = 'mdeploy_muc_factory';"
		echo "spl_autoload_register(function (\$class) {"
		echo "    if (strpos(\$class, 'mdeploy_muc_') === 0) {"
		echo "        require_once('$(q "$mucphp")');"
		echo "    }"
		echo "});"
	fi
	echo "require_once(__DIR__ . '/lib/setup.php');"
} >"$tmp"
chmod 0640 "$tmp"
if [ -n "$webgroup" ]; then
	chgrp "$webgroup" "$tmp" || mdh_die "cannot give config.php to group $webgroup"
fi
mv -f "$tmp" "$MDH_CONFIG"
trap - EXIT
mdh_log "config.php written (mode 0640) for $dbtype database on the configured host, wwwroot $wwwroot (sslproxy $sslproxy, reverseproxy $reverseproxy, application cache in Redis: $redis_muc)"

if [ -z "$MDH_PHP" ]; then
	mdh_log "no PHP CLI here: alternative component cache not built"
	exit 0
fi
# Moodle 5.1 keeps lib/setup.php under public/; config.php stays at the root.
if [ "$MDH_WEB" != "$MDH_RELEASE" ] && [ ! -f "$MDH_RELEASE/lib/setup.php" ]; then
	sed -i "s|__DIR__ . '/lib/setup.php'|__DIR__ . '/public/lib/setup.php'|" "$MDH_CONFIG"
fi
if [ -f "$(mdh_script admin/cli/alternative_component_cache.php)" ]; then
	mdh_php admin/cli/alternative_component_cache.php --rebuild >/dev/null ||
		mdh_die "admin/cli/alternative_component_cache.php --rebuild failed"
	mdh_log "alternative component cache built in the release's local cache"
fi
