#!/bin/sh
# Real Moodle 4.5.0 on what `mdeploy infra apply` builds, nothing else:
# infra apply starts PostgreSQL, Redis, the moodledata directory and the
# local CA; `deploy create` of a bundle with the default hooks then installs
# the site on two instances using only the parameters and secrets infra
# wrote (plus the admin's password and email); the login page is served over HTTPS
# through the load balancer with infra's certificate (verified with its
# CA); sessions live in Redis (keys with the group's prefix appear), so the
# admin's login holds across both instances; the application cache (MUC) is
# in that Redis too, its password in config.php only (not in the dataroot's
# muc/config.php); infra destroy stops it all.
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-deploy.sh"
. "$top_srcdir/t/lib-moodle.sh"
moodle_test_init 83
moodle_has_ref v4.5.0 || skip_all "the Moodle repository has no tag v4.5.0"
command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
	{ echo "Bail out! redis-server missing: apt-get install redis-server"; exit 1; }
php -r 'exit(extension_loaded("redis") ? 0 : 1);' ||
	{ echo "Bail out! PHP's redis extension missing: apt-get install php8.2-redis"; exit 1; }

infra_cleanup() {
	mdeploy infra destroy >/dev/null 2>&1
	for p in /proc/[0-9]*; do
		{ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -q "$TMP/" && kill -9 "${p#/proc/}" 2>/dev/null
	done
	moodle_test_cleanup
}
trap infra_cleanup EXIT

plan 21
moodle_export v4.5.0 "$TMP/rel" || exit 1
cp "$top_srcdir/hooks/appspec.yml" "$TMP/rel/" && cp -R "$top_srcdir/hooks/mdeploy-hooks" "$TMP/rel/" || exit 1
run mdeploy -q bundle create "$TMP/rel" "$TMP/moodle.tar.zst"
is "$rc" 0 "a bundle of Moodle 4.5.0 with the default hooks"
rm -rf "$TMP/rel"

cd "$TMP" || exit 1
cat >mdeploy.yml <<EOF
application:
  name: moodle
groups:
  - name: prod
    fleet: { size: 2, port: $port }
    load_balancer: { listen: 127.0.0.1:$lbport }
EOF

t0=$(date +%s)
run mdeploy infra apply
is "$rc" 0 "infra apply succeeds ($(($(date +%s) - t0)) s)"
[ "$rc" = 0 ] || diag "$err"
run mdeploy infra status
is "$rc" 0 "infra status: everything is up"
[ "$rc" = 0 ] || diag "$out" "$err"

# The site's admin is the only thing given by hand: infra wrote the rest.
adminpass="Adm-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')-x"
printf '%s' "$adminpass" | mdeploy -q secrets put moodle/prod/MOODLE_ADMINPASS >/dev/null || exit 1
is "$(mdeploy --json params list /moodle/prod | jq -r '[.parameters[].name | sub(".*/"; "")] | join(",")')" \
	"MOODLE_DATAROOT,MOODLE_DBHOST,MOODLE_DBNAME,MOODLE_DBPORT,MOODLE_DBTYPE,MOODLE_DBUSER,MOODLE_REDIS_HOST,MOODLE_REDIS_PORT,MOODLE_REDIS_PREFIX" \
	"the group's parameters are all infra's"
# The admin's email, or Moodle sends the admin to complete the profile first.
mdeploy -q params put /moodle/prod/MOODLE_ADMINEMAIL admin@example.org >/dev/null || exit 1

t0=$(date +%s)
run mdeploy deploy create prod moodle.tar.zst
is "$rc" 0 "deploy create installs the site on infra's database ($(($(date +%s) - t0)) s)"
[ "$rc" = 0 ] || diag "$(printf '%s\n' "$err" | tail -n 30)"

ca="$MDEPLOY_STATE_DIR/infra/tls/ca.pem"
lb="https://127.0.0.1:$lbport"
is "$(curl -s -o /dev/null -w '%{http_code}' -m 30 --cacert "$ca" "$lb/login/index.php")" 200 \
	"the login page answers 200 over HTTPS through the load balancer, its certificate verified with infra's CA"
like "$(curl -s -m 30 --cacert "$ca" "$lb/login/index.php")" "action=\"$lb/login/index.php\"" \
	"its links are https:// (wwwroot is the load balancer's TLS URL)"
cfg=$(cat "$MDEPLOY_STATE_DIR"/local/instances/*/current/config.php 2>/dev/null)
like "$cfg" "session_handler_class = '\\core\\session\\redis'" "config.php keeps sessions in Redis"
is "$(printf '%s\n' "$cfg" | grep -c 'session_redis_auth')" 2 "... with the password, on both instances"

rport=$(mdeploy params get /moodle/prod/MOODLE_REDIS_PORT)
REDISCLI_AUTH=$(mdeploy secrets get --reveal moodle/prod/MOODLE_REDIS_PASSWORD)
export REDISCLI_AUTH
keys() { redis-cli -h 127.0.0.1 -p "$rport" --scan --pattern 'moodle_prod_sess_*' 2>/dev/null | grep -vc '\.lock$'; }
before=$(keys)
jar="$TMP/cookies"
token=$(curl -s -m 30 --cacert "$ca" -c "$jar" -b "$jar" "$lb/login/index.php" |
	sed -n 's/.*name="logintoken" value="\([^"]*\)".*/\1/p' | head -n 1)
sid=$(awk '$6 == "MoodleSession" {print $7}' "$jar")
ok "$([ -n "$sid" ]; echo $?)" "the login page gives a MoodleSession cookie"
# Moodle's Redis handler keys a session as PREFIX + "session_" + its id.
is "$(redis-cli -h 127.0.0.1 -p "$rport" EXISTS "moodle_prod_sess_session_$sid" 2>&1)" 1 \
	"that session is a key in infra's Redis (moodle_prod_sess_session_<sid>)"
diag "session keys in Redis: $before before, $(keys) after"
[ "$(redis-cli -h 127.0.0.1 -p "$rport" EXISTS "moodle_prod_sess_session_$sid" 2>&1)" = 1 ] ||
	diag "cookie jar:" "$(cat "$jar")" "keys:" "$(redis-cli -h 127.0.0.1 -p "$rport" --scan --pattern 'moodle_prod_sess_*' | head -n 5)"

# Two instances, round robin: the login holds only if they share the session store.
(umask 077 && printf 'username=admin&password=%s' "$adminpass" >"$TMP/login.form")
res=$(curl -s -o /dev/null -m 30 --cacert "$ca" -w '%{http_code} %{redirect_url}' -c "$jar" -b "$jar" \
	--data "@$TMP/login.form" --data-urlencode "logintoken=$token" "$lb/login/index.php")
is "$res" "303 $lb/login/index.php?testsession=2" "the admin logs in through the TLS load balancer"
n=0
for i in 1 2 3 4; do
	page=$(curl -s -m 30 --cacert "$ca" -b "$jar" -w '\n%{http_code} %{redirect_url}' "$lb/user/profile.php")
	case $page in *"Admin User"*) n=$((n + 1)) ;; *) diag "profile: $(printf '%s' "$page" | tail -n 1)" ;; esac
