#!/bin/sh
# version.php in the forms real plugins write it: read without PHP where it
# can be; where it cannot, inspect reports it and `source diff` takes a
# change to it (or to a file it includes) for an upgrade, never code-only.
. "${top_srcdir:-.}/t/lib.sh"
command -v git >/dev/null 2>&1 || skip_all "git not installed"
command -v jq >/dev/null 2>&1 || skip_all "jq not installed"
sh "$top_srcdir/t/fixtures/mkmoodle.sh" "$TMP/fx" >/dev/null 2>&1 || skip_all "fixture generator failed"
cd "$TMP" || exit 1
git clone -q -b v4.5.0 fx/moodle m 2>/dev/null || skip_all "cannot clone the fixture"
cd m || exit 1
commit() { git add -A && git commit -q -m "$1" && git tag "$2"; }
diffjson() { mdeploy --json source diff --repo . "$1" "$2"; }
classification() { diffjson "$1" "$2" | jq -r '.classification + " " + (.upgrade_caused_by | join(","))'; }

# 1. Forms that can be read: constants, concatenation, a sibling file,
#    a condition both sides of which agree, the alternative syntax.
cat >mod/forum/version.php <<'PHP'
<?php
defined('MOODLE_INTERNAL') || die();
require_once(__DIR__ . '/version_base.php');
if (!defined('MOD_FORUM_BUILD')) {
    define('MOD_FORUM_BUILD', '20241007');
}
$plugin->component = 'mod_forum';
$plugin->release = '4.5 (Build: ' . MOD_FORUM_BUILD . ')';
if ($CFG->branch >= 405):
    $plugin->maturity = MATURITY_STABLE;
else:
    $plugin->maturity = MATURITY_STABLE;
endif;
PHP
printf '<?php\n$plugin->version = 2024100700;\n$plugin->requires = 2024100100;\n' >mod/forum/version_base.php
commit "forum: version in a sibling file" readable1
run mdeploy moodle inspect --repo . readable1
is "$rc" 0 "inspect reads a version.php with an include, define() and conditions"
like "$out" "mod_forum                        2024100700     mod/forum" "and finds the version in the included file"

sed -i 's/2024100700/2024100701/' mod/forum/version_base.php
commit "forum: bump in the sibling file" readable2
is "$(classification readable1 readable2)" "upgrade mod_forum" "a bump in the included file is an upgrade"
is "$(diffjson readable1 readable2 | jq -r '.components[] | select(.component == "mod_forum") | .reason')" \
	"version 2024100700 -> 2024100701" "with the versions as the reason"

echo '// code' >>mod/forum/lib.php
commit "forum: code only" readable3
is "$(classification readable2 readable3)" "code-only " "a code change next to it is code-only"

# 2. A version only PHP can tell: reported, and any change to it is an upgrade.
cat >mod/forum/version.php <<'PHP'
<?php
defined('MOODLE_INTERNAL') || die();
$plugin->component = 'mod_forum';
$plugin->requires = 2024100100;
if ($CFG->branch >= 405) {
    $plugin->version = 2024100702;
} else {
    $plugin->version = 2024042200;
}
PHP
git rm -q mod/forum/version_base.php
commit "forum: version by branch" unread1
run mdeploy moodle inspect --repo . unread1
is "$rc" 1 "inspect: an unreadable version is a problem (exit 1)"
like "$err" "mod/forum/version.php:6: \$plugin->version cannot be read without running PHP: it is set under the condition on line 5, which only PHP can decide" \
	"named with file, line and why"
run mdeploy --json moodle inspect --repo . unread1
is "$(printf '%s' "$out" | jq -r '[.problems[] | select(.component == "mod_forum") | .code] | join(",")')" "version-php" \
	"--json: the problem's code"

sed -i 's/2024100702/2024100703/' mod/forum/version.php
commit "forum: bump under the condition" unread2
is "$(classification unread1 unread2)" "upgrade mod_forum" "a bump of an unreadable version is an upgrade, not code-only"
like "$(diffjson unread1 unread2 | jq -r '.components[] | select(.component == "mod_forum") | .reason')" \
	"mod/forum/version.php changed and its version cannot be read without running PHP" "and says why"
run mdeploy source diff --repo . unread1 unread2
like "$out" "mod_forum: mod/forum/version.php changed and its version cannot be read" "the text output says why too"

echo '// code' >>mod/forum/lib.php
commit "forum: code only again" unread3
is "$(classification unread2 unread3)" "code-only " "an unreadable version.php that did not change is no upgrade"

# 3. An include only PHP can resolve: a change to any file it includes counts.
cat >mod/forum/version.php <<'PHP'
<?php
defined('MOODLE_INTERNAL') || die();
$plugin->component = 'mod_forum';
require(__DIR__ . '/versions/' . $CFG->branch . '.php');
PHP
commit "forum: version per branch file" inc1
run mdeploy moodle inspect --repo . inc1
like "$err" "mod/forum/version.php:4: \$plugin->version cannot be read without running PHP: it includes a file whose name is unknown" \
	"an include by a computed name makes the version unreadable"
printf '<?php\n$plugin->version = 2024100704;\n' >mod/forum/helper.php
cat >mod/forum/version.php <<'PHP'
<?php
defined('MOODLE_INTERNAL') || die();
$plugin->component = 'mod_forum';
require(__DIR__ . '/helper.php');
$plugin->version = $plugin->version + time() * 0;
PHP
commit "forum: version through a helper and a function" inc2
sed -i 's/2024100704/2024100705/' mod/forum/helper.php
commit "forum: bump in the helper only" inc3
is "$(classification inc2 inc3)" "upgrade mod_forum" "a change to an included file of an unreadable version.php is an upgrade"
like "$(diffjson inc2 inc3 | jq -r '.components[] | select(.component == "mod_forum") | .reason')" \
	"mod/forum/helper.php changed" "naming the included file"

done_testing
