#!/bin/sh
# The major upgrade of a real Moodle site from the last 4.5 stable: 4.5.5+ -> 5.1.0, whose web root
# moves into public/. An installed 4.5.0 site (t/lib-moodle.sh) taken to
# 4.5.5+ by the group's first deployment (the install step finds the site,
# the upgrade runs), then 5.1.0 deployed to the 2-instance group (default
# hooks, default deployment config): the plan says upgrade, the upgrade
# runs once, the database has 5.1.0's version, and the login page answers
# 200 through the load balancer, served from the release's public/.
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-deploy.sh"
. "$top_srcdir/t/lib-moodle.sh"
moodle_test_init 87
moodle_has_ref v4.5.5plus && moodle_has_ref v5.1.0 || skip_all "the Moodle repository lacks v4.5.5plus or v5.1.0"

bundle() {
	moodle_export "$1" "$TMP/rel-$2" &&
		cp "$top_srcdir/hooks/appspec.yml" "$TMP/rel-$2/" && cp -R "$top_srcdir/hooks/mdeploy-hooks" "$TMP/rel-$2/" &&
		mdeploy -q bundle create "$TMP/rel-$2" "$TMP/$2.tar.zst" >/dev/null && rm -rf "$TMP/rel-$2"
}
dbversion() { moodle_psql moodle "SELECT value FROM mdl_config WHERE name = 'version'"; }

bundle v4.5.5plus m455 && bundle v5.1.0 m510
ok $? "bundles of Moodle 4.5.5+ and 5.1.0 with the default hooks"
ok_cmd "PostgreSQL starts on its own port" moodle_pg_start
ok_cmd "an installed Moodle 4.5.0 site in database moodle" moodle_site_restore v4.5.0 moodle "$TMP/moodledata"

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
for kv in MOODLE_DBHOST=127.0.0.1 MOODLE_DBPORT="$MOODLE_PGPORT" MOODLE_DBNAME=moodle MOODLE_DBUSER=moodle \
	MOODLE_DATAROOT="$TMP/moodledata"; do
	mdeploy -q params put "/moodle/prod/${kv%%=*}" "${kv#*=}" >/dev/null || exit 1
done
printf '%s' "$MOODLE_PGPASS" | mdeploy -q secrets put moodle/prod/MOODLE_DBPASS >/dev/null || exit 1

t0=$(date +%s)
run mdeploy deploy create prod m455.tar.zst
is "$rc" 0 "the first deployment, 4.5.5+ on the 4.5.0 site ($(($(date +%s) - t0)) s)"
[ "$rc" = 0 ] || { diag "$(printf '%s\n' "$err" | tail -n 30)"; done_testing; exit 1; }
is "$(dbversion)" 2024100705.01 "the database has 4.5.5+'s version"

run mdeploy --json deploy plan prod m510.tar.zst
is "$(printf '%s' "$out" | jq -r .kind)" upgrade "plan: 5.1.0 is an upgrade"
[ "$(printf '%s' "$out" | jq -r .kind)" = upgrade ] || diag "$out"

t0=$(date +%s)
run mdeploy deploy create prod m510.tar.zst
up_s=$(($(date +%s) - t0))
is "$rc" 0 "the deployment of 5.1.0 with its major upgrade succeeds ($up_s s)"
[ "$rc" = 0 ] || diag "$(printf '%s\n' "$err" | tail -n 40)"
id=$(mdeploy --json deploy history prod | jq -r '.deployments[0].id')
run mdeploy --json deploy status "$id"
is "$(printf '%s' "$out" | jq -r '[.steps[] | select(.step == "upgrade")] | length')" 1 "the upgrade ran once"
diag "steps: $(printf '%s' "$out" | jq -r '[.steps[] | "\(.step) \(.finished_at_ms - .started_at_ms)ms"] | join(", ")')"
is "$(dbversion)" 2025100600 "the database has 5.1.0's version"
live=$(mdeploy --json fleet list | jq -r '.fleets[] | select(.role == "live") | .name')
root=$(mdeploy --json fleet show "$live" | jq -r '.instances[0].root')
ok "$([ -f "$root/current/public/login/index.php" ] && [ ! -e "$root/current/login" ]; echo $?)" \
	"the live release has 5.1's layout (public/)"
page=$(curl -s -m 60 -w '\n%{http_code}' "$lb/login/index.php")
is "$(printf '%s' "$page" | tail -n 1)" 200 "5.1.0's login page answers 200 through the load balancer"
like "$page" "<title>Log in to the site" "and it is Moodle's login page"
ok "$([ ! -f "$TMP/moodledata/climaintenance.html" ]; echo $?)" "maintenance is off"
done_testing
