#!/bin/sh
# SIGTERM/SIGINT during bundle extract and create: the partial output is
# removed, nothing already in place is touched, and the process ends by the
# signal; a temporary left by SIGKILL is removed by the next run towards the
# same place (issue 13 item 13).
. "${top_srcdir:-.}/t/lib.sh"
command -v python3 >/dev/null 2>&1 || { echo "Bail out! python3 is needed"; exit 1; }

cd "$TMP" || exit 1
tmps() { ls -A "${1:-.}" | grep -c "$2" ; }
# wait_for CMD...: up to 20 s
wait_for() {
	i=0
	while ! "$@" 2>/dev/null; do
		i=$((i + 1)); [ $i -gt 200 ] && return 1; sleep 0.1
	done
}
# has_entries NAME: .NAME.tmp-* exists and holds more than 50 entries
has_entries() { set -- .$1.tmp-*; [ -d "$1" ] && [ "$(find "$1" | wc -l)" -gt 50 ]; }

mkdir tree
printf 'version: 0.0\nos: linux\n' >tree/appspec.yml
python3 - <<'PY'
import os
for d in range(20):
    os.makedirs(f"tree/d{d:02}")
    for f in range(100):
        with open(f"tree/d{d:02}/f{f:03}.php", "w") as fh:
            fh.write(f"<?php // {d} {f}\n" * 20)
PY
mdeploy -q bundle create tree b.tar.zst >/dev/null || exit 1
# A tar is read as it arrives (libarchive's zstd reader waits for a full buffer).
mdeploy -q bundle create tree b.tar >/dev/null || exit 1
size=$(stat -c %s b.tar)

# extract, fed through a FIFO: the first half, then the rest once signalled.
# stop_extract SIGNAL OUT: extraction of b.tar into OUT, signalled
# while its temporary tree is filling; sets $xrc and $xerr.
stop_extract() {
	rm -f feed go; mkfifo feed go
	{ head -c $((size / 2)) b.tar; read -r _ <go; tail -c +$((size / 2 + 1)) b.tar; } >feed &
	feeder=$!
	"$MDEPLOY" bundle extract feed "$2" 2>xerr &
	pid=$!
	wait_for has_entries "$2"
	ok $? "$1: the extraction has started writing its temporary tree"
	kill -"$1" $pid
	echo go >go
	wait $pid; xrc=$?
	wait $feeder
	xerr=$(cat xerr)
}

stop_extract TERM out
is "$xrc" 143 "SIGTERM: extract ends by the signal (143)"
like "$xerr" "feed: interrupted" "and says it was interrupted"
ok_cmd "no destination" test ! -e out
is "$(tmps . '^\.out\.tmp-')" 0 "no temporary tree left"

stop_extract INT out
is "$xrc" 130 "SIGINT: extract ends by the signal (130)"
is "$(tmps . '^\.out\.tmp-')" 0 "no temporary tree left"

# An existing destination is never touched: extract refuses it up front.
mkdir keep && echo mine >keep/file
run mdeploy bundle extract b.tar.zst keep
is "$rc" 1 "an existing destination is refused"
is "$(cat keep/file)" mine "and left as it was"

# SIGKILL leaves the temporary; the next extraction to the same place removes it.
rm -f feed go; mkfifo feed go
{ head -c $((size / 2)) b.tar; read -r _ <go; } >feed &
feeder=$!
"$MDEPLOY" bundle extract feed out 2>/dev/null &
pid=$!
wait_for has_entries out
kill -KILL $pid; wait $pid 2>/dev/null
echo go >go; wait $feeder
is "$(tmps . '^\.out\.tmp-')" 1 "SIGKILL leaves a temporary tree"
chmod 0555 .out.tmp-*/d00 2>/dev/null
sleep 3
run mdeploy bundle extract b.tar.zst out
is "$rc" 0 "the next extraction to the same place succeeds"
is "$(tmps . '^\.out\.tmp-')" 0 "and removed the stale temporary tree"
is "$(find out -type f | wc -l)" 2001 "with every file"

# create: an old bundle at the path stays as it was. The writer is stopped
# (SIGSTOP) as soon as its temporary file appears, signalled, and continued,
# so the signal lands while it writes whatever the machine's speed.
cp b.tar.zst old.tar.zst
head -c 60000000 /dev/urandom >tree/random.bin
has_tmp_bundle_now() { [ -n "$(ls -A | grep '^b\.tar\.zst\.tmp-')" ]; }
"$MDEPLOY" bundle create tree b.tar.zst 2>cerr &
pid=$!
i=0
until has_tmp_bundle_now || [ $i -gt 2000 ]; do i=$((i + 1)); done
kill -STOP $pid
has_tmp_bundle_now
ok $? "create: stopped while writing its temporary file"
kill -TERM $pid
kill -CONT $pid
wait $pid; crc=$?
is "$crc" 143 "SIGTERM: create ends by the signal"
like "$(cat cerr)" "b.tar.zst: interrupted" "and says it was interrupted"
ok_cmd "the previous bundle at the path is untouched" cmp -s b.tar.zst old.tar.zst
is "$(tmps . '^b\.tar\.zst\.tmp-')" 0 "no temporary bundle left"

done_testing
