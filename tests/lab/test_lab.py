"""The lab end to end: Vagrant's docker provider, playbook.yml, and curl from the host."""

import pytest
from helpers import http_get
from lab_helpers import BALANCER, assert_even_split, balancer_answers

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_every_replica_of_every_host_answers_through_the_balancer(lab) -> None:
    replicas = {f"app{h}-r{r}" for h in (1, 2) for r in (1, 2, 3)}
    assert_even_split(balancer_answers(60), replicas, 60)


def test_page_shows_who_answered(lab) -> None:
    status, body = http_get(f"{BALANCER}/")
    assert status == 200
    page = body.decode()
    assert "Container ID:" in page and "Replica: app" in page
