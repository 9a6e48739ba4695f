"""The whole lab, seen from the balancer: every replica of every app host is in rotation."""

import json
from collections import Counter

testinfra_hosts = ["ansible://lab-balancer"]
REPLICAS = {f"lab-app{h}-r{r}" for h in (1, 2) for r in (1, 2, 3)}


def test_upstream_has_a_file_per_replica_interleaved_across_hosts(host) -> None:
    upstream = "/etc/nginx/flask-lb-lab/upstream"
    files = host.check_output(f"ls {upstream}").split()
    assert files == [f"00{r}-lab-app{h}.conf" for r in (1, 2, 3) for h in (1, 2)]
    for name in files:
        replica = f"{name[4:-5]}-r{int(name[:3])}"
        assert f"# {replica}\n" in host.file(f"{upstream}/{name}").content_string


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
