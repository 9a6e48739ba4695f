"""One definition per concept: the node container (.env.yml) and the machine table (lab.yml)."""

import importlib.util
import os
import subprocess

import lab_config
import pytest
import yaml
from helpers import ROOT, run
from lab_config import LabConfigError, config

LAB_NODE = yaml.safe_load((ROOT / ".env.yml").read_text())["LAB_NODE"]
NODE = yaml.safe_load(LAB_NODE)
SCENARIOS = sorted(ROOT.glob("molecule/*/molecule.yml"))


def platforms_of(scenario) -> list[dict]:
    # Molecule fills ${LAB_NODE} in from .env.yml, its env file, before it reads the file.
    return yaml.safe_load(scenario.read_text().replace("${LAB_NODE}", LAB_NODE))["platforms"]


def test_the_capability_list_is_in_the_repository_once() -> None:
    marker = "DAC_READ" + "_SEARCH"  # spelled apart, so that this file does not hold it
    tracked = run("git", "ls-files", "-z").stdout.split("\0")
    holders = [
        name
        for name in tracked
        if name and (ROOT / name).is_file() and marker in (ROOT / name).read_text(errors="ignore")
    ]
    assert holders == [".env.yml"]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[path.parent.name for path in SCENARIOS])
def test_every_molecule_platform_is_the_one_node(scenario) -> None:
    text = scenario.read_text()
    for key in ("capabilities:", "security_opts:", "tmpfs:", "cgroupns_mode:", "image:"):
        assert key not in text, f"{scenario.name} sets {key} itself"
    platforms = platforms_of(scenario)
    assert platforms
    for platform in platforms:
        assert {key: platform[key] for key in NODE} == NODE, platform["name"]
    # Machines of one scenario reach each other: all on the same network (an address of their own
    # in it where the scenario gives one).
    networks = {
        str([network["name"] for network in platform.get("networks", [])]) for platform in platforms
    }
    assert len(networks) == 1


def test_the_vagrantfile_runs_the_same_node() -> None:
    text = (ROOT / "Vagrantfile").read_text()
    assert '["LAB_NODE"]' in text and "--cap-add" in text


BAD_COUNTS = ["0", "-1", "abc", "010", "21"]


@pytest.mark.parametrize("raw", BAD_COUNTS)
def test_a_bad_app_host_count_gets_one_line_from_every_reader(raw: str) -> None:
    line = f"error: LAB_APP_HOSTS must be a whole number from 1 to 20, not '{raw}'"
    with pytest.raises(LabConfigError):
        config({"LAB_APP_HOSTS": raw})
    env = {**os.environ, "LAB_APP_HOSTS": raw}
    readers = {
        "lab_config": ["python3", "scripts/lab_config.py", "app-hosts"],
        "inventory": ["python3", "inventories/vagrant/hosts.py", "--list"],
        "scripts/lab up": ["scripts/lab", "up"],
    }
    for reader, command in readers.items():
        result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        assert result.returncode != 0, reader
        assert result.stderr.strip().splitlines() == [line], (reader, result.stderr)


def test_the_table_gives_every_reader_the_same_machines() -> None:
    lab = config({"LAB_APP_HOSTS": "3", "LAB_BALANCERS": "1"})
    assert [(m["name"], m["groups"], m["ip"]) for m in lab["machines"]] == [
        ("balancer", ["balancer", "monitoring"], "192.168.56.10"),
        ("app1", ["app"], "192.168.56.11"),
        ("app2", ["app"], "192.168.56.12"),
        ("app3", ["app"], "192.168.56.13"),
    ]
    assert lab["virtual_ip"] == ""


def test_two_balancers_share_a_virtual_address_and_the_first_forwards() -> None:
    lab = config({"LAB_APP_HOSTS": "1", "LAB_BALANCERS": "2"})
    assert [(m["name"], m["groups"], m["ip"], m["forwarded_ports"]) for m in lab["machines"]] == [
        ("balancer1", ["balancer", "monitoring"], "192.168.56.10", [7151, 7443, 9090]),
        ("balancer2", ["balancer"], "192.168.56.8", []),
        ("app1", ["app"], "192.168.56.11", []),
    ]
    assert lab["virtual_ip"] == "192.168.56.100"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("virtual_address: 100", "virtual_address: 12", "balancer.virtual_address must be"),
        ("virtual_address: 100", "virtual_address: 9", "virtual_address is monitor's"),
        ("second_address: 8", "second_address: 10", "gives balancer2 the address of balancer1"),
        ("second_address: 8", "second_address: x", "balancer.second_address must be"),
    ],
)
def test_a_bad_balancer_address_is_refused_naming_it(monkeypatch, tmp_path, old, new, message):
    flipped_table(tmp_path, monkeypatch, ("own_machine: false", "own_machine: true"), (old, new))
    with pytest.raises(LabConfigError, match=message):
        config({"LAB_BALANCERS": "2"})


