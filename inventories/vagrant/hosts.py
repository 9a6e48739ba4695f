#!/usr/bin/env python3
"""The Vagrant lab's inventory: the machines of lab.yml, as scripts/lab_config.py reads them (the
Vagrantfile reads them the same way), with LAB_APP_HOSTS, LAB_BALANCERS and LAB_SUBNET applied;
with two balancers, their virtual address; the ports
Vagrant forwards, as nginx's and Prometheus's; the release the app hosts run (lab_app_version:
APP_VERSION, else the last `make deploy`'s), whether the VMs run under software emulation
(lab_emulated), the lab network (lab_network), and SSH without compression."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from lab_config import ROOT, LabConfigError, app_archive_template, app_version, config, emulated


def inventory() -> dict:
    lab = config()
    machines = lab["machines"]
    groups: dict[str, list[str]] = {}
    for machine in machines:
        for group in machine["groups"]:
            groups.setdefault(group, []).append(machine["name"])
    # lab.yml's ports, which Vagrant forwards: what the balancer and Prometheus listen on.
    ports = lab["ports"]
    # With two balancers, the address keepalived moves between them, in their certificates too.
    vip = lab["virtual_ip"]
    virtual = {"keepalived_virtual_ip": vip, "nginx_tls_extra_names": [vip]} if vip else {}
    group_vars = {
        "balancer": {
            "nginx_listen_port": ports["http"],
            "nginx_tls_port": ports["https"],
            **virtual,
        },
        "monitoring": {"monitoring_port": ports["prometheus"]},
        # Where `make images` saves each release (Ansible fills in app_version).
        "app": {"app_image_archive": str(ROOT / app_archive_template())},
    }
    return {
        **{
            group: {"hosts": hosts, "vars": group_vars.get(group, {})}
            for group, hosts in groups.items()
        },
        "all": {
            "vars": {
                "lab_app_version": app_version(),
                "lab_emulated": emulated(),
                "lab_network": f"{lab['subnet']}.0/24",
                # The machines run on this host: compressing their SSH costs CPU on both ends.
                "mitogen_ssh_compression": False,
            }
        },
        "_meta": {"hostvars": {m["name"]: {"ansible_host": m["ip"]} for m in machines}},
    }


if __name__ == "__main__":
    try:
        print(json.dumps(inventory() if "--list" in sys.argv else {}, indent=2))
    except LabConfigError as error:
        sys.exit(f"error: {error}")
