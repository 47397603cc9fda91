#!/bin/sh
# The aws stores on moto_server (signature checking on), chosen by
# mdeploy.yml stores: parameters on SSM Parameter Store (versions, history,
# SecureString), secrets on Secrets Manager (AWSCURRENT/AWSPREVIOUS, values
# only from stdin, shown only with --reveal), artifacts on S3 (content
# addressed, multipart with parallel parts, SSE, verified download, gc), and
# a buildspec's env.parameter-store / env.secrets-manager read from them.
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-moto.sh"
moto_start
moto_create_bucket mdeploy-art || { echo "Bail out! cannot create the bucket"; exit 1; }

cd "$TMP" || exit 1
cat >mdeploy.yml <<EOF
application:
  name: moodle
stores:
  params: { provider: aws, region: us-east-1 }
  secrets: { provider: aws }
  artifacts: { provider: aws, bucket: mdeploy-art, part_size_mb: 5, parallel: 3 }
EOF
m() { mdeploy --config "$TMP/mdeploy.yml" "$@"; }

# ---- parameters ----
run m params put /prod/dbhost db1.internal
is "$rc" 0 "params put"
like "$out" "version 1" "first version"
run m params put /prod/dbhost db2.internal
is "$rc" 1 "put over an existing parameter without --overwrite fails"
like "$err" "already exists" "... saying it exists"
run m params put --overwrite /prod/dbhost db2.internal
like "$out" "version 2" "--overwrite adds version 2"
run m params put --overwrite /prod/dbhost db2.internal
like "$out" "version 2" "the same value again adds no version"
is "$(m params get /prod/dbhost)" "db2.internal" "get: the newest value"
is "$(m params get /prod/dbhost:1)" "db1.internal" "get NAME:1: the history"
m params put /prod/web/theme boost >/dev/null
m params put --type StringList /prod/web/langs en,fr >/dev/null
run m params list /prod
like "$out" "/prod/dbhost" "list: direct children"
unlike "$out" "/prod/web/theme" "list: not deeper without -r"
run m params list -r /prod
like "$out" "/prod/web/theme" "list -r: everything below"
run m --json params get /prod/web/langs
is "$(printf '%s' "$out" | jq -r .type)" "StringList" "StringList kept"
ssm=$(moto_json ssm AmazonSSM.GetParameter '{"Name":"/mdeploy/moodle/prod/dbhost"}')
is "$(printf '%s' "$ssm" | jq -r .Parameter.Type)" "SecureString" "stored in SSM under /mdeploy/<app>/ as a SecureString"
unlike "$(printf '%s' "$ssm" | jq -r .Parameter.Value)" "^db2.internal$" "without decryption SSM does not give the plain value"
run m params delete /prod/web/theme
is "$rc" 0 "delete"
run m params get /prod/web/theme
is "$rc" 1 "a deleted parameter is gone"
like "$err" "parameter '/prod/web/theme' does not exist" "not found, named"
run m params get /prod/dbhost:9
like "$err" "has no version 9" "a missing version is named"

# ---- secrets ----
printf 'S3cret-One' | m secrets put db >"$TMP/o" 2>"$TMP/e"
is "$?" 0 "secrets put from stdin"
printf '{"user":"moodle","password":"S3cret-Two"}' | m secrets rotate db >"$TMP/o2" 2>>"$TMP/e"
is "$?" 0 "rotate to a new value"
run m secrets get db
unlike "$out$err" "S3cret" "get without --reveal does not show the value"
is "$(m secrets get --reveal db)" '{"user":"moodle","password":"S3cret-Two"}' "--reveal: AWSCURRENT"
is "$(m secrets get --reveal --previous db)" "S3cret-One" "--previous: AWSPREVIOUS"
vid=$(sed -n 's/.*version \([0-9a-f]\{32\}\).*/\1/p' "$TMP/o" | head -n1)
is "$(m secrets get --reveal --version-id "$vid" db)" "S3cret-One" "--version-id: the first version by its id"
sm=$(moto_json secretsmanager secretsmanager.DescribeSecret '{"SecretId":"mdeploy/moodle/db"}')
like "$(printf '%s' "$sm" | jq -c .VersionIdsToStages)" "\"$vid\":[\"AWSPREVIOUS\"]" "Secrets Manager's stages: the first version is AWSPREVIOUS"
run m secrets list
like "$out" "db" "list names the secret"
like "$out" "current+previous" "list: current and previous versions"
printf 'x' | m secrets rotate nosuch >/dev/null 2>"$TMP/e3"
like "$(cat "$TMP/e3")" "secret 'nosuch' does not exist" "rotating a secret that does not exist fails"
unlike "$(cat "$TMP/o" "$TMP/o2" "$TMP/e")" "S3cret" "no value in put/rotate output"

