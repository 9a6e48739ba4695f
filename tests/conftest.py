"""The suite's order: Molecule in the background from the start, its results last; among the lab's
tests, those that need no running lab first (the fresh clone's `vagrant up`, the Vagrantfile's),
while Molecule still runs (molecule_runs)."""

import molecule_runs
import pytest


def stage(item: pytest.Item) -> int:
    path = item.path.as_posix()
    if path.endswith("tests/roles/test_molecule.py"):
        return 3
    if path.endswith(("tests/lab/test_vagrant_up.py", "tests/lab/test_vagrantfile.py")):
        return 1
    return 2 if "/tests/lab/" in path else 0


# Last, so --failed-first and the like reorder within a stage, never a lab test before the fresh
# clone's (which removes any running lab).
@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=stage)  # stable: each stage keeps the order it had


def pytest_collection_finish(session: pytest.Session) -> None:
    option = session.config.option
    if session.testsfailed or option.collectonly or option.setupplan or option.showfixtures:
        return
    molecule_runs.start(
        {item.callspec.params["scenario"] for item in session.items if stage(item) == 3}
    )


def pytest_sessionfinish() -> None:
    molecule_runs.stop()
