#!/usr/bin/env python3
"""The lab's machine table (lab.yml) with the LAB_* knobs applied, each checked here alone.

    scripts/lab_config.py json        machines, VM sizes, libvirt domain type: for the Vagrantfile
    scripts/lab_config.py app-hosts   the number of app hosts (LAB_APP_HOSTS, else the count the
                                      last `make lab` used in .lab/app-hosts, else lab.yml's)
    scripts/lab_config.py balancers   the number of balancers (LAB_BALANCERS, 1 or 2, else the
                                      count the last `make lab` used in .lab/balancers, else
                                      lab.yml's)
    scripts/lab_config.py balancer-names   their names (balancer, else balancer1 balancer2)
    scripts/lab_config.py virtual-address  the balancers' virtual address ('' with one balancer)
    scripts/lab_config.py app-version the release the app hosts run (APP_VERSION, else the one
                                      the last `make deploy` rolled out in .lab/app-version, else
                                      lab.yml's)
    scripts/lab_config.py machines    the machines' names, in the table's order
    scripts/lab_config.py monitoring  "OWN_MACHINE MONITOR BALANCER": whether Prometheus has a
                                      machine of its own, its name, the (first) balancer's
    scripts/lab_config.py app-archive where `make images` saves that release (.env.yml's
                                      LAB_APP_ARCHIVE)
    scripts/lab_config.py docker-network  the lab network's name under Vagrant's docker provider
    scripts/lab_config.py port-http   the balancer's HTTP port, forwarded to the Vagrant host (also
                                      port-https, port-prometheus)

A bad knob exits 2 with one line: "error: LAB_APP_HOSTS must be ...".
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "lab.yml"
SAVED_APP_HOSTS = ROOT / ".lab/app-hosts"
SAVED_BALANCERS = ROOT / ".lab/balancers"
SAVED_APP_VERSION = ROOT / ".lab/app-version"
# Definitions the Vagrantfile and Molecule share: LAB_NODE, LAB_APP_ARCHIVE.
SHARED = ROOT / ".env.yml"
VERSION_FIELD = re.compile(r"\{\{\s*app_version\s*\}\}")
# kvm where it works, qemu (software emulation) where not: scripts/lab detects it and saves it here.
SAVED_LIBVIRT_DRIVER = ROOT / ".lab/libvirt-driver"


class LabConfigError(ValueError):
    pass


def whole_number(name: str, raw: str, low: int, high: int) -> int:
    """A decimal whole number within low..high; "010" is refused (octal to Ruby, 10 to Python)."""
    if not re.fullmatch(r"[1-9][0-9]*", raw) or not low <= int(raw) <= high:
        raise LabConfigError(f"{name} must be a whole number from {low} to {high}, not {raw!r}")
    return int(raw)


def app_host_count(table: Mapping[str, Any], env: Mapping[str, str]) -> int:
    saved = SAVED_APP_HOSTS.read_text().strip() if SAVED_APP_HOSTS.exists() else ""
    raw = env.get("LAB_APP_HOSTS") or saved or str(table["app"]["count"])
    return whole_number("LAB_APP_HOSTS", raw, 1, table["app"]["max_count"])


def balancer_count(table: Mapping[str, Any], env: Mapping[str, str]) -> int:
    saved = SAVED_BALANCERS.read_text().strip() if SAVED_BALANCERS.exists() else ""
    raw = env.get("LAB_BALANCERS") or saved or str(table["balancer"].get("count", 1))
    return whole_number("LAB_BALANCERS", raw, 1, 2)


def app_version(env: Mapping[str, str] = os.environ) -> str:
    """The release the app hosts run: an image tag, which also names a file
    (app_archive). Apart from config(): a bad one stops no `vagrant destroy`."""
    if env.get("APP_VERSION"):
        name, raw = "APP_VERSION", env["APP_VERSION"]
    elif SAVED_APP_VERSION.exists():
        name, raw = str(SAVED_APP_VERSION), SAVED_APP_VERSION.read_text().strip()
    else:
        table = yaml.safe_load(TABLE.read_text())
        name, raw = "lab.yml's app.version", str(table["app"]["version"])
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", raw):
        raise LabConfigError(
            f"{name} must be 1-64 of the characters A-Z a-z 0-9 _ . - (an image tag), not {raw!r}"
        )
    return raw


def emulated() -> bool:
    """Whether the lab's VMs run under software emulation (libvirt's qemu domain type)."""
    saved = SAVED_LIBVIRT_DRIVER.read_text().strip() if SAVED_LIBVIRT_DRIVER.exists() else ""
    return saved == "qemu"


PORT_NAMES = ("http", "https", "prometheus")


def lab_ports(table: Mapping[str, Any]) -> dict[str, int]:
    """lab.yml's ports (http, https, prometheus): whole numbers from 1 to 65535, no two the same."""
    given = table.get("ports") if isinstance(table.get("ports"), dict) else {}
    ports = {
        name: whole_number(f"lab.yml's ports.{name}", str(given.get(name)), 1, 65535)
        for name in PORT_NAMES
    }
    if len(set(ports.values())) < len(ports):
        raise LabConfigError(f"lab.yml's ports must differ from each other, not {ports}")
    return ports


