#!/bin/sh
# Symbolic links leaving the source tree are reported by `moodle inspect`
# and fail `source validate` (a build would refuse them); links inside the
# tree are fine.
. "${top_srcdir:-.}/t/lib.sh"
command -v git >/dev/null 2>&1 || skip_all "git not installed"
sh "$top_srcdir/t/fixtures/mkmoodle.sh" "$TMP/fx" >/dev/null 2>&1 || skip_all "fixture generator failed"
core="$TMP/fx/moodle"
echo 'host-secret' >"$TMP/host-file"
(
	cd "$core" && git checkout -q -b links main &&
	ln -s "$TMP/host-file" lib/hostlib.php &&
	ln -s ../../../../outside.php mod/forum/escape.php &&
	ln -s ../forum/version.php mod/assign/inside.php &&
	ln -s ./a/../../up.php local.php &&
	git add -A && git -c user.name=t -c user.email=t@t commit -qm links &&
	git checkout -q main
) || { echo "Bail out! cannot make the fixture"; exit 1; }

run mdeploy moodle inspect --repo "$core" links
is "$rc" 1 "links leaving the tree (git): inspect exits 1"
like "$err" "lib/hostlib.php: symbolic link to '$TMP/host-file' leaves the source tree" "absolute link reported"
like "$err" "mod/forum/escape.php: symbolic link to '../../../../outside.php' leaves the source tree" "'..' link reported"
like "$err" "local.php: symbolic link to './a/../../up.php' leaves the source tree" "'..' after a directory reported"
unlike "$err" "inside.php" "a link inside the tree is not reported"
like "$err" "3 problems found" "three problems"

git -C "$core" checkout -q links
run mdeploy moodle inspect "$core"
is "$rc" 1 "links leaving the tree (working tree): inspect exits 1"
like "$err" "lib/hostlib.php: symbolic link to '$TMP/host-file' leaves the source tree" "absolute link reported"
git -C "$core" checkout -q main

cd "$TMP/fx" || exit 1
printf 'application:\n  name: demo\nsource:\n  core:\n    url: moodle\n    ref: links\n' >mdeploy.yml
run mdeploy source lock
is "$rc" 0 "lock"
run mdeploy source validate
is "$rc" 1 "source validate fails"
like "$err" "mod/forum/escape.php: symbolic link to '../../../../outside.php' leaves the source tree" "and names the link"
run mdeploy --json source validate
like "$(printf '%s' "$out" | jq -r '.. | .code? // empty' | sort -u)" "symlink-escape" "--json: code symlink-escape"
done_testing
