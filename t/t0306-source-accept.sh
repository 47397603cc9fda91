#!/bin/sh
# mdeploy.yml's source.accept: known findings accepted with a reason, so
# that `source validate` can gate a pipeline on the tree's other problems.
. "${top_srcdir:-.}/t/lib.sh"
command -v git >/dev/null 2>&1 || skip_all "git not installed"
command -v jq >/dev/null 2>&1 || skip_all "jq not installed"
sh "$top_srcdir/t/fixtures/mkmoodle.sh" "$TMP/fx" >/dev/null 2>&1 || skip_all "fixture generator failed"
cd "$TMP/fx" || exit 1

# broken-misplaced: a plugin where Moodle does not look, and a version.php
# naming another component.
yml() {
	printf 'application:\n  name: demo\nsource:\n  core:\n    url: moodle\n    ref: broken-misplaced\n'
	if [ $# -gt 0 ]; then printf '  accept:\n'; printf '%s\n' "$@"; fi
}
yml >mdeploy.yml
run mdeploy source lock
is "$rc" 0 "lock"
run mdeploy source validate
is "$rc" 1 "two problems: validate fails"
like "$err" "2 problems found" "and counts them"

yml '    - code: misplaced' '      file: "blocks/html/extra/*"' \
    '      reason: an extra folder of block_html with its own version.php, not a plugin' >mdeploy.yml
run mdeploy source validate
is "$rc" 1 "one accepted, one left: validate still fails"
like "$err" "mdeploy: accepted: blocks/html/extra/version.php: plugin 'block_extra' is in blocks/html/extra, where Moodle does not look for plugins; it would be silently ignored (an extra folder of block_html with its own version.php, not a plugin)" \
	"the accepted finding is shown with its reason"
like "$err" "1 problem found" "only the other one counts"

yml '    - code: misplaced' '      file: "blocks/html/extra/*"' '      reason: an extra folder of block_html' \
    '    - code: component-mismatch' '      component: mod_forum' '      reason: upstream bug MDL-00000, fixed in the next release' >mdeploy.yml
run mdeploy source validate
is "$rc" 0 "all findings accepted: validate passes"
like "$out" "ok: no problems but 2 accepted in mdeploy.yml" "and says what it accepted"
run mdeploy --json source validate
is "$(printf '%s' "$out" | jq -r '[.ok, (.problems | map(.accepted) | join("; "))] | map(tostring) | join(" ")')" \
	"true upstream bug MDL-00000, fixed in the next release; an extra folder of block_html" "--json: ok, and each reason"

yml '    - code: misplaced' '      file: "blocks/html/extra/*"' '      reason: an extra folder of block_html' \
    '    - code: component-mismatch' '      component: mod_forum' '      reason: upstream bug' \
    '    - code: misplaced' '      component: local_gone' '      reason: removed long ago' >mdeploy.yml
run mdeploy source validate
is "$rc" 0 "an acceptance that matches nothing does not fail"
like "$err" "mdeploy.yml:14:7: accepts no problem of this release; remove it" "but is named so it can be removed"

yml '    - code: misplaced' '      file: "blocks/*"' >mdeploy.yml
run mdeploy source validate
is "$rc" 1 "an acceptance without a reason is refused"
like "$err" "mdeploy.yml:8:7: source.accept[0].reason: is required: say why this finding is accepted" "named with its place"
yml '    - code: misplace' '      component: block_extra' '      reason: typo' >mdeploy.yml
run mdeploy source validate
is "$rc" 1 "an unknown code is refused"
like "$err" "source.accept[0].code: 'misplace' is not a problem code" "and says so"
yml '    - code: misplaced' '      reason: everything' >mdeploy.yml
run mdeploy source validate
is "$rc" 1 "an acceptance of every finding of a kind is refused"
like "$err" "source.accept[0]: needs component or file" "it must name what it accepts"
done_testing
