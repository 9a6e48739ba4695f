"""Driving the Vagrant lab from tests: vagrant, playbook runs, requests to the balancer."""

import os
import re
from collections import Counter

from helpers import ROOT, get_json, run

BALANCER = "http://127.0.0.1:7151"


def lab_env(app_hosts: int) -> dict[str, str]:
    return {
        **os.environ,
        "LAB_APP_HOSTS": str(app_hosts),
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
    }


def vagrant(*args: str, app_hosts: int, timeout: float = 1200):
    return run("vagrant", *args, env=lab_env(app_hosts), timeout=timeout)


def provision(*extra_vars: str, app_hosts: int) -> dict[str, dict[str, int]]:
    """Run playbook.yml on the lab; return the PLAY RECAP counters by host."""
    args = [arg for extra in extra_vars for arg in ("-e", extra)]
    result = run(
        "ansible-playbook",
        "-i",
        "inventories/vagrant",
        "playbook.yml",
        *args,
        env=lab_env(app_hosts),
        timeout=1200,
    )
    recap = result.stdout.rsplit("PLAY RECAP", 1)[1]
    return {
        host: {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", counters)}
        for host, counters in re.findall(r"^(\S+)\s+:\s+(.*)$", recap, re.MULTILINE)
    }


def balancer_answers(requests: int) -> Counter[str]:
    """Send requests to the balancer from this host; every one must be a 200. Counts by replica."""
    return Counter(get_json(f"{BALANCER}/api/whoami")["replica"] for _ in range(requests))


def lab_leftovers() -> dict[str, list[str]]:
    docker = lambda *args: run("docker", *args).stdout.split()  # noqa: E731
    return {
        "containers": docker(
            "ps", "--all", "--format", "{{.Names}}", "--filter", "name=flask-lb-lab-"
        ),
        "networks": docker(
            "network", "ls", "--format", "{{.Name}}", "--filter", "name=vagrant_network"
        ),
    }
