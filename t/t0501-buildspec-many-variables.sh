#!/bin/sh
# A buildspec may hold ~100,000 variables within its 1 MiB: names are
# found through a hash index, duplicates by sorting, not by a search per
# name (issue 13 item 7's "linear search per key", in the buildspec runner:
# such a build took 78 s of CPU before its first command, now a fraction of
# a second). The limit is on mdeploy's CPU time (ulimit -t), so a loaded
# machine does not fail the test; the shell is sh, as bash itself takes
# minutes to start with that many variables.
. "${top_srcdir:-.}/t/lib.sh"

cd "$TMP" || exit 1
export MDEPLOY_STATE_DIR="$TMP/state"
mkdir -p src "$MDEPLOY_STATE_DIR"
printf 'version: 0.0\nos: linux\n' >src/appspec.yml
# n variables K0..K(n-1) in flow style, the first 20,000 exported too.
mkspec() {
	awk -v n="$1" -v x="$2" 'BEGIN {
		printf "version: 0.2\nenv:\n  shell: sh\n  variables: {"
		for (i = 0; i < n; i++) printf "K%x: v, ", i
		printf "Z: z}\n  exported-variables: ["
		for (i = 0; i < 20000; i++) printf "K%x, ", i
		printf "%s]\nphases:\n  build:\n    commands:\n", x
		printf "      - test \"$K%x$Z\" = vz\n      - K1=changed\n", n - 1
	}' >src/buildspec.yml
}
mkspec 60000 Z
run sh -c 'ulimit -t 10; exec "$0" build --src src --no-artifacts --json' "$MDEPLOY"
is "$rc" 0 "60,000 variables, 20,000 exported: built within 10 s of CPU"
[ "$rc" = 0 ] || diag "$err"
is "$(printf '%s' "$out" | jq -r '.status')" SUCCEEDED "the commands saw the last variable"
is "$(printf '%s' "$out" | jq -r '.exported_variables.K1')" changed \
	"an exported variable has the value the commands left"

mkspec 60000 K4e1f
line=$(grep -n 'exported-variables' src/buildspec.yml | cut -d: -f1)
run sh -c 'ulimit -t 10; exec "$0" build --src src --no-artifacts' "$MDEPLOY"
is "$rc" 1 "an exported variable listed twice: refused within 10 s of CPU"
like "$err" "buildspec.yml:$line:" "located"
like "$err" "'K4e1f' is listed twice" "and named"
done_testing
