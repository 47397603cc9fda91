#!/bin/sh
# What hooks get from the orchestrator (mdeploy-hooks(7)): the group's
# parameters (/APP/GROUP/NAME) and secrets (APP/GROUP/NAME) as environment
# variables, the instance's port and the load balancer's URL; a secret never
# on a command line, in the state directory, a log or the journal; runas
# hooks get them too; a name that cannot be a variable stops the deployment
# before anything changes.
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-deploy.sh"
deploy_test_init 41

cd "$TMP" || exit 1
cat >mdeploy.yml <<EOF2
application:
  name: envapp
groups:
  - name: prod
    fleet: { size: 2, min: 1, max: 4, port: $port }
    load_balancer: { listen: 127.0.0.1:$lbport }
    health_check: { path: /, interval: 500ms }
EOF2

secret="S3cr-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
mdeploy -q params put /envapp/prod/MOODLE_DBHOST db.example.org >/dev/null || exit 1
mdeploy -q params put /envapp/prod/MOODLE_FULLNAME 'Our "site" $HOME `id` x' >/dev/null || exit 1
mdeploy -q params put /envapp/staging/ONLY_STAGING nope >/dev/null || exit 1
printf '%s' "$secret" | mdeploy -q secrets put envapp/prod/MOODLE_DBPASS >/dev/null || exit 1
printf 'other' | mdeploy -q secrets put envapp/staging/MOODLE_DBPASS >/dev/null || exit 1

hookuser=
# A runas hook must reach the release, in the instance's root under the
# state directory (mode 0700, like the test's directory): let it through.
mkdir -p "$MDEPLOY_STATE_DIR/local"
chmod 711 "$TMP" "$MDEPLOY_STATE_DIR" "$MDEPLOY_STATE_DIR/local"
if [ "$(id -u)" = 0 ] && { id mdeploy-hook >/dev/null 2>&1 || useradd -M -d /nonexistent -s /bin/sh mdeploy-hook 2>/dev/null; }; then
	hookuser=mdeploy-hook
fi

# A release whose hooks write down what they were given (in $TMP/seen, which
# is the test's, not the deployment's) and look for the secret in every
# process's command line while they run.
mkdir -p rel/hooks seen
chmod 1777 seen
printf '<?php echo "ok\\n";\n' >rel/index.php
cat >rel/appspec.yml <<EOF2
version: 0.0
os: linux
hooks:
  AfterInstall:
    - location: hooks/env.sh
EOF2
if [ -n "$hookuser" ]; then
	cat >>rel/appspec.yml <<EOF2
    - location: hooks/env.sh
      runas: $hookuser
EOF2
fi
cat >>rel/appspec.yml <<EOF2
  ValidateService:
    - location: hooks/validate.sh
