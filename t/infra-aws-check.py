#!/usr/bin/env python3
"""infra-aws-check.py - check the CloudFormation templates of infra/aws/ hold
the seed architecture and its security and reliability defaults.

The templates are parsed (cfn-lint's own YAML loader, which knows the
short-form tags), then resolved for every combination of the choices
mdeploy.yml offers (2 or 3 zones, the Aurora engine, the cache engine,
CloudFront on or off, a given or a requested certificate): conditions are
evaluated, inactive resources dropped and Fn::If chosen, so each check looks
at what CloudFormation would really create. Prints TAP; exit 1 on a failure.

usage: infra-aws-check.py DIR   (DIR holds stacks.yaml and the templates)
"""
import itertools
import os
import re
import sys

try:
    from cfnlint.decode import cfn_yaml
except ImportError:  # pragma: no cover - reported as a failure by the caller
    print("1..1\nnot ok 1 - cfn-lint's Python package (cfnlint) is importable")
    sys.exit(1)

DIR = sys.argv[1] if len(sys.argv) > 1 else "infra/aws"
LAYERS = ["network", "data", "app", "edge"]
STATEFUL = {
    "AWS::RDS::DBCluster": {"Snapshot"},
    "AWS::ElastiCache::ReplicationGroup": {"Snapshot", "Retain"},
    "AWS::EFS::FileSystem": {"Retain"},
    "AWS::S3::Bucket": {"Retain"},
    "AWS::RDS::DBInstance": None,  # part of the cluster: its data is the cluster's
}

manifest = cfn_yaml.load(os.path.join(DIR, "stacks.yaml"))
RAW = {}
for st in manifest["stacks"]:
    RAW[st["layer"]] = cfn_yaml.load(os.path.join(DIR, st["template"]))


# --- resolving a template for one scenario ----------------------------------
class Unresolved:
    """A value only CloudFormation knows (a resource's Ref or attribute)."""

    def __init__(self, what):
        self.what = what

    def __repr__(self):
        return "<%s>" % (self.what,)


def plain(v):
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    if isinstance(v, str):
        return str(v)
    return v


def evaluate_condition(tpl, params, expr, conds):
    if isinstance(expr, dict) and len(expr) == 1:
        (fn, args), = expr.items()
        if fn == "Fn::Equals":
            a, b = (resolve(tpl, params, conds, x) for x in args)
            return str(a) == str(b)
        if fn == "Fn::Not":
            return not evaluate_condition(tpl, params, args[0], conds)
        if fn == "Fn::And":
            return all(evaluate_condition(tpl, params, x, conds) for x in args)
        if fn == "Fn::Or":
            return any(evaluate_condition(tpl, params, x, conds) for x in args)
        if fn == "Condition":
            return conds[args]
    raise ValueError("condition not understood: %r" % (expr,))


def resolve(tpl, params, conds, v):
    if isinstance(v, list):
        out = []
        for x in v:
            r = resolve(tpl, params, conds, x)
            if r is not NOVALUE:
                out.append(r)
        return out
    if not isinstance(v, dict):
        return v
    if len(v) == 1:
        (fn, args), = v.items()
        if fn == "Ref":
            if args == "AWS::NoValue":
                return NOVALUE
            if args in params:
                return params[args]
            if args.startswith("AWS::"):
                return Unresolved(args)
            return {"Ref": args}
        if fn == "Fn::If":
            name, yes, no = args
            return resolve(tpl, params, conds, yes if conds[name] else no)
        if fn == "Fn::Select":
            idx, lst = resolve(tpl, params, conds, args[0]), resolve(tpl, params, conds, args[1])
            if isinstance(lst, str) and "," in lst:  # a CommaDelimitedList parameter
                return lst.split(",")[int(idx)]
            return {"Fn::Select": [idx, lst]}
        if fn == "Fn::GetAtt":
            return {"Fn::GetAtt": list(args) if isinstance(args, list) else args.split(".", 1)}
    out = {}
    for k, x in v.items():
        r = resolve(tpl, params, conds, x)
        if r is not NOVALUE:
            out[k] = r
    return out


NOVALUE = object()


