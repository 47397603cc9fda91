#!/usr/bin/env python3
"""infra-diagram.py - draw docs/infra-aws.svg from the templates of infra/aws/.

Every box is a resource (or a group of resources of one type) found in the
parsed templates, with its logical name and type; the arrows between tiers
are the security group rules of network.yaml, labelled with their ports.
Nothing is drawn that the templates do not create. t8153 checks that the
committed SVG is what this script draws from the committed templates.

usage: infra-diagram.py INFRA_AWS_DIR > infra-aws.svg
"""
import sys
from xml.sax.saxutils import escape

import yaml


class Loader(yaml.SafeLoader):
    pass


def _tag(loader, suffix, node):
    name = "Ref" if suffix == "Ref" else "Fn::" + suffix
    if isinstance(node, yaml.ScalarNode):
        v = loader.construct_scalar(node)
        if suffix == "GetAtt":
            v = v.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        v = loader.construct_sequence(node, deep=True)
    else:
        v = loader.construct_mapping(node, deep=True)
    return {name: v}


Loader.add_multi_constructor("!", _tag)

DIR = sys.argv[1] if len(sys.argv) > 1 else "infra/aws"
T = {}
for layer in ("network", "data", "app", "edge"):
    with open("%s/%s.yaml" % (DIR, layer)) as f:
        T[layer] = yaml.load(f, Loader=Loader)


def res(layer, typ):
    return [(n, r) for n, r in T[layer]["Resources"].items() if r["Type"] == typ]


def one(layer, typ):
    r = res(layer, typ)
    return r[0][0] if r else None


def ref(x):
    return x.get("Ref") if isinstance(x, dict) else None


out = []
W, H = 1180, 860


def box(x, y, w, h, title, sub="", fill="#ffffff", stroke="#232f3e", dash=False, bold=False, size=12):
    out.append('<rect x="%d" y="%d" width="%d" height="%d" rx="6" fill="%s" stroke="%s"%s/>' % (
        x, y, w, h, fill, stroke, ' stroke-dasharray="6 4"' if dash else ""))
    out.append('<text x="%d" y="%d" font-size="%d"%s>%s</text>' % (
        x + 8, y + 17, size, ' font-weight="bold"' if bold else "", escape(title)))
    for i, line in enumerate(sub.split("\n") if sub else []):
        out.append('<text x="%d" y="%d" font-size="10" fill="#444">%s</text>' % (x + 8, y + 31 + 12 * i, escape(line)))


