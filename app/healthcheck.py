"""Docker HEALTHCHECK: exit 0 when this container's gunicorn answers /healthz with 200.

Runs every few seconds in every replica, so it stays cheap: a raw socket instead of urllib
(whose imports cost more CPU than the check itself), and python3 -I -S in the Dockerfile.
"""

import os
import socket
import sys

port = int(os.environ.get("GUNICORN_BIND", "0.0.0.0:5000").rsplit(":", 1)[1])
try:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
        conn.sendall(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")
        status_line = conn.recv(64).split(b"\r\n", 1)[0]
except OSError as error:
    sys.exit(f"unhealthy: {error}")
if status_line.split(b" ")[1:2] != [b"200"]:
    sys.exit(f"unhealthy: {status_line.decode(errors='replace')}")
