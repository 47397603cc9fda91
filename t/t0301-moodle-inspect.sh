#!/bin/sh
# mdeploy moodle inspect: the tree model read from fixture repositories.
. "${top_srcdir:-.}/t/lib.sh"
command -v git >/dev/null 2>&1 || skip_all "git not installed"
sh "$top_srcdir/t/fixtures/mkmoodle.sh" "$TMP/fx" || exit 1
core="$TMP/fx/moodle"

run mdeploy moodle inspect "$core"
is "$rc" 0 "inspect a working tree: exit 0"
like "$out" "Moodle 4.5.2 (Build: 20241014) (version 2024100702.00, branch 405, MATURITY_STABLE)" "core version"
like "$out" "layout: root" "root layout"
like "$out" "assignsubmission_file            2024100700     mod/assign/submission/file" "subplugin from db/subplugins.json"
like "$out" "tool_health" "admin/tool plugin type"

run mdeploy --json moodle inspect --repo "$core" v5.1.0
is "$rc" 0 "inspect the 5.1 layout from git: exit 0"
is "$(printf '%s' "$out" | jq -r .layout)" "public" "5.1: public layout"
is "$(printf '%s' "$out" | jq -r .version)" "2025100600.00" "5.1: version from public/version.php"
is "$(printf '%s' "$out" | jq -r '.plugins | length')" 7 "5.1: seven plugins"
is "$(printf '%s' "$out" | jq -r '.plugintypes.assignsubmission')" "mod/assign/submission" "5.1: subplugin type dir"
is "$(printf '%s' "$out" | jq -r '.ok')" "true" "5.1: no problems"

run mdeploy moodle inspect --repo "$core" broken-misplaced
is "$rc" 1 "misplaced plugin: exit 1"
like "$err" "mod/forum/version.php:12: \$plugin->component is 'mod_forums' but the directory mod/forum makes it 'mod_forum'" \
	"component differing from its directory, with file:line"
like "$err" "blocks/html/extra/version.php: plugin 'block_extra' is in blocks/html/extra, where Moodle does not look for plugins" \
	"misplaced plugin reported"
like "$err" "2 problems found" "all problems reported, not only the first"

run mdeploy moodle inspect --repo "$core" broken-versionphp
is "$rc" 1 "malformed version.php: exit 1"
like "$err" "mod/forum/version.php:4: \$plugin->version cannot be read without running PHP: it calls get_config(), which only PHP can run" "unreadable version.php names file, line and why"

run mdeploy --json moodle inspect --repo "$core" vendored
is "$(printf '%s' "$out" | jq -r '.plugins[] | select(.component == "local_tweaks") | .path')" "local/tweaks" \
	"plugin vendored into the repository is listed"
is "$(printf '%s' "$out" | jq -r '.problems[0].code')" "dependency-missing" "its missing dependency is a problem"

run mdeploy moodle inspect --repo "$core" v9.9.9
is "$rc" 1 "unknown ref: exit 1"
like "$err" "no revision 'v9.9.9'" "unknown ref named"

mkdir -p "$TMP/notmoodle"
run mdeploy moodle inspect "$TMP/notmoodle"
is "$rc" 1 "not a Moodle tree: exit 1"
like "$err" "not a Moodle tree: neither version.php nor public/version.php" "says why"

git -C "$core" archive v4.5.0 | (mkdir -p "$TMP/nocomp" && cd "$TMP/nocomp" && tar -xf -)
rm "$TMP/nocomp/lib/components.json"
run mdeploy moodle inspect "$TMP/nocomp"
is "$rc" 1 "components.json missing: exit 1"
like "$err" "lib/components.json is missing" "components.json missing named"

# A core with a broken plugin vendored at local/broken, one tag at a time.
vendor() {
	rm -rf "$TMP/v" && mkdir -p "$TMP/v/local/broken"
	git -C "$core" archive v4.5.0 | tar -x -C "$TMP/v"
	git -C "$TMP/fx/local_broken" archive "$1" | tar -x -C "$TMP/v/local/broken"
}
vendor bad-requires
run mdeploy moodle inspect "$TMP/v"
like "$err" "local/broken/version.php: local_broken requires Moodle 2099010100, above this core's version 2024100700.00" \
	"requires above core's version"
vendor incompatible
run mdeploy moodle inspect "$TMP/v"
like "$err" "local_broken is incompatible with Moodle branch 405 and later (this core is branch 405)" \
	"incompatible at core's branch"
vendor bad-component
run mdeploy moodle inspect "$TMP/v"
like "$err" "local/broken/version.php:12: \$plugin->component is 'local_other' but the directory local/broken makes it 'local_broken'" \
	"component differing from its directory"
vendor bad-syntax
run mdeploy --json moodle inspect "$TMP/v"
is "$(printf '%s' "$out" | jq -r '.problems[0] | .code + " " + .file + ":" + (.line | tostring)')" \
	"version-php local/broken/version.php:4" "malformed plugin version.php: code, file and line in JSON"
rm -rf "$TMP/v/local/broken" && mkdir -p "$TMP/v/local/tweaks"
git -C "$TMP/fx/local_tweaks" archive v1.1.0 | tar -x -C "$TMP/v/local/tweaks"
run mdeploy moodle inspect "$TMP/v"
like "$err" "local_tweaks depends on mod_certx, which is not in the tree" "missing dependency"
mkdir -p "$TMP/v/mod/certx"
git -C "$TMP/fx/mod_certx" archive v1.0.0 | tar -x -C "$TMP/v/mod/certx"
run mdeploy moodle inspect "$TMP/v"
like "$err" "local_tweaks depends on mod_certx 2024060100 or later, but the tree has 2024050100" "too old dependency"
is "$rc" 1 "problems: exit 1"

# Subplugins only for the plugin types core_component allows, read from
# the tree's lib/classes/component.php: a block's db/subplugins.json is
# ignored, as Moodle ignores it.
run mdeploy --json moodle inspect --repo "$core" subplugins-block
is "$(printf '%s' "$out" | jq -r '[.plugintypes | keys[] | select(. == "htmlpart" or . == "assignsubmission")] | join(" ")')" \
	"assignsubmission" "a block's subplugin type is no plugin type; a module's is"
is "$(printf '%s' "$out" | jq -r '[.plugins[] | select(.component == "htmlpart_fancy")] | length')" 0 \
	"and what it names is no plugin"
is "$(printf '%s' "$out" | jq -r '[.problems[] | select(.code == "misplaced") | .file] | join(" ")')" \
	"blocks/html/parts/fancy/version.php" "it is reported where Moodle would silently ignore it"
run mdeploy --json source diff --repo "$core" subplugins-block subplugins-block-removed
is "$(printf '%s' "$out" | jq -r .classification)" code-only "removing it is no upgrade"

run mdeploy moodle inspect
is "$rc" 2 "no argument: usage error"
done_testing
