"""Docker HEALTHCHECK: exit 0 when this container's gunicorn answers /healthz."""

import os
import sys
import urllib.request

port = os.environ.get("GUNICORN_BIND", "0.0.0.0:5000").rsplit(":", 1)[1]
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as reply:
        sys.exit(0 if reply.status == 200 else 1)
except OSError as error:
    print(f"unhealthy: {error}", file=sys.stderr)
    sys.exit(1)
