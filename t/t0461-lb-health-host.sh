#!/bin/sh
# health_check.host (mdeploy.yml): the load balancer's health checks send
# that Host header (HAProxy's `http-check send hdr Host`), so an
# application that answers only for its own name (a Moodle site redirects
# any other) passes them. A PHP release whose health path answers 200 for
# the right Host only: the group that names it deploys and its targets
# pass real checks (L7OK) that carried the Host; a group without it fails
# its health checks, naming what the path answered. Bad values are
# refused at file:line with the field.
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-deploy.sh"
deploy_test_init 461

cd "$TMP" || exit 1
lbport2=$(free_port) || exit 1
cat >mdeploy.yml <<EOF
application:
  name: hh
groups:
  - name: named
    fleet: { size: 2, min: 1, max: 4, port: $port }
    load_balancer: { listen: '127.0.0.1:$lbport', slots: 8 }
    health_check: { path: /health.php, host: moodle.example.org, interval: 100ms, healthy_threshold: 1, unhealthy_threshold: 1 }
    alarms: { window: 100ms }
    drain_timeout: 1s
  - name: bare
    fleet: { size: 1, min: 1, max: 2, port: $port }
    load_balancer: { listen: '127.0.0.1:$lbport2', slots: 8 }
    health_check: { path: /health.php, interval: 100ms, timeout: 1s, healthy_threshold: 1, unhealthy_threshold: 1 }
    alarms: { window: 100ms }
    drain_timeout: 1s
EOF
# mkrel NAME: a release whose health.php writes down the Host of each
# request in $TMP/hosts.NAME and answers 200 for moodle.example.org only
# (421 Misdirected Request otherwise).
mkrel() {
	deploy_mkrel "$1" "release $1"
	cat >"$1/health.php" <<EOF
<?php
\$h = \$_SERVER['HTTP_HOST'] ?? '(none)';
file_put_contents('$TMP/hosts.$1', \$h . "\n", FILE_APPEND);
if (\$h !== 'moodle.example.org') { http_response_code(421); echo "not my name: \$h"; exit; }
echo "ok";
EOF
	"$MDEPLOY" -q bundle create "$1" "$1.tar.zst" >/dev/null || exit 1
}
mkrel A
mkrel B

plan 11

run mdeploy deploy create named A.tar.zst
is "$rc" 0 "the group with health_check.host deploys"
[ "$rc" = 0 ] || diag "$err"
cfg=$(ls "$MDEPLOY_STATE_DIR"/local/lb/hh-named/*.cfg 2>/dev/null | head -n 1)
like "$(cat "$cfg" 2>/dev/null)" "http-check send hdr Host moodle.example.org" \
	"HAProxy's checks send the Host header"
# ("* L7OK": HAProxy is running the next check, the last one passed)
states=$(mdeploy --json lb show hh-named | jq -r '[.targets[] | "\(.health) \(.check_status | ltrimstr("* "))"] | unique | join(",")')
is "$states" "UP L7OK" "both targets passed real checks ($states)"
is "$(sort -u "$TMP/hosts.A")" "moodle.example.org" "the health path saw that Host, only that one"
is "$(curl -s -m 5 "http://127.0.0.1:$lbport/")" "release A" "the release answers through the load balancer"

run mdeploy deploy create bare B.tar.zst
is "$rc" 1 "without health_check.host the same release fails its health checks"
like "$err" "health path answered 421" "naming what the health path answered"
is "$(sort -u "$TMP/hosts.B")" "(none)" "those checks carried no Host"

# Bad values: file, line and field.
sed 's/host: moodle.example.org/host: "moodle.example.org\\r\\nX-Evil: 1"/' mdeploy.yml >bad.yml
run mdeploy --config bad.yml deploy plan named B.tar.zst
is "$rc" 1 "a Host with a line break: refused"
like "$err" "bad.yml:7:" "at file:line"
like "$err" "groups[0].health_check.host: 'moodle.example.org" "naming the field and the value"
