#!/bin/sh
# build-aux/fuzz.sh - build the libFuzzer targets (t/fuzz/fuzz-*.c) with clang
# and run each for SECONDS, seeded from its corpus in t/fuzz/corpus/NAME/.
#
#   build-aux/fuzz.sh [-j N] [-seed S] [SECONDS [NAME...]]   (`make fuzz`: 60 s each)
#
# -seed S makes libFuzzer's choices repeatable (CI uses it, so a CI run
# explores the same inputs each time rather than a new random walk).
#
# The library is built with clang in _build-fuzz (coverage instrumentation,
# ASan and UBSan), beside the normal build. New inputs libFuzzer finds go to
# _build-fuzz/corpus/NAME, never into the repository; a crash leaves its
# input in _build-fuzz/crash-NAME-* and fails the run. Add a finding to the
# repository's corpus (t/fuzz/corpus/NAME/) with the fix, so `make check`
# replays it from then on (t/fuzz/replay.c, no clang needed).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
jobs=2
seed=
while :; do
	case ${1:-} in
	-j) jobs=$2; shift 2 ;;
	-seed) seed=-seed=$2; shift 2 ;;
	*) break ;;
	esac
done
secs=${1:-60}
[ $# -gt 0 ] && shift
case $secs in ''|*[!0-9]*) echo "mdeploy: error: fuzz: SECONDS must be a whole number, not '$secs'" >&2; exit 2 ;; esac
if ! command -v clang >/dev/null 2>&1; then
	echo "mdeploy: error: fuzz: clang is not installed (Debian: apt-get install clang; build-aux/deps.sh lists it)" >&2
	exit 1
fi
names=${*:-$(cd "$top/t/fuzz" && ls fuzz-*.c | sed 's/^fuzz-//; s/\.c$//')}
names=$(echo $names)
b=$top/_build-fuzz
san="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
if [ ! -f "$b/Makefile" ]; then
	mkdir -p "$b" && (cd "$b" && "$top/configure" CC=clang CFLAGS="-g -O1 $san" --disable-shared \
		>configure.log 2>&1) || { tail -n 30 "$b/configure.log" >&2; echo "mdeploy: error: fuzz: configure failed" >&2; exit 1; }
fi
make -C "$b" -j"$jobs" libmdeploy/libmdeploy-internal.la >"$b/make.log" 2>&1 ||
	{ tail -n 30 "$b/make.log" >&2; echo "mdeploy: error: fuzz: building the library with clang failed" >&2; exit 1; }
make -C "$b" -s fuzz-targets FUZZ_NAMES="$names" >>"$b/make.log" 2>&1 ||
	{ tail -n 30 "$b/make.log" >&2; echo "mdeploy: error: fuzz: linking the targets failed" >&2; exit 1; }
status=0
for n in $names; do
	mkdir -p "$b/corpus/$n"
	echo "==> fuzz-$n: $secs s from t/fuzz/corpus/$n ($(ls "$top/t/fuzz/corpus/$n" 2>/dev/null | wc -l) inputs)"
	if ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		"$b/t/fuzz/fuzz-$n" $seed -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$b/crash-$n-" "$b/corpus/$n" "$top/t/fuzz/corpus/$n" >"$b/fuzz-$n.log" 2>&1; then
		grep -E "stat::number_of_executed_units|stat::new_units_added" "$b/fuzz-$n.log" | tr '\n' ' '; echo
	else
		# The sanitizer's verdict and the top of its stack, not libFuzzer's chatter.
		grep -m1 -A14 -E "ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:" "$b/fuzz-$n.log" |
			grep -v -E "^ *#(1[5-9]|[2-9][0-9]) " | cut -c1-200
		echo "mdeploy: error: fuzz-$n failed; input in $(ls -t "$b"/crash-"$n"-* 2>/dev/null | head -n1)" >&2
		status=1
	fi
done
exit $status
