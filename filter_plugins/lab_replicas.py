"""The one definition of an app host's replicas: names, ports and address, from inventory alone.

The app role runs these replicas, the nginx role writes them into the balancer's upstream, the
playbook drains and returns them, Prometheus scrapes them: all through these filters, so
every host computes the same answer whichever hosts a run touches (`--limit`, unreachable hosts).

    {{ 'app1' | app_replicas(hostvars) }}           app1's replicas
    {{ 'app1' | app_replicas(hostvars, standby=true) }}   the standby set beside them
    {{ groups['app'] | app_upstream(hostvars) }}    every replica of those hosts, interleaved

A host's settings are its inventory variables (group_vars, host_vars, -e); where it sets none, the
app role's defaults/main.yml, read here so that the two cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml

APP_DEFAULTS = Path(__file__).resolve().parent.parent / "roles/app/defaults/main.yml"
# The settings that make up a host's replicas; app_advertise_address defaults to the host's
# ansible_host, else its inventory name (the role's default says the same in Jinja).
SETTINGS = (
    "app_replicas",
    "app_port_base",
    "app_ports",
    "app_container_prefix",
    "app_standby_port_offset",
)


@cache
def app_defaults() -> dict[str, Any]:
    defaults = yaml.safe_load(APP_DEFAULTS.read_text())
    return {name: defaults[name] for name in SETTINGS}


def replica_list(
    host: str,
    count: int,
    port_base: int,
    ports: Iterable[int],
    address: str,
    prefix: str,
    standby_offset: int,
    standby: bool = False,
) -> list[dict[str, Any]]:
    """Replica N of HOST: container PREFIX-N (PREFIX-standby-N), port app_ports[N-1] or
    port_base + N - 1 (plus standby_offset for the standby set), id HOST-rN (HOST-rN-standby)."""
    base = int(port_base)
    ports = [int(port) for port in ports] or list(range(base, base + int(count)))
    offset = int(standby_offset) if standby else 0
    suffix = "-standby" if standby else ""
    return [
        {
            "host": host,
            "index": index,
            "name": f"{prefix}{suffix}-{index}",
            "replica": f"{host}-r{index}{suffix}",
            "address": str(address),
            "port": port + offset,
        }
        for index, port in enumerate(ports, start=1)
    ]


def app_replicas(host: str, hostvars: Mapping, standby: bool = False) -> list[dict[str, Any]]:
    """HOST's replicas from its inventory variables, with the app role's defaults."""
    host_vars = hostvars[host]
    settings = {name: host_vars.get(name, default) for name, default in app_defaults().items()}
    address = host_vars.get("app_advertise_address", host_vars.get("ansible_host", host))
    return replica_list(
        host,
        count=settings["app_replicas"],
        port_base=settings["app_port_base"],
        ports=settings["app_ports"],
        address=address,
        prefix=settings["app_container_prefix"],
        standby_offset=settings["app_standby_port_offset"],
        standby=standby,
    )


def app_upstream(hosts: Iterable[str], hostvars: Mapping) -> list[dict[str, Any]]:
    """Every replica of HOSTS, interleaved (each host's first, then each host's second, ...) so
    that a retry after a failure lands on another host."""
    hosts = list(hosts)
    replicas = [replica for host in hosts for replica in app_replicas(host, hostvars)]
    return sorted(replicas, key=lambda replica: (replica["index"], hosts.index(replica["host"])))


def static_upstream(servers: Iterable[Mapping]) -> list[dict[str, Any]]:
    """Explicit upstream servers, each given a host ("static") and an index (its position) where
    it has none, so that they keep their order."""
    numbered = enumerate(servers, start=1)
    return [{"host": "static", "index": index, **server} for index, server in numbered]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "app_replicas": app_replicas,
            "app_replica_list": replica_list,
            "app_upstream": app_upstream,
            "static_upstream": static_upstream,
        }
