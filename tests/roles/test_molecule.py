"""Every Molecule scenario, in full: create, converge, idempotence, testinfra verify, destroy.

The scenarios run in the background from the session's start (molecule_runs); these tests come
last and report each one's outcome.
"""

import molecule_runs
import pytest
from helpers import ROOT

pytestmark = [pytest.mark.docker, pytest.mark.slow]
LOGS = ROOT / ".lab/logs"


@pytest.mark.parametrize("scenario", molecule_runs.SCENARIOS)
def test_molecule_scenario(scenario: str) -> None:
    returncode, output, seconds = molecule_runs.result(scenario)
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"molecule-{scenario}.log"
    log.write_text(output)
    print(f"\nmolecule {scenario}: {seconds:.0f} s wall (log: {log})")
    assert returncode == 0, f"molecule test -s {scenario} failed; tail of {log}:\n{output[-5000:]}"
