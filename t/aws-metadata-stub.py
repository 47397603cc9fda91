#!/usr/bin/env python3
"""aws-metadata-stub.py PORT - plays the credential sources of a machine in
AWS that real tests cannot reach from here: the EC2 instance metadata service
with IMDSv2 session tokens, the ECS container credentials endpoint, and STS
AssumeRoleWithWebIdentity / GetCallerIdentity. (Real EC2 and ECS cannot run
in the test environment; the answers are the documented ones.)

The credentials it hands out are STUB_KEY_ID / STUB_SECRET from the
environment (the moto user's, so calls signed with them pass moto), with
Expiration STUB_EXPIRES_IN seconds from now. GET /count gives how often each
source was asked, as JSON.
"""
import datetime
import json
import os
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KEY = os.environ["STUB_KEY_ID"]
SECRET = os.environ["STUB_SECRET"]
EXPIRES_IN = int(os.environ.get("STUB_EXPIRES_IN", "3600"))
IMDS_TOKEN = "imds-session-token-1"
ECS_AUTH = os.environ.get("STUB_ECS_AUTH", "ecs-auth-token")
WEB_TOKEN = os.environ.get("STUB_WEB_TOKEN", "web-identity-jwt")
SESSION_TOKEN = "stub-session-token/+="
counts = {"imds_token": 0, "imds_creds": 0, "imds_refused": 0, "ecs": 0, "ecs_refused": 0,
          "web_identity": 0, "whoami": 0, "whoami_refused": 0}


def expiration():
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=EXPIRES_IN)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, code, body, ctype="application/json"):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self):
        if self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            counts["imds_token"] += 1
            return self.reply(200, IMDS_TOKEN, "text/plain")
        self.reply(400, "")

    def do_GET(self):
        if self.path == "/count":
            return self.reply(200, json.dumps(counts))
        if self.path.startswith("/latest/meta-data/iam/security-credentials/"):
            if self.headers.get("X-aws-ec2-metadata-token") != IMDS_TOKEN:
                counts["imds_refused"] += 1
                return self.reply(401, "")
            role = self.path[len("/latest/meta-data/iam/security-credentials/"):]
            if not role:
                return self.reply(200, "mdeploy-instance-role\n", "text/plain")
            counts["imds_creds"] += 1
            return self.reply(200, json.dumps({"Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": KEY,
                                               "SecretAccessKey": SECRET, "Expiration": expiration()}))
        if self.path == "/ecs/creds":
            if self.headers.get("Authorization") != ECS_AUTH:
                counts["ecs_refused"] += 1
                return self.reply(401, "")
            counts["ecs"] += 1
            return self.reply(200, json.dumps({"AccessKeyId": KEY, "SecretAccessKey": SECRET,
                                               "RoleArn": "arn:aws:iam::123456789012:role/task",
                                               "Expiration": expiration()}))
        self.reply(404, "")

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        action = form.get("Action", [""])[0]
        if action == "AssumeRoleWithWebIdentity":
            if form.get("WebIdentityToken", [""])[0] != WEB_TOKEN or "Authorization" in self.headers:
                return self.reply(400, "<ErrorResponse><Error><Code>InvalidIdentityToken</Code>"
                                       "<Message>bad token</Message></Error></ErrorResponse>", "text/xml")
            counts["web_identity"] += 1
            return self.reply(200, (
                "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>"
                f"<AccessKeyId>ASIASTUBWEBIDENTITY01</AccessKeyId><SecretAccessKey>{SECRET}</SecretAccessKey>"
                f"<SessionToken>{SESSION_TOKEN}</SessionToken><Expiration>{expiration()}</Expiration>"
                "</Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>"),
                "text/xml")
        if action == "GetCallerIdentity":
            auth = self.headers.get("Authorization", "")
            if ("Credential=ASIASTUBWEBIDENTITY01/" not in auth or "x-amz-security-token" not in auth or
                    self.headers.get("X-Amz-Security-Token") != SESSION_TOKEN):
                counts["whoami_refused"] += 1
                return self.reply(403, "<ErrorResponse><Error><Code>InvalidClientTokenId</Code>"
                                       "<Message>not the web identity session</Message></Error>"
                                       "</ErrorResponse>", "text/xml")
            counts["whoami"] += 1
            return self.reply(200, (
                "<GetCallerIdentityResponse><GetCallerIdentityResult>"
                "<Arn>arn:aws:sts::123456789012:assumed-role/ci-deployer/mdeploy</Arn>"
                "<UserId>AROASTUB:mdeploy</UserId><Account>123456789012</Account>"
                "</GetCallerIdentityResult></GetCallerIdentityResponse>"), "text/xml")
        self.reply(400, "")


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
