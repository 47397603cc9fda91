#!/bin/sh
# Names are bytes: every name git allows (UTF-8, non-UTF-8, control
# characters, backslashes, long names) bundles, verifies and extracts to the
# same bytes in every format, from a directory and with --git, whatever the
# locale (the CLI never calls setlocale()).
. "${top_srcdir:-.}/t/lib.sh"
command -v git >/dev/null 2>&1 || skip_all "git not installed"
command -v jq >/dev/null 2>&1 || skip_all "jq not installed"

cd "$TMP" || exit 1
# A Moodle-shaped tree (--git reads it as a release) with names of all kinds.
sh "$top_srcdir/t/fixtures/mkmoodle.sh" fx >/dev/null 2>&1 || skip_all "fixture generator failed"
git clone -q -b v4.5.0 fx/moodle repo 2>/dev/null || skip_all "cannot clone the fixture"
(
	cd repo || exit 1
	printf 'version: 0.0\nos: linux\nfiles:\n  - source: /\n    destination: /srv/moodle\n' >appspec.yml
	printf 'emoji\n' >"$(printf '\360\237\230\200').txt"        # U+1F600, as in Moodle 4.1
	printf 'latin1\n' >"$(printf 'caf\351')"                   # not UTF-8
	printf 'first\n' >"$(printf '0\303\251').txt"                # before appspec.yml
	printf 'ctl\n' >"$(printf 'new\nline\ttab \\ back')"        # top level, with a backslash
	mkdir -p "$(printf '\316\251mega')/sub" &&
		printf 'bs\n' >"$(printf '\316\251mega')/sub/a\\b"      # a backslash below a directory
	long=$(printf '%0250d' 0 | tr 0 l)
	mkdir -p "$long/$long/$long/$long" && printf 'long\n' >"$long/$long/$long/$long/$long.php"
	u8long=$(printf '%060d' 0 | sed "s/0/$(printf '\303\251')/g")   # 60 x U+00E9: 120 bytes
	printf 'u8long\n' >"$u8long.txt"
	ln -s "$(printf '\360\237\230\200').txt" link-emoji
	ln -s "$(printf 'caf\351')" link-raw
	git add -A && git commit -q -m names
) || skip_all "cannot make the repository"
mkdir tree && git -C repo archive HEAD | tar -xf - -C tree || skip_all "git archive failed"

# A byte-exact listing of a tree: names (in hex), types, link targets and
# file contents (`read -d` is not POSIX sh: it runs in bash).
command -v bash >/dev/null 2>&1 || skip_all "bash not installed"
listing_sh=$(cat <<'EOF'
cd "$1" && find . -path ./.mdeploy -prune -o -print0 | LC_ALL=C sort -z |
	while IFS= read -r -d '' f; do
		printf '%s ' "$(printf '%s' "$f" | od -An -tx1 | tr -d ' \n')"
		if [ -L "$f" ]; then printf 'L %s\n' "$(readlink "$f" | od -An -tx1 | tr -d ' \n')"
		elif [ -d "$f" ]; then echo D
		else printf 'F %s\n' "$(sha256sum <"$f" | cut -c1-64)"; fi
	done
EOF
)
list() { bash -c "$listing_sh" _ "$1"; }
list tree >tree.list
ok "$([ "$(wc -l <tree.list)" -ge 15 ]; echo $?)" "the tree has every name ($(wc -l <tree.list) entries)"

