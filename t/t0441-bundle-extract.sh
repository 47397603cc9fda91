#!/bin/sh
# bundle extract makes what tar -x makes of a bundle: contents, modes,
# times, sizes, links, large files; files are created with their own mode
# (no fchmod per file when the umask leaves the mode whole), and a stricter
# umask must not change a single mode; contents come from libarchive's
# blocks, sparse entries too (issue 11 speed).
. "${top_srcdir:-.}/t/lib.sh"
command -v python3 >/dev/null 2>&1 || { echo "Bail out! python3 is needed (tarfile)"; exit 1; }
command -v zstd >/dev/null 2>&1 || { echo "Bail out! zstd is needed"; exit 1; }

cd "$TMP" || exit 1
nothing_left() { # DEST: neither DEST nor a temporary beside it
	[ ! -e "$1" ] && [ -z "$(find . -maxdepth 1 -name ".$1.tmp-*")" ]
}
# listing DIR: every entry with its type, mode, mtime (not a symlink's:
# extract never set those), size and link target
listing() { (cd "$1" && find . -mindepth 1 \( -type l -printf '%y %p %m %s %l\n' \) -o -printf '%y %p %m %T@ %s\n' | sort); }

mkdir -p tree/lib tree/bin tree/empty
printf 'version: 0.0\nos: linux\n' >tree/appspec.yml
python3 - <<'PY'
import os
for d in range(30):
    os.makedirs(f"tree/lib/d{d:02}")
    for f in range(100):
        with open(f"tree/lib/d{d:02}/f{f:03}.php", "w") as fh:
            fh.write(f"<?php // {d} {f}\n" * (1 + (d * f) % 50))
PY
head -c 5000000 /dev/urandom >tree/lib/zbig.bin          # spans several 1 MiB blocks
head -c 1048576 /dev/urandom >tree/lib/zexact1m.bin
printf '#!/bin/sh\n' >tree/bin/run.sh
chmod 755 tree/bin/run.sh
ln -s ../lib/d01/f001.php tree/bin/link.php
run "$MDEPLOY" bundle create tree b.tar.zst
is "$rc" 0 "bundle create" || diag "$err"
run "$MDEPLOY" bundle extract b.tar.zst x
is "$rc" 0 "bundle extract" || diag "$err"
mkdir t && zstd -dc b.tar.zst | tar -x -C t --exclude=.mdeploy
listing x >x.lst
listing t >t.lst
ok_cmd "the tree is what tar -x makes of the bundle (types, modes, times, sizes, links)" cmp x.lst t.lst
ok_cmd "and the same contents" diff -r x t
is "$(wc -l <x.lst)" 3038 "every entry is there"

# Files are created with their own mode (no fchmod when the umask leaves
# it whole): under umask 077 the modes must still be the bundle's.
run sh -c 'umask 077 && "$1" bundle extract b.tar.zst x077' sh "$MDEPLOY"
is "$rc" 0 "bundle extract under umask 077" || diag "$err"
listing x077 >x077.lst
ok_cmd "the same types, modes, times and sizes as under umask 022" cmp x.lst x077.lst

# File contents are taken from libarchive's blocks, not copied out: a
# sparse entry (GNU tar -S, and pax) must still come out whole, holes
# (between blocks and at the end) as zeros.
mkdir -p sp
printf 'version: 0.0\nos: linux\n' >sp/appspec.yml
python3 -c '
f = open("sp/sparse.bin", "wb")
f.seek(3 << 20); f.write(b"middle"); f.seek(7 << 20); f.write(b"end"); f.truncate(10 << 20)'
for fmt in gnu pax; do
	tar --format=$fmt -S -c -f sp-$fmt.tar -C sp .
	run "$MDEPLOY" bundle extract sp-$fmt.tar xs-$fmt
	is "$rc" 0 "a $fmt sparse archive extracts" || diag "$err"
	ok_cmd "$fmt: the sparse file is whole (holes as zeros, the trailing one too)" cmp xs-$fmt/sparse.bin sp/sparse.bin
done

done_testing