def instantiate(layer, choice):
    tpl = plain(RAW[layer])
    params = {}
    for name, p in tpl.get("Parameters", {}).items():
        if name in choice:
            params[name] = choice[name]
        elif "Default" in p:
            params[name] = p["Default"]
        else:
            params[name] = "<%s>" % name
    conds = {}
    pending = dict(tpl.get("Conditions", {}))
    while pending:
        for name, expr in list(pending.items()):
            try:
                conds[name] = evaluate_condition(tpl, params, expr, conds)
                del pending[name]
            except KeyError:
                pass
    res = {}
    for name, r in tpl.get("Resources", {}).items():
        if "Condition" in r and not conds[r["Condition"]]:
            continue
        r2 = dict(r)
        r2["Properties"] = resolve(tpl, params, conds, r.get("Properties", {}))
        res[name] = r2
    outs = {}
    for name, o in tpl.get("Outputs", {}).items():
        if "Condition" in o and not conds[o["Condition"]]:
            continue
        outs[name] = resolve(tpl, params, conds, o["Value"])
    return {"Resources": res, "Outputs": outs, "Parameters": params, "raw": tpl}


CHOICES = {
    "AzCount": [2, 3],
    "DatabaseEngine": ["aurora-postgresql", "aurora-mysql"],
    "CacheEngine": ["redis", "memcached"],
    "CloudFront": ["true", "false"],
    "CertificateArn": ["", "arn:aws:acm:eu-west-1:123456789012:certificate/abc"],
    "HostedZoneId": ["Z123EXAMPLE", ""],
}
SCENARIOS = []
for values in itertools.product(*CHOICES.values()):
    choice = dict(zip(CHOICES.keys(), values))
    choice["AppPort"] = 8080
    SCENARIOS.append(choice)


# --- helpers -------------------------------------------------------------------
def of_type(t, typ):
    return {n: r for n, r in t["Resources"].items() if r["Type"] == typ}


def ref(x):
    return x.get("Ref") if isinstance(x, dict) else None


def az_index(subnet_props):
    az = subnet_props["AvailabilityZone"]
    return az["Fn::Select"][0]


def port_range(rule):
    return (int(rule.get("FromPort", -1)), int(rule.get("ToPort", -1)))


# --- the checks -----------------------------------------------------------------
CHECKS = []


def check(desc):
    def deco(fn):
        CHECKS.append((desc, fn))
        return fn
    return deco


def fail(msg):
    raise AssertionError(msg)


@check("stacks.yaml wires every parameter without a default, from outputs of earlier layers")
def _wiring(s, T):
    seen = []
    for st in manifest["stacks"]:
        layer = st["layer"]
        tpl = plain(RAW[layer])
        wired = plain(st.get("parameters") or {})
        for name, p in tpl.get("Parameters", {}).items():
            if "Default" not in p and name not in wired:
                fail("%s: parameter %s has no default and is not in stacks.yaml" % (layer, name))
        for name, src in wired.items():
            if name not in tpl.get("Parameters", {}):
                fail("%s: stacks.yaml sets %s, which the template does not declare" % (layer, name))
            if "output" in src:
                l2, out = src["output"].split(".", 1)
                if l2 not in seen:
                    fail("%s: %s comes from layer %s, which is not earlier" % (layer, name, l2))
                if out not in plain(RAW[l2]).get("Outputs", {}):
                    fail("%s: %s comes from %s.%s, which is no output" % (layer, name, l2, out))
                if out not in T[l2]["Outputs"] and "Default" not in tpl["Parameters"][name]:
                    fail("%s: %s.%s is absent in this scenario and %s has no default" % (layer, l2, out, name))
        seen.append(layer)


