#!/bin/sh
# mdeploy pipeline: a deploy action through the blue/green orchestrator -
# a release made by a shell action, bundled and signed by a build action,
# deployed to PHP instances behind HAProxy, then checked through the load
# balancer by a later action that gets the deployment id.
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-deploy.sh"
. "$top_srcdir/t/lib-pipeline.sh"
deploy_test_init 77

cd "$TMP" || exit 1
pipeline_ship_setup demo || exit 1
pipeline_ship_yml '' '' '        namespace: D'
cat >>pipelines/ship.yml <<EOF
      - name: Check
        type: shell
        run_order: 2
        command: |
          curl -s -m 5 http://127.0.0.1:$lbport/ > $TMP/served
          echo "#{D.deployment_id}" > $TMP/deployment
EOF
# The hook checks the instance and writes down the group's parameter and
# secret (mdeploy-hooks(7)): a deploy action gives hooks what deploy create does.
# While $TMP/hold exists it waits (at most 2 minutes): a deployment held
# in progress for the kill -9 below, however fast or slow the machine is.
cat >validate.sh <<EOF
#!/bin/sh
n=0
while [ -e "$TMP/hold" ] && [ \$n -lt 1200 ]; do sleep 0.1; n=\$((n + 1)); done
curl -sf "http://\$MDEPLOY_INSTANCE_ADDR:\$MDEPLOY_HTTP_PORT/" >/dev/null || exit 9
printf '%s|%s\\n' "\$SITE_NAME" "\$SITE_PASS" >"$TMP/hookenv"
EOF
chmod 755 validate.sh
mdeploy -q params put /demo/prod/SITE_NAME "Our site" >/dev/null || exit 1
printf 'pipeline-secret' | mdeploy -q secrets put demo/prod/SITE_PASS >/dev/null || exit 1

run mdeploy pipeline validate ship
is "$rc" 0 "validate"

run mdeploy pipeline run --json ship --var text="release one"
is "$rc" 0 "run: exit 0"
[ "$rc" = 0 ] || diag "$err"
is "$(echo "$out" | jq -r .status)" Succeeded "run: Succeeded"
is "$(cat served)" "release one" "the release answers through HAProxy"
did=$(cat deployment)
like "$did" "d-" "the deployment id reaches the next action"
is "$(cat hookenv)" "Our site|pipeline-secret" "the deploy action's hooks get the group's parameters and secrets"
is "$(mdeploy deploy status --json "$did" 2>/dev/null | jq -r .status)" Succeeded "the deployment is recorded as Succeeded"

run mdeploy pipeline run ship --var text="release two"
is "$rc" 0 "second release: exit 0"
is "$(curl -s -m 5 "http://127.0.0.1:$lbport/")" "release two" "second release swapped in"

# kill -9 of the runner and of the worker in the middle of the deployment:
# resume continues that deployment through its journal, it does not start
# a second one.
: >hold
"$MDEPLOY" pipeline run --poll-ms 50 ship --var text="release three" >/dev/null 2>&1 &
runner=$!
id= worker= dep=
wait_until 'id=$(mdeploy pipeline history --json ship | jq -r ".[0].id")
	worker=$(mdeploy pipeline status --json "$id" | jq -r ".actions[2] | select(.status == \"InProgress\") | .worker_pid")
	dep=$(mdeploy deploy history --json prod 2>/dev/null | jq -r ".deployments | map(select(.status == \"InProgress\"))[0].id // empty" 2>/dev/null)
	[ -n "$worker" ] && [ "$worker" != 0 ] && [ -n "$dep" ]'
ok "$([ -n "$dep" ]; echo $?)" "a deployment is in progress"
kill -9 "$runner" "$worker" 2>/dev/null
wait "$runner" 2>/dev/null
rm -f hold
before=$(mdeploy deploy history --json prod | jq '.deployments | length')
run mdeploy pipeline resume "$id"
is "$rc" 0 "resume after kill -9 of runner and worker: exit 0"
[ "$rc" = 0 ] || diag "$err"
like "$(mdeploy pipeline status --json "$id" | jq -r '.actions[2].summary')" "$dep to prod (resumed)" \
	"the interrupted deployment was resumed through its journal"
is "$(mdeploy deploy history --json prod | jq '.deployments | length')" "$before" "no second deployment"
is "$(curl -s -m 5 "http://127.0.0.1:$lbport/")" "release three" "the release is live"

done_testing