for loc in C C.UTF-8; do
	for fmt in tar tgz tar.zst zip; do
		b=b-$loc.$fmt
		run env LANG=$loc LC_ALL=$loc "$MDEPLOY" bundle create --time 1764000000 tree "$b"
		is "$rc" 0 "$loc $fmt: bundle create"
		[ "$rc" = 0 ] || diag "$err"
		run env LANG=$loc LC_ALL=$loc "$MDEPLOY" bundle verify "$b"
		is "$rc" 0 "$loc $fmt: verify"
		[ "$rc" = 0 ] || diag "$err"
		run env LANG=$loc LC_ALL=$loc "$MDEPLOY" bundle extract "$b" "x-$loc-$fmt"
		is "$rc" 0 "$loc $fmt: extract"
		list "x-$loc-$fmt" >x.list 2>/dev/null
		is "$(cmp tree.list x.list >/dev/null 2>&1; echo $?)" 0 "$loc $fmt: the extracted tree has the same names, links and contents"
		[ -d "x-$loc-$fmt" ] && ! cmp -s tree.list x.list && diff tree.list x.list | head -n 5 | while IFS= read -r l; do diag "$l"; done
		run env LANG=$loc LC_ALL=$loc "$MDEPLOY" --json bundle inspect --files "$b"
		is "$(printf '%s' "$out" | jq '[.files[] | select(.path != null or .path_hex != null)] | length')" \
			"$(printf '%s' "$out" | jq '.entries')" "$loc $fmt: inspect --json lists every entry, by path or path_hex"
	done
	# The same bytes whatever the locale.
	for fmt in tar tgz tar.zst zip; do
		[ "$loc" = C.UTF-8 ] || continue
		cmp -s "b-C.$fmt" "b-C.UTF-8.$fmt"
		ok $? "$fmt: the same bundle under LANG=C and LANG=C.UTF-8"
	done
done

# The manifest holds the non-UTF-8 names as hex, the others as text.
tar -xOf b-C.tar .mdeploy/manifest.json >manifest.json 2>/dev/null
is "$(jq -r '.files[] | select(.path_hex == "636166e9") | .type' manifest.json)" file "manifest: a non-UTF-8 path as path_hex"
is "$(jq -r '.files[] | select(.path == "link-raw") | .target_hex' manifest.json)" 636166e9 "manifest: a non-UTF-8 link target as target_hex"
is "$(jq -r '.files[] | select(.path == "\ud83d\ude00.txt") | .type' manifest.json)" file "manifest: a UTF-8 path as path"

# Other readers see the names right: GNU tar, and zip's UTF-8 flag.
mkdir gnu && tar -xf b-C.tar -C gnu 2>/dev/null && list gnu >gnu.list
is "$(cmp tree.list gnu.list >/dev/null 2>&1; echo $?)" 0 "GNU tar extracts the same names"
if command -v python3 >/dev/null 2>&1; then
	is "$(python3 -c '
import zipfile, sys
z = zipfile.ZipFile(sys.argv[1])
flags = {i.orig_filename: i.flag_bits & 0x800 for i in z.infolist()}
print(flags["\U0001F600.txt"] != 0, [n for n, f in flags.items() if n.startswith("caf")] != [] and
      all(f == 0 for n, f in flags.items() if n.startswith("caf")))' b-C.zip 2>&1)" "True True" \
		"zip: UTF-8 names are flagged UTF-8, other names are not"
else
	skip 1 "no python3"
fi

# The agent finds appspec.yml behind a UTF-8 name in the C locale.
run env LANG=C LC_ALL=C "$MDEPLOY" appspec validate b-C.tar
is "$rc" 0 "appspec validate reads a bundle whose first names are UTF-8"
[ "$rc" = 0 ] || diag "$err"

# The hex names are read back: one changed byte is a mismatch.
python3 - b-C.tar bad.tar <<'EOF'
import io, sys, tarfile
src = tarfile.open(sys.argv[1], encoding="utf-8", errors="surrogateescape")
out = tarfile.open(sys.argv[2], "w", format=tarfile.PAX_FORMAT, encoding="utf-8", errors="surrogateescape")
for m in src.getmembers():
    data = src.extractfile(m).read() if m.isfile() else None
    if m.name == ".mdeploy/manifest.json":
        data = data.replace(b'"path_hex": "636166e9"', b'"path_hex": "636166e8"')
        m.size = len(data)
    out.addfile(m, io.BytesIO(data) if data is not None else None)
out.close()
EOF
run env LANG=C LC_ALL=C "$MDEPLOY" bundle verify bad.tar
is "$rc" 1 "a manifest whose path_hex names another file fails to verify"
like "$err" "not listed in the manifest" "and names the entry the manifest (read first) does not list"

run "$MDEPLOY" bundle create --git repo --rev HEAD --time 1764000000 g.tar
is "$rc" 0 "bundle create --git"
[ "$rc" = 0 ] || diag "$err"
run env LANG=C LC_ALL=C "$MDEPLOY" bundle extract g.tar x-git
is "$rc" 0 "--git bundle extracts"
list x-git >git.list 2>/dev/null
is "$(cmp tree.list git.list >/dev/null 2>&1; echo $?)" 0 "--git: the same names, links and contents"

done_testing
