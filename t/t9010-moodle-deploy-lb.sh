#!/bin/sh
# Real Moodle 4.5.0 deployed by mdeploy with its default hooks (appspec.yml and
# mdeploy-hooks/ copied into the tree, as mdeploy-hooks(7) says) to a group of
# two PHP instances behind HAProxy, with the default deployment config and the
# load balancer on another port than the instances (as the defaults 8000 and
# 8080): the database password only in the secret store, MOODLE_WWWROOT not
# set (the load balancer's URL). The login page answers 200 through the load
# balancer, the admin logs in there, config.php is not readable by others and
# the password is nowhere else in the state directory.
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-deploy.sh"
. "$top_srcdir/t/lib-moodle.sh"
moodle_test_init 73
moodle_has_ref v4.5.0 || skip_all "the Moodle repository has no tag v4.5.0"

plan 18
# The release first: the tree with the hooks of this source tree.
moodle_export v4.5.0 "$TMP/rel" || exit 1
cp "$top_srcdir/hooks/appspec.yml" "$TMP/rel/" && cp -R "$top_srcdir/hooks/mdeploy-hooks" "$TMP/rel/" || exit 1
t0=$(date +%s)
run mdeploy -q bundle create "$TMP/rel" "$TMP/moodle.tar.zst"
is "$rc" 0 "a bundle of Moodle 4.5.0 with the default hooks ($(($(date +%s) - t0)) s)"
rm -rf "$TMP/rel"

ok_cmd "PostgreSQL starts on its own port" moodle_pg_start
t0=$(date +%s)
ok_cmd "an installed Moodle 4.5.0 site in database moodle" moodle_site_restore v4.5.0 moodle "$TMP/moodledata"
diag "site restored in $(($(date +%s) - t0)) s"

cd "$TMP" || exit 1
cat >mdeploy.yml <<EOF2
application:
  name: moodle
groups:
  - name: prod
    fleet: { size: 2, port: $port }
    load_balancer: { listen: 127.0.0.1:$lbport }
EOF2
for kv in MOODLE_DBHOST=127.0.0.1 MOODLE_DBPORT="$MOODLE_PGPORT" MOODLE_DBNAME=moodle MOODLE_DBUSER=moodle \
	MOODLE_DATAROOT="$TMP/moodledata"; do
	mdeploy -q params put "/moodle/prod/${kv%%=*}" "${kv#*=}" >/dev/null || exit 1
done
printf '%s' "$MOODLE_PGPASS" | mdeploy -q secrets put moodle/prod/MOODLE_DBPASS >/dev/null || exit 1

t0=$(date +%s)
run mdeploy deploy create prod moodle.tar.zst
is "$rc" 0 "deploy create succeeds ($(($(date +%s) - t0)) s)"
[ "$rc" = 0 ] || diag "$(printf '%s\n' "$err" | tail -n 30)"

lb="http://127.0.0.1:$lbport"

# Figures for bench/README.md (per-instance install on the real tree): each
# install step from the journal, each hook from the agent's log, and what
# extracting the bundle alone takes.
id=$(mdeploy --json deploy history prod | jq -r '.deployments[0].id')
mdeploy --json deploy status "$id" | jq -r '.steps[] |
	"timing: step \(.step) \(.target // ""): \(.finished_at_ms - .started_at_ms) ms"' | while read -r line; do diag "$line"; done
for f in "$MDEPLOY_STATE_DIR"/local/instances/*/logs/"$id".log; do
	[ -f "$f" ] || continue
	sed -n "s|.*Script \(.*\) succeeded in \([0-9]*\) ms|timing: ${f%/logs/*}: \1 \2 ms|p" "$f" |
		sed 's|timing: .*/instances/|timing: |' | while read -r line; do diag "$line"; done
done
t0=$(date +%s%N)
mdeploy -q bundle extract moodle.tar.zst "$TMP/extract-timing" >/dev/null 2>&1 &&
	diag "timing: mdeploy bundle extract of the same bundle: $((($(date +%s%N) - t0) / 1000000)) ms"
rm -rf "$TMP/extract-timing"
is "$(curl -s -o /dev/null -w '%{http_code}' -m 30 "$lb/login/index.php")" 200 \
	"the login page answers 200 through the load balancer"
like "$(curl -s -m 30 "$lb/login/index.php")" "action=\"$lb/login/index.php\"" \
	"its links point at the load balancer (wwwroot is its URL)"

