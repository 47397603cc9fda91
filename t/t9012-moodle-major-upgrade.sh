#!/bin/sh
# A major upgrade of a real Moodle site: 4.5.0 (an installed site,
# t/lib-moodle.sh) live on a 2-instance group with the default hooks,
# deployment config and health check, then 5.1.0, whose web root moves into
# public/ (config.php stays beside it): the gate backs up, upgrades once,
# and 5.1 serves from public/ through the load balancer on a database of
# 5.1's version, users getting Moodle's maintenance page meanwhile. Then
# rollback --restore-database back to 4.5.0: the tables 5.1 added are gone
# and 4.5.0's code agrees with the database.
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-deploy.sh"
. "$top_srcdir/t/lib-moodle.sh"
moodle_test_init 89
moodle_has_ref v4.5.0 && moodle_has_ref v5.1.0 || skip_all "the Moodle repository lacks v4.5.0 or v5.1.0"

# bundle REF NAME: the release tree of REF with this source tree's default hooks.
bundle() {
	moodle_export "$1" "$TMP/rel-$2" &&
		cp "$top_srcdir/hooks/appspec.yml" "$TMP/rel-$2/" && cp -R "$top_srcdir/hooks/mdeploy-hooks" "$TMP/rel-$2/" &&
		mdeploy -q bundle create "$TMP/rel-$2" "$TMP/$2.tar.zst" >/dev/null && rm -rf "$TMP/rel-$2"
}
dbversion() { moodle_psql moodle "SELECT value FROM mdl_config WHERE name = 'version'"; }
# journal_ms ID STEP FIELD: started_at_ms or finished_at_ms of a deployment's step.
journal_ms() { mdeploy --json deploy status "$1" | jq -r --arg s "$2" --arg f "$3" '[.steps[] | select(.step == $s)][0][$f] // 0'; }

bundle v4.5.0 m450 && bundle v5.1.0 m510
ok $? "bundles of Moodle 4.5.0 and 5.1.0 with the default hooks"
ok_cmd "PostgreSQL starts on its own port" moodle_pg_start
t0=$(date +%s)
ok_cmd "an installed Moodle 4.5.0 site in database moodle" moodle_site_restore v4.5.0 moodle "$TMP/moodledata"
diag "site restored in $(($(date +%s) - t0)) s"

cd "$TMP" || exit 1
# The default deployment config and health check (/, every second, 2 to
# fall or rise); the load balancer on another port than the instances.
cat >mdeploy.yml <<EOF
application:
  name: moodle
groups:
  - name: prod
    fleet: { size: 2, port: $port }
    load_balancer: { listen: 127.0.0.1:$lbport }
EOF
lb="http://127.0.0.1:$lbport"
adminpass=$MOODLE_ADMINPASS
for kv in MOODLE_DBHOST=127.0.0.1 MOODLE_DBPORT="$MOODLE_PGPORT" MOODLE_DBNAME=moodle MOODLE_DBUSER=moodle \
	MOODLE_DATAROOT="$TMP/moodledata"; do
	mdeploy -q params put "/moodle/prod/${kv%%=*}" "${kv#*=}" >/dev/null || exit 1
done
printf '%s' "$MOODLE_PGPASS" | mdeploy -q secrets put moodle/prod/MOODLE_DBPASS >/dev/null || exit 1
printf '%s' "$adminpass" | mdeploy -q secrets put moodle/prod/MOODLE_ADMINPASS >/dev/null || exit 1

t0=$(date +%s)
run mdeploy deploy create prod m450.tar.zst
is "$rc" 0 "the first deployment of Moodle 4.5.0 ($(($(date +%s) - t0)) s)"
[ "$rc" = 0 ] || { diag "$(printf '%s\n' "$err" | tail -n 30)"; done_testing; exit 1; }
is "$(dbversion)" 2024100700 "the database has 4.5.0's version"
is "$(curl -s -o /dev/null -w '%{http_code}' -m 30 "$lb/login/index.php")" 200 "4.5.0's login page answers 200 through the load balancer"
[ -n "${MDEPLOY_TEST_PAUSE:-}" ] && { diag "paused: $TMP"; sleep "$MDEPLOY_TEST_PAUSE"; }

tables() { moodle_psql moodle "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'mdl\\_%'"; }
t450=$(tables)
run mdeploy --json deploy plan prod m510.tar.zst
is "$(printf '%s' "$out" | jq -r .kind)" upgrade "plan: 5.1.0 is an upgrade"

