#!/bin/sh
# artifacts gc keeps the same revisions on S3 (moto, signature checking on)
# as in the local store: one retention rule (provider/store.c) for both,
# the providers only list and delete. Of each name the newest --keep stay,
# and whatever is in use (--in-use) whatever its age; an object another
# name still points at stays; --dry-run changes nothing.
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-moto.sh"
moto_start
moto_create_bucket gc-art || { echo "Bail out! cannot create the bucket"; exit 1; }

cd "$TMP" || exit 1
cat >aws.yml <<EOF
application:
  name: moodle
stores:
  artifacts: { provider: aws, bucket: gc-art }
EOF
cat >local.yml <<EOF
application:
  name: moodle
stores:
  artifacts: { provider: local, dir: $TMP/local-artifacts }
EOF
for i in 1 2 3 4; do head -c $((1000 * i)) /dev/urandom >f$i.bin; done
sha() { sha256sum "$1" | cut -c1-64; }
s1=$(sha f1.bin) s2=$(sha f2.bin) s3=$(sha f3.bin) s4=$(sha f4.bin)
obj() { # HTTP status of the S3 object of digest $1
	moto_curl s3 -o /dev/null -w '%{http_code}' -I -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
		"$MOTO_URL/gc-art/mdeploy/moodle/artifacts/objects/$1"
}
removed() { printf '%s' "$1" | jq -r '[.removed[] | .name + "@" + (.revision|tostring)] | join(",")'; }
listing() { mdeploy --config "$1" --json artifacts list | jq -r '[.artifacts[] | .name + "@" + (.revision|tostring)] | sort | join(",")'; }

for store in aws local; do
	for i in 1 2 3 4; do
		mdeploy --config $store.yml -q artifacts put moodle f$i.bin >/dev/null || { echo "Bail out! put on $store"; exit 1; }
	done
	# another name sharing moodle@2's object
	mdeploy --config $store.yml -q artifacts put other f2.bin >/dev/null || { echo "Bail out! put on $store"; exit 1; }
done
lists_before=$(listing aws.yml)

run mdeploy --config aws.yml --json artifacts gc --keep 1 --in-use "$s1" --dry-run
is "$rc" 0 "aws: gc --dry-run"
[ "$rc" = 0 ] || diag "$err"
is "$(removed "$out")" "moodle@3,moodle@2" "aws: --dry-run names the revisions beyond --keep 1 not in use"
is "$(listing aws.yml)" "$lists_before" "aws: --dry-run removed nothing"
is "$(obj "$s3")" 200 "aws: --dry-run deleted no object"
dry=$(printf '%s' "$out" | jq .bytes_freed)
is "$dry" 3000 "aws: --dry-run counts the one object nothing else points at (moodle@3's)"

run mdeploy --config aws.yml --json artifacts gc --keep 1 --in-use "$s1"
is "$rc" 0 "aws: gc"
[ "$rc" = 0 ] || diag "$err"
aws_removed=$(removed "$out") aws_freed=$(printf '%s' "$out" | jq .bytes_freed)
is "$aws_removed" "moodle@3,moodle@2" "aws: gc removed moodle@3 and moodle@2"
is "$(listing aws.yml)" "moodle@1,moodle@4,other@1" "aws: the newest, the one in use and the other name stay"
is "$(obj "$s4") $(obj "$s1") $(obj "$s2") $(obj "$s3")" "200 200 200 404" \
	"aws: objects of kept revisions stay (the one in use, the one other@1 shares); moodle@3's is deleted"
is "$aws_freed" 3000 "aws: bytes freed as the dry run said"

run mdeploy --config local.yml --json artifacts gc --keep 1 --in-use "$s1"
is "$rc" 0 "local: gc"
is "$(removed "$out")" "$aws_removed" "local: the same revisions removed as on S3"
is "$(listing local.yml)" "$(listing aws.yml)" "local: the same revisions left"
is "$(printf '%s' "$out" | jq .bytes_freed)" "$aws_freed" "local: the same bytes freed"

# Nothing in use given: the in-use revision goes too, on both.
run mdeploy --config aws.yml --json artifacts gc --keep 1
is "$(removed "$out")" "moodle@1" "aws: without --in-use the old revision goes"
is "$(obj "$s1")" 404 "aws: and its object"
run mdeploy --config local.yml --json artifacts gc --keep 1
is "$(removed "$out")" "moodle@1" "local: the same"
done_testing