printf 'S3cret-Three' | m -v secrets put vtest >"$TMP/o4" 2>&1
printf 'S3cret-Four' | m -v secrets rotate vtest >>"$TMP/o4" 2>&1
m -v secrets get vtest >>"$TMP/o4" 2>&1
unlike "$(cat "$TMP/o4")" "S3cret" "-v (verbose): no secret value in what mdeploy prints"
ok "$(! grep -rqs 'S3cret' "$MDEPLOY_STATE_DIR" "$TMP/aws-config" "$TMP/aws-credentials"; echo $?)" \
	"no secret value in the state directory (journal, logs) or the AWS files"
ok "$(! grep -rqs "$MOTO_SECRET" "$MDEPLOY_STATE_DIR"; echo $?)" "no AWS secret key in the state directory"

# ---- buildspec env from the aws stores, as CodeBuild resolves them ----
mkdir -p src
printf 'version: 0.0\nos: linux\n' >src/appspec.yml
cat >src/buildspec.yml <<'YAML'
version: 0.2
env:
  parameter-store:
    DBHOST: /prod/dbhost
    OLDHOST: /prod/dbhost:1
  secrets-manager:
    DBPASS: db:password
    OLDPASS: db::AWSPREVIOUS
phases:
  build:
    commands:
      - echo "host $DBHOST was $OLDHOST"
      - test "$DBPASS" = S3cret-Two && echo current-ok
      - test "$OLDPASS" = S3cret-One && echo previous-ok
      - echo "pass $DBPASS"
YAML
run m build --src src -o out
is "$rc" 0 "build with env from SSM and Secrets Manager"
like "$err" "host db2.internal was db1.internal" "parameter-store, with a version"
like "$err" "current-ok" "secrets-manager secret-id:json-key"
like "$err" "previous-ok" "secrets-manager secret-id::AWSPREVIOUS"
like "$err" "pass ***" "secret masked in the output"
unlike "$out$err" "S3cret" "no secret value in the build output"

