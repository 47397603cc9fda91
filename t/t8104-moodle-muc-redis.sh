#!/bin/sh
# Real Moodle 4.5.0 (5.1.0: t8105): the application cache (MUC) in Redis, as after-install.sh
# renders it when MOODLE_REDIS_HOST is set (mdeploy-hooks(7)): Moodle itself
# says its application caches use cachestore_redis, their keys appear in a
# real password-protected Redis under the group's MUC prefix after a page is
# served, and the Redis password is in config.php (0640) only: not in
# dataroot/muc/config.php (which Moodle writes itself, here made afresh),
# not in the hook's output. MOODLE_REDIS_MUC=false leaves MUC on files.
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-deploy.sh"
. "$top_srcdir/t/lib-moodle.sh"
tag=${MDEPLOY_TEST_MUC_TAG:-v4.5.0}
moodle_test_init 8104
moodle_has_ref "$tag" || skip_all "the Moodle repository has no tag $tag"
command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
	{ echo "Bail out! redis-server missing: apt-get install redis-server"; exit 1; }
php -r 'exit(extension_loaded("redis") ? 0 : 1);' ||
	{ echo "Bail out! PHP's redis extension missing: apt-get install php8.2-redis"; exit 1; }
plan 20

redis_pid= web_pid=
muc_cleanup() {
	[ -n "$web_pid" ] && kill -TERM -- "-$web_pid" 2>/dev/null
	[ -n "$redis_pid" ] && kill -TERM "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
	moodle_test_cleanup
}
trap muc_cleanup EXIT

# A Redis of its own, password required (in its 0600 config file, not argv).
rport=$(free_port) || exit 1
rpass="R-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
mkdir -p "$TMP/redis"
(umask 077 && printf 'port %s\nbind 127.0.0.1\ndir %s\nrequirepass %s\nsave ""\nappendonly no\n' \
	"$rport" "$TMP/redis" "$rpass" >"$TMP/redis/redis.conf")
redis-server "$TMP/redis/redis.conf" >"$TMP/redis/log" 2>&1 &
redis_pid=$!
REDISCLI_AUTH=$rpass
export REDISCLI_AUTH
rcli() { redis-cli -h 127.0.0.1 -p "$rport" "$@" 2>/dev/null; }
wait_until '[ "$(rcli PING)" = PONG ]'
ok $? "a Redis server with a password"

ok_cmd "PostgreSQL starts on its own port" moodle_pg_start
ok_cmd "an installed Moodle $tag site" moodle_site_restore "$tag" moodle "$TMP/moodledata"
rel="$TMP/rel"
moodle_export "$tag" "$rel" && cp -R "$top_srcdir/hooks/mdeploy-hooks" "$rel/" || exit 1
web="$rel"
[ -d "$rel/public" ] && web="$rel/public"     # 5.1: the web root is public/, config.php beside it
wport=$(free_port) || exit 1

# after-install.sh with the group's parameters, as the agent runs it.
after_install() {
	env MDEPLOY_RELEASE_DIR="$rel" MOODLE_DBHOST=127.0.0.1 MOODLE_DBPORT="$MOODLE_PGPORT" MOODLE_DBNAME=moodle \
		MOODLE_DBUSER=moodle MOODLE_DBPASS="$MOODLE_PGPASS" MOODLE_DATAROOT="$TMP/moodledata" \
		MOODLE_LOCALCACHE_ROOT="$TMP/localcache" MOODLE_WWWROOT="http://127.0.0.1:$wport" \
		MOODLE_REDIS_HOST=127.0.0.1 MOODLE_REDIS_PORT="$rport" MOODLE_REDIS_PREFIX=moodle_prod_sess_ \
		MOODLE_REDIS_PASSWORD="$rpass" DEPLOYMENT_ID=d-test "$@" \
		sh "$rel/mdeploy-hooks/after-install.sh" >"$TMP/hook.log" 2>&1
}
# What Moodle says of its caches (a CLI script of its own API).
cat >"$TMP/muc.php" <<'EOF'
<?php
define('CLI_SCRIPT', true);
require($argv[1]);
$get = new ReflectionMethod(\core_cache\cache::class, 'get_store');
$get->setAccessible(true);
foreach ([['core', 'string'], ['core', 'config'], ['core', 'plugin_manager']] as [$c, $a]) {
    $cache = \cache::make($c, $a);
    echo "$c/$a ", get_class($get->invoke($cache)), "\n";
}
$cache = \cache::make('core', 'config');
$cache->set('mdeploy_probe', 'value');
echo 'probe ', $cache->get('mdeploy_probe'), "\n";
echo 'factory ', get_class(\core_cache\factory::instance()), "\n";
EOF

after_install
hrc=$?
is "$hrc" 0 "after-install.sh renders config.php with the application cache in Redis"
[ "$hrc" = 0 ] || diag "$(cat "$TMP/hook.log")"
is "$(stat -c %a "$rel/config.php")" 640 "... config.php 0640"
like "$(cat "$rel/config.php")" "alternative_cache_factory_class = 'mdeploy_muc_factory'" "... naming mdeploy's cache factory"
unlike "$(cat "$TMP/hook.log")" "$rpass" "... the password in none of the hook's output"

# MUC's own file made afresh, through mdeploy's writer.
rm -rf "$TMP/moodledata/muc" "$TMP/moodledata/cache"
run php "$TMP/muc.php" "$rel/config.php"
is "$rc" 0 "Moodle's cache API on that config.php"
[ "$rc" = 0 ] || diag "$out" "$err"
is "$(printf '%s\n' "$out" | grep '^core/' | tr '\n' ' ')" \
	"core/string cachestore_redis core/config cachestore_redis core/plugin_manager cachestore_redis " \
	"... application caches are in cachestore_redis (Moodle says so)"
like "$out" "probe value" "... a value set is read back"
like "$out" "factory mdeploy_muc_factory" "... through mdeploy's factory"
keys=$(rcli --scan --pattern 'moodle_prod_muc_*' | wc -l)
ok "$([ "$keys" -gt 0 ]; echo $?)" "... the keys are in Redis under the group's MUC prefix ($keys keys)"
muc="$TMP/moodledata/muc/config.php"
ok "$([ -s "$muc" ]; echo $?)" "Moodle wrote dataroot/muc/config.php"
unlike "$(cat "$muc")" "$rpass" "... without the Redis password"
unlike "$(cat "$muc")" "mdeploy_redis" "... and without the store (added when read)"
is "$(($(stat -c %a "$muc") % 10))" 0 "... not readable by others"

# A page served by Moodle (php -S): its application caches fill Redis too.
rcli FLUSHALL >/dev/null
(cd "$rel" && exec setsid php -S "127.0.0.1:$wport" -t "$web" >"$TMP/web.log" 2>&1) &
web_pid=$!
wait_until '[ "$(curl -s -o /dev/null -w "%{http_code}" -m 30 "http://127.0.0.1:$wport/login/index.php")" = 200 ]'
ok $? "the login page is served (200)"
keys=$(rcli --scan --pattern 'moodle_prod_muc_*' | wc -l)
ok "$([ "$keys" -gt 0 ]; echo $?)" "... and the page's application caches are in Redis ($keys keys)"
kill -TERM -- "-$web_pid" 2>/dev/null; web_pid=

after_install MOODLE_REDIS_MUC=false
run php "$TMP/muc.php" "$rel/config.php"
is "$(printf '%s\n' "$out" | grep '^core/string')" "core/string cachestore_file" \
	"MOODLE_REDIS_MUC=false: the application cache stays on files"
unlike "$(cat "$muc")" "$rpass" "... and MUC's file still has no password"
done_testing
