"""The Flask app through Flask's test client: page, JSON identity, health, errors."""

import runpy
import socket
from pathlib import Path

import pytest
from gunicorn.http.wsgi import Response
from wsgi import create_app


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("APP_HOST", "app7")
    monkeypatch.setenv("APP_REPLICA", "app7-r2")
    monkeypatch.setenv("APP_VERSION", "9.9.9")
    return create_app().test_client()


def test_page_shows_container_host_replica_and_version(client) -> None:
    reply = client.get("/")
    assert reply.status_code == 200
    page = reply.get_data(as_text=True)
    assert f"Container ID: {socket.gethostname()}" in page
    for fact in ("App host: app7", "Replica: app7-r2", "Version: 9.9.9"):
        assert fact in page


def test_whoami_is_json_identity(client) -> None:
    reply = client.get("/api/whoami")
    assert reply.status_code == 200
    assert reply.get_json() == {
        "container_id": socket.gethostname(),
        "host": "app7",
        "replica": "app7-r2",
        "version": "9.9.9",
    }


def test_echo_answers_a_post_with_its_body_length(client) -> None:
    reply = client.post("/api/echo", data=b"x" * 1000)
    assert reply.status_code == 200
    assert reply.get_json()["replica"] == "app7-r2"
    assert reply.get_json()["received"] == 1000


def test_healthz(client) -> None:
    reply = client.get("/healthz")
    assert reply.status_code == 200
    assert reply.get_json()["status"] == "ok"


def test_unknown_page_is_a_404_page_not_a_traceback(client) -> None:
    reply = client.get("/no/such/page")
    assert reply.status_code == 404
    assert reply.mimetype == "text/html"
    body = reply.get_data(as_text=True)
    assert "404 Not Found" in body
    assert "Traceback" not in body


def test_unknown_api_path_is_a_json_404(client) -> None:
    reply = client.get("/api/nothing")
    assert reply.status_code == 404
    assert reply.get_json() == {"error": "Not Found", "status": 404}


def test_wrong_method_is_405(client) -> None:
    assert client.post("/healthz").status_code == 405


def test_defaults_without_deployment_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("APP_HOST", "APP_REPLICA", "APP_VERSION"):
        monkeypatch.delenv(name, raising=False)
    whoami = create_app().test_client().get("/api/whoami").get_json()
    assert whoami["host"] == "unknown"
    assert whoami["version"] == "dev"


class FakeSocket:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def sendall(self, data: bytes) -> None:
        self.sent.append(data)


class FakeRequest:
    version = (1, 1)
    method = "GET"

    @staticmethod
    def should_close() -> bool:
        return False


def test_a_whole_response_leaves_in_one_write() -> None:
    """With the lab's gunicorn.conf.py loaded, headers and body go in one sendall: a replica
    killed mid-response cannot leave nginx holding headers without a body."""
    runpy.run_path(str(Path(__file__).resolve().parents[2] / "app/gunicorn.conf.py"))
    sock = FakeSocket()
    response = Response(FakeRequest(), sock, None)
    response.start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    response.write(b"hello")
    assert len(sock.sent) == 1
    assert sock.sent[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert sock.sent[0].endswith(b"\r\n\r\nhello")
    assert b"Content-Length: 5\r\n" in sock.sent[0]


def sample(client, name: str, **labels: str) -> float:
    """One sample's value from the app's own /metrics, 0 when the series does not exist yet."""
    from prometheus_client.parser import text_string_to_metric_families

    text = client.get("/metrics").get_data(as_text=True)
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return found.value
    return 0.0


def test_metrics_count_requests_by_route_status_host_and_replica(client) -> None:
    whoami = {"host": "app7", "replica": "app7-r2"}
    before = sample(client, "app_requests_total", path="/api/whoami", status="200", **whoami)
    unmatched = sample(client, "app_requests_total", path="unmatched", status="404", **whoami)
    for _ in range(3):
        client.get("/api/whoami")
    client.get("/made/up/path")
    assert (
        sample(client, "app_requests_total", path="/api/whoami", status="200", **whoami)
        == before + 3
    )
    # Unknown paths share one series, and scrapes are not counted as requests.
    assert (
        sample(client, "app_requests_total", path="unmatched", status="404", **whoami)
        == unmatched + 1
    )
    assert sample(client, "app_requests_total", path="/metrics", status="200", **whoami) == 0
    assert (
        sample(client, "app_request_duration_seconds_count", path="/api/whoami", **whoami)
        >= before + 3
    )
    assert sample(client, "app_info", version="9.9.9", **whoami) == 1
    assert client.get("/metrics").mimetype == "text/plain"
