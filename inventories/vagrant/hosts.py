#!/usr/bin/env python3
"""The Vagrant lab's inventory: the machines of lab.yml, as scripts/lab_config.py reads them (the
Vagrantfile reads them the same way), with LAB_APP_HOSTS and LAB_SUBNET applied, the release
the app hosts run (lab_app_version: APP_VERSION, else the last `make deploy`'s), whether the
VMs run under software emulation (lab_emulated), and the lab network (lab_network)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from lab_config import LabConfigError, app_version, config, emulated


def inventory() -> dict:
    machines = config()["machines"]
    groups: dict[str, list[str]] = {}
    for machine in machines:
        for group in machine["groups"]:
            groups.setdefault(group, []).append(machine["name"])
    return {
        **{group: {"hosts": hosts} for group, hosts in groups.items()},
        "all": {
            "vars": {
                "lab_app_version": app_version(),
                "lab_emulated": emulated(),
                "lab_network": f"{config()['subnet']}.0/24",
            }
        },
        "_meta": {"hostvars": {m["name"]: {"ansible_host": m["ip"]} for m in machines}},
    }


if __name__ == "__main__":
    try:
        print(json.dumps(inventory() if "--list" in sys.argv else {}, indent=2))
    except LabConfigError as error:
        sys.exit(f"error: {error}")
