#!/bin/sh
# mdeploy serve --trust-proxy-header: the user a reverse proxy names is
# believed from the --trusted-proxy addresses only (the test connects from
# other loopback addresses with curl --interface), is read-only unless
# --proxy-writer names it, passes the CSRF check like anyone, and is what
# the audit trail and a deployment made through the console record
# (proxy:NAME). Tokens keep working beside it; the options are refused
# when incomplete or malformed.
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-deploy.sh"
. "$top_srcdir/t/lib-serve.sh"
deploy_test_init 75

command -v jq >/dev/null || { echo "Bail out! jq is needed"; exit 1; }
trap 'serve_stop; deploy_test_cleanup' EXIT
cd "$TMP" || exit 1

# ---- refused configurations ------------------------------------------------------
run mdeploy serve --port 0 --trust-proxy-header X-Forwarded-User
is "$rc" 1 "a proxy header without the proxy's address: refused"
like "$err" "needs the proxy's addresses" "says why"
like "$err" "--trusted-proxy ADDR" "and how to give it"
run mdeploy serve --port 0 --trusted-proxy 127.0.0.2
is "$rc" 2 "--trusted-proxy without --trust-proxy-header: usage error"
run mdeploy serve --port 0 --trust-proxy-header Authorization --trusted-proxy 127.0.0.2
is "$rc" 1 "Authorization as the user header: refused"
run mdeploy serve --port 0 --trust-proxy-header 'X User' --trusted-proxy 127.0.0.2
is "$rc" 1 "a header name with a space: refused"
run mdeploy serve --port 0 --trust-proxy-header X-Forwarded-User --trusted-proxy proxy.example
is "$rc" 1 "a trusted proxy that is not an address: refused"
like "$err" "'proxy.example' is not an IPv4 or IPv6 address" "names it"
run mdeploy serve --port 0 --trust-proxy-header X-Forwarded-User --trusted-proxy 127.0.0.0/33
is "$rc" 1 "a range of 33 bits: refused"
run mdeploy serve --port 0 --trust-proxy-header X-Forwarded-User --trusted-proxy 127.0.0.2 --proxy-writer 'a b'
is "$rc" 1 "a proxy writer that is not a user name: refused"

# ---- a group with two releases, for a rollback through the console -------------------
cat >mdeploy.yml <<EOF
application:
  name: web
groups:
  - name: prod
    fleet: { size: 1, min: 1, max: 2, port: $port }
    load_balancer: { listen: '127.0.0.1:$lbport', slots: 8 }
    health_check: { interval: 100ms, timeout: 1s, healthy_threshold: 1, unhealthy_threshold: 1 }
    alarms: { window: 200ms }
    drain_timeout: 1s
    blue_retention: 1h
EOF
deploy_mkrel one "release one"
deploy_mkrel two "release two"
run mdeploy deploy create prod one.tar.zst
is "$rc" 0 "release one deployed"
[ "$rc" = 0 ] || diag "$err"
run mdeploy deploy create prod two.tar.zst
is "$rc" 0 "release two deployed"
[ "$rc" = 0 ] || diag "$err"

# The proxy is 127.0.0.2 and the range 127.0.1.0/24; the console listens on 127.0.0.1.
serve_start --trust-proxy-header X-Forwarded-User --trusted-proxy 127.0.0.2 --trusted-proxy 127.0.1.0/24 \
	--proxy-writer alice
ok $? "serve with a trusted proxy"
like "$(cat .serve-err)" "users named by X-Forwarded-User are believed from 2 trusted proxies" "serve says whom it believes"
T=$(serve_token robot)

# papi FROM USER PATH [CURL ARGS]: a request from address FROM naming USER ("" for none).
papi() {
	_from=$1 _user=$2 _path=$3
	shift 3
	curl -s -m 30 --interface "$_from" -o "$TMP/.body" -w '%{http_code}' ${_user:+-H "X-Forwarded-User: $_user"} "$@" \
		"$base$_path" >"$TMP/.status"
	cat "$TMP/.body"
}
ppost() {
	_from=$1 _user=$2 _path=$3 _json=$4
	shift 4
	_csrf=$(papi "$_from" "$_user" /api/session | jq -r .csrf)
	papi "$_from" "$_user" "$_path" -X POST -H 'Content-Type: application/json' -H "X-CSRF-Token: $_csrf" \
		--data-binary "$_json" "$@"
}

