#!/bin/sh
# mdeploy agent: a hook failing at each event leaves the previous release
# live; timeouts kill the script's process group even when a background
# child holds stdout; ApplicationStop comes from the last successful
# revision; runas.
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/fixtures/agent-rev.sh"

mkrev good
n=0
for ev in BeforeBlockTraffic AfterBlockTraffic ApplicationStop BeforeInstall AfterInstall ApplicationStart \
	ValidateService BeforeAllowTraffic AfterAllowTraffic; do
	n=$((n + 1))
	R="$TMP/root-$ev"
	mdeploy agent install -q --root "$R" --deployment-id d-good "$TMP/good" || diag "good install failed"
	mkrev "bad$n" "$ev"
	case $ev in
	# These run the live (last successful) revision's scripts: make that one fail.
	ApplicationStop|*BlockTraffic) : >"$R/releases/d-good/fail-$ev" ;;
	esac
	trace "$R" >/dev/null
	run mdeploy agent install --root "$R" --deployment-id d-bad --traffic-hooks "$TMP/bad$n"
	is "$rc" 1 "$ev fails: exit 1"
	like "$err" "$ev: script 'scripts/hook.sh' exited with status 3" "$ev fails: message names event, script and status"
	like "$err" "| first line of output" "$ev fails: message ends with the script's output"
	like "$err" "| boom in $ev" "$ev fails: stderr is in it too"
	is "$(live "$R")" d-good "$ev fails: previous release still live"
	t=$(trace "$R")
	case $ev in
	ApplicationStart|ValidateService|*AllowTraffic)
		is "$(printf '%s\n' "$t" | tail -n1)" "ApplicationStart good d-bad" "$ev fails: the previous release is started again"
		like "$(printf '%s\n' "$t" | tail -n2 | head -n1)" "$ev " "$ev fails: no later event ran" ;;
	*)
		like "$(printf '%s\n' "$t" | tail -n1)" "$ev " "$ev fails: no later event ran"
		ok 0 "$ev fails: nothing to start again" ;;
	esac
	run mdeploy --json agent status --root "$R"
	is "$(printf '%s' "$out" | jq -r '.last_failure.event')" "$ev" "$ev fails: status shows the failed event"
	is "$(printf '%s' "$out" | jq -r '.last_successful')" d-good "$ev fails: last successful unchanged"
done

# After a failed deployment, ApplicationStop still runs the last *successful* revision's script.
R="$TMP/root-ValidateService"
mkrev next
run mdeploy agent install --root "$R" --deployment-id d-next "$TMP/next"
is "$rc" 0 "install after a failure succeeds"
is "$(trace "$R" | head -n1)" "ApplicationStop good d-next" "ApplicationStop from the last successful revision, not the failed one"
like "$(cat "$R/logs/d-bad.log")" "boom in ValidateService" "failed script's output is in the deployment log"

# A broken ApplicationStop in the live release: --ignore-stop-failures goes on.
R="$TMP/root-ApplicationStop"
mkrev after-stop
run mdeploy agent install --root "$R" --deployment-id d-after-stop --ignore-stop-failures "$TMP/after-stop"
is "$rc" 0 "--ignore-stop-failures: a failing ApplicationStop does not stop the deployment"
like "$err" "ignoring: ApplicationStop: script 'scripts/hook.sh' exited with status 3" "--ignore-stop-failures: warned"
is "$(live "$R")" d-after-stop "--ignore-stop-failures: new release live"
: >"$R/releases/d-after-stop/fail-ApplicationStop"
run mdeploy agent rollback --root "$R"
is "$rc" 0 "rollback goes on when the live release's ApplicationStop fails"
like "$err" "rolling back anyway" "rollback: warned"
is "$(live "$R")" d-good "rollback: previous release live"

# Timeout: the script and a background child holding stdout are killed.
mkdir -p "$TMP/slow/scripts"
cat >"$TMP/slow/appspec.yml" <<'YML'
version: 0.0
os: linux
hooks:
  BeforeInstall:
    - location: scripts/slow.sh
      timeout: 2
