#!/bin/sh
# The real Moodle trees: inspect reads every plugin at the path and version
# Moodle's own core_component gives (PHP, no database), and source diff
# classifies 4.5.0 -> 4.5.5+ (core and 8 plugins) and 4.5.5+ -> 5.1.
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-moodle.sh"
command -v jq >/dev/null 2>&1 || skip_all "jq not installed"
moodle_repo_init
for r in v4.5.0 v4.5.5plus v5.1.0; do
	moodle_has_ref "$r" || skip_all "the Moodle repository has no $r"
done
cd "$TMP" || exit 1

for r in v4.5.0 v4.5.5plus v5.1.0; do
	run mdeploy --json moodle inspect --repo "$MOODLE_GIT" "$r"
	is "$rc" 0 "$r: inspect finds no problem"
	[ "$rc" = 0 ] || diag "$err"
	printf '%s' "$out" >"inspect-$r.json"
	is "$(jq '[.plugins[] | select(.version == null)] | length' "inspect-$r.json")" 0 "$r: every plugin's version is read"
	if command -v php >/dev/null 2>&1; then
		moodle_export "$r" "tree-$r"
		php "$top_srcdir/t/fixtures/moodle-versions.php" "$PWD/tree-$r" 2>/dev/null |
			sed "s| $PWD/tree-$r/public/| |; s| $PWD/tree-$r/| |; s| \$||" |
			awk '$1 == "core" { printf "core %.2f\n", $2; next } { print }' | sort >"php-$r.txt"
		jq -r '"core " + .version, (.plugins[] | .component + " " + (.version // "-") + " " + .path)' \
			"inspect-$r.json" | sort >"ours-$r.txt"
		ok "$([ "$(wc -l <"php-$r.txt")" -gt 400 ]; echo $?)" "$r: Moodle lists $(wc -l <"php-$r.txt") components"
		is "$(diff "php-$r.txt" "ours-$r.txt" | head -n 5)" "" \
			"$r: the same components, versions and paths as Moodle's core_component"
		rm -rf "tree-$r"
	else
		skip 2 "no php"
	fi
done
is "$(jq -r .layout inspect-v5.1.0.json)" public "5.1: the public/ layout"

run mdeploy --json source diff --repo "$MOODLE_GIT" v4.5.0 v4.5.5plus
is "$(printf '%s' "$out" | jq -r '.classification + ": " + (.upgrade_caused_by | join(" "))')" \
	"upgrade: core customfield_number editor_tiny factor_sms mod_feedback qbank_columnsortorder quizaccess_seb tiny_recordrtc tool_lp" \
	"4.5.0 -> 4.5.5+: an upgrade of core and the 8 plugins whose version.php changed"
is "$(printf '%s' "$out" | jq -r '.components[] | select(.component == "factor_sms") | .reason')" \
	"version 2024100700 -> 2024100702" "with each one's versions"
run mdeploy --json source diff --repo "$MOODLE_GIT" v4.5.5plus v5.1.0
is "$(printf '%s' "$out" | jq -r '.classification + " " + (.components[0].component) + " " + .components[0].reason')" \
	"upgrade core version 2024100705.01 -> 2025100600.00" "4.5.5+ -> 5.1: a core upgrade"

# A code-only commit on top of the real tree.
moodle_clone v4.5.5plus work
echo '// a comment' >>work/lib/weblib.php
git -C work commit -q -am "code only"
run mdeploy --json source diff --repo work v4.5.5plus HEAD
is "$(printf '%s' "$out" | jq -r '.classification + " " + (.components | map(.component) | join(","))')" "code-only core" \
	"a commit that changes code only is code-only"
done_testing