@check("network: a VPC, one public and one private subnet per zone, each in its own zone")
def _subnets(s, T):
    t = T["network"]
    if len(of_type(t, "AWS::EC2::VPC")) != 1:
        fail("expected one VPC")
    subnets = of_type(t, "AWS::EC2::Subnet")
    pub = {n: r for n, r in subnets.items() if n.startswith("Public")}
    prv = {n: r for n, r in subnets.items() if n.startswith("Private")}
    n = s["AzCount"]
    if len(pub) != n or len(prv) != n:
        fail("%d zones: %d public and %d private subnets" % (n, len(pub), len(prv)))
    for group in (pub, prv):
        zones = sorted(az_index(r["Properties"]) for r in group.values())
        if zones != list(range(n)):
            fail("subnets not one per zone: %r" % zones)
    import ipaddress
    vpc = ipaddress.ip_network(t["Parameters"]["VpcCidr"])
    nets = [ipaddress.ip_network(r["Properties"]["CidrBlock"]) for r in subnets.values()]
    for i, a in enumerate(nets):
        if not a.subnet_of(vpc):
            fail("subnet %s is outside the VPC %s" % (a, vpc))
        if any(i != j and a.overlaps(b) for j, b in enumerate(nets)):
            fail("subnet %s overlaps another" % a)
    for name, r in prv.items():
        if r["Properties"].get("MapPublicIpOnLaunch") in (True, "true"):
            fail("%s gives public addresses" % name)


def route_table_of(t, subnet):
    for r in of_type(t, "AWS::EC2::SubnetRouteTableAssociation").values():
        if ref(r["Properties"]["SubnetId"]) == subnet:
            return ref(r["Properties"]["RouteTableId"])
    fail("%s has no route table" % subnet)


def default_route(t, table):
    for r in of_type(t, "AWS::EC2::Route").values():
        p = r["Properties"]
        if ref(p["RouteTableId"]) == table and p.get("DestinationCidrBlock") == "0.0.0.0/0":
            return p
    fail("route table %s has no default route" % table)


@check("network: public subnets route to the Internet gateway, each private subnet to a NAT gateway in its own zone")
def _routes(s, T):
    t = T["network"]
    subnets = of_type(t, "AWS::EC2::Subnet")
    nats = of_type(t, "AWS::EC2::NatGateway")
    if len(nats) != s["AzCount"]:
        fail("%d NAT gateways for %d zones" % (len(nats), s["AzCount"]))
    for name, r in subnets.items():
        route = default_route(t, route_table_of(t, name))
        if name.startswith("Public"):
            gw = ref(route.get("GatewayId"))
            if gw not in of_type(t, "AWS::EC2::InternetGateway"):
                fail("%s does not route to the Internet gateway" % name)
        else:
            nat = ref(route.get("NatGatewayId"))
            if nat not in nats:
                fail("%s does not route through a NAT gateway" % name)
            natsub = ref(nats[nat]["Properties"]["SubnetId"])
            if not natsub.startswith("Public"):
                fail("%s's NAT gateway is not in a public subnet" % name)
            if az_index(subnets[natsub]["Properties"]) != az_index(r["Properties"]):
                fail("%s's NAT gateway is in another zone" % name)


def sg_rules(T):
    """Every rule of every security group: (direction, group, peer, proto, ports)."""
    rules = []
    for layer, t in T.items():
        for name, r in of_type(t, "AWS::EC2::SecurityGroup").items():
            for d, key in (("in", "SecurityGroupIngress"), ("out", "SecurityGroupEgress")):
                for rule in r["Properties"].get(key, []):
                    rules.append((d, name, peer_of(rule), str(rule["IpProtocol"]), port_range(rule)))
        for typ, d in (("AWS::EC2::SecurityGroupIngress", "in"), ("AWS::EC2::SecurityGroupEgress", "out")):
            for name, r in of_type(t, typ).items():
                p = r["Properties"]
                rules.append((d, ref(p["GroupId"]) or p["GroupId"], peer_of(p), str(p["IpProtocol"]), port_range(p)))
    return rules


def peer_of(rule):
    for k in ("CidrIp", "CidrIpv6", "SourceSecurityGroupId", "DestinationSecurityGroupId",
              "SourcePrefixListId", "DestinationPrefixListId"):
        if k in rule:
            v = rule[k]
            return ref(v) or v
    fail("rule without a peer: %r" % rule)


@check("security groups: no SSH (or RDP) and no all-protocol rule anywhere, no key pair")
def _nossh(s, T):
    for d, g, peer, proto, (lo, hi) in sg_rules(T):
        if proto in ("-1", "all"):
            fail("%s %s: all protocols" % (g, d))
        if proto in ("tcp", "6") and (lo <= 22 <= hi or lo <= 3389 <= hi):
            fail("%s %s: port 22/3389 open (%d-%d from %s)" % (g, d, lo, hi, peer))
    for t in T.values():
        if of_type(t, "AWS::EC2::KeyPair"):
            fail("a key pair is created")
        for lt in of_type(t, "AWS::EC2::LaunchTemplate").values():
            if "KeyName" in lt["Properties"]["LaunchTemplateData"]:
                fail("the launch template names a key pair")


