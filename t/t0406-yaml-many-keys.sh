#!/bin/sh
# mdeploy.yml and pipelines index every key's position: a file with many
# keys is read in linear time (a search per key took 33 s for 85k keys).
. "${top_srcdir:-.}/t/lib.sh"

cd "$TMP" || exit 1
awk 'BEGIN { print "application:\n  name: demo\nx:"; for (i = 0; i < 85000; i++) printf " k%d: 1\n", i }' >many.yml
run timeout 10 "$MDEPLOY" --config many.yml source validate
is "$rc" 1 "85,000 keys: answered within 10 s (exit 1, not 124)"
like "$err" "many.yml:3:1: x: unknown section 'x'" "the problem is located"

awk 'BEGIN { print "name: p\nstages:\n  - name: A\n    actions:\n      - name: a\n        type: shell\n        command: \"true\"\n  - name: B\n    actions:\n      - name: b\n        type: shell\n        command: \"true\"\n        junk:"; for (i = 0; i < 45000; i++) printf "          k%d: 1\n", i }' >p.yml
run timeout 10 "$MDEPLOY" pipeline validate p.yml
is "$rc" 1 "45,000 keys in a pipeline: answered within 10 s (exit 1, not 124)"
like "$err" "junk" "the unknown key is named"
done_testing
