#!/bin/sh
# mdeploy serve over HTTPS (--tls-cert/--tls-key): the console answers on
# TLS only, the session cookie is Secure, the CSRF check wants an https
# Origin, webhooks get the https URL; and the refusals around it: a
# non-loopback address without TLS, a key without its certificate, an
# unreadable key, a port in use.
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-serve.sh"

command -v openssl >/dev/null || { echo "Bail out! openssl is needed"; exit 1; }
cd "$TMP" || exit 1
trap 'serve_stop; _tap_cleanup' EXIT

openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 2 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1 || { echo "Bail out! openssl cannot make a certificate"; exit 1; }
chmod 600 key.pem
W=$(serve_token alice)

run mdeploy serve --listen 0.0.0.0 --port 0
is "$rc" 1 "0.0.0.0 without TLS: refused"
like "$err" "needs TLS" "says TLS is needed"
like "$err" "give --tls-cert FILE and --tls-key FILE" "and how to give it"
run mdeploy serve --listen ::2 --port 0
is "$rc" 1 "a non-loopback IPv6 address without TLS: refused"
run mdeploy serve --tls-key key.pem --port 0
is "$rc" 2 "--tls-key without --tls-cert: usage error"
run mdeploy serve --tls-cert cert.pem --tls-key nope.pem --port 0
is "$rc" 1 "an unreadable key: refused"
like "$err" "nope.pem" "names the file"

serve_start --tls-cert cert.pem --tls-key key.pem
ok $? "serve over TLS on 127.0.0.1"
is "$(cat .serve-out)" "https://127.0.0.1:$serve_port/" "prints an https URL"
https="https://127.0.0.1:$serve_port"
is "$(curl -s --cacert cert.pem -o /dev/null -w '%{http_code}' "$https/")" 200 "the page over HTTPS, certificate verified"
is "$(curl -s --cacert cert.pem -H "Authorization: Bearer $W" "$https/api/session" | jq -r .name)" alice "the API over HTTPS"
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$serve_port/" 2>/dev/null)
ok "$([ "$code" != 200 ]; echo $?)" "plain HTTP on the TLS port gets no page ($code)"
curl -s --cacert cert.pem -D hdr -o login.json -H 'Content-Type: application/json' \
	--data-binary "{\"token\":\"$W\"}" "$https/api/login"
like "$(grep -i '^set-cookie' hdr)" "; Secure" "the session cookie is Secure over HTTPS"
like "$(grep -i '^set-cookie' hdr)" "HttpOnly; SameSite=Strict" "and HttpOnly, SameSite=Strict"
sid=$(sed -n 's/^[Ss]et-[Cc]ookie: mdeploy_session=\([0-9a-f]*\);.*/\1/p' hdr)
csrf=$(jq -r .csrf login.json)
post() {
	curl -s --cacert cert.pem -o /dev/null -w '%{http_code}' -H "Cookie: mdeploy_session=$sid" \
		-H 'Content-Type: application/json' -H "X-CSRF-Token: $csrf" "$@" --data-binary '{}' "$https/api/logout"
}
is "$(post -H "Origin: http://127.0.0.1:$serve_port")" 403 "an http:// Origin on the https console: 403"
is "$(post -H "Origin: $https")" 200 "its own https Origin, the session's CSRF token: 200"
is "$(sqlite3 "$MDEPLOY_STATE_DIR/state.db" "SELECT value FROM kv WHERE key = 'web/public-url'")" \
	"$https" "the https URL is recorded for webhooks' links"
ok "$(! grep -q "PRIVATE KEY" .serve-out .serve-err; echo $?)" "the key is printed nowhere"
pid=$serve_pid
other=$serve_port

# A port in use: a clear error, not a crash.
run mdeploy serve --port "$other"
is "$rc" 1 "a port in use: exit 1"
like "$err" "cannot listen on 127.0.0.1 port $other" "says where"
serve_stop
ok "$(! kill -0 "$pid" 2>/dev/null; echo $?)" "stopped"
done_testing
