"""The whole lab, seen from the balancer: every replica of every app host is in rotation."""

import json
from collections import Counter

testinfra_hosts = ["ansible://lab-balancer"]
REPLICAS = {f"lab-app{h}-r{r}" for h in (1, 2) for r in (1, 2, 3)}


def test_upstream_lists_every_replica(host) -> None:
    config = host.file("/etc/nginx/nginx.conf").content_string
    for replica in REPLICAS:
        assert f"# {replica}\n" in config


def test_every_replica_answers_through_the_balancer(host) -> None:
    answered = Counter(
        json.loads(host.check_output("curl -fsS http://127.0.0.1:7151/api/whoami"))["replica"]
        for _ in range(36)
    )
    assert set(answered) == REPLICAS
    assert all(4 <= count <= 8 for count in answered.values()), answered


def test_app_hosts_identify_themselves(host) -> None:
    whoami = json.loads(host.check_output("curl -fsS http://127.0.0.1:7151/api/whoami"))
    assert whoami["host"] in {"lab-app1", "lab-app2"}
    assert whoami["version"]
