#!/bin/sh
# mdeploy.yml's infrastructure section with provider local: cache.engine
# none leaves Redis out (and the groups' MOODLE_REDIS_*); dataroot_owner
# gives the moodledata directories to that user, who can write there
# through the state directory; what local cannot build (memcached, another
# provider) and bad values are errors naming file, line and field, before
# anything is done.
. "${top_srcdir:-.}/t/lib.sh"

[ -x /usr/lib/postgresql/15/bin/initdb ] || { echo "Bail out! PostgreSQL 15 missing: apt-get install postgresql"; exit 1; }
command -v jq >/dev/null || { echo "Bail out! jq missing"; exit 1; }
[ "$(id -u)" = 0 ] && chmod 711 "$TMP"

infra_cleanup() {
	mdeploy infra destroy >/dev/null 2>&1
	for p in /proc/[0-9]*; do
		{ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -q "$TMP/" && kill -9 "${p#/proc/}" 2>/dev/null
	done
	_tap_cleanup
}
trap infra_cleanup EXIT

plan 10
cd "$TMP" || exit 1
owner=
[ "$(id -u)" = 0 ] && id www-data >/dev/null 2>&1 && owner=www-data
cat >mdeploy.yml <<EOF
application:
  name: cfg
groups:
  - name: prod
infrastructure:
  provider: local
  cache: { engine: none }
${owner:+  dataroot_owner: $owner}
EOF
run mdeploy --json infra plan
is "$rc" 0 "plan reads the infrastructure section"
is "$(printf '%s' "$out" | jq -r '[.changes[] | select(.type != "parameter" and .type != "secret") | .resource] | join(",")')" \
	"postgresql,certificate,database/prod,dataroot/prod" "cache.engine none: no Redis"
run mdeploy infra apply
is "$rc" 0 "apply succeeds"
[ "$rc" = 0 ] || diag "$err"
run mdeploy params get /cfg/prod/MOODLE_REDIS_HOST
is "$rc" 1 "the group gets no MOODLE_REDIS_HOST (sessions stay in the database)"
ok "$([ ! -e "$MDEPLOY_STATE_DIR/infra/redis" ]; echo $?)" "nothing of Redis under the state directory"
dr=$(mdeploy params get /cfg/prod/MOODLE_DATAROOT)
if [ -n "$owner" ]; then
	is "$(stat -c '%U %a' "$dr")" "$owner 2770" "dataroot_owner: the moodledata directory is $owner's, mode 2770"
	ok "$(runuser -u "$owner" -- touch "$dr/written"; echo $?)" "... and $owner can write there through the state directory"
else
	is "$(stat -c '%u %a' "$dr")" "$(id -u) 2770" "the moodledata directory is mdeploy's user's, mode 2770"
	ok 0 "# SKIP dataroot_owner needs root and a www-data user"
fi

cat >bad.yml <<'EOF'
application: { name: cfg }
infrastructure:
  cache: { engine: memcached }
EOF
run mdeploy --config bad.yml infra plan
is "$rc" 1 "a Memcached is not built locally"
like "$err" "bad.yml:3:20: infrastructure.cache.engine: memcached is not built locally (redis or none)" \
	"... said with its file, line and column"
cat >bad.yml <<'EOF'
application: { name: cfg }
infrastructure:
  dataroot_owner: "Not A User"
EOF
run mdeploy --config bad.yml infra apply
like "$err" "bad.yml:3:19: infrastructure.dataroot_owner: 'Not A User' is not a user name" \
	"a bad dataroot_owner is refused with its place"
done_testing
