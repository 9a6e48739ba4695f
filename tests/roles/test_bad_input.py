"""Each role refuses a bad variable in its first tasks, with a message that names the variable."""

import json
import os
import sys

import pytest
from helpers import ROOT, run

# (role, extra vars, what the error must say)
BAD_INPUTS = [
    ("docker", {"docker_install_source": "snap"}, "docker_install_source"),
    ("docker", {"docker_service_enabled": "sometimes"}, "docker_service_enabled"),
    ("docker", {"docker_daemon_options": ["bip", "10.0.0.1/24"]}, "docker_daemon_options"),
    ("app", {"app_replicas": 0}, "app_replicas must be at least 1"),
    ("app", {"app_replicas": -1}, "app_replicas must be at least 1"),
    ("app", {"app_replicas": "three"}, "app_replicas"),
    ("app", {"app_port_base": 70000}, "within 1-65535"),
    ("app", {"app_replicas": 2, "app_ports": [8001, 8001]}, "no two replicas may share a port"),
    ("app", {"app_image_source": "ftp"}, "app_image_source"),
    ("app", {"app_image_archive": "/nonexistent/app.tar"}, "make images"),
    ("nginx", {"nginx_balancing_method": "fastest"}, "nginx_balancing_method"),
    ("nginx", {"nginx_listen_port": 70000}, "nginx_listen_port must be within 1-65535"),
    ("nginx", {}, "the upstream needs servers"),  # no app hosts at all
    (
        "nginx",
        {
            "nginx_upstream_servers": [{"address": "127.0.0.1", "port": 8001}],
            "nginx_upstream_keepalive": -1,
        },
        "may not be negative",
    ),
]


@pytest.mark.parametrize(
    ("role", "extra_vars", "message"),
    BAD_INPUTS,
    ids=[f"{role}-{'-'.join(map(str, v.values())) or 'no-app-hosts'}" for role, v, _ in BAD_INPUTS],
)
def test_role_refuses_bad_input(role: str, extra_vars: dict, message: str) -> None:
    result = run(
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
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-2000:]
    assert message in output, output[-2000:]
    # Refused in validation: no task that could change the host ran.
    assert "changed=0" in output
