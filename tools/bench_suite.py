#!/usr/bin/env python3
"""make bench-suite: the whole test suite, an older release against this tree, back to back.

Each tree runs `make test` (what .ci/run runs) with CI=true from a clean clone of its own, so each
builds its venv, images and labs as CI does. Rounds alternate old and new; every run is timed in
wall and machine CPU seconds, and pytest's JUnit XML gives each test's time (setup, call and
teardown). The figure issue 15 asks for is the time of the old tree's tests, taken in both runs:
a test the new tree renamed or dropped is listed, not silently left out.

Writes bench/results/suite.md and suite.json; logs and XML under .lab/bench/.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import readme_figures
from bench_provision import measured

from bench import busy_cpu_seconds

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench/results"
LOGS = ROOT / ".lab/bench"
# Set by this tree's make or venv; the clone's own Makefile sets its own.
DROPPED_ENV = ("VIRTUAL_ENV", "PYTHONPATH", "ANSIBLE_CONFIG", "MAKEFLAGS", "MFLAGS", "MAKELEVEL")
MOLECULE_LINE = re.compile(r"^molecule (\S+): (\d+) s wall", re.M)


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def clean_env() -> dict[str, str]:
    """This shell's environment as a new CI shell has it: no venv of this tree on PATH."""
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    env["PATH"] = ":".join(p for p in env["PATH"].split(":") if "/.venv/" not in p + "/")
    return {**env, "CI": "true"}


def junit_times(xml: Path) -> dict[str, dict]:
    """Each test's seconds and outcome, keyed by its module path and name."""
    tests = {}
    for case in ET.parse(xml).iter("testcase"):
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = child.tag
        key = f"{case.get('classname')}::{case.get('name')}"
        tests[key] = {"s": round(float(case.get("time", 0)), 1), "outcome": outcome}
    return tests


def suite_run(name: str, ref: str, index: int, target: str) -> dict:
    """One clean clone of ref and one `make <target>` in it, timed."""
    LOGS.mkdir(parents=True, exist_ok=True)
    stem = LOGS / f"suite-{name}-{index + 1}"
    log_path, xml = stem.with_suffix(".log"), stem.with_suffix(".xml")
    # A run that stops before pytest ends writes no XML; an older round's must not stand in.
    xml.unlink(missing_ok=True)
    clone = Path(tempfile.mkdtemp(prefix="bench-suite-")) / "m"
    git("clone", "-q", str(ROOT), str(clone))
    git("-C", str(clone), "checkout", "-q", "--detach", ref)
    pytest = f"pytest -v --durations=15 --junitxml={xml}"
    busy, start = busy_cpu_seconds(), time.monotonic()
    with open(log_path, "w") as log:
        result = subprocess.run(
            ["make", target, f"PYTEST={pytest}"],
            cwd=clone,
            env=clean_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=2 * 3600,
        )
    seconds, cpu_s = time.monotonic() - start, busy_cpu_seconds() - busy
    shutil.rmtree(clone.parent, ignore_errors=True)
    output = log_path.read_text()
    tests = junit_times(xml) if xml.exists() else {}
    outcomes = [t["outcome"] for t in tests.values()]
    print(
        f"  round {index + 1}, {name} ({ref}): make {target} {seconds:.0f} s, rc "
        f"{result.returncode}, {outcomes.count('passed')} of {len(tests)} passed (log: {log_path})",
        flush=True,
    )
    return {
        "s": round(seconds, 1),
        "cpu_s": round(cpu_s, 1),
        "returncode": result.returncode,
        "tests": tests,
        "molecule": {s: int(w) for s, w in MOLECULE_LINE.findall(output)},
    }


def old_tests_total(part: dict) -> dict[str, float]:
    """The old tree's tests, each tree's median seconds added up (only those the new tree has)."""
    common = [t for t in part["old"]["tests"] if t in part["new"]["tests"]]
    return {name: sum(part[name]["tests"][t]["s"] for t in common) for name in ("old", "new")}


def medians(runs: list[dict]) -> dict:
    """Median seconds of each test, each scenario and the whole run over the rounds."""
    tests = {t for r in runs for t in r["tests"]}
    scenarios = {s for r in runs for s in r["molecule"]}
    return {
        "s": round(statistics.median(r["s"] for r in runs), 1),
        "cpu_s": round(statistics.median(r["cpu_s"] for r in runs), 1),
        "tests": {
            t: {
                "s": round(
                    statistics.median(r["tests"][t]["s"] for r in runs if t in r["tests"]), 1
                ),
                "outcomes": [r["tests"].get(t, {}).get("outcome", "absent") for r in runs],
            }
            for t in sorted(tests)
        },
        "molecule": {
            s: statistics.median(r["molecule"][s] for r in runs if s in r["molecule"])
            for s in sorted(scenarios)
        },
        "rounds": [{"s": r["s"], "cpu_s": r["cpu_s"], "returncode": r["returncode"]} for r in runs],
    }


