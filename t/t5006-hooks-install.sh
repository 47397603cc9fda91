#!/bin/sh
# hooks/mdeploy-hooks/install.sh: the first install of the site, run by the
# agent against a Moodle-shaped release (t/fixtures/mkmoodle-release.sh)
# whose "database" is a file in the dataroot. An empty database is
# installed once, with the admin password from the parameters (a secret)
# kept off every command line and out of every log, then cron runs once; an
# installed one is left alone; a partial install, an empty database on a
# group that is not new, or a missing password fail with their reason.
. "${top_srcdir:-.}/t/lib.sh"

command -v php >/dev/null 2>&1 || skip_all "php not installed"
R="$TMP/root"
D="$R/shared/moodledata"
PASS='S3cr'"'"'et pa=ss $HOME "x"'

cat >"$TMP/params" <<EOF
MOODLE_DBHOST=db.internal
MOODLE_DBNAME=moodle
MOODLE_DBUSER=moodle
MOODLE_DBPASS=dbsecret
MOODLE_WWWROOT=https://moodle.example.org
MOODLE_ADMINPASS=$PASS
MOODLE_ADMINEMAIL=admin@example.org
MOODLE_FULLNAME=Example University
MOODLE_SHORTNAME=EU
EOF
chmod 600 "$TMP/params"

# agent ID [KIND]: deploy a new fixture release with the default hooks.
n=0
agent() {
	n=$((n + 1))
	"$top_srcdir/t/fixtures/mkmoodle-release.sh" "$TMP/rel$n"
	# ValidateService is another test's business (t5005): here only AfterInstall matters.
	sed -i '/^  ValidateService:/,$d' "$TMP/rel$n/appspec.yml"
	run mdeploy agent install ${2:+--env MDEPLOY_DEPLOYMENT_KIND=$2} --root "$R" --deployment-id "$1" \
		--instance-addr 127.0.0.1 --env MDEPLOY_PARAMS_FILE="$TMP/params" --env MDEPLOY_PHP_RELOAD=true "$TMP/rel$n"
}
calls() { grep -v -e '^alternative' "$D/calls" 2>/dev/null | tr '\n' '|'; }

mkdir -p "$D"
printf 'empty\n' >"$D/db-state"
agent d-1 install
is "$rc" 0 "an empty database on a first deployment: the site is installed"
[ "$rc" = 0 ] || diag "$err"
is "$(calls)" "install_database.php --agree-license --adminpass=(hidden) --adminuser=admin --adminemail=admin@example.org --fullname=Example University --shortname=EU --lang=en|cron.php --keep-alive=0|upgrade.php --is-pending|" \
	"install_database.php with the parameters, then cron once, then the upgrade check"
is "$(cat "$D/adminpass")" "$PASS" "the admin password is the secret's, intact (quotes, spaces, '=', '\$')"
is "$(cat "$D/cmdline")" clean "install_database.php's command line does not hold the password"
log=$(cat "$R/logs/d-1.log")
like "$log" "the database is empty: installing the site" "the hook says it installs"
like "$log" "admin/cli/cron.php ran once" "and that cron ran"
unlike "$log$out$err" "pa=ss" "the password is in no log or output"
is "$(cat "$D/db-state")" installed "the database is installed"

: >"$D/calls"
agent d-2 code-only
is "$rc" 0 "a redeploy succeeds"
is "$(calls)" "upgrade.php --is-pending|" "a redeploy does not install again (nor run cron)"
like "$(cat "$R/logs/d-2.log")" "the database holds a Moodle site (version 2024100700): nothing to install" "and says why"

: >"$D/calls"
printf 'empty\n' >"$D/db-state"
agent d-3 upgrade
is "$rc" 1 "an empty database on a group that is not new: refused"
like "$err" "the database is empty, but this is not the group's first deployment (upgrade)" "with the reason"
is "$(calls)" "" "nothing installed"

printf 'partial\n' >"$D/db-state"
agent d-4 install
is "$rc" 1 "a partial install fails"
like "$err" "no finished install (an install failed part way): drop those tables" "naming what to clean up"

printf 'down\n' >"$D/db-state"
agent d-4b install
is "$rc" 1 "a database Moodle cannot load a site from fails"
like "$err" "Moodle cannot load a site from the database: it cannot be reached, or it holds an install that failed part way" \
	"saying what it may be"
like "$err" "Moodle said: !!! Error: Database connection failed !!!" "with Moodle's own message"

printf 'empty\n' >"$D/db-state"
grep -v MOODLE_ADMINPASS "$TMP/params" >"$TMP/p2" && cat "$TMP/p2" >"$TMP/params"
agent d-5 install
is "$rc" 1 "no admin password: fails"
like "$err" "MOODLE_ADMINPASS (the admin password, a secret) is not set" "naming the parameter"
printf 'MOODLE_ADMINPASS=%s\n' "$PASS" >>"$TMP/params"

: >"$D/install-fails"
agent d-6
is "$rc" 1 "a failing install_database.php fails the deployment"
like "$err" "INSTALL FAILED" "loudly"
unlike "$(cat "$R/logs/d-6.log")$err$(cat "$D/calls")" "pa=ss" "the password is not in the failure's output either"
is "$(basename "$(readlink "$R/current")")" d-2 "the previous release stays live"
done_testing
