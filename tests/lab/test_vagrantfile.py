"""The Vagrantfile's provider blocks, including one this machine cannot run (VirtualBox).

(libvirt's block needs the vagrant-libvirt plugin, which only `make test-vm` installs.)
"""

import os

import pytest
from helpers import run


@pytest.mark.parametrize("provider", ["docker", "virtualbox"])
def test_vagrantfile_validates_for_each_provider(provider: str) -> None:
    env = {**os.environ, "VAGRANT_DEFAULT_PROVIDER": provider, "LAB_APP_HOSTS": "2"}
    result = run("vagrant", "validate", "--ignore-provider", env=env, timeout=120)
    assert "validated successfully" in result.stdout, result.stdout


@pytest.mark.parametrize("raw", ["0", "-1", "abc", "010", "21"])
def test_vagrant_and_make_lab_refuse_a_bad_host_count_with_one_line(raw: str) -> None:
    line = f"error: LAB_APP_HOSTS must be a whole number from 1 to 20, not '{raw}'"
    env = {**os.environ, "LAB_APP_HOSTS": raw}
    for command in (["vagrant", "status"], ["make", "lab"]):
        result = run(*command, env=env, check=False, timeout=120)
        assert result.returncode != 0, command
        assert line in result.stderr.splitlines(), (command, result.stdout, result.stderr)