def ports() -> dict[str, int]:
    """lab.yml's ports alone, for the tests and tools that reach the lab on 127.0.0.1."""
    return lab_ports(yaml.safe_load(TABLE.read_text()))


def forwarded_ports(groups: list[str], ports: Mapping[str, int]) -> list[int]:
    """The ports a machine in these groups serves, forwarded to the Vagrant host."""
    return [ports["http"], ports["https"]] * ("balancer" in groups) + [ports["prometheus"]] * (
        "monitoring" in groups
    )


# Names a machine may not take: the inventory's groups.
GROUP_NAMES = ("all", "ungrouped", "balancer", "app", "monitoring")
MONITORING_KEYS = {"own_machine", "name", "address"}


def lab_address(table: Mapping[str, Any], setting: str) -> int:
    """lab.yml's SECTION.KEY address (balancer.second_address, monitoring.address, ...): a last
    octet outside the app hosts' range, up to app.max_count (scaling them later never meets it)."""
    section, key = setting.split(".", 1)
    value = (table.get(section) or {}).get(key)
    app = table["app"]
    app_addresses = range(app["first_address"], app["first_address"] + app["max_count"])
    if type(value) is not int or not 2 <= value <= 254 or value in app_addresses:
        raise LabConfigError(
            f"lab.yml's {setting} must be a whole number from 2 to 254 outside the app hosts'"
            f" {app_addresses.start}-{app_addresses.stop - 1}, not {value!r}"
        )
    return value


def monitoring_machine(table: Mapping[str, Any]) -> dict[str, Any] | None:
    """lab.yml's monitoring machine where Prometheus has one of its own (own_machine: true),
    None where it runs on the balancer. Its name and address may be no app host's, up to
    app.max_count, so that scaling the app hosts later never meets it."""
    for kind in ("balancer", "app"):
        if "also_in" in (table.get(kind) or {}):
            raise LabConfigError(
                f"lab.yml's {kind}.also_in is gone: monitoring.own_machine says where Prometheus"
                " runs"
            )
    monitoring = table.get("monitoring", {})
    if not isinstance(monitoring, dict) or set(monitoring) - MONITORING_KEYS:
        raise LabConfigError(
            "lab.yml's monitoring must hold own_machine, name and address alone,"
            f" not {monitoring!r}"
        )
    own = monitoring.get("own_machine", False)
    if not isinstance(own, bool):
        raise LabConfigError(f"lab.yml's monitoring.own_machine must be true or false, not {own!r}")
    if not own:
        return None
    app = table["app"]
    app_names = {f"{app['name']}{n}" for n in range(1, app["max_count"] + 1)}
    name = monitoring.get("name")
    if (
        not isinstance(name, str)
        or not re.fullmatch(r"[a-z]([a-z0-9-]{0,30}[a-z0-9])?", name)
        or name in GROUP_NAMES
        or name in app_names
    ):
        raise LabConfigError(
            f"lab.yml's monitoring.name must be a host name (a-z, 0-9, - inside) that is no"
            f" group's and no app host's, not {name!r}"
        )
    return {"name": name, "address": lab_address(table, "monitoring.address")}


