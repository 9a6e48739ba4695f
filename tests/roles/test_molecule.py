"""Every Molecule scenario, in full: create, converge, idempotence, testinfra verify, destroy."""

import os
import time

import pytest
from helpers import ROOT, run

pytestmark = [pytest.mark.docker, pytest.mark.slow]
LOGS = ROOT / ".lab/logs"


@pytest.mark.parametrize("scenario", ["docker", "app", "nginx", "firewall", "default"])
def test_molecule_scenario(scenario: str) -> None:
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"molecule-{scenario}.log"
    started = time.monotonic()
    result = run(
        "molecule",
        "test",
        "--scenario-name",
        scenario,
        check=False,
        timeout=1200,
        env={**os.environ, "NO_COLOR": "1", "PY_COLORS": "0", "ANSIBLE_FORCE_COLOR": "0"},
    )
    log.write_text(result.stdout + result.stderr)
    print(f"\nmolecule {scenario}: {time.monotonic() - started:.0f} s wall (log: {log})")
    assert result.returncode == 0, (
        f"molecule test -s {scenario} failed; tail of {log}:\n"
        + (result.stdout + result.stderr)[-5000:]
    )
