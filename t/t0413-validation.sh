#!/bin/sh
# The rest of issue 13's "validation that should not pass": each is a clear
# error naming its place, not a value silently taken for another.
. "${top_srcdir:-.}/t/lib.sh"
command -v git >/dev/null 2>&1 || { echo "Bail out! git is needed"; exit 1; }

cd "$TMP" || exit 1

# buildspec: exported-variables must be variable names, each once.
mkdir bs
printf 'version: 0.2\nenv:\n  exported-variables:\n    - GOOD\n    - "BAD NAME"\nphases:\n  build:\n    commands:\n      - echo hi\n' >bs/buildspec.yml
run mdeploy -C bs build
is "$rc" 1 "buildspec: an exported variable that is not a name fails"
like "$err" "buildspec.yml:5:7: env.exported-variables: 'BAD NAME' is not a variable name" "the error names file, line and value"
printf 'version: 0.2\nenv:\n  exported-variables: [A, A]\nphases:\n  build:\n    commands:\n      - echo hi\n' >bs/buildspec.yml
run mdeploy -C bs build
is "$rc" 1 "buildspec: an exported variable listed twice fails"
like "$err" "buildspec.yml:3:27: env.exported-variables: 'A' is listed twice" "the error names it"
printf 'version: 0.2\nphases:\n  build:\n    commands:\n      - "echo a\\0b"\n' >bs/buildspec.yml
run mdeploy -C bs build
is "$rc" 1 "buildspec: a NUL in a command fails"
like "$err" "buildspec.yml:5:9: 'echo a' holds a NUL character" "instead of running 'echo a'"

# version.php: versions are positive decimal numbers; version.php is a file.
sh "$top_srcdir/t/fixtures/mkmoodle.sh" fx >/dev/null 2>&1 || { echo "Bail out! fixture generator failed"; exit 1; }
git -C fx/moodle archive --format=tar --prefix=site/ v4.5.0 | tar -xf -
for v in 1e400 -5; do
	rm -rf s && cp -r site s
	sed -i "s/^\$version  = 2024100700.00;/\$version = $v;/" s/version.php
	run mdeploy moodle inspect s
	is "$rc" 1 "core \$version = $v: inspect fails"
	like "$err" "version.php:8: \$version = $v is not a Moodle version number" "the error names file, line and value"
done
rm -rf s && cp -r site s
sed -i 's/^\$plugin->version .*/$plugin->version = 1e400;/' s/blocks/html/version.php
run mdeploy moodle inspect s
is "$rc" 1 "plugin \$plugin->version = 1e400: a problem"
like "$err" "blocks/html/version.php:13: \$plugin->version = 1e400 is not a Moodle version number" "named with its line"
for kind in fifo dir; do
	rm -rf s && cp -r site s
	rm s/blocks/html/version.php
	if [ $kind = fifo ]; then mkfifo s/blocks/html/version.php; else mkdir s/blocks/html/version.php; fi
	run mdeploy moodle inspect s
	is "$rc" 1 "a $kind as a plugin's version.php: inspect fails (the plugin was skipped silently)"
	like "$err" "s/blocks/html/version.php: a $([ $kind = fifo ] && echo fifo || echo directory), not a file" "the error names it"
done

# parameters: a NUL in a value, and a version that is not a positive number.
printf 'x\000y' >nul.txt
run sh -c '"$MDEPLOY" params put /app/p - <nul.txt'
is "$rc" 1 "a value with a NUL on standard input is refused"
like "$err" "standard input holds a NUL byte (at offset 1): a value must be text" "instead of being cut"
run sh -c '"$MDEPLOY" params get /app/p 2>&1; "$MDEPLOY" secrets put /app/s <nul.txt'
is "$rc" 1 "nothing was stored, and secrets put refuses it too"
like "$out" "parameter '/app/p' does not exist" "(the parameter was not stored)"
like "$err" "standard input holds a NUL byte" "secrets put: the same message"
printf 'v1' | mdeploy params put /app/p - >/dev/null
for v in -1 +1 ' 1' 0 x; do
	run mdeploy params get "/app/p:$v"
	is "$rc" 1 "params get /app/p:'$v' fails"
	like "$err" "'/app/p:$v': the version after ':' must be a positive number" "and says why"
done
run mdeploy params get /app/p:1
is "$out" "v1" "/app/p:1 reads version 1"

# --sign with a file that is not a private key says so.
mkdir tree && printf 'version: 0.0\nos: linux\n' >tree/appspec.yml
head -c 300 /dev/urandom >garbage.key
mdeploy key generate k.key >/dev/null
for key in garbage.key k.key.pub; do
	run mdeploy bundle create --sign $key tree b.tar.zst
	is "$rc" 1 "--sign $key fails"
	like "$err" "'$key' holds no Ed25519 private key" "and says a private key is wanted"
	ok_cmd "no bundle written" test ! -e b.tar.zst
done

done_testing