# HAProxy's check (HTTP/1.0, no Host) gets Moodle's front page, not a
# redirect. A check running right now shows as "* L7OK" with no code: ask again.
i=0
while :; do
	checks=$(mdeploy --json lb show moodle-prod | jq -r '[.targets[] | "\(.health)/\(.check_status)/\(.check_code)"] | join(" ")')
	[ "$checks" = "UP/L7OK/200 UP/L7OK/200" ] || [ $i -ge 20 ] && break
	i=$((i + 1))
	sleep 0.2
done
is "$checks" "UP/L7OK/200 UP/L7OK/200" "both instances pass the load balancer's health check with 200"

# The admin logs in through the load balancer: login token, cookie jar.
jar="$TMP/cookies"
(umask 077 && printf 'username=admin&password=%s' "$MOODLE_ADMINPASS" >"$TMP/login.form")
token=$(curl -s -m 30 -c "$jar" -b "$jar" "$lb/login/index.php" |
	sed -n 's/.*name="logintoken" value="\([^"]*\)".*/\1/p' | head -n 1)
ok "$([ -n "$token" ]; echo $?)" "the login page has a login token"
res=$(curl -s -o /dev/null -m 30 -w '%{http_code} %{redirect_url}' -c "$jar" -b "$jar" \
	--data "@$TMP/login.form" --data-urlencode "logintoken=$token" "$lb/login/index.php")
# Moodle's answer to a good password: its session cookie test, for the user.
is "$res" "303 $lb/login/index.php?testsession=2" "the login succeeds (303 to the session test)"
page=$(curl -s -m 30 -b "$jar" -w '\n%{http_code}' "$lb/user/profile.php")
like "$page" "Admin User" "the admin's profile page is served: logged in"
is "${page##*
}" 200 "... with 200"

# config.php holds the password (Moodle reads it there): nobody else may read it.
modes=$(find "$MDEPLOY_STATE_DIR" -regex '.*/releases/[^/]*/config\.php' -exec stat -c %a {} + | sort | uniq -c |
	tr -s ' \n' '  ')
is "$modes" " 2 640 " "both instances' config.php have mode 0640"
is "$(grep -rlaF -- "$MOODLE_PGPASS" "$MDEPLOY_STATE_DIR" | grep -v '/releases/[^/]*/config\.php$')" "" \
	"the password is in no other file of the state directory (logs, journal, instances)"
run mdeploy --json deploy history prod
unlike "$out$err" "$MOODLE_PGPASS" "nor in deploy history or mdeploy's output"

# TLS ends at the load balancer (a group with a certificate): wwwroot is its
# https:// URL and Moodle, on plain HTTP behind it, needs sslproxy.
if ! command -v openssl >/dev/null; then
	skip 4 "openssl missing: no certificate for the TLS group"
else
	openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 1 -subj /CN=localhost \
		>/dev/null 2>&1 && cat cert.pem key.pem >lb.pem || exit 1
	tlsport=$(free_port) && tport=$(free_port) || exit 1
	cat >>mdeploy.yml <<EOF2
  - name: tls
    fleet: { size: 2, port: $tport }
    load_balancer: { listen: 127.0.0.1:$tlsport, tls_certificate: lb.pem }
EOF2
	moodle_site_restore v4.5.0 moodletls "$TMP/moodledata-tls" || exit 1
	for kv in MOODLE_DBHOST=127.0.0.1 MOODLE_DBPORT="$MOODLE_PGPORT" MOODLE_DBNAME=moodletls \
		MOODLE_DBUSER=moodletls MOODLE_DATAROOT="$TMP/moodledata-tls"; do
		mdeploy -q params put "/moodle/tls/${kv%%=*}" "${kv#*=}" >/dev/null || exit 1
	done
	printf '%s' "$MOODLE_PGPASS" | mdeploy -q secrets put moodle/tls/MOODLE_DBPASS >/dev/null || exit 1
	run mdeploy deploy create tls moodle.tar.zst
	is "$rc" 0 "deploy create behind a TLS load balancer succeeds"
	[ "$rc" = 0 ] || diag "$(printf '%s\n' "$err" | tail -n 20)"
	tls="https://127.0.0.1:$tlsport"
	is "$(curl -sk -o /dev/null -w '%{http_code}' -m 30 "$tls/login/index.php")" 200 \
		"the login page answers 200 over HTTPS through the load balancer"
	like "$(curl -sk -m 30 "$tls/login/index.php")" "action=\"$tls/login/index.php\"" \
		"its links are https:// (sslproxy)"
	cfgs=$(cat "$MDEPLOY_STATE_DIR"/local/instances/*/current/config.php 2>/dev/null | grep -c 'sslproxy  = true')
	is "$cfgs" 2 "the TLS group's config.php files set sslproxy (and only theirs)"
fi
done_testing
