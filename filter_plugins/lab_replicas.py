"""The one definition of an app host's replicas: names, ports and address.

The app role runs a host's replicas from its own settings (app_replica_list); the playbook lists
every app host's from the inventory (app_replicas, app_upstream) for the balancer's upstream,
Prometheus and the rotation, so every host computes the same answer whichever hosts a run
touches (`--limit`, unreachable hosts). Pure: they read their arguments and nothing else.

    {{ 'app1' | app_replicas(hostvars) }}           app1's replicas, from its inventory variables
    {{ groups['app'] | app_upstream(hostvars) }}    every replica of those hosts, interleaved
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

# The inventory settings a host's replicas are made of (group_vars/app.yml of each inventory);
# app_advertise_address defaults to the host's ansible_host, else its inventory name, as the
# app role's default says in Jinja.
LAYOUT = ("app_replicas", "app_port_base", "app_ports", "app_container_prefix")


def number(name: str, value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise AnsibleFilterError(f"{name} must be a whole number, not {value!r}") from None


def replica_list(
    host: str,
    count: int,
    port_base: int,
    ports: Iterable[int],
    address: str,
    prefix: str,
    standby_offset: int = 0,
    standby: bool = False,
) -> list[dict[str, Any]]:
    """Replica N of HOST: container PREFIX-N (PREFIX-standby-N), port app_ports[N-1] or
    port_base + N - 1 (plus standby_offset for the standby set), id HOST-rN (HOST-rN-standby)."""
    base = number(f"app_port_base of {host}", port_base)
    explicit = [number(f"app_ports of {host}", port) for port in ports or []]
    ports = explicit or list(range(base, base + number(f"app_replicas of {host}", count)))
    offset = number(f"app_standby_port_offset of {host}", standby_offset) if standby else 0
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


def app_replicas(host: str, hostvars: Mapping) -> list[dict[str, Any]]:
    """HOST's replicas from its inventory variables, which must set the layout."""
    host_vars = hostvars[host]
    missing = [name for name in LAYOUT if name not in host_vars]
    if missing:
        raise AnsibleFilterError(
            f"{host} has no {', '.join(missing)} in the inventory: the balancer's upstream and "
            "Prometheus's targets are computed from the app hosts' inventory variables alone, so "
            f"set {', '.join(LAYOUT)} there (group_vars/app.yml, host_vars or -e)"
        )
    return replica_list(
        host,
        count=host_vars["app_replicas"],
        port_base=host_vars["app_port_base"],
        ports=host_vars["app_ports"],
        address=host_vars.get("app_advertise_address", host_vars.get("ansible_host", host)),
        prefix=host_vars["app_container_prefix"],
    )


def app_upstream(hosts: Iterable[str], hostvars: Mapping) -> list[dict[str, Any]]:
    """Every replica of HOSTS, interleaved (each host's first, then each host's second, ...) so
    that a retry after a failure lands on another host."""
    hosts = list(hosts)
    replicas = [replica for host in hosts for replica in app_replicas(host, hostvars)]
    return sorted(replicas, key=lambda replica: (replica["index"], hosts.index(replica["host"])))


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "app_replicas": app_replicas,
            "app_replica_list": replica_list,
            "app_upstream": app_upstream,
        }
