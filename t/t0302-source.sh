#!/bin/sh
# mdeploy source: lock, fetch, status, validate, export, diff on fixtures.
. "${top_srcdir:-.}/t/lib.sh"
command -v git >/dev/null 2>&1 || skip_all "git not installed"
sh "$top_srcdir/t/fixtures/mkmoodle.sh" "$TMP/fx" || exit 1
cd "$TMP/fx" || exit 1

run mdeploy source lock
is "$rc" 0 "lock: exit 0"
ok "$(test -f mdeploy.lock; echo $?)" "mdeploy.lock written"
is "$(jq -r '.plugins | map(.component) | join(" ")' mdeploy.lock)" "local_tweaks mod_certx mod_workflow" \
	"plugins sorted by component"
is "$(jq -r .core.commit mdeploy.lock)" "$(git -C moodle rev-parse 'v4.5.0^{commit}')" "core commit locked"
is "$(jq -r .core.tree mdeploy.lock)" "$(git -C moodle rev-parse 'v4.5.0^{tree}')" "core tree locked"
ls "$MDEPLOY_STATE_DIR/mirrors" | grep -c '\.git$' >"$TMP/n"
is "$(cat "$TMP/n")" 4 "one bare mirror per URL"
ok "$(test -f "$MDEPLOY_STATE_DIR/mirrors/$(ls "$MDEPLOY_STATE_DIR/mirrors" | grep 'moodle.git$')/HEAD"; echo $?)" \
	"mirrors are bare repositories"
cp mdeploy.lock "$TMP/fx/lock1.json"
run mdeploy source lock
is "$(cat mdeploy.lock)" "$(cat "$TMP/fx/lock1.json")" "locking again gives the same file"