@check("security groups: exactly Internet->ALB 80/443, ALB->app port, app->Aurora/cache/EFS, app->HTTPS out")
def _flows(s, T):
    dbport = 5432 if s["DatabaseEngine"] == "aurora-postgresql" else 3306
    cache = (6379, 6379) if s["CacheEngine"] == "redis" else (11211, 11212)
    app = s["AppPort"]
    nothing = ("out", None, "127.0.0.1/32", "icmp", (252, 86))
    want = {
        ("in", "AlbSecurityGroup", "0.0.0.0/0", "tcp", (443, 443)),
        ("in", "AlbSecurityGroup", "::/0", "tcp", (443, 443)),
        ("in", "AlbSecurityGroup", "0.0.0.0/0", "tcp", (80, 80)),
        ("in", "AlbSecurityGroup", "::/0", "tcp", (80, 80)),
        ("out", "AlbSecurityGroup", "AppSecurityGroup", "tcp", (app, app)),
        ("in", "AppSecurityGroup", "AlbSecurityGroup", "tcp", (app, app)),
        ("out", "AppSecurityGroup", "0.0.0.0/0", "tcp", (443, 443)),
        ("out", "AppSecurityGroup", "DatabaseSecurityGroup", "tcp", (dbport, dbport)),
        ("in", "DatabaseSecurityGroup", "AppSecurityGroup", "tcp", (dbport, dbport)),
        ("out", "AppSecurityGroup", "CacheSecurityGroup", "tcp", cache),
        ("in", "CacheSecurityGroup", "AppSecurityGroup", "tcp", cache),
        ("out", "AppSecurityGroup", "EfsSecurityGroup", "tcp", (2049, 2049)),
        ("in", "EfsSecurityGroup", "AppSecurityGroup", "tcp", (2049, 2049)),
    }
    for g in ("DatabaseSecurityGroup", "CacheSecurityGroup", "EfsSecurityGroup"):
        want.add(("out", g) + nothing[2:])
    got = set(sg_rules(T))
    if got != want:
        fail("unexpected: %r; missing: %r" % (sorted(got - want, key=str), sorted(want - got, key=str)))
    # A group without egress rules would allow everything out.
    for name, r in of_type(T["network"], "AWS::EC2::SecurityGroup").items():
        if name != "AlbSecurityGroup" and not r["Properties"].get("SecurityGroupEgress"):
            fail("%s keeps the default allow-all egress" % name)


@check("security groups: each tier uses its own group (ALB, app, Aurora, cache, EFS)")
def _sg_use(s, T):
    d, a = T["data"], T["app"]
    c = next(iter(of_type(d, "AWS::RDS::DBCluster").values()))["Properties"]
    if c["VpcSecurityGroupIds"] != ["<DatabaseSecurityGroupId>"]:
        fail("Aurora security groups: %r" % c["VpcSecurityGroupIds"])
    caches = list(of_type(d, "AWS::ElastiCache::ReplicationGroup").values()) + \
        list(of_type(d, "AWS::ElastiCache::ServerlessCache").values())
    if len(caches) != 1 or caches[0]["Properties"]["SecurityGroupIds"] != ["<CacheSecurityGroupId>"]:
        fail("cache security groups")
    for mt in of_type(d, "AWS::EFS::MountTarget").values():
        if mt["Properties"]["SecurityGroups"] != ["<EfsSecurityGroupId>"]:
            fail("EFS mount target security groups")
    lt = next(iter(of_type(a, "AWS::EC2::LaunchTemplate").values()))["Properties"]["LaunchTemplateData"]
    if lt["SecurityGroupIds"] != ["<AppSecurityGroupId>"]:
        fail("launch template security groups: %r" % lt["SecurityGroupIds"])
    lb = next(iter(of_type(a, "AWS::ElasticLoadBalancingV2::LoadBalancer").values()))["Properties"]
    if lb["SecurityGroups"] != ["<AlbSecurityGroupId>"]:
        fail("ALB security groups")
    wired = {k: v for st in manifest["stacks"] for k, v in plain(st.get("parameters") or {}).items()}
    for p in ("DatabaseSecurityGroupId", "CacheSecurityGroupId", "EfsSecurityGroupId",
              "AppSecurityGroupId", "AlbSecurityGroupId"):
        if wired.get(p) != {"output": "network." + p}:
            fail("%s is not the network stack's output" % p)
        if ref(T["network"]["Outputs"][p]) != p[:-2]:
            fail("network output %s is not the group %s" % (p, p[:-2]))


