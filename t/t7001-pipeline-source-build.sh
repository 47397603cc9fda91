#!/bin/sh
# mdeploy pipeline: source and build actions on Moodle-shaped git
# repositories - the locked release becomes the source artifact, a
# buildspec from the project turns it into a signed bundle, and a shell
# action checks the bundle with mdeploy itself.
. "${top_srcdir:-.}/t/lib.sh"

cd "$TMP" || exit 1
sh "$top_srcdir/t/fixtures/mkmoodle.sh" "$TMP/git" >/dev/null 2>&1 || { echo "1..0 # SKIP fixtures failed"; exit 0; }
mkdir -p proj/pipelines proj/build proj/keys
cd proj || exit 1
cat >mdeploy.yml <<EOF2
application:
  name: demo
source:
  core:
    url: $TMP/git/moodle
    ref: v4.5.1
  plugins:
    - component: mod_certx
      url: $TMP/git/mod_certx
      ref: v1.0.0
EOF2
mdeploy key generate keys/release.pem >/dev/null 2>&1
cp "$top_srcdir/hooks/appspec.yml" build/appspec.yml
cp -r "$top_srcdir/hooks/mdeploy-hooks" build/mdeploy-hooks
cat >build/buildspec.yml <<'EOF2'
version: 0.2
phases:
  build:
    commands:
      - cp "$MDEPLOY_PROJECT_DIR/build/appspec.yml" appspec.yml
      - cp -r "$MDEPLOY_PROJECT_DIR/build/mdeploy-hooks" mdeploy-hooks
      - test -f version.php
artifacts:
  files: ['**/*']
EOF2
cat >pipelines/release.yml <<EOF2
name: release
variables:
  - name: tag
    default: v4.5.2
stages:
  - name: Source
    actions:
      - name: Checkout
        type: source
        namespace: Src
        outputs: [source]
      - name: At-tag
        type: source
        namespace: Tag
        ref: "#{variables.tag}"
        outputs: [tagged]
  - name: Build
    actions:
      - name: Bundle
        type: build
        namespace: Build
        inputs: [source]
        outputs: [bundle]
        buildspec: build/buildspec.yml
        key: keys/release.pem
      - name: Verify
        type: shell
        run_order: 2
        inputs: [bundle, tagged]
        command: |
          ls bundle > $TMP/bundle-files
          "$MDEPLOY" bundle verify --trusted-key "\$MDEPLOY_PROJECT_DIR/keys/release.pem.pub" bundle/*.tar.zst
          echo "#{Src.commit} #{Build.bundle_digest} #{Tag.ref}" > $TMP/vars
          grep -q 2024100702.00 tagged/version.php 2>/dev/null || grep -rq 2024100702.00 tagged
EOF2
run mdeploy pipeline validate release
like "$out" "valid (pipeline release, 2 stages, 4 actions, 1 variables" "validate"

run mdeploy pipeline run --json release
is "$rc" 0 "run: exit 0"
[ "$rc" = 0 ] || diag "$err"
is "$(echo "$out" | jq -r .status)" Succeeded "run: Succeeded"
is "$(echo "$out" | jq -r '.actions[0].summary')" "core $(git -C "$TMP/git/moodle" rev-parse "v4.5.1^{commit}" | cut -c1-12) (locked)" \
	"source: the locked core commit"
ok "$([ -f mdeploy.lock ]; echo $?)" "source: wrote mdeploy.lock when there was none"
is "$(echo "$out" | jq -r '.actions[1].variables.ref')" v4.5.2 "source with ref: core at the variable's tag"
like "$(cat "$TMP/bundle-files")" "primary.tar.zst" "build: the buildspec's artifacts bundled"
commit=$(git -C "$TMP/git/moodle" rev-parse "v4.5.1^{commit}")
digest=$(echo "$out" | jq -r '.actions[2].artifacts.bundle')
is "$(cat "$TMP/vars")" "$commit $digest v4.5.2" "namespaced variables of source and build reach later actions"
like "$(echo "$out" | jq -r '.actions[2].summary')" "signed" "build: signed"

# A second run of the same lock gives the same source artifact (stored once).
run mdeploy pipeline run --json release
is "$(echo "$out" | jq -r '.actions[0].artifacts.source')" \
	"$(mdeploy pipeline history --json release | jq -r '.[1].id' | xargs -I{} "$MDEPLOY" pipeline status --json {} | jq -r '.actions[0].artifacts.source')" \
	"same lock, same source digest"

# The shipped moodle-release pipeline: valid, and its Source and Build
# stages make a signed Moodle bundle with the default hooks (this
# mdeploy.yml has no staging group, so it stops there).
cp "$top_srcdir/pipelines/moodle-release.yml" "$top_srcdir/pipelines/moodle-buildspec.yml" pipelines/
cp -R "$top_srcdir/hooks" hooks
run mdeploy pipeline validate moodle-release
is "$rc" 0 "moodle-release.yml is valid"
like "$out" "5 stages, 6 actions" "moodle-release.yml: its shape"
run mdeploy pipeline run --json moodle-release --var signing_key=keys/release.pem
is "$rc" 1 "moodle-release without groups: stops at Staging"
is "$(echo "$out" | jq -r '[.actions[0:2][].status] | join(",")')" "Succeeded,Succeeded" \
	"moodle-release: Source and Build succeed"
like "$(echo "$out" | jq -r '.actions[2].error')" "staging" "moodle-release: the staging group is named"
like "$(echo "$out" | jq -r '.actions[1].summary')" "signed" "moodle-release: the bundle is signed"

done_testing