EOF2
cat >rel/hooks/env.sh <<EOF2
#!/bin/sh
out=$TMP/seen/\$MDEPLOY_INSTANCE_ID.\$(id -un)
{
	printf 'DBHOST=%s\n' "\$MOODLE_DBHOST"
	printf 'FULLNAME=%s\n' "\$MOODLE_FULLNAME"
	printf 'DBPASS=%s\n' "\$MOODLE_DBPASS"
	printf 'ONLY_STAGING=%s\n' "\${ONLY_STAGING-unset}"
	printf 'PORT=%s\n' "\$MDEPLOY_HTTP_PORT"
	printf 'LB=%s\n' "\$MDEPLOY_LB_URL"
	printf 'ADDR=%s\n' "\$MDEPLOY_INSTANCE_ADDR"
	# awk takes the secret from its environment: its own argv must not hold it.
	if cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\0' '\n' |
		awk 'index(\$0, ENVIRON["MOODLE_DBPASS"]) { f = 1 } END { exit !f }'; then
		echo ARGV=found
	else
		echo ARGV=clean
	fi
} >"\$out"
echo "hook ran"
# A careless hook prints the secret, split across two writes: the agent masks it.
printf 'the password is %.4s' "\$MOODLE_DBPASS"; printf '%s, said the hook\n' "\${MOODLE_DBPASS#????}"
[ ! -f "$TMP/fail" ] || { echo "failing with \$MOODLE_DBPASS"; exit 3; }
EOF2
cat >rel/hooks/validate.sh <<'EOF2'
#!/bin/sh
curl -sf "http://$MDEPLOY_INSTANCE_ADDR:$MDEPLOY_HTTP_PORT/" >/dev/null
EOF2
chmod 755 rel/hooks/*.sh
mdeploy -q bundle create rel rel.tar.zst >/dev/null || exit 1

plan 22

run mdeploy deploy create prod rel.tar.zst
is "$rc" 0 "deploy create succeeds"
[ "$rc" = 0 ] || diag "$err"
set -- seen/*.root
is "$#" 2 "the hook ran on both instances"
f=$1
is "$(sed -n 's/^DBHOST=//p' "$f")" db.example.org "a parameter /APP/GROUP/NAME reaches the hooks as NAME"
is "$(sed -n 's/^FULLNAME=//p' "$f")" 'Our "site" $HOME `id` x' "its value arrives as it is, not evaluated"
is "$(sed -n 's/^DBPASS=//p' "$f")" "$secret" "a secret APP/GROUP/NAME reaches the hooks as NAME"
is "$(sed -n 's/^ONLY_STAGING=//p' "$f")" unset "another group's parameters do not"
is "$(sed -n 's/^PORT=//p' "$f")" "$port" "MDEPLOY_HTTP_PORT is the group's instance port"
is "$(sed -n 's/^LB=//p' "$f")" "http://127.0.0.1:$lbport" "MDEPLOY_LB_URL is the load balancer's URL"
is "$(sed -n 's/^ARGV=//p' "$f")" clean "the secret is on no process's command line while hooks run"
if [ -n "$hookuser" ]; then
	set -- seen/*."$hookuser"
	is "$#" 2 "the runas hook ran on both instances as $hookuser"
	is "$(sed -n 's/^DBPASS=//p' "$1")" "$secret" "a runas hook gets the secret too"
else
	skip 2 "runas needs root and a user to switch to"
fi
like "$(cat "$MDEPLOY_STATE_DIR"/local/instances/*/logs/*.log)" "the password is ***, said the hook" \
	"a hook printing the secret: masked in the deployment log"
is "$(grep -rlF -- "$secret" "$MDEPLOY_STATE_DIR" 2>/dev/null)" "" \
	"the secret is nowhere in the state directory (logs, journal, instances)"
run mdeploy --json deploy history prod
unlike "$out$err" "$secret" "nor in deploy history"

# A hook that fails printing the secret: the error (the output's last lines)
# and the failed deployment's logs kept in the state directory mask it.
: >"$TMP/fail"
run mdeploy deploy create prod rel.tar.zst
is "$rc" 1 "a failing hook fails the deployment"
like "$err" "failing with ***" "the error quotes the hook's output with the secret masked"
unlike "$err" "$secret" "... and not the secret"
is "$(grep -rlF -- "$secret" "$MDEPLOY_STATE_DIR" 2>/dev/null)" "" \
	"the failed deployment's logs and journal do not hold it either"
rm -f "$TMP/fail"

# A name that cannot be a variable: refused, naming it, before anything changes.
mdeploy -q params put /envapp/prod/db-port 5432 >/dev/null || exit 1
fleets_before=$(mdeploy --json fleet list | jq -r '.fleets[].name' | sort | tr '\n' ' ')
run mdeploy deploy create prod rel.tar.zst
is "$rc" 1 "a parameter whose name is no variable name fails the deployment"
like "$err" "parameter '/envapp/prod/db-port': 'db-port' is not an environment variable name" "the error names it"
is "$(mdeploy --json fleet list | jq -r '.fleets[].name' | sort | tr '\n' ' ')" "$fleets_before" \
	"no fleet was created"
mdeploy -q params delete /envapp/prod/db-port >/dev/null
mdeploy -q params put /envapp/prod/MDEPLOY_HTTP_PORT 80 >/dev/null || exit 1
run mdeploy deploy create prod rel.tar.zst
like "$err" "MDEPLOY_HTTP_PORT is set by mdeploy for every hook and cannot be replaced" \
	"a parameter cannot replace what mdeploy sets"
done_testing