@check("Aurora: engine as chosen, password generated by Secrets Manager, encrypted, deletion protection, backups, two instances in two zones")
def _aurora(s, T):
    d = T["data"]
    cl = of_type(d, "AWS::RDS::DBCluster")
    if len(cl) != 1:
        fail("expected one Aurora cluster")
    name, c = next(iter(cl.items()))
    p = c["Properties"]
    if p["Engine"] != s["DatabaseEngine"]:
        fail("engine %r" % p["Engine"])
    if p.get("ManageMasterUserPassword") is not True or "MasterUserPassword" in p:
        fail("the master password is not managed by Secrets Manager")
    if p.get("StorageEncrypted") is not True:
        fail("storage not encrypted")
    if d["raw"]["Parameters"].get("DatabaseDeletionProtection", {}).get("Default") not in (None, "true"):
        fail("deletion protection is off by default")
    if str(p.get("DeletionProtection")).lower() != "true":
        fail("no deletion protection")
    if int(p.get("BackupRetentionPeriod", 0)) < 1:
        fail("no backups")
    inst = [r for r in of_type(d, "AWS::RDS::DBInstance").values()
            if ref(r["Properties"].get("DBClusterIdentifier")) == name]
    if len(inst) < 2:
        fail("%d Aurora instances (Multi-AZ needs 2)" % len(inst))
    zones = {az_index(r["Properties"]) for r in inst}
    if len(zones) < 2:
        fail("Aurora instances not in two zones")
    for r in inst:
        if r["Properties"].get("PubliclyAccessible") is not False:
            fail("an Aurora instance is publicly accessible")
    if ref(d["Outputs"]["DatabaseSecretArn"]) is not None or \
            d["Outputs"]["DatabaseSecretArn"] != {"Fn::GetAtt": [name, "MasterUserSecret.SecretArn"]}:
        fail("DatabaseSecretArn is not the cluster's managed secret")


@check("ElastiCache: Redis Multi-AZ with failover, encrypted at rest and in transit, AUTH token from a generated secret; Memcached serverless")
def _cache(s, T):
    d = T["data"]
    rg = of_type(d, "AWS::ElastiCache::ReplicationGroup")
    sl = of_type(d, "AWS::ElastiCache::ServerlessCache")
    if s["CacheEngine"] == "redis":
        if len(rg) != 1 or sl:
            fail("redis: expected one replication group only")
        p = next(iter(rg.values()))["Properties"]
        for k in ("MultiAZEnabled", "AutomaticFailoverEnabled", "AtRestEncryptionEnabled",
                  "TransitEncryptionEnabled"):
            if p.get(k) is not True:
                fail("redis: %s is not true" % k)
        if int(p["NumCacheClusters"]) < 2:
            fail("redis: fewer than 2 nodes")
        tok = p.get("AuthToken")
        sub = tok.get("Fn::Sub") if isinstance(tok, dict) else None
        m = re.fullmatch(r"\{\{resolve:secretsmanager:\$\{(\w+)\}:SecretString:(\w+)\}\}", sub or "")
        if not m:
            fail("redis: AuthToken is not a Secrets Manager dynamic reference: %r" % (tok,))
        sec = d["Resources"].get(m.group(1))
        if not sec or sec["Type"] != "AWS::SecretsManager::Secret" or \
                sec["Properties"]["GenerateSecretString"].get("GenerateStringKey") != m.group(2) or \
                "SecretString" in sec["Properties"]:
            fail("redis: the AUTH token's secret is not generated by Secrets Manager")
    else:
        if len(sl) != 1 or rg:
            fail("memcached: expected one serverless cache only")
        p = next(iter(sl.values()))["Properties"]
        if p["Engine"] != "memcached":
            fail("memcached: engine %r" % p["Engine"])


