#!/usr/bin/env python3
"""aws-fault-proxy.py PORT UPSTREAM_PORT - a small HTTP proxy in front of
moto_server that injects the failures AWS clients must survive:

  POST /__inject  {"count": N, "status": 503, "code": "SlowDown", "json": false, "match": "partNumber="}
      the next N requests (whose path holds `match`, when given; whose body
      holds `body`, when given) get that error instead of reaching moto;
      with "forward": true they reach moto first and its answer is lost
      (the error comes back instead: a request done, its answer a 5xx);
      with "hold": S the answer (the error) comes S seconds later, and
      "held" in /__stats counts the requests being held (a client can be
      killed while it waits: a crash between two calls);
      a list of such rules: each request takes the first that matches
  POST /__skew    {"seconds": S}
      the proxy's clock is S seconds ahead: a request whose X-Amz-Date is more
      than 15 minutes off it is refused with 403 RequestTimeTooSkewed and the
      proxy's Date, as S3 does
  GET  /__stats   how many requests came, were refused, were forwarded, and
                  "query": the bodies of the query-protocol requests
                  (Action=...), in order

Everything else is forwarded unchanged (Host header included, so moto checks
the signature the client made).
"""
import email.utils
import http.client
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

UPSTREAM = int(sys.argv[2])
state = {"inject": None, "skew": 0, "requests": 0, "injected": 0, "skew_refused": 0, "forwarded": 0, "held": 0, "query": []}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def date_time_string(self, timestamp=None):
        return email.utils.formatdate(time.time() + state["skew"], usegmt=True)

    def reply(self, code, body, ctype, extra=None):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        length = int(self.headers.get("Content-Length", "0") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path == "/__inject":
            state["inject"] = json.loads(body)
            return self.reply(200, "{}", "application/json")
        if self.path == "/__skew":
            state["skew"] = json.loads(body)["seconds"]
            return self.reply(200, "{}", "application/json")
        if self.path == "/__stats":
            return self.reply(200, json.dumps(state), "application/json")
        state["requests"] += 1
        if body.startswith(b"Action="):
            state["query"].append(body.decode(errors="replace"))
        rules = state["inject"] if isinstance(state["inject"], list) else [state["inject"]]
        inj = next((r for r in rules if r and r["count"] > 0 and r.get("match", "") in self.path and
                    r.get("body", "").encode() in body), None)
        if inj:
            inj["count"] -= 1
            state["injected"] += 1
            if inj.get("hold"):
                state["held"] += 1
                time.sleep(inj["hold"])
            if inj.get("forward"):
                conn = http.client.HTTPConnection("127.0.0.1", UPSTREAM, timeout=120)
                conn.request(self.command, self.path, body=body,
                             headers={k: v for k, v in self.headers.items() if k.lower() != "connection"})
                conn.getresponse().read()
                conn.close()
                state["forwarded"] += 1
            if inj.get("json"):
                return self.reply(inj["status"], json.dumps({"__type": inj["code"], "message": "injected"}),
                                  "application/x-amz-json-1.1", {"x-amzn-RequestId": "proxy-%d" % state["requests"]})
            return self.reply(inj["status"], "<Error><Code>%s</Code><Message>injected</Message>"
                                             "<RequestId>proxy-%d</RequestId></Error>" % (inj["code"], state["requests"]),
                              "application/xml")
        now = time.time() + state["skew"]
        amz = self.headers.get("X-Amz-Date")
        if state["skew"] and amz:
            t = time.mktime(time.strptime(amz, "%Y%m%dT%H%M%SZ")) - time.timezone
            if abs(t - now) > 900:
                state["skew_refused"] += 1
                return self.reply(403, "<Error><Code>RequestTimeTooSkewed</Code><Message>The difference between "
                                       "the request time and the current time is too large.</Message></Error>",
                                  "application/xml")
        conn = http.client.HTTPConnection("127.0.0.1", UPSTREAM, timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection",)}
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        state["forwarded"] += 1
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length", "date", "server"):
                self.send_header(k, v)
        if self.command == "HEAD":
            self.send_header("Content-Length", resp.getheader("Content-Length", "0"))
        else:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
