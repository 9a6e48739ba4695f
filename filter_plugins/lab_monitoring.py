"""What the lab's Prometheus scrapes, from inventory alone (like the balancer's upstream).

The playbook hands the monitoring role these jobs for prometheus.yml and each host its exporters,
and the firewall opens the exporter ports to the monitoring hosts: all through these filters, so
a run limited to some hosts computes the same answer. Pure: they read their arguments alone.

    {{ groups | monitoring_scrape_jobs(hostvars, upstream) }}  every job and target, with labels
    {{ 'app1' | monitoring_exporters(hostvars, groups) }}     the exporters app1 runs
    {{ 'balancer' | monitoring_server_ports(hostvars, groups) }}  [Prometheus's port] or []
    {{ groups | monitoring_sources(hostvars) }}               the monitoring hosts' addresses
    {{ 'balancer' | monitoring_firewall(hostvars, groups, ['172.17.0.1']) }}
        the ports only some sources reach: the exporters the monitoring hosts, Prometheus these
    {{ groups['balancer'] | host_addresses(hostvars) }}       each ansible_host, else the name

A host's ports are its inventory variables (monitoring_node_exporter_port,
monitoring_nginx_exporter_port, and monitoring_port on a monitoring host), which must be set.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

PORTS = {"node": "monitoring_node_exporter_port", "nginx": "monitoring_nginx_exporter_port"}
# The hosts a lab Prometheus watches: every host of the lab's groups.
LAB_GROUPS = ("balancer", "app", "monitoring")


def address(host: str, hostvars: Mapping) -> str:
    return str(hostvars[host].get("ansible_host", host))


def host_addresses(hosts: Iterable[str], hostvars: Mapping) -> list[str]:
    """Where each of HOSTS is reached: its ansible_host, else its inventory name."""
    return [address(host, hostvars) for host in hosts]


def setting(host: str, hostvars: Mapping, name: str) -> int:
    """A port of HOST: its inventory variable."""
    host_vars = hostvars[host]
    if name not in host_vars:
        raise AnsibleFilterError(
            f"{host} has no {name} in the inventory: Prometheus's targets and the firewall are "
            "computed from the inventory alone, so set it there (group_vars: all, or monitoring "
            "for monitoring_port)"
        )
    try:
        return int(host_vars[name])
    except (TypeError, ValueError):
        raise AnsibleFilterError(
            f"{name} of {host} must be a port, not {host_vars[name]!r}"
        ) from None


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


def monitoring_scrape_jobs(
    groups: Mapping, hostvars: Mapping, upstream: Iterable[Mapping]
) -> list[dict[str, Any]]:
    """Each job (app, node, nginx) with its targets: "address:port" and the labels host, and
    replica for the app's replicas (UPSTREAM: the balancer's, filter app_upstream), so every
    series names where it came from."""
    hosts: list[str] = []
    for group in LAB_GROUPS:
        hosts += [host for host in groups.get(group, []) if host not in hosts]
    jobs: dict[str, list[dict[str, Any]]] = {"app": [], "node": [], "nginx": []}
    for replica in upstream:
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
