"""Prometheus on the lab's balancer: every replica's request rate under load, every target up, and
a replica that goes away seen going and coming back."""

import time
import urllib.parse

import pytest
from helpers import get_json, http_get, wait_for
from lab_helpers import ADDRESSES, BALANCER, PROMETHEUS, Load, node

pytestmark = [pytest.mark.docker, pytest.mark.slow]
REPLICAS = {f"app{h}-r{r}" for h in (1, 2) for r in (1, 2, 3)}
# Prometheus itself, 6 replicas, a node exporter on each of 3 hosts, the balancer's nginx exporter.
TARGETS = 1 + 6 + 3 + 1


def query(expr: str) -> list[dict]:
    reply = get_json(f"{PROMETHEUS}/api/v1/query?{urllib.parse.urlencode({'query': expr})}")
    assert reply["status"] == "success", reply
    return reply["data"]["result"]


def values(expr: str, label: str) -> dict[str, float]:
    return {series["metric"][label]: float(series["value"][1]) for series in query(expr)}


def test_every_target_is_up(lab) -> None:
    def all_up() -> bool:
        up = query("up")
        return len(up) == TARGETS and all(series["value"][1] == "1" for series in up)

    wait_for(all_up, timeout=60, what=f"{TARGETS} targets up")
    jobs = {series["metric"]["job"] for series in query("up")}
    assert jobs == {"prometheus", "app", "node", "nginx"}


def test_under_load_every_replica_has_a_request_rate_near_the_mean(lab) -> None:
    with Load(connections=8) as load:
        time.sleep(40)  # the 30 s rate window filled with this load alone
        rates = values("replica:app_requests:rate30s", "replica")
        up = values('up{job="app"}', "replica")
    print(f"\nrequests/s by replica: { {r: round(v, 1) for r, v in sorted(rates.items())} }")
    assert load.results.failed == 0, load.results.statuses | load.results.errors
    assert set(rates) == REPLICAS
    mean = sum(rates.values()) / len(rates)
    assert mean > 10, rates
    for replica, rate in rates.items():
        assert 0.75 * mean <= rate <= 1.25 * mean, f"{replica}: {rate:.1f}/s, mean {mean:.1f}/s"
    assert up == dict.fromkeys(REPLICAS, 1.0)
    # The balancer's nginx exporter counts the same load.
    assert values("rate(nginx_http_requests_total[30s])", "host")["balancer"] > mean


def test_a_replica_that_goes_away_is_down_then_up_again(lab) -> None:
    replica_up = lambda: values('up{replica="app1-r2"}', "replica")["app1-r2"]  # noqa: E731
    assert replica_up() == 1
    # Stopped, not killed: the watchdog starts a killed replica again within a scrape interval.
    node("app1", "docker", "stop", "app-2")
    try:
        wait_for(lambda: replica_up() == 0, timeout=30, what="up 0 for app1-r2")
    finally:
        node("app1", "docker", "start", "app-2")
    wait_for(lambda: replica_up() == 1, timeout=60, what="up 1 for app1-r2 again")


def test_replica_metrics_stay_off_the_public_port(lab) -> None:
    assert http_get(f"{BALANCER}/metrics")[0] == 404
    assert (
        "app_requests_total"
        in node("balancer", "curl", "-fsS", f"http://{ADDRESSES['app1']}:8001/metrics").stdout
    )