@check("EFS: encrypted, TLS required by its policy, backups on, a mount target in every private subnet")
def _efs(s, T):
    d = T["data"]
    fs = of_type(d, "AWS::EFS::FileSystem")
    if len(fs) != 1:
        fail("expected one EFS file system")
    name, f = next(iter(fs.items()))
    p = f["Properties"]
    if p.get("Encrypted") is not True:
        fail("not encrypted")
    if p.get("BackupPolicy", {}).get("Status") != "ENABLED":
        fail("backups off")
    deny = [st for st in p["FileSystemPolicy"]["Statement"] if st["Effect"] == "Deny"
            and st.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"]
    if not deny:
        fail("the file system policy does not require TLS")
    mts = [r for r in of_type(d, "AWS::EFS::MountTarget").values()
           if ref(r["Properties"]["FileSystemId"]) == name]
    idx = sorted(r["Properties"]["SubnetId"]["Fn::Select"][0] for r in mts)
    if idx != list(range(s["AzCount"])) or \
            any(r["Properties"]["SubnetId"]["Fn::Select"][1] != "<PrivateSubnetIds>" for r in mts):
        fail("mount targets %r, not one per private subnet" % idx)


@check("S3: every bucket encrypted with public access blocked; TLS required on the artifact bucket")
def _s3(s, T):
    n = 0
    for layer, t in T.items():
        for name, b in of_type(t, "AWS::S3::Bucket").items():
            n += 1
            p = b["Properties"]
            rules = p.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
            if not rules or rules[0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] not in ("aws:kms", "AES256"):
                fail("%s.%s not encrypted" % (layer, name))
            pab = p.get("PublicAccessBlockConfiguration", {})
            for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"):
                if pab.get(k) is not True:
                    fail("%s.%s: %s is not true" % (layer, name, k))
    if n < 2:
        fail("expected the artifact and the access-log buckets")
    pol = [r for r in of_type(T["data"], "AWS::S3::BucketPolicy").values()
           if ref(r["Properties"]["Bucket"]) == "ArtifactBucket"]
    if not pol or not any(st["Effect"] == "Deny" and
                          st["Condition"]["Bool"]["aws:SecureTransport"] == "false"
                          for st in pol[0]["Properties"]["PolicyDocument"]["Statement"]):
        fail("the artifact bucket does not require TLS")


@check("stateful resources keep their data: DeletionPolicy and UpdateReplacePolicy Snapshot/Retain")
def _retain(s, T):
    found = set()
    for layer, t in T.items():
        for name, r in t["Resources"].items():
            allowed = STATEFUL.get(r["Type"], False)
            if allowed is False or allowed is None:
                continue
            found.add(r["Type"])
            for k in ("DeletionPolicy", "UpdateReplacePolicy"):
                if r.get(k) not in allowed:
                    fail("%s.%s (%s): %s is %r" % (layer, name, r["Type"], k, r.get(k)))
    need = {"AWS::RDS::DBCluster", "AWS::EFS::FileSystem", "AWS::S3::Bucket"}
    if s["CacheEngine"] == "redis":
        need.add("AWS::ElastiCache::ReplicationGroup")
    if not need <= found:
        fail("missing stateful resources: %r" % (need - found))


@check("no plaintext secret: no password or token parameter, no literal password property")
def _nosecrets(s, T):
    for layer, t in T.items():
        for name, p in t["raw"].get("Parameters", {}).items():
            if re.search(r"pass|password|token|secret", name, re.I) and not name.endswith("Arn"):
                fail("%s: parameter %s" % (layer, name))

        def walk(v, path):
            if isinstance(v, dict):
                for k, x in v.items():
                    if re.search(r"password$|^authtoken$|^secretstring$", k, re.I) and \
                            k not in ("ManageMasterUserPassword",):
                        s2 = x.get("Fn::Sub") if isinstance(x, dict) else None
                        if not (isinstance(s2, str) and s2.startswith("{{resolve:secretsmanager:")):
                            fail("%s: %s.%s is not a Secrets Manager reference" % (layer, path, k))
                    walk(x, path + "." + k)
            elif isinstance(v, list):
                for i, x in enumerate(v):
                    walk(x, "%s[%d]" % (path, i))
        walk(t["Resources"], "Resources")
    for r in of_type(T["data"], "AWS::SSM::Parameter").values():
        if r["Properties"].get("Type") != "String":
            fail("a parameter of type %r" % r["Properties"].get("Type"))


@check("app: launch template with IMDSv2 required, encrypted disk, SSM instance profile; Auto Scaling group in the private subnets")
def _app(s, T):
    a = T["app"]
    lts = of_type(a, "AWS::EC2::LaunchTemplate")
    if len(lts) != 1:
        fail("expected one launch template")
    ltname, lt = next(iter(lts.items()))
    data = lt["Properties"]["LaunchTemplateData"]
    md = data.get("MetadataOptions", {})
    if md.get("HttpTokens") != "required":
        fail("IMDSv2 not required (HttpTokens %r)" % md.get("HttpTokens"))
    if int(md.get("HttpPutResponseHopLimit", 1)) != 1:
        fail("IMDS hop limit above 1")
    for bd in data.get("BlockDeviceMappings", []):
        if bd.get("Ebs", {}).get("Encrypted") is not True:
            fail("an unencrypted volume")
    prof = data["IamInstanceProfile"]["Arn"]
    profname = prof["Fn::GetAtt"][0]
    role = ref(a["Resources"][profname]["Properties"]["Roles"][0])
    arns = a["Resources"][role]["Properties"]["ManagedPolicyArns"]
    if not any("AmazonSSMManagedInstanceCore" in str(x) for x in arns):
        fail("the instance role lacks AmazonSSMManagedInstanceCore")
    asgs = of_type(a, "AWS::AutoScaling::AutoScalingGroup")
    if len(asgs) != 1:
        fail("expected one Auto Scaling group")
    g = next(iter(asgs.values()))["Properties"]
    if g["VPCZoneIdentifier"] != "<PrivateSubnetIds>":
        fail("the Auto Scaling group is not in the private subnets")
    if ref(g["LaunchTemplate"]["LaunchTemplateId"]) != ltname:
        fail("the Auto Scaling group does not use the launch template")
    if [ref(x) for x in g["TargetGroupARNs"]] != ["TargetGroup"]:
        fail("the Auto Scaling group is not in the target group")


@check("ALB: internet-facing in the public subnets, access logs on, HTTPS on the ACM certificate, HTTP only redirects")
def _alb(s, T):
    a = T["app"]
    lbs = of_type(a, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    if len(lbs) != 1:
        fail("expected one load balancer")
    lbname, lb = next(iter(lbs.items()))
    p = lb["Properties"]
    if p.get("Scheme") != "internet-facing" or p.get("Subnets") != "<PublicSubnetIds>":
        fail("the ALB is not internet-facing in the public subnets")
    attrs = {x["Key"]: x["Value"] for x in p.get("LoadBalancerAttributes", [])}
    if attrs.get("access_logs.s3.enabled") != "true" or ref(attrs.get("access_logs.s3.bucket")) not in \
            of_type(a, "AWS::S3::Bucket"):
        fail("access logs off or not to a bucket of the stack")
    ls = of_type(a, "AWS::ElasticLoadBalancingV2::Listener")
    https = [l for l in ls.values() if l["Properties"]["Protocol"] == "HTTPS"]
    if len(https) != 1 or int(https[0]["Properties"]["Port"]) != 443:
        fail("expected one HTTPS listener on 443")
    cert = https[0]["Properties"]["Certificates"][0]["CertificateArn"]
    if s["CertificateArn"]:
        if cert != s["CertificateArn"]:
            fail("the HTTPS listener does not use the certificate given")
    elif ref(cert) not in of_type(a, "AWS::CertificateManager::Certificate"):
        fail("the HTTPS listener does not use the requested ACM certificate")
    tgs = https[0]["Properties"]["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]
    if [ref(x["TargetGroupArn"]) for x in tgs] != ["TargetGroup"]:
        fail("the HTTPS listener does not forward to the target group")
    tg = a["Resources"]["TargetGroup"]["Properties"]
    if int(tg["Port"]) != s["AppPort"]:
        fail("the target group's port is not the app port")
    for l in ls.values():
        if l["Properties"]["Protocol"] != "HTTPS":
            acts = l["Properties"]["DefaultActions"]
            if [x["Type"] for x in acts] != ["redirect"] or acts[0]["RedirectConfig"]["Protocol"] != "HTTPS":
                fail("a plain HTTP listener that does not redirect to HTTPS")


@check("edge: ACM certificate, Route 53 record to CloudFront or the ALB, CloudFront HTTPS-only when on")
def _edge(s, T):
    e = T["edge"]
    cf = of_type(e, "AWS::CloudFront::Distribution")
    recs = of_type(e, "AWS::Route53::RecordSet")
    certs = of_type(T["app"], "AWS::CertificateManager::Certificate")
    if bool(certs) != (s["CertificateArn"] == ""):
        fail("a certificate is requested only when none is given")
    if s["CloudFront"] == "true":
        if len(cf) != 1:
            fail("CloudFront on, no distribution")
        dc = next(iter(cf.values()))["Properties"]["DistributionConfig"]
        behaviours = [dc["DefaultCacheBehavior"]] + dc.get("CacheBehaviors", [])
        if any(b["ViewerProtocolPolicy"] not in ("redirect-to-https", "https-only") for b in behaviours):
            fail("CloudFront serves plain HTTP")
        if any(o["CustomOriginConfig"]["OriginProtocolPolicy"] != "https-only" for o in dc["Origins"]):
            fail("CloudFront reaches the origin over plain HTTP")
        if dc["ViewerCertificate"].get("MinimumProtocolVersion", "").startswith("TLSv1_") or \
                dc["ViewerCertificate"].get("SslSupportMethod") != "sni-only":
            fail("CloudFront TLS settings")
    elif cf:
        fail("CloudFront off, a distribution anyway")
    if s["HostedZoneId"]:
        if not recs:
            fail("no Route 53 record")
        for r in recs.values():
            tgt = r["Properties"]["AliasTarget"]["DNSName"]
            if s["CloudFront"] == "true" and tgt != {"Fn::GetAtt": ["Distribution", "DomainName"]}:
                fail("the record does not point at CloudFront")
            if s["CloudFront"] == "false" and tgt != "<LoadBalancerDnsName>":
                fail("the record does not point at the ALB")
    elif recs:
        fail("a Route 53 record without a hosted zone")


@check("outputs: everything a deploy group needs")
def _outputs(s, T):
    need = {
        "network": ["VpcId", "PublicSubnetIds", "PrivateSubnetIds", "AppSecurityGroupId"],
        "data": ["DatabaseEndpoint", "DatabasePort", "DatabaseName", "DatabaseUser", "DatabaseSecretArn",
                 "CacheEndpoint", "CachePort", "FileSystemId", "ArtifactBucketName", "ParameterPrefix"],
        "app": ["LaunchTemplateId", "LaunchTemplateVersion", "AutoScalingGroupName", "ListenerArn",
                "TargetGroupArn", "LoadBalancerDnsName", "CertificateArn", "InstanceProfileArn"],
        "edge": ["SiteUrl"],
    }
    if s["CacheEngine"] == "redis":
        need["data"].append("CacheSecretArn")
    for layer, names in need.items():
        for n in names:
            if n not in T[layer]["Outputs"]:
                fail("%s has no output %s" % (layer, n))


def main():
    results = []
    for desc, fn in CHECKS:
        errors = []
        for s in SCENARIOS:
            T = {layer: instantiate(layer, s) for layer in LAYERS}
            try:
                fn(s, T)
            except AssertionError as e:
                errors.append("%s: %s" % (", ".join("%s=%s" % kv for kv in s.items()), e))
            except (KeyError, TypeError, IndexError, AttributeError, StopIteration) as e:
                errors.append("%r in %s" % (e, s))
        results.append((desc, errors))
    print("1..%d" % len(results))
    bad = 0
    for i, (desc, errors) in enumerate(results, 1):
        print("%s %d - %s" % ("not ok" if errors else "ok", i, desc))
        seen = set()
        for e in errors:
            msg = e.split(": ", 1)[-1]
            if msg in seen:
                continue
            seen.add(msg)
            print("# %s" % e)
        bad += bool(errors)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
