"""make bench-suite's sums: each test's time from JUnit XML, the old tree's tests in both runs."""

from pathlib import Path

from bench_suite import junit_times, medians, old_tests_total

OLD = """<testsuites><testsuite>
<testcase classname="tests.lab.test_lab" name="test_up" time="100.04"/>
<testcase classname="tests.lab.test_lab" name="test_renamed" time="7"/>
<testcase classname="tests.roles.test_molecule" name="test_molecule_scenario[app]" time="200">
<failure message="rc 2"/></testcase>
</testsuite></testsuites>"""
NEW = """<testsuites><testsuite>
<testcase classname="tests.lab.test_lab" name="test_up" time="60"/>
<testcase classname="tests.lab.test_lab" name="test_new_name" time="5"/>
<testcase classname="tests.roles.test_molecule" name="test_molecule_scenario[app]" time="90"/>
<testcase classname="tests.lab.test_lab" name="test_only_new" time="30"/>
</testsuite></testsuites>"""


def one_run(tmp_path: Path, xml: str, name: str) -> dict:
    path = tmp_path / f"{name}.xml"
    path.write_text(xml)
    return {"s": 1.0, "cpu_s": 1.0, "returncode": 0, "tests": junit_times(path), "molecule": {}}


def test_each_test_has_its_time_and_outcome(tmp_path: Path) -> None:
    tests = one_run(tmp_path, OLD, "old")["tests"]
    assert tests["tests.lab.test_lab::test_up"] == {"s": 100.0, "outcome": "passed"}
    assert tests["tests.roles.test_molecule::test_molecule_scenario[app]"]["outcome"] == "failure"


def test_only_the_old_trees_tests_found_in_both_are_summed(tmp_path: Path) -> None:
    part = {
        "old": medians([one_run(tmp_path, OLD, "old")]),
        "new": medians([one_run(tmp_path, NEW, "new")]),
    }
    # test_renamed is missing from the new run, so it counts in neither sum; test_only_new is new.
    assert old_tests_total(part) == {"old": 300.0, "new": 150.0}


def test_medians_take_each_test_over_the_rounds_it_ran_in(tmp_path: Path) -> None:
    runs = [one_run(tmp_path, OLD, "a"), one_run(tmp_path, NEW, "b"), one_run(tmp_path, NEW, "c")]
    row = medians(runs)
    assert row["tests"]["tests.lab.test_lab::test_up"]["s"] == 60.0
    assert row["tests"]["tests.lab.test_lab::test_renamed"]["outcomes"] == [
        "passed",
        "absent",
        "absent",
    ]
