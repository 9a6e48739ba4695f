"""Each role refuses a bad variable in its first tasks, with a message that names the variable."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from certs import write_key, write_self_signed
from helpers import ROOT, run

# The nginx role needs an upstream server before it gets to the setting under test.
ONE_SERVER = {"nginx_upstream_servers": [{"address": "127.0.0.1", "port": 8001}]}

# keepalived's settings, each right, for the cases to break one (no facts: no interface is found).
TWO_BALANCERS = {
    "keepalived_virtual_ip": "192.168.56.100",
    "keepalived_address": "192.168.56.10",
    "keepalived_peers": ["192.168.56.20"],
    "keepalived_auth_pass": "lab12345",
}

# (role, extra vars, what the error must say)
BAD_INPUTS = [
    ("docker", {"docker_install_source": "snap"}, "docker_install_source"),
    ("docker", {"docker_service_enabled": "sometimes"}, "docker_service_enabled"),
    ("docker", {"docker_daemon_options": ["bip", "10.0.0.1/24"]}, "docker_daemon_options"),
    ("docker", {"docker_daemon_options": {"bip": "10.0.0.1/24", "bpi": 1}}, "does not know: bpi"),
    *(
        ("docker", {"docker_daemon_options": options}, f"docker_daemon_options may not set {key}")
        for options, key in (
            ({"hosts": ["tcp://0.0.0.0:2375"]}, "hosts"),
            ({"iptables": False}, "iptables"),
            ({"tlsverify": True, "tlscacert": "/ca.pem"}, "tlscacert, tlsverify"),
            ({"authorization-plugins": ["authz"]}, "authorization-plugins"),
        )
    ),
    ("app", {"app_replicas": 0}, "app_replicas must be at least 1"),
    ("app", {"app_replicas": -1}, "app_replicas must be at least 1"),
    ("app", {"app_replicas": "three"}, "app_replicas"),
    ("app", {"app_port_base": 70000}, "within 1-65535"),
    (
        "app",
        {"app_port_base": 65534},
        "app_port_base 65534 + 3 replicas on localhost needs port 65536",
    ),
    ("app", {"app_replicas": 2, "app_ports": [8001]}, "lists 1 ports for 2 replicas"),
    ("app", {"app_env": {"GUNICORN_BIND": "0.0.0.0:80"}}, "app_env may not set GUNICORN_BIND"),
    ("app", {"app_env": {"APP_HOST": "x", "LOG": "1"}}, "app_env may not set APP_HOST"),
    ("app", {"app_user": "root"}, "app_user may not be root"),
    ("app", {"app_user": "0:0"}, "app_user may not be root"),
    *(("app", {"app_user": uid}, "app_user may not be root") for uid in ("00", "+0", "-0:10001")),
    *(
        ("app", {"app_env": {name: "x"}}, f"app_env may not set {name}")
        for name in ("GUNICORN_CMD_ARGS", "APP_VERSION", "PROMETHEUS_MULTIPROC_DIR", "PYTHONPATH")
    ),
    ("app", {"app_pids_limit": 4}, "app_pids_limit must be at least 16"),
    ("app", {"app_version": "1.0;id"}, "app_version must be 1-64 of the characters"),
    ("app", {"app_replicas": 2, "app_ports": [8001, 8001]}, "no two replicas may share a port"),
    ("app", {"app_image_source": "ftp"}, "app_image_source"),
    ("app", {"app_image_archive": "/nonexistent/app.tar"}, "make images"),
    # An archive there (any file will do), its image ID not: given, or in a missing ARCHIVE.id.
    *(
        ("app", {"app_image_archive": str(ROOT / "README.md"), **id_}, "app_image_archive_id must")
        for id_ in ({"app_image_archive_id": "sha256:ab12"}, {})
    ),
    ("firewall", {"firewall_open_tcp_ports": [22, 70000]}, "must be ports within 1-65535"),
    ("firewall", {"firewall_docker_allowed_sources": ["10.0.0.1; id"]}, "refused: 10.0.0.1; id"),
    # Docker forwards IPv4 alone here: an IPv6 source would allow nothing.
    ("firewall", {"firewall_docker_allowed_sources": ["fd00::1"]}, "refused: fd00::1"),
    ("firewall", {"firewall_ssh_port": 0}, "firewall_ssh_port (0)"),
    ("firewall", {"firewall_vrrp_sources": ["10.0.0.2 -j ACCEPT"]}, "refused: 10.0.0.2 -j ACCEPT"),
    (
        "firewall",
        {"firewall_restricted_tcp_ports": [{"port": 9100, "sources": ["10.0.0.0/8 -j ACCEPT"]}]},
        "refused: 10.0.0.0/8 -j ACCEPT",
    ),
    (
        "firewall",
        {"firewall_restricted_tcp_ports": [{"port": 70000}]},
        "restricted_tcp_ports (70000)",
    ),
    ("monitoring", {"monitoring_port": 9100}, "must be three different ports"),
    ("monitoring", {"monitoring_node_exporter_port": 0}, "within 1-65535"),
    ("monitoring", {"monitoring_scrape_interval": "5 sec"}, "must be Prometheus durations"),
    ("monitoring", {"monitoring_retention": "forever"}, "must be Prometheus durations"),
    ("monitoring", {"monitoring_nginx_status_url": "127.0.0.1/x"}, "must be an http://"),
    # Empty only where no nginx exporter reads it.
    (
        "monitoring",
        {"monitoring_nginx_status_url": "", "monitoring_exporters": ["node", "nginx"]},
        "must be an http://",
    ),
    ("nginx", {"nginx_balancing_method": "fastest"}, "nginx_balancing_method"),
    ("nginx", {"nginx_listen_port": 70000}, "nginx_listen_port must be within 1-65535"),
    ("nginx", {}, "the upstream needs servers"),  # no app hosts at all
    (
        "nginx",
        {
            **ONE_SERVER,
            "nginx_security_headers": {"X-Evil": 'x" always; return 200 "pwned'},
        },
        "values free of quotes",
    ),
    (
        "nginx",
        {
            **ONE_SERVER,
            "nginx_security_headers": {"X-Back": "a\\b"},
        },
        "values free of quotes",
    ),
    (
        "nginx",
        {
            **ONE_SERVER,
            "nginx_server_name": "lab; return 200",
        },
        "nginx_server_name must be a host name",
    ),
    *(
        (
            "nginx",
            {
                **ONE_SERVER,
                "nginx_status_path": path,
            },
            "nginx_status_path a path below /",
        )
        for path in ("/s { return 200 x; } location = /t", "/")
    ),
    (
        "nginx",
        {
            **ONE_SERVER,
            "nginx_upstream_keepalive": -1,
        },
        "may not be negative",
    ),
    *(
        ("keepalived", {**TWO_BALANCERS, **extra_vars}, message)
        for extra_vars, message in (
            ({"keepalived_virtual_ip": "192.168.56.300"}, "keepalived_virtual_ip must be an IPv4"),
            ({"keepalived_virtual_ip": "10.0.0.5"}, "on the network of 192.168.56.10/24"),
            ({"keepalived_virtual_ip": "192.168.56.20"}, "that neither this host nor a peer has"),
            ({"keepalived_peers": []}, "keepalived_peers must list the other balancers"),
            ({"keepalived_peers": ["192.168.56.10"]}, "none of them this host's"),
            ({}, "No interface of localhost has keepalived_address 192.168.56.10"),
            (
                {"keepalived_interface": "eth0", "keepalived_auth_pass": "pa$$word"},
                "keepalived_auth_pass must be 1-8",
            ),
            (
                {"keepalived_interface": "eth0", "keepalived_virtual_router_id": 256},
                "keepalived_virtual_router_id (256) must be within 1-255",
            ),
            # A quote would end the check's string in keepalived.conf.
            (
                {"keepalived_interface": "eth0", "keepalived_check_url": 'http://127.0.0.1/"x'},
                "keepalived_check_url must be an http:// or https:// URL",
            ),
            (
                {"keepalived_interface": "eth0", "keepalived_check_timeout": 0},
                "keepalived_check_timeout (0), keepalived_check_fall",
            ),
        )
    ),
]


@pytest.mark.parametrize(
    ("role", "extra_vars", "message"),
    BAD_INPUTS,
    ids=[f"{role}-{'-'.join(map(str, v.values())) or 'no-app-hosts'}" for role, v, _ in BAD_INPUTS],
)
def test_role_refuses_bad_input(role: str, extra_vars: dict, message: str) -> None:
    result = apply_role(role, extra_vars)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-2000:]
    assert message in output, output[-2000:]
    # Refused in validation: no task that could change the host ran.
    assert "changed=0" in output


def apply_role(role: str, extra_vars: dict) -> subprocess.CompletedProcess:
    """The role in check mode on the controller, with these variables."""
    return run(
        "ansible-playbook",
        "--check",
        str(ROOT / "tests/roles/apply_role.yml"),
        "-i",
        "localhost,",
        "-e",
        f"ansible_python_interpreter={sys.executable}",
        "-e",
        json.dumps({"role_under_test": role, **extra_vars}),
        check=False,
        timeout=120,
        env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")},
    )


def certificate_cases(tmp: Path) -> dict[str, tuple[dict, str]]:
    cert, key = write_self_signed(tmp, "own.example")
    expired, expired_key = write_self_signed(tmp, "old.example", expired=True)
    other_key = tmp / "other.key"
    write_key(other_key)
    not_pem = tmp / "not-a-cert.pem"
    not_pem.write_text("hello\n")
    return {
        "missing": (
            {
                "nginx_tls_certificate": str(tmp / "nowhere.crt"),
                "nginx_tls_certificate_key": str(key),
            },
            "must both name files on the controller",
        ),
        "cert-without-key": ({"nginx_tls_certificate": str(cert)}, "must both name files"),
        "expired": (
            {"nginx_tls_certificate": str(expired), "nginx_tls_certificate_key": str(expired_key)},
            f"nginx_tls_certificate {expired} expired on",
        ),
        "wrong-key": (
            {"nginx_tls_certificate": str(cert), "nginx_tls_certificate_key": str(other_key)},
            f"nginx_tls_certificate_key {other_key} is not the key of nginx_tls_certificate",
        ),
        "not-pem": (
            {"nginx_tls_certificate": str(not_pem), "nginx_tls_certificate_key": str(key)},
            f"nginx_tls_certificate {not_pem} is not a PEM certificate",
        ),
        "tls-port-clash": ({"nginx_tls_port": 7151}, "differ from nginx_listen_port"),
    }


@pytest.mark.parametrize(
    "case", ["missing", "cert-without-key", "expired", "wrong-key", "not-pem", "tls-port-clash"]
)
def test_nginx_refuses_a_bad_certificate(case: str, tmp_path: Path) -> None:
    extra_vars, message = certificate_cases(tmp_path)[case]
    result = apply_role("nginx", {**ONE_SERVER, **extra_vars})
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-2000:]
    assert " ".join(message.split()) in " ".join(output.split()), output[-2000:]
    assert "changed=0" in output


def test_app_refuses_replica_settings_the_balancer_would_not_see(tmp_path: Path) -> None:
    # The inventory gives localhost 3 replicas, as a lab's group_vars/app.yml does; a play var of 2
    # would reach the app role alone.
    inventory = tmp_path / "hosts"
    inventory.write_text(
        "localhost app_replicas=3 app_port_base=8001 app_ports='[]' app_container_prefix=app\n"
    )
    play = tmp_path / "play.yml"
    play.write_text(
        "- hosts: localhost\n  connection: local\n  gather_facts: false\n"
        "  vars: {app_replicas: 2}\n"
        "  tasks:\n    - ansible.builtin.include_role: {name: app, tasks_from: validate}\n"
    )
    result = run(
        "ansible-playbook", "--check", str(play), "-i", str(inventory),
        "-e", f"ansible_python_interpreter={sys.executable}",
        check=False, timeout=120,
        env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")},
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-2000:]
    assert "not as play or role vars" in output, output[-2000:]
