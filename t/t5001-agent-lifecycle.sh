#!/bin/sh
# mdeploy agent: lifecycle order, ApplicationStop from the last successful
# revision, hook environment, bundles, run-event, rollback, retention.
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/fixtures/agent-rev.sh"

R="$TMP/root"
mkrev rev1
mkrev rev2
mkrev rev3

run mdeploy agent install --root "$R" --deployment-id d-1 "$TMP/rev1"
is "$rc" 0 "first install succeeds"
is "$(trace "$R" | tr '\n' ' ')" "BeforeInstall rev1 d-1 AfterInstall rev1 d-1 ApplicationStart rev1 d-1 ValidateService rev1 d-1 " \
	"first install: CodeDeploy order, ApplicationStop skipped (no earlier revision)"
is "$(live "$R")" d-1 "current -> releases/d-1"
ok "$([ -f "$R/releases/d-1/appspec.yml" ]; echo $?)" "revision unpacked into releases/d-1"

run mdeploy agent install --root "$R" --deployment-id d-2 "$TMP/rev2"
is "$rc" 0 "second install succeeds"
is "$(trace "$R" | tr '\n' ' ')" "ApplicationStop rev1 d-2 BeforeInstall rev2 d-2 AfterInstall rev2 d-2 ApplicationStart rev2 d-2 ValidateService rev2 d-2 " \
	"second install: ApplicationStop runs the previous revision's script"
is "$(live "$R")" d-2 "current -> releases/d-2"

run mdeploy agent install --root "$R" --deployment-id d-3 --traffic-hooks "$TMP/rev3"
is "$(trace "$R" | tr '\n' ' ')" "BeforeBlockTraffic rev2 d-3 AfterBlockTraffic rev2 d-3 ApplicationStop rev2 d-3 BeforeInstall rev3 d-3 AfterInstall rev3 d-3 ApplicationStart rev3 d-3 ValidateService rev3 d-3 BeforeAllowTraffic rev3 d-3 AfterAllowTraffic rev3 d-3 " \
	"--traffic-hooks: block hooks of the old revision first, allow hooks of the new one last"

# The environment CodeDeploy gives, plus ours.
mkrev envrev
cat >"$TMP/envrev/scripts/env.sh" <<'SH'
#!/bin/sh
for v in LIFECYCLE_EVENT DEPLOYMENT_ID APPLICATION_NAME DEPLOYMENT_GROUP_NAME DEPLOYMENT_GROUP_ID \
	MDEPLOY_INSTANCE_ID MDEPLOY_INSTANCE_ADDR MDEPLOY_RELEASE_DIR MDEPLOY_SHARED_DIR MOODLE_DBPASS; do
	eval "echo $v=\${$v-unset}"
done >"$MDEPLOY_SHARED_DIR/env"
pwd >>"$MDEPLOY_SHARED_DIR/env"
read -r line && echo "stdin was open" >>"$MDEPLOY_SHARED_DIR/env"
echo "s3cr3t-should-not-be-logged? no: only hook output is logged"
exit 0
SH
chmod 644 "$TMP/envrev/scripts/env.sh" # not executable: the agent makes it so
cat >"$TMP/envrev/appspec.yml" <<'YML'
version: 0.0
os: linux
hooks:
  AfterInstall:
    - location: scripts/env.sh
YML
run mdeploy agent install --root "$R" --deployment-id d-env --application moodle --group production \
	--group-id dg-1 --instance-id i-0abc --instance-addr 127.0.0.5 --env MOODLE_DBPASS=hunter2 "$TMP/envrev"
