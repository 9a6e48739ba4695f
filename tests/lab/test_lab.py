"""The lab end to end: Vagrant's docker provider, playbook.yml, and curl from the host."""

import time

import pytest
from helpers import ROOT, http_get
from lab_helpers import BALANCER, assert_even_split, balancer_answers, provision

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_every_replica_of_every_host_answers_through_the_balancer(lab) -> None:
    replicas = {f"app{h}-r{r}" for h in (1, 2) for r in (1, 2, 3)}
    assert_even_split(balancer_answers(60), replicas, 60)


def test_page_shows_who_answered(lab) -> None:
    status, body = http_get(f"{BALANCER}/")
    assert status == 200
    page = body.decode()
    assert "Container ID:" in page and "Replica: app" in page


def test_second_provision_changes_nothing(lab) -> None:
    made = {path: path.read_bytes() for path in (ROOT / ".lab/tls").iterdir()}
    made[ROOT / ".lab/ca.crt"] = (ROOT / ".lab/ca.crt").read_bytes()
    started = time.monotonic()
    recap = provision(app_hosts=2)
    print(f"\nwarm re-provision: {time.monotonic() - started:.1f} s, recap {recap}")
    assert set(recap) == {"balancer", "app1", "app2"}
    assert all(counters["changed"] == 0 and counters["failed"] == 0 for counters in recap.values())
    # The lab CA and the balancer's certificate are made once, not again.
    assert {path: path.read_bytes() for path in made} == made
