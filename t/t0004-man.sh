#!/bin/sh
# Every command has a man page whose SYNOPSIS matches its --help.
. "${top_srcdir:-.}/t/lib.sh"

man="${COMMANDS_MAN_DIR:-$top_srcdir/man}"
for page in mdeploy.1 libmdeploy.3; do
	ok "$([ -f "$man/$page" ]; echo $?)" "$page exists"
done
mdeploy --help | sed -n '/^Commands:/,/^$/p' | awk 'NF>1 {print $1}' >"$TMP/cmds"
ok "$([ -s "$TMP/cmds" ]; echo $?)" "command list read from --help"
while read -r cmd; do
	page="$man/mdeploy-$cmd.1"
	if [ ! -f "$page" ]; then
		ok 1 "mdeploy-$cmd.1 exists"; continue
	fi
	ok 0 "mdeploy-$cmd.1 exists"
	# The first usage line of --help, without "usage: ".
	want=$(mdeploy "$cmd" --help | sed -n 's/^usage: //p' | head -n1 | tr -s ' ')
	got=$(groff -Tascii -P-cbou -mdoc -rLL=200n "$page" 2>/dev/null | sed -n '/^SYNOPSIS/,/^DESCRIPTION/p' | sed -n 2p | sed 's/^ *//' | tr -s ' ')
	is "$got" "$want" "mdeploy-$cmd.1 SYNOPSIS matches --help"
	like "$(cat "$man/mdeploy.1")" "mdeploy-$cmd" "mdeploy.1 refers to mdeploy-$cmd"
done <"$TMP/cmds"
done_testing
