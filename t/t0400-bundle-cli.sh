#!/bin/sh
# mdeploy key/bundle: create, verify (tampered, wrong key), inspect, diff, extract.
. "${top_srcdir:-.}/t/lib.sh"
command -v git >/dev/null 2>&1 || skip_all "git not installed"

cd "$TMP" || exit 1
sh "$top_srcdir/t/fixtures/mkmoodle.sh" fx >/dev/null 2>&1 || skip_all "fixture generator failed"
git -C fx/moodle archive --format=tar --prefix=site/ v4.5.0 | tar -xf -
printf 'version: 0.0\nos: linux\nfiles:\n  - source: /\n    destination: /srv/moodle\n' >site/appspec.yml

run mdeploy key generate signing.key
is "$rc" 0 "key generate"
like "$out" "private signing.key (mode 0600), public signing.key.pub" "key generate reports both files"
is "$(stat -c %a signing.key)" 600 "private key is 0600"
run mdeploy key generate signing.key
is "$rc" 1 "key generate refuses to overwrite"
mdeploy key generate other.key >/dev/null

run mdeploy bundle create --sign signing.key --time 1764000000 --build-id b1 site a.tar.zst
is "$rc" 0 "bundle create"
like "$out" "a.tar.zst: tar.zst bundle, " "create reports the bundle"
run mdeploy bundle create --sign signing.key --time 1764000000 --build-id b1 site b.tar.zst
cmp -s a.tar.zst b.tar.zst
ok $? "the same tree gives a byte-identical bundle"
run mdeploy bundle create --time 1764000000 site a.zip
is "$rc" 0 "zip bundle (format from the name)"
unzip_ok=$(python3 -c "import zipfile,sys; z=zipfile.ZipFile('a.zip'); print(z.testzip() is None and 'appspec.yml' in z.namelist())" 2>/dev/null || echo skip)
[ "$unzip_ok" = skip ] && skip 1 "no python3 zipfile" || is "$unzip_ok" True "zip readable by another implementation, appspec.yml at the root"
tar --zstd -tf a.tar.zst >tarlist 2>/dev/null || zstd -dc a.tar.zst | tar -tf - >tarlist
is "$(sed -n 4p tarlist)" "admin/" "tar.zst readable by tar, entries sorted"
is "$(sed -n 2,3p tarlist | tr '\n' ' ')" ".mdeploy/manifest.json .mdeploy/signature.json " "manifest and signature are first"

run mdeploy bundle verify --trusted-key signing.key.pub a.tar.zst
is "$rc" 0 "verify with the signer's key"
run mdeploy bundle verify --trusted-key other.key.pub a.tar.zst
is "$rc" 1 "verify with another key fails"
like "$err" "not trusted" "and says the key is not trusted"

run mdeploy --json bundle inspect a.tar.zst
is "$rc" 0 "inspect --json"
is "$(printf '%s' "$out" | jq -r '.build_id + " " + (.build_time|tostring) + " " + .format')" "b1 1764000000 tar.zst" "inspect reports the manifest"

# One flipped byte in an uncompressed bundle: verify names the file.
mdeploy bundle create --time 1764000000 site plain.tar >/dev/null
off=$(grep -abo 'echo_after_a_while' plain.tar 2>/dev/null | head -n1 | cut -d: -f1)
if [ -z "$off" ]; then
	off=$(grep -abo "MOODLE_INTERNAL" plain.tar | head -n1 | cut -d: -f1)
fi
printf 'X' | dd of=plain.tar bs=1 seek="$off" conv=notrunc 2>/dev/null
run mdeploy bundle verify plain.tar
is "$rc" 1 "tampered bundle fails to verify"
like "$err" "SHA-256 does not match the manifest" "error says the digest differs"
like "$err" ".php" "and names the file"

# Truncated bundle.
head -c $(( $(stat -c %s a.tar.zst) / 2 )) a.tar.zst >trunc.tar.zst
run mdeploy bundle verify trunc.tar.zst
is "$rc" 1 "truncated bundle fails"
run mdeploy bundle extract trunc.tar.zst out-trunc
is "$rc" 1 "truncated bundle is not extracted"
ok "$([ ! -e out-trunc ] && ! ls -a | grep -q tmp-; echo $?)" "nothing left behind"

