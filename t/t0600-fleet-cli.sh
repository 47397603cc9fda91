#!/bin/sh
# mdeploy fleet and mdeploy lb: arguments, errors and output on an empty state.
# (Real fleets behind HAProxy are exercised by t/unit/test-provider-local and
# the deployment tests.)
. "${top_srcdir:-.}/t/lib.sh"

run mdeploy fleet list
is "$rc" 0 "fleet list on an empty state: exit 0"
like "$out" "FLEET" "header printed"
run mdeploy --json fleet list
is "$(printf '%s' "$out" | jq -c .)" '{"fleets":[]}' "--json: empty list"
run mdeploy fleet show moodle-prod-v001
is "$rc" 1 "unknown fleet: exit 1"
like "$err" "mdeploy: error: fleet 'moodle-prod-v001' not found" "unknown fleet named"
run mdeploy fleet show
is "$rc" 2 "show without FLEET: usage error"
run mdeploy fleet scale moodle-prod-v001 abc
is "$rc" 2 "non-numeric DESIRED: usage error"
run mdeploy fleet scale 'bad name' 2
is "$rc" 1 "invalid fleet name: exit 1"
like "$err" "is invalid" "and says so"
run mdeploy fleet frobnicate
is "$rc" 2 "unknown subcommand: usage error"
run mdeploy lb show moodle-prod
is "$rc" 1 "unknown load balancer: exit 1"
like "$err" "load balancer 'moodle-prod' not found" "named"
run mdeploy lb
is "$rc" 2 "lb without subcommand: usage error"
done_testing
