#!/bin/sh
# mdeploy appspec validate: files, directories, bundle archives, errors.
. "${top_srcdir:-.}/t/lib.sh"

mkdir -p "$TMP/rev/scripts"
cat >"$TMP/rev/appspec.yml" <<'YML'
version: 0.0
os: linux
hooks:
  AfterInstall:
    - location: scripts/after.sh
      timeout: 30
    - location: scripts/upgrade.sh
      scope: once
YML
printf '#!/bin/sh\n' >"$TMP/rev/scripts/after.sh"

run mdeploy appspec validate "$TMP/rev/appspec.yml"
is "$rc" 0 "valid file: exit 0"
like "$out" "valid (version 0.0, os linux, 0 file mappings, 0 permissions, 2 hook scripts)" "valid file: summary"

run mdeploy appspec validate "$TMP/rev"
is "$rc" 0 "directory holding appspec.yml: exit 0"

run mdeploy --json appspec validate "$TMP/rev"
is "$rc" 0 "--json: exit 0"
is "$(printf '%s' "$out" | jq -r '.hooks.AfterInstall[1].scope')" once "--json: scope once"
is "$(printf '%s' "$out" | jq -r '.hooks.AfterInstall[0].timeout')" 30 "--json: timeout"

(cd "$TMP/rev" && tar -czf "$TMP/bundle.tar.gz" ./appspec.yml scripts)
run mdeploy appspec validate "$TMP/bundle.tar.gz"
is "$rc" 0 "tar.gz bundle: exit 0"
like "$out" "bundle.tar.gz!appspec.yml: valid" "tar.gz bundle: names the member"

sed 's/timeout: 30/timeout: soon/' "$TMP/rev/appspec.yml" >"$TMP/rev/bad.yml"
(cd "$TMP/rev" && cp bad.yml appspec.yml && tar -cf "$TMP/bad.tar" appspec.yml)
run mdeploy appspec validate "$TMP/rev/bad.yml"
is "$rc" 1 "invalid timeout: exit 1"
like "$err" "mdeploy: error: $TMP/rev/bad.yml:6:16: hooks.AfterInstall[0].timeout: timeout must be a positive integer, not 'soon'" \
	"invalid timeout: file:line:col, field and problem"
is "$out" "" "invalid: nothing on stdout"

run mdeploy appspec validate "$TMP/bad.tar"
is "$rc" 1 "invalid appspec inside a bundle: exit 1"
like "$err" "bad.tar!appspec.yml:6:16: hooks.AfterInstall[0].timeout" "bundle: message names archive and member"

run mdeploy --json appspec validate "$TMP/rev/bad.yml"
is "$(printf '%s' "$out" | jq -r '.valid')" false "--json invalid: valid false"
like "$(printf '%s' "$out" | jq -r '.error')" "timeout must be a positive integer" "--json invalid: error text"

: >"$TMP/empty.yml"
run mdeploy appspec validate "$TMP/empty.yml"
like "$err" "empty.yml: the AppSpec file is empty" "empty file"

(cd "$TMP/rev" && tar -cf "$TMP/noappspec.tar" scripts)
run mdeploy appspec validate "$TMP/noappspec.tar"
is "$rc" 1 "bundle without appspec: exit 1"
like "$err" "has no appspec.yml at its root" "bundle without appspec: message"

run mdeploy appspec validate
is "$rc" 2 "no subcommand: usage error"
run mdeploy appspec frobnicate x
is "$rc" 2 "unknown subcommand: usage error"
done_testing
