#!/bin/sh
# A bundle starts with its manifest (and signature): cut short at an entry
# boundary, it still lists what it should hold, so `bundle extract` and
# `agent install` refuse it instead of taking it for a plain archive with
# fewer files (issue 13 item 12). A zip needs its central directory.
. "${top_srcdir:-.}/t/lib.sh"
command -v python3 >/dev/null 2>&1 || { echo "Bail out! python3 is needed (tarfile)"; exit 1; }
command -v zstd >/dev/null 2>&1 || { echo "Bail out! zstd is needed"; exit 1; }

cd "$TMP" || exit 1
mkdir tree tree/lib
printf 'version: 0.0\nos: linux\n' >tree/appspec.yml
for i in 1 2 3 4 5 6; do echo "file $i" >tree/lib/f$i.php; done
echo index >tree/index.php
mdeploy key generate k.key >/dev/null

for f in tar tar.zst tgz; do
	run mdeploy bundle create --sign k.key tree "b.$f"
	is "$rc" 0 "$f: bundle create"
done
tar -tf b.tar >list
is "$(sed -n 1,3p list | tr '\n' ' ')" ".mdeploy/ .mdeploy/manifest.json .mdeploy/signature.json " \
	"tar: the manifest and signature come first"
is "$(zstd -dc b.tar.zst | tar -tf - | sed -n 2p)" ".mdeploy/manifest.json" "tar.zst: the manifest comes first"
is "$(gzip -dc b.tgz | tar -tf - | sed -n 2p)" ".mdeploy/manifest.json" "tgz: the manifest comes first (one gzip stream to gzip)"
is "$(zstd -dc b.tar.zst | tar -tf - | wc -l)" "$(wc -l <list)" "tar.zst: every entry readable by tar after the head"

# Cut the tar just before its 4th-from-last entry (an entry boundary).
cut_tar() {
	python3 - "$1" "$2" <<'PY'
import sys, tarfile
src, dst = sys.argv[1], sys.argv[2]
with tarfile.open(src) as t:
    members = t.getmembers()
data = open(src, 'rb').read()
open(dst, 'wb').write(data[:members[-4].offset])
PY
}
zstd -dc b.tar.zst >plain.tar
cut_tar plain.tar cut.tar
zstd -q -c cut.tar >cut.tar.zst
gzip -c cut.tar >cut.tgz
is "$(tar -tf cut.tar 2>/dev/null | wc -l)" "$(( $(wc -l <list) - 4 ))" "the cut tar is a readable archive with 4 entries fewer"

for f in tar tar.zst tgz; do
	run mdeploy bundle extract "cut.$f" "out-$f"
	is "$rc" 1 "$f cut at an entry boundary: bundle extract fails"
	like "$err" "listed in the manifest but missing from the bundle" "$f: the error says an entry is missing"
	ok_cmd "$f: nothing extracted" test ! -e "out-$f"
	run mdeploy bundle verify "cut.$f"
	is "$rc" 1 "$f cut: bundle verify fails"
done

run mdeploy agent install --root "$TMP/root" --deployment-id d-cut "cut.tar.zst"
is "$rc" 1 "agent install of a cut bundle fails (no --trusted-key, no --require-manifest)"
like "$err" "missing from the bundle" "and says why"
ok_cmd "no release switched" test ! -e "$TMP/root/current"

# The whole bundles extract and install.
run mdeploy bundle extract b.tar.zst out-ok
is "$rc" 0 "the whole tar.zst extracts"
is "$(cat out-ok/lib/f6.php)" "file 6" "with its last file"

# zip: read through its central directory, which a cut zip has lost.
run mdeploy bundle create --sign k.key tree b.zip
is "$rc" 0 "zip: bundle create"
python3 - <<'PY'
import zipfile
z = zipfile.ZipFile('b.zip')
infos = sorted(z.infolist(), key=lambda i: i.header_offset)
data = open('b.zip', 'rb').read()
open('cut.zip', 'wb').write(data[:infos[-4].header_offset])
PY
run mdeploy bundle extract cut.zip out-zip
is "$rc" 1 "zip cut at an entry boundary: bundle extract fails"
ok_cmd "zip: nothing extracted" test ! -e out-zip
run mdeploy bundle extract b.zip out-zip-ok
is "$rc" 0 "the whole zip extracts"

done_testing
