#!/bin/sh
# One nesting limit (64 levels) for every YAML file: a deeply nested
# buildspec or appspec is refused at once (100k levels took a minute).
. "${top_srcdir:-.}/t/lib.sh"

cd "$TMP" || exit 1
mkdir src
printf 'version: 0.0\nos: linux\n' >src/appspec.yml
deep() { awk -v pre="$1" 'BEGIN { printf "%s", pre; for (i = 0; i < 100000; i++) printf "["; for (i = 0; i < 100000; i++) printf "]"; print "" }'; }
deep 'version: 0.2
phases:
  build:
    commands: ' >deep-buildspec.yml
run timeout 10 "$MDEPLOY" build --buildspec deep-buildspec.yml --src src -o out
is "$rc" 1 "buildspec nested 100,000 levels: refused within 10 s"
like "$err" "deep-buildspec.yml:4:76: nested deeper than 64 levels" "located"

deep 'version: 0.0
os: linux
files: ' >appspec.yml
run timeout 10 "$MDEPLOY" appspec validate appspec.yml
is "$rc" 1 "appspec nested 100,000 levels: refused within 10 s"
like "$err" "nested deeper than 64 levels" "said so"

awk 'BEGIN { printf "version: 0.2\nphases:\n  build:\n    commands: "; for (i = 0; i < 60; i++) printf "["; printf "x"; for (i = 0; i < 60; i++) printf "]"; print "" }' >ok.yml
run timeout 10 "$MDEPLOY" build --buildspec ok.yml --src src -o out
unlike "$err" "nested deeper" "60 levels are within the limit"
done_testing
