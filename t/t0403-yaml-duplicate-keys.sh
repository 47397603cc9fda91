#!/bin/sh
# A key given twice in one mapping is an error in every YAML file mdeploy
# reads (buildspec, appspec; mdeploy.yml and pipelines already), naming
# the file, the line of the second and of the first.
. "${top_srcdir:-.}/t/lib.sh"

cd "$TMP" || exit 1
mkdir -p src
printf 'version: 0.0\nos: linux\n' >src/appspec.yml
cat >src/buildspec.yml <<'YAML'
version: 0.2
phases:
  build:
    commands:
      - "true"
artifacts:
  files: [appspec.yml]
artifacts:
  files: [appspec.yml]
  secondary-artifacts:
    extra:
      files: [appspec.yml]
YAML
run mdeploy build --src src -o out
is "$rc" 1 "buildspec: artifacts twice: build fails"
like "$err" "buildspec.yml:8:1: duplicate key 'artifacts' (first at line 6)" "named with both lines"
ok_cmd "no bundle written" test ! -e out/primary.tar.zst

cat >src/buildspec.yml <<'YAML'
version: 0.2
phases:
  build:
    commands:
      - "true"
    commands:
      - "false"
artifacts:
  files: [appspec.yml]
YAML
run mdeploy build --src src -o out
is "$rc" 1 "buildspec: a nested key twice: build fails"
like "$err" "buildspec.yml:6:5: duplicate key 'commands' (first at line 4)" "named with both lines"

cat >appspec.yml <<'YAML'
version: 0.0
os: linux
os: linux
YAML
run mdeploy appspec validate appspec.yml
is "$rc" 1 "appspec: a key twice: validate fails"
like "$err" "appspec.yml:3:1: duplicate key 'os' (first at line 2)" "named with both lines"
done_testing
