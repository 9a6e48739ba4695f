"""A closed lab network: replica ports answer the balancer alone; it takes SSH, 7151, 7443."""

import json
import socket

import pytest
from helpers import wait_for
from lab_helpers import node

pytestmark = [pytest.mark.docker, pytest.mark.slow]
APP1_REPLICA = ("192.168.56.11", 8001)


def reachable(address: tuple[str, int], timeout: float = 3) -> bool:
    try:
        with socket.create_connection(address, timeout=timeout):
            return True
    except OSError:
        return False


def curl_from(machine: str, url: str, *options: str) -> bool:
    command = ("curl", "-fsS", "--max-time", "3", *options, url)
    return node(machine, *command, check=False).returncode == 0


def test_replica_port_answers_the_balancer(lab) -> None:
    assert curl_from("balancer", "http://192.168.56.11:8001/healthz")


def test_replica_port_refuses_another_app_host(lab) -> None:
    assert not curl_from("app2", "http://192.168.56.11:8001/healthz")


def test_replica_port_refuses_the_vagrant_host(lab) -> None:
    assert not reachable(APP1_REPLICA)


def test_balancer_takes_only_ssh_7151_and_7443(lab) -> None:
    # Something listening on another port of the balancer is still out of reach.
    node(
        "balancer", "systemd-run", "--unit", "lab-test-http", "python3", "-m", "http.server", "9999"
    )
    try:
        wait_for(lambda: curl_from("balancer", "http://127.0.0.1:9999/"), 15, "a server on :9999")
        assert not curl_from("app1", "http://192.168.56.10:9999/")
        assert curl_from("app1", "http://192.168.56.10:7151/healthz")
        assert curl_from("app1", "https://192.168.56.10:7443/healthz", "--insecure")
        assert reachable(("192.168.56.10", 22))
    finally:
        node("balancer", "systemctl", "stop", "lab-test-http", check=False)


def test_replica_ports_are_published_on_the_lab_address_alone(lab) -> None:
    # app_bind_address defaults to app_advertise_address, which is local to the host here.
    bindings = node(
        "app1", "docker", "inspect", "--format", "{{json .HostConfig.PortBindings}}", "app-1"
    ).stdout
    assert json.loads(bindings) == {"5000/tcp": [{"HostIp": "192.168.56.11", "HostPort": "8001"}]}