# ---- artifacts ----
head -c 300000 /dev/urandom >small.bin
head -c 12000000 /dev/urandom >big.bin
run m artifacts put moodle small.bin
is "$rc" 0 "artifacts put (one PutObject)"
like "$out" "moodle@1" "revision 1"
run m artifacts put moodle big.bin
is "$rc" 0 "artifacts put of 12 MB with 5 MB parts (multipart, 3 parts in parallel)"
like "$out" "moodle@2" "revision 2"
run m artifacts put moodle big.bin
like "$out" "moodle@2" "the same content again adds no revision"
sha=$(sha256sum big.bin | cut -c1-64)
head=$(moto_curl s3 -I -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$MOTO_URL/mdeploy-art/mdeploy/moodle/artifacts/objects/$sha")
like "$head" "x-amz-server-side-encryption: AES256" "the object is encrypted at rest (SSE-S3 by default)"
like "$head" "x-amz-meta-sha256: $sha" "content-addressed key, digest in its metadata"
run m artifacts get -o got.bin moodle@2
is "$rc" 0 "get -o"
is "$(sha256sum got.bin | cut -c1-64)" "$sha" "the download is the file"
run m artifacts get -o got1.bin "$(printf '%s' "$sha" | cut -c1-10)"
cmp -s got1.bin big.bin
is "$?" 0 "a digest prefix is a reference"
run m artifacts list
like "$out" "moodle@2" "list"
like "$out" "moodle@1" "list: both revisions"

# A damaged object in the store: the download is refused, dest untouched.
small_sha=$(sha256sum small.bin | cut -c1-64)
head -c 300000 /dev/zero >zero.bin
moto_curl s3 -f -o /dev/null -X PUT -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" --data-binary @zero.bin \
	"$MOTO_URL/mdeploy-art/mdeploy/moodle/artifacts/objects/$small_sha"
echo keep >dest.bin
run m artifacts get -o dest.bin moodle@1
is "$rc" 1 "a damaged object fails the download"
like "$err" "damaged in the store" "... saying so"
is "$(cat dest.bin)" "keep" "the destination is not replaced"
ok "$(ls dest.bin.tmp-* >/dev/null 2>&1; test $? -ne 0; echo $?)" "no temporary file left"

run m artifacts gc --keep 1 --dry-run
like "$out" "moodle@1" "gc --dry-run names what would go"
run m artifacts gc --keep 1
is "$rc" 0 "gc"
run m artifacts list
unlike "$out" "moodle@1" "gc dropped the old revision"
like "$out" "moodle@2" "gc kept the newest"
code=$(moto_curl s3 -o /dev/null -w '%{http_code}' -I -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
	"$MOTO_URL/mdeploy-art/mdeploy/moodle/artifacts/objects/$small_sha")
is "$code" 404 "gc removed the object nothing points at"

# ---- a wrong key is refused by every store ----
run env AWS_SECRET_ACCESS_KEY="x$MOTO_SECRET" "$MDEPLOY" --config "$TMP/mdeploy.yml" params get /prod/dbhost
like "$err" "SignatureDoesNotMatch" "params: a wrong secret key is refused"
run env AWS_SECRET_ACCESS_KEY="x$MOTO_SECRET" "$MDEPLOY" --config "$TMP/mdeploy.yml" artifacts list
like "$err" "SignatureDoesNotMatch" "artifacts: a wrong secret key is refused"
unlike "$out$err" "$MOTO_SECRET" "the key is never printed"

# ---- a wrong region: the secret is not there, and the error says which ----
run env AWS_REGION=eu-west-2 "$MDEPLOY" --config "$TMP/mdeploy.yml" secrets get --reveal db
is "$rc" 1 "another region (AWS_REGION=eu-west-2): the secret is not found there"
like "$err" "secret 'db' does not exist" "... a clear not-found error"
run env AWS_REGION=eu-west-2 "$MDEPLOY" --config "$TMP/mdeploy.yml" params get /prod/dbhost
is "$out" "db2.internal" "stores.params.region in mdeploy.yml wins over AWS_REGION"

# ---- mdeploy doctor checks each aws store's credentials and endpoint ----
run m --json doctor
is "$(printf '%s' "$out" | jq -r '[.checks[] | select(.check | startswith("aws-sts:stores.")) | .check + "=" + (.ok|tostring)] | join(" ")')" \
	"aws-sts:stores.params=true aws-sts:stores.secrets=true aws-sts:stores.artifacts=true" \
	"doctor: STS GetCallerIdentity for every store on aws, without --aws"
sed 's/secrets: { provider: aws }/secrets: { provider: aws, endpoint: "http:\/\/127.0.0.1:1" }/' mdeploy.yml >dead.yml
run env AWS_MAX_ATTEMPTS=1 "$MDEPLOY" --config "$TMP/dead.yml" --json doctor
is "$(printf '%s' "$out" | jq -r '.checks[] | select(.check == "aws-sts:stores.secrets") | .ok')" "false" \
	"doctor: a store whose endpoint does not answer fails its check"
is "$rc" 1 "... and doctor fails"

# ---- mdeploy.yml is checked ----
cat >bad.yml <<EOF
application:
  name: moodle
stores:
  artifacts: { provider: aws, bucket: Bad_Bucket, parallel: 99 }
EOF
run mdeploy --config "$TMP/bad.yml" artifacts list
is "$rc" 1 "a bad store setting is an error"
like "$err" "stores.artifacts.bucket" "the bad key is named"

done_testing
