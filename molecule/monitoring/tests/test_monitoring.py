"""The monitoring role: Prometheus scrapes every target the inventory names, labelled, all up."""

import json
import os
import subprocess
import time
from pathlib import Path

testinfra_hosts = ["ansible://molecule-monitor"]
PROMETHEUS = "http://127.0.0.1:9090"
SCENARIO = Path(os.environ.get("MOLECULE_SCENARIO_DIRECTORY", "."))


def api(host, path: str) -> dict:
    reply = json.loads(host.check_output(f"curl -fsS --get '{PROMETHEUS}/api/v1/{path}'"))
    assert reply["status"] == "success", reply
    return reply["data"]


def query(host, expr: str) -> list[dict]:
    return api(host, f"query' --data-urlencode 'query={expr}")["result"]


def targets_when_all_up(host, timeout: float = 60) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        targets = api(host, "targets")["activeTargets"]
        if all(target["health"] == "up" for target in targets) or time.monotonic() > deadline:
            return targets
        time.sleep(2)


def test_prometheus_runs_with_the_port_and_retention(host) -> None:
    assert host.service("prometheus").is_enabled
    assert (
        host.socket("tcp://0.0.0.0:9090").is_listening or host.socket("tcp://:::9090").is_listening
    )
    assert "--storage.tsdb.retention.time=7d" in host.check_output("ps -o args= -C prometheus")


def test_every_target_of_the_inventory_is_scraped_and_up(host) -> None:
    targets = targets_when_all_up(host)
    assert {(t["labels"]["job"], t["labels"]["host"]) for t in targets} == {
        ("prometheus", "molecule-monitor"),
        ("node", "molecule-monitor"),
        ("node", "molecule-replica"),
        ("nginx", "molecule-monitor"),
        ("app", "molecule-replica"),
    }
    down = [(t["scrapeUrl"], t["lastError"]) for t in targets if t["health"] != "up"]
    assert not down
    assert {t["scrapeUrl"] for t in targets if t["labels"]["job"] == "app"} == {
        "http://molecule-replica:8001/metrics"
    }


def test_series_name_their_host_and_replica(host) -> None:
    targets_when_all_up(host)
    [series] = query(host, "app_requests_total")
    assert series["metric"]["host"] == "molecule-replica"
    assert series["metric"]["replica"] == "molecule-replica-r1"
    assert series["value"][1] == "42"
    assert not [name for name in series["metric"] if name.startswith("exported_")]
    # A target cannot speak for another host: the inventory's labels win over its own.
    [forged] = query(host, "app_forged_total")
    assert (forged["metric"]["host"], forged["metric"]["replica"]) == (
        "molecule-replica",
        "molecule-replica-r1",
    )
    assert query(host, 'nginx_up{job="nginx"}')[0]["value"][1] == "1"


def test_the_recording_rules_give_each_replica_a_rate(host) -> None:
    deadline = time.monotonic() + 60
    while not (rates := query(host, "replica_version:app_requests:rate30s")):
        assert time.monotonic() < deadline, "no per-replica rate recorded in 60 s"
        time.sleep(2)
    assert [(r["metric"]["replica"], r["metric"]["version"]) for r in rates] == [
        ("molecule-replica-r1", "9.9.9")
    ]
    assert float(rates[0]["value"][1]) == 0  # a counter that does not move


def test_a_configuration_promtool_refuses_never_lands(host) -> None:
    before = host.file("/etc/prometheus/prometheus.yml").sha256sum
    # Passes the argument spec, but a second job named "prometheus" is not a valid configuration.
    clash = {"job": "prometheus", "targets": [{"target": "127.0.0.1:9100", "labels": {}}]}
    result = subprocess.run(
        ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"],
         str(SCENARIO / "converge.yml"), "-e", json.dumps({"monitoring_scrape_jobs": [clash]})],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode != 0
    assert "failed to validate" in result.stdout + result.stderr
    assert host.file("/etc/prometheus/prometheus.yml").sha256sum == before
    assert host.run(f"curl -fsS {PROMETHEUS}/-/ready").rc == 0
