"""Every Molecule scenario, run in full in the background from the start of the session.

Two run at a time (MOLECULE_JOBS): one alone keeps less than one of the two cores busy, and no
two share a container, network or port. Meanwhile the tests that put no load on a lab run (unit,
image, bad input, the fresh clone's `vagrant up`, the lab's own `vagrant up`); the fixtures that
bring up a lab wait for every scenario before their tests put it under load.
"""

import os
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait

from helpers import ROOT, run

SCENARIOS = sorted(path.parent.name for path in ROOT.glob("molecule/*/molecule.yml"))
# The longest first, so the last two to finish end close together.
LONGEST_FIRST = ["nginx", "default", "app"]
_pool = ThreadPoolExecutor(max_workers=int(os.environ.get("MOLECULE_JOBS", "2")))
_runs: dict[str, Future] = {}


def molecule_test(scenario: str, env: dict[str, str]) -> tuple[int, str, float]:
    started = time.monotonic()
    command = ["molecule", "test", "--scenario-name", scenario]
    result = run(*command, check=False, timeout=1200, env=env)
    return result.returncode, result.stdout + result.stderr, time.monotonic() - started


def start(scenarios: set[str]) -> None:
    # Copied here, before any test patches the environment.
    env = {**os.environ, "NO_COLOR": "1", "PY_COLORS": "0", "ANSIBLE_FORCE_COLOR": "0"}
    order = sorted(scenarios, key=lambda s: LONGEST_FIRST.index(s) if s in LONGEST_FIRST else 9)
    _runs.update({scenario: _pool.submit(molecule_test, scenario, env) for scenario in order})


def result(scenario: str) -> tuple[int, str, float]:
    if scenario not in _runs:  # a session that did not collect it at the start
        start({scenario})
    return _runs[scenario].result()


def wait_for_all() -> None:
    wait(_runs.values())


def stop() -> None:
    """At the session's end: no scenario starts any more; a running one finishes (and cleans up)."""
    _pool.shutdown(wait=False, cancel_futures=True)
