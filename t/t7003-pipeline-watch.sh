#!/bin/sh
# mdeploy pipeline watch: one execution per new tag (or new commit), none
# duplicated when the watcher is restarted, and the triggered execution
# builds the tag it was started for.
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
          echo "#{Src.ref} #{Src.commit}" >> $TMP/built
EOF
cat >pipelines/commits.yml <<EOF
name: commits
variables:
  - name: revision
stages:
  - name: Source
    actions:
      - name: Core
        type: source
        outputs: [source]
  - name: Record
    actions:
      - name: note
        type: shell
        command: echo "#{variables.revision}" >> $TMP/commits
EOF
count() { mdeploy pipeline history --json "$1" | jq length; }

# Tag mode.
run mdeploy pipeline watch --polls 1 --detach --tags 'v4.*' tags
is "$rc" 0 "first poll: exit 0"
like "$err" "existing revisions recorded" "first poll records what exists"
is "$(count tags)" 0 "first poll starts nothing"

git -C "$core" tag v4.9.0 v4.5.2
git -C "$core" tag other-tag v4.5.2
run mdeploy pipeline watch --polls 1 --detach --json --tags 'v4.*' tags
is "$(echo "$out" | jq -r .started)" 1 "a new matching tag starts one execution"
is "$(count tags)" 1 "one execution recorded"
is "$(mdeploy pipeline history --json tags | jq -r '.[0].revision + " " + .[0].trigger')" "v4.9.0 watch" \
	"it records the tag and the trigger"
is "$(mdeploy pipeline history --json tags | jq -r '.[0].variables.tag')" v4.9.0 "the tag is the tag variable"

run mdeploy pipeline watch --polls 2 --interval 0.1 --detach --tags 'v4.*' tags
is "$rc" 0 "restarted watcher: exit 0"
is "$(count tags)" 1 "restarted watcher: no second execution for the same tag"

git -C "$core" tag v4.9.1 v4.5.2
git -C "$core" tag v4.9.2 v4.5.1
run mdeploy pipeline watch --polls 1 --tags 'v4.*' tags
is "$rc" 0 "watch that runs its executions: exit 0"
is "$(count tags)" 3 "two new tags, two executions"
is "$(mdeploy pipeline history --json tags | jq -r '[.[0:2][].status] | join(",")')" "Succeeded,Succeeded" \
	"the watcher ran them to the end"
[ "$(mdeploy pipeline history --json tags | jq -r '.[0].status')" = Succeeded ] ||
	diag "$(mdeploy pipeline status "$(mdeploy pipeline history --json tags | jq -r '.[0].id')")"
v492=$(git -C "$core" rev-parse "v4.9.2^{commit}")
like "$(cat "$TMP/built")" "v4.9.2 $v492" "the execution built the tag it was started for"
run mdeploy pipeline watch --polls 1 --detach --tags 'v4.*' tags
is "$(count tags)" 3 "and nothing more on the next start"

# Commit mode.
run mdeploy pipeline watch --polls 1 --detach commits
is "$(count commits)" 0 "commit mode: first poll starts nothing"
git -C "$core" commit -q --allow-empty -m "new work" --author "T <t@example.org>"
run mdeploy pipeline watch --polls 1 --detach commits
is "$(count commits)" 1 "commit mode: a new commit on the ref starts one execution"
like "$(mdeploy pipeline history --json commits | jq -r '.[0].revision')" \
	"core@$(git -C "$core" rev-parse HEAD | cut -c1-12)" "commit mode: the revision names the commit"
run mdeploy pipeline watch --polls 1 --detach commits
is "$(count commits)" 1 "commit mode: no duplicate after a restart"

run mdeploy pipeline watch --polls 1 --tags 'v*' nonexistent
is "$rc" 1 "unknown pipeline: exit 1"

done_testing
