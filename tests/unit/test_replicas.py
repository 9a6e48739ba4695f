"""One definition of a host's replicas (filter_plugins/lab_replicas.py), in Python and Ansible."""

import json
import os
import sys
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from helpers import ROOT, run
from lab_config import app_archive
from lab_replicas import app_replicas, app_upstream, replica_list

# A host's replica layout, as an inventory's group_vars/app.yml gives it.
LAYOUT = {"app_replicas": 3, "app_port_base": 8001, "app_ports": [], "app_container_prefix": "app"}


def test_a_host_without_the_layout_in_the_inventory_is_refused_naming_the_settings() -> None:
    with pytest.raises(AnsibleFilterError, match="web1 has no app_ports, app_container_prefix"):
        app_replicas("web1", {"web1": {"app_replicas": 3, "app_port_base": 8001}})
    with pytest.raises(
        AnsibleFilterError, match="app_replicas of web1 must be a whole number, not 'three'"
    ):
        app_replicas("web1", {"web1": LAYOUT | {"app_replicas": "three"}})


def test_inventory_values_and_extra_vars_strings_count() -> None:
    host_vars = LAYOUT | {"app_replicas": "2", "app_port_base": "9001", "ansible_host": "10.0.0.5"}
    replicas = app_replicas("web1", {"web1": host_vars})
    assert [(r["address"], r["port"]) for r in replicas] == [("10.0.0.5", 9001), ("10.0.0.5", 9002)]
    assert replicas[0] == {
        "host": "web1",
        "index": 1,
        "name": "app-1",
        "replica": "web1-r1",
        "address": "10.0.0.5",
        "port": 9001,
    }
    advertised = app_replicas("web1", {"web1": host_vars | {"app_advertise_address": "lb-net"}})
    assert {r["address"] for r in advertised} == {"lb-net"}
    assert {r["address"] for r in app_replicas("web1", {"web1": LAYOUT})} == {"web1"}


def test_explicit_ports_and_the_standby_twins() -> None:
    host_vars = LAYOUT | {"app_replicas": 2, "app_ports": [7001, 7005]}
    assert [r["port"] for r in app_replicas("h", {"h": host_vars})] == [7001, 7005]
    standby = replica_list("h", 2, 8001, [7001, 7005], "h", "app", 100, standby=True)
    assert [(r["name"], r["replica"], r["port"]) for r in standby] == [
        ("app-standby-1", "h-r1-standby", 7101),
        ("app-standby-2", "h-r2-standby", 7105),
    ]


def test_the_upstream_interleaves_hosts() -> None:
    hostvars = {"a": LAYOUT | {"app_replicas": 2}, "b": LAYOUT}
    upstream = app_upstream(["b", "a"], hostvars)
    assert [r["replica"] for r in upstream] == ["b-r1", "a-r1", "b-r2", "a-r2", "b-r3"]


def evaluate(inventory: str, expression: str, *extra_vars: str) -> object:
    """EXPRESSION templated by Ansible against INVENTORY's real hostvars (group_vars templating,
    -e strings); debug runs on the controller alone."""
    result = run(
        "ansible",
        "balancer",
        "-i",
        str(ROOT / "inventories" / inventory),
        "-m",
        "ansible.builtin.debug",
        "-a",
        f"msg={{{{ {expression} | to_json }}}}",
        *(arg for extra in extra_vars for arg in ("-e", extra)),
        "-e",
        f"ansible_python_interpreter={sys.executable}",
        env={
            **os.environ,
            "LAB_APP_HOSTS": "3",
            "LAB_BALANCERS": "1",
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        },
    )
    return json.loads(result.stdout.split("msg:", 1)[1].strip().strip("'"))


def test_ansible_computes_the_same_upstream_from_the_vagrant_inventory() -> None:
    upstream = evaluate("vagrant", "groups['app'] | app_upstream(hostvars)", "app_port_base=9001")
    assert [(r["replica"], r["address"], r["port"]) for r in upstream[:4]] == [
        ("app1-r1", "192.168.56.11", 9001),
        ("app2-r1", "192.168.56.12", 9001),
        ("app3-r1", "192.168.56.13", 9001),
        ("app1-r2", "192.168.56.11", 9002),
    ]
    assert len(upstream) == 9


def test_the_example_production_inventory_holds_all_the_lab_computes() -> None:
    jobs = evaluate(
        "production",
        "groups | monitoring_scrape_jobs(hostvars, groups['app'] | app_upstream(hostvars))",
    )
    targets = {job["job"]: [t["target"] for t in job["targets"]] for job in jobs}
    assert targets["app"][:2] == ["203.0.113.21:8001", "203.0.113.22:8001"]
    assert len(targets["app"]) == 6
    assert targets["nginx"] == ["203.0.113.10:9113"]
    assert len(targets["node"]) == 3


def test_the_example_production_inventory_ships_the_archive_make_images_saves() -> None:
    archive = evaluate("production", "hostvars['web1.example.com'].app_image_archive")
    assert Path(str(archive)).resolve() == app_archive("1.0.0")
