#!/bin/sh
# hooks/: the default Moodle appspec and hook scripts, run by the agent
# against a Moodle-shaped release served by PHP's built-in server.
. "${top_srcdir:-.}/t/lib.sh"

if command -v shellcheck >/dev/null 2>&1; then
	run shellcheck -x -P SCRIPTDIR -s sh "$top_srcdir"/hooks/mdeploy-hooks/*.sh
	is "$rc" 0 "hook scripts are shellcheck-clean"
	[ "$rc" = 0 ] || diag "$out"
else
	skip 1 "shellcheck not installed"
fi
run mdeploy appspec validate "$top_srcdir/hooks/appspec.yml"
is "$rc" 0 "hooks/appspec.yml is a valid appspec"

command -v php >/dev/null 2>&1 || { done_testing; exit $?; }
command -v curl >/dev/null 2>&1 || { skip_all "curl not installed"; }

R="$TMP/root"
PIDF="$TMP/php.pid"
PORT=$(free_port) || skip_all "no free port"
trap 'kill "$(cat "$PIDF" 2>/dev/null)" 2>/dev/null; _tap_cleanup' EXIT

# "Reloading PHP" here restarts the built-in server on the new release.
cat >"$TMP/reload.sh" <<EOF2
#!/bin/sh
[ -f "$PIDF" ] && kill "\$(cat "$PIDF")" 2>/dev/null && sleep 0.3
php -S 127.0.0.1:$PORT -t "\$(readlink -f "$R/current")" >/dev/null 2>&1 &
echo \$! >"$PIDF"
EOF2
chmod +x "$TMP/reload.sh"

cat >"$TMP/params" <<'EOF2'
# parameters and secrets, as the orchestrator writes them
MOODLE_DBTYPE=pgsql
MOODLE_DBHOST=db.internal
MOODLE_DBNAME=moodle
MOODLE_DBUSER=moodle
MOODLE_DBPASS=pa'ss\word$HOME
MOODLE_WWWROOT=https://moodle.example.org
MOODLE_SSLPROXY=true
MOODLE_REDIS_HOST=redis.internal
MOODLE_REDIS_PASSWORD=re'dis\pw
EOF2
chmod 600 "$TMP/params"

agent() {
	_id=$1; shift
	run mdeploy agent install --root "$R" --deployment-id "$_id" --instance-addr 127.0.0.1 \
		--env MDEPLOY_PARAMS_FILE="$TMP/params" --env MDEPLOY_HTTP_PORT="$PORT" \
		--env MDEPLOY_PHP_RELOAD="$TMP/reload.sh" --env MDEPLOY_VALIDATE_TRIES=10 "$@"
}

"$top_srcdir/t/fixtures/mkmoodle-release.sh" "$TMP/rel1"
agent d-1 "$TMP/rel1"
is "$rc" 0 "first deployment of a Moodle release succeeds"
[ "$rc" = 0 ] || diag "$err"
C="$R/releases/d-1/config.php"
is "$(stat -c %a "$C")" 640 "config.php has mode 0640"
is "$(cd "$R/releases/d-1" && php -r 'define("CLI_SCRIPT", true); require "config.php"; echo $CFG->dbpass;')" \
	'pa'"'"'ss\word$HOME' "config.php: secrets with quotes and backslashes survive PHP's parser"
cfg=$(cat "$C")
like "$cfg" "\$CFG->dataroot  = '$R/shared/moodledata';" "config.php: dataroot on shared storage"
like "$cfg" "\$CFG->localcachedir = '$R/localcache/d-1';" "config.php: localcachedir on local disk, per release"
like "$cfg" "\$CFG->sslproxy  = true;" "config.php: sslproxy"
like "$cfg" "\$CFG->session_handler_class = '\\core\\session\\redis';" "config.php: Redis session handler"
like "$cfg" "\$CFG->session_redis_host = 'redis.internal';" "config.php: Redis host"
is "$(cd "$R/releases/d-1" && php -r 'define("CLI_SCRIPT", true); require "config.php"; echo $CFG->session_redis_auth;')" \
	're'"'"'dis\pw' "config.php: the Redis password (session_redis_auth) survives PHP's parser"
like "$cfg" "\$CFG->wwwroot   = 'https://moodle.example.org';" "config.php: wwwroot"
log=$(cat "$R/logs/d-1.log")
unlike "$log" "word" "the password never reaches the deployment log"
unlike "$err" "word" "... nor the agent's output"
ok "$([ -f "$R/localcache/d-1/core_component.php" ]; echo $?)" "alternative component cache built"
like "$log" "no upgrade pending: nothing to do" "upgrade hook: nothing pending, no maintenance window"
like "$log" "login/index.php answered HTTP 200" "ValidateService: login page 200"
like "$log" "OK: All 'status' checks OK" "ValidateService: admin/cli/checks.php ran"
ok "$([ ! -e "$R/shared/moodledata/climaintenance.html" ]; echo $?)" "not in maintenance"

# A release that needs an upgrade: maintenance on, upgrade, maintenance off.
: >"$R/shared/moodledata/upgrade-pending"
: >"$R/shared/moodledata/calls"
"$top_srcdir/t/fixtures/mkmoodle-release.sh" "$TMP/rel2"
agent d-2 "$TMP/rel2"
is "$rc" 0 "deployment with an upgrade succeeds"
is "$(grep -v -e '^checks' -e '^alternative' "$R/shared/moodledata/calls" | tr '\n' '|')" \
	"upgrade.php --is-pending|maintenance.php --enable|upgrade.php --non-interactive|maintenance.php --disable|" \
	"upgrade hook: maintenance on, upgrade, maintenance off"
ok "$([ ! -e "$R/shared/moodledata/climaintenance.html" ]; echo $?)" "maintenance off after the upgrade"

# With --no-once-hooks (another instance upgrades) the upgrade hook is skipped.
: >"$R/shared/moodledata/upgrade-pending"
: >"$R/shared/moodledata/calls"
"$top_srcdir/t/fixtures/mkmoodle-release.sh" "$TMP/rel3"
agent d-3 --no-once-hooks "$TMP/rel3"
is "$rc" 0 "--no-once-hooks deployment succeeds"
unlike "$(cat "$R/shared/moodledata/calls")" "upgrade.php" "--no-once-hooks: upgrade not run here"

# A failing upgrade fails loudly and leaves maintenance on.
: >"$R/shared/moodledata/upgrade-fails"
"$top_srcdir/t/fixtures/mkmoodle-release.sh" "$TMP/rel4"
agent d-4 "$TMP/rel4"
is "$rc" 1 "failing upgrade: deployment fails"
like "$err" "AfterInstall: script 'mdeploy-hooks/upgrade.sh' exited with status 1" "failing upgrade: names the hook"
like "$err" "UPGRADE FAILED: the site stays in maintenance mode" "failing upgrade: says so loudly"
ok "$([ -e "$R/shared/moodledata/climaintenance.html" ]; echo $?)" "failing upgrade: maintenance left on"
is "$(basename "$(readlink "$R/current")")" d-3 "failing upgrade: previous release live"
rm -f "$R/shared/moodledata/upgrade-fails" "$R/shared/moodledata/upgrade-pending" "$R/shared/moodledata/climaintenance.html"

# Under mdeploy's upgrade gate maintenance is already on when the upgrade
# runs: it stays on (the orchestrator turns it off once traffic has moved
# to the new code); with nothing pending nothing changes either.
upgrade_hook() {
	(cd "$R/current" && MDEPLOY_PARAMS_FILE="$TMP/params" MDEPLOY_SHARED_DIR="$R/shared" \
		MDEPLOY_RELEASE_DIR="$(pwd -P)" sh mdeploy-hooks/upgrade.sh)
}
: >"$R/shared/moodledata/upgrade-pending"
: >"$R/shared/moodledata/calls"
: >"$R/shared/moodledata/climaintenance.html"
run upgrade_hook
is "$rc" 0 "gate: the upgrade under maintenance succeeds"
is "$(grep -v -e '^checks' -e '^alternative' "$R/shared/moodledata/calls" | tr '\n' '|')" \
	"upgrade.php --is-pending|upgrade.php --non-interactive|" "gate: upgrade without touching maintenance"
ok "$([ -e "$R/shared/moodledata/climaintenance.html" ]; echo $?)" "gate: maintenance stays on after the upgrade"
like "$out" "maintenance mode stays on" "gate: the hook says so"
rm -f "$R/shared/moodledata/upgrade-pending"
: >"$R/shared/moodledata/calls"
run upgrade_hook
is "$rc:$(grep -c maintenance "$R/shared/moodledata/calls")" "0:0" "gate: nothing pending, maintenance untouched"
ok "$([ -e "$R/shared/moodledata/climaintenance.html" ]; echo $?)" "gate: nothing pending, maintenance still on"
rm -f "$R/shared/moodledata/climaintenance.html"

# In maintenance (the upgrade gate validates green before it goes off)
# Moodle's maintenance answer, 503 with Retry-After, is the one expected.
validate_hook() {
	(cd "$R/current" && MDEPLOY_PARAMS_FILE="$TMP/params" MDEPLOY_SHARED_DIR="$R/shared" \
		MDEPLOY_RELEASE_DIR="$(pwd -P)" MDEPLOY_INSTANCE_ADDR=127.0.0.1 MDEPLOY_HTTP_PORT="$PORT" \
		MDEPLOY_VALIDATE_TRIES=2 sh mdeploy-hooks/validate-service.sh)
}
: >"$R/shared/moodledata/climaintenance.html"
run validate_hook
is "$rc" 0 "ValidateService in maintenance: Moodle's maintenance page passes"
like "$out" "answered HTTP 503 with Retry-After (Moodle's maintenance page: maintenance mode is on)" \
	"ValidateService in maintenance: says what it accepted"
: >"$R/shared/moodledata/no-retry-after"
run validate_hook
is "$rc" 1 "ValidateService in maintenance: a 503 without Retry-After fails"
like "$err" "answered HTTP 503 without Retry-After, not 503 with Retry-After" "and says so"
rm -f "$R/shared/moodledata/climaintenance.html" "$R/shared/moodledata/no-retry-after"

# ValidateService fails when the login page does not answer 200.
: >"$R/shared/moodledata/login-500"
"$top_srcdir/t/fixtures/mkmoodle-release.sh" "$TMP/rel5"
MDEPLOY_VALIDATE_TRIES=2 agent d-5 --env MDEPLOY_VALIDATE_TRIES=2 "$TMP/rel5"
is "$rc" 1 "login page 500: deployment fails"
like "$err" "answered HTTP 500, not 200" "login page 500: says what it got"
like "$(ps -o args= -p "$(cat "$PIDF")")" "$R/releases/d-3" "login page 500: PHP serves the previous release again"
rm -f "$R/shared/moodledata/login-500"

# ... and when checks.php reports something critical.
: >"$R/shared/moodledata/checks-critical"
"$top_srcdir/t/fixtures/mkmoodle-release.sh" "$TMP/rel6"
agent d-6 "$TMP/rel6"
is "$rc" 1 "critical check: deployment fails"
like "$err" "admin/cli/checks.php reports a critical problem" "critical check: named"
rm -f "$R/shared/moodledata/checks-critical"

# A missing parameter is named, and nothing is rendered.
grep -v MOODLE_DBHOST "$TMP/params" >"$TMP/params2" && mv "$TMP/params2" "$TMP/params"
"$top_srcdir/t/fixtures/mkmoodle-release.sh" "$TMP/rel7"
agent d-7 "$TMP/rel7"
is "$rc" 1 "missing parameter: deployment fails"
like "$err" "parameter MOODLE_DBHOST is not set" "missing parameter: named"
ok "$([ ! -e "$R/releases/d-7/config.php" ]; echo $?)" "missing parameter: no config.php"

# Behind the load balancer: wwwroot defaults to its URL; reverseproxy when
# users reach another port than the instance's (Moodle redirects every
# request otherwise), not when they agree (Moodle refuses that); sslproxy
# for an https wwwroot.
printf 'MOODLE_DBHOST=db\nMOODLE_DBNAME=m\nMOODLE_DBUSER=m\nMOODLE_DBPASS=p\n' >"$TMP/lbparams"
# render [VAR=VALUE...]: after-install.sh of the live release, as the orchestrator runs it.
render() {
	(cd "$R/current" && env MDEPLOY_PARAMS_FILE="$TMP/lbparams" MDEPLOY_SHARED_DIR="$R/shared" \
		MDEPLOY_RELEASE_DIR="$(pwd -P)" MDEPLOY_PHP=true "$@" sh mdeploy-hooks/after-install.sh)
}
cfg() { cat "$R/current/config.php"; }
run render MDEPLOY_LB_URL=http://127.0.0.1:8000 MDEPLOY_HTTP_PORT=8080
is "$rc" 0 "no MOODLE_WWWROOT: config.php rendered"
like "$(cfg)" "\$CFG->wwwroot   = 'http://127.0.0.1:8000';" "wwwroot defaults to the load balancer's URL"
like "$(cfg)" "\$CFG->reverseproxy = true;" "load balancer port 8000, instance 8080: reverseproxy"
unlike "$(cfg)" "sslproxy" "plain HTTP: no sslproxy"
run render MDEPLOY_LB_URL=http://127.0.0.1:8080 MDEPLOY_HTTP_PORT=8080
unlike "$(cfg)" "reverseproxy" "same port: no reverseproxy"
run render MDEPLOY_LB_URL=https://moodle.example.org MDEPLOY_HTTP_PORT=8080
like "$(cfg)" "\$CFG->sslproxy  = true;" "an https load balancer: sslproxy"
unlike "$(cfg)" "reverseproxy" "no explicit port in wwwroot: no reverseproxy"
run render MOODLE_WWWROOT=http://moodle.example.org:8443/ MOODLE_REVERSEPROXY=false \
	MDEPLOY_LB_URL=http://127.0.0.1:8000 MDEPLOY_HTTP_PORT=8080
like "$(cfg)" "\$CFG->wwwroot   = 'http://moodle.example.org:8443';" "MOODLE_WWWROOT wins, its trailing / dropped"
unlike "$(cfg)" "reverseproxy" "MOODLE_REVERSEPROXY=false is obeyed"
run render MDEPLOY_LB_URL=http://0.0.0.0:8000 MDEPLOY_HTTP_PORT=8080
like "$err" "MOODLE_WWWROOT 'http://0.0.0.0:8000' is no address users can reach" \
	"a load balancer on every address cannot be the wwwroot: refused, named"
run render MOODLE_SSLPROXY=true MDEPLOY_LB_URL=http://127.0.0.1:8000 MDEPLOY_HTTP_PORT=8080
like "$err" "MOODLE_SSLPROXY is true but MOODLE_WWWROOT is not https://" "sslproxy without https: refused"
# validate-service.sh: no port-80 default.
run sh -c "cd '$R/current' && MDEPLOY_PARAMS_FILE='$TMP/lbparams' MDEPLOY_INSTANCE_ADDR=127.0.0.1 \
	MDEPLOY_LB_URL=http://127.0.0.1:8000 sh mdeploy-hooks/validate-service.sh"
is "$rc" 1 "validate-service.sh without MDEPLOY_HTTP_PORT fails"
like "$err" "MDEPLOY_INSTANCE_ADDR and MDEPLOY_HTTP_PORT are not both set" "... saying what is missing"
done_testing
