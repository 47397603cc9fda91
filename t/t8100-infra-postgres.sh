#!/bin/sh
# mdeploy infra on the local provider, its PostgreSQL part: plan does
# nothing; apply starts a real PostgreSQL 15 cluster under the state
# directory with a database and role per group whose password is only in
# the secret store, writes MOODLE_DB* and MOODLE_DATAROOT parameters; a
# second apply changes nothing; the server outlives mdeploy; status checks
# it live (a login over TCP) and fails when it is down; apply starts it
# again; an apply killed (-9) half-way is resumed by the next; destroy
# keeps the data, --delete-data removes it with the parameters and secrets.
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-infra.sh"
infra_test_init
trap infra_test_cleanup EXIT

plan 35
cd "$TMP" || exit 1
infra_two_groups || exit 1

run mdeploy --json infra plan
is "$rc" 0 "infra plan succeeds before anything exists"
is "$(printf '%s' "$out" | jq -r '[.changes[] | select(.type != "parameter" and .type != "secret") | "\(.action) \(.resource)"] | join(",")')" \
	"create postgresql,create redis,create certificate,create database/prod,create dataroot/prod,create database/staging,create dataroot/staging" \
	"it would create the cluster, a database and a dataroot per group"
ok "$([ ! -e "$MDEPLOY_STATE_DIR/infra" ]; echo $?)" "... and creates nothing"

t0=$(date +%s%N)
run mdeploy --json infra apply
is "$rc" 0 "infra apply succeeds ($((($(date +%s%N) - t0) / 1000000)) ms)"
[ "$rc" = 0 ] || diag "$err"
is "$(printf '%s' "$out" | jq -r '.changed')" true "it reports changes"
port=$(mdeploy params get /moodle/prod/MOODLE_DBPORT 2>/dev/null)
pgpid=$(head -n 1 "$MDEPLOY_STATE_DIR/infra/postgresql/data/postmaster.pid" 2>/dev/null)
ok "$(kill -0 "$pgpid" 2>/dev/null; echo $?)" "the postmaster runs after mdeploy exited (pid $pgpid)"
is "$(ss -Hltn "sport = :$port" | awk '{print $4}')" "127.0.0.1:$port" "it listens on 127.0.0.1:$port only"
if [ "$(id -u)" = 0 ]; then
	is "$(stat -c %U "$MDEPLOY_STATE_DIR/infra/postgresql/data")" postgres "as root, the cluster belongs to postgres"
else
	ok 0 "the cluster belongs to the user running mdeploy"
fi

vals=
for k in MOODLE_DBTYPE MOODLE_DBHOST MOODLE_DBNAME MOODLE_DBUSER; do
	vals="$vals $(mdeploy params get "/moodle/staging/$k")"
done
is "$vals" " pgsql 127.0.0.1 moodle_staging moodle_staging" "the staging group's parameters name its own database"
is "$(stat -c %a "$(mdeploy params get /moodle/prod/MOODLE_DATAROOT)")" 2770 "the prod dataroot exists with mode 2770"

# The role logs in over TCP with the secret, through a 0600 password file.
pw=$(mdeploy secrets get --reveal moodle/prod/MOODLE_DBPASS)
ok "$([ ${#pw} -ge 24 ]; echo $?)" "the database password is a generated secret (${#pw} characters)"
(umask 077 && printf '127.0.0.1:%s:moodle_prod:moodle_prod:%s\n' "$port" "$pw" >"$TMP/pgpass")
is "$(PGPASSFILE=$TMP/pgpass psql -X -A -t -w -h 127.0.0.1 -p "$port" -U moodle_prod -d moodle_prod \
	-c 'SELECT current_user' 2>&1)" moodle_prod "moodle_prod logs in over TCP with the secret's password"
(umask 077 && printf '127.0.0.1:%s:moodle_prod:moodle_prod:wrong\n' "$port" >"$TMP/pgpass")
ok "$(PGPASSFILE=$TMP/pgpass psql -X -w -h 127.0.0.1 -p "$port" -U moodle_prod -d moodle_prod \
	-c 'SELECT 1' >/dev/null 2>&1; [ $? != 0 ]; echo $?)" "... and not with another (scram-sha-256)"
rm -f "$TMP/pgpass"
is "$(grep -rlaF -- "$pw" "$MDEPLOY_STATE_DIR" | wc -l)" 0 \
	"the password is in no file of the state directory (server log, journal, records)"

run mdeploy --json infra apply
is "$(printf '%s' "$out" | jq -r '"\(.count) \(.changed)"')" "0 false" "a second apply changes nothing"
run mdeploy infra apply
like "$out" "no changes" "... and says so"

