"""The app image, built with no network and run for real."""

import uuid

import pytest
from helpers import ROOT, docker, get_json, http_get, run, wait_for

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def offline_image() -> str:
    """Build the app image from scratch with networking off: proof it needs no network."""
    assert (ROOT / "app/wheelhouse").is_dir(), "no wheelhouse: run `make images` first"
    tag = "flask-lb-lab/app:test-offline"
    docker(
        "build",
        "--no-cache",
        "--network",
        "none",
        "--tag",
        tag,
        "--build-arg",
        "APP_VERSION=test-offline",
        str(ROOT / "app"),
    )
    yield tag
    docker("image", "rm", tag, check=False)


@pytest.fixture
def container(offline_image: str):
    name = f"lab-test-app-{uuid.uuid4().hex[:8]}"
    docker(
        "run",
        "--detach",
        "--name",
        name,
        "--publish",
        "127.0.0.1::5000",
        "--env",
        "APP_HOST=test-host",
        "--env",
        "APP_REPLICA=test-host-r1",
        offline_image,
    )
    port = docker("port", name, "5000/tcp").splitlines()[0].rsplit(":", 1)[1]
    yield name, f"http://127.0.0.1:{port}"
    docker("rm", "--force", name, check=False)


def test_healthz_answers_200(container) -> None:
    _, url = container
    health = wait_for(lambda: get_json(f"{url}/healthz"), timeout=30, what="/healthz")
    assert health["status"] == "ok"
    assert get_json(f"{url}/api/whoami")["version"] == "test-offline"


def test_docker_healthcheck_reports_healthy(container) -> None:
    name, _ = container
    wait_for(
        lambda: docker("inspect", "--format", "{{.State.Health.Status}}", name) == "healthy",
        timeout=40,
        what="Docker to report healthy",
    )


def test_processes_are_not_root(container) -> None:
    name, url = container
    wait_for(lambda: http_get(f"{url}/healthz")[0] == 200, timeout=30, what="/healthz")
    assert docker("exec", name, "id", "-u") != "0"
    users = [line.split()[1] for line in docker("top", name, "-o", "pid,user").splitlines()[1:]]
    assert users and "root" not in users, users


def test_docker_stop_is_graceful(container) -> None:
    name, url = container
    wait_for(lambda: http_get(f"{url}/healthz")[0] == 200, timeout=30, what="/healthz")
    docker("stop", "--time", "10", name)
    state = docker("inspect", "--format", "{{.State.ExitCode}} {{.State.OOMKilled}}", name)
    assert state == "0 false", f"exit code and OOM flag after docker stop: {state}"
    logs = run("docker", "logs", name)
    assert "Shutting down: Master" in logs.stdout + logs.stderr
