#!/bin/sh
# A fetch killed with SIGKILL (first clone, then an incremental fetch)
# leaves the cache usable; the next fetch completes it.
. "${top_srcdir:-.}/t/lib.sh"
command -v git >/dev/null 2>&1 || skip_all "git not installed"
sh "$top_srcdir/t/fixtures/mkmoodle.sh" "$TMP/fx" || exit 1
cd "$TMP/fx" || exit 1
# Big incompressible objects make a fetch last long enough to be killed.
commit_big() {
	head -c 40000000 /dev/urandom >moodle/"$1"
	git -C moodle add "$1"
	git -C moodle -c user.name=t -c user.email=t@example.org commit -q -m "$1"
	git -C moodle tag -f "$2" >/dev/null
}
commit_big big1.bin big
sed -i 's/ref: v4.5.0$/ref: big/' mdeploy.yml
mirrors="$MDEPLOY_STATE_DIR/mirrors"

# Start a fetch and SIGKILL it after $1 seconds (if it is still running:
# on a fast machine it may have finished, which the checks allow).
kill_fetch_after() {
	"$MDEPLOY" -q source fetch >/dev/null 2>&1 &
	pid=$!
	sleep "$1"
	if kill -9 "$pid" 2>/dev/null; then diag "fetch killed while running"; fi
	wait "$pid" 2>/dev/null
}

kill_fetch_after 0.4
final=$(ls -d "$mirrors"/*-moodle.git 2>/dev/null || true)
if [ -n "$final" ]; then
	run git -C "$final" fsck --no-progress
	is "$rc" 0 "after the kill, a mirror under its final name is complete"
else
	ok 0 "after the kill, no mirror under its final name (the clone was in a temporary directory)"
fi
run mdeploy source lock
is "$rc" 0 "the next fetch and lock succeed"
is "$(ls "$mirrors" | grep -c '\.tmp-')" 0 "the half clone is gone"
core=$(ls -d "$mirrors"/*-moodle.git)
run git -C "$core" fsck --no-progress
is "$rc" 0 "the mirror passes git fsck"

commit_big big2.bin big
kill_fetch_after 0.3
run mdeploy source lock
is "$rc" 0 "after an incremental fetch killed midway, the next one succeeds"
is "$(jq -r .core.commit mdeploy.lock)" "$(git -C moodle rev-parse 'big^{commit}')" "and sees the new commit"
run git -C "$core" fsck --no-progress
is "$rc" 0 "the mirror still passes git fsck"
is "$(find "$core" -name '*.lock' | wc -l)" 0 "no git lock file is left behind"
done_testing