# diff
git -C fx/moodle archive --format=tar --prefix=site2/ v4.5.2 | tar -xf -
cp site/appspec.yml site2/
mdeploy bundle create --time 1764000000 site2 c.tar.zst >/dev/null
run mdeploy bundle diff a.tar.zst c.tar.zst
is "$rc" 0 "diff"
like "$out" "M lib/weblib.php" "diff shows the changed file"
like "$out" "M version.php" "diff shows the version bump"

# extract
run mdeploy bundle extract --trusted-key signing.key.pub a.tar.zst out
is "$rc" 0 "extract"
is "$(cat out/version.php)" "$(cat site/version.php)" "content extracted"
ok "$([ ! -e out/.mdeploy ]; echo $?)" "a plain extract leaves no .mdeploy/ in the tree"
run mdeploy bundle extract --keep-manifest a.tar.zst out-kept
is "$rc" 0 "extract --keep-manifest"
is "$(cat out-kept/.mdeploy/manifest.json)" "$(zstd -dc a.tar.zst | tar -xOf - .mdeploy/manifest.json)" \
	"keeps the bundle's manifest"
ok "$(test -f out-kept/.mdeploy/signature.json; echo $?)" "and its signature"
run mdeploy bundle extract a.tar.zst out
is "$rc" 1 "extract refuses an existing directory"
run mdeploy bundle extract --trusted-key other.key.pub a.tar.zst out2
is "$rc" 1 "extract with an untrusted key fails"
ok "$([ ! -e out2 ]; echo $?)" "and leaves nothing"

# A hostile archive made by tar itself.
mkdir evil && ln -s /etc evil/etc && echo x > evil/appspec.yml
tar -C evil -cf evil.tar etc appspec.yml
run mdeploy bundle extract evil.tar out3
is "$rc" 1 "escaping symlink refused"
like "$err" "absolute path" "error names the problem"
ok "$([ ! -e out3 ]; echo $?)" "nothing extracted"

# Straight from git objects: the same bytes as the checked-out tree.
mkdir overlay && cp site/appspec.yml overlay/
run mdeploy bundle create --git fx/moodle --rev v4.5.0 --overlay overlay --time 1764000000 stream.tar
is "$rc" 0 "bundle create --git --rev --overlay"
mdeploy bundle create --time 1764000000 site tree.tar >/dev/null
run mdeploy bundle diff stream.tar tree.tar
is "$out" "" "streamed bundle has the same entries as the tree's"
run mdeploy bundle create --git fx/moodle --rev v4.5.0 --time 1764000000 nospec.tar
is "$rc" 1 "without an overlay there is no appspec.yml"

run mdeploy bundle create site2/lib nope.tar.zst
is "$rc" 1 "a tree without appspec.yml is not a bundle"
like "$err" "no appspec.yml" "error says why"
# A CodeDeploy-style bundle made with `tar -czf b.tgz .` has a "./" root
# entry; it must extract like any other (it used to be refused).
mkdir -p cd-style/scripts
printf 'version: 0.0\nos: linux\n' >cd-style/appspec.yml
printf 'hello\n' >cd-style/index.html
tar -czf cd-style.tgz -C cd-style .
tar -tzf cd-style.tgz >cd-list
like "$(cat cd-list)" "./appspec.yml" "tar made ./-prefixed entries"
run mdeploy bundle extract cd-style.tgz out-cd
is "$rc" 0 "a bundle with a ./ root entry extracts"
is "$(cat out-cd/index.html 2>/dev/null)" "hello" "its files are in place"
run mdeploy appspec validate cd-style.tgz
is "$rc" 0 "and its appspec validates"
# "../" is still refused even though it is only dots and slashes.
mkdir -p dots/a && printf 'x\n' >dots/a/f
(cd dots/a && tar -czPf ../../dots.tgz ../a/f)
run mdeploy bundle extract dots.tgz out-dots
is "$rc" 1 "'..' entries are still refused"
ok "$([ ! -e out-dots ]; echo $?)" "and nothing is left behind"

done_testing
