#!/bin/sh
# Canary traffic shifting through HAProxy weights, and the 5xx alarm read
# from HAProxy's stats rolling a deployment back.
. "${top_srcdir:-.}/t/lib.sh"

. "$top_srcdir/t/lib-deploy.sh"
deploy_test_init 31

# mkrel DIR TEXT [STATUS]: index.php answers TEXT with HTTP STATUS (200);
# health.php always answers 200, so only real traffic sees the errors.
mkrel() {
	mkdir -p "$1/hooks"
	printf '<?php http_response_code(%s); $b = "%s\\n"; header("Content-Length: " . strlen($b)); echo $b;\n' \
		"${3:-200}" "$2" >"$1/index.php"
	printf '<?php echo "ok";\n' >"$1/health.php"
	cat >"$1/appspec.yml" <<'EOF'
version: 0.0
os: linux
hooks:
  ValidateService:
    - location: hooks/validate.sh
EOF
	printf '#!/bin/sh\ncurl -sf "http://$MDEPLOY_INSTANCE_ADDR:%s/health.php" >/dev/null\n' "$port" >"$1/hooks/validate.sh"
	chmod +x "$1/hooks/validate.sh"
	"$MDEPLOY" -q bundle create "$1" "$1.tar.zst" >/dev/null || exit 1
}

cd "$TMP" || exit 1
cat >mdeploy.yml <<EOF
application:
  name: tr
groups:
  - name: prod
    fleet: { size: 2, min: 1, max: 4, port: $port }
    load_balancer: { listen: '127.0.0.1:$lbport', slots: 12 }
    health_check: { path: /health.php, interval: 100ms, healthy_threshold: 1, unhealthy_threshold: 1 }
    traffic_shift: { type: canary, percent: 50, interval: 2s }
    alarms: { http_5xx_percent: 10, window: 1s }
    drain_timeout: 1s
  - name: tls
    fleet: { size: 1, min: 1, max: 1, port: $port }
    load_balancer: { listen: '127.0.0.1:$((lbport + 2))', slots: 2, tls_certificate: lb.pem }
    health_check: { path: /health.php, interval: 100ms, healthy_threshold: 1 }
    alarms: { window: 100ms }
EOF
# The TLS group's certificate: mdeploy.yml's files are checked when it loads.
if command -v openssl >/dev/null; then
	openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 1 \
		-subj /CN=localhost >/dev/null 2>&1
	cat cert.pem key.pem >lb.pem
else
	: >lb.pem
fi
mkrel A "release A"
mkrel B "release B"
mkrel E "release E" 500

run mdeploy deploy create prod A.tar.zst
is "$rc" 0 "first deployment (all at once: nothing to shift from)"
[ "$rc" = 0 ] || diag "$err"

"$MDEPLOY" deploy create prod B.tar.zst >b.out 2>b.err &
dep=$!
: >seen
i=0
while [ $i -lt 300 ] && kill -0 "$dep" 2>/dev/null; do
	curl -s -m 2 "http://127.0.0.1:$lbport/" >>seen
	i=$((i + 1))
done
wait "$dep"
is "$?" 0 "canary deployment of B succeeds"
ok "$(grep -q 'release A' seen && grep -q 'release B' seen; echo $?)" \
	"during the canary interval both releases served ($(grep -c 'release A' seen) A, $(grep -c 'release B' seen) B)"
is "$(curl -s -m 5 "http://127.0.0.1:$lbport/")" "release B" "afterwards only B"
run mdeploy --json deploy status
is "$(printf '%s' "$out" | jq -r '[.steps[] | select(.step == "shift") | .target] | join(",")')" "50,100" "journal: shift 50 then 100"

# E answers 500 to real requests: the alarm must roll it back. It judges
# green on at least 20 responses in the canary interval: four clients keep
# that many coming even when the machine is busy.
: >codes
loop=
for c in 1 2 3 4; do
	(while :; do curl -s -o /dev/null -w '%{http_code}\n' -m 2 "http://127.0.0.1:$lbport/" >>codes; done) &
	loop="$loop $!"
done
run mdeploy deploy create prod E.tar.zst
kill $loop; wait $loop 2>/dev/null; loop=
is "$rc" 1 "the deployment of E fails"
like "$err" "alarm:" "because the 5xx alarm fired"
run mdeploy --json deploy status
is "$(printf '%s' "$out" | jq -r .status)" RolledBack "status RolledBack"
like "$(printf '%s' "$out" | jq -r .error)" "were 5xx" "the record says why"
is "$(curl -s -m 5 "http://127.0.0.1:$lbport/")" "release B" "B serves again"
run mdeploy --json lb show tr-prod
is "$(printf '%s' "$out" | jq '[.targets[] | select(.weight > 0)] | length')" 2 "only blue's two instances take traffic"

# TLS on the frontend, with a certificate made by OpenSSL
if command -v openssl >/dev/null; then
	run mdeploy deploy create tls B.tar.zst
	is "$rc" 0 "deploy behind a TLS frontend"
	[ "$rc" = 0 ] || diag "$err"
	is "$(curl -sk -m 5 "https://127.0.0.1:$((lbport + 2))/")" "release B" "served over HTTPS"
	is "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$((lbport + 2))/")" 000 "not over plain HTTP"
	# Two slots hold blue and green only: a third deployment must first
	# retire the fleet retained from the first.
	run mdeploy deploy create tls A.tar.zst
	is "$rc" 0 "second deployment (blue and green fill both slots)"
	run mdeploy deploy create tls B.tar.zst
	is "$rc" 0 "third deployment retires the older retained fleet for its slot"
	[ "$rc" = 0 ] || diag "$err"
	is "$(curl -sk -m 5 "https://127.0.0.1:$((lbport + 2))/")" "release B" "and serves"
else
	skip 6 "openssl missing"
fi
done_testing
