#!/bin/sh
# Configuration files are read with a size cap (1 MiB) checked while
# reading: /dev/zero or an oversized file is a clear error, not memory
# growing until the machine gives out.
. "${top_srcdir:-.}/t/lib.sh"

cd "$TMP" || exit 1
mkdir src
# limited CMD... : the command, stopped after 10 s (rc 124 then).
limited() { run timeout 10 "$MDEPLOY" "$@"; }

limited --config /dev/zero source validate
is "$rc" 1 "mdeploy.yml from /dev/zero: exit 1"
like "$err" "'/dev/zero' is larger than 1048576 bytes" "the error says why"

limited pipeline validate /dev/zero
is "$rc" 1 "pipeline from /dev/zero: exit 1"
like "$err" "'/dev/zero' is larger than 1048576 bytes" "the error says why"

limited build --buildspec /dev/zero --src src -o out
is "$rc" 1 "buildspec from /dev/zero: exit 1"
like "$err" "'/dev/zero' is larger than 1048576 bytes" "the error says why"

{ echo 'version: 0.2'; echo 'phases:'; echo '  build:'; echo '    commands:'
  i=0; while [ $i -lt 40000 ]; do echo '      - "true"                        '; i=$((i + 1)); done; } >big.yml
limited build --buildspec big.yml --src src -o out
is "$rc" 1 "a 1.6 MB buildspec: exit 1"
like "$err" "'big.yml' is larger than 1048576 bytes" "the error names the file"
done_testing
