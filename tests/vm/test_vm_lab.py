"""Real VMs: the libvirt provider from nothing (qemu where KVM is unusable). Opt-in: make test-vm.

Slow under software emulation (tens of minutes), so not part of `make test`.
"""

import os
import re
import subprocess
import time
from collections import Counter

import pytest
from helpers import ROOT, http_get, run
from lab_helpers import BALANCER, lab_env, provision

pytestmark = [pytest.mark.vm, pytest.mark.slow]

APP_HOSTS = 2
LIBVIRT = "qemu:///system"


def lab_script(*args: str, timeout: float) -> float:
    """scripts/lab with the libvirt provider, its progress shown as it goes; returns seconds."""
    started = time.monotonic()
    subprocess.run(
        ["scripts/lab", *args],
        cwd=ROOT,
        env={**lab_env(APP_HOSTS), "PROVIDER": "libvirt"},
        timeout=timeout,
        check=True,
    )
    return time.monotonic() - started


def virsh(*args: str) -> list[str]:
    return run("virsh", "-c", LIBVIRT, *args).stdout.split()


def lab_in_libvirt() -> dict[str, list[str]]:
    ours = lambda names: [name for name in names if name.startswith("flask-lb-lab")]  # noqa: E731
    return {
        "domains": ours(virsh("list", "--all", "--name")),
        "networks": ours(virsh("net-list", "--all", "--name")),
        # The box's base image stays, like a cached box; the machines' disks must go.
        "volumes": [
            volume
            for volume in ours(virsh("vol-list", "default"))
            if "_vagrant_box_image_" not in volume
        ],
    }


@pytest.fixture(scope="module")
def vm_lab():
    lab_script("destroy", timeout=900)
    seconds = lab_script("up", timeout=5400)
    print(f"\ncold `make lab PROVIDER=libvirt` (box present or built): {seconds:.0f} s")
    yield
    lab_script("destroy", timeout=900)


def test_the_machines_are_real_vms(vm_lab) -> None:
    domains = virsh("list", "--name")
    assert sorted(domains) == [f"flask-lb-lab-{name}" for name in ("app1", "app2", "balancer")]
    kernel = run("vagrant", "ssh", "app1", "-c", "uname -r", env=lab_env(APP_HOSTS)).stdout
    assert "cloud-amd64" in kernel, kernel  # the box's own kernel, not this host's


def vm_ssh(machine: str, command: str) -> str:
    return run("vagrant", "ssh", machine, "-c", command, env=lab_env(APP_HOSTS)).stdout


def test_no_known_password_and_no_insecure_key(vm_lab) -> None:
    for machine in ("balancer", "app1"):
        assert vm_ssh(machine, "sudo passwd -S root").split()[1] == "L", machine
        assert vm_ssh(machine, "sudo passwd -S vagrant").split()[1] in ("L", "NP"), machine
        # `vagrant up` replaced Vagrant's well-known key with one of its own (insert_key).
        keys = vm_ssh(machine, "cat ~/.ssh/authorized_keys")
        assert "vagrant insecure public key" not in keys, machine


def test_sixty_requests_reach_every_replica(vm_lab) -> None:
    answered: Counter[str] = Counter()
    for _ in range(60):
        status, body = http_get(f"{BALANCER}/", timeout=30)
        assert status == 200, body[:200]
        answered[re.search(r"Replica: (\S+)</p>", body.decode()).group(1)] += 1
    print(f"\n60 requests: {dict(sorted(answered.items()))}")
    assert set(answered) == {f"app{h}-r{r}" for h in (1, 2) for r in (1, 2, 3)}


def test_second_provision_changes_nothing(vm_lab) -> None:
    started = time.monotonic()
    recap = provision(app_hosts=APP_HOSTS)
    print(f"\nwarm re-provision on VMs: {time.monotonic() - started:.0f} s, recap {recap}")
    assert set(recap) == {"balancer", "app1", "app2"}
    assert all(counters["changed"] == 0 and counters["failed"] == 0 for counters in recap.values())


def test_destroy_removes_vms_volumes_and_networks(vm_lab) -> None:
    assert lab_in_libvirt()["domains"], "the lab's VMs should exist before destroy"
    lab_script("destroy", timeout=900)
    assert lab_in_libvirt() == {"domains": [], "networks": [], "volumes": []}
    status = run("vagrant", "status", env=lab_env(APP_HOSTS)).stdout
    assert "not created" in status and "running" not in status, status
    assert not os.path.exists(ROOT / ".lab" / "libvirt-driver")
