#!/usr/bin/env python3
"""infra-aws-moto-types.py - which resource types of infra/aws/ moto's
CloudFormation creates, and which it does not (skipped with a warning, or
failing the stack). Prints one line per type: "moto TYPE" or "lint TYPE"
(only checked by cfn-lint and t/infra-aws-check.py). Used by t8154 and to
keep infra/aws/README.md's table true.

usage: infra-aws-moto-types.py INFRA_AWS_DIR
"""
import sys

import moto.cloudformation.parsing as parsing
from cfnlint.decode import cfn_yaml

DIR = sys.argv[1] if len(sys.argv) > 1 else "infra/aws"
supported = set(parsing.get_model_map().keys())
# Types moto's parser handles itself, outside the model map.
supported |= {"AWS::CloudFormation::WaitCondition", "AWS::CloudFormation::WaitConditionHandle"}
types = {}
for layer in ("network", "data", "app", "edge"):
    t = cfn_yaml.load("%s/%s.yaml" % (DIR, layer))
    for r in t["Resources"].values():
        types.setdefault(str(r["Type"]), set()).add(layer)
for typ in sorted(types):
    print("%s %s %s" % ("moto" if typ in supported else "lint", typ, ",".join(sorted(types[typ]))))
