#!/bin/sh
# A group with trusted_keys in mdeploy.yml installs only bundles whose
# manifest is signed by one of them: unsigned bundles, plain archives and
# bundles signed by another key are refused by deploy create without any
# --trusted-key on the command line (issue 13 item 12).
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-deploy.sh"
deploy_test_init 410

cd "$TMP" || exit 1
mdeploy key generate k.key >/dev/null
mdeploy key generate other.key >/dev/null
write_config() {
	cat >mdeploy.yml <<EOT
application:
  name: demo
groups:
  - name: prod
    fleet: { size: 1, min: 1, max: 2, port: $port }
    load_balancer: { listen: '127.0.0.1:$lbport', slots: 4 }
    health_check: { path: /health.php, interval: 100ms, healthy_threshold: 1 }
    drain_timeout: 1s
    trusted_keys: [ $1 ]
EOT
}

write_config missing.pub
run mdeploy deploy create prod nothing.tar.zst
is "$rc" 1 "a trusted key file that does not exist: the configuration is refused"
like "$err" "mdeploy.yml:9:21: groups[0].trusted_keys[0]: cannot read the public key '$TMP/missing.pub'" \
	"the error names the file, line and field"

write_config k.key.pub
deploy_mkrel A "release A"
mdeploy -q bundle create --sign other.key A A-other.tar.zst >/dev/null
mdeploy -q bundle create --sign k.key A A-signed.tar.zst >/dev/null
(cd A && tar -cf ../A-plain.tar .)

run mdeploy deploy create prod A.tar.zst
is "$rc" 1 "an unsigned bundle is refused"
like "$err" "group 'prod' has trusted_keys: $TMP/A.tar.zst: the bundle is not signed" "the error names the group's keys"
run mdeploy deploy create prod A-plain.tar
is "$rc" 1 "a plain archive (no manifest) is refused"
like "$err" "has no .mdeploy/manifest.json" "the error says the manifest is missing"
run mdeploy deploy create prod A-other.tar.zst
is "$rc" 1 "a bundle signed by another key is refused"
like "$err" "not trusted" "the error says the key is not trusted"
is "$(mdeploy --json fleet list | jq '.fleets | length')" 0 "no fleet was created by the refused deployments"

run mdeploy deploy create --wait prod A-signed.tar.zst
is "$rc" 0 "a bundle signed by the group's key deploys"
is "$(curl -s "http://127.0.0.1:$lbport/")" "release A" "and serves"

# --trusted-key beside the group's keys: both must be satisfied.
run mdeploy deploy create --trusted-key other.key.pub prod A-signed.tar.zst
is "$rc" 1 "--trusted-key of another key beside the group's: refused"
like "$err" "not trusted" "because the bundle is not signed by it"

done_testing