def by_file(tests: dict) -> dict[str, float]:
    files: dict[str, float] = {}
    for test, row in tests.items():
        module = test.split("::")[0]
        files[module] = files.get(module, 0) + row["s"]
    return files


def write(results: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "suite.json").write_text(json.dumps(results, indent=2) + "\n")
    old, new = results["old"], results["new"]
    total = old_tests_total(results)
    gone = sorted(t for t in old["tests"] if t not in new["tests"])
    lines = [
        "# Benchmark: the test suite, an older release against this tree",
        "",
        "Each tree runs `make test` (what .ci/run runs) with CI=true from a clean clone of its",
        "own, rounds alternated, back to back on this 2-core machine; medians. A test's time is",
        "pytest's (JUnit XML: setup, call and teardown).",
        "",
        "## suite",
        "",
        "`make test` from a clean clone of each tree, back to back;",
        measured(results),
        "",
        "Machine CPU s: the busy time of all cores (/proc/stat) over the run.",
        "",
        "| tree | make test s | machine CPU s | tests | not passed | rounds: s / CPU s / rc |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, row in (("old", old), ("new", new)):
        failed = sum(1 for t in row["tests"].values() if set(t["outcomes"]) != {"passed"})
        rounds = ", ".join(f"{r['s']} / {r['cpu_s']} / {r['returncode']}" for r in row["rounds"])
        lines.append(
            f"| {name} | {row['s']} | {row['cpu_s']} | {len(row['tests'])} | {failed} | {rounds} |"
        )
    lines += [
        "",
        f"old tree's {len(old['tests']) - len(gone)} tests, timed in both runs: "
        f"old {total['old']:.0f} s, new {total['new']:.0f} s, new / old "
        f"**{total['new'] / total['old']:.2f}**",
        f"whole `make test`, new ({len(new['tests'])} tests) / old ({len(old['tests'])} tests): "
        f"**{new['s'] / old['s']:.2f}**",
    ]
    if gone:
        lines.append(f"old tests the new tree does not have: {', '.join(gone)}")
    lines += [
        "",
        "## suite-files",
        "",
        "The old tree's tests by file, in seconds (the new tree's own tests are not in them).",
        "The new tree runs Molecule in the background from the start: its wait for the",
        "scenarios is in the setup of its first lab test (tests.lab.test_changes), and",
        "tests.roles.test_molecule only reads their outcomes;",
        measured(results),
        "",
        "| file | old s | new s | new / old |",
        "|---|---:|---:|---:|",
    ]
    common = {t: new["tests"][t] for t in old["tests"] if t in new["tests"]}
    old_files, new_files = by_file(old["tests"]), by_file(common)
    for module, seconds in old_files.items():
        now = new_files.get(module, 0)
        ratio = f"{now / seconds:.2f}" if seconds >= 1 else "-"
        lines.append(f"| {module} | {seconds:.1f} | {now:.1f} | {ratio} |")
    lines += [
        "",
        "## suite-molecule",
        "",
        "Each scenario's `molecule test` wall time, as the suite prints it. The new tree runs two",
        "scenarios at a time, beside the tests that need no running lab and two `vagrant up`s, so",
        "each of its figures includes sharing the two cores;",
        measured(results),
        "",
        "| scenario | old s | new s |",
        "|---|---:|---:|",
    ]
    for scenario in sorted(set(old["molecule"]) | set(new["molecule"])):
        cells = [str(row["molecule"].get(scenario, "-")) for row in (old, new)]
        lines.append(f"| {scenario} | {' | '.join(cells)} |")
    lines.append("")
    (RESULTS / "suite.md").write_text("\n".join(lines))
    print("\n".join(lines))
    readme_figures.refresh("bench/results/suite.md")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--old", required=True, help="git ref of the older release")
    parser.add_argument("--rounds", type=int, default=1, help="each run takes 30 to 60 minutes")
    parser.add_argument("--target", default="test", help="make target (test-unit to try the tool)")
    parser.add_argument(
        "--rewrite", action="store_true", help="only write the tables from suite.json"
    )
    args = parser.parse_args()
    if args.rewrite:
        write(json.loads((RESULTS / "suite.json").read_text()))
        return
    if git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/results"):
        sys.exit("bench-suite clones HEAD: commit the changes first")
    refs = {
        "old": git("rev-parse", "--short", args.old),
        "new": git("rev-parse", "--short", "HEAD"),
    }
    runs: dict[str, list[dict]] = {"old": [], "new": []}
    for index in range(args.rounds):
        for name in ("old", "new") if index % 2 == 0 else ("new", "old"):
            runs[name].append(suite_run(name, refs[name], index, args.target))
    results = {
        "run": {
            "date": time.strftime("%Y-%m-%d"),
            "command": " ".join(["make bench-suite  # tools/bench_suite.py", *sys.argv[1:]]),
            **refs,
        },
        **{name: medians(r) for name, r in runs.items()},
    }
    write(results)


if __name__ == "__main__":
    main()
