#!/bin/sh
# The agent on EC2, pull model, on moto_server with signature checking:
# deploy create on the aws provider, end to end. The green fleet's Auto
# Scaling group is pinned to a new launch template version whose user data
# runs `mdeploy agent pull` with the bundle's S3 location, digest and trusted
# key; each instance's agent reports every lifecycle event to an S3 object
# the orchestrator polls; a failure or a timeout fails the deployment naming
# the instance, the event and the log's last lines.
#
# moto makes the instances of an Auto Scaling group but boots nothing, so
# this test plays them: for each instance moto lists in a new group, it
# decodes the user data of the launch template version the group is pinned
# to and runs it as a local process, with MDEPLOY_INSTANCE_ID,
# MDEPLOY_INSTANCE_ADDR and MDEPLOY_AGENT_ROOT in its environment instead of
# what the instance metadata service (IMDSv2) would give, and a PHP server on
# the instance's own loopback address serving ROOT/current (the AMI's web
# server). What moto cannot check: target health (its targets are always
# healthy, so the health gate passes whatever the instances answer),
# instances booting over time, cloud-init running the user data as root,
# the instance profile's credentials (the simulated instances use the test's
# key), ALB traffic (nothing is routed through moto's ALB), and that
# CloudFront makes one invalidation per CallerReference (moto makes one per
# call). After the cutover the group's cdn.invalidate paths are invalidated
# on its CloudFront distribution (moto's).
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-moto.sh"
command -v php >/dev/null && command -v curl >/dev/null || { echo "Bail out! php and curl are needed"; exit 1; }
# moto 5.2 does not decode CreateLaunchTemplateVersion's user data (its instances then
# fail to launch) nor copy SourceVersion: t/fixtures/moto-fix makes it do as AWS does.
PYTHONPATH="$top_srcdir/t/fixtures/moto-fix${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONPATH
moto_start
export MDEPLOY_PROGRESS=0
cd "$TMP" || exit 1
port=$(free_port) || { echo "Bail out! no free port"; exit 1; }
bindir=$(cd "$(dirname "$MDEPLOY")" && pwd)
base="127.$((100 + $$ % 150)).$((($$ / 150) % 200 + 20))"

