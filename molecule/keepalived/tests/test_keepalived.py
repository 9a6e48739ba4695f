"""The keepalived role on two balancers: one holds the virtual address, reachable from the Docker
host; it moves when the holder's nginx stops answering or its keepalived stops, and stays where it
is when the first balancer is back."""

import os
import subprocess
import time

import testinfra

testinfra_hosts = ["ansible://molecule-lb1"]  # the tests reach both balancers themselves
VIP = "192.168.231.100"
STATE = "/var/lib/prometheus/node-exporter/keepalived.prom"
NODES = {
    name: testinfra.get_host(
        f"ansible://{name}", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"]
    )
    for name in ("molecule-lb1", "molecule-lb2")
}


def holders() -> list[str]:
    return [name for name, node in NODES.items() if f" {VIP}/" in node.check_output("ip -4 -o a")]


def held_by_one(other_than: str = "", timeout: float = 15) -> tuple[str, float]:
    """The one balancer that holds the address (not other_than), and how long it took to."""
    started = time.monotonic()
    while True:
        now = holders()
        if len(now) == 1 and now[0] != other_than:
            return now[0], time.monotonic() - started
        assert time.monotonic() - started < timeout, f"held by {now} after {timeout} s"
        time.sleep(0.1)


def stays_with(holder: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert holders() == [holder]
        time.sleep(0.5)


def recorded(name: str) -> str:
    """What the notify script last wrote for Prometheus: 1 on the holder, 0 on the other."""
    for _ in range(50):
        line = NODES[name].file(STATE).content_string.strip().splitlines()[-1]
        if line.startswith("keepalived_vrrp_master{"):
            return line.rsplit(" ", 1)[1]
        time.sleep(0.1)
    raise AssertionError(f"{STATE} on {name}: {line}")


def test_the_configuration_passes_keepalived_check_and_only_root_reads_it() -> None:
    for node in NODES.values():
        assert node.run("keepalived -t -f /etc/keepalived/keepalived.conf").rc == 0
        conf = node.file("/etc/keepalived/keepalived.conf")
        assert (conf.user, conf.mode) == ("root", 0o600)


def test_one_balancer_holds_the_address_and_says_so() -> None:
    holder, _ = held_by_one()
    other = next(name for name in NODES if name != holder)
    assert (recorded(holder), recorded(other)) == ("1", "0")
    assert NODES[holder].file(STATE).mode == 0o644  # node_exporter reads it as its own user
    # From the other balancer, and from the Docker host, as a user reaches the lab.
    assert NODES[other].run(f"curl -fsS -o /dev/null --max-time 5 http://{VIP}/").rc == 0
    host = subprocess.run(["curl", "-fsS", "-o", "/dev/null", "--max-time", "5", f"http://{VIP}/"])
    assert host.returncode == 0


def test_the_address_moves_when_the_holders_nginx_stops_and_stays_when_it_returns() -> None:
    holder, _ = held_by_one()
    NODES[holder].check_output("systemctl stop nginx")
    try:
        taker, seconds = held_by_one(other_than=holder)
        print(f"\nnginx stopped on {holder}: {taker} held the address after {seconds:.1f} s")
        assert recorded(taker) == "1"
    finally:
        NODES[holder].check_output("systemctl start nginx")
    stays_with(taker, 6)  # past the returned one's passed checks (rise 2, 1 s apart)
    assert recorded(holder) == "0"


def test_the_address_moves_when_the_holders_keepalived_stops_and_stays_when_it_returns() -> None:
    holder, _ = held_by_one()
    NODES[holder].check_output("systemctl stop keepalived")
    try:
        taker, seconds = held_by_one(other_than=holder, timeout=5)
        print(f"\nkeepalived stopped on {holder}: {taker} held the address after {seconds:.1f} s")
    finally:
        NODES[holder].check_output("systemctl start keepalived")
    stays_with(taker, 6)
