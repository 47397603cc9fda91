# lib.sh - TAP helpers for mdeploy's shell tests. Source it first:
#   . "${top_srcdir:-.}/t/lib.sh"
# Gives: plan N, ok COND NAME, is GOT EXPECTED NAME, like GOT NEEDLE NAME,
# unlike, diag, skip N REASON, skip_all REASON, done_testing, run CMD...,
# wait_until COND, free_port, and $TMP, a fresh directory removed at exit.
set -u

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
MDEPLOY="${MDEPLOY:-$top_builddir/cli/mdeploy}"
export MDEPLOY_PROGRESS=0
# Tests make commits and annotated tags; a fresh machine has no git identity.
export GIT_AUTHOR_NAME="mdeploy test" GIT_AUTHOR_EMAIL=test@mdeploy.invalid
export GIT_COMMITTER_NAME="mdeploy test" GIT_COMMITTER_EMAIL=test@mdeploy.invalid

# free_port: a TCP port on loopback that nothing listens on, below the
# kernel's ephemeral range (32768+), so a client connection that recently
# used the same local port cannot block a server's bind.
free_port() {
	_fp_try=0
	while [ $_fp_try -lt 200 ]; do
		_fp=$(( 10000 + ($(od -An -N2 -tu2 /dev/urandom) % 22000) ))
		if ! ss -Hltn "sport = :$_fp" 2>/dev/null | grep -q .; then
			echo "$_fp"; return 0
		fi
		_fp_try=$((_fp_try + 1))
	done
	return 1
}

# wait_until 'SHELL CONDITION': polls the condition every 0.1 s for up to
# 60 s and returns as soon as it holds; the limit only matters on a loaded
# machine (the ASan suite timed out at 15 s waiting for approvals). On
# timeout it says what it waited for (diag) and returns 1.
wait_until() {
	_wu_i=0
	while [ $_wu_i -lt 600 ]; do
		if eval "$1"; then return 0; fi
		sleep 0.1
		_wu_i=$((_wu_i + 1))
	done
	diag "timed out waiting for: $1"
	return 1
}

_tap_n=0
_tap_failed=0
_tap_planned=

plan() { _tap_planned=$1; echo "1..$1"; }
skip_all() { echo "1..0 # SKIP $*"; exit 0; }
diag() { printf '%s\n' "$@" | sed 's/^/# /' >&2; }

ok() {
	_tap_n=$((_tap_n + 1))
	if [ "$1" = 0 ] || [ "$1" = true ]; then
		echo "ok $_tap_n - $2"
	else
		echo "not ok $_tap_n - $2"
		_tap_failed=$((_tap_failed + 1))
	fi
}

# ok_cmd NAME CMD... : passes when CMD succeeds.
ok_cmd() {
	_name=$1; shift
	if "$@"; then ok 0 "$_name"; else ok 1 "$_name"; fi
}

is() {
	if [ "$1" = "$2" ]; then ok 0 "$3"; else
		ok 1 "$3"; diag "    expected: '$2'" "         got: '$1'"; fi
}

like() {
	case "$1" in
	*"$2"*) ok 0 "$3" ;;
	*) ok 1 "$3"; diag "    expected to contain: '$2'" "                    got: '$1'" ;;
	esac
}

unlike() {
	case "$1" in
	*"$2"*) ok 1 "$3"; diag "    expected not to contain: '$2'" "                        got: '$1'" ;;
	*) ok 0 "$3" ;;
	esac
}

skip() {
	_k=$1; shift
	while [ "$_k" -gt 0 ]; do
		_tap_n=$((_tap_n + 1)); echo "ok $_tap_n # SKIP $*"; _k=$((_k - 1))
	done
}

done_testing() {
	[ -n "$_tap_planned" ] || echo "1..$_tap_n"
	if [ -n "$_tap_planned" ] && [ "$_tap_planned" != "$_tap_n" ]; then
		diag "planned $_tap_planned tests but ran $_tap_n"; exit 1
	fi
	[ "$_tap_failed" = 0 ]
}

# run CMD... : sets $out (stdout), $err (stderr) and $rc.
run() {
	"$@" >"$TMP/.out" 2>"$TMP/.err" </dev/null
	rc=$?
	out=$(cat "$TMP/.out")
	err=$(cat "$TMP/.err")
}

# mdeploy ARGS... : the binary under test.
mdeploy() { "$MDEPLOY" "$@"; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/mdeploy-test.XXXXXX")
_tap_cleanup() {
	[ -n "${TEST_KEEP_TMP:-}" ] || rm -rf "$TMP"
}
trap _tap_cleanup EXIT
trap 'exit 130' INT TERM
# Tests never touch the user's real state.
export MDEPLOY_STATE_DIR="$TMP/state"
