"""After the lab's own tests: plain `vagrant up` in a fresh clone, as a new user types it."""

import os
import time

import pytest
from helpers import ROOT, run
from lab_helpers import balancer_answers, lab_leftovers

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_plain_vagrant_up_from_a_fresh_clone(tmp_path) -> None:
    clone = tmp_path / "flask-lb-lab"
    run("git", "clone", "--quiet", str(ROOT), str(clone))
    # A new user's shell: no venv on PATH, none of the lab's variables.
    path = [part for part in os.environ["PATH"].split(":") if ".venv" not in part]
    ours = ("ANSIBLE_", "LAB_", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)} | {"PATH": ":".join(path)}
    volumes_before = set(run("docker", "volume", "ls", "--quiet").stdout.split())
    started = time.monotonic()
    try:
        run("vagrant", "up", cwd=clone, env=env, timeout=1800)
        print(f"\nvagrant up in a fresh clone: {time.monotonic() - started:.0f} s")
        answered = balancer_answers(60)
        print(f"answers: {dict(sorted(answered.items()))}")
        assert len(answered) == 6
    finally:
        run("vagrant", "destroy", "-f", cwd=clone, env=env, timeout=600)
    assert lab_leftovers() == {"containers": [], "networks": []}
    volumes_after = set(run("docker", "volume", "ls", "--quiet").stdout.split())
    assert volumes_after <= volumes_before, volumes_after - volumes_before
