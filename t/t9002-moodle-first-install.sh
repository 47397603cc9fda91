#!/bin/sh
# The first deployment of real Moodle 4.5.0 to an empty PostgreSQL database,
# with the default hooks, the default deployment config and health check, the
# load balancer on another port than the instances: `deploy plan`
# says install; `deploy create` installs the site once (DB version
# 2024100700, the site's names from the parameters), runs cron once, and
# only then serves: checks.php passes, the login page answers 200 through
# the load balancer and the admin logs in with the password from the secret
# store. That password is never on a command line (watched while the
# install runs), in a log, the journal or the state directory. Without it
# the deployment fails before the database is touched and nothing serves. A
# redeploy does not install again; the group's cron then runs the new
# release's cron.php.
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-deploy.sh"
. "$top_srcdir/t/lib-moodle.sh"
# t9005 runs the same on Moodle 5.1.0 (the public/ layout).
tag=${MOODLE_FIRST_INSTALL_TAG:-v4.5.0}
dbversion=${MOODLE_FIRST_INSTALL_VERSION:-2024100700}
moodle_test_init "${MOODLE_FIRST_INSTALL_SALT:-79}"
moodle_has_ref "$tag" || skip_all "the Moodle repository has no tag $tag"

plan 30
moodle_export "$tag" "$TMP/rel" || exit 1
cp "$top_srcdir/hooks/appspec.yml" "$TMP/rel/" && cp -R "$top_srcdir/hooks/mdeploy-hooks" "$TMP/rel/" || exit 1
run mdeploy -q bundle create "$TMP/rel" "$TMP/moodle.tar.zst"
is "$rc" 0 "a bundle of Moodle $tag with the default hooks"
# A code-only change of our own for the redeploy.
printf '\n// mdeploy t9002: a code-only change\n' >>"$TMP/rel/index.php"
run mdeploy -q bundle create "$TMP/rel" "$TMP/moodle2.tar.zst"
rm -rf "$TMP/rel"

ok_cmd "PostgreSQL starts on its own port" moodle_pg_start
ok_cmd "an empty database for the site" moodle_pg_createdb moodle

cd "$TMP" || exit 1
cat >mdeploy.yml <<EOF
application:
  name: moodle
groups:
  - name: prod
    fleet: { size: 2, port: $port }
    load_balancer: { listen: 127.0.0.1:$lbport }
EOF
lb="http://127.0.0.1:$lbport"
adminpass="Adm-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')-x"
for kv in MOODLE_DBHOST=127.0.0.1 MOODLE_DBPORT="$MOODLE_PGPORT" MOODLE_DBNAME=moodle MOODLE_DBUSER=moodle \
	MOODLE_DATAROOT="$TMP/moodledata" MOODLE_FULLNAME="mdeploy first install" \
	MOODLE_SHORTNAME=mfi MOODLE_ADMINEMAIL=admin@example.org; do
	mdeploy -q params put "/moodle/prod/${kv%%=*}" "${kv#*=}" >/dev/null || exit 1
done
printf '%s' "$MOODLE_PGPASS" | mdeploy -q secrets put moodle/prod/MOODLE_DBPASS >/dev/null || exit 1

run mdeploy deploy plan prod moodle.tar.zst
like "$out" "prod: install (first install of the site)" "plan: an install"

# Without the admin password: refused before anything is installed.
run mdeploy deploy create prod moodle.tar.zst
is "$rc" 1 "without MOODLE_ADMINPASS the first deployment fails"
like "$err" "MOODLE_ADMINPASS (the admin password, a secret) is not set" "naming the secret"
is "$(moodle_psql moodle "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'mdl\\_%'")" 0 \
	"the database is untouched (real db-state.php probe: empty)"
is "$(curl -s -o /dev/null -w '%{http_code}' -m 10 "$lb/login/index.php")" 503 "nothing serves"

printf '%s' "$adminpass" | mdeploy -q secrets put moodle/prod/MOODLE_ADMINPASS >/dev/null || exit 1

# While the deployment runs, watch every process's command line for the
# admin password, and for install-database.php (the mechanism at work).
# The patterns are in files: a grep given them on its command line would find itself.
(umask 077 && printf '%s\n' "$adminpass" >"$TMP/pat.pass" && printf 'install-database.php\n' >"$TMP/pat.wrapper")
watch() {
	while :; do
		grep -alF -f "$TMP/pat.pass" /proc/[0-9]*/cmdline 2>/dev/null | sed 's/^/PASSWORD ON A COMMAND LINE: /' >>"$TMP/watch"
		grep -qaF -f "$TMP/pat.wrapper" /proc/[0-9]*/cmdline 2>/dev/null && echo wrapper >>"$TMP/watch"
		sleep 0.2
	done
}
: >"$TMP/watch"
watch &
watcher=$!
t0=$(date +%s)
run mdeploy deploy create prod moodle.tar.zst
kill "$watcher"
wait "$watcher" 2>/dev/null
is "$rc" 0 "deploy create installs the site ($(($(date +%s) - t0)) s)"
[ "$rc" = 0 ] || diag "$(printf '%s\n' "$err" | tail -n 30)"
like "$(sort -u "$TMP/watch")" "wrapper" "install-database.php ran (seen while the install ran)"
unlike "$(cat "$TMP/watch")" "PASSWORD ON A COMMAND LINE" "the admin password was on no process's command line"

