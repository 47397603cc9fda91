# lib-serve.sh - shared pieces of the web console tests (t71NN). Source after
# lib.sh (and lib-deploy.sh when the test deploys).
#
# serve_start [OPTIONS...]: start `mdeploy serve --port 0` in the background
#   in $TMP, wait until it listens; sets $serve_pid, $serve_port, $base
#   (http://127.0.0.1:PORT). serve_stop stops it (the tests' EXIT traps call it).
# serve_token NAME [--read-only]: create a token, print it.
# api TOKEN PATH [CURL ARGS...]: GET with a bearer token; the body on stdout,
#   the status in $TMP/.status (read it with `api_status`).
# api_post TOKEN PATH JSON [CURL ARGS...]: POST JSON with the token and the
#   CSRF token of GET /api/session.

serve_start() {
	rm -f "$TMP/.serve-port"
	"$MDEPLOY" serve --port 0 --port-file "$TMP/.serve-port" "$@" >"$TMP/.serve-out" 2>"$TMP/.serve-err" &
	serve_pid=$!
	_i=0
	while [ ! -s "$TMP/.serve-port" ] && [ $_i -lt 100 ] && kill -0 "$serve_pid" 2>/dev/null; do
		sleep 0.1
		_i=$((_i + 1))
	done
	serve_port=$(cat "$TMP/.serve-port" 2>/dev/null)
	base="http://127.0.0.1:$serve_port"
	[ -n "$serve_port" ]
}

serve_stop() {
	if [ -n "${serve_pid:-}" ]; then
		kill "$serve_pid" 2>/dev/null
		wait "$serve_pid" 2>/dev/null
		serve_pid=
	fi
}

serve_token() {
	"$MDEPLOY" serve token create "$@" 2>/dev/null
}

api() {
	_tok=$1 _path=$2
	shift 2
	curl -s -m 60 -o "$TMP/.body" -w '%{http_code}' ${_tok:+-H "Authorization: Bearer $_tok"} "$@" \
		"$base$_path" >"$TMP/.status"
	cat "$TMP/.body"
}

api_status() { cat "$TMP/.status"; }

api_csrf() {
	curl -s -m 10 -H "Authorization: Bearer $1" "$base/api/session" | jq -r .csrf
}

api_post() {
	_tok=$1 _path=$2 _json=$3
	shift 3
	_csrf=$(api_csrf "$_tok")
	api "$_tok" "$_path" -X POST -H 'Content-Type: application/json' -H "X-CSRF-Token: $_csrf" \
		--data-binary "$_json" "$@"
}