YML
cat >"$TMP/slow/scripts/slow.sh" <<'SH'
#!/bin/sh
sleep 60 &
echo "$!" >"$MDEPLOY_SHARED_DIR/bgpid"
echo "started a child"
sleep 60
SH
chmod +x "$TMP/slow/scripts/slow.sh"
R="$TMP/root-timeout"
start=$(date +%s)
run mdeploy agent install --root "$R" --deployment-id d-slow "$TMP/slow"
took=$(( $(date +%s) - start ))
is "$rc" 1 "timeout: exit 1"
like "$err" "BeforeInstall: script 'scripts/slow.sh' timed out after 2000 ms; process group killed" "timeout: message says timed out and killed"
like "$err" "| started a child" "timeout: message ends with the output"
ok "$([ "$took" -le 8 ]; echo $?)" "timeout: returns within timeout + a few seconds (took ${took}s)"
bg=$(cat "$R/shared/bgpid")
sleep 0.2
# Dead or a zombie (this machine's init may not reap orphans).
st=$(ps -o stat= -p "$bg" 2>/dev/null | tr -d ' ')
case $st in ''|Z*) ok 0 "timeout: the background child was killed too" ;;
*) ok 1 "timeout: the background child was killed too"; diag "pid $bg state $st"; kill "$bg" ;;
esac

# A script that exits 0 but leaves a daemon holding stdout does not hang the deployment.
mkdir -p "$TMP/daemon/scripts"
cat >"$TMP/daemon/appspec.yml" <<'YML'
version: 0.0
os: linux
hooks:
  ApplicationStart:
    - location: scripts/start.sh
      timeout: 60
YML
cat >"$TMP/daemon/scripts/start.sh" <<'SH'
#!/bin/sh
sleep 30 &
echo "$!" >"$MDEPLOY_SHARED_DIR/daemonpid"
echo "daemon started"
exit 0
SH
chmod +x "$TMP/daemon/scripts/start.sh"
R="$TMP/root-daemon"
start=$(date +%s)
run mdeploy agent install --root "$R" --deployment-id d-daemon "$TMP/daemon"
took=$(( $(date +%s) - start ))
is "$rc" 0 "background daemon holding stdout: deployment succeeds"
ok "$([ "$took" -le 5 ]; echo $?)" "background daemon: no hang (took ${took}s)"
like "$(cat "$R/logs/d-daemon.log")" "left a background process holding its output" "background daemon: noted in the log"
kill "$(cat "$R/shared/daemonpid")" 2>/dev/null

# runas: the script runs as that user with its login environment.
user=mdeploy-hook
if [ "$(id -u)" != 0 ]; then
	skip 3 "runas needs root to switch users"
elif ! id "$user" >/dev/null 2>&1 && ! useradd -M -d /nonexistent -s /bin/sh "$user" 2>/dev/null; then
	skip 3 "cannot create user $user"
else
	chmod 755 "$TMP"
	mkdir -p "$TMP/runas/scripts"
	cat >"$TMP/runas/appspec.yml" <<YML
version: 0.0
os: linux
hooks:
  AfterInstall:
    - location: scripts/who.sh
      runas: $user
YML
	printf '#!/bin/sh\necho "user=$(id -un) home=$HOME logname=$LOGNAME"\n' >"$TMP/runas/scripts/who.sh"
	chmod 755 "$TMP/runas/scripts/who.sh"
	R="$TMP/root-runas"
	run mdeploy agent install --root "$R" --deployment-id d-runas "$TMP/runas"
	is "$rc" 0 "runas: install succeeds"
	like "$(cat "$R/logs/d-runas.log")" "user=$user home=/nonexistent logname=$user" "runas: script ran as $user with its environment"
	like "$(cat "$R/logs/d-runas.log")" "Script - scripts/who.sh as $user" "runas: logged"
fi
done_testing
