#!/bin/sh
# cfn-lint is clean on every CloudFormation template of infra/aws/, and it
# would catch a broken one. cfn-lint is required: missing is a failure.
. "${top_srcdir:-.}/t/lib.sh"

dir="$top_srcdir/infra/aws"
templates="network.yaml data.yaml app.yaml edge.yaml"
plan 8

if ! command -v cfn-lint >/dev/null 2>&1; then
	ok 1 "cfn-lint is installed"
	diag "cfn-lint not found in PATH: install it (pip install cfn-lint) to check infra/aws/"
	exit 1
fi
ok 0 "cfn-lint is installed ($(cfn-lint --version 2>&1))"

for t in $templates; do
	out=$(cfn-lint -- "$dir/$t" 2>&1); rc=$?
	is "$rc" 0 "cfn-lint: $t is clean"
	[ "$rc" = 0 ] || diag "$out"
done
# Every template of the directory is one of the stacks (none left unchecked).
is "$(cd "$dir" && ls ./*.yaml | sed 's|^\./||' | grep -v '^stacks.yaml$' | sort | tr '\n' ' ')" \
	"$(echo $templates | tr ' ' '\n' | sort | tr '\n' ' ')" "every template in infra/aws is linted"

# The lint can fail: a property the resource type does not have.
sed 's/StorageEncrypted: true/StorageEncrypted: true\n      StorageEncryptd: true/' "$dir/data.yaml" >"$TMP/bad.yaml"
out=$(cfn-lint -- "$TMP/bad.yaml" 2>&1); rc=$?
is "$rc" 2 "cfn-lint fails a template with an unknown property"
like "$out" "'StorageEncryptd' was unexpected" "... and names it"
done_testing
