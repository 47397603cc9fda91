#!/bin/sh
# The fleet and lb commands open the provider mdeploy.yml names (here aws,
# on moto_server with signature checking), not the default one: fleet list
# and show read the Auto Scaling groups and their instances, fleet scale
# changes the group (read back from moto), lb show reads the ALB listener's
# weighted target groups and DescribeTargetHealth; an ALB that does not
# exist fails naming the call and AWS's code. (Before, these commands
# opened the local provider whatever mdeploy.yml said.)
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-moto.sh"
moto_start
export MDEPLOY_PROGRESS=0
cd "$TMP" || exit 1

# awsq SERVICE VERSION ACTION KEY=VALUE... : a signed Query call, the XML on stdout.
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
# xml_first TAG : the text of the first <TAG> on stdin.
xml_first() { tr -d '\n' | grep -o "<$1>[^<]*</$1>" | head -n 1 | sed 's:<[^>]*>::g'; }

vpc=$(ec2 CreateVpc CidrBlock=10.9.0.0/16 | xml_first vpcId)
sa=$(ec2 CreateSubnet VpcId="$vpc" CidrBlock=10.9.1.0/24 AvailabilityZone=us-east-1a | xml_first subnetId)
sb=$(ec2 CreateSubnet VpcId="$vpc" CidrBlock=10.9.2.0/24 AvailabilityZone=us-east-1b | xml_first subnetId)
ec2 CreateLaunchTemplate LaunchTemplateName=lt LaunchTemplateData.ImageId=ami-12c6146b \
	LaunchTemplateData.InstanceType=t3.micro >/dev/null
# A fleet as the aws provider makes one (tested in t8051): an ASG with the port tag.
asg CreateAutoScalingGroup AutoScalingGroupName=pc-prod-v001 LaunchTemplate.LaunchTemplateName=lt \
	LaunchTemplate.Version=1 MinSize=1 MaxSize=4 DesiredCapacity=2 VPCZoneIdentifier="$sa,$sb" \
	Tags.member.1.Key=mdeploy:port Tags.member.1.Value=8080 Tags.member.1.PropagateAtLaunch=true \
	Tags.member.2.Key=mdeploy:tags Tags.member.2.Value='{"application":"pc","group":"prod"}' >/dev/null
ids=$(asg DescribeAutoScalingGroups AutoScalingGroupNames.member.1=pc-prod-v001 |
	tr -d '\n' | grep -o '<InstanceId>[^<]*</InstanceId>' | sed 's:<[^>]*>::g' | sort)
i1=$(echo "$ids" | sed -n 1p)
i2=$(echo "$ids" | sed -n 2p)
# The ALB as infra makes it, forwarding to the fleet's target group at weight 100.
lbarn=$(elb CreateLoadBalancer Name=pc-prod Subnets.member.1="$sa" Subnets.member.2="$sb" | xml_first LoadBalancerArn)
tg=$(elb CreateTargetGroup Name=pc-prod-v001 Protocol=HTTP Port=8080 VpcId="$vpc" \
	Tags.member.1.Key=mdeploy:fleet Tags.member.1.Value=pc-prod-v001 | xml_first TargetGroupArn)
elb CreateListener LoadBalancerArn="$lbarn" Protocol=HTTP Port=80 DefaultActions.member.1.Type=forward \
	DefaultActions.member.1.ForwardConfig.TargetGroups.member.1.TargetGroupArn="$tg" \
	DefaultActions.member.1.ForwardConfig.TargetGroups.member.1.Weight=100 >/dev/null
elb RegisterTargets TargetGroupArn="$tg" Targets.member.1.Id="$i1" Targets.member.2.Id="$i2" >/dev/null
ok "$([ -n "$vpc" ] && [ -n "$sb" ] && [ -n "$i2" ] && [ -n "$tg" ] && echo 0)" \
	"setup on moto: VPC, subnets, launch template, an ASG of 2, an ALB forwarding to its target group"

cat >mdeploy.yml <<EOF2
application:
  name: pc
groups:
  - name: prod
    fleet: { size: 2, min: 1, max: 4, port: 8080 }
provider:
  name: aws
  launch_template: lt
  subnets: "$sa,$sb"
EOF2

run mdeploy --json fleet list
is "$rc" 0 "fleet list with provider aws" || diag "$err"
is "$(echo "$out" | jq -r '[.fleets[] | "\(.name):\(.desired)/\(.min)/\(.max):\(.port):\(.running)"] | join(" ")')" \
	"pc-prod-v001:2/1/4:8080:2" "... the Auto Scaling group, its sizes, port tag and instances in service"
run mdeploy fleet list
like "$out" "pc-prod-v001" "fleet list (text)"

run mdeploy --json fleet show pc-prod-v001
is "$rc" 0 "fleet show" || diag "$err"
is "$(echo "$out" | jq -r '[.instances[].id] | sort | join(" ")')" "$(echo $ids)" \
	"... its instances, from the group and EC2"
is "$(echo "$out" | jq -r '"\(.load_balancer.name):\(.load_balancer.weight):\(.load_balancer.in_rotation)"')" "pc-prod:100:2" \
	"... and its weight at the group's load balancer, from the listener"

# A fleet of no deployment group scales directly (a group's boots the live release: the agent on EC2).
asg CreateAutoScalingGroup AutoScalingGroupName=misc-v001 LaunchTemplate.LaunchTemplateName=lt \
	LaunchTemplate.Version=1 MinSize=1 MaxSize=4 DesiredCapacity=1 VPCZoneIdentifier="$sa" >/dev/null
run mdeploy fleet scale misc-v001 3
is "$rc" 0 "fleet scale misc-v001 3" || diag "$err"
is "$(asg DescribeAutoScalingGroups AutoScalingGroupNames.member.1=misc-v001 | xml_first DesiredCapacity)" 3 \
	"moto: the group's desired capacity is 3"
run mdeploy fleet scale pc-prod-v001 3
is "$rc" 1 "a deployment group's fleet scales through the deployment (boots its live release)"
like "$err" "group prod has no live release" "... none here: refused, saying so"

run mdeploy --json lb show pc-prod
is "$rc" 0 "lb show pc-prod with provider aws" || diag "$err"
is "$(echo "$out" | jq -r '[.fleets[] | "\(.fleet):\(.weight):\(.targets):\(.in_rotation):\(.share_percent)"] | join(" ")')" \
	"pc-prod-v001:100:2:2:100" "... the fleet's target group: weight, targets, in rotation, share"
is "$(echo "$out" | jq -r '[.targets[] | "\(.instance):\(.health)"] | sort | join(" ")')" "$i1:UP $i2:UP" \
	"... targets healthy (DescribeTargetHealth)"
like "$(echo "$out" | jq -r .bind)" ".elb.amazonaws.com:80" "... on the ALB's DNS name and listener port"

run mdeploy lb show pc-none
is "$rc" 1 "lb show of an ALB that does not exist fails"
like "$err" "elasticloadbalancing:DescribeLoadBalancers: LoadBalancerNotFound" "... naming the call and the code"

# Without the provider: section the same commands see the local provider's (none here).
sed -i '/^provider:/,$d' mdeploy.yml
run mdeploy --json fleet list
is "$(echo "$out" | jq -r '.fleets | length')" 0 "without provider: the default (local) provider has no fleet"

done_testing