done
is "$n" 4 "four profile pages in a row (both instances) are the admin's: the session is shared through Redis"
unlike "$(cat "$MDEPLOY_STATE_DIR"/local/instances/*/logs/*.log 2>/dev/null)" "$REDISCLI_AUTH" \
	"the Redis password is in no deployment log"

# The application cache (MUC) is in infra's Redis too, the password only in config.php.
is "$(printf '%s\n' "$cfg" | grep -c "alternative_cache_factory_class = 'mdeploy_muc_factory'")" 2 \
	"config.php puts the application cache in Redis, on both instances"
muckeys=$(redis-cli -h 127.0.0.1 -p "$rport" --scan --pattern 'moodle_prod_muc_*' 2>/dev/null | wc -l)
ok "$([ "$muckeys" -gt 0 ]; echo $?)" "... the pages served filled it: $muckeys keys under moodle_prod_muc_"
cat >"$TMP/muc.php" <<'EOF2'
<?php
define('CLI_SCRIPT', true);
require($argv[1]);
$get = new ReflectionMethod(\core_cache\cache::class, 'get_store');
$get->setAccessible(true);
echo get_class($get->invoke(\cache::make('core', 'string'))), "\n";
EOF2
inst=$(ls -d "$MDEPLOY_STATE_DIR"/local/instances/*/current | head -n 1)
is "$(php "$TMP/muc.php" "$inst/config.php" 2>&1)" "cachestore_redis" "... Moodle says core/string is in cachestore_redis"
dataroot=$(mdeploy params get /moodle/prod/MOODLE_DATAROOT)
ok "$([ -s "$dataroot/muc/config.php" ]; echo $?)" "... MUC's own file is in the dataroot"
unlike "$(cat "$dataroot/muc/config.php" 2>&1)" "$REDISCLI_AUTH" "... without the Redis password"

run mdeploy --json infra destroy
is "$rc" 0 "infra destroy succeeds"
is "$(printf '%s' "$out" | jq -r '[.changes[] | .action + " " + .resource] | join(",")')" "stop redis,stop postgresql" \
	"it stops Redis and PostgreSQL, keeping their data"
done_testing
