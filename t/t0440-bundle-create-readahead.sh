#!/bin/sh
# bundle create reads and hashes the tree on a thread of its own ahead of
# the writer (libmdeploy/bundle/readahead.c; issue 11 speed): what that
# thread finds wrong (a fifo, a socket, a file that shrank) must stop the
# bundle with the same error as before, naming the entry, whether it comes
# first or after thousands of files, with nothing left behind; files over
# the read-ahead's whole-file size are streamed by the writer instead, and
# every file keeps its content and digest. The manifest's file list is
# written without building a JSON tree: it must stay the JSON jansson (and
# Python) write for it, whatever the names hold.
. "${top_srcdir:-.}/t/lib.sh"
command -v python3 >/dev/null 2>&1 || { echo "Bail out! python3 is needed (sockets, tarfile)"; exit 1; }
command -v zstd >/dev/null 2>&1 || { echo "Bail out! zstd is needed"; exit 1; }
command -v sha256sum >/dev/null 2>&1 || { echo "Bail out! sha256sum is needed"; exit 1; }

cd "$TMP" || exit 1
mktree() {
	rm -rf "$1"
	mkdir -p "$1/lib" "$1/zz"
	printf 'version: 0.0\nos: linux\n' >"$1/appspec.yml"
	i=0
	while [ $i -lt 40 ]; do
		mkdir "$1/lib/d$i"
		j=0
		while [ $j -lt 60 ]; do echo "file $i $j" >"$1/lib/d$i/f$j.php"; j=$((j + 1)); done
		i=$((i + 1))
	done
	echo last >"$1/zz/last.php"
}
nothing_left() { # DIR: no bundle and no temporary in DIR
	[ -z "$(find "$1" -maxdepth 1 -name 'b.tar.zst*')" ]
}

# A fifo after 2,400 files: found by the thread while the writer is well
# into the tree.
mktree late
mkfifo late/zz/pipe
mkdir out
run timeout 60 "$MDEPLOY" bundle create late out/b.tar.zst
is "$rc" 1 "a fifo after 2,400 files: bundle create fails (not hangs: $rc)"
like "$err" "'zz/pipe': only files, directories and symlinks can be bundled" "the error names the fifo"
ok_cmd "no bundle and no temporary left" nothing_left out

# The same first in the tree.
mktree early
mkfifo early/a-pipe
run timeout 60 "$MDEPLOY" bundle create early out/b.tar.zst
is "$rc" 1 "a fifo first: bundle create fails"
like "$err" "'a-pipe': only files, directories and symlinks can be bundled" "the error names it"
ok_cmd "nothing left" nothing_left out

# A socket deep in the tree.
mktree sock
python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' sock/lib/d39/s.sock
run timeout 60 "$MDEPLOY" bundle create sock out/b.tar.zst
is "$rc" 1 "a socket: bundle create fails"
like "$err" "'lib/d39/s.sock': only files, directories and symlinks can be bundled" "the error names it"
ok_cmd "nothing left" nothing_left out

# Large files (over 4 MiB: streamed by the writer) between small ones,
# an executable, a symlink, an empty file and an empty directory.
mktree good
head -c 6000000 /dev/urandom >good/lib/big1.bin
head -c 4194304 /dev/urandom >good/lib/d3/exact4m.bin
head -c 4194305 /dev/urandom >good/lib/d3/over4m.bin
: >good/lib/empty.php
printf '#!/bin/sh\n' >good/zz/run.sh
chmod 755 good/zz/run.sh
ln -s ../lib/d1/f1.php good/zz/link.php
mkdir good/emptydir
run "$MDEPLOY" bundle create good out/b.tar.zst
is "$rc" 0 "a tree with large files: bundle create" || diag "$err"
run "$MDEPLOY" bundle verify out/b.tar.zst
is "$rc" 0 "it verifies" || diag "$err"
run "$MDEPLOY" bundle extract out/b.tar.zst x
is "$rc" 0 "it extracts" || diag "$err"
ok_cmd "the extracted tree is the tree" diff -r good x
ok_cmd "the executable kept its mode" test -x x/zz/run.sh
is "$(readlink x/zz/link.php)" "../lib/d1/f1.php" "the symlink kept its target"
# The manifest's digests are the files' own.
zstd -dc out/b.tar.zst | tar -xOf - .mdeploy/manifest.json >manifest.json
python3 - manifest.json good >digests.txt <<'PY'
import hashlib, json, os, sys
m = json.load(open(sys.argv[1]))
files = [e for e in m["files"] if e["type"] == "file"]
bad = [e["path"] for e in files
       if hashlib.sha256(open(os.path.join(sys.argv[2], e["path"]), "rb").read()).hexdigest() != e["sha256"]]