is "$rc" 0 "install with a non-executable script succeeds"
env_out=$(cat "$R/shared/env")
like "$env_out" "LIFECYCLE_EVENT=AfterInstall" "LIFECYCLE_EVENT"
like "$env_out" "DEPLOYMENT_ID=d-env" "DEPLOYMENT_ID"
like "$env_out" "APPLICATION_NAME=moodle" "APPLICATION_NAME"
like "$env_out" "DEPLOYMENT_GROUP_NAME=production" "DEPLOYMENT_GROUP_NAME"
like "$env_out" "DEPLOYMENT_GROUP_ID=dg-1" "DEPLOYMENT_GROUP_ID"
like "$env_out" "MDEPLOY_INSTANCE_ID=i-0abc" "MDEPLOY_INSTANCE_ID"
like "$env_out" "MDEPLOY_INSTANCE_ADDR=127.0.0.5" "MDEPLOY_INSTANCE_ADDR"
like "$env_out" "MDEPLOY_RELEASE_DIR=$R/releases/d-env" "MDEPLOY_RELEASE_DIR"
like "$env_out" "MDEPLOY_SHARED_DIR=$R/shared" "MDEPLOY_SHARED_DIR"
like "$env_out" "MOODLE_DBPASS=hunter2" "--env reaches the hooks"
like "$env_out" "$R/releases/d-env" "scripts run from the release directory"
unlike "$env_out" "stdin was open" "stdin is closed (/dev/null)"
unlike "$(cat "$R/logs/d-env.log")" "hunter2" "--env values never reach the log"

# A bundle archive goes through the bundle module's safe extraction.
mkrev tarrev
(cd "$TMP/tarrev" && tar -czf "$TMP/rev.tar.gz" appspec.yml NAME scripts)
run mdeploy agent install --root "$R" --deployment-id d-tar "$TMP/rev.tar.gz"
is "$rc" 0 "install from a tar.gz bundle"
is "$(trace "$R" | sed -n 2p)" "BeforeInstall tarrev d-tar" "bundle's hooks run"
is "$(live "$R")" d-tar "bundle release is live"
# A bundle with a manifest: the release keeps it (which build it holds).
mkrev mrev
run mdeploy bundle create --time 1764000000 "$TMP/mrev" "$TMP/mrev.tar.zst"
run mdeploy agent install --root "$TMP/root-man" --deployment-id d-man "$TMP/mrev.tar.zst"
is "$rc" 0 "install from an mdeploy bundle"
is "$(cat "$TMP/root-man/releases/d-man/.mdeploy/manifest.json" 2>/dev/null)" \
	"$(zstd -dc "$TMP/mrev.tar.zst" | tar -xOf - .mdeploy/manifest.json)" "the release keeps the bundle's manifest"

# An invalid appspec is rejected before anything runs.
mkrev badrev
sed -i 's/timeout: 30/timeout: never/' "$TMP/badrev/appspec.yml"
run mdeploy agent install --root "$R" --deployment-id d-bad "$TMP/badrev"
is "$rc" 1 "invalid appspec: exit 1"
like "$err" "appspec.yml:6:16: hooks.ApplicationStop[0].timeout: timeout must be a positive integer" "invalid appspec: named place"
is "$(trace "$R")" "" "invalid appspec: no script ran"
ok "$([ ! -e "$R/releases/d-bad" ]; echo $?)" "invalid appspec: nothing unpacked"

# Rollback: ApplicationStop of the live release, ApplicationStart/ValidateService of the previous.
run mdeploy agent rollback --root "$R"
is "$rc" 0 "rollback succeeds"
is "$(live "$R")" d-env "rollback: previous successful release is live"
is "$(trace "$R" | tr '\n' ' ')" "ApplicationStop tarrev d-env " "rollback: ApplicationStop of the rolled-back release (d-env has no start hooks)"
run mdeploy --json agent status --root "$R"
is "$(printf '%s' "$out" | jq -r .live)" d-env "status --json: live"
is "$(printf '%s' "$out" | jq -r .previous)" d-3 "status --json: previous is the one before"
is "$(printf '%s' "$out" | jq -r '.history[] | select(.deployment_id=="d-tar") | .status')" RolledBack "status: rolled-back deployment"
run mdeploy agent rollback --root "$R"
is "$(live "$R")" d-3 "second rollback goes one further back"
is "$(trace "$R" | tr '\n' ' ')" "ApplicationStart rev3 d-3 ValidateService rev3 d-3 " "second rollback: start hooks of d-3"

