#!/bin/sh
# The templates of infra/aws/ hold every seed component and the security and
# reliability defaults, checked on the parsed templates for every choice of
# mdeploy.yml (t/infra-aws-check.py); each check is shown to fail on a
# template that breaks it.
. "${top_srcdir:-.}/t/lib.sh"

check="$top_srcdir/t/infra-aws-check.py"
dir="$top_srcdir/infra/aws"
PY=${PYTHON:-python3}
if ! "$PY" -c 'import cfnlint.decode' 2>/dev/null; then
	plan 1
	ok 1 "cfn-lint's Python package is importable by $PY"
	diag "install cfn-lint (pip install cfn-lint) for the interpreter in PATH, or set PYTHON"
	exit 1
fi

# The real templates: every check passes. Its TAP lines are relayed as diag.
out=$("$PY" "$check" "$dir" 2>&1); rc=$?
n=$(printf '%s\n' "$out" | grep -c '^ok ')
plan $((2 + 16))
is "$rc" 0 "every check passes on infra/aws ($n checks)"
[ "$rc" = 0 ] || diag "$out"
ok "$([ "$n" -ge 16 ]; echo $?)" "at least 16 checks ran ($n)"

# mutate NAME FILE SED-SCRIPT EXPECTED: a copy of the templates with FILE
# changed by SED-SCRIPT must fail a check with EXPECTED in its message.
mutate() {
	rm -rf "$TMP/m"; cp -r "$dir" "$TMP/m"
	sed -e "$3" "$dir/$2" >"$TMP/m/$2"
	if cmp -s "$dir/$2" "$TMP/m/$2"; then ok 1 "$1"; diag "the sed script changed nothing"; return; fi
	out=$("$PY" "$check" "$TMP/m" 2>&1); rc=$?
	case "$rc:$out" in
	1:*"$4"*) ok 0 "$1" ;;
	*) ok 1 "$1"; diag "rc $rc, expected a failure naming '$4':" "$out" ;;
	esac
}
mutate "IMDSv1 allowed is caught" app.yaml 's/HttpTokens: required/HttpTokens: optional/' "IMDSv2 not required"
mutate "an SSH rule is caught" network.yaml \
	's/^\(          FromPort: \)443$/\122/' "port 22/3389 open"
mutate "an extra app ingress is caught" network.yaml \
	's/SourceSecurityGroupId: !Ref AlbSecurityGroup/SourceSecurityGroupId: !Ref DatabaseSecurityGroup/' "unexpected"
mutate "an unencrypted Aurora is caught" data.yaml 's/StorageEncrypted: true/StorageEncrypted: false/' "storage not encrypted"
mutate "no deletion protection is caught" data.yaml 's/DeletionProtection: !Ref DatabaseDeletionProtection/DeletionProtection: false/' "no deletion protection"
mutate "deletion protection off by default is caught" data.yaml '/DatabaseDeletionProtection:/,/Default/s/Default: "true"/Default: "false"/' "off by default"
mutate "overlapping subnets are caught" network.yaml 's|^    Default: 10.40.0.0/19,10.40.32.0/19|    Default: 10.40.0.0/19,10.40.0.0/19|' "overlaps"
mutate "a template password is caught" data.yaml \
	's/ManageMasterUserPassword: true/MasterUserPassword: !Ref DatabaseUser/' "password is not managed"
mutate "a single Aurora instance is caught" data.yaml \
	'/^  DatabaseInstance2:/,/PromotionTier/s/DBClusterIdentifier: !Ref DatabaseCluster/DBClusterIdentifier: other/' "Multi-AZ needs 2"
mutate "Redis without transit encryption is caught" data.yaml 's/TransitEncryptionEnabled: true/TransitEncryptionEnabled: false/' "TransitEncryptionEnabled is not true"
mutate "an unencrypted EFS is caught" data.yaml 's/Encrypted: true/Encrypted: false/' "not encrypted"
mutate "a bucket without public access block is caught" data.yaml 's/RestrictPublicBuckets: true/RestrictPublicBuckets: false/' "RestrictPublicBuckets is not true"
mutate "a stateful resource without a retention policy is caught" data.yaml \
	'/^  FileSystem:/,/^    Properties:/{/DeletionPolicy: Retain/d}' "DeletionPolicy is None"
mutate "ALB access logs off are caught" app.yaml 's/Value: "true"$/Value: "false"/' "access logs off"
mutate "an app subnet in the public tier is caught" app.yaml 's/VPCZoneIdentifier: !Ref PrivateSubnetIds/VPCZoneIdentifier: !Ref PublicSubnetIds/' "not in the private subnets"
mutate "an unwired parameter is caught" stacks.yaml '/FileSystemId: {output: data.FileSystemId}/d' "FileSystemId has no default"
done_testing
