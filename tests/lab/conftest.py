"""The Vagrant lab (docker provider) for the end-to-end tests, destroyed after."""

import os

import molecule_runs
import pytest
from helpers import get_json, run, wait_for
from lab_helpers import BALANCER, docker_volumes, vagrant


@pytest.fixture(scope="package")
def lab():
    """`vagrant up --provider=docker` from nothing: balancer + 2 app hosts, Vagrant provisions."""
    run("scripts/lab", "destroy", timeout=600)  # nothing of an earlier lab may stay
    volumes_before = docker_volumes()
    vagrant("up", "--provider=docker", app_hosts=2)
    wait_for(lambda: get_json(f"{BALANCER}/healthz"), timeout=60, what="the balancer")
    molecule_runs.wait_for_all()  # the tests under load have the machine to themselves
    yield {"app_hosts": 2, "volumes_before": volumes_before}
    run("scripts/lab", "destroy", env={**os.environ, "LAB_APP_HOSTS": "3"}, timeout=600)
