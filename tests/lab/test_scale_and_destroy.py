"""Last on the lab: more hosts and replicas with no file edited, then nothing left behind."""

import time

import pytest
from helpers import run
from lab_helpers import assert_even_split, balancer_answers, lab_leftovers, provision, vagrant

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
    volumes_after = set(run("docker", "volume", "ls", "--quiet").stdout.split())
    assert volumes_after <= lab["volumes_before"], volumes_after - lab["volumes_before"]
