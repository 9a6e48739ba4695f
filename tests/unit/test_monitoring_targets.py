"""What Prometheus scrapes, from inventory alone (filter_plugins/lab_monitoring.py)."""

import pytest
from ansible.errors import AnsibleFilterError
from lab_monitoring import (
    host_addresses,
    monitoring_exporters,
    monitoring_firewall,
    monitoring_scrape_jobs,
    monitoring_server_ports,
    monitoring_sources,
)
from lab_replicas import app_upstream

# The ports and the replica layout, as an inventory's group_vars give them to every host.
DEFAULTS = {
    "monitoring_port": 9090,
    "monitoring_node_exporter_port": 9100,
    "monitoring_nginx_exporter_port": 9113,
    "app_replicas": 3,
    "app_port_base": 8001,
    "app_ports": [],
    "app_container_prefix": "app",
}
GROUPS = {"balancer": ["lb"], "app": ["web1", "web2"], "monitoring": ["lb"]}
HOSTVARS = {
    "lb": DEFAULTS | {"ansible_host": "10.0.0.10"},
    "web1": DEFAULTS | {"ansible_host": "10.0.0.11"},
    "web2": DEFAULTS | {"ansible_host": "10.0.0.12", "monitoring_node_exporter_port": 9200},
}


def jobs() -> dict[str, list[dict]]:
    return jobs_of(HOSTVARS)


def test_every_replica_is_a_target_named_like_the_upstream() -> None:
    upstream = app_upstream(GROUPS["app"], HOSTVARS)
    assert jobs()["app"] == [
        {
            "target": f"{replica['address']}:{replica['port']}",
            "labels": {"host": replica["host"], "replica": replica["replica"]},
        }
        for replica in upstream
    ]
    assert len(upstream) == 6


def test_node_exporters_everywhere_nginx_exporters_on_balancers_with_each_hosts_port() -> None:
    node = DEFAULTS["monitoring_node_exporter_port"]
    nginx = DEFAULTS["monitoring_nginx_exporter_port"]
    assert [t["target"] for t in jobs()["node"]] == [
        f"10.0.0.10:{node}",
        f"10.0.0.11:{node}",
        "10.0.0.12:9200",
    ]
    assert jobs()["nginx"] == [{"target": f"10.0.0.10:{nginx}", "labels": {"host": "lb"}}]
    assert monitoring_exporters("web2", HOSTVARS, GROUPS) == [{"job": "node", "port": 9200}]


def test_prometheus_port_and_sources_only_for_the_monitoring_hosts() -> None:
    assert monitoring_server_ports("lb", HOSTVARS, GROUPS) == [DEFAULTS["monitoring_port"]]
    assert monitoring_server_ports("web1", HOSTVARS, GROUPS) == []
    assert monitoring_sources(GROUPS, HOSTVARS) == ["10.0.0.10"]
    # Exporters answer the monitoring hosts, Prometheus only the sources given (and itself).
    node, nginx = (
        DEFAULTS["monitoring_node_exporter_port"],
        DEFAULTS["monitoring_nginx_exporter_port"],
    )
    assert monitoring_firewall("lb", HOSTVARS, GROUPS, ["172.17.0.1"]) == [
        {"port": node, "sources": ["10.0.0.10"]},
        {"port": nginx, "sources": ["10.0.0.10"]},
        {"port": DEFAULTS["monitoring_port"], "sources": ["172.17.0.1"]},
    ]
    assert monitoring_firewall("web2", HOSTVARS, GROUPS) == [
        {"port": 9200, "sources": ["10.0.0.10"]}
    ]
    # A host with no ansible_host is reached by its inventory name.
    hostvars = {**HOSTVARS, "nameonly": {}}
    assert host_addresses(["lb", "nameonly"], hostvars) == ["10.0.0.10", "nameonly"]


def test_no_monitoring_group_means_no_exporters() -> None:
    groups = {"balancer": ["lb"], "app": ["web1"]}
    assert monitoring_exporters("lb", HOSTVARS, groups) == []
    assert monitoring_sources(groups, HOSTVARS) == []
    upstream = app_upstream(groups["app"], HOSTVARS)
    assert [job["job"] for job in monitoring_scrape_jobs(groups, HOSTVARS, upstream)] == ["app"]


def test_a_port_the_inventory_does_not_set_is_refused_naming_it() -> None:
    hostvars = {**HOSTVARS, "web1": {"ansible_host": "10.0.0.11"}}
    with pytest.raises(AnsibleFilterError, match="web1 has no monitoring_node_exporter_port"):
        monitoring_exporters("web1", hostvars, GROUPS)


def test_an_ipv6_address_is_bracketed() -> None:
    hostvars = {**HOSTVARS, "lb": DEFAULTS | {"ansible_host": "fd00::10"}}
    assert jobs_of(hostvars)["nginx"][0]["target"].startswith("[fd00::10]:")


def jobs_of(hostvars: dict) -> dict[str, list[dict]]:
    upstream = app_upstream(GROUPS["app"], hostvars)
    scraped = monitoring_scrape_jobs(GROUPS, hostvars, upstream)
    return {job["job"]: job["targets"] for job in scraped}
