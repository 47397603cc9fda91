#!/bin/sh
# mdeploy params, secrets and artifacts on the local stores.
. "${top_srcdir:-.}/t/lib.sh"

cd "$TMP" || exit 1
run mdeploy params put /moodle/prod/dbhost db1
is "$rc" 0 "params put"
run mdeploy params put /moodle/prod/dbhost db2
is "$rc" 1 "put over an existing parameter needs --overwrite"
like "$err" "already exists" "error says so"
mdeploy params put --overwrite /moodle/prod/dbhost db2 >/dev/null
echo 'https://moodle.example' | mdeploy params put /moodle/prod/wwwroot - >/dev/null
run mdeploy params get /moodle/prod/dbhost
is "$out" "db2" "get the newest version"
run mdeploy params get /moodle/prod/dbhost:1
is "$out" "db1" "get version 1"
run mdeploy --json params list -r /moodle
is "$(printf '%s' "$out" | jq -r '[.parameters[].name] | join(",")')" "/moodle/prod/dbhost,/moodle/prod/wwwroot" "list -r"
run mdeploy params get /moodle/prod/nothing
is "$rc" 1 "missing parameter"
run mdeploy params put bad-name x
is "$rc" 1 "bad name refused"
run mdeploy params delete /moodle/prod/wwwroot
is "$rc" 0 "delete"

printf 'S3cr3t!' | mdeploy secrets put moodle/db >/dev/null
run mdeploy secrets get moodle/db
is "$rc" 0 "secrets get"
unlike "$out" "S3cr3t!" "value not shown without --reveal"
run mdeploy secrets get --reveal moodle/db
is "$out" "S3cr3t!" "--reveal shows it"
ok "$(! grep -rq 'S3cr3t!' "$MDEPLOY_STATE_DIR"; echo $?)" "value not stored in clear"
is "$(stat -c %a "$MDEPLOY_STATE_DIR/secrets/secrets.key")" 600 "key file is 0600"
printf 'N3w' | mdeploy secrets rotate moodle/db >/dev/null
run mdeploy secrets get --reveal moodle/db
is "$out" "N3w" "rotated"
run mdeploy secrets get --reveal --previous moodle/db
is "$out" "S3cr3t!" "previous value still readable"
run mdeploy --json secrets list
is "$(printf '%s' "$out" | jq -r '.secrets[0].name')" "moodle/db" "list"
unlike "$out" "N3w" "list shows no values"
chmod 644 "$MDEPLOY_STATE_DIR/secrets/secrets.key"
run mdeploy secrets get moodle/db
is "$rc" 1 "key file readable by others is refused"
like "$err" "must be mode 0600" "error says why"
chmod 600 "$MDEPLOY_STATE_DIR/secrets/secrets.key"
run mdeploy secrets rotate --generate nosuch
is "$rc" 1 "rotating a missing secret fails"

for i in 1 2 3 4; do echo "bundle $i" >b$i; mdeploy artifacts put moodle b$i >/dev/null; done
run mdeploy artifacts list moodle
is "$(printf '%s\n' "$out" | cut -f1 | tr '\n' ' ')" "moodle@4 moodle@3 moodle@2 moodle@1 " "list newest first"
run mdeploy artifacts get -o got moodle@2
is "$(cat got)" "bundle 2" "get -o fetches a revision"
sha1=$(mdeploy --json artifacts get moodle@1 | jq -r .sha256)
run mdeploy --json artifacts gc --keep 2 --in-use "$sha1"
is "$(printf '%s' "$out" | jq -r '[.removed[] | .name + "@" + (.revision|tostring)] | join(",")')" "moodle@2" "gc keeps the newest 2 and what is in use"
run mdeploy artifacts get moodle@2
is "$rc" 1 "collected revision is gone"
done_testing
