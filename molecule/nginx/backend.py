#!/usr/bin/env python3
"""A stand-in replica for the nginx scenario: /api/whoami and /healthz say which port answered."""

import json
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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


ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
