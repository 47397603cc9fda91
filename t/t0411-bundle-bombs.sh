#!/bin/sh
# Archive bombs and full disks are refused before anything is written
# (issue 13 item 9): a file whose header declares more than the limit (a
# zstd or gzip bomb), a manifest at the front declaring more than the limit,
# and a bundle that does not fit the destination's free space (a private
# tmpfs of 8 MiB in a mount namespace). Nothing is left behind.
. "${top_srcdir:-.}/t/lib.sh"
for t in python3 zstd gzip unshare; do
	command -v $t >/dev/null 2>&1 || { echo "Bail out! $t is needed"; exit 1; }
done

cd "$TMP" || exit 1
leftovers() { ls -A "$1" | grep -c 'tmp-' ; }

# A tar whose one file declares SIZE bytes but holds only 1 MiB of zeros:
# reading on would fail on the truncation; refusing up front names the limit.
mkbomb() {
	python3 - "$1" "$2" <<'PY'
import sys, tarfile, io
out, size = sys.argv[1], int(sys.argv[2])
ti = tarfile.TarInfo('big.bin'); ti.size = size; ti.mode = 0o644
with open(out, 'wb') as f:
    f.write(ti.tobuf(format=tarfile.PAX_FORMAT))
    f.write(b'\0' * (1 << 20))
PY
}
mkbomb bomb.tar 9663676416
zstd -q -c bomb.tar >bomb.tar.zst
gzip -c bomb.tar >bomb.tgz
for f in tar.zst tgz; do
	start=$(date +%s)
	run mdeploy bundle extract "bomb.$f" "out-$f"
	is "$rc" 1 "$f declaring 9 GiB: refused"
	like "$err" "bomb.$f: 'big.bin': declares bytes: 9663676416, over the limit of 8589934592: refused as an archive bomb, before anything was written" \
		"$f: the error names the bundle, the entry, the size and the limit"
	ok_cmd "$f: refused within seconds" test $(( $(date +%s) - start )) -lt 10
	ok_cmd "$f: nothing extracted" test ! -e "out-$f"
	is "$(leftovers .)" 0 "$f: no temporary directory left"
done

# A real gzip bomb (50 MiB of zeros in 50 KiB) under --max-size 10 MiB.
head -c 52428800 /dev/zero >zeros.bin
tar -czf zeros.tgz zeros.bin
rm zeros.bin
run mdeploy bundle extract --max-size 10485760 zeros.tgz out-z
is "$rc" 1 "a 50 MiB file under --max-size 10 MiB: refused"
like "$err" "'zeros.bin': declares bytes: 52428800, over the limit of 10485760" "before its data is written"
ok_cmd "nothing extracted" test ! -e out-z

# A bundle's manifest at the front declares its total.
mkdir tree
printf 'version: 0.0\nos: linux\n' >tree/appspec.yml
for i in 1 2 3; do head -c 4194304 /dev/zero >tree/f$i.bin; done
mdeploy -q bundle create tree b.tar.zst >/dev/null
run mdeploy bundle extract --max-size 10485760 b.tar.zst out-m
is "$rc" 1 "a bundle whose manifest declares 12 MiB under --max-size 10 MiB: refused"
like "$err" "b.tar.zst: its manifest declares bytes of files: 12582935, over the limit of 10485760" "the error gives the declared total and the limit"
ok_cmd "nothing extracted" test ! -e out-m

# Free space: an 8 MiB tmpfs of our own.
mkdir small
tar -czf plain.tgz -C tree .
run unshare -m sh -c '
	mount -t tmpfs -o size=8m tmpfs small || exit 99
	"$MDEPLOY" bundle extract b.tar.zst small/out; echo "rc=$?" >&2
	"$MDEPLOY" bundle extract plain.tgz small/out2; echo "rc=$?" >&2
	echo "left=$(ls -A small | wc -l) used=$(df -k small | awk "NR==2 {print \$3}")" >&2'
is "$rc" 0 "a private 8 MiB tmpfs was mounted"
like "$err" "b.tar.zst: needs 12.0 MiB (12603415 bytes) (4 entries)" "the bundle with a manifest: refused for space"
like "$err" "but the filesystem of 'small/out' has 8.0 MiB (8388608 bytes) free: nothing extracted" "the error names the destination and what is free"
like "$err" ".bin': the files so far need 8.0 MiB (8396800 bytes) but the filesystem of 'small/out2' has 8.0 MiB (8388608 bytes) free" \
	"a plain archive: refused at the first file that does not fit, before writing it"
unlike "$err" "rc=0" "neither extraction succeeded"
like "$err" "left=0 used=0" "nothing left on the small filesystem"

# What fits is extracted.
run mdeploy bundle extract b.tar.zst out-ok
is "$rc" 0 "the bundle extracts where there is room"
is "$(stat -c %s out-ok/f3.bin)" 4194304 "whole"

done_testing
