"""Every Molecule scenario, in full: create, converge, idempotence, testinfra verify, destroy."""

import os
import time

import pytest
from helpers import ROOT, run

pytestmark = [pytest.mark.docker, pytest.mark.slow]
LOGS = ROOT / ".lab/logs"
# Every scenario there is, the whole lab (default) last.
SCENARIOS = sorted(
    (path.parent.name for path in ROOT.glob("molecule/*/molecule.yml")),
    key=lambda name: (name == "default", name),
)


@pytest.mark.parametrize("scenario", SCENARIOS)
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
