#!/bin/sh
# Standard retry mode and clock skew, with failures injected by a small proxy
# (t/aws-fault-proxy.py) in front of moto_server: throttling and 5xx are
# retried with backoff up to AWS_MAX_ATTEMPTS, client errors are not, and a
# RequestTimeTooSkewed refusal is corrected once from the server's Date.
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-moto.sh"
moto_start
moto_create_bucket retry-art || { echo "Bail out! cannot create the bucket"; exit 1; }

pport=$(free_port)
setsid python3 "$top_srcdir/t/aws-fault-proxy.py" "$pport" "$MOTO_PORT" >"$TMP/proxy.log" 2>&1 </dev/null &
proxy_pid=$!
trap 'kill -TERM -- "-$proxy_pid" 2>/dev/null; wait "$proxy_pid" 2>/dev/null; moto_stop; _tap_cleanup' EXIT
proxy="http://127.0.0.1:$pport"
i=0
until curl -s -o /dev/null "$proxy/__stats"; do
	i=$((i + 1)); [ $i -gt 100 ] && { echo "Bail out! the proxy did not start"; cat "$TMP/proxy.log"; exit 1; }
	sleep 0.1
done
inject() { curl -s -o /dev/null -X POST --data-binary "$1" "$proxy/__inject"; }
stat() { curl -s "$proxy/__stats" | jq -r ".$1"; }
AWS_ENDPOINT_URL=$proxy
export AWS_ENDPOINT_URL

cd "$TMP" || exit 1
cat >mdeploy.yml <<EOF
application: { name: retry }
stores:
  params: { provider: aws }
  artifacts: { provider: aws, bucket: retry-art }
EOF
m() { mdeploy --config "$TMP/mdeploy.yml" "$@"; }
m params put /a/b value1 >/dev/null || { echo "Bail out! params put through the proxy failed"; exit 1; }

# Throttling (JSON protocol): retried, then succeeds.
inject '{"count": 2, "status": 400, "code": "ThrottlingException", "json": true}'
r0=$(stat requests)
run m params get /a/b
is "$rc" 0 "two ThrottlingException answers, then the call succeeds"
is "$out" "value1" "... with the value"
is "$(( $(stat requests) - r0 ))" 3 "three attempts"

# 503 SlowDown (S3, XML errors): retried.
head -c 2000 /dev/urandom >a.bin
inject '{"count": 2, "status": 503, "code": "SlowDown"}'
run m artifacts put app a.bin
is "$rc" 0 "S3 503 SlowDown twice, then the put succeeds"

# 500s beyond the attempts: the error, after 3 attempts, with the service's words.
inject '{"count": 5, "status": 500, "code": "InternalFailure", "json": true}'
r0=$(stat requests)
run m params get /a/b
is "$rc" 1 "five 500s: fails"
is "$(( $(stat requests) - r0 ))" 3 "AWS_MAX_ATTEMPTS default: 3 attempts"
like "$err" "after 3 attempts" "the error says how many attempts"
like "$err" "InternalFailure" "... and the service's error code"
like "$err" "request id proxy-" "... and its request id"
inject '{"count": 0, "status": 500, "code": "x"}'

inject '{"count": 3, "status": 500, "code": "InternalFailure", "json": true}'
r0=$(stat requests)
t0=$(date +%s)
run env AWS_MAX_ATTEMPTS=4 "$MDEPLOY" --config "$TMP/mdeploy.yml" params get /a/b
is "$rc" 0 "AWS_MAX_ATTEMPTS=4: three 500s, then success"
is "$(( $(stat requests) - r0 ))" 4 "four attempts"
ok "$(test $(( $(date +%s) - t0 )) -le 16; echo $?)" "backoff stays within its caps (1+2+4 s at most)"

# A client error is not retried.
inject '{"count": 1, "status": 400, "code": "ValidationException", "json": true}'
r0=$(stat requests)
run m params get /a/b
is "$rc" 1 "ValidationException fails at once"
is "$(( $(stat requests) - r0 ))" 1 "... without a retry"

# Expired credentials: long-term keys are not fetched again; the error says so.
inject '{"count": 1, "status": 400, "code": "ExpiredTokenException", "json": true}'
r0=$(stat requests)
run m params get /a/b
is "$rc" 1 "ExpiredTokenException with keys from the environment: fails"
like "$err" "ExpiredTokenException" "... naming the service's code"
is "$(( $(stat requests) - r0 ))" 1 "... without retrying the same keys"

# A multipart upload whose parts keep failing: the upload is aborted (no
# parts left behind in S3), the error names the part, no revision is added.
printf 'application: { name: retry }\nstores:\n  artifacts: { provider: aws, bucket: retry-art, part_size_mb: 5, parallel: 3 }\n' >mp.yml
head -c 12000000 /dev/urandom >big.bin
inject '{"count": 100, "status": 500, "code": "InternalError", "match": "partNumber="}'
run "$MDEPLOY" --config "$TMP/mp.yml" artifacts put app big.bin
is "$rc" 1 "parts failing beyond the retries: the put fails"
like "$err" "part " "the error names the part"
like "$err" "InternalError" "... and the service's code"
inject '{"count": 0, "status": 500, "code": "x"}'
uploads=$(moto_curl s3 -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$MOTO_URL/retry-art?uploads=")
like "$uploads" "ListMultipartUploadsResult" "S3 lists the bucket's multipart uploads"
unlike "$uploads" "<UploadId>" "the multipart upload was aborted: no parts left in S3"
run m artifacts list app
unlike "$out" "app@2" "no revision was added"
run "$MDEPLOY" --config "$TMP/mp.yml" artifacts put app big.bin
like "$out" "app@2" "the same put succeeds once S3 answers again"

# Clock skew: the service's clock is 2 hours ahead.
curl -s -o /dev/null -X POST --data-binary '{"seconds": 7200}' "$proxy/__skew"
head -c 3000 /dev/urandom >b.bin
s0=$(stat skew_refused)
run m artifacts put app b.bin
is "$rc" 0 "RequestTimeTooSkewed: corrected from the server's Date, and the put succeeds"
is "$(( $(stat skew_refused) - s0 ))" 1 "one refusal: later calls of the process use the corrected clock"
run m params get /a/b
is "$out" "value1" "a new process corrects its clock too"
curl -s -o /dev/null -X POST --data-binary '{"seconds": 0}' "$proxy/__skew"

done_testing
