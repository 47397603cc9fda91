#!/bin/sh
# mdeploy infra on the local provider, its certificate part (the ACM
# stand-in): apply makes a CA and a server certificate for the load
# balancers with OpenSSL's C API (keys 0600) naming every group's listen
# host; a group that names no tls_certificate then gets an HAProxy that
# speaks TLS with it, verified with the CA; a group added on another address
# gets a new certificate; status checks the certificate against its CA and
# fails on a forged one, which apply replaces.
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-deploy.sh"
deploy_test_init 81

[ -x /usr/lib/postgresql/15/bin/initdb ] || { echo "Bail out! PostgreSQL 15 missing: apt-get install postgresql"; exit 1; }
command -v redis-server >/dev/null || { echo "Bail out! redis-server missing: apt-get install redis-server"; exit 1; }
command -v openssl >/dev/null || { echo "Bail out! openssl missing"; exit 1; }
[ "$(id -u)" = 0 ] && chmod 711 "$TMP"

infra_cleanup() {
	mdeploy infra destroy >/dev/null 2>&1
	for p in /proc/[0-9]*; do
		{ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -q "$TMP/" && kill -9 "${p#/proc/}" 2>/dev/null
	done
	deploy_test_cleanup
}
trap infra_cleanup EXIT

plan 17
cd "$TMP" || exit 1
cat >mdeploy.yml <<EOF
application:
  name: tls
groups:
  - name: prod
    fleet: { size: 1, port: $port }
    load_balancer: { listen: '127.0.0.1:$lbport', slots: 4 }
    health_check: { path: /health.php, interval: 200ms, timeout: 1s, healthy_threshold: 1 }
EOF
run mdeploy infra apply
is "$rc" 0 "infra apply succeeds"
[ "$rc" = 0 ] || diag "$err"
tls="$MDEPLOY_STATE_DIR/infra/tls"
is "$(stat -c %a "$tls/ca.key" "$tls/lb.pem" "$tls" | tr '\n' ' ')" "600 600 700 " "the keys (ca.key, lb.pem) are 0600 in a 0700 directory"
is "$(openssl verify -CAfile "$tls/ca.pem" "$tls/lb.pem" 2>&1)" "$tls/lb.pem: OK" "the load balancers' certificate is signed by the local CA"
like "$(openssl x509 -in "$tls/lb.pem" -noout -ext subjectAltName 2>&1)" "DNS:localhost, IP Address:127.0.0.1" \
	"it names localhost and 127.0.0.1"
ok "$(openssl x509 -in "$tls/ca.pem" -noout -ext basicConstraints 2>&1 | grep -q 'CA:TRUE'; echo $?)" "ca.pem is a CA"
is "$(mdeploy --json infra outputs | jq -r '.outputs.ca_certificate')" "$tls/ca.pem" "outputs name the CA to trust"

# A group without a certificate of its own: its load balancer speaks TLS with infra's.
deploy_mkrel A "release A"
run mdeploy deploy create prod A.tar.zst
is "$rc" 0 "deploy create on the group"
[ "$rc" = 0 ] || diag "$err"
is "$(curl -s -m 10 --cacert "$tls/ca.pem" "https://127.0.0.1:$lbport/")" "release A" \
	"the load balancer serves HTTPS, verified with the local CA"
is "$(curl -s -m 10 --cacert "$tls/ca.pem" "https://localhost:$lbport/")" "release A" "... also as localhost"
ok "$(curl -s -m 5 -o /dev/null "http://127.0.0.1:$lbport/"; [ $? != 0 ]; echo $?)" "... and no plain HTTP"
cfg=$(cat "$MDEPLOY_STATE_DIR"/local/lb/tls-prod/haproxy.cfg 2>/dev/null)
like "$cfg" "ssl crt $tls/lb.pem" "HAProxy's bind uses lb.pem"

# A group on another address: the certificate must name it.
lb2=$(free_port) && port2=$(free_port) || exit 1
cat >>mdeploy.yml <<EOF
  - name: other
    fleet: { size: 1, port: $port2 }
    load_balancer: { listen: '127.0.0.1:$lb2' }
  - name: named
    fleet: { size: 1, port: $port2 }
    load_balancer: { listen: 'moodle.test:$lb2' }
EOF
run mdeploy --json infra plan
like "$(printf '%s' "$out" | jq -r '.changes[] | select(.resource == "certificate") | "\(.action) \(.detail)"')" \
	"update a new certificate from the local CA for DNS:localhost,IP:127.0.0.1,DNS:moodle.test" \
	"plan: a group on moodle.test needs a new certificate"
run mdeploy infra apply
like "$(openssl x509 -in "$tls/lb.pem" -noout -ext subjectAltName 2>&1)" "DNS:moodle.test" "apply issues it"
is "$(openssl verify -CAfile "$tls/ca.pem" "$tls/lb.pem" 2>&1)" "$tls/lb.pem: OK" "... from the same CA"

# A forged lb.pem: status fails, apply replaces it.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/k.pem" -out "$TMP/c.pem" \
	-days 30 -subj /CN=localhost >/dev/null 2>&1
cat "$TMP/c.pem" "$TMP/k.pem" >"$tls/lb.pem"
run mdeploy --json infra status
ok "$([ "$rc" = 1 ] && printf '%s' "$out" | jq -e '.resources[] | select(.name == "certificate" and .up == false) |
	.problem | test("not signed by the CA")' >/dev/null; echo $?)" "status fails on a certificate the CA did not sign"
run mdeploy infra apply
is "$(openssl verify -CAfile "$tls/ca.pem" "$tls/lb.pem" 2>&1)" "$tls/lb.pem: OK" "apply replaces it"
run mdeploy infra status
is "$rc" 0 "everything is up"
done_testing
