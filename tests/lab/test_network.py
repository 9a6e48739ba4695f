"""A closed lab network: replica and exporter ports answer the balancer alone (the lab's
monitoring host); it takes SSH, 7151 and 7443 (Prometheus's 9090 from the Vagrant host's
forward alone), an app host SSH alone."""

import json
import socket

import pytest
from helpers import run, wait_for
from lab_helpers import IPS, PORTS, balancer_answers, node

pytestmark = [pytest.mark.docker, pytest.mark.slow]
APP1, BALANCER_IP = IPS["app1"], IPS["balancer"]
HTTP, HTTPS, PROMETHEUS = PORTS["http"], PORTS["https"], PORTS["prometheus"]
APP1_REPLICA = (APP1, 8001)


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
    assert curl_from("balancer", f"http://{APP1}:8001/healthz")


def test_replica_port_refuses_another_app_host(lab) -> None:
    assert not curl_from("app2", f"http://{APP1}:8001/healthz")


def test_replica_port_refuses_the_vagrant_host(lab) -> None:
    assert not reachable(APP1_REPLICA)


def test_balancer_takes_only_ssh_7151_and_7443_and_prometheus_from_the_vagrant_host(lab) -> None:
    # Something listening on another port of the balancer is still out of reach.
    node(
        "balancer", "systemd-run", "--unit", "lab-test-http", "python3", "-m", "http.server", "9999"
    )
    try:
        wait_for(lambda: curl_from("balancer", "http://127.0.0.1:9999/"), 15, "a server on :9999")
        assert not curl_from("app1", f"http://{BALANCER_IP}:9999/")
        assert curl_from("app1", f"http://{BALANCER_IP}:{HTTP}/healthz")
        assert curl_from("app1", f"https://{BALANCER_IP}:{HTTPS}/healthz", "--insecure")
        assert reachable((BALANCER_IP, 22))
        # Prometheus: the Vagrant host's forward and the balancer itself, no other lab machine.
        assert not curl_from("app1", f"http://{BALANCER_IP}:{PROMETHEUS}/-/ready")
        assert curl_from("balancer", f"http://{BALANCER_IP}:{PROMETHEUS}/-/ready")
        assert reachable(("127.0.0.1", PROMETHEUS))
    finally:
        node("balancer", "systemctl", "stop", "lab-test-http", check=False)


def test_an_app_host_takes_ssh_alone_and_a_port_published_later_from_the_balancer_alone(
    lab,
) -> None:
    # Neither listener is in any setting: one on the host, one a container published after the run.
    node("app1", "systemd-run", "--unit", "lab-test-http", "python3", "-m", "http.server", "9999")
    image = node("app1", "docker", "inspect", "--format", "{{.Config.Image}}", "app-1").stdout
    published = f"{APP1}:8999"
    node("app1", "docker", "run", "--detach", "--rm", "--name", "lab-test-published",
         "--publish", f"{published}:5000", image.strip())  # fmt: skip
    try:
        wait_for(
            lambda: (
                curl_from("app1", "http://127.0.0.1:9999/")
                and curl_from("app1", f"http://{published}/healthz")
            ),
            30,
            "a server on :9999 and a container on :8999 of app1",
        )
        assert not curl_from("balancer", f"http://{APP1}:9999/")
        assert not curl_from("app2", f"http://{published}/healthz")
        assert curl_from("balancer", f"http://{published}/healthz")
        assert reachable((APP1, 22))
    finally:
        node("app1", "systemctl", "stop", "lab-test-http", check=False)
        node("app1", "docker", "rm", "--force", "lab-test-published", check=False)


# The node exporter of app1 and the balancer's nginx exporter.
@pytest.mark.parametrize("exporter", [(APP1, 9100), (BALANCER_IP, 9113)])
def test_exporter_ports_answer_the_monitoring_host_alone(lab, exporter: tuple[str, int]) -> None:
    url = "http://{}:{}/metrics".format(*exporter)
    assert curl_from("balancer", url)  # Prometheus runs there
    assert not curl_from("app2", url)
    assert not reachable(exporter)


def test_replica_ports_are_published_on_the_lab_address_alone(lab) -> None:
    # app_bind_address defaults to app_advertise_address, which is local to the host here.
    bindings = node(
        "app1", "docker", "inspect", "--format", "{{json .HostConfig.PortBindings}}", "app-1"
    ).stdout
    assert json.loads(bindings) == {"5000/tcp": [{"HostIp": APP1, "HostPort": "8001"}]}


def test_the_balancer_has_the_same_policy_for_ipv6(lab) -> None:
    v4 = node("balancer", "iptables", "-S", "LAB-INPUT").stdout
    v6 = node("balancer", "ip6tables", "-S", "LAB-INPUT").stdout
    assert f"--dport {HTTPS} -j RETURN" in v6 and v6.endswith("-A LAB-INPUT -j DROP\n")
    # The exporters' one allowed source is the balancer's IPv4 address, so v6 lets none through.
    v4_without_sources = [line for line in v4.splitlines() if " -s " not in line]
    assert v6.splitlines() == [
        line.replace("-p icmp", "-p ipv6-icmp") for line in v4_without_sources
    ]
    assert "-A INPUT -j LAB-INPUT" in node("balancer", "ip6tables", "-S", "INPUT").stdout


def test_after_a_reboot_the_rules_are_in_place_before_the_replicas(lab) -> None:
    run("docker", "restart", "--time", "10", "flask-lb-lab-app1", timeout=120)
    wait_for(
        lambda: (
            node("app1", "systemctl", "is-active", "docker", check=False).stdout.strip() == "active"
        ),
        60,
        "Docker on app1 after the reboot",
    )
    started = {
        unit: int(
            node("app1", "systemctl", "show", unit, "-p", "ActiveEnterTimestampMonotonic")
            .stdout.strip()
            .split("=")[1]
        )
        for unit in ("lab-firewall", "docker")
    }
    assert 0 < started["lab-firewall"] <= started["docker"], started
    # And the engine requires them: where they fail to load, it does not start (molecule/firewall).
    requires = node("app1", "systemctl", "show", "docker", "-p", "Requires").stdout
    assert "lab-firewall.service" in requires.split("=", 1)[1].split()
    wait_for(lambda: curl_from("balancer", f"http://{APP1}:8001/healthz"), 90, "app1-r1")
    assert not curl_from("app2", f"http://{APP1}:8001/healthz")
    wait_for(lambda: len(balancer_answers(60)) == 6, 90, "all six replicas in rotation")
