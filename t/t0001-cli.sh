#!/bin/sh
# CLI basics: usage errors, exit codes, --version, help, --json.
. "${top_srcdir:-.}/t/lib.sh"

run mdeploy
is "$rc" 2 "no command: exit 2"
like "$err" "usage: mdeploy" "no command: usage on stderr"
is "$out" "" "no command: nothing on stdout"

run mdeploy --version
is "$rc" 0 "--version: exit 0"
like "$out" "mdeploy 0.1.0 (libmdeploy 0.1.0)" "--version prints versions"

run mdeploy --json --version
is "$rc" 0 "--json --version: exit 0"
is "$(printf '%s' "$out" | jq -r .mdeploy)" "0.1.0" "--json --version is JSON"

run mdeploy version --json
is "$(printf '%s' "$out" | jq -r '.libraries.libgit2 | length > 0')" "true" "version --json lists libgit2"
is "$(printf '%s' "$out" | jq -s length)" 1 "exactly one JSON document on stdout"
is "$err" "" "nothing on stderr with --json"

run mdeploy -v version
like "$out" "libarchive" "-v version lists libraries"

run mdeploy --help
is "$rc" 0 "--help: exit 0"
like "$out" "Commands:" "--help lists commands"
like "$out" "Exit status: 0 success, 1 failure, 2 usage error" "--help documents exit codes"

run mdeploy nosuch
is "$rc" 2 "unknown command: exit 2"
is "$(printf '%s\n' "$err" | head -n1)" "mdeploy: error: 'nosuch' is not an mdeploy command" "unknown command message"
like "$err" "mdeploy: hint: run 'mdeploy help'" "unknown command hint"

run mdeploy --bogus
is "$rc" 2 "unknown global option: exit 2"
like "$err" "mdeploy: error: unknown option '--bogus'" "unknown global option named"

run mdeploy version --bogus
is "$rc" 2 "unknown command option: exit 2"
like "$err" "unknown option '--bogus'" "unknown command option named"
like "$err" "usage: mdeploy version" "usage of the command shown"

run mdeploy version extra
is "$rc" 2 "stray argument: exit 2"
like "$err" "too many arguments" "stray argument message"

run mdeploy --state-dir
is "$rc" 2 "global option missing its value: exit 2"
like "$err" "needs a value" "missing value message"

run mdeploy help version
is "$rc" 0 "help COMMAND: exit 0"
like "$out" "usage: mdeploy version" "help COMMAND prints usage"
run mdeploy version --help
is "$rc" 0 "COMMAND --help: exit 0"
like "$out" "usage: mdeploy version" "COMMAND --help prints usage"
run mdeploy help nosuch
is "$rc" 2 "help of an unknown command: exit 2"

run mdeploy -C /nonexistent/dir version
is "$rc" 1 "-C to a missing directory: exit 1"
like "$err" "mdeploy: error: cannot change to directory '/nonexistent/dir'" "-C error names the directory"

mkdir -p "$TMP/work" "$TMP/php.d"
# Moodle needs max_input_vars >= 5000 (doctor checks it; t0007 tests that check).
printf 'max_input_vars = 5000\n' >"$TMP/php.d/90-moodle.ini"
PHP_INI_SCAN_DIR=":$TMP/php.d" run mdeploy -C "$TMP/work" --state-dir "$TMP/s1" doctor --json
is "$rc" 0 "doctor passes on this host"
is "$(printf '%s' "$out" | jq -r .ok)" "true" "doctor --json ok"
is "$(stat -c %a "$TMP/s1")" 700 "doctor created the state dir 0700"

# A php that does not work: doctor must say so and fail.
mkdir -p "$TMP/fakebin"
printf '#!/bin/sh\necho broken >&2\nexit 1\n' >"$TMP/fakebin/php"
chmod +x "$TMP/fakebin/php"
PATH="$TMP/fakebin:$PATH" run mdeploy doctor
is "$rc" 1 "doctor with a broken php: exit 1"
like "$(printf '%s\n' "$out" | grep '^php ')" "MISSING" "doctor names php"
like "$err" "apt-get install -y php-cli" "doctor hints at the package"

# Progress bars never go to a pipe.
MDEPLOY_PROGRESS= run mdeploy doctor
unlike "$err" "$(printf '\r')" "no carriage returns on a non-TTY stderr"

done_testing
