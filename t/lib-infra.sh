# lib-infra.sh - shared setup of the local infrastructure tests (t81NN).
# Source after lib.sh:
#   . "$top_srcdir/t/lib.sh"; . "$top_srcdir/t/lib-infra.sh"; infra_test_init
#
# infra_test_init [redis]: fails the test (Bail out!, naming the package)
# without PostgreSQL 15's server, jq, or, with `redis`, redis-server and
# redis-cli: they are part of CI. As root, opens $TMP to PostgreSQL, which
# runs as `postgres`.
# infra_test_cleanup: kills the PostgreSQL servers of the test's state
# directories ($TMP/state*) and every process whose command line names a
# path in $TMP, then cleans up as lib.sh does. Tests whose servers should
# stop cleanly first run `mdeploy infra destroy` in their trap before it.
# infra_two_groups: in the current directory, an mdeploy.yml of application
# moodle with groups prod and staging, load balancers on 127.0.0.1:$lb1 and
# 127.0.0.1:$lb2 (free ports).

infra_test_init() {
	[ -x /usr/lib/postgresql/15/bin/initdb ] ||
		{ echo "Bail out! PostgreSQL 15 missing: apt-get install postgresql"; exit 1; }
	if [ "${1:-}" = redis ]; then
		command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
			{ echo "Bail out! redis-server missing: apt-get install redis-server"; exit 1; }
	fi
	command -v jq >/dev/null || { echo "Bail out! jq missing"; exit 1; }
	[ "$(id -u)" = 0 ] && chmod 711 "$TMP"
	return 0
}

infra_test_cleanup() {
	for _d in "$TMP"/state*/infra/postgresql/data; do
		[ -f "$_d/postmaster.pid" ] || continue
		kill -9 "$(head -n 1 "$_d/postmaster.pid")" 2>/dev/null
	done
	for _p in /proc/[0-9]*; do
		{ tr '\0' ' ' <"$_p/cmdline"; } 2>/dev/null | grep -q "$TMP/" && kill -9 "${_p#/proc/}" 2>/dev/null
	done
	_tap_cleanup
}

infra_two_groups() {
	lb1=$(free_port) && lb2=$(free_port) || return 1
	cat >mdeploy.yml <<EOT
application:
  name: moodle
groups:
  - name: prod
    load_balancer: { listen: 127.0.0.1:$lb1 }
  - name: staging
    load_balancer: { listen: 127.0.0.1:$lb2 }
EOT
}
