"""One definition of a host's replicas (filter_plugins/lab_replicas.py), in Python and Ansible."""

import json
import os
import sys

import yaml
from helpers import ROOT, run
from lab_replicas import app_replicas, app_upstream, static_upstream


def test_the_app_role_defaults_apply_where_the_inventory_sets_nothing() -> None:
    defaults = yaml.safe_load((ROOT / "roles/app/defaults/main.yml").read_text())
    replicas = app_replicas("web1", {"web1": {}})
    assert [r["port"] for r in replicas] == list(
        range(defaults["app_port_base"], defaults["app_port_base"] + defaults["app_replicas"])
    )
    assert replicas[0] == {
        "host": "web1",
        "index": 1,
        "name": f"{defaults['app_container_prefix']}-1",
        "replica": "web1-r1",
        "address": "web1",
        "port": defaults["app_port_base"],
    }


def test_inventory_values_win_and_extra_vars_strings_count() -> None:
    host_vars = {"app_replicas": "2", "app_port_base": "9001", "ansible_host": "10.0.0.5"}
    replicas = app_replicas("web1", {"web1": host_vars})
    assert [(r["address"], r["port"]) for r in replicas] == [("10.0.0.5", 9001), ("10.0.0.5", 9002)]
    advertised = app_replicas("web1", {"web1": host_vars | {"app_advertise_address": "lb-net"}})
    assert {r["address"] for r in advertised} == {"lb-net"}


def test_explicit_ports_and_the_standby_twins() -> None:
    host_vars = {"app_replicas": 2, "app_ports": [7001, 7005], "app_standby_port_offset": 100}
    assert [r["port"] for r in app_replicas("h", {"h": host_vars})] == [7001, 7005]
    standby = app_replicas("h", {"h": host_vars}, standby=True)
    assert [(r["name"], r["replica"], r["port"]) for r in standby] == [
        ("app-standby-1", "h-r1-standby", 7101),
        ("app-standby-2", "h-r2-standby", 7105),
    ]


def test_the_upstream_interleaves_hosts() -> None:
    hostvars = {"a": {"app_replicas": 2}, "b": {"app_replicas": 3}}
    upstream = app_upstream(["b", "a"], hostvars)
    assert [r["replica"] for r in upstream] == ["b-r1", "a-r1", "b-r2", "a-r2", "b-r3"]


def test_explicit_servers_keep_their_order() -> None:
    servers = static_upstream(
        [{"address": "x", "port": 1}, {"address": "y", "port": 2, "host": "a"}]
    )
    assert [(s["host"], s["index"]) for s in servers] == [("static", 1), ("a", 2)]


def test_ansible_computes_the_same_upstream_from_the_vagrant_inventory() -> None:
    """Real hostvars: group_vars templating, -e strings; debug runs on the controller alone."""
    result = run(
        "ansible",
        "balancer",
        "-m",
        "ansible.builtin.debug",
        "-a",
        "msg={{ groups['app'] | app_upstream(hostvars) | to_json }}",
        "-e",
        "app_port_base=9001",
        "-e",
        f"ansible_python_interpreter={sys.executable}",
        env={**os.environ, "LAB_APP_HOSTS": "3", "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")},
    )
    upstream = json.loads(result.stdout.split("msg:", 1)[1].strip().strip("'"))
    assert [(r["replica"], r["address"], r["port"]) for r in upstream[:4]] == [
        ("app1-r1", "192.168.56.11", 9001),
        ("app2-r1", "192.168.56.12", 9001),
        ("app3-r1", "192.168.56.13", 9001),
        ("app1-r2", "192.168.56.11", 9002),
    ]
    assert len(upstream) == 9
