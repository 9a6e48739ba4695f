"""The load tool against a real local HTTP server: counts, failures, the loopback rule."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from loadtest import report, require_loopback, run_load


class Replicas(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    served = 0
    posted = 0
    short = False

    def do_GET(self) -> None:
        Replicas.served += 1
        if self.path == "/broken":
            self.send_response(502)
            body = b"bad gateway"
        else:
            self.send_response(200)
            body = json.dumps({"replica": f"r{Replicas.served % 3}"}).encode()
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        # Like an nginx reload: the idle keep-alive connection closes without a word.
        self.close_connection = self.path == "/closing"

    def do_POST(self) -> None:
        Replicas.posted += 1
        received = len(self.rfile.read(int(self.headers["Content-Length"])))
        # short: an answer as if only half of the body had arrived.
        body = json.dumps({"received": received // 2 if Replicas.short else received})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Replicas)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_counts_every_request_and_replica(server: str) -> None:
    results = run_load(f"{server}/api/whoami", connections=4, requests=90, duration=30)
    assert results.total == 90
    assert results.failed == 0
    assert results.statuses == {200: 90}
    assert set(results.replicas) == {"r0", "r1", "r2"}
    assert sum(results.replicas.values()) == 90
    assert 0 < results.percentile(0.5) <= results.percentile(0.99)
    assert "requests 90" in report(results)


def test_posts_go_every_other_request_and_a_lost_body_fails(server: str) -> None:
    Replicas.posted, Replicas.short = 0, False
    results = run_load(f"{server}/api/whoami", connections=2, requests=20, duration=30, posts=True)
    assert Replicas.posted == 10
    assert results.statuses == {200: 20}
    Replicas.short = True
    try:
        short = run_load(f"{server}/api/whoami", connections=1, requests=4, duration=30, posts=True)
    finally:
        Replicas.short = False
    assert short.statuses == {200: 2, 0: 2}
    assert short.failed == 2


def test_non_2xx_answers_count_as_failed(server: str) -> None:
    results = run_load(f"{server}/broken", connections=2, requests=10, duration=30)
    assert results.statuses == {502: 10}
    assert results.failed == 10


def test_connection_errors_count_as_failed() -> None:
    results = run_load("http://127.0.0.1:9/", connections=1, requests=3, duration=30)
    assert results.failed == 3
    assert results.statuses == {}


def test_refuses_targets_off_this_machine() -> None:
    with pytest.raises(SystemExit, match="only loopback"):
        require_loopback("192.0.2.10")


def test_idle_connection_closed_by_the_server_is_re_sent_not_failed(server: str) -> None:
    results = run_load(f"{server}/closing", connections=2, requests=20, duration=30)
    assert results.failed == 0
    assert results.statuses == {200: 20}
    assert results.retried >= 18  # every request after a connection's first


def test_a_paced_load_spreads_its_requests_over_time(server: str) -> None:
    # 20 requests at 40 per second over 4 connections: about half a second, never a burst.
    results = run_load(f"{server}/api/whoami", connections=4, requests=20, duration=30, rate=40)
    assert results.total == 20 and results.failed == 0
    assert results.elapsed >= 0.4


def test_a_paced_load_stops_at_its_duration(server: str) -> None:
    # One request every 10 s per connection: the duration, not the pacing, ends the run.
    results = run_load(f"{server}/api/whoami", connections=2, requests=100, duration=1, rate=0.2)
    assert results.elapsed < 5
    assert results.total == 1  # the first connection's first request; the second's is due later
