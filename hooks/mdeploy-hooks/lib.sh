# shellcheck shell=sh
# Variables set here are used by the scripts that source it.
# shellcheck disable=SC2034
# lib.sh - shared by mdeploy's Moodle hook scripts. POSIX sh; sourced.
#
# Parameters come from the environment (MOODLE_*), else from the file named
# by MDEPLOY_PARAMS_FILE: KEY=VALUE lines, blank lines and # comments
# skipped, read without evaluating anything. Values are never printed.

mdh_name=${0##*/}

mdh_log() { printf '%s: %s\n' "$mdh_name" "$*"; }
mdh_die() { printf '%s: error: %s\n' "$mdh_name" "$*" >&2; exit 1; }

# mdh_param NAME [DEFAULT] : value of NAME from the environment or the params file.
mdh_param() {
	_n=$1
	eval "_set=\${$_n+x}"
	if [ -n "$_set" ]; then
		eval "printf '%s' \"\$$_n\""
		return 0
	fi
	if [ -n "${MDEPLOY_PARAMS_FILE:-}" ] && [ -r "$MDEPLOY_PARAMS_FILE" ]; then
		_found=
		while IFS= read -r _line || [ -n "$_line" ]; do
			case $_line in
			"$_n="*) _found=1; _val=${_line#*=} ;;
			esac
		done <"$MDEPLOY_PARAMS_FILE"
		if [ -n "$_found" ]; then
			printf '%s' "$_val"
			return 0
		fi
	fi
	[ $# -ge 2 ] || return 1
	printf '%s' "$2"
}

# mdh_require NAME : like mdh_param, but a missing value is an error (named, not shown).
mdh_require() {
	mdh_param "$1" || mdh_die "parameter $1 is not set (environment or \$MDEPLOY_PARAMS_FILE)"
}

# mdh_wwwroot : MOODLE_WWWROOT, else the load balancer's URL (MDEPLOY_LB_URL,
# which the orchestrator gives); without a trailing '/' (Moodle refuses one).
mdh_wwwroot() {
	_w=$(mdh_param MOODLE_WWWROOT "${MDEPLOY_LB_URL:-}")
	[ -n "$_w" ] || mdh_die "parameter MOODLE_WWWROOT is not set, and no load balancer URL (MDEPLOY_LB_URL) to default to"
	case $_w in
	http://*|https://*) ;;
	*) mdh_die "MOODLE_WWWROOT must start with http:// or https://" ;;
	esac
	_h=$(mdh_url_host "$_w")
	case $_h in
	''|0.0.0.0|'[::]'|'*') mdh_die "MOODLE_WWWROOT '$_w' is no address users can reach: set MOODLE_WWWROOT to the site's public URL" ;;
	esac
	printf '%s' "${_w%/}"
}

# mdh_url_hostport URL : "host[:port]" of an http(s) URL.
mdh_url_hostport() {
	_u=${1#*://}
	printf '%s' "${_u%%/*}"
}

# mdh_url_host URL : its host (an IPv6 address keeps its brackets).
mdh_url_host() {
	_hp=$(mdh_url_hostport "$1")
	case $_hp in
	\[*\]*) printf '%s' "${_hp%%]*}]" ;;
	*) printf '%s' "${_hp%%:*}" ;;
	esac
}

# mdh_url_port URL : its explicit port, empty when it has none.
mdh_url_port() {
	_hp=$(mdh_url_hostport "$1")
	_hp=${_hp##*]}
	case $_hp in
	*:*) printf '%s' "${_hp##*:}" ;;
	esac
}

# mdh_url_path URL : its path without a trailing '/', empty for the root.
mdh_url_path() {
	_u=${1#*://}
	case $_u in
	*/*) _p=/${_u#*/}; printf '%s' "${_p%/}" ;;
	esac
}

# The release being deployed; hooks run from it.
MDH_RELEASE=${MDEPLOY_RELEASE_DIR:-$(pwd)}
[ -d "$MDH_RELEASE" ] || mdh_die "release directory '$MDH_RELEASE' does not exist"

# Moodle 5.1 and later keep the web root in public/ and config.php beside it.
MDH_CONFIG="$MDH_RELEASE/config.php"
if [ -f "$MDH_RELEASE/public/version.php" ] || [ -d "$MDH_RELEASE/public/admin" ]; then
	MDH_WEB="$MDH_RELEASE/public"
else
	MDH_WEB="$MDH_RELEASE"
fi

# PHP CLI, when this host has it (MDEPLOY_PHP overrides).
MDH_PHP=${MDEPLOY_PHP:-$(command -v php 2>/dev/null || true)}

# mdh_script SCRIPT : the path of a Moodle script of the release. Moodle 5.1
# keeps admin/cli/ at the release root, beside public/ (whose admin/ holds
# only the web pages): the root first, then the web root.
mdh_script() {
	if [ -f "$MDH_RELEASE/$1" ]; then
		printf '%s' "$MDH_RELEASE/$1"
	else
		printf '%s' "$MDH_WEB/$1"
	fi
}

# mdh_php SCRIPT ARGS... : run a Moodle CLI script of the release.
mdh_php() {
	_s=$(mdh_script "$1"); shift
	"$MDH_PHP" "$_s" "$@"
}
