#!/bin/sh
# Pipeline variables and git tag names are values, never shell text: a
# shell action gets them through the environment, so $(...), backquotes
# and quotes in them run nothing, wherever the reference stands.
. "${top_srcdir:-.}/t/lib.sh"

cd "$TMP" || exit 1
sh "$top_srcdir/t/fixtures/mkmoodle.sh" "$TMP/git" >/dev/null 2>&1 || skip_all "fixtures failed"
core="$TMP/git/moodle"
mkdir -p proj/pipelines
cd proj || exit 1
cat >mdeploy.yml <<EOF
application:
  name: demo
source:
  core:
    url: $core
    ref: main
EOF
cat >pipelines/vars.yml <<EOF
name: vars
variables:
  - name: v
stages:
  - name: Prep
    actions:
      - name: nothing
        type: shell
        command: "true"
  - name: Run
    actions:
      - name: echo
        type: shell
        command: |
          printf '%s\n' "#{variables.v}" > $TMP/quoted
          printf '%s\n' #{variables.v} > $TMP/bare
          printf '%s\n' "v=#{variables.v}/#{variables.v}" > $TMP/inside
          test "\$MDEPLOY_REF_0" = "#{variables.v}" || exit 7
EOF

hostile='$(touch '"$TMP"'/pwned1)`touch '"$TMP"'/pwned2`"; touch '"$TMP"'/pwned3; "'
run mdeploy pipeline run vars --var "v=$hostile"
is "$rc" 0 "hostile --var: the pipeline runs (exit 0)"
for f in pwned1 pwned2 pwned3; do
	ok_cmd "hostile --var: $f was not created" test ! -e "$TMP/$f"
done
is "$(cat "$TMP/quoted")" "$hostile" "quoted reference: the value verbatim"
is "$(cat "$TMP/inside")" "v=$hostile/$hostile" "reference inside a quoted word: the value verbatim"
ok_cmd "bare reference: expanded" test -s "$TMP/bare"

run mdeploy pipeline run vars --var "v=it's \"quoted\" \\ \$HOME"
is "$rc" 0 "quotes and backslashes: exit 0"
is "$(cat "$TMP/quoted")" "it's \"quoted\" \\ \$HOME" "quotes and backslashes: verbatim"

# A tag picked up by pipeline watch.
cat >pipelines/tags.yml <<EOF
name: tags
execution_mode: queued
variables:
  - name: tag
stages:
  - name: Source
    actions:
      - name: Core
        type: source
        namespace: Src
        ref: "#{variables.tag}"
        outputs: [source]
  - name: Record
    actions:
      - name: note
        type: shell
        command: |
          echo "#{variables.tag} #{Src.ref}" >> $TMP/built
EOF
git -C "$core" tag v9.1 main
run mdeploy pipeline watch --polls 1 --detach --tags 'v9.*' tags
is "$rc" 0 "first poll: exit 0"
tag='v9.2$(touch${IFS}pwned-tag)'
git -C "$core" tag "$tag" main || { echo "Bail out! cannot create the hostile tag"; exit 1; }
run mdeploy pipeline watch --polls 1 --tags 'v9.*' tags
is "$rc" 0 "watch runs the execution for the hostile tag (exit 0)"
is "$(cat "$TMP/built")" "$tag $tag" "the shell action got the tag name verbatim"
is "$(find "$TMP" -name pwned-tag | wc -l)" 0 "the tag name ran nothing"

done_testing