# moto_curl with one config file for the whole test: the instances played in the
# background sign their calls at the same time as the foreground (lib-moto.sh's
# removes its file after each call).
( umask 077; printf 'user = "%s:%s"\n' "$MOTO_KEY_ID" "$MOTO_SECRET" >"$TMP/.moto-curl-all" )
moto_curl() {
	_svc=$1; shift
	curl -sS --max-time 60 -K "$TMP/.moto-curl-all" --aws-sigv4 "aws:amz:us-east-1:$_svc" "$@"
}
awsq() {
	_svc=$1 _ver=$2 _act=$3
	shift 3
	for _kv do
		set -- "$@" --data-urlencode "$_kv"
		shift
	done
	moto_curl "$_svc" -X POST --data-urlencode "Action=$_act" --data-urlencode "Version=$_ver" "$@" "$MOTO_URL/"
}
ec2() { awsq ec2 2016-11-15 "$@"; }
asg() { awsq autoscaling 2011-01-01 "$@"; }
elb() { awsq elasticloadbalancing 2015-12-01 "$@"; }
xml_first() { tr -d '\n' | grep -o "<$1>[^<]*</$1>" | head -n 1 | sed 's:<[^>]*>::g'; }
xml_all() { tr -d '\n' | grep -o "<$1>[^<]*</$1>" | sed 's:<[^>]*>::g'; }
s3get() { moto_curl s3 -f -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$MOTO_URL/agentb/$1"; }

moto_create_bucket agentb || { echo "Bail out! bucket"; exit 1; }
vpc=$(ec2 CreateVpc CidrBlock=10.8.0.0/16 | xml_first vpcId)
sa=$(ec2 CreateSubnet VpcId="$vpc" CidrBlock=10.8.1.0/24 AvailabilityZone=us-east-1a | xml_first subnetId)
sb=$(ec2 CreateSubnet VpcId="$vpc" CidrBlock=10.8.2.0/24 AvailabilityZone=us-east-1b | xml_first subnetId)
ec2 CreateLaunchTemplate LaunchTemplateName=lt LaunchTemplateData.ImageId=ami-12c6146b \
	LaunchTemplateData.InstanceType=t3.micro >/dev/null
lbarn=$(elb CreateLoadBalancer Name=ap-prod Subnets.member.1="$sa" Subnets.member.2="$sb" | xml_first LoadBalancerArn)
tg0=$(elb CreateTargetGroup Name=ap-infra Protocol=HTTP Port="$port" VpcId="$vpc" | xml_first TargetGroupArn)
elb CreateListener LoadBalancerArn="$lbarn" Protocol=HTTP Port=80 DefaultActions.member.1.Type=forward \
	DefaultActions.member.1.ForwardConfig.TargetGroups.member.1.TargetGroupArn="$tg0" \
	DefaultActions.member.1.ForwardConfig.TargetGroups.member.1.Weight=1 >/dev/null
ok "$([ -n "$sb" ] && [ -n "$lbarn" ] && [ -n "$tg0" ] && echo 0)" \
	"setup on moto: bucket, VPC, subnets, launch template, ALB ap-prod with a forwarding listener"

# The CDN in front of the group: a CloudFront distribution (REST-XML).
cf() { moto_curl cloudfront -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"; }
dist=$(cf -X POST -H 'Content-Type: application/xml' "$MOTO_URL/2020-05-31/distribution" --data-binary \
'<?xml version="1.0" encoding="UTF-8"?>
<DistributionConfig xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"><CallerReference>t8054</CallerReference>
<Origins><Quantity>1</Quantity><Items><Origin><Id>alb</Id><DomainName>ap-prod.example.com</DomainName>
<CustomOriginConfig><HTTPPort>80</HTTPPort><HTTPSPort>443</HTTPSPort><OriginProtocolPolicy>http-only</OriginProtocolPolicy></CustomOriginConfig>
</Origin></Items></Origins><DefaultCacheBehavior><TargetOriginId>alb</TargetOriginId>
<ViewerProtocolPolicy>allow-all</ViewerProtocolPolicy><MinTTL>0</MinTTL></DefaultCacheBehavior>
<Comment>t8054</Comment><Enabled>true</Enabled></DistributionConfig>' | xml_first Id)
ok "$([ -n "$dist" ] && echo 0)" "moto: a CloudFront distribution ($dist)"
"$MDEPLOY" -q key generate signer.pem signer.pub >/dev/null 2>&1
cat >mdeploy.yml <<EOF
application:
  name: ap
groups:
  - name: prod
    fleet: { size: 2, min: 1, max: 4, port: $port }
    health_check: { path: /health.php }
    trusted_keys: [ $TMP/signer.pub ]
    cdn: { distribution: $dist, invalidate: [ "/theme/*", "/lib/javascript.php/*" ] }
provider:
  name: aws
  launch_template: lt
  subnets: "$sa,$sb"
  agent_bucket: agentb
  agent_timeout: 25
EOF

# mkrel DIR TEXT [EXPECT]: index.php prints TEXT; ValidateService asks the instance
# (MDEPLOY_INSTANCE_ADDR:MDEPLOY_HTTP_PORT, as the orchestrator gives them) for EXPECT.
mkrel() {
	mkdir -p "$1/hooks"
	printf '<?php echo "%s\\n";\n' "$2" >"$1/index.php"
	printf '<?php echo "ok";\n' >"$1/health.php"
	cat >"$1/appspec.yml" <<EOT
version: 0.0
os: linux
hooks:
  BeforeInstall:
    - location: hooks/before.sh
  ValidateService:
    - location: hooks/validate.sh
EOT
	printf '#!/bin/sh\necho "before-install on $MDEPLOY_INSTANCE_ID kind=$MDEPLOY_DEPLOYMENT_KIND"\n' >"$1/hooks/before.sh"
	cat >"$1/hooks/validate.sh" <<EOT
#!/bin/sh
got=\$(curl -s "http://\$MDEPLOY_INSTANCE_ADDR:\$MDEPLOY_HTTP_PORT/")
echo "validate: \$MDEPLOY_INSTANCE_ID answered '\$got'"
[ "\$got" = "${3:-$2}" ]
EOT
	chmod +x "$1/hooks/before.sh" "$1/hooks/validate.sh"
	"$MDEPLOY" -q bundle create --sign signer.pem "$1" "$1.tar.zst" >/dev/null || exit 1
}
mkrel A "release A"
mkrel B "release B" "release Z"
mkrel C "release C"

# The web server of the image: PHP on the instance's address serving ROOT/current.
cat >router.php <<'PHP'
<?php
$f = getenv('MDEPLOY_TEST_ROOT') . '/current' . parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
if (is_dir($f)) $f .= '/index.php';
if (!is_file($f)) { http_response_code(404); return true; }
chdir(dirname($f));
include $f;
PHP

# play_fleets: in the background until $TMP/sim.stop exists, each new instance of an
# Auto Scaling group runs the user data of the template version the group is pinned to.
# The first new instance of the group named in $TMP/sim.skip-first never runs it (it
# never booted); its id goes to $TMP/sim.skip.
play_fleets() {
	n=0
	while [ ! -e sim.stop ]; do
		for g in $(asg DescribeAutoScalingGroups | xml_all AutoScalingGroupName); do
			ver=$(asg DescribeAutoScalingGroups AutoScalingGroupNames.member.1="$g" |
				tr -d '\n' | grep -o '<LaunchTemplate>.*</LaunchTemplate>' | xml_first Version)
			ids=$(asg DescribeAutoScalingGroups AutoScalingGroupNames.member.1="$g" | xml_all InstanceId)
			[ -n "$ver" ] && [ -n "$ids" ] || continue
			new=
			for id in $ids; do grep -q "^$id " instances 2>/dev/null || new="$new $id"; done
			[ -n "$new" ] || continue
			# (moto answers with every version: the one pinned is picked out)
			ec2 DescribeLaunchTemplateVersions LaunchTemplateName=lt Versions.1="$ver" | tr -d '\n' |
				sed 's:<item>:\n<item>:g' | grep "<versionNumber>$ver</versionNumber>" |
				xml_first userData | base64 -d >"ud.$g.sh"
			for id in $new; do
				n=$((n + 1))
				addr="$base.$((n + 1))"
				echo "$id $addr $g" >>instances
				if [ "$(cat sim.skip-first 2>/dev/null)" = "$g" ]; then
					echo "$id" >sim.skip
					rm -f sim.skip-first
					continue
				fi
				mkdir -p "inst/$id"
				MDEPLOY_TEST_ROOT="$TMP/inst/$id" setsid php -S "$addr:$port" router.php \
					>"inst/$id.php.log" 2>&1 </dev/null &
				echo $! >"inst/$id.php.pid"
				# the image has mdeploy on its PATH: here the one under test
				( PATH="$bindir:$PATH" MDEPLOY_INSTANCE_ID=$id MDEPLOY_INSTANCE_ADDR=$addr \
					MDEPLOY_AGENT_ROOT="$TMP/inst/$id" sh "ud.$g.sh" >"inst/$id.$g.log" 2>&1 ) &
			done
		done
		sleep 0.3
	done
}
sim_stop() {
	: >sim.stop
	[ -n "${sim:-}" ] && wait "$sim" 2>/dev/null
	sim=
	for f in inst/*.php.pid; do [ -f "$f" ] && kill -- "-$(cat "$f")" 2>/dev/null; done
}
trap 'sim_stop; moto_stop; _tap_cleanup' EXIT
rm -f sim.stop
play_fleets &
sim=$!

sha_a=$(sha256sum A.tar.zst | cut -d' ' -f1)
run mdeploy --json deploy create prod A.tar.zst
is "$rc" 0 "deploy create on aws: green's instances installed themselves (pull) and the deployment finished" ||
	diag "$err"
id=$(printf "%s" "$out" | jq -r '.id // .deployment_id // empty')
run mdeploy --json deploy status
is "$(printf "%s" "$out" | jq -r .status)" Succeeded "deploy status: Succeeded"
[ -n "$id" ] || id=$(printf "%s" "$out" | jq -r .id)
ver=$(asg DescribeAutoScalingGroups AutoScalingGroupNames.member.1=ap-prod-v001 |
	tr -d '\n' | grep -o '<LaunchTemplate>.*</LaunchTemplate>' | xml_first Version)
is "$ver" 2 "moto: the group is pinned to a new version of the launch template (1 is infra's)"
ud=$(cat ud.ap-prod-v001.sh 2>/dev/null)
like "$ud" "mdeploy agent --root" "its user data runs the agent"
like "$ud" "pull 's3://agentb/mdeploy/agent/bundles/$sha_a/A.tar.zst'" "... on the bundle in S3"
like "$ud" "--sha256 '$sha_a'" "... with its digest"
like "$ud" "BEGIN PUBLIC KEY" "... and the trusted key's PEM"
like "$ud" "--report 's3://agentb/mdeploy/agent/reports/$id/'" "... reporting to the deployment's prefix"
like "$ud" "--env 'MDEPLOY_HTTP_PORT=$port'" "... with the hooks' variables"
is "$(ec2 DescribeLaunchTemplateVersions LaunchTemplateName=lt Versions.1=2 | xml_first imageId)" ami-12c6146b \
	"moto: made from the template's default version (its image kept)"
ids=$(asg DescribeAutoScalingGroups AutoScalingGroupNames.member.1=ap-prod-v001 | xml_all InstanceId)
good=0 served=0
for i in $ids; do
	rep=$(s3get "mdeploy/agent/reports/$id/$i.json")
	[ "$(printf "%s" "$rep" | jq -r '[.status, (.events | map(.event + ":" + .status) | join(","))] | join(" ")')" = \
		"Succeeded ApplicationStop:Succeeded,DownloadBundle:Succeeded,BeforeInstall:Succeeded,Install:Succeeded,AfterInstall:Succeeded,ApplicationStart:Succeeded,ValidateService:Succeeded" ] &&
		good=$((good + 1))
	addr=$(sed -n "s/^$i \([^ ]*\) .*/\1/p" instances)
	[ "$(curl -s "http://$addr:$port/")" = "release A" ] && served=$((served + 1))
done
is "$good" 2 "S3: each instance's report has every lifecycle event Succeeded"
is "$served" 2 "each simulated instance serves release A from the release its agent installed"
grep -q "kind=" inst/*/logs/"$id".log 2>/dev/null
is "$?" 0 "the hooks ran with the orchestrator's variables (MDEPLOY_DEPLOYMENT_KIND)"
run mdeploy --json deploy status
is "$(printf "%s" "$out" | jq -r '[.steps[] | select(.step == "install" and .state == "done")] | length')" 2 \
	"the journal has both instances' install steps (from their reports)"
is "$(elb DescribeListeners LoadBalancerArn="$lbarn" | tr -d '\n' | grep -o '<Weight>[0-9]*</Weight>' | sed 's:<[^>]*>::g' | sort -n | tr '\n' ' ')" \
	"0 100 " "moto: the listener forwards 100 to green's target group (infra's at 0)"

inv=$(cf "$MOTO_URL/2020-05-31/distribution/$dist/invalidation" | xml_all Id)
is "$(echo "$inv" | grep -c .)" 1 "moto: after the cutover, one CloudFront invalidation of the group's distribution"
is "$(cf "$MOTO_URL/2020-05-31/distribution/$dist/invalidation/$inv" | xml_all Path | tr '\n' ' ')" \
	"/theme/* /lib/javascript.php/* " "... of the paths cdn.invalidate names"
run mdeploy --json deploy status
is "$(printf "%s" "$out" | jq -r '[.steps[] | select(.step == "cdn-invalidate") | "\(.target):\(.state)"] | join(" ")')" \
	"$dist:done" "the journal has the step, after the shift"

# fleet scale on aws: the group makes the instance, its user data installs the live
# deployment's release, the orchestrator waits for its report, registers and checks it.
run mdeploy fleet scale ap-prod-v001 3
is "$rc" 0 "fleet scale of the live fleet to 3" || diag "$err"
ids3=$(asg DescribeAutoScalingGroups AutoScalingGroupNames.member.1=ap-prod-v001 | xml_all InstanceId)
i3=$(for i in $ids3; do echo "$ids" | grep -qx "$i" || echo "$i"; done)
is "$(echo "$ids3" | grep -c .)" 3 "moto: the group has 3 instances"
is "$(s3get "mdeploy/agent/reports/$id/$i3.json" | jq -r .status)" Succeeded \
	"the new instance's agent installed the live deployment ($id) and reported it"
addr=$(sed -n "s/^$i3 \([^ ]*\) .*/\1/p" instances)
is "$(curl -s "http://$addr:$port/")" "release A" "... and serves it"
tg1=$(elb DescribeTargetGroups | tr -d '\n' | sed 's:<member>:\n:g' | grep '<TargetGroupName>ap-prod-v001<' | xml_first TargetGroupArn)
is "$(elb DescribeTargetHealth TargetGroupArn="$tg1" | xml_all Id | sort | tr '\n' ' ')" \
	"$(echo "$ids3" | sort | tr '\n' ' ')" "moto: it is registered in the fleet's target group"

# A release whose ValidateService fails on the instances: the deployment fails with the
# instance, the event and the log's last lines, and is rolled back.
run mdeploy --json deploy create prod B.tar.zst
is "$rc" 1 "a release failing ValidateService on the instances fails"
run mdeploy --json deploy status
bid=$(printf "%s" "$out" | jq -r .id)
is "$(printf "%s" "$out" | jq -r .status)" RolledBack "... and is rolled back"
error=$(printf "%s" "$out" | jq -r .error)
i=$(printf "%s" "$error" | sed -n 's/.*instance \(i-[0-9a-f]*\): ValidateService failed: .*/\1/p' | head -n 1)
ok "$(grep -q "^$i .* ap-prod-v002\$" instances; echo $?)" "the error names one of green's instances ($i) and the event"
like "$error" "validate: $i answered 'release B'" "... and ends with the log's last lines (the hook's output)"
rep=$(s3get "mdeploy/agent/reports/$bid/$i.json")
is "$(printf "%s" "$rep" | jq -r '"\(.status) \(.event)"')" "Failed ValidateService" "S3: its report says Failed at ValidateService"
served=0
for i in $ids; do
	addr=$(sed -n "s/^$i \([^ ]*\) .*/\1/p" instances)
	[ "$(curl -s "http://$addr:$port/")" = "release A" ] && served=$((served + 1))
done
is "$served" 2 "blue's instances still serve A"

# An instance whose user data never runs: the deployment times out naming it.
echo ap-prod-v003 >sim.skip-first
run mdeploy --json deploy create prod C.tar.zst
is "$rc" 1 "an instance that never reports fails the deployment"
skipped=$(cat sim.skip)
run mdeploy --json deploy status
error=$(printf "%s" "$out" | jq -r .error)
like "$error" "instance $skipped: no report from its agent in 25 s" "... after agent_timeout, naming the instance"

# The agent alone: a bundle whose digest is not the deployment's is not installed.
mkdir -p solo
run mdeploy agent --root solo/r --deployment-id d-SOLO1 --instance-id i-solo --report s3://agentb/solo/ \
	--sha256 "$(printf '%064d' 0)" pull "s3://agentb/mdeploy/agent/bundles/$sha_a/A.tar.zst"
is "$rc" 1 "agent pull: a digest mismatch fails"
like "$err" "has SHA-256 $sha_a, not 0000" "... saying so"
is "$(s3get solo/i-solo.json | jq -r '"\(.status) \(.event)"')" "Failed DownloadBundle" "... and the report says where"
"$MDEPLOY" -q key generate other.pem other.pub >/dev/null 2>&1
run mdeploy agent --root solo/r --deployment-id d-SOLO2 --instance-id i-solo --trusted-key other.pub \
	--sha256 "$sha_a" pull "s3://agentb/mdeploy/agent/bundles/$sha_a/A.tar.zst"
is "$rc" 1 "agent pull: a bundle not signed by a trusted key is not installed"
[ -e solo/r/current ]
is "$?" 1 "... nothing is live"

# A CDN path that is not one is mdeploy.yml's error, naming the place.
sed 's|"/theme/\*"|"theme/*"|' mdeploy.yml >bad.yml
run mdeploy --config bad.yml fleet list
is "$rc" 1 "cdn.invalidate: a path without its leading / is refused"
like "$err" "groups[0].cdn.invalidate[0]: 'theme/*' must be a path starting with '/'" "... naming the field"

# What a pulled deployment cannot do yet is refused before anything changes.
sed -i 's|    - location: hooks/before.sh|&\n      scope: once|' C/appspec.yml
"$MDEPLOY" -q bundle create --sign signer.pem C C2.tar.zst >/dev/null
ngroups=$(asg DescribeAutoScalingGroups | xml_all AutoScalingGroupName | wc -l)
run mdeploy deploy create prod C2.tar.zst
is "$rc" 1 "a scope: once hook on aws is refused"
like "$err" "appspec.yml:5: hook hooks/before.sh of BeforeInstall has scope: once" "... naming the hook"
like "$err" "running a command on a live instance (SSM Run Command) is not written yet" "... and saying why"
is "$(asg DescribeAutoScalingGroups | xml_all AutoScalingGroupName | wc -l)" "$ngroups" "... before any group is made"

# deploy rollback after a cutover: blue's pages are back, so the CDN is told again.
mkrel D "release D"
run mdeploy --json deploy plan prod D.tar.zst
is "$(printf "%s" "$out" | jq -r '[.operations[] | select(.call == "agent_report" or .call == "cdn_invalidate") | "\(.step):\(.how)"] | join(" | ")')" \
	"install:s3:GetObject of each instance's report, every poll | cdn-invalidate:cloudfront:CreateInvalidation of the group's cdn.invalidate paths (the deployment id as CallerReference; not waited for)" \
	"deploy plan on aws: the agents' reports and the CDN invalidation, with their AWS calls"
ninv=$(cf "$MOTO_URL/2020-05-31/distribution/$dist/invalidation" | xml_all Id | grep -c .)
run mdeploy deploy create prod D.tar.zst
is "$rc" 0 "D deployed" || diag "$err"
run mdeploy deploy rollback prod
is "$rc" 0 "deploy rollback" || diag "$err"
is "$(cf "$MOTO_URL/2020-05-31/distribution/$dist/invalidation" | xml_all Id | grep -c .)" "$((ninv + 2))" \
	"moto: one invalidation for D's cutover, one for the rollback"
run mdeploy --json deploy status
is "$(printf "%s" "$out" | jq -r '[.steps[] | select(.step == "cdn-invalidate") | .state] | join(" ")')" done \
	"the rollback's journal has its cdn-invalidate step"

done_testing
