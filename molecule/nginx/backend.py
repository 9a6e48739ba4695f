#!/usr/bin/env python3
"""A stand-in replica for the nginx scenario: /api/whoami and /healthz say which port answered;
a POST to /slow?seconds=N answers after N seconds, with the length of its body."""

import json
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PORT = int(sys.argv[1])


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        identity = {"replica": f"{socket.gethostname()}:{PORT}", "headers": dict(self.headers)}
        body = json.dumps(identity).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        received = len(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        seconds = float(parse_qs(urlsplit(self.path).query).get("seconds", ["0"])[0])
        time.sleep(min(seconds, 20))
        body = json.dumps({"replica": f"{socket.gethostname()}:{PORT}", "received": received})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())


ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
