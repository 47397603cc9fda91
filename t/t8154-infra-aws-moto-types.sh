#!/bin/sh
# infra/aws/README.md says truly which resource types of the templates
# moto's CloudFormation creates and which only cfn-lint and the template
# checks see: the list is asked from moto itself.
. "${top_srcdir:-.}/t/lib.sh"
plan 3
PY=${PYTHON:-python3}
if ! "$PY" -c 'import moto.cloudformation.parsing, cfnlint.decode' 2>/dev/null; then
	ok 1 "moto and cfn-lint are importable by $PY"
	diag "install them (pip install 'moto[server]' cfn-lint): the AWS tests need them"
	exit 1
fi
ok 0 "moto and cfn-lint are importable"
"$PY" "$top_srcdir/t/infra-aws-moto-types.py" "$top_srcdir/infra/aws" >"$TMP/types" 2>"$TMP/err"
ok "$([ -s "$TMP/types" ] && ! grep -qv '^\(moto\|lint\) AWS::' "$TMP/types"; echo $?)" "each type is moto or lint"
readme="$top_srcdir/infra/aws/README.md"
bad=
while read -r kind type layers; do
	# the README's line for the type must sit in the section of its kind
	section=$(awk -v t="- \`$type\`" '/^Created by moto/ {s="moto"} /^Only checked by/ {s="lint"} /^Other gaps/ {s=""} $0 == t {print s}' "$readme")
	[ "$section" = "$kind" ] || bad="$bad $type($kind, README: ${section:-absent})"
done <"$TMP/types"
is "${bad:-none}" none "infra/aws/README.md lists every type under what moto does with it"
done_testing
