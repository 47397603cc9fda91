#!/bin/sh
# mdeploy.yml `stores:` chooses the provider and options of the parameter,
# secret and artifact stores (provider/store.h's registry): every command
# and the orchestrator use what it says; an unknown provider or an option
# the provider does not take is an error naming file, line and field.
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-deploy.sh"
deploy_test_init 40

cd "$TMP" || exit 1
mkdir -p conf work
cat >conf/mdeploy.yml <<EOF2
application:
  name: storeapp
groups:
  - name: prod
    fleet: { size: 1, min: 1, max: 2, port: $port }
    load_balancer: { listen: 127.0.0.1:$lbport }
    health_check: { path: /, interval: 500ms }
stores:
  params: { provider: local, dir: p }
  secrets:
    dir: $TMP/sec
    key_file: keys/secrets.key
  artifacts: { provider: local, dir: art }
EOF2
mkdir -p conf/keys
cfg="--config $TMP/conf/mdeploy.yml"

plan 24

cd work || exit 1   # (back to $TMP at the end: the cleanup kills what runs below it)
run mdeploy $cfg params put /storeapp/prod/GREETING hello-from-conf
is "$rc" 0 "params put with stores.params in mdeploy.yml"
ok "$(test -f "$TMP/conf/p/params.json"; echo $?)" "the parameter is in stores.params.dir, relative to mdeploy.yml"
ok "$(test ! -e "$MDEPLOY_STATE_DIR/params"; echo $?)" "... and not in the state directory"
printf 'T0pS3cret' | mdeploy $cfg -q secrets put storeapp/prod/DBPASS >/dev/null
is "$?" 0 "secrets put"
ok "$(test -f "$TMP/sec/secrets.json"; echo $?)" "the secret is in stores.secrets.dir (absolute)"
is "$(stat -c %a "$TMP/conf/keys/secrets.key" 2>&1)" 600 "stores.secrets.key_file is the key, 0600"
ok "$(test ! -e "$MDEPLOY_STATE_DIR/secrets"; echo $?)" "nothing in the state directory's secrets"
run mdeploy $cfg secrets get --reveal storeapp/prod/DBPASS
is "$out" "T0pS3cret" "the secret reads back through the configured store"
echo hello >blob
mkdir -p blobdir && echo x >blobdir/f
run mdeploy $cfg artifacts put blobby blob
is "$rc" 0 "artifacts put"
ok "$(test -d "$TMP/conf/art/objects"; echo $?)" "the artifact is in stores.artifacts.dir"
run mdeploy --json $cfg artifacts list
is "$(printf '%s' "$out" | jq -r '.artifacts[0].name')" blobby "artifacts list reads the configured store"
ok "$(test ! -e "$MDEPLOY_STATE_DIR/artifacts"; echo $?)" "nothing in the state directory's artifacts"

# The orchestrator reads the hooks' parameters from the same store.
deploy_mkrel rel v1
cat >>rel/appspec.yml <<'EOF2'
  AfterInstall:
    - location: hooks/env.sh
EOF2
printf '#!/bin/sh\necho "$GREETING" >"%s/seen.$MDEPLOY_INSTANCE_ID"\n' "$TMP" >rel/hooks/env.sh
chmod +x rel/hooks/env.sh
mdeploy -q bundle create rel rel.tar.zst >/dev/null || exit 1
run mdeploy $cfg deploy create prod rel.tar.zst
is "$rc" 0 "deploy create"
[ "$rc" = 0 ] || diag "$err"
is "$(cat "$TMP"/seen.* 2>/dev/null)" hello-from-conf "a hook got the parameter from stores.params"

# Errors name file, line and field; all problems are reported at once.
cat >"$TMP/bad.yml" <<'EOF2'
application:
  name: storeapp
stores:
  params:
    provider: local
  secrets:
    provider: nosuch
  artifacts: { provider: local, key_file: x }
EOF2
run mdeploy --config "$TMP/bad.yml" params list
is "$rc" 1 "an unknown store provider fails"
like "$err" "bad.yml:7:15: stores.secrets.provider: unknown store provider 'nosuch' (this build has: local, aws)" \
	"the error names file, line, field and the providers this build has"
like "$err" "bad.yml:8:43: stores.artifacts.key_file: not an option of the local artifact store (it takes: dir)" \
	"an option the provider does not take is an error too, in the same message"
ok "$(test ! -e "$MDEPLOY_STATE_DIR/params"; echo $?)" "a broken mdeploy.yml is not silently replaced by the state directory"
run mdeploy --config "$TMP/bad.yml" deploy create prod rel.tar.zst
is "$rc" 1 "deploy create refuses the same file"
like "$err" "stores.secrets.provider: unknown store provider 'nosuch'" "... with the same message"

cat >"$TMP/bad2.yml" <<'EOF2'
application:
  name: storeapp
stores:
  params: { provider: local, colour: b }
  parameters: { provider: local }
EOF2
run mdeploy --config "$TMP/bad2.yml" params list
is "$rc" 1 "a key no store provider takes fails"
like "$err" "bad2.yml:4:30: stores.params.colour: unknown key 'colour'" "the error names it"
cat >"$TMP/bad3.yml" <<'EOF2'
application:
  name: storeapp
stores:
  params: { provider: local, dir: "" }
EOF2
run mdeploy --config "$TMP/bad3.yml" params list
like "$err" "bad3.yml:4:35: stores.params.dir: must be a path, not empty" "the provider's own check of a value"

# Without stores: (or without mdeploy.yml) the stores are in the state directory, as before.
cd "$TMP" && mkdir -p plain && cd plain || exit 1
run mdeploy params put /x/y z
ok "$(test -f "$MDEPLOY_STATE_DIR/params/params.json"; echo $?)" "no mdeploy.yml: the state directory's params"
cd "$TMP" || exit 1