def config(env: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """Every machine (name, group, every group it is in, ip, forwarded ports), the lab's subnet
    and ports, the VM sizes and libvirt domain type."""
    table = yaml.safe_load(TABLE.read_text())
    ports = lab_ports(table)
    subnet = env.get("LAB_SUBNET") or table["subnet"]
    if not re.fullmatch(
        r"(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])){2}", subnet
    ):
        raise LabConfigError(f"LAB_SUBNET must be three octets such as 192.168.56, not {subnet!r}")
    balancer, app = table["balancer"], table["app"]
    monitoring = monitoring_machine(table)
    second_address = lab_address(table, "balancer.second_address")
    virtual_address = lab_address(table, "balancer.virtual_address")
    two = balancer_count(table, env) == 2
    # Two are balancer1 and balancer2: a host named as its group hides the group's other hosts
    # from Ansible's host patterns.
    machines = [
        {
            "name": f"{balancer['name']}1" if two else balancer["name"],
            "group": "balancer",
            "groups": ["balancer"] + ([] if monitoring else ["monitoring"]),
            "ip": f"{subnet}.{balancer['address']}",
        }
    ]
    if two:
        machines.append(
            {
                "name": f"{balancer['name']}2",
                "group": "balancer",
                "groups": ["balancer"],
                "ip": f"{subnet}.{second_address}",
            }
        )
    for n in range(1, app_host_count(table, env) + 1):
        machines.append(
            {
                "name": f"{app['name']}{n}",
                "group": "app",
                "groups": ["app"],
                "ip": f"{subnet}.{app['first_address'] + n - 1}",
            }
        )
    if monitoring:
        machines.append(
            {
                "name": monitoring["name"],
                "group": "monitoring",
                "groups": ["monitoring"],
                "ip": f"{subnet}.{monitoring['address']}",
            }
        )
    names = [machine["name"] for machine in machines]
    if len(set(names)) < len(names):
        raise LabConfigError(f"lab.yml gives two machines the same name: {names}")
    owners: dict[str, str] = {}
    for machine in machines:
        if machine["ip"] in owners:
            raise LabConfigError(
                f"lab.yml gives {machine['name']} the address of {owners[machine['ip']]},"
                f" {machine['ip']}: give each machine its own"
            )
        owners[machine["ip"]] = machine["name"]
    virtual_ip = f"{subnet}.{virtual_address}" if two else ""
    if virtual_ip in owners:
        raise LabConfigError(
            f"lab.yml's balancer.virtual_address is {owners[virtual_ip]}'s, {virtual_ip}:"
            " give it one no machine has"
        )
    for machine in machines:
        # The Vagrant host's forwards come from the first balancer (the second has the same
        # ports): the virtual address is the one that moves.
        second = machine["group"] == "balancer" and machine is not machines[0]
        machine["forwarded_ports"] = [] if second else forwarded_ports(machine["groups"], ports)
    vm = {
        "memory": whole_number(
            "LAB_VM_MEMORY", env.get("LAB_VM_MEMORY") or str(table["vm"]["memory"]), 256, 65536
        ),
        "cpus": whole_number(
            "LAB_VM_CPUS", env.get("LAB_VM_CPUS") or str(table["vm"]["cpus"]), 1, 64
        ),
    }
    saved = SAVED_LIBVIRT_DRIVER.read_text().strip() if SAVED_LIBVIRT_DRIVER.exists() else ""
    driver = env.get("LAB_LIBVIRT_DRIVER") or saved or "kvm"
    if driver not in ("kvm", "qemu"):
        raise LabConfigError(f"LAB_LIBVIRT_DRIVER must be kvm or qemu, not {driver!r}")
    return {
        "machines": machines,
        "subnet": subnet,
        "virtual_ip": virtual_ip,
        "ports": ports,
        "vm": vm,
        "libvirt_driver": driver,
    }


def app_archive_template() -> str:
    """A release's archive as Ansible names it ({{ app_version }} in it), from the root."""
    template = str(yaml.safe_load(SHARED.read_text())["LAB_APP_ARCHIVE"])
    if not VERSION_FIELD.search(template):
        raise LabConfigError(f".env.yml's LAB_APP_ARCHIVE lacks {{{{ app_version }}}}: {template}")
    return template


def app_archive(version: str) -> Path:
    """Where `make images` saves release VERSION of the app image; the app role ships it."""
    return ROOT / VERSION_FIELD.sub(lambda _: version, app_archive_template())


def docker_network(subnet: str) -> str:
    """The name Vagrant's docker provider gives the lab network, a /24."""
    return f"vagrant_network_{subnet}.0/24"


def monitoring_line() -> str:
    table = yaml.safe_load(TABLE.read_text())
    own = monitoring_machine(table) is not None
    name = (table.get("monitoring") or {}).get("name", "")
    return f"{str(own).lower()} {name} {config()['machines'][0]['name']}"


def main(argv: list[str]) -> int:
    commands = {
        "json": lambda: json.dumps(config()),
        "app-hosts": lambda: str(sum(m["group"] == "app" for m in config()["machines"])),
        "balancers": lambda: str(sum(m["group"] == "balancer" for m in config()["machines"])),
        "balancer-names": lambda: " ".join(
            m["name"] for m in config()["machines"] if m["group"] == "balancer"
        ),
        "virtual-address": lambda: config()["virtual_ip"],
        "machines": lambda: " ".join(m["name"] for m in config()["machines"]),
        "monitoring": monitoring_line,
        "app-version": app_version,
        "app-archive": lambda: str(app_archive(app_version())),
        "docker-network": lambda: docker_network(config()["subnet"]),
        **{f"port-{name}": lambda name=name: str(ports()[name]) for name in PORT_NAMES},
    }
    if len(argv) != 2 or argv[1] not in commands:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        print(commands[argv[1]]())
    except LabConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
