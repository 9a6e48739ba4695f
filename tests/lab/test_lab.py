"""The lab end to end: Vagrant's docker provider, playbook.yml, and curl from the host."""

import time

import pytest
from helpers import http_get, run
from lab_helpers import BALANCER, balancer_answers, lab_leftovers, provision, vagrant

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def assert_even_split(answered, replicas: set[str], requests: int) -> None:
    assert set(answered) == replicas, f"replicas that answered: {sorted(answered)}"
    fair = requests / len(replicas)
    print(f"\n{requests} requests over {len(replicas)} replicas: {dict(sorted(answered.items()))}")
    for replica, count in answered.items():
        assert 0.75 * fair <= count <= 1.25 * fair, f"{replica} got {count}, fair share {fair:.1f}"


def test_every_replica_of_every_host_answers_through_the_balancer(lab) -> None:
    replicas = {f"app{h}-r{r}" for h in (1, 2) for r in (1, 2, 3)}
    assert_even_split(balancer_answers(60), replicas, 60)


def test_page_shows_who_answered(lab) -> None:
    status, body = http_get(f"{BALANCER}/")
    assert status == 200
    page = body.decode()
    assert "Container ID:" in page and "Replica: app" in page


def test_second_provision_changes_nothing(lab) -> None:
    started = time.monotonic()
    recap = provision(app_hosts=2)
    print(f"\nwarm re-provision: {time.monotonic() - started:.1f} s, recap {recap}")
    assert set(recap) == {"balancer", "app1", "app2"}
    assert all(counters["changed"] == 0 and counters["failed"] == 0 for counters in recap.values())


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