papi 127.0.0.1 alice /api/session >/dev/null
is "$(api_status)" 401 "the header from an address that is not the proxy: ignored (401)"
papi 127.0.0.3 alice /api/groups >/dev/null
is "$(api_status)" 401 "... nor from a neighbour of the proxy"
papi 127.0.2.1 alice /api/session >/dev/null
is "$(api_status)" 401 "... nor from outside the trusted range"
papi 127.0.0.2 alice /api/session >s.json
is "$(api_status)" 200 "the header from the proxy: signed in"
is "$(jq -r '[.name, .who, .via, .read_only, (.csrf | length)] | @tsv' s.json)" "alice	proxy:alice	proxy	false	64" \
	"session: the proxy's user, a writer (--proxy-writer), with a CSRF token"
papi 127.0.1.9 bob /api/session >s.json
is "$(jq -r '[.who, .read_only] | @tsv' s.json)" "proxy:bob	true" "a user from the trusted range, not a writer: read-only"
papi 127.0.0.2 'bad name' /api/session >/dev/null
is "$(api_status)" 401 "a header that is no user name: refused"
papi 127.0.0.2 "" /api/session >/dev/null
is "$(api_status)" 401 "from the proxy without the header nor a token: 401"
papi 127.0.0.2 "" /api/session -H "Authorization: Bearer $T" >s.json
is "$(jq -r '[.who, .via] | @tsv' s.json)" "token:robot	token" "tokens keep working through the proxy"
papi 127.0.0.1 "" /api/session -H "Authorization: Bearer $T" >/dev/null
is "$(api_status)" 200 "and directly"

# ---- rights, CSRF, and what gets recorded ---------------------------------------------
ppost 127.0.1.9 bob /api/groups/prod/rollback '{}' >/dev/null
is "$(api_status)" 403 "rollback by a read-only proxy user: 403"
like "$(jq -r .error .body)" "user 'bob' (named by the proxy) is read-only" "says why"
papi 127.0.0.2 alice /api/groups/prod/rollback -X POST -H 'Content-Type: application/json' --data-binary '{}' >/dev/null
is "$(api_status)" 403 "rollback by the writer without the CSRF token: 403"
papi 127.0.0.1 alice /api/groups/prod/rollback -X POST -H 'Content-Type: application/json' \
	-H "X-CSRF-Token: $(papi 127.0.0.2 alice /api/session | jq -r .csrf)" --data-binary '{}' >/dev/null
is "$(api_status)" 401 "alice's CSRF token from an address that is not the proxy: 401"
is "$(curl -s -m 5 "http://127.0.0.1:$lbport/")" "release two" "nothing refused changed the release"
ppost 127.0.0.2 alice /api/groups/prod/rollback '{}' >rb.json
is "$(api_status)" 200 "rollback by the writer through the proxy: 200"
[ "$(api_status)" = 200 ] || diag "$(cat rb.json)"
is "$(jq -r .by rb.json)" "proxy:alice" "the reply says who"
is "$(curl -s -m 5 "http://127.0.0.1:$lbport/")" "release one" "back on release one"
is "$(mdeploy deploy status --json "$(jq -r .id rb.json)" | jq -r .created_by)" "proxy:alice" \
	"the rollback's deployment record: created by proxy:alice"
is "$(mdeploy serve audit --json | jq -r '[.audit[] | select(.who | startswith("proxy:")) | "\(.who) \(.action) \(.outcome)"] | reverse | join(",")')" \
	"proxy:? authenticate denied,proxy:bob rollback denied,proxy:alice rollback done" \
	"audit: the bad name, the refusal and the rollback, with who" || \
	diag "$(mdeploy serve audit)"
papi 127.0.0.2 alice / >/dev/null
is "$(api_status)" 200 "the page itself"
done_testing