run mdeploy --json infra status
is "$rc" 0 "infra status exits 0 when everything is up"
is "$(printf '%s' "$out" | jq -r '[.resources[] | "\(.name)=\(.up)"] | join(" ")')" \
	"certificate=true database/prod=true database/staging=true dataroot/prod=true dataroot/staging=true postgresql=true redis=true" \
	"every resource is up (the databases by a login over TCP)"

run mdeploy --json infra outputs
is "$(printf '%s' "$out" | jq -r '.outputs["/moodle/prod/MOODLE_DBPORT"] + " " + (.outputs["moodle/prod/MOODLE_DBPASS"].secret | tostring)')" \
	"$port true" "outputs give the port and name the password's secret"
unlike "$out" "$pw" "... without its value"

# A server that died: status says so and fails; apply starts it again.
kill -9 "$pgpid"
i=0; while kill -0 "$pgpid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
run mdeploy --json infra status
is "$rc" 1 "infra status exits 1 when PostgreSQL is down"
is "$(printf '%s' "$out" | jq -r '.resources[] | select(.name == "postgresql") | .up')" false "... and shows it down"
run mdeploy --json infra apply
is "$(printf '%s' "$out" | jq -r '[.changes[] | "\(.action) \(.resource)"] | join(",")')" "start postgresql" \
	"apply starts it again, changing nothing else"
run mdeploy infra status
is "$rc" 0 "everything is up again"

# destroy keeps the data; apply starts the same cluster again.
run mdeploy --json infra destroy
is "$(printf '%s' "$out" | jq -r '[.changes[] | "\(.action) \(.resource)"] | join(",")')" "stop redis,stop postgresql" \
	"destroy stops the servers"
ok "$([ -f "$MDEPLOY_STATE_DIR/infra/postgresql/data/PG_VERSION" ] &&
	! kill -0 "$(head -n 1 "$MDEPLOY_STATE_DIR/infra/postgresql/data/postmaster.pid" 2>/dev/null)" 2>/dev/null; echo $?)" \
	"... and keeps its data"
run mdeploy infra apply
is "$(mdeploy --json infra status | jq -r .up)" true "apply after destroy brings it back on the same data"
run mdeploy --json infra destroy --delete-data
ok "$([ "$rc" = 0 ] && [ ! -e "$MDEPLOY_STATE_DIR/infra" ] &&
	! mdeploy params get /moodle/prod/MOODLE_DBPORT >/dev/null 2>&1; echo $?)" \
	"destroy --delete-data removes the data and the parameters"
is "$(printf '%s' "$out" | jq -r '[.changes[] | select(.data_loss) | .resource] | sort | join(",")')" \
	"certificate,database/prod,database/staging,dataroot/prod,dataroot/staging,postgresql,redis" "... and marks each data loss"
is "$(mdeploy --json secrets list | jq -r '.secrets | length')" 0 \
	"... and the secrets apply made (passwords of the databases and Redis)"
is "$(printf '%s' "$out" | jq -r '[.changes[] | select(.type == "secret") | .resource] | sort | join(",")')" \
	"secret mdeploy-infra/local/REDIS_PASSWORD,secret moodle/prod/MOODLE_DBPASS,secret moodle/prod/MOODLE_REDIS_PASSWORD,secret moodle/staging/MOODLE_DBPASS,secret moodle/staging/MOODLE_REDIS_PASSWORD" \
	"... each reported"

# kill -9 during apply: the next apply resumes, nothing is left unknown.
export MDEPLOY_STATE_DIR="$TMP/state2"
"$MDEPLOY" infra apply >/dev/null 2>&1 &
apid=$!
i=0
while [ $i -lt 200 ]; do
	[ -f "$MDEPLOY_STATE_DIR/infra/postgresql/data/PG_VERSION" ] ||
		pgrep -f "initdb -D $MDEPLOY_STATE_DIR" >/dev/null && break
	sleep 0.02; i=$((i + 1))
done
kill -9 "$apid"; wait "$apid" 2>/dev/null
run mdeploy --json infra plan
like "$(printf '%s' "$out" | jq -r '[.changes[] | "\(.action) \(.resource)"] | join(",")')" "resume postgresql" \
	"after apply was killed during initdb, plan resumes the recorded cluster"
run mdeploy infra apply
is "$rc" 0 "the next apply finishes"
[ "$rc" = 0 ] || diag "$err"
is "$(mdeploy --json infra status | jq -r .up)" true "everything is up"
run mdeploy infra destroy --delete-data
is "$(pgrep -f "$TMP/" | wc -l)" 0 "nothing runs from the test's directory after destroy"
done_testing
