"""The Vagrantfile's provider blocks, including one this machine cannot run (VirtualBox).

(libvirt's block needs the vagrant-libvirt plugin, which only `make test-vm` installs.)
"""

import json
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


@pytest.mark.parametrize("app_hosts", ["1", "3"])
def test_every_machine_gets_the_lab_key_before_the_playbook(app_hosts: str) -> None:
    """Read from Vagrant's own merge of each machine's and provider's provisioners."""
    env = {**os.environ, "LAB_PREPARED": "1", "LAB_APP_HOSTS": app_hosts}
    vagrant = json.loads(run("ruby", "tests/lab/vagrant_provisioners.rb", env=env).stdout)
    machines = ["balancer", *(f"app{n}" for n in range(1, int(app_hosts) + 1))]
    assert sorted(vagrant["provisioners"]) == ["docker", "libvirt", "virtualbox"]
    for provider, provisioners in vagrant["provisioners"].items():
        assert list(provisioners) == machines, provider
        # The node image has the key; a VM gets it from its first provisioner.
        key = [] if provider == "docker" else [{"name": "lab-key", "type": "shell"}]
        playbook = [{"name": "lab", "type": "ansible"}]
        expected = {name: key + (playbook if name == machines[-1] else []) for name in machines}
        assert provisioners == expected, provider
    # So a plain `vagrant up` has every machine up, with its key, before the last one's playbook.
    assert vagrant["parallel_up"] is False
