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


def test_vagrantfile_refuses_a_bad_host_count() -> None:
    env = {**os.environ, "LAB_APP_HOSTS": "two"}
    result = run("vagrant", "validate", "--ignore-provider", env=env, check=False, timeout=120)
    assert result.returncode != 0
    assert "two" in result.stdout + result.stderr