print(len(files), len(bad), " ".join(bad[:5]))
PY
is "$(cat digests.txt)" "2407 0 " "every file's manifest digest is its SHA-256 (large ones too)"
# The same tree gives the same bytes again.
run "$MDEPLOY" bundle create good out/b2.tar.zst
ok_cmd "the same tree gives a byte-identical bundle" cmp out/b.tar.zst out/b2.tar.zst
# The entries come in git's order: a directory sorts as its name with '/'.
mkdir order order/a order/a.d
printf 'version: 0.0\nos: linux\n' >order/appspec.yml
for f in a.b a/x a-c a0 a.d/y; do echo "$f" >"order/$f"; done
run "$MDEPLOY" bundle create --no-appspec-check order out/o.tar.zst
is "$rc" 0 "a tree of names around '/': bundle create" || diag "$err"
is "$(zstd -dc out/o.tar.zst | tar -tf - | grep -v '^\.mdeploy' | tr '\n' ' ')" \
	"a-c a.b a.d/ a.d/y a/ a/x a0 appspec.yml " "entries in git's order"

# Names that JSON escapes or cannot hold: the manifest is still exactly
# json.dumps(indent=1) of itself (jansson's format), and verifies.
mkdir -p names/d
printf 'version: 0.0\nos: linux\n' >names/appspec.yml
for n in 'q"uote' 'back\slash' "$(printf 'nl\nx')" "$(printf 'tab\tx')" "$(printf 'ctl\001x')" \
	"$(printf 'del\177x')" 'emoji-😀' "$(printf 'bad\377\376')"; do
	echo x >"names/d/$n"
done
ln -s 'q"uote' names/d/l1
ln -s "$(printf 'bad\377\376')" names/d/l2
echo '{"url":"x\"y","n":[1,2]}' >src.json
run "$MDEPLOY" bundle create --build-id b1 --time 1700000000 --source-json src.json names out/n.tar.zst
is "$rc" 0 "a tree of names JSON escapes: bundle create" || diag "$err"
run "$MDEPLOY" bundle verify out/n.tar.zst
is "$rc" 0 "it verifies" || diag "$err"
zstd -dc out/n.tar.zst | tar -xOf - .mdeploy/manifest.json >n.json 2>/dev/null
run python3 -c '
import collections, json, sys
raw = open(sys.argv[1], "rb").read()
d = json.loads(raw, object_pairs_hook=collections.OrderedDict)
out = (json.dumps(d, indent=1, ensure_ascii=False) + "\n").encode()
sys.exit(0 if out == raw and len(d["files"]) == 12 else 1)' n.json
is "$rc" 0 "the manifest is the JSON jansson writes for it (12 entries)" || diag "$(head -c 600 n.json)"

# The hand-over in batches (readahead.c): a directory of 6,000 empty files
# (more than the queue holds: the thread waits for the writer to take them)
# and twelve files of 3 MiB around small ones (they fill the 16 MiB ring:
# the thread waits for space). A lost wake-up hangs: timeout.
mkdir -p batch/many batch/big
printf 'version: 0.0\nos: linux\n' >batch/appspec.yml
(cd batch/many && seq 1 6000 | xargs touch)
i=0
while [ $i -lt 12 ]; do
	head -c 3145728 /dev/urandom >batch/big/b$i.bin
	echo "small $i" >batch/big/s$i.php
	i=$((i + 1))
done
run timeout 120 "$MDEPLOY" bundle create batch out/batch.tar.zst
is "$rc" 0 "6,000 entries in one directory and a full ring: bundle create" || diag "$err"
run timeout 120 "$MDEPLOY" bundle extract out/batch.tar.zst xb
is "$rc" 0 "it extracts (verified against its manifest)" || diag "$err"
ok_cmd "the extracted tree is the tree" diff -r batch xb
is "$(zstd -dc out/batch.tar.zst | tar -tf - | grep -c '^many/')" 6001 "every entry is in the bundle"
# The same over the release walk's producer (ra_put: bundle create --git).
sh "$top_srcdir/t/fixtures/mkmoodle.sh" fx >/dev/null 2>&1 || echo "Bail out! fixture generator failed"
git clone -q -b v4.5.0 fx/moodle brepo && cp -r batch/. brepo/ && git -C brepo add -A &&
	git -C brepo -c user.name=t -c user.email=t@t commit -qm batch ||
	echo "Bail out! cannot make the repository"
run timeout 120 "$MDEPLOY" bundle create --git brepo --rev HEAD out/gbatch.tar.zst
is "$rc" 0 "the same from git: bundle create --git" || diag "$err"
run "$MDEPLOY" bundle verify out/gbatch.tar.zst
is "$rc" 0 "it verifies" || diag "$err"

done_testing
