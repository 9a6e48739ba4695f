"""The firewall role: open ports answer every source, the rest are dropped, from boot on."""

import os

import testinfra

testinfra_hosts = ["ansible://molecule-fw-host"]


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


def test_rules_are_applied_at_boot(host) -> None:
    assert host.service("lab-firewall").is_enabled
    assert "-A INPUT -j LAB-INPUT" in host.check_output("iptables -S INPUT")
    # Applied again from scratch: the same rules, not twice as many.
    before = host.check_output("iptables -S LAB-INPUT")
    host.check_output("systemctl restart lab-firewall")
    assert host.check_output("iptables -S LAB-INPUT") == before
    assert not reaches(9999)
