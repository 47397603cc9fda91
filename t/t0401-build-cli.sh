#!/bin/sh
# mdeploy build: phases, parameters, masked secrets, artifacts into bundles and the store.
. "${top_srcdir:-.}/t/lib.sh"

cd "$TMP" || exit 1
mkdir -p src/lib
printf 'version: 0.0\nos: linux\n' >src/appspec.yml
echo '<?php' >src/lib/a.php
echo 'db-pass-Zq9' | mdeploy secrets put moodle/db >/dev/null
mdeploy params put /moodle/build/flavour boost >/dev/null
cat >src/buildspec.yml <<'YAML'
version: 0.2
env:
  parameter-store:
    FLAVOUR: /moodle/build/flavour
  secrets-manager:
    DB_PASS: moodle/db
  exported-variables: [RELEASE]
phases:
  build:
    commands:
      - echo "flavour $FLAVOUR"
      - echo "password is $DB_PASS"
      - RELEASE=r-$MDEPLOY_BUILD_NUMBER
      - mkdir -p dist && cp -r appspec.yml lib dist/
artifacts:
  base-directory: dist
  files: ['**/*']
  name: moodle
YAML
run mdeploy build --src src -o out --build-number 7 --store moodle
is "$rc" 0 "build succeeds"
like "$err" "[BUILD] flavour boost" "output streamed with the phase"
like "$err" "[BUILD] password is ***" "secret masked in the output"
unlike "$out$err" "db-pass-Zq9" "secret never printed"
like "$out" "RELEASE=r-7" "exported variable reported"
ok "$([ -f out/moodle.tar.zst ]; echo $?)" "bundle written"
log=$(printf '%s\n' "$out" | sed -n 's/^  log: //p')
ok "$([ -f "$log" ]; echo $?)" "build log written"
ok "$(! grep -q db-pass-Zq9 "$log"; echo $?)" "no secret in the build log"
run mdeploy bundle verify out/moodle.tar.zst
is "$rc" 0 "built bundle verifies"
run mdeploy artifacts list moodle
like "$out" "moodle@1" "primary bundle put in the artifact store"

run mdeploy --json build --src src -o out2
is "$rc" 0 "build --json"
is "$(printf '%s' "$out" | jq -r '.status + " " + .phases[2].status + " " + .exported_variables.RELEASE')" "SUCCEEDED SUCCEEDED r-1" "json result"

cat >src/buildspec.yml <<'YAML'
version: 0.2
phases:
  build:
    commands:
      - echo compiling
artifacts:
  files: ['missing/**/*.php']
YAML
run mdeploy build --src src -o out3
is "$rc" 1 "a glob matching nothing fails the build"
like "$err" "artifacts.files[0]: 'missing/**/*.php' matched no file" "error names the glob"

printf 'version: 0.2\nphases:\n  build:\n    commands: [true]\n    on-failure: SOMETIMES\n' >src/buildspec.yml
run mdeploy build --src src
is "$rc" 1 "malformed buildspec"
like "$err" "buildspec.yml:5:17: phases.build.on-failure" "error names file:line:col"

printf 'version: 0.2\nenv:\n  secrets-manager:\n    X: no/such\nphases:\n  build:\n    commands: [echo ran]\n' >src/buildspec.yml
run mdeploy build --src src
is "$rc" 1 "missing secret"
like "$err" "secret 'no/such' does not exist" "error names the secret"
unlike "$err" "ran" "no command ran"
done_testing
