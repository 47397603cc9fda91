#!/bin/sh
# docs/infra-aws.svg is what docs/infra-diagram.py draws from the templates
# of infra/aws/ as they are: a template change without a new picture fails.
. "${top_srcdir:-.}/t/lib.sh"
plan 4
PY=${PYTHON:-python3}
if ! "$PY" -c 'import yaml' 2>/dev/null; then
	ok 1 "PyYAML is importable by $PY"; diag "install python3-yaml"; exit 1
fi
"$PY" "$top_srcdir/docs/infra-diagram.py" "$top_srcdir/infra/aws" >"$TMP/d.svg" 2>"$TMP/err"
is "$?" 0 "the diagram is drawn from infra/aws"
[ -s "$TMP/err" ] && diag "$(cat "$TMP/err")"
if cmp -s "$TMP/d.svg" "$top_srcdir/docs/infra-aws.svg"; then ok 0 "docs/infra-aws.svg is up to date"; else
	ok 1 "docs/infra-aws.svg is up to date"
	diag "regenerate: python3 docs/infra-diagram.py infra/aws >docs/infra-aws.svg"
fi
like "$(cat "$TMP/d.svg")" "DatabaseInstance2" "it shows what the templates hold (the Aurora reader)"
# Drawn from the templates, not fixed: a renamed resource shows up.
cp -r "$top_srcdir/infra/aws" "$TMP/aws"
sed 's/^  NatGateway2:/  NatGatewaySecond:/; s/!Ref NatGateway2$/!Ref NatGatewaySecond/' \
	"$top_srcdir/infra/aws/network.yaml" >"$TMP/aws/network.yaml"
like "$("$PY" "$top_srcdir/docs/infra-diagram.py" "$TMP/aws" 2>&1)" "NatGatewaySecond" "a renamed resource is drawn by its new name"
done_testing
