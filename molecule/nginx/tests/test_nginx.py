"""The nginx role on a balancer, in front of three real HTTP servers on another node."""

import json
import os
import subprocess
from collections import Counter
from pathlib import Path

import testinfra

testinfra_hosts = ["ansible://molecule-balancer"]
BALANCER = "http://127.0.0.1:7151"
BACKENDS = {f"molecule-backend:{port}" for port in (8001, 8002, 8003)}


def whoami(host) -> dict:
    return json.loads(host.check_output(f"curl -fsS {BALANCER}/api/whoami"))


def test_listening_on_7151(host) -> None:
    assert host.socket("tcp://0.0.0.0:7151").is_listening


def test_config_is_valid(host) -> None:
    assert host.run("nginx -t").rc == 0


def test_default_site_is_gone(host) -> None:
    assert not host.file("/etc/nginx/sites-enabled/default").exists
    assert not host.socket("tcp://0.0.0.0:80").is_listening


def test_server_header_has_no_version(host) -> None:
    headers = host.check_output(f"curl -fsS -o /dev/null -D - {BALANCER}/").lower()
    assert "server: nginx\r\n" in headers


def test_requests_rotate_over_every_upstream_server(host) -> None:
    answered = Counter(whoami(host)["replica"] for _ in range(30))
    assert set(answered) == BACKENDS
    # Each worker process rotates on its own: an even split within ±25%.
    assert all(8 <= count <= 12 for count in answered.values()), answered


def test_proxy_headers_reach_the_upstream(host) -> None:
    headers = {name.lower(): value for name, value in whoami(host)["headers"].items()}
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
    assert len(headers["x-request-id"]) == 32
    assert headers["host"] == "127.0.0.1:7151"


def test_stub_status_from_localhost(host) -> None:
    assert "Active connections" in host.check_output(f"curl -fsS {BALANCER}/nginx_status")


def test_stub_status_refused_from_another_node() -> None:
    backend = testinfra.get_host(
        "ansible://molecule-backend", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"]
    )
    status = backend.check_output(
        "curl -s -o /dev/null -w '%{http_code}' http://molecule-balancer:7151/nginx_status"
    )
    assert status == "403"


def test_a_dead_server_is_skipped_without_errors(host) -> None:
    backend = testinfra.get_host(
        "ansible://molecule-backend", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"]
    )
    backend.check_output("systemctl stop molecule-backend@8002")
    try:
        answered = Counter(whoami(host)["replica"] for _ in range(12))  # curl -f: any error fails
        assert set(answered) == BACKENDS - {"molecule-backend:8002"}
    finally:
        backend.check_output("systemctl start molecule-backend@8002")


def test_a_config_nginx_rejects_never_replaces_the_running_one(host) -> None:
    before = host.file("/etc/nginx/nginx.conf").sha256sum
    converge = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "converge.yml"
    # Passes the argument spec (a string), but nginx -t rejects it.
    bad = subprocess.run(
        [
            "ansible-playbook",
            "-i",
            os.environ["MOLECULE_INVENTORY_FILE"],
            str(converge),
            "-e",
            "nginx_client_max_body_size=lots",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode != 0
    assert "failed to validate" in bad.stdout + bad.stderr
    assert host.file("/etc/nginx/nginx.conf").sha256sum == before
    assert whoami(host)["replica"] in BACKENDS
