"""The firewall role: open ports answer every source, the rest are dropped, from boot on."""

import base64
import json
import os
import subprocess
import time
from pathlib import Path

import testinfra

testinfra_hosts = ["ansible://molecule-fw-host"]
SCENARIO = Path(os.environ.get("MOLECULE_SCENARIO_DIRECTORY", "."))


def converge(extra_vars: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"],
         str(SCENARIO / "converge.yml"), "-e", json.dumps(extra_vars)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def client():
    return testinfra.get_host(
        "ansible://molecule-fw-client", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"]
    )


def reaches(port: int) -> bool:
    return (
        client().run(f"curl -fsS --max-time 3 -o /dev/null http://molecule-fw-host:{port}/").rc == 0
    )


def test_open_port_answers_another_host() -> None:
    assert reaches(7151)


def test_other_port_is_dropped_for_another_host(host) -> None:
    assert not reaches(9999)
    assert host.run("curl -fsS --max-time 3 -o /dev/null http://127.0.0.1:9999/").rc == 0


def test_a_restricted_port_answers_its_sources_only(host) -> None:
    assert reaches(9100)
    other_source = [{"port": 9100, "sources": ["192.0.2.1"]}]
    assert converge({"firewall_restricted_tcp_ports": other_source}).returncode == 0
    try:
        assert not reaches(9100)
        assert host.run("curl -fsS --max-time 3 -o /dev/null http://127.0.0.1:9100/").rc == 0
    finally:
        assert converge({}).returncode == 0
    assert reaches(9100)


def test_rules_are_applied_at_boot(host) -> None:
    assert host.service("lab-firewall").is_enabled
    assert "-A INPUT -j LAB-INPUT" in host.check_output("iptables -S INPUT")
    # Applied again from scratch: the same rules, not twice as many.
    before = host.check_output("iptables -S LAB-INPUT")
    host.check_output("systemctl restart lab-firewall")
    assert host.check_output("iptables -S LAB-INPUT") == before
    assert not reaches(9999)


def rules(host, tool: str = "iptables") -> str:
    return host.check_output(f"{tool} -S")


def test_ipv6_gets_the_same_policy(host) -> None:
    v4 = host.check_output("iptables -S LAB-INPUT").replace("-p icmp", "-p ipv6-icmp")
    # A source given by host name resolves to IPv4 alone, so only rules.v4 lets it through.
    v4_without_sources = [line for line in v4.splitlines() if " -s " not in line]
    assert host.check_output("ip6tables -S LAB-INPUT").splitlines() == v4_without_sources
    assert "-A INPUT -j LAB-INPUT" in rules(host, "ip6tables")


def test_the_rules_are_in_place_before_docker_starts(host) -> None:
    assert "docker.service" in host.check_output("systemctl show lab-firewall -p Before")
    assert "lab-firewall.service" in host.check_output("systemctl show docker.service -p After")


def test_a_source_name_is_resolved_when_the_rules_are_written(host) -> None:
    # The rules hold the client's address, not its name: they load at boot without a resolver.
    client_address = host.check_output("getent ahostsv4 molecule-fw-client").split()[0]
    written = host.file("/etc/lab-firewall/rules.v4").content_string
    assert f"--dport 9100 -s {client_address} -j RETURN" in written
    assert "molecule-fw-client" not in written


def test_a_bad_source_changes_no_rule(host) -> None:
    # Passes the first checks (a host name), but the host cannot resolve it: refused whole.
    before = rules(host)
    result = converge(
        {
            "firewall_open_tcp_ports": [7151, 9999],
            "firewall_docker_allowed_sources": ["10.0.0.1", "nowhere.invalid"],
        }
    )
    assert result.returncode != 0
    assert "cannot resolve nowhere.invalid" in result.stdout + result.stderr
    assert rules(host) == before
    assert not reaches(9999)
    assert reaches(7151)


def test_a_rule_that_fails_midway_leaves_the_rules_in_force(host) -> None:
    before = rules(host)
    good = host.file("/etc/lab-firewall/rules.v4").content_string
    # Port 9999 opened first, then a line the kernel refuses: nothing of it may apply.
    broken = good.replace(
        "-A LAB-INPUT -j DROP",
        "-A LAB-INPUT -p tcp --dport 9999 -j RETURN\n-A LAB-INPUT -s 999.1.1.1 -j RETURN\n"
        "-A LAB-INPUT -j DROP",
    )
    assert broken != good
    encoded = base64.b64encode(broken.encode()).decode()
    host.check_output("cp /etc/lab-firewall/rules.v4 /root/rules.v4.good")
    host.check_output(f"echo {encoded} | base64 -d > /etc/lab-firewall/rules.v4")
    try:
        assert host.run("systemctl reload lab-firewall").rc != 0
        assert rules(host) == before
        assert not reaches(9999)
        assert reaches(7151)
    finally:
        host.check_output("cp /root/rules.v4.good /etc/lab-firewall/rules.v4")
        host.check_output("systemctl reload lab-firewall")
    assert rules(host) == before


def test_the_engine_does_not_start_without_its_rules(host) -> None:
    # Rules that fail to load (a chain that does not exist): the engine's unit does not start.
    host.check_output("cp /etc/lab-firewall/rules.v4 /root/rules.v4.good")
    host.check_output(
        "printf '*filter\\n-A NO-SUCH-CHAIN -j DROP\\nCOMMIT\\n' >/etc/lab-firewall/rules.v4"
    )
    try:
        assert host.run("systemctl restart docker").rc != 0
        assert host.run("systemctl is-active docker").stdout.strip() != "active"
    finally:
        host.check_output("cp /root/rules.v4.good /etc/lab-firewall/rules.v4")
        host.check_output("systemctl start docker")
    assert host.service("docker").is_running


def test_rules_come_back_after_a_reboot(host) -> None:
    before = rules(host)
    subprocess.run(
        ["docker", "restart", "--time", "10", "molecule-fw-host"], check=True, timeout=120
    )
    deadline = time.monotonic() + 60
    while host.run("systemctl is-active lab-firewall").stdout.strip() != "active":
        assert time.monotonic() < deadline, "lab-firewall not active after the reboot"
        time.sleep(1)
    assert rules(host) == before
    deadline = time.monotonic() + 30  # the web servers start again too
    while not reaches(7151):
        assert time.monotonic() < deadline, "7151 does not answer after the reboot"
    assert not reaches(9999)
