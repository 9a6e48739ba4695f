#!/usr/bin/env python3
"""A bounded HTTP load on the balancer, from this machine: what answered, how fast, what failed.

Only loopback targets are accepted (the lab publishes its balancer on 127.0.0.1:7151), and the
virtual address of a lab with two balancers. Stops after --requests requests or --duration
seconds, whichever comes first.

usage: PYTHONPATH=scripts loadtest.py [URL] [--connections 8] [--requests 2000] [--duration 10]
                                       [--rate 0] [--posts]
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import socket
import statistics
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from lab_config import LabConfigError, config

POST_PATH = "/api/echo"
POST_BODY = b"x" * 4096


@dataclass
class Results:
    statuses: Counter[int] = field(default_factory=Counter)
    replicas: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    # When each failed request started (time.monotonic()), to tell when a failure happened.
    failed_at: list[float] = field(default_factory=list)
    # Re-sent: the server had closed an idle keep-alive connection first (RFC 9112, 9.3.1).
    retried: int = 0
    elapsed: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.statuses.values()) + sum(self.errors.values())

    @property
    def failed(self) -> int:
        return sum(n for status, n in self.statuses.items() if not 200 <= status < 300) + sum(
            self.errors.values()
        )

    def percentile(self, fraction: float) -> float:
        if len(self.latencies) < 2:
            return self.latencies[0] if self.latencies else 0.0
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[
            round(fraction * 100) - 1
        ]


def received(body: bytes) -> int:
    """How much of a POST's body its answer says arrived (-1: an answer that does not say)."""
    try:
        answer = json.loads(body)
    except ValueError:
        return -1
    return answer.get("received", -1) if isinstance(answer, dict) else -1


def require_loopback(host: str) -> None:
    address = ipaddress.ip_address(socket.gethostbyname(host))
    if not address.is_loopback and str(address) != lab_virtual_address():
        sys.exit(
            f"refusing to load {host} ({address}): only loopback targets are allowed, and the"
            " lab's virtual address"
        )


def lab_virtual_address() -> str:
    """The lab's virtual address (two balancers), else '' (also where lab.yml's knobs are bad)."""
    try:
        return str(config()["virtual_ip"])
    except LabConfigError:
        return ""


def run_load(
    url: str,
    connections: int,
    requests: int,
    duration: float,
    stop: threading.Event | None = None,
    timeout: float = 10,
    results: Results | None = None,
    rate: float = 0,
    posts: bool = False,
) -> Results:
    """Load url until requests are sent, duration passes or stop is set; a request with no
    answer within timeout seconds fails. Counts go into results (a new one if None) as they come.
    rate: requests per second over all connections, evenly spaced; 0 sends each as soon as the
    last one answered. posts: every other request on a connection is a POST of POST_BODY to
    POST_PATH (which a balancer may not send again elsewhere), an answer without all of it a
    failure."""
    parts = urlsplit(url)
    require_loopback(parts.hostname or "")
    path = parts.path or "/api/whoami"
    results = Results() if results is None else results
    lock = threading.Lock()
    budget = iter(range(requests))
    deadline = time.monotonic() + duration

    def connect() -> http.client.HTTPConnection:
        return http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)

    def get(conn: http.client.HTTPConnection, post: bool) -> tuple[int, str, bytes]:
        if post:
            conn.request("POST", POST_PATH, POST_BODY, {"Content-Type": "text/plain"})
        else:
            conn.request("GET", path)
        reply = conn.getresponse()
        status, content_type, body = reply.status, reply.getheader("Content-Type", ""), reply.read()
        if post and status == 200 and received(body) != len(POST_BODY):
            status = 0  # answered without the whole body
        return status, content_type, body

    interval = connections / rate if rate > 0 else 0.0
    pause = stop.wait if stop else time.sleep

    def worker(offset: float) -> None:
        conn, used, sent = connect(), False, 0
        due = time.monotonic() + offset
        while time.monotonic() < deadline and not (stop and stop.is_set()):
            with lock:
                if next(budget, None) is None:
                    break
            if interval:
                # Paced: a steady stream that sees any gap in service without taking the CPU
                # the change under test needs; a late request does not make the next one early.
                send_at = max(due, time.monotonic())
                if send_at >= deadline or pause(max(0.0, send_at - time.monotonic())):
                    break  # the time is up, or stopped while waiting
                due = send_at + interval
            started, started_at = time.perf_counter(), time.monotonic()
            post, sent = posts and sent % 2 == 1, sent + 1
            try:
                try:
                    status, content_type, body = get(conn, post)
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                    if not used:
                        raise
                    # The server closed this idle keep-alive connection (e.g. an nginx reload)
                    # before reading the request: send it again on a new one, as browsers do.
                    conn.close()
                    conn = connect()
                    with lock:
                        results.retried += 1
                    status, content_type, body = get(conn, post)
                used = True
                latency = time.perf_counter() - started
                replica = ""
                if status == 200 and content_type.startswith("application/json"):
                    replica = json.loads(body).get("replica", "")
                with lock:
                    results.statuses[status] += 1
                    results.latencies.append(latency)
                    if not 200 <= status < 300:
                        results.failed_at.append(started_at)
                    if replica:
                        results.replicas[replica] += 1
            except (OSError, http.client.HTTPException) as error:
                with lock:
                    results.errors[type(error).__name__] += 1
                    results.failed_at.append(started_at)
                conn.close()
                conn, used = connect(), False
        conn.close()

    started = time.monotonic()
    threads = [
        threading.Thread(target=worker, args=(i * interval / connections,))
        for i in range(connections)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.elapsed = time.monotonic() - started
    return results


def report(results: Results) -> str:
    lines = [
        f"requests {results.total} in {results.elapsed:.1f} s "
        f"({results.total / results.elapsed if results.elapsed else 0:.0f} req/s), "
        f"failed {results.failed}",
        "status   " + ", ".join(f"{s}: {n}" for s, n in sorted(results.statuses.items())),
        "errors   " + (", ".join(f"{e}: {n}" for e, n in results.errors.items()) or "none"),
        f"re-sent  {results.retried} (idle keep-alive connection closed by the server first)",
        "latency  "
        + ", ".join(f"p{q} {results.percentile(q / 100) * 1000:.1f} ms" for q in (50, 95, 99)),
        "replica              answers",
    ]
    lines += [f"{replica:<20} {n}" for replica, n in sorted(results.replicas.items())]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", default="http://127.0.0.1:7151/api/whoami")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds, at most")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds a client waits")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="requests per second in all, 0: as fast as answered"
    )
    parser.add_argument(
        "--posts", action="store_true", help=f"every other request a POST to {POST_PATH}"
    )
    args = parser.parse_args()
    if not (1 <= args.connections <= 256 and 1 <= args.requests <= 1_000_000):
        sys.exit("--connections must be 1-256 and --requests 1-1000000")
    if not 0 < args.duration <= 300:
        sys.exit("--duration must be within 0-300 s")
    if not 0 <= args.rate <= 100_000:
        sys.exit("--rate must be within 0-100000 requests per second")
    results = run_load(
        args.url, args.connections, args.requests, args.duration, timeout=args.timeout,
        rate=args.rate, posts=args.posts,
    )  # fmt: skip
    print(report(results))
    sys.exit(1 if results.failed else 0)


if __name__ == "__main__":
    main()
