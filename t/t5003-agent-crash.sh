#!/bin/sh
# mdeploy agent: kill -9 of the agent mid-install, then a successful install;
# a second agent on the same root is refused.
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/fixtures/agent-rev.sh"

R="$TMP/root"
mkrev rev1
mdeploy agent install -q --root "$R" --deployment-id d-1 "$TMP/rev1" || diag "first install failed"

# rev2's AfterInstall (after the `current` switch) blocks until killed.
mkrev rev2
cat >"$TMP/rev2/scripts/block.sh" <<'SH'
#!/bin/sh
echo $$ >"$MDEPLOY_SHARED_DIR/hookpid"
exec sleep 60
SH
chmod +x "$TMP/rev2/scripts/block.sh"
awk '{print} /^  AfterInstall:/{print "    - location: scripts/block.sh"}' "$TMP/rev2/appspec.yml" >"$TMP/a" &&
	mv "$TMP/a" "$TMP/rev2/appspec.yml"
trace "$R" >/dev/null

"$MDEPLOY" agent install -q --root "$R" --deployment-id d-2 "$TMP/rev2" >/dev/null 2>&1 &
agent=$!
i=0
while [ ! -s "$R/shared/hookpid" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
ok "$([ -s "$R/shared/hookpid" ]; echo $?)" "the agent reached AfterInstall"
is "$(live "$R")" d-2 "mid-install: the new release was switched in"

# A second agent on the same root is refused while the first works.
run mdeploy agent install --root "$R" --deployment-id d-x "$TMP/rev1"
is "$rc" 1 "a second agent is refused"
like "$err" "another agent is working in" "... because the root is locked"

kill -9 "$agent"
wait "$agent" 2>/dev/null
hook=$(cat "$R/shared/hookpid")
kill -9 -- "-$hook" 2>/dev/null || kill -9 "$hook" 2>/dev/null

run mdeploy --json agent status --root "$R"
is "$(printf '%s' "$out" | jq -r .in_progress)" d-2 "after kill -9: status shows the interrupted deployment"

mkrev rev3
trace "$R" >/dev/null
run mdeploy agent install --root "$R" --deployment-id d-3 "$TMP/rev3"
is "$rc" 0 "after kill -9: the next install succeeds"
like "$err" "d-2 was interrupted during AfterInstall; d-1 is live again" "the interrupted deployment was undone first"
is "$(trace "$R" | head -n1)" "ApplicationStop rev1 d-3" "ApplicationStop comes from d-1, the last successful revision"
is "$(live "$R")" d-3 "d-3 is live"
run mdeploy --json agent status --root "$R"
is "$(printf '%s' "$out" | jq -r '.history[] | select(.deployment_id=="d-2") | .status')" Interrupted "d-2 recorded as Interrupted"
is "$(printf '%s' "$out" | jq -r '.history[] | select(.deployment_id=="d-2") | .event')" AfterInstall "... at AfterInstall"
is "$(printf '%s' "$out" | jq -r .in_progress)" null "nothing in progress"
is "$(printf '%s' "$out" | jq -r .previous)" d-1 "previous is d-1, not the interrupted d-2"

# Half-extracted releases of a killed DownloadBundle are swept.
mkdir -p "$R/releases/.staging-d-4/x" "$R/releases/.d-4.tmp-abc123"
mkrev rev4
run mdeploy agent install --root "$R" --deployment-id d-4 "$TMP/rev4"
is "$rc" 0 "install over leftover staging directories succeeds"
is "$(ls -A "$R/releases" | grep -c '^\.')" 0 "leftover staging directories removed"
ok "$([ ! -e "$R/.current.tmp.$agent" ]; echo $?)" "no temporary link left"
# A full disk during DownloadBundle: previous release live, agent able to run again.
F="$TMP/full"
mkdir -p "$F"
if [ "$(id -u)" != 0 ] || ! mount -t tmpfs -o size=768k tmpfs "$F" 2>/dev/null; then
	skip 5 "a small tmpfs needs root (mount)"
else
	trap 'umount "$F" 2>/dev/null; _tap_cleanup' EXIT
	mkrev small1
	mdeploy agent install -q --root "$F/root" --deployment-id d-s1 "$TMP/small1" || diag "small install failed"
	mkrev big
	head -c 2000000 /dev/zero >"$TMP/big/blob"
	run mdeploy agent install --root "$F/root" --deployment-id d-big "$TMP/big"
	is "$rc" 1 "disk full: install fails"
	like "$err" "No space left on device" "disk full: says so"
	is "$(live "$F/root")" d-s1 "disk full: previous release live"
	ok "$([ ! -e "$F/root/releases/d-big" ] && [ -z "$(ls -A "$F/root/releases" | grep '^\.')" ]; echo $?)" \
		"disk full: the partial copy is gone"
	mkrev small2
	run mdeploy agent install --root "$F/root" --deployment-id d-s2 "$TMP/small2"
	is "$rc" 0 "disk full: the next install succeeds"
	umount "$F"
fi
done_testing
