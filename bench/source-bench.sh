#!/bin/sh
# source-bench.sh - time mdeploy's source stage against git on one repository.
#
# usage: bench/source-bench.sh [-m MDEPLOY] URL|PATH [REF]
#        bench/source-bench.sh [-m MDEPLOY] --synthetic NFILES
#
# URL|PATH is a Moodle core repository (e.g. https://github.com/moodle/moodle.git
# or a local clone); REF defaults to the remote's default branch. --synthetic
# builds a local Moodle-shaped repository first: the fixture core of
# t/fixtures/mkmoodle.sh plus NFILES files and a plugin per 100 of them.
#
# Measures, each against the git command doing the same work:
#   first fetch        mdeploy source fetch (fresh state dir)  vs  git clone --bare
#                      (--no-local for a path: git packs objects as for a remote)
#   fetch, no change   mdeploy source fetch again               (target: < 1 s)
#   export             mdeploy source export DIR                vs  git archive REF | tar -x
#   inspect            mdeploy moodle inspect DIR               (target: < 2 s)
#   inspect (git)      mdeploy moodle inspect --repo MIRROR REF
# Prints one line per measure; nothing is kept (work in a temporary dir,
# or $BENCH_DIR if set). Needs git, tar and a built mdeploy (default
# _build/cli/mdeploy).
# PHP in single quotes is meant literally.
# shellcheck disable=SC2016
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
MDEPLOY=$top/_build/cli/mdeploy
if [ "${1:-}" = "-m" ]; then MDEPLOY=$2; shift 2; fi
[ $# -ge 1 ] || { sed -n '3,6p' "$0" >&2; exit 2; }
[ -x "$MDEPLOY" ] || { echo "source-bench: $MDEPLOY not built" >&2; exit 1; }

work=${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/mdeploy-bench.XXXXXX")}
mkdir -p "$work"
[ -n "${BENCH_DIR:-}" ] || trap 'rm -rf "$work"' EXIT
export MDEPLOY_STATE_DIR="$work/state" MDEPLOY_PROGRESS=0

now() { date +%s.%N; }
# elapsed START: seconds since START, 3 decimals
elapsed() { echo "$(now) $1" | awk '{printf "%.3f", $1 - $2}'; }
ratio() { echo "$1 $2" | awk '{ if ($2 > 0) printf "%.2fx", $1 / $2; else print "-" }'; }

if [ "$1" = "--synthetic" ]; then
	n=${2:?--synthetic needs a file count}
	sh "$top/t/fixtures/mkmoodle.sh" "$work/fx" >/dev/null
	url=$work/fx/moodle
	(
		cd "$url"
		i=0
		while [ "$i" -lt "$n" ]; do
			d=lib/gen/d$((i / 100))
			if [ $((i % 100)) = 0 ]; then
				p=local/gen$((i / 100))
				mkdir -p "$d" "$p"
				printf '<?php\ndefined("MOODLE_INTERNAL") || die();\n$plugin->component = "local_gen%d";\n$plugin->version = 2024010100;\n$plugin->requires = 2024100100;\n' \
					$((i / 100)) >"$p/version.php"
			fi
			printf '<?php\n// generated file %d\nfunction gen_%d() { return %d; }\n' "$i" "$i" "$i" >"$d/f$i.php"
			i=$((i + 1))
		done
		git add -A
		GIT_AUTHOR_NAME=b GIT_AUTHOR_EMAIL=b@example.org GIT_COMMITTER_NAME=b \
			GIT_COMMITTER_EMAIL=b@example.org git commit -q -m "synthetic $n files"
		git tag bench
	)
	ref=bench
	what="synthetic: fixture core + $n files, $((n / 100)) extra plugins"
else
	url=$1
	ref=${2:-$(git ls-remote --symref "$url" HEAD | sed -n 's|^ref: refs/heads/\(.*\)\tHEAD$|\1|p')}
	[ -n "$ref" ] || { echo "source-bench: cannot tell the default branch of $url; give REF" >&2; exit 1; }
	what="$url @ $ref"
fi

mkdir -p "$work/app"
cat >"$work/app/mdeploy.yml" <<YAML
application:
  name: bench
source:
  core:
    url: $url
    ref: $ref
YAML
cd "$work/app"

# A local path is cloned with --no-local, so git packs and indexes objects
# as it must for a remote, rather than hard-linking them.
case $url in *://*|*@*:*) local_flag= ;; *) local_flag=--no-local ;; esac
t=$(now); git clone -q --bare $local_flag "$url" "$work/gitclone.git"; git_clone=$(elapsed "$t")
t=$(now); "$MDEPLOY" -q source fetch; md_fetch=$(elapsed "$t")
t=$(now); "$MDEPLOY" -q source fetch; md_refetch=$(elapsed "$t")
"$MDEPLOY" -q source lock
t=$(now); "$MDEPLOY" -q source export "$work/export"; md_export=$(elapsed "$t")
mkdir "$work/archive"
t=$(now); git -C "$work/gitclone.git" archive "$ref" | tar -x -C "$work/archive"; git_archive=$(elapsed "$t")
files=$(find "$work/export" -type f | wc -l)
size=$(du -sm "$work/export" | cut -f1)
t=$(now); "$MDEPLOY" -q moodle inspect "$work/export" >/dev/null || true; md_inspect=$(elapsed "$t")
mirror=$(ls -d "$MDEPLOY_STATE_DIR"/mirrors/*.git)
t=$(now); "$MDEPLOY" -q moodle inspect --repo "$mirror" "$ref" >/dev/null || true; md_inspect_git=$(elapsed "$t")
diff -r -q -x .mdeploy-release.json "$work/archive" "$work/export" >/dev/null ||
	echo "source-bench: warning: export differs from git archive" >&2

echo "source-bench: $what"
echo "tree: $files files, $size MB exported; $(nproc) CPUs; $(date -u +%Y-%m-%d)"
printf '%-22s %9s s   %-32s %9s s   %s\n' \
	"first fetch" "$md_fetch" "git clone --bare" "$git_clone" "$(ratio "$md_fetch" "$git_clone")" \
	"export" "$md_export" "git archive | tar -x" "$git_archive" "$(ratio "$md_export" "$git_archive")"
printf '%-22s %9s s\n' "fetch, nothing new" "$md_refetch" "inspect (directory)" "$md_inspect" \
	"inspect (git ref)" "$md_inspect_git"
