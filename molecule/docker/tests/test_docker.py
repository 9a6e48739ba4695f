"""The docker role on a systemd node: engine up, usable by the added user, daemon.json applied."""

import json


def test_engine_active_and_enabled(host) -> None:
    service = host.service("docker")
    assert service.is_running
    assert service.is_enabled


def test_docker_info_works_as_added_user(host) -> None:
    assert "docker" in host.user("vagrant").groups
    info = host.run("sudo -u vagrant docker info --format '{{json .}}'")
    assert info.rc == 0, info.stderr
    assert json.loads(info.stdout)["ServerVersion"]


def test_daemon_json_is_merged_from_defaults_and_options(host) -> None:
    config = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert config["bip"] == "10.200.0.1/24"
    assert config["live-restore"] is True
    # The option merged into the defaults' log-opts, not over them.
    assert config["log-opts"] == {"max-size": "5m", "max-file": "3"}


def test_running_engine_uses_daemon_json(host) -> None:
    info = json.loads(host.check_output("docker info --format '{{json .}}'"))
    assert info["LoggingDriver"] == "json-file"
    assert info["LiveRestoreEnabled"] is True
    assert info["Driver"] == "overlay2"
    bridge = host.check_output("ip -4 -o addr show docker0")
    assert "10.200.0.1/24" in bridge


def test_python_sdk_present_for_ansible_modules(host) -> None:
    assert host.run("python3 -c 'import docker'").rc == 0
