"""Last on the lab: more hosts and replicas with no file edited, then nothing left behind."""

import time

import pytest
from helpers import run
from lab_helpers import (
    LAB_NETWORK,
    assert_even_split,
    balancer_answers,
    docker_volumes,
    lab_env,
    lab_leftovers,
    provision,
    vagrant,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_three_hosts_with_four_replicas_each_without_editing_a_file(lab) -> None:
    vagrant("up", "--no-provision", "--provider=docker", app_hosts=3)
    started = time.monotonic()
    recap = provision("app_replicas=4", app_hosts=3)
    print(f"\nprovision of 3 hosts x 4 replicas: {time.monotonic() - started:.1f} s")
    assert all(counters["failed"] == 0 for counters in recap.values())
    replicas = {f"app{h}-r{r}" for h in (1, 2, 3) for r in (1, 2, 3, 4)}
    assert_even_split(balancer_answers(120), replicas, 120)


def test_destroy_leaves_nothing_behind(lab) -> None:
    vagrant("destroy", "--force", app_hosts=3)
    assert lab_leftovers() == {"containers": [], "networks": []}
    volumes_after = docker_volumes()
    assert volumes_after <= lab["volumes_before"], volumes_after - lab["volumes_before"]


def test_lab_destroy_removes_a_left_network_and_no_other_projects(lab) -> None:
    # An interrupted `vagrant up` can leave the lab network behind with no machine; scripts/lab
    # destroy removes it, and leaves another Vagrant project's (docker names both
    # vagrant_network_*). Vagrant's own destroy of running machines removes every unused
    # vagrant_network_*: so the machines go first, as after an interrupted run.
    vagrant("destroy", "--force", app_hosts=3)
    other = "vagrant_network_10.213.7.0/24"
    run("docker", "network", "create", "--subnet", LAB_NETWORK.removeprefix("vagrant_network_"),
        LAB_NETWORK)  # fmt: skip
    run("docker", "network", "create", "--subnet", "10.213.7.0/24", other)
    try:
        run("scripts/lab", "destroy", env=lab_env(3), timeout=600)
        assert lab_leftovers()["networks"] == []
        assert other in run("docker", "network", "ls", "--format", "{{.Name}}").stdout.split()
    finally:
        run("docker", "network", "rm", other, check=False)