# Local repositories are fetched by git(1) when it is there (libgit2's local
# transport searches deltas anew: several times slower); the mirror is the
# same as libgit2 makes it.
run mdeploy -v source fetch
like "$err" "fetching $(cd "$TMP/fx" && pwd -P)/moodle with git" "a local URL is fetched with git"
MDEPLOY_GIT_FETCH=libgit2 MDEPLOY_STATE_DIR="$TMP/state-lg2" "$MDEPLOY" -q source fetch
for m in "$MDEPLOY_STATE_DIR"/mirrors/*.git; do
	n=$(basename "$m")
	is "$(git --git-dir="$m" show-ref)" "$(git --git-dir="$TMP/state-lg2/mirrors/$n" show-ref)" \
		"$n: the same refs as libgit2 fetches"
done
ok "$(git --git-dir="$(ls -d "$MDEPLOY_STATE_DIR"/mirrors/*-moodle.git)" fsck --no-progress >/dev/null 2>&1; echo $?)" \
	"the mirror git fetched passes fsck"
# Refs that went away upstream go from the mirror too.
git -C moodle tag gone v4.5.0 && "$MDEPLOY" -q source fetch && git -C moodle tag -d gone >/dev/null && "$MDEPLOY" -q source fetch
is "$(git --git-dir="$(ls -d "$MDEPLOY_STATE_DIR"/mirrors/*-moodle.git)" tag -l gone)" "" "a deleted tag is pruned"

run mdeploy moodle inspect v4.5.2
is "$rc" 0 "moodle inspect REF reads mdeploy.yml's core mirror"
like "$out" "version 2024100702.00" "at that ref"

run mdeploy source validate
is "$rc" 0 "validate: exit 0"
like "$out" "workflowstep_email               2024070100     mod/workflow/step/email" \
	"subplugin type declared by a plugin repository"
like "$out" "mod_certx                        2024050100     mod/certx" "plugin installed at its type's dir"
like "$out" "ok: no problems" "no problems"

run mdeploy source export "$TMP/out"
is "$rc" 0 "export: exit 0"
ok "$(test -x "$TMP/out/admin/cron.sh"; echo $?)" "export keeps the executable bit"
is "$(readlink "$TMP/out/weblib-link.php")" "lib/weblib.php" "export keeps symlinks"
ok "$(test ! -e "$TMP/out/.git"; echo $?)" "no .git in the export"
is "$(cat "$TMP/out/mod/certx/lib.php")" "$(git -C mod_certx show v1.0.0:lib.php)" "plugin file content"
is "$(jq -r .components.mod_certx "$TMP/out/.mdeploy-release.json")" 2024050100 "manifest lists component versions"
is "$(jq -r .layout "$TMP/out/.mdeploy-release.json")" root "manifest records the layout"
git -C moodle archive v4.5.0 | (mkdir -p "$TMP/ref" && cd "$TMP/ref" && tar -xf -)
for p in mod_certx mod_workflow local_tweaks; do
	t=${p%%_*}; n=${p#*_}; d=$t/$n; [ "$t" = local ] || [ "$t" = mod ] || d=$t/$n
	mkdir -p "$TMP/ref/$d"; git -C "$p" archive v1.0.0 | (cd "$TMP/ref/$d" && tar -xf -)
done
run diff -r "$TMP/ref" "$TMP/out" -x .mdeploy-release.json
is "$rc" 0 "export equals git archive of core and plugins"
run mdeploy source export "$TMP/out"
is "$rc" 1 "export into a non-empty directory fails"
like "$err" "already exists" "and says so"

# bundle create --release gives the very bytes of bundling the export.
mkdir -p "$TMP/ov" && printf 'version: 0.0\nos: linux\nfiles:\n  - source: /\n    destination: /srv/moodle\n' >"$TMP/ov/appspec.yml"
run mdeploy bundle create --release mdeploy.lock --overlay "$TMP/ov" --time 1764000000 "$TMP/rel.tar"
is "$rc" 0 "bundle create --release"
run mdeploy source export "$TMP/outb"
cp -a "$TMP/ov/." "$TMP/outb/"
run mdeploy bundle create --time 1764000000 "$TMP/outb" "$TMP/dir.tar"
is "$rc" 0 "bundle create of the export"
cmp -s "$TMP/rel.tar" "$TMP/dir.tar"
ok $? "--release and the export's bundle are byte-identical"
is "$(tar -xOf "$TMP/rel.tar" .mdeploy/manifest.json | jq -r '.source.application + " " + (.source.core.url | test("^/") | tostring)')" \
	"demo true" "the manifest's source has the application and the core's URL"
ok "$(tar -tf "$TMP/dir.tar" | grep -c '^\.mdeploy-release\.json$' >/dev/null; test $? = 1; echo $?)" \
	"the export's .mdeploy-release.json is the bundle's source, not an entry"

run mdeploy source diff v4.5.0 v4.5.1
is "$rc" 0 "diff of a code-only release: exit 0"
like "$out" "code-only" "code-only classified"
like "$out" "changed  core                         2024100700.00                1 file" "one file changed in core"
run mdeploy --json source diff v4.5.1 v4.5.2
is "$(printf '%s' "$out" | jq -r .classification)" upgrade "version bump is an upgrade"
is "$(printf '%s' "$out" | jq -r '.upgrade_caused_by | join(" ")')" "core mod_forum" "names what causes it"
run mdeploy --json source diff v4.5.2 v5.1.0
is "$(printf '%s' "$out" | jq -r '.components[0].files_changed')" 2 \
	"moving to public/ is not every file changed"

# A plugin bump, a plugin added: two locks.
sed -i '/url: mod_certx/{n;s/v1.0.0/v1.1.0/}' mdeploy.yml
run mdeploy source validate
is "$rc" 1 "validate with a lock older than mdeploy.yml fails"
like "$err" "mdeploy.lock is out of date: mod_certx is locked with another url, ref or path than mdeploy.yml gives (mdeploy.yml:8:7)" \
	"and says which repository"
run mdeploy source status
like "$out" "mod_certx                    v1.1.0         not locked" "status: a ref not in the lock"
run mdeploy source lock
cp mdeploy.lock "$TMP/fx/lock2.json"
run mdeploy --json source diff "$TMP/fx/lock1.json" "$TMP/fx/lock2.json"
is "$(printf '%s' "$out" | jq -r .classification)" upgrade "plugin version bump: upgrade"
is "$(printf '%s' "$out" | jq -r '.components[] | select(.component=="mod_certx") | .old_version + ">" + .new_version')" \
	"2024050100>2024060100" "old and new versions of the plugin"
run mdeploy --json source diff "$TMP/fx/lock1.json" "$TMP/out/.mdeploy-release.json"
is "$(printf '%s' "$out" | jq -r '.classification + " " + (.components | length | tostring)')" "code-only 0" \
	"a lock and the manifest of its export are the same release"

# Two manifests where the mirrors are gone: versions only.
run mdeploy source export "$TMP/out2"
nostate=$(MDEPLOY_STATE_DIR="$TMP/none" "$MDEPLOY" --json source diff "$TMP/out/.mdeploy-release.json" "$TMP/out2/.mdeploy-release.json" 2>"$TMP/warn")
is "$(printf '%s' "$nostate" | jq -r '.classification + " " + (.components | map(.component + ":" + (.files_changed | tostring)) | join(","))')" \
	"upgrade mod_certx:null" "manifests without mirrors: versions compared, no file counts"
like "$(cat "$TMP/warn")" "comparing component versions only" "and it says so"

# status after upstream moves
git -C mod_certx tag -f -a -m moved v1.1.0 v1.0.1 >/dev/null 2>&1
run mdeploy source status
like "$out" "mod_certx                    v1.1.0         moved" "status: a tag moved upstream"

# fetch --locked: a commit gone upstream (a branch deleted)
git -C mod_certx checkout -q -b hotfix v1.0.0
echo '// hotfix' >>mod_certx/lib.php
git -C mod_certx -c user.name=t -c user.email=t@example.org commit -q -am hotfix
git -C mod_certx checkout -q main
sed -i '/url: mod_certx/{n;s/v1.1.0/hotfix/}' mdeploy.yml
run mdeploy source lock
is "$rc" 0 "lock a branch"
hot=$(git -C mod_certx rev-parse hotfix)
git -C mod_certx branch -q -D hotfix
run mdeploy source fetch --locked
is "$rc" 1 "fetch --locked with a commit no longer upstream fails"
like "$err" "mod_certx: commit $hot (ref hotfix) is no longer on any branch or tag" "names the component and commit"
fresh=$(MDEPLOY_STATE_DIR="$TMP/fresh" "$MDEPLOY" source fetch --locked 2>&1)
like "$fresh" "mod_certx: commit $hot (ref hotfix) is not in" "on a fresh cache too"
sed -i '/url: mod_certx/{n;s/hotfix/v1.0.0/}' mdeploy.yml
cp "$TMP/fx/lock1.json" mdeploy.lock
run mdeploy source fetch --locked
is "$rc" 0 "fetch --locked of reachable commits: exit 0"

# hand-edited lock
jq '.plugins[0].tree = "0000000000000000000000000000000000000000"' "$TMP/fx/lock1.json" >mdeploy.lock
run mdeploy source validate
is "$rc" 1 "edited lock: validate fails"
like "$err" "local_tweaks: tree 0000000000000000000000000000000000000000 does not match commit" "says which"
printf '{"mdeploy_lock": 1, "core": {' >mdeploy.lock
run mdeploy source validate
like "$err" "mdeploy.lock:1:" "corrupt lock: named with line"

# A plugin colliding with core: a directory core has, and a core symlink on its path.
git clone -q moodle "$TMP/evilcore"
mkdir -p "$TMP/outside"
git -C "$TMP/evilcore" rm -rq local
ln -s "$TMP/outside" "$TMP/evilcore/local"
git -C "$TMP/evilcore" add local
git -C "$TMP/evilcore" -c user.name=t -c user.email=t@example.org commit -qm "local is a symlink"
mkdir -p "$TMP/app2"
cat >"$TMP/app2/mdeploy.yml" <<YAML
application:
  name: evil
source:
  core:
    url: $TMP/evilcore
    ref: main
  plugins:
    - component: local_tweaks
      url: $TMP/fx/local_tweaks
      ref: v1.0.0
    - component: mod_certx
      url: $TMP/fx/mod_certx
      ref: v1.0.0
      path: mod/forum
YAML
run mdeploy -C "$TMP/app2" source lock
run mdeploy -C "$TMP/app2" source validate
is "$rc" 1 "plugins colliding with core: validate fails"
like "$err" "local_tweaks: install path local/tweaks collides with Moodle core's files" "a core symlink on the plugin's path"
like "$err" "mod_certx: install path mod/forum collides with Moodle core's files" "a core directory"
run mdeploy -C "$TMP/app2" source export "$TMP/evilout"
is "$(ls "$TMP/outside" | wc -l)" 0 "export writes nothing through core's symlink"

# missing ref, unreachable URL, malformed mdeploy.yml
cp "$TMP/fx/lock1.json" mdeploy.lock
sed -i '/url: mod_certx/{n;s/v1.0.0/v7/}' mdeploy.yml
run mdeploy source lock
is "$rc" 1 "missing ref: exit 1"
like "$err" "mdeploy.yml:10:12: source.plugins[0].ref: no tag or branch 'v7' in mod_certx" "missing ref named with line"
is "$(cat mdeploy.lock)" "$(cat "$TMP/fx/lock1.json")" "failed lock leaves mdeploy.lock as it was"
sed -i 's/ref: v7$/ref: v1.0.0/; s|url: moodle$|url: nowhere|' mdeploy.yml
run mdeploy source fetch
is "$rc" 1 "unreachable URL: exit 1"
like "$err" "cannot fetch $(cd "$TMP/fx" && pwd -P)/nowhere: no such repository" "unreachable URL named"
ok "$(ls "$MDEPLOY_STATE_DIR/mirrors" | grep -c tmp- >/dev/null; test $? = 1; echo $?)" "no half-written mirror left"
printf 'application:\n  name: demo\nsource:\n  core:\n    url: moodle\n    rev: v4.5.0\n' >mdeploy.yml
run mdeploy source fetch
is "$rc" 1 "malformed mdeploy.yml: exit 1"
like "$err" "mdeploy.yml:6:5: source.core.rev: unknown key 'rev'" "malformed mdeploy.yml: file:line:col: field"
done_testing