def arrow(x1, y1, x2, y2, label="", colour="#d13212"):
    out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="1.6" marker-end="url(#a)"/>' % (
        x1, y1, x2, y2, colour))
    if label:
        out.append('<text x="%d" y="%d" font-size="10" fill="%s">%s</text>' % (
            (x1 + x2) // 2 + 4, (y1 + y2) // 2 - 3, colour, escape(label)))


# --- what the templates hold -----------------------------------------------------
net, data, app, edge = T["network"], T["data"], T["app"], T["edge"]
azs = net["Parameters"]["AzCount"]["AllowedValues"]
nat = res("network", "AWS::EC2::NatGateway")
sgs = dict(res("network", "AWS::EC2::SecurityGroup"))
rules = {}
for n, r in res("network", "AWS::EC2::SecurityGroupIngress"):
    p = r["Properties"]
    port = p["FromPort"]
    if isinstance(port, dict) and "Fn::If" in port:
        port = "%s|%s" % tuple(port["Fn::If"][1:])
    elif isinstance(port, dict):
        port = "AppPort (%s)" % net["Parameters"][port["Ref"]]["Default"]
    rules[(ref(p["SourceSecurityGroupId"]), ref(p["GroupId"]))] = "tcp %s" % port
internet = sorted({"%s" % x["FromPort"] for x in sgs["AlbSecurityGroup"]["Properties"]["SecurityGroupIngress"]})
cluster = one("data", "AWS::RDS::DBCluster")
dbinst = res("data", "AWS::RDS::DBInstance")
redis = one("data", "AWS::ElastiCache::ReplicationGroup")
memc = one("data", "AWS::ElastiCache::ServerlessCache")
efs = one("data", "AWS::EFS::FileSystem")
mts = res("data", "AWS::EFS::MountTarget")
buckets = [n for n, _ in res("data", "AWS::S3::Bucket")] + [n for n, _ in res("app", "AWS::S3::Bucket")]
params = res("data", "AWS::SSM::Parameter")
secrets = [n for n, _ in res("data", "AWS::SecretsManager::Secret")]
alb = one("app", "AWS::ElasticLoadBalancingV2::LoadBalancer")
listeners = res("app", "AWS::ElasticLoadBalancingV2::Listener")
tg = one("app", "AWS::ElasticLoadBalancingV2::TargetGroup")
asg = one("app", "AWS::AutoScaling::AutoScalingGroup")
lt = one("app", "AWS::EC2::LaunchTemplate")
cert = one("app", "AWS::CertificateManager::Certificate")
role = one("app", "AWS::IAM::Role")
cf = one("edge", "AWS::CloudFront::Distribution")
records = res("edge", "AWS::Route53::RecordSet")
policy = {n: r.get("DeletionPolicy") for layer in T for n, r in T[layer]["Resources"].items()}

# --- drawing ------------------------------------------------------------------------
out.append('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
           'font-family="Helvetica, Arial, sans-serif">' % (W, H, W, H))
out.append('<defs><marker id="a" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="context-stroke"/></marker></defs>')
out.append('<rect width="100%" height="100%" fill="#fafafa"/>')
out.append('<text x="20" y="28" font-size="18" font-weight="bold">mdeploy infra on AWS: what infra/aws/ creates</text>')
out.append('<text x="20" y="46" font-size="11" fill="#444">Drawn by docs/infra-diagram.py from the templates. '
           'Stacks (APP-ENV-LAYER): network, data, app, edge. Red arrows: the only security group flows. '
           'Dashed: optional.</text>')

# edge
box(20, 62, 150, 44, "Users", "HTTPS (HTTP redirects)", fill="#eef")
box(200, 62, 200, 44, "Route 53 (edge)", "%d alias records (A/AAAA)" % len(records),
    fill="#f5f0ff")
box(430, 62, 230, 44, "CloudFront (edge): %s" % cf, "cloudfront: true; origin https-only", fill="#f5f0ff", dash=True)
box(690, 62, 230, 44, "ACM certificate (app): %s" % cert, "given (certificate:) or DNS-validated", fill="#fff7e6",
    dash=True)
arrow(170, 84, 198, 84)
arrow(400, 84, 428, 84)

# VPC
vx, vy, vw, vh = 20, 130, 830, 560
box(vx, vy, vw, vh, "VPC (network): %s, %s zones, one NAT gateway per zone" % (
    net["Parameters"]["VpcCidr"]["Default"], "/".join(str(a) for a in azs)), fill="#f4fbf4", stroke="#2e7d32",
    bold=True)
colw = (vw - 40) // 2
for i in range(2):
    x = vx + 15 + i * (colw + 10)
    out.append('<text x="%d" y="%d" font-size="11" fill="#2e7d32">Availability Zone %d%s</text>' % (
        x, vy + 40, i + 1, "" if i == 0 else "  (and zone 3 with availability_zones: 3)"))
    box(x, vy + 50, colw, 150, "Public subnet %d" % (i + 1), "route 0.0.0.0/0 -> Internet gateway", fill="#e8f5e9",
        stroke="#2e7d32")
    box(x + 10, vy + 95, 160, 40, "NAT gateway", "%s + Elastic IP" % nat[i][0], fill="#fff")
    box(x + 185, vy + 95, colw - 200, 95, "ALB node: %s" % alb,
        "internet-facing, access logs\n%s\n443 HTTPS (TLS 1.3/1.2 policy)\n80 -> redirect to 443" % (
            ", ".join(n for n, _ in listeners)), fill="#fff")
    box(x, vy + 215, colw, 330, "Private subnet %d" % (i + 1), "route 0.0.0.0/0 -> NAT gateway %d" % (i + 1),
        fill="#e3f2fd", stroke="#1565c0")
    box(x + 10, vy + 260, colw - 20, 70, "App server (%s)" % asg,
        "launch template %s: IMDSv2 required, no key pair,\nencrypted gp3, role %s (SSM, no SSH)\n"
        "target group %s; blue/green fleets from the same template" % (lt, role, tg), fill="#fff")
    box(x + 35, vy + 345, (colw - 55) // 2, 80, "Aurora: %s" % dbinst[i][0],
        "%s\n%s, encrypted\n%s" % ("writer" if i == 0 else "reader (failover)", cluster,
                                      "deletion protection" if i == 0 else "password: Secrets Manager"), fill="#fff")
    box(x + 45 + (colw - 55) // 2, vy + 345, (colw - 55) // 2, 80, "ElastiCache",
        "%s\n(redis, Multi-AZ) or\n%s (memcached)\nencrypted at rest + in transit" % (redis, memc), fill="#fff")
    box(x + 10, vy + 440, colw - 20, 45, "EFS mount target: %s" % mts[i][0],
        "%s (moodledata): encrypted, TLS required" % efs, fill="#fff")
    # flows
    ax = x + 185 + (colw - 200) // 2
    arrow(ax, vy + 190, ax, vy + 258, "ALB -> app " + rules[("AlbSecurityGroup", "AppSecurityGroup")])
    arrow(x + 80, vy + 330, x + 80, vy + 343, "")
    arrow(x + colw - 60, vy + 330, x + colw - 60, vy + 343, "")
    if i == 0:
        out.append('<text x="%d" y="%d" font-size="10" fill="#d13212">app -> Aurora %s; app -> cache %s</text>' % (
            x + 12, vy + 341, rules[("AppSecurityGroup", "DatabaseSecurityGroup")],
            rules[("AppSecurityGroup", "CacheSecurityGroup")]))
    arrow(x + 22, vy + 330, x + 22, vy + 438, "")
    out.append('<text x="%d" y="%d" font-size="10" fill="#d13212">app -> EFS %s</text>' % (
        x + 12, vy + 505, rules[("AppSecurityGroup", "EfsSecurityGroup")]))
arrow(545, 106, 545, vy + 143, "%s -> ALB tcp %s" % ("Internet", "/".join(internet)))

# regional services
rx = 870
box(rx, 130, 290, 560, "Regional services", "", fill="#fffdf5", stroke="#b26a00", bold=True)
y = 160
for n in buckets:
    layer = "data" if n in data["Resources"] else "app"
    box(rx + 10, y, 270, 46, "S3 bucket: %s (%s)" % (n, layer),
        "encrypted, public access blocked, %s" % policy[n], fill="#fff")
    y += 56
box(rx + 10, y, 270, 60, "Secrets Manager (data)", "Aurora master password (managed by RDS)\n%s (generated)" % (
    ", ".join(secrets)), fill="#fff")
y += 70
box(rx + 10, y, 270, 60, "Parameter Store (data)", "%d entries under ParameterPrefix:\n%s..." % (
    len(params), ", ".join(r["Properties"]["Name"]["Fn::Sub"].split("/")[-1] for _, r in params[:3])), fill="#fff")
y += 70
box(rx + 10, y, 270, 46, "Systems Manager", "Session Manager: the only way onto instances", fill="#fff")
y += 56
box(rx + 10, y, 270, 46, "S3 gateway endpoint (network)", "%s" % one("network", "AWS::EC2::VPCEndpoint"), fill="#fff")
y += 56
box(rx + 10, y, 270, 60, "Kept on delete", "Snapshot: %s\nRetain: %s" % (
    ", ".join(n for n, p in policy.items() if p == "Snapshot"),
    ", ".join(n for n, p in policy.items() if p == "Retain")), fill="#fff")

# legend / outputs
y = 710
box(20, y, 1140, 130, "Stack outputs mdeploy reads (deploy groups need no copied ARNs)", "", fill="#fff", bold=True)
for i, layer in enumerate(("network", "data", "app", "edge")):
    names = list(T[layer].get("Outputs", {}).keys())
    lines = []
    line = ""
    for n in names:
        if len(line) + len(n) > 48:
            lines.append(line)
            line = ""
        line += ("" if not line else ", ") + n
    lines.append(line)
    out.append('<text x="30" y="%d" font-size="11" font-weight="bold">%s</text>' % (y + 40 + i * 24, layer))
    for j, l in enumerate(lines):
        out.append('<text x="%d" y="%d" font-size="10" fill="#333">%s</text>' % (
            90 + (j % 3) * 360, y + 40 + i * 24 + (j // 3) * 11, escape(l)))
out.append("</svg>")
print("\n".join(out))
