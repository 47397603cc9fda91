#!/bin/sh
# The first deployment to a group installs the site through the gate: `deploy
# plan` says "install" and what it checked; every green instance is installed
# without its `scope: once` hooks and without ValidateService; the once hooks
# run on one instance with MDEPLOY_DEPLOYMENT_KIND=install; every instance is
# validated after that, and only then is any instance behind the load
# balancer. A failed install leaves nothing serving. The next deployment is
# not an install.
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-deploy.sh"
deploy_test_init 97
export MDEPLOY_TEST_DATAROOT="$TMP/dataroot"
mkdir -p "$MDEPLOY_TEST_DATAROOT"

# mkrel NAME: a release whose `scope: once` hook "installs" the site (a file
# in the shared dataroot) and whose ValidateService fails until it exists.
# Every hook records what it saw; the LB's targets are recorded by the
# install hook (none may be registered yet).
mkrel() {
	mkdir -p "$1/hooks"
	printf '<?php echo "release %s\\n";\n' "$1" >"$1/index.php"
	cat >"$1/appspec.yml" <<'EOF'
version: 0.0
os: linux
hooks:
  AfterInstall:
    - location: hooks/after-install.sh
    - location: hooks/install.sh
      scope: once
  ValidateService:
    - location: hooks/validate.sh
EOF
	cat >"$1/hooks/after-install.sh" <<'EOF'
#!/bin/sh
echo "after-install on $MDEPLOY_INSTANCE_ID kind=$MDEPLOY_DEPLOYMENT_KIND" >>"$MDEPLOY_TEST_DATAROOT/log"
EOF
	cat >"$1/hooks/install.sh" <<'EOF'
#!/bin/sh
echo "install-hook on $MDEPLOY_INSTANCE_ID kind=$MDEPLOY_DEPLOYMENT_KIND" >>"$MDEPLOY_TEST_DATAROOT/log"
[ "$MDEPLOY_DEPLOYMENT_KIND" = install ] || exit 0
[ ! -f "$MDEPLOY_TEST_DATAROOT/fail-site-install" ] || { echo "install_database.php: on purpose" >&2; exit 1; }
: >"$MDEPLOY_TEST_DATAROOT/site"
EOF
	cat >"$1/hooks/validate.sh" <<'EOF'
#!/bin/sh
echo "validate on $MDEPLOY_INSTANCE_ID" >>"$MDEPLOY_TEST_DATAROOT/log"
[ ! -f "$MDEPLOY_TEST_DATAROOT/fail-validate" ] || { echo "CRITICAL: on purpose" >&2; exit 2; }
[ -f "$MDEPLOY_TEST_DATAROOT/site" ] || { echo "CRITICAL: no site installed" >&2; exit 2; }
EOF
	chmod +x "$1/hooks/"*.sh
	printf '{"components": {"core": "2024100700"}}\n' >"$1.json"
	"$MDEPLOY" -q bundle create --source-json "$1.json" "$1" "$1.tar.zst" >/dev/null || exit 1
}

cd "$TMP" || exit 1
cat >mdeploy.yml <<EOF
application:
  name: fi
groups:
  - name: prod
    fleet: { size: 2, min: 1, max: 4, port: $port }
    load_balancer: { listen: '127.0.0.1:$lbport', slots: 12 }
    health_check: { interval: 100ms, healthy_threshold: 1, unhealthy_threshold: 1 }
    alarms: { window: 100ms }
    drain_timeout: 1s
EOF
mkrel A
mkrel B

plan 22

# A failed site install: nothing serves, and the error shows the hook's message.
: >"$MDEPLOY_TEST_DATAROOT/fail-site-install"
run mdeploy deploy create prod A.tar.zst
is "$rc" 1 "a failed site install fails the first deployment"
like "$err" "site install on instance" "the error says the site install failed, and where"
like "$err" "install_database.php: on purpose" "and shows the install's own message"
run mdeploy --json lb show fi-prod
is "$(printf '%s' "$out" | jq '[.targets[]? | select(.weight > 0)] | length')" 0 "no instance serves after a failed install"
is "$(curl -s -o /dev/null -w '%{http_code}' -m 5 "http://127.0.0.1:$lbport/")" 503 "the load balancer has nothing to send to"
rm -f "$MDEPLOY_TEST_DATAROOT/fail-site-install"
: >"$MDEPLOY_TEST_DATAROOT/log"

run mdeploy deploy plan prod A.tar.zst
is "$rc" 0 "plan before the first (successful) deployment"
like "$out" "prod: install (first install of the site)" "plan: a group without a live release is an install"
unlike "$out" "installs or upgrades" "not 'installs or upgrades'"
like "$out" "checked: the group has no live release recorded; the database was not probed" \
	"plan says what it checked, and that it did not probe the database"
run mdeploy --json deploy plan prod A.tar.zst
is "$(printf '%s' "$out" | jq -r '"\(.kind) \(.upgrade)"')" "install true" "plan --json: kind install"

# The site install succeeds but validation fails: the next plan says a site is there.
: >"$MDEPLOY_TEST_DATAROOT/fail-validate"
run mdeploy deploy create prod A.tar.zst
is "$rc" 1 "validation fails after the site install"
run mdeploy --json deploy plan prod A.tar.zst
like "$(printf '%s' "$out" | jq -r '"\(.kind): \(.reason) / \(.checked)"')" \
	"install: first live release of group prod; deployment d-" "plan: still the first live release"
like "$(printf '%s' "$out" | jq -r .reason)" "already ran the site install (then failed), so the install step should find a site" \
	"plan: it says an earlier deployment installed the site"
rm -f "$MDEPLOY_TEST_DATAROOT/fail-validate" "$MDEPLOY_TEST_DATAROOT/site"
: >"$MDEPLOY_TEST_DATAROOT/log"

run mdeploy deploy create prod A.tar.zst
is "$rc" 0 "first deployment installs the site"
[ "$rc" = 0 ] || diag "$err"
log=$(sed 's/ on [^ ]*//' "$MDEPLOY_TEST_DATAROOT/log" | tr '\n' ';')
is "$log" "after-install kind=install;after-install kind=install;install-hook kind=install;validate;validate;" \
	"both instances installed, the site installed once (kind=install), then both validated"
run mdeploy --json deploy status
steps=$(printf '%s' "$out" | jq -r '[.steps[] | .step] | join(",")')
like "$steps" "install,install,install-site,validate,validate,register,register,health" \
	"installs, the site install, validation, and only then registration"
unlike "$steps" "maintenance" "no maintenance step on a first install (nothing served)"
is "$(curl -s -m 5 "http://127.0.0.1:$lbport/")" "release A" "A serves"

: >"$MDEPLOY_TEST_DATAROOT/log"
run mdeploy --json deploy plan prod B.tar.zst
is "$(printf '%s' "$out" | jq -r .kind)" code-only "plan: the next deployment is not an install"
run mdeploy deploy create prod B.tar.zst
is "$rc" 0 "second deployment"
[ "$rc" = 0 ] || diag "$err"
is "$(grep -c 'kind=install' "$MDEPLOY_TEST_DATAROOT/log")" 0 "its hooks are not told to install"
is "$(grep -c '^install-hook on .* kind=code-only$' "$MDEPLOY_TEST_DATAROOT/log")" 1 \
	"the once hook runs on one instance, told it is code-only"
done_testing
