#!/usr/bin/env python3
"""The Vagrant lab's inventory: the same machines the Vagrantfile makes, from the same rule.

balancer at SUBNET.10, app1..appN at SUBNET.11.. ; N from LAB_APP_HOSTS, else the count the last
`make lab` used (.lab/app-hosts), else 2. Keep this rule in step with the Vagrantfile's table.
"""

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def app_host_count() -> int:
    saved = ROOT / ".lab/app-hosts"
    raw = os.environ.get("LAB_APP_HOSTS") or (saved.read_text().strip() if saved.exists() else "2")
    if not raw.isdigit() or int(raw) < 1:
        sys.exit(f"LAB_APP_HOSTS must be a whole number of at least 1, not {raw!r}")
    return int(raw)


def inventory() -> dict:
    subnet = os.environ.get("LAB_SUBNET", "192.168.56")
    apps = [f"app{n}" for n in range(1, app_host_count() + 1)]
    addresses = {"balancer": f"{subnet}.10"} | {
        name: f"{subnet}.{10 + n}" for n, name in enumerate(apps, start=1)
    }
    return {
        "balancer": {"hosts": ["balancer"]},
        "app": {"hosts": apps},
        "_meta": {"hostvars": {name: {"ansible_host": ip} for name, ip in addresses.items()}},
    }


if __name__ == "__main__":
    print(json.dumps(inventory() if "--list" in sys.argv else {}, indent=2))
