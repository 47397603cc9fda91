#!/bin/sh
# The aws provider's load balancer on moto_server with signature checking:
# an ALB listener forwarding to one target group per fleet, fleet weights
# moved with ModifyListener and read back from DescribeListeners and
# DescribeRules, target health from DescribeTargetHealth (a stopped
# instance is not UP), errors naming the API call and AWS's code, and a
# CloudWatch alarm in ALARM (SetAlarmState) stopping the orchestrator's
# canary shift, which rolls back (t/unit/aws-lb.c prints the TAP).
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-moto.sh"
moto_start
"$top_builddir/t/unit/aws-lb"
