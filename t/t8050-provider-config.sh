#!/bin/sh
# mdeploy.yml's provider: section names the provider a deployment opens and
# its options: a deployment's instances take the address base given there
# (not the environment's); an unknown provider, an option the provider does
# not take, an empty option and a bad value are refused with file:line:field
# (or the provider's own error) before anything is created.
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-deploy.sh"
deploy_test_init 50

cd "$TMP" || exit 1
# An address base of its own, different from the one the environment gives.
env_base=$MDEPLOY_LOCAL_ADDRESS_BASE
yml_base="127.$(( (${env_base#127.} + 7) % 150 + 100 ))"
write_yml() {
	cat >mdeploy.yml <<EOF2
application:
  name: pc
groups:
  - name: prod
    fleet: { size: 2, min: 1, max: 4, port: $port }
    load_balancer: { listen: '127.0.0.1:$lbport', slots: 8 }
    health_check: { interval: 100ms, healthy_threshold: 1, unhealthy_threshold: 1 }
    alarms: { window: 100ms }
    drain_timeout: 1s
provider:
$1
EOF2
}
deploy_mkrel A "release A"
nfleets() { mdeploy --json fleet list | jq '.fleets | length'; }

plan 14

write_yml "  name: nope"
run mdeploy deploy create prod A.tar.zst
is "$rc" 1 "an unknown provider is refused"
like "$err" "mdeploy.yml:11:9: provider.name: unknown provider 'nope' (this build has: local" \
	"... naming file:line:col, the field and the providers this build has"

write_yml "  name: local
  region: eu-west-1"
run mdeploy deploy create prod A.tar.zst
is "$rc" 1 "an option the provider does not take is refused"
like "$err" "mdeploy.yml:12:11: provider.region: not an option of the local provider (it takes: address_base)" \
	"... naming the place and the options it takes"

write_yml "  name: local
  colour: blue"
run mdeploy deploy create prod A.tar.zst
is "$rc" 1 "a key no provider has is refused"
like "$err" "mdeploy.yml:12:3: provider.colour: unknown key 'colour'" "... naming the place"

write_yml "  address_base: ''"
run mdeploy deploy create prod A.tar.zst
like "$err" "provider.address_base: must not be empty" "an empty option is refused"

write_yml "  name: local
  address_base: 10.1"
run mdeploy deploy create prod A.tar.zst
is "$rc" 1 "a bad address base fails the deployment"
like "$err" "address base '10.1' must be two octets in 127/8" "... with the provider's error"
# fleet list opens the provider mdeploy.yml names: with the bad address base it fails the same way.
run mdeploy fleet list
like "$err" "address base '10.1' must be two octets in 127/8" "fleet list opens mdeploy.yml's provider too"

write_yml "  name: local
  address_base: $yml_base"
is "$(nfleets)" 0 "nothing was created by the refused deployments"
run mdeploy deploy create prod A.tar.zst
is "$rc" 0 "deploy with the provider section's address base"
[ "$rc" = 0 ] || diag "$err"
is "$(mdeploy --json fleet show pc-prod-v001 | jq -r '[.instances[].address | startswith("'"$yml_base"'.")] | unique | join(" ")')" \
	true "the instances' addresses are in mdeploy.yml's base ($yml_base), not the environment's ($env_base)"
is "$(curl -s "http://127.0.0.1:$lbport/")" "release A" "and serve through the load balancer"
