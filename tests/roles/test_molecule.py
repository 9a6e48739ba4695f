"""Every Molecule scenario, in full: create, converge, idempotence, testinfra verify, destroy.

Two scenarios run at a time (MOLECULE_JOBS): one alone keeps less than one of the two cores busy,
and no two share a container, network or port.
"""

import os
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
from helpers import ROOT, run

pytestmark = [pytest.mark.docker, pytest.mark.slow]
LOGS = ROOT / ".lab/logs"
SCENARIOS = sorted(path.parent.name for path in ROOT.glob("molecule/*/molecule.yml"))
# The longest first, so the last two to finish end close together.
LONGEST_FIRST = ["nginx", "default", "app"]


def molecule_test(scenario: str) -> tuple[int, str, float]:
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
    return result.returncode, result.stdout + result.stderr, time.monotonic() - started


@pytest.fixture(scope="module")
def scenario_runs() -> Iterator[dict[str, Future]]:
    order = sorted(SCENARIOS, key=lambda s: LONGEST_FIRST.index(s) if s in LONGEST_FIRST else 9)
    with ThreadPoolExecutor(max_workers=int(os.environ.get("MOLECULE_JOBS", "2"))) as pool:
        yield {scenario: pool.submit(molecule_test, scenario) for scenario in order}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(scenario: str, scenario_runs: dict[str, Future]) -> None:
    returncode, output, seconds = scenario_runs[scenario].result()
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"molecule-{scenario}.log"
    log.write_text(output)
    print(f"\nmolecule {scenario}: {seconds:.0f} s wall (log: {log})")
    assert returncode == 0, f"molecule test -s {scenario} failed; tail of {log}:\n{output[-5000:]}"