@pytest.mark.parametrize(
    ("knob", "raw", "message"),
    [
        ("LAB_VM_MEMORY", "lots", "LAB_VM_MEMORY must be a whole number from 256 to 65536"),
        ("LAB_VM_CPUS", "0", "LAB_VM_CPUS must be a whole number from 1 to 64"),
        ("LAB_SUBNET", "10.0.0.0/8", "LAB_SUBNET must be three octets"),
        ("LAB_LIBVIRT_DRIVER", "xen", "LAB_LIBVIRT_DRIVER must be kvm or qemu"),
        ("LAB_BALANCERS", "3", "LAB_BALANCERS must be a whole number from 1 to 2"),
    ],
)
def test_every_knob_is_checked_in_one_place(knob: str, raw: str, message: str) -> None:
    with pytest.raises(LabConfigError, match=message):
        config({knob: raw})


def test_the_release_is_app_version_else_the_last_deploys(tmp_path, monkeypatch) -> None:
    saved = tmp_path / "app-version"
    monkeypatch.setattr(lab_config, "SAVED_APP_VERSION", saved)
    table = yaml.safe_load((ROOT / "lab.yml").read_text())["app"]["version"]
    assert lab_config.app_version({}) == table
    saved.write_text("2.0.0\n")  # what make deploy leaves
    assert lab_config.app_version({}) == "2.0.0"
    assert lab_config.app_version({"APP_VERSION": "3.0.0"}) == "3.0.0"
    saved.write_text("2.0;id\n")
    with pytest.raises(LabConfigError, match=r"app-version must be 1-64 of the characters"):
        lab_config.app_version({})
    # A bad release stops the inventory with one line, never the machine table (nor a destroy).
    env = {**os.environ, "APP_VERSION": "1.0;id"}
    inventory = subprocess.run(
        ["python3", "inventories/vagrant/hosts.py", "--list"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert inventory.returncode != 0
    assert inventory.stderr.strip().startswith("error: APP_VERSION must be 1-64 of the characters")
    assert config(env)["machines"]


def test_emulated_vms_are_known_from_the_saved_libvirt_driver(tmp_path, monkeypatch) -> None:
    # The inventory script reads it once (lab_emulated), so no task templates a file lookup.
    saved = tmp_path / "libvirt-driver"
    monkeypatch.setattr(lab_config, "SAVED_LIBVIRT_DRIVER", saved)
    assert lab_config.emulated() is False  # docker and VirtualBox labs: no file
    saved.write_text("kvm\n")
    assert lab_config.emulated() is False
    saved.write_text("qemu\n")  # what scripts/lab saves where KVM is missing
    assert lab_config.emulated() is True
    group_vars = (ROOT / "inventories/vagrant/group_vars/all.yml").read_text()
    assert "lookup(" not in group_vars


def test_the_lab_ports_are_lab_ymls_for_nginx_prometheus_and_the_forwards(monkeypatch, tmp_path):
    # Changed in lab.yml alone: the inventory hands them to nginx and Prometheus, the Vagrantfile
    # forwards them from the machines that serve them.
    table = yaml.safe_load((ROOT / "lab.yml").read_text())
    table["ports"] = {"http": 8151, "https": 8443, "prometheus": 8090}
    (tmp_path / "lab.yml").write_text(yaml.safe_dump(table))
    monkeypatch.setattr(lab_config, "TABLE", tmp_path / "lab.yml")
    monkeypatch.setattr(lab_config, "SAVED_APP_HOSTS", tmp_path / "app-hosts")
    monkeypatch.setattr(lab_config, "SAVED_BALANCERS", tmp_path / "balancers")
    forwards = {m["name"]: m["forwarded_ports"] for m in config({})["machines"]}
    assert forwards == {"balancer": [8151, 8443, 8090], "app1": [], "app2": []}
    spec = importlib.util.spec_from_file_location("hosts", ROOT / "inventories/vagrant/hosts.py")
    hosts = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hosts)
    groups = hosts.inventory()
    assert groups["balancer"]["vars"] == {"nginx_listen_port": 8151, "nginx_tls_port": 8443}
    assert groups["monitoring"]["vars"] == {"monitoring_port": 8090}


@pytest.mark.parametrize("ports", [{"http": 0}, {"http": 70000}, {"https": 7151}, {"http": "x"}])
def test_a_bad_lab_port_is_refused_naming_it(monkeypatch, tmp_path, ports) -> None:
    table = yaml.safe_load((ROOT / "lab.yml").read_text())
    table["ports"] |= ports
    (tmp_path / "lab.yml").write_text(yaml.safe_dump(table))
    monkeypatch.setattr(lab_config, "TABLE", tmp_path / "lab.yml")
    with pytest.raises(LabConfigError, match=r"lab\.yml's ports"):
        config({})


def flipped_table(tmp_path, monkeypatch, *edits: tuple[str, str]) -> None:
    """lab.yml with these (old, new) edits, each of text found there once, as a user makes them,
    for lab_config to read."""
    text = (ROOT / "lab.yml").read_text()
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    (tmp_path / "lab.yml").write_text(text)
    monkeypatch.setattr(lab_config, "TABLE", tmp_path / "lab.yml")
    monkeypatch.setattr(lab_config, "SAVED_APP_HOSTS", tmp_path / "app-hosts")
    monkeypatch.setattr(lab_config, "SAVED_BALANCERS", tmp_path / "balancers")


def test_one_line_of_lab_yml_gives_prometheus_a_machine_of_its_own(monkeypatch, tmp_path):
    flipped_table(tmp_path, monkeypatch, ("own_machine: false", "own_machine: true"))
    # What scripts/lab compares with the machines a running lab has.
    assert lab_config.monitoring_line() == "true monitor balancer"
    machines = config({})["machines"]
    assert [(m["name"], m["groups"], m["ip"], m["forwarded_ports"]) for m in machines] == [
        ("balancer", ["balancer"], "192.168.56.10", [7151, 7443]),
        ("app1", ["app"], "192.168.56.11", []),
        ("app2", ["app"], "192.168.56.12", []),
        ("monitor", ["monitoring"], "192.168.56.9", [9090]),
    ]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("own_machine: true", "own_machine: yes please", "monitoring.own_machine must be true"),
        (
            "own_machine: true",
            "own_machines: true",
            "must hold own_machine, name and address alone",
        ),
        # An app host's, now or once scaled up (app.max_count), or the balancer's.
        ("address: 9  #", "address: 30  #", "outside the app hosts' 11-30, not 30"),
        ("address: 9  #", "address: 10  #", "gives monitor the address of balancer"),
        ("name: monitor", "name: app7", "no group's and no app host's, not 'app7'"),
        *(
            ("name: monitor", f"name: {name}", "monitoring.name must be a host name")
            for name in ("balancer", "monitoring", "Mon_1", "monitor-")
        ),
        ("  name: balancer  #", "  also_in: [monitoring]\n  name: balancer  #", "balancer.also_in"),
    ],
)
def test_a_bad_monitoring_machine_is_refused_naming_it(monkeypatch, tmp_path, old, new, message):
    flipped_table(tmp_path, monkeypatch, ("own_machine: false", "own_machine: true"), (old, new))
    with pytest.raises(LabConfigError, match=message):
        config({})


def test_every_molecule_network_has_a_subnet_of_its_own() -> None:
    """Molecule runs beside the Vagrant lab, which joins any Docker network holding its address:
    a subnet Docker picked could be the lab's."""
    subnets = {f"{config(os.environ)['subnet']}.0/24": "the Vagrant lab"}
    for scenario in SCENARIOS:
        platforms = platforms_of(scenario)
        used = {net["name"] for platform in platforms for net in platform.get("networks", [])}
        declared = {
            network["name"]: [pool["subnet"] for pool in network.get("ipam_config", [])]
            for platform in platforms
            for network in platform.get("docker_networks", [])
        }
        for name in used:
            assert declared.get(name), f"{scenario.parent.name}: network {name} has no subnet"
            for subnet in declared[name]:
                assert subnet not in subnets, f"{name} and {subnets[subnet]} share {subnet}"
                subnets[subnet] = name
