"""Before the lab's own tests, while Molecule runs: plain `vagrant up` in a fresh clone, as a new
user types it, with Prometheus moved to a machine of its own by one line of lab.yml."""

import os
import time
import urllib.parse

import pytest
from helpers import ROOT, get_json, run, wait_for
from lab_helpers import (
    PROMETHEUS,
    balancer_answers,
    docker_volumes,
    lab_leftovers,
    lab_volumes,
    node,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]
# Prometheus, 6 replicas, a node exporter on each of 4 machines, the balancer's nginx exporter.
TARGETS = 1 + 6 + 4 + 1


def up_by_host() -> dict[tuple[str, str], str]:
    """Each target's (job, host) and whether its last scrape succeeded ("1")."""
    reply = get_json(f"{PROMETHEUS}/api/v1/query?{urllib.parse.urlencode({'query': 'up'})}")
    return {
        (
            s["metric"]["job"],
            s["metric"].get("replica", s["metric"].get("host", s["metric"]["instance"])),
        ): s["value"][1]
        for s in reply["data"]["result"]
    }


def test_plain_vagrant_up_from_a_fresh_clone(tmp_path) -> None:
    clone = tmp_path / "flask-lb-lab"
    run("git", "clone", "--quiet", str(ROOT), str(clone))
    table = clone / "lab.yml"
    table.write_text(table.read_text().replace("own_machine: false", "own_machine: true"))
    assert run("git", "diff", "--numstat", cwd=clone).stdout.split() == ["1", "1", "lab.yml"]
    # A new user's shell: no venv on PATH, none of the lab's variables.
    path = [part for part in os.environ["PATH"].split(":") if ".venv" not in part]
    ours = ("ANSIBLE_", "LAB_", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)} | {"PATH": ":".join(path)}
    run("scripts/lab", "destroy", timeout=600)  # a lab of this tree has the same machine names
    started = time.monotonic()
    try:
        run("vagrant", "up", cwd=clone, env=env, timeout=1800)
        volumes = lab_volumes()
        print(f"\nvagrant up in a fresh clone: {time.monotonic() - started:.0f} s")
        answered = balancer_answers(60)
        print(f"answers: {dict(sorted(answered.items()))}")
        assert len(answered) == 6
        # Prometheus on the monitoring machine (its port forwarded from there), not the balancer,
        # and every target up: the firewalls let the monitor reach every exporter and replica.
        wait_for(
            lambda: len(up := up_by_host()) == TARGETS and set(up.values()) == {"1"},
            timeout=90,
            what=f"{TARGETS} targets up",
        )
        up = up_by_host()
        assert {host for job, host in up if job == "node"} == {
            "balancer",
            "app1",
            "app2",
            "monitor",
        }
        assert node("monitor", "systemctl", "is-active", "prometheus").stdout.strip() == "active"
        assert (
            node("balancer", "systemctl", "is-active", "prometheus", check=False).stdout.strip()
            != "active"
        )
    finally:
        run("vagrant", "destroy", "-f", cwd=clone, env=env, timeout=600)
    assert lab_leftovers() == {"containers": [], "networks": []}
    # Molecule's scenarios make and remove volumes meanwhile: the check is on the machines' own.
    assert volumes, "the lab's machines mount no volume: the check below would pass on nothing"
    left = docker_volumes() & volumes
    assert not left, left
