#!/bin/sh
# Fetching over HTTP with authentication: a token from the environment, a
# git credential helper, and a clear error without either (never a prompt).
. "${top_srcdir:-.}/t/lib.sh"
command -v git >/dev/null 2>&1 || skip_all "git not installed"
command -v python3 >/dev/null 2>&1 || skip_all "python3 not installed"
[ -x /usr/lib/git-core/git-http-backend ] || skip_all "git http-backend not installed"
sh "$top_srcdir/t/fixtures/mkmoodle.sh" "$TMP/fx" || exit 1
mkdir -p "$TMP/srv"
git clone -q --bare "$TMP/fx/moodle" "$TMP/srv/moodle.git"
python3 "$top_srcdir/t/fixtures/githttp.py" "$TMP/srv" alice s3cret "$TMP/port" 2>"$TMP/http.log" &
server=$!
trap 'kill $server 2>/dev/null; _tap_cleanup' EXIT
i=0
while [ ! -s "$TMP/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
port=$(cat "$TMP/port")
mkdir -p "$TMP/app" && cd "$TMP/app" || exit 1
printf 'application:\n  name: demo\nsource:\n  core:\n    url: http://127.0.0.1:%s/moodle.git\n    ref: v4.5.1\n' \
	"$port" >mdeploy.yml
export HOME="$TMP/home" GIT_CONFIG_NOSYSTEM=1
unset GIT_CONFIG_GLOBAL MDEPLOY_GIT_TOKEN MDEPLOY_GIT_USER 2>/dev/null || true
mkdir -p "$HOME"

run mdeploy source lock
is "$rc" 1 "no token, no helper: fails"
like "$err" "authentication required; set MDEPLOY_GIT_TOKEN or configure a git credential helper" "says how to fix it"

out=$(MDEPLOY_GIT_USER=alice MDEPLOY_GIT_TOKEN=wrong "$MDEPLOY" source lock 2>&1)
is "$?" 1 "a wrong token fails (and does not loop)"

out=$(MDEPLOY_GIT_USER=alice MDEPLOY_GIT_TOKEN=s3cret "$MDEPLOY" source lock 2>&1)
is "$?" 0 "the right token from the environment: lock succeeds"
is "$(jq -r .core.commit mdeploy.lock)" "$(git -C "$TMP/fx/moodle" rev-parse 'v4.5.1^{commit}')" "locked over HTTP"

rm -rf "$MDEPLOY_STATE_DIR" mdeploy.lock
printf '#!/bin/sh\necho username=alice\necho password=s3cret\n' >"$TMP/helper"
chmod +x "$TMP/helper"
printf '[credential]\n\thelper = %s\n' "$TMP/helper" >"$HOME/.gitconfig"
run mdeploy source lock
is "$rc" 0 "credentials from a git credential helper: lock succeeds"
run mdeploy source validate
is "$rc" 0 "and the release validates"
like "$(cat "$TMP/http.log")" "POST /moodle.git/git-upload-pack 200" "the server saw an authenticated fetch"

sed -i "s|url: .*|url: http://127.0.0.1:1/nothing.git|" mdeploy.yml
run mdeploy source fetch
is "$rc" 1 "an unreachable server: exit 1"
like "$err" "cannot fetch http://127.0.0.1:1/nothing.git" "names the URL"
is "$(ls "$MDEPLOY_STATE_DIR/mirrors" | grep -c 'tmp-')" 0 "and leaves no half-made mirror"
done_testing
