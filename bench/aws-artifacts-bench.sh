#!/bin/sh
# aws-artifacts-bench.sh [MB] - `mdeploy artifacts put` of a MB-megabyte
# bundle (default 200) to S3 on moto_server, against `aws s3 cp` of the same
# file to the same endpoint, in one run; then `artifacts get -o` against
# `aws s3 cp` back. moto runs with signature checking on, as in the tests.
# Needs moto_server and the aws CLI (Debian: awscli). Run from a build tree:
#   MDEPLOY=_build/cli/mdeploy bench/aws-artifacts-bench.sh 200
set -u
MB=${1:-200}
top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
MDEPLOY=${MDEPLOY:-$top_srcdir/_build/cli/mdeploy}
command -v aws >/dev/null || { echo "aws-artifacts-bench: the aws CLI is missing (apt-get install awscli)" >&2; exit 1; }
# t/lib.sh gives free_port and $TMP (removed at exit); lib-moto.sh the server.
. "$top_srcdir/t/lib.sh" >/dev/null
. "$top_srcdir/t/lib-moto.sh"
moto_start
moto_create_bucket bench-art || { echo "cannot create the bucket" >&2; exit 1; }

cd "$TMP" || exit 1
head -c $((MB * 1024 * 1024)) /dev/urandom >bundle.bin
cat >mdeploy.yml <<EOF
application: { name: bench }
stores:
  artifacts: { provider: aws, bucket: bench-art }
EOF
now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc; }

t0=$(now); "$MDEPLOY" --config mdeploy.yml artifacts put bench bundle.bin >/dev/null || exit 1; t1=$(now)
aws --region us-east-1 s3 cp --quiet bundle.bin s3://bench-art/awscli/bundle.bin || exit 1; t2=$(now)
rm -f got.bin
t3=$(now); "$MDEPLOY" --config mdeploy.yml artifacts get -o got.bin bench >/dev/null || exit 1; t4=$(now)
aws --region us-east-1 s3 cp --quiet s3://bench-art/awscli/bundle.bin got2.bin || exit 1; t5=$(now)
cmp -s got.bin bundle.bin || { echo "the download differs" >&2; exit 1; }

put_m=$(secs "$t0" "$t1"); put_a=$(secs "$t1" "$t2")
get_m=$(secs "$t3" "$t4"); get_a=$(secs "$t4" "$t5")
printf "%s MB to moto %s (signatures checked), %s, load %s\\n" "$MB" "$(python3 -c "import moto; print(moto.__version__)" 2>/dev/null)" "$(date -u +%Y-%m-%d)" "$(cut -d" " -f1 /proc/loadavg)"
printf 'put: mdeploy artifacts put %6.2f s   aws s3 cp %6.2f s   ratio %.2f\n' "$put_m" "$put_a" "$(echo "$put_m / $put_a" | bc -l)"
printf 'get: mdeploy artifacts get %6.2f s   aws s3 cp %6.2f s   ratio %.2f\n' "$get_m" "$get_a" "$(echo "$get_m / $get_a" | bc -l)"
