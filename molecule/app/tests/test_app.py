"""The app role on a Docker host: N healthy, hardened replicas, each answering on its port."""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

REPLICAS = 3
PORT_BASE = 8001


def app_containers(host) -> list[dict]:
    ids = host.check_output("docker ps --all --quiet --filter label=flask-lb-lab.role=app").split()
    return json.loads(host.check_output(f"docker inspect {' '.join(ids)}")) if ids else []


def test_replicas_running_and_healthy(host) -> None:
    containers = app_containers(host)
    assert sorted(c["Name"] for c in containers) == [f"/app-{n}" for n in range(1, REPLICAS + 1)]
    for container in containers:
        assert container["State"]["Running"]
        assert container["State"]["Health"]["Status"] == "healthy"


@pytest.mark.parametrize("port", range(PORT_BASE, PORT_BASE + REPLICAS))
def test_each_port_answers_health(host, port: int) -> None:
    health = json.loads(host.check_output(f"curl -fsS http://127.0.0.1:{port}/healthz"))
    assert health["status"] == "ok"


def test_each_replica_has_its_own_identity(host) -> None:
    identities = [
        json.loads(host.check_output(f"curl -fsS http://127.0.0.1:{port}/api/whoami"))
        for port in range(PORT_BASE, PORT_BASE + REPLICAS)
    ]
    assert len({whoami["container_id"] for whoami in identities}) == REPLICAS
    assert [whoami["replica"] for whoami in identities] == [
        f"molecule-app-host-r{n}" for n in range(1, REPLICAS + 1)
    ]
    assert {whoami["host"] for whoami in identities} == {"molecule-app-host"}


def test_replicas_are_hardened_and_not_root(host) -> None:
    user = host.ansible.get_variables()["app_user"]
    for container in app_containers(host):
        config, hostconfig = container["Config"], container["HostConfig"]
        assert config["User"] == user
        assert hostconfig["PidsLimit"] == 128  # app_pids_limit
        assert hostconfig["ReadonlyRootfs"] is True
        assert hostconfig["CapDrop"] == ["ALL"]
        assert "no-new-privileges" in hostconfig["SecurityOpt"]
        assert hostconfig["Memory"] > 0
        assert hostconfig["RestartPolicy"]["Name"] == "unless-stopped"
        assert host.check_output(f"docker exec {container['Id']} id -u") == user.split(":")[0]


def container_state(host, name: str) -> str:
    return host.check_output(f"docker inspect --format '{{{{.State.Status}}}}' {name}")


def test_a_killed_replica_is_started_again(host) -> None:
    # Docker leaves a `docker kill`ed container down; the role's watchdog starts it.
    host.check_output("docker kill app-2")
    deadline = time.monotonic() + 15
    while container_state(host, "app-2") != "running":
        assert time.monotonic() < deadline, "app-2 was not started again within 15 s"
        time.sleep(0.5)
    print(f"app-2 running again {15 - (deadline - time.monotonic()):.1f} s after docker kill")


def test_a_stopped_replica_stays_stopped(host) -> None:
    host.check_output("docker stop app-3")
    time.sleep(3)
    assert container_state(host, "app-3") == "exited"
    host.check_output("docker start app-3")


def converge_with(*extra_vars: str) -> subprocess.CompletedProcess:
    """Run the scenario's converge playbook again with extra variables."""
    scenario = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
    command = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"]]
    for extra in extra_vars:
        command += ["-e", extra]
    return subprocess.run(
        [*command, str(scenario / "converge.yml")], capture_output=True, text=True, timeout=600
    )


def test_scaling_down_removes_the_surplus_replica(host) -> None:
    scaled = converge_with("app_replicas=2")
    assert scaled.returncode == 0, scaled.stdout[-3000:] + scaled.stderr[-2000:]
    assert sorted(c["Name"] for c in app_containers(host)) == ["/app-1", "/app-2"]
    assert host.run("curl -fsS http://127.0.0.1:8003/healthz").rc != 0
    restored = converge_with(f"app_replicas={REPLICAS}")
    assert restored.returncode == 0, restored.stdout[-3000:] + restored.stderr[-2000:]
    assert len(app_containers(host)) == REPLICAS