is "$(moodle_psql moodle "SELECT value FROM mdl_config WHERE name = 'version'")" "$dbversion" \
	"the database has Moodle $tag's version"
is "$(moodle_psql moodle "SELECT fullname || '|' || shortname FROM mdl_course WHERE format = 'site'")" \
	"mdeploy first install|mfi" "the site's names come from the parameters"
is "$(moodle_psql moodle "SELECT email FROM mdl_user WHERE username = 'admin'")" admin@example.org \
	"the admin's email too"
ok "$([ -n "$(moodle_psql moodle "SELECT value FROM mdl_config_plugins WHERE plugin = 'tool_task' AND name = 'lastcronstart'")" ]; echo $?)" \
	"cron ran once after the install"
siteid=$(moodle_psql moodle "SELECT value FROM mdl_config WHERE name = 'siteidentifier'")
run mdeploy --json deploy status
steps=$(printf '%s' "$out" | jq -r '[.steps[] | .step] | join(",")')
diag "first install, steps in s: $(printf '%s' "$out" |
	jq -r '[.steps[] | "\(.step) \(((.finished_at_ms // 0) - .started_at_ms) / 1000 | floor)"] | join(", ")')"
like "$steps" "install,install,install-site,validate,validate,register,register" \
	"both instances installed, the site installed once, both validated, then registered"

live=$(mdeploy --json fleet list | jq -r '.fleets[] | select(.role == "live") | .name')
root=$(mdeploy --json fleet show "$live" | jq -r '.instances[0].root')
run sh -c "cd '$root/current/' && php admin/cli/checks.php"
is "$rc" 0 "admin/cli/checks.php passes (nothing critical, no warning)"
[ "$rc" = 0 ] || diag "$out"

is "$(curl -s -o /dev/null -w '%{http_code}' -m 30 "$lb/login/index.php")" 200 \
	"the login page answers 200 through the load balancer"
jar="$TMP/cookies"
(umask 077 && printf 'username=admin&password=%s' "$adminpass" >"$TMP/login.form")
token=$(curl -s -m 30 -c "$jar" -b "$jar" "$lb/login/index.php" |
	sed -n 's/.*name="logintoken" value="\([^"]*\)".*/\1/p' | head -n 1)
res=$(curl -s -o /dev/null -m 30 -w '%{http_code} %{redirect_url}' -c "$jar" -b "$jar" \
	--data "@$TMP/login.form" --data-urlencode "logintoken=$token" "$lb/login/index.php")
is "$res" "303 $lb/login/index.php?testsession=2" \
	"the admin logs in with the secret's password through the load balancer (Moodle's session test for user 2)"
page=$(curl -s -m 30 -b "$jar" "$lb/user/profile.php")
like "$page" "Admin User" "the admin's profile page is served: logged in"

is "$(grep -rlaF -- "$adminpass" "$MDEPLOY_STATE_DIR" "$TMP/moodledata" 2>/dev/null)" "" \
	"the admin password is in no file: state directory (logs, journal, releases, config.php), dataroot"
run mdeploy --json deploy status
unlike "$out$err" "$adminpass" "nor in the journal (deploy status)"

# A redeploy: code-only, no second install.
run mdeploy --json deploy plan prod moodle2.tar.zst
is "$(printf '%s' "$out" | jq -r .kind)" code-only "plan: the redeploy is code-only, not an install"
run mdeploy deploy create prod moodle2.tar.zst
is "$rc" 0 "the redeploy succeeds"
[ "$rc" = 0 ] || diag "$(printf '%s\n' "$err" | tail -n 30)"
d2=$(printf '%s' "$out" | tail -n 1)
is "$(moodle_psql moodle "SELECT value FROM mdl_config WHERE name = 'siteidentifier'")" "$siteid" \
	"the site is the same one (not installed again)"
logs=$(find "$MDEPLOY_STATE_DIR" -path '*/logs/*.log' -newer "$TMP/moodle2.tar.zst" -exec cat {} + 2>/dev/null)
like "$logs" "the database holds a Moodle site (version $dbversion): nothing to install" \
	"install.sh says there is nothing to install"
is "$(curl -s -o /dev/null -w '%{http_code}' -m 30 "$lb/login/index.php")" 200 "the login page still answers 200"

# The group's cron, after the swap: Moodle's cron.php of the new release.
cronq="SELECT value FROM mdl_config_plugins WHERE plugin = 'tool_task' AND name = 'lastcronstart'"
before=$(moodle_psql moodle "$cronq")
sleep 1
run mdeploy cron run prod
is "$rc" 0 "mdeploy cron run: Moodle's cron runs"
[ "$rc" = 0 ] || diag "$err"
like "$out" "release $d2)" "on the release that serves now (the redeploy's)"
after=$(moodle_psql moodle "$cronq")
ok "$([ "${after:-0}" -gt "${before:-0}" ]; echo $?)" "Moodle recorded the run (lastcronstart $before -> $after)"
done_testing