# Retention: 5 kept by default; never the live or last successful one.
for i in 4 5 6 7 8; do
	mkrev "r$i"
	mdeploy agent install -q --root "$R" --deployment-id "d-$i" "$TMP/r$i" || diag "install d-$i failed"
done
trace "$R" >/dev/null
is "$(ls "$R/releases" | wc -l | tr -d ' ')" 5 "five releases kept"
is "$(ls "$R/releases" | tr '\n' ' ')" "d-4 d-5 d-6 d-7 d-8 " "the oldest ones were removed"
run mdeploy agent install --root "$R" --deployment-id d-9 --keep 2 "$TMP/r4"
is "$(ls "$R/releases" | tr '\n' ' ')" "d-8 d-9 " "--keep 2"

# run-event: the orchestrator drives one event at a time.
R2="$TMP/root2"
for ev in ApplicationStop DownloadBundle BeforeInstall Install AfterInstall ApplicationStart ValidateService; do
	if [ "$ev" = DownloadBundle ]; then
		mdeploy agent run-event --root "$R2" --deployment-id d-ev1 --bundle "$TMP/rev1" "$ev" || diag "$ev failed"
	else
		mdeploy agent run-event --root "$R2" --deployment-id d-ev1 "$ev" || diag "$ev failed"
	fi
	[ "$ev" != BeforeInstall ] || is "$(live "$R2")" "" "run-event: nothing live before Install"
done
is "$(live "$R2")" d-ev1 "run-event: live after Install"
is "$(trace "$R2" | tr '\n' ' ')" "BeforeInstall rev1 d-ev1 AfterInstall rev1 d-ev1 ApplicationStart rev1 d-ev1 ValidateService rev1 d-ev1 " \
	"run-event: each event's scripts"
run mdeploy --json agent status --root "$R2"
is "$(printf '%s' "$out" | jq -r .last_successful)" d-ev1 "run-event: ValidateService makes it the last successful"
run mdeploy agent run-event --root "$R2" --deployment-id d-ev2 BeforeInstall
is "$rc" 1 "run-event: BeforeInstall before DownloadBundle fails"
like "$err" "run DownloadBundle first" "run-event: says why"
run mdeploy agent run-event --root "$R2" --deployment-id d-ev2 AllowTraffic
is "$rc" 1 "run-event AllowTraffic: the load balancer's"
run mdeploy agent run-event --root "$R2" --deployment-id d-ev2 Frobnicate
like "$err" "unknown lifecycle event 'Frobnicate'" "run-event: unknown event"

# scope: once
mkrev oncerev
cat >>"$TMP/oncerev/appspec.yml" <<'YML'
  Extra:
    - location: scripts/hook.sh
YML
sed -i 's|  ApplicationStart:\n||' "$TMP/oncerev/appspec.yml"
awk '{print} /^  ApplicationStart:/{getline; print; getline; print; print "      scope: once"}' \
	"$TMP/oncerev/appspec.yml" >"$TMP/oncerev/a" && mv "$TMP/oncerev/a" "$TMP/oncerev/appspec.yml"
run mdeploy agent install --root "$TMP/root3" --deployment-id d-o1 --no-once-hooks "$TMP/oncerev"
unlike "$(trace "$TMP/root3")" "ApplicationStart" "--no-once-hooks: scope once script skipped"
run mdeploy agent install --root "$TMP/root3" --deployment-id d-o2 "$TMP/oncerev"
like "$(trace "$TMP/root3")" "ApplicationStart oncerev d-o2" "scope once script runs by default"

run mdeploy agent status --root "$R"
like "$out" "live:            d-9" "status: live"
like "$out" "d-8" "status: history"
done_testing
