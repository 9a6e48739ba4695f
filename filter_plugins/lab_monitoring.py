"""What the lab's Prometheus scrapes, from inventory alone (like the balancer's upstream).

The monitoring role writes these jobs into prometheus.yml, the exporters run where they say, and
the firewall opens the exporter ports to the monitoring hosts: all through these filters, so a
run limited to some hosts computes the same answer.

    {{ groups | monitoring_scrape_jobs(hostvars) }}           every job and target, with labels
    {{ 'app1' | monitoring_exporters(hostvars, groups) }}     the exporters app1 runs
    {{ 'balancer' | monitoring_server_ports(hostvars, groups) }}  [Prometheus's port] or []
    {{ groups | monitoring_sources(hostvars) }}               the monitoring hosts' addresses
    {{ 'balancer' | monitoring_firewall(hostvars, groups, ['172.17.0.1']) }}
        the ports only some sources reach: the exporters the monitoring hosts, Prometheus these
    {{ groups['balancer'] | host_addresses(hostvars) }}       each ansible_host, else the name

A host's ports are its inventory variables; where it sets none, the monitoring role's
defaults/main.yml, read here so that the two cannot disagree.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml

# Ansible loads each plugin file on its own: the replicas' one definition is imported by path.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from lab_replicas import app_upstream

MONITORING_DEFAULTS = Path(__file__).resolve().parent.parent / "roles/monitoring/defaults/main.yml"
PORTS = {"node": "monitoring_node_exporter_port", "nginx": "monitoring_nginx_exporter_port"}
# The hosts a lab Prometheus watches: every host of the lab's groups.
LAB_GROUPS = ("balancer", "app", "monitoring")


@cache
def monitoring_defaults() -> dict[str, Any]:
    return yaml.safe_load(MONITORING_DEFAULTS.read_text())


def address(host: str, hostvars: Mapping) -> str:
    return str(hostvars[host].get("ansible_host", host))


def host_addresses(hosts: Iterable[str], hostvars: Mapping) -> list[str]:
    """Where each of HOSTS is reached: its ansible_host, else its inventory name."""
    return [address(host, hostvars) for host in hosts]


def setting(host: str, hostvars: Mapping, name: str) -> int:
    """A port of HOST: its inventory variable, else the role's default."""
    return int(hostvars[host].get(name, monitoring_defaults()[name]))


def target(address: str, port: int) -> str:
    """address:port, an IPv6 address in brackets."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def monitoring_exporters(host: str, hostvars: Mapping, groups: Mapping) -> list[dict[str, Any]]:
    """HOST's exporters, [] when no host is in group monitoring: node on every lab host, nginx on
    the balancers."""
    if not groups.get("monitoring"):
        return []
    jobs = ["node"] + (["nginx"] if host in groups.get("balancer", []) else [])
    return [{"job": job, "port": setting(host, hostvars, PORTS[job])} for job in jobs]


def monitoring_server_ports(host: str, hostvars: Mapping, groups: Mapping) -> list[int]:
    """[Prometheus's port] on a host of group monitoring, [] elsewhere."""
    if host not in groups.get("monitoring", []):
        return []
    return [setting(host, hostvars, "monitoring_port")]


def monitoring_sources(groups: Mapping, hostvars: Mapping) -> list[str]:
    """The addresses the monitoring hosts scrape from: the only ones let through to exporters."""
    return host_addresses(groups.get("monitoring", []), hostvars)


def monitoring_firewall(
    host: str, hostvars: Mapping, groups: Mapping, server_sources: Iterable[str] = ()
) -> list[dict[str, Any]]:
    """HOST's ports that only some sources (and HOST itself) may reach, as {port, sources}: its
    exporters, for the monitoring hosts; on a monitoring host, Prometheus's, for SERVER_SOURCES."""
    exporters = [e["port"] for e in monitoring_exporters(host, hostvars, groups)]
    scrapers = monitoring_sources(groups, hostvars)
    return [{"port": port, "sources": scrapers} for port in exporters] + [
        {"port": port, "sources": list(server_sources)}
        for port in monitoring_server_ports(host, hostvars, groups)
    ]


def monitoring_scrape_jobs(groups: Mapping, hostvars: Mapping) -> list[dict[str, Any]]:
    """Each job (app, node, nginx) with its targets: "address:port" and the labels host, and
    replica for the app's replicas, so every series names where it came from."""
    hosts: list[str] = []
    for group in LAB_GROUPS:
        hosts += [host for host in groups.get(group, []) if host not in hosts]
    jobs: dict[str, list[dict[str, Any]]] = {"app": [], "node": [], "nginx": []}
    for replica in app_upstream(groups.get("app", []), hostvars):
        jobs["app"].append(
            {
                "target": target(replica["address"], replica["port"]),
                "labels": {"host": replica["host"], "replica": replica["replica"]},
            }
        )
    for host in hosts:
        for exporter in monitoring_exporters(host, hostvars, groups):
            where = target(address(host, hostvars), exporter["port"])
            jobs[exporter["job"]].append({"target": where, "labels": {"host": host}})
    return [{"job": job, "targets": targets} for job, targets in jobs.items() if targets]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "host_addresses": host_addresses,
            "monitoring_exporters": monitoring_exporters,
            "monitoring_firewall": monitoring_firewall,
            "monitoring_scrape_jobs": monitoring_scrape_jobs,
            "monitoring_server_ports": monitoring_server_ports,
            "monitoring_sources": monitoring_sources,
        }
