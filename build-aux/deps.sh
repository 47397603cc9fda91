# deps.sh - install the Debian 12 packages mdeploy needs to build and test
# (PostgreSQL and PHP's extensions are for the real-Moodle tests, make check-moodle).
# Sourced by build-aux/mdeploy-demo, build-aux/mdeploy-test and .ci/run.
# Idempotent: installs only what is missing, runs apt-get update only then.

MDEPLOY_DEPS="build-essential autoconf automake libtool pkg-config make
 libgit2-dev libarchive-dev libcurl4-openssl-dev libssl-dev libcyaml-dev
 libyaml-dev
 libsqlite3-dev libjansson-dev libxml2-dev libzstd-dev zlib1g-dev
 haproxy php-cli php-curl git jq groff-base valgrind zstd curl ca-certificates
 bsdutils shellcheck wrk sqlite3 openssl procps iproute2 acl python3
 postgresql php8.2-pgsql php8.2-xml php8.2-mbstring php8.2-curl php8.2-zip php8.2-gd
 php8.2-intl php8.2-soap php8.2-redis redis-server
 libmicrohttpd-dev chromium clang"

mdeploy_install_deps() {
	missing=
	for p in $MDEPLOY_DEPS; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
			missing="$missing $p"
		fi
	done
	# The browser tests (t7101) need Node.js and npm. A machine may have them
	# from elsewhere (NodeSource's nodejs ships npm): only Debian's when absent.
	command -v node >/dev/null 2>&1 || missing="$missing nodejs"
	command -v npm >/dev/null 2>&1 || missing="$missing npm"
	[ -z "$missing" ] && return 0
	echo "mdeploy: installing Debian packages:$missing" >&2
	sudo=
	if [ "$(id -u)" != 0 ]; then
		if command -v sudo >/dev/null 2>&1; then sudo=sudo; else
			echo "mdeploy: error: missing packages:$missing; run as root or install them" >&2
			return 1
		fi
	fi
	export DEBIAN_FRONTEND=noninteractive
	# shellcheck disable=SC2086
	if ! $sudo apt-get install -y -q --no-install-recommends $missing; then
		$sudo apt-get update -q && $sudo apt-get install -y -q --no-install-recommends $missing
	fi
}

# Configure (once) and build in a separate build directory.
# $1: build dir, rest: configure flags.
mdeploy_build() {
	bdir=$1; shift
	top=$(pwd)
	if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ] ||
	   [ -n "$(find . -name Makefile.inc -newer Makefile.in 2>/dev/null | head -n1)" ]; then
		autoreconf -fi || return 1
	fi
	mkdir -p "$bdir" || return 1
	# Re-configure when configure changed or the options differ from last time
	# (the demo builds without -Werror, the tests with it).
	if [ ! -f "$bdir/Makefile" ] || [ configure -nt "$bdir/config.status" ] ||
	   [ "$(cat "$bdir/.mdeploy-configure-args" 2>/dev/null)" != "$*" ]; then
		(cd "$bdir" && "$top/configure" "$@") || return 1
		printf '%s' "$*" >"$bdir/.mdeploy-configure-args"
	fi
	make -C "$bdir" -j"$(nproc)" || return 1
}