cat >"$TMP/sample.sh" <<EOF
#!/bin/sh
while :; do
	[ -f "$TMP/moodledata/climaintenance.html" ] && cp "$TMP/moodledata/climaintenance.html" "$TMP/cm.html" 2>/dev/null
	curl -s -m 10 -D "$TMP/s.h" -o "$TMP/s.b" "$lb/login/index.php"
	st=\$(sed -n '1s/^HTTP[^ ]* \([0-9]*\).*/\1/p' "$TMP/s.h")
	ra=\$(tr 'A-Z' 'a-z' <"$TMP/s.h" | sed -n 's/^retry-after: *\([0-9]*\).*/\1/p')
	if [ -s "$TMP/cm.html" ] && cmp -s "$TMP/s.b" "$TMP/cm.html"; then page=moodle-maintenance
	elif grep -q "<title>Log in to the site" "$TMP/s.b"; then page=login
	elif grep -q "No server is available" "$TMP/s.b"; then page=haproxy
	else page=other; cp "$TMP/s.b" "$TMP/other.\$\$.html"; fi
	echo "\$st \${ra:-none} \$page" >>"$TMP/samples"
	sleep 0.2
done
EOF
: >"$TMP/samples"
sh "$TMP/sample.sh" &
sampler=$!
up0=$(date +%s)
run mdeploy deploy create prod m510.tar.zst
up1=$(date +%s)
kill "$sampler"
is "$rc" 0 "deployment of 5.1.0 with its major upgrade succeeds ($((up1 - up0)) s)"
[ "$rc" = 0 ] || diag "$(printf '%s\n' "$err" | tail -n 30)"
id=$(mdeploy --json deploy history prod | jq -r '.deployments[0].id')
is "$(dbversion)" 2025100600 "the database has 5.1.0's version"
run mdeploy --json deploy status "$id"
status=$out
is "$(printf '%s' "$status" | jq -r '[.steps[] | select(.step == "upgrade")] | length')" 1 "the upgrade ran once"
mon=$(journal_ms "$id" maintenance-on started_at_ms)
moff=$(journal_ms "$id" maintenance-off finished_at_ms)
window_ms=$(( ${moff:-0} - ${mon:-0} ))
b=$(printf '%s' "$status" | jq -c '.steps[] | select(.step == "backup") | .backup')
diag "5.1 upgrade $((up1 - up0)) s; maintenance window ${window_ms} ms; upgrade step $(printf '%s' "$status" | jq -r '[.steps[] | select(.step == "upgrade")][0] | .finished_at_ms - .started_at_ms') ms; backup $(printf '%s' "$b" | jq -r .bytes) bytes in $(printf '%s' "$b" | jq -r .ms) ms"
diag "samples: $(sort "$TMP/samples" | uniq -c | tr '\n' ';')"
ok "$([ -f "$(printf '%s' "$b" | jq -r .path)" ]; echo $?)" "the backup is recorded"
ok "$(grep -q '^503 300 moodle-maintenance$' "$TMP/samples"; echo $?)" \
	"during the window the load balancer served Moodle's maintenance page with Retry-After"
is "$(grep -v -e '^200 none login$' -e '^503 300 moodle-maintenance$' "$TMP/samples" | sort | uniq -c)" "" \
	"every sampled response was the login page or Moodle's maintenance page"
live=$(mdeploy --json fleet list | jq -r '.fleets[] | select(.role == "live") | .name')
root=$(mdeploy --json fleet show "$live" | jq -r '.instances[0].root')
like "$(grep '^\$version' "$root/current/public/version.php" 2>/dev/null)" "2025100600.00" "the live fleet runs 5.1.0, public/ layout"
ok "$([ -f "$root/current/config.php" ] && ! grep -q dbpass "$root/current/public/config.php"; echo $?)" \
	"config.php beside public/ (the web root's config.php is Moodle's stub, without the settings)"
is "$(curl -s -o /dev/null -w '%{http_code}' -m 30 "$lb/login/index.php")" 200 "5.1's login page answers 200 through the load balancer"
unlike "$(curl -s -m 30 "$lb/config.php")" "$MOODLE_PGPASS" "public/config.php (Moodle's stub) runs, it does not show the settings"
run sh -c "cd '$root/current' && php admin/cli/upgrade.php --is-pending"
is "$rc" 0 "5.1's code and the database agree (admin/cli/ beside public/)"
t510=$(tables)
diag "tables: 4.5.0 $t450, 5.1.0 $t510"

run mdeploy deploy rollback prod
like "$err" "mdeploy deploy rollback --restore-database prod" "rollback across the major upgrade is refused with the command"
rb0=$(date +%s)
run mdeploy deploy rollback --restore-database prod
rb1=$(date +%s)
is "$rc" 0 "rollback --restore-database back to 4.5.0 ($((rb1 - rb0)) s)"
[ "$rc" = 0 ] || diag "$(printf '%s\n' "$err" | tail -n 30)"
is "$(dbversion)" 2024100700 "the database is 4.5.0's again"
is "$(tables)" "$t450" "with 4.5.0's tables: those 5.1 added are gone, those it dropped are back"
live=$(mdeploy --json fleet list | jq -r '.fleets[] | select(.role == "live") | .name')
root=$(mdeploy --json fleet show "$live" | jq -r '.instances[0].root')
is "$(curl -s -o /dev/null -w '%{http_code}' -m 30 "$lb/login/index.php")" 200 "4.5.0's login page answers 200 again"
run sh -c "cd '$root/current' && php admin/cli/upgrade.php --is-pending"
is "$rc" 0 "4.5.0's code and the database agree"
done_testing
