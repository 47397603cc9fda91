#!/bin/sh
# Progress bars: drawn on a terminal's stderr, never with -q, never on a pipe.
. "${top_srcdir:-.}/t/lib.sh"
command -v script >/dev/null 2>&1 || skip_all "script(1) not installed (bsdutils)"
command -v git >/dev/null 2>&1 || skip_all "git not installed"
sh "$top_srcdir/t/fixtures/mkmoodle.sh" "$TMP/fx" >/dev/null 2>&1 || exit 1
cd "$TMP/fx" || exit 1
unset MDEPLOY_PROGRESS
cr=$(printf '\r')

# script(1) gives the command a pseudo-terminal, as a user's shell would.
MDEPLOY_STATE_DIR="$TMP/s1" script -qec "$MDEPLOY source lock" /dev/null >"$TMP/tty.out" 2>&1
is "$?" 0 "lock on a terminal: exit 0"
like "$(cat "$TMP/tty.out")" "$cr" "the bar redraws its line on a terminal"
like "$(cat "$TMP/tty.out")" "objects" "the bar counts objects"
like "$(cat "$TMP/tty.out")" "100%" "the bar reaches 100%"

MDEPLOY_STATE_DIR="$TMP/s2" script -qec "$MDEPLOY -q source lock" /dev/null >"$TMP/q.out" 2>&1
is "$?" 0 "lock -q on a terminal: exit 0"
unlike "$(cat "$TMP/q.out")" "objects" "no bar with -q"

MDEPLOY_STATE_DIR="$TMP/s3" "$MDEPLOY" source lock >"$TMP/pipe.out" 2>"$TMP/pipe.err"
is "$?" 0 "lock to a pipe: exit 0"
unlike "$(cat "$TMP/pipe.err")" "$cr" "no bar when stderr is not a terminal"
done_testing
