#!/bin/sh
# mdeploy doctor checks what Moodle needs of PHP (issue 10 item 17):
# max_input_vars >= 5000 always, and for a release (tree or bundle) what its
# own admin/environment.xml lists for its version: PHP version range,
# extensions and settings, required or optional as the file says.
. "${top_srcdir:-.}/t/lib.sh"
command -v php >/dev/null || skip_all "php missing"

cd "$TMP" || exit 1
mkdir -p php.d low.d
printf 'max_input_vars = 5000\n' >php.d/90-moodle.ini
printf 'max_input_vars = 1000\n' >low.d/90-moodle.ini
# A release tree shaped like Moodle 4.5's, and one like 5.1's (public/).
mktree() { # DIR PREFIX RELEASE
	mkdir -p "$1/$2admin"
	printf "<?php\n\$version  = 2024100705.01;\n\$release  = '%s (Build: 20250613)';\n" "$3" >"$1/$2version.php"
	cat >"$1/$2admin/environment.xml" <<EOF
<?xml version="1.0" encoding="UTF-8" ?>
<COMPATIBILITY_MATRIX>
  <MOODLE version="4.4" requires="4.1.2">
    <PHP_EXTENSIONS>
      <PHP_EXTENSION name="only_in_44" level="required"/>
    </PHP_EXTENSIONS>
  </MOODLE>
  <MOODLE version="${3%.*}" requires="4.1.2">
    <PHP version="8.1.0" level="required">
      <RESTRICT function="restrict_php_version_99" message="unsupportedphpversion99" />
    </PHP>
    <PHP_EXTENSIONS>
      <PHP_EXTENSION name="json" level="required">
      </PHP_EXTENSION>
      <PHP_EXTENSION name="mdeploy_no_such_ext" level="required">
        <FEEDBACK><ON_ERROR message="x" /></FEEDBACK>
      </PHP_EXTENSION>
      <PHP_EXTENSION name="mdeploy_optional_ext" level="optional"/>
    </PHP_EXTENSIONS>
    <PHP_SETTINGS>
      <PHP_SETTING name="memory_limit" value="96M" level="required"/>
      <PHP_SETTING name="file_uploads" value="1" level="optional"/>
    </PHP_SETTINGS>
  </MOODLE>
</COMPATIBILITY_MATRIX>
EOF
}
mktree m45 "" "4.5.5+"
mktree m51 "public/" "5.1.0"
printf 'version: 0.0\nos: linux\n' >m45/appspec.yml
mdeploy -q bundle create m45 m45.tar.zst >/dev/null || exit 1

PHP_INI_SCAN_DIR=":$TMP/low.d" run mdeploy doctor
is "$rc" 1 "max_input_vars = 1000: doctor fails"
like "$(printf '%s\n' "$out" | grep '^php-setting:max_input_vars')" "FAILED   1000, wants >= 5000" \
	"naming max_input_vars, what it is and what it must be"
like "$(printf '%s\n' "$out" | grep '^php-extension:pgsql or mysqli')" "ok" "and checks a database driver"

PHP_INI_SCAN_DIR=":$TMP/php.d" run mdeploy --json doctor m45
is "$rc" 1 "a release needing an extension this PHP lacks: exit 1"
is "$(printf '%s' "$out" | jq -r '.checks[] | select(.check == "php-setting:max_input_vars") | .ok')" true \
	"max_input_vars = 5000 passes"
is "$(printf '%s' "$out" | jq -c '.checks[] | select(.check == "php-extension:mdeploy_no_such_ext") | [.ok, .required, .have]')" \
	'[false,true,"missing"]' "the required missing extension fails"
is "$(printf '%s' "$out" | jq -c '.checks[] | select(.check == "php-extension:mdeploy_optional_ext") | [.ok, .required]')" \
	'[false,false]' "an optional one is reported, not required"
is "$(printf '%s' "$out" | jq -r '.checks[] | select(.check == "php-extension:json") | .ok')" true "json is loaded"
is "$(printf '%s' "$out" | jq -r '.checks[] | select(.check == "php-version") | .want')" ">= 8.1.0, < 9.9" \
	"the PHP version range, with its RESTRICT bound"
is "$(printf '%s' "$out" | jq -r '.checks[] | select(.check == "php-setting:memory_limit") | .want')" ">= 96M" \
	"settings from environment.xml"
is "$(printf '%s' "$out" | jq -r '[.checks[] | select(.check == "php-extension:only_in_44")] | length')" 0 \
	"only the block of the release's own version (4.5)"
like "$(printf '%s' "$out" | jq -r '.checks[] | select(.check == "php-version") | .source')" \
	"admin/environment.xml (Moodle 4.5)" "the source is named"

PHP_INI_SCAN_DIR=":$TMP/php.d" run mdeploy doctor m45.tar.zst
is "$rc" 1 "the same from the bundle, not extracted"
like "$(printf '%s\n' "$out" | grep '^php-extension:mdeploy_no_such_ext')" "FAILED   missing" "naming the extension"
like "$(printf '%s\n' "$out" | grep '^php-extension:mdeploy_optional_ext')" "warning" "optional: a warning"
like "$err" "1 required check failed" "one required check failed"

PHP_INI_SCAN_DIR=":$TMP/php.d" run mdeploy --json doctor m51
like "$(printf '%s' "$out" | jq -r '.checks[] | select(.check == "php-version") | .source')" \
	"public/admin/environment.xml (Moodle 5.1)" "5.1: public/admin/environment.xml"

mkdir notmoodle
run mdeploy doctor notmoodle
is "$rc" 1 "not a Moodle tree: exit 1"
like "$out" "no version.php" "saying why"
done_testing
