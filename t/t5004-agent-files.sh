#!/bin/sh
# mdeploy agent: the appspec files section (file_exists_behavior, cleanup
# list, restore after a failure) and permissions.
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/fixtures/agent-rev.sh"

W="$TMP/www"
E="$TMP/etc"
# filesrev NAME BEHAVIOUR FILE... : a revision copying web/ to $W and config/app.conf to $E.
filesrev() {
	_n=$1 _b=$2; shift 2
	mkrev "$_n"
	mkdir -p "$TMP/$_n/web/sub" "$TMP/$_n/config"
	echo "conf of $_n" >"$TMP/$_n/config/app.conf"
	for _f in "$@"; do echo "$_f of $_n" >"$TMP/$_n/web/$_f"; done
	cat >>"$TMP/$_n/appspec.yml" <<YML
file_exists_behavior: $_b
files:
  - source: web
    destination: $W
  - source: config/app.conf
    destination: $E
permissions:
  - object: $W
    pattern: "*.html"
    mode: 600
    type: [file]
  - object: scripts
    mode: 750
    type: [directory]
YML
}

R="$TMP/root"
mkdir -p "$E"
echo "not ours" >"$E/app.conf"

filesrev a DISALLOW a.html index.html
run mdeploy agent install --root "$R" --deployment-id d-a "$TMP/a"
is "$rc" 1 "DISALLOW: a file we did not place exists: exit 1"
like "$err" "files: '$E/app.conf' already exists and was not installed by the previous deployment (file_exists_behavior: DISALLOW)" \
	"DISALLOW: message names the file"
is "$(cat "$E/app.conf")" "not ours" "DISALLOW: existing file untouched"
ok "$([ ! -e "$W" ]; echo $?)" "DISALLOW: nothing was copied"

filesrev b RETAIN a.html index.html
run mdeploy agent install --root "$R" --deployment-id d-b "$TMP/b"
is "$rc" 0 "RETAIN: install succeeds"
is "$(cat "$E/app.conf")" "not ours" "RETAIN: existing file kept"
is "$(cat "$W/index.html")" "index.html of b" "RETAIN: new files copied"
is "$(stat -c %a "$W/a.html")" 600 "permissions: mode applied to matching files"
is "$(stat -c %a "$R/releases/d-b/scripts")" 750 "permissions: relative object inside the release, type directory"
is "$(stat -c %a "$R/releases/d-b/scripts/hook.sh")" 755 "permissions: type directory leaves files alone"

filesrev c OVERWRITE index.html c.html
run mdeploy agent install --root "$R" --deployment-id d-c "$TMP/c"
is "$rc" 0 "OVERWRITE: install succeeds"
is "$(cat "$E/app.conf")" "conf of c" "OVERWRITE: existing file replaced"
is "$(cat "$W/index.html")" "index.html of c" "files placed by the previous install are replaced"
ok "$([ ! -e "$W/a.html" ]; echo $?)" "cleanup list: a file only the previous revision had is removed"
is "$(cat "$W/c.html")" "c.html of c" "new file placed"

# DISALLOW does not object to files the previous deployment placed.
filesrev d DISALLOW index.html d.html
run mdeploy agent install --root "$R" --deployment-id d-d "$TMP/d"
is "$rc" 0 "DISALLOW: replacing the previous deployment's files is fine"
is "$(cat "$W/index.html")" "index.html of d" "DISALLOW: replaced"
ok "$([ ! -e "$W/c.html" ]; echo $?)" "DISALLOW: previous-only file cleaned up"

# A failure after Install puts the previous files back.
filesrev e DISALLOW index.html e.html
: >"$TMP/e/fail-ValidateService"
run mdeploy agent install --root "$R" --deployment-id d-e "$TMP/e"
is "$rc" 1 "failing ValidateService: exit 1"
is "$(live "$R")" d-d "failing ValidateService: previous release live"
is "$(cat "$W/index.html")" "index.html of d" "failing ValidateService: previous files restored"
ok "$([ ! -e "$W/e.html" ]; echo $?)" "failing ValidateService: the failed revision's files removed"

# Rollback reinstalls the previous release's files.
run mdeploy agent rollback --root "$R"
is "$rc" 0 "rollback"
is "$(live "$R")" d-c "rollback: d-c live"
is "$(cat "$W/index.html")" "index.html of c" "rollback: d-c's files back"
ok "$([ ! -e "$W/d.html" ]; echo $?)" "rollback: d-d's files removed"

# ACLs (setfacl) and ownership.
mkrev g
mkdir -p "$TMP/g/web"
echo g >"$TMP/g/web/g.html"
cat >>"$TMP/g/appspec.yml" <<YML
file_exists_behavior: OVERWRITE
files:
  - source: web
    destination: $TMP/www-g
permissions:
  - object: $TMP/www-g
    acls:
      - u:nobody:rw
      - d:u:nobody:r
YML
if [ "$(id -u)" = 0 ]; then
	cat >>"$TMP/g/appspec.yml" <<YML
  - object: $TMP/www-g
    owner: nobody
    group: $(id -gn nobody)
YML
fi
if ! command -v setfacl >/dev/null 2>&1; then
	skip 5 "setfacl not installed (apt-get install -y acl)"
else
	run mdeploy agent install --root "$TMP/root-g" --deployment-id d-g "$TMP/g"
	is "$rc" 0 "permissions with acls: install succeeds"
	[ "$rc" = 0 ] || diag "$err"
	like "$(getfacl -p "$TMP/www-g/g.html" 2>/dev/null)" "user:nobody:rw-" "acls: setfacl applied to files"
	like "$(getfacl -p "$TMP/www-g" 2>/dev/null)" "default:user:nobody:r--" "acls: default entries applied to directories"
	if [ "$(id -u)" = 0 ]; then
		is "$(stat -c %U "$TMP/www-g/g.html")" nobody "owner applied"
		is "$(stat -c %U "$TMP/www-g")" nobody "owner applied to the object directory (pattern **)"
	else
		skip 2 "chown needs root"
	fi
fi

# A missing source is named.
filesrev f OVERWRITE index.html
sed -i 's|source: config/app.conf|source: config/missing.conf|' "$TMP/f/appspec.yml"
run mdeploy agent install --root "$R" --deployment-id d-f "$TMP/f"
like "$err" "files[1]: source 'config/missing.conf' is not in the bundle" "missing source named"
is "$(live "$R")" d-c "missing source: previous release live"
done_testing
