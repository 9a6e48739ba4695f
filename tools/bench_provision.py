#!/usr/bin/env python3
"""make bench-provision: how long users wait on the playbook, this tree against an older release.

Both trees drive the same running lab (docker provider): the older one from a git worktree whose
.lab is this tree's (same SSH key, image archives and CA). Rounds alternate old and new; each
playbook run is timed right after `ansible all -m ping` on the same lab, and the figure that
travels across days is their ratio. Every timed run must end with changed=0 on every host.

  warm     the running 2-host lab: playbook / ping, median of the rounds
  hosts    warm playbook with 1 and with 4 app hosts (machines added and removed here)
  cold     `scripts/lab up` from no machines (images present), old and new alternated
  deploy   a warm rolling deploy of a new release on the 2-host lab, what each tree's `make deploy`
           runs, under an 8-connection load: seconds and failed requests, old and new alternated
  molecule `molecule test -s <scenario>` for each scenario, old and new alternated (no lab needed)

Writes bench/results/provision.md, provision.json and provision.png.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import readme_figures
from ansible_recap import recap
from lab_config import app_archive, ports
from loadtest import Results, run_load

from bench import busy_cpu_seconds

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench/results"
# What the deploy rounds load: the lab's balancer on its forwarded port (lab.yml).
WHOAMI = f"http://127.0.0.1:{ports()['http']}/api/whoami"


def run(
    tree: Path, *args: str, app_hosts: int = 2, timeout: float = 1800, **extra_env: str
) -> tuple[float, str]:
    """Wall seconds and stdout of a command run in tree, with that tree's ansible.cfg."""
    env = {
        **os.environ,
        **extra_env,
        "PATH": f"{ROOT / '.venv/bin'}:{os.environ['PATH']}",
        "ANSIBLE_CONFIG": str(tree / "ansible.cfg"),
        "LAB_APP_HOSTS": str(app_hosts),
    }
    start = time.monotonic()
    result = subprocess.run(
        args, cwd=tree, env=env, capture_output=True, text=True, timeout=timeout
    )
    seconds = time.monotonic() - start
    if result.returncode != 0:
        tail = result.stdout[-3000:] + result.stderr[-2000:]
        sys.exit(f"{' '.join(args)} in {tree} failed:\n{tail}")
    return seconds, result.stdout


def playbook(tree: Path, app_hosts: int, warm: bool = True) -> float:
    seconds, out = run(tree, "ansible-playbook", "playbook.yml", app_hosts=app_hosts)
    changed = {host: counters["changed"] for host, counters in recap(out).items()}
    if len(changed) != app_hosts + 1 or (warm and any(changed.values())):
        sys.exit(f"{tree.name}: expected changed=0 on {app_hosts + 1} hosts, got {changed}")
    return seconds


def ping(tree: Path, app_hosts: int) -> float:
    """The yardstick, the same for every tree: Ansible's own linear strategy (Mitogen's would time
    its start-up of a Python per host, which the playbook run pays once)."""
    args = ("ansible", "all", "-m", "ansible.builtin.ping")
    return run(tree, *args, app_hosts=app_hosts, ANSIBLE_STRATEGY="linear")[0]


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def worktree(ref: str) -> Path:
    path = ROOT / ".lab/bench" / f"old-{git('rev-parse', '--short', ref)}"
    if not path.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(path), ref], cwd=ROOT, check=True)
    lab = path / ".lab"
    if not lab.is_symlink():
        lab.symlink_to(ROOT / ".lab")
    return path


def archives() -> None:
    """Both releases built, and their archives also as the old tree may read them: trees before
    the gzipped archive read .lab/images/app_VERSION.tar (and .tar.id), from the shared .lab."""
    for version in ("1.0.0", "2.0.0"):
        run(ROOT, "scripts/images", APP_VERSION=version)
        archive = app_archive(version)
        image_id = archive.with_name(f"{archive.name}.id").read_text()
        plain = archive.with_name(archive.name.removesuffix(".gz"))
        plain_id = plain.with_name(f"{plain.name}.id")
        if not plain.exists() or not plain_id.exists() or plain_id.read_text() != image_id:
            run(ROOT, "docker", "save", "--output", str(plain), f"flask-lb-lab/app:{version}")
            plain_id.write_text(image_id)


def warm_rounds(trees: dict[str, Path], rounds: int, app_hosts: int) -> dict:
    """Each timed run follows an untimed one of the same tree: trees whose roles render a file
    differently (an nginx setting) would otherwise rewrite it each time they take turns."""
    raw: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for index in range(rounds):
        order = list(trees) if index % 2 == 0 else list(reversed(trees))
        for name in order:
            playbook(trees[name], app_hosts, warm=False)
            ping_s = ping(trees[name], app_hosts)
            busy = busy_cpu_seconds()
            play_s = playbook(trees[name], app_hosts)
            cpu_s = busy_cpu_seconds() - busy
            raw[name].append(
                {
                    "ping_s": round(ping_s, 2),
                    "playbook_s": round(play_s, 2),
                    "cpu_s": round(cpu_s, 1),
                }
            )
            print(
                f"  {app_hosts} app hosts, round {index + 1}, {name}: "
                f"playbook {play_s:.1f} s ({cpu_s:.1f} CPU s), ping {ping_s:.2f} s",
                flush=True,
            )
    return {
        name: {
            "rounds": runs,
            "playbook_s": round(statistics.median(r["playbook_s"] for r in runs), 2),
            "ratio": round(statistics.median(r["playbook_s"] / r["ping_s"] for r in runs), 1),
            "cpu_s": round(statistics.median(r["cpu_s"] for r in runs), 1),
        }
        for name, runs in raw.items()
    }


def set_app_hosts(tree: Path, app_hosts: int) -> None:
    run(tree, "vagrant", "up", "--no-provision", "--provider=docker", app_hosts=app_hosts)


def cold_rounds(trees: dict[str, Path], rounds: int) -> dict:
    """Each tree's .vagrant knows only the machines it made: the last maker destroys them."""
    raw: dict[str, list[float]] = {name: [] for name in trees}
    last = trees["new"]
    for index in range(rounds):
        order = list(trees) if index % 2 == 0 else list(reversed(trees))
        for name in order:
            run(last, "scripts/lab", "destroy")
            seconds, _ = run(trees[name], "scripts/lab", "up")
            last = trees[name]
            raw[name].append(round(seconds, 1))
            print(f"  cold round {index + 1}, {name}: scripts/lab up {seconds:.1f} s", flush=True)
    run(last, "scripts/lab", "destroy")
    medians = {name: round(statistics.median(r), 1) for name, r in raw.items()}
    return {name: {"rounds": r, "median_s": medians[name]} for name, r in raw.items()}


def deploy_command(tree: Path, release: str) -> tuple[tuple[str, ...], dict[str, str]]:
    """What `make deploy APP_VERSION=release` runs in tree once the image is built: scripts/deploy
    where the tree has it (its image step finds the image built), else the playbook run that
    older trees' Makefile target made after its images prerequisite."""
    if (tree / "scripts/deploy").exists():
        return ("scripts/deploy",), {"APP_VERSION": release}
    return ("ansible-playbook", "playbook.yml", "-e", f"app_version={release}"), {}


def deploy_rounds(trees: dict[str, Path], rounds: int) -> dict:
    """Each round, each tree rolls the lab to the other release (2.0.0, 1.0.0, ...) with what its
    `make deploy` runs (deploy_command) under 8 connections at 100 requests/s; an untimed plain
    run of that tree first puts its own configuration on the lab, so the timed run changes the
    release alone. The release the lab keeps (.lab/app-version) is put back at the end."""
    raw: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    release, kept = "1.0.0", ROOT / ".lab/app-version"
    saved = kept.read_text() if kept.exists() else None
    for index in range(rounds):
        order = list(trees) if index % 2 == 0 else list(reversed(trees))
        for name in order:
            tree = trees[name]
            run(tree, "ansible-playbook", "playbook.yml", "-e", f"app_version={release}")
            release = "2.0.0" if release == "1.0.0" else "1.0.0"
            command, env = deploy_command(tree, release)
            stop, results = threading.Event(), Results()
            load = threading.Thread(
                target=run_load,
                args=(WHOAMI, 8, 10_000_000, 900, stop, 5, results),
                kwargs={"rate": 100},
            )
            load.start()
            time.sleep(1)
            seconds, out = run(tree, *command, **env)
            time.sleep(1)
            stop.set()
            load.join()
            changed = {host: c["changed"] for host, c in recap(out).items()}
            if not all(changed.get(host) for host in ("app1", "app2")):
                sys.exit(f"{name}: the deploy to {release} changed no replica: {changed}")
            raw[name].append(
                {"s": round(seconds, 1), "requests": results.total, "failed": results.failed}
            )
            print(
                f"  deploy round {index + 1}, {name} ({' '.join(command)}): {release} in "
                f"{seconds:.1f} s, {results.failed} of {results.total} requests failed",
                flush=True,
            )
    if saved is None:
        kept.unlink(missing_ok=True)
    else:
        kept.write_text(saved)
    run(ROOT, "ansible-playbook", "playbook.yml")  # back to this tree and the lab's release
    return {
        name: {"rounds": r, "median_s": round(statistics.median(x["s"] for x in r), 1)}
        for name, r in raw.items()
    }


def molecule_rounds(trees: dict[str, Path], rounds: int) -> dict:
    """Wall and machine CPU seconds of each scenario's whole `molecule test`, the scenarios of
    the new tree (the old one must have them too)."""
    scenarios = sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml"))
    raw: dict[str, dict[str, list[dict[str, float]]]] = {
        s: {name: [] for name in trees} for s in scenarios
    }
    for index in range(rounds):
        for number, scenario in enumerate(scenarios):
            order = list(trees) if (index + number) % 2 else list(reversed(trees))
            for name in order:
                busy = busy_cpu_seconds()
                seconds, _ = run(trees[name], "molecule", "test", "-s", scenario, timeout=3600)
                cpu_s = busy_cpu_seconds() - busy
                raw[scenario][name].append({"s": round(seconds, 1), "cpu_s": round(cpu_s, 1)})
                print(
                    f"  molecule {scenario}, round {index + 1}, {name}: {seconds:.1f} s "
                    f"({cpu_s:.1f} CPU s)",
                    flush=True,
                )
    return {
        scenario: {
            name: {
                "rounds": runs,
                "median_s": round(statistics.median(r["s"] for r in runs), 1),
                "cpu_s": round(statistics.median(r["cpu_s"] for r in runs), 1),
            }
            for name, runs in by_tree.items()
        }
        for scenario, by_tree in raw.items()
    }


def molecule_scenarios(part: dict) -> list[str]:
    return [scenario for scenario in part if scenario != "run"]


def molecule_totals(part: dict) -> dict[str, float]:
    """All scenarios' median seconds added up, for each tree."""
    return {
        name: sum(part[s][name]["median_s"] for s in molecule_scenarios(part))
        for name in ("old", "new")
    }


def measured(part: dict) -> str:
    run_ = part["run"]
    return f"{run_['date']}, `{run_['command']}`, old `{run_['old']}`, new `{run_['new']}`."


def write(results: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "provision.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        "# Benchmark: how long the playbook takes, this tree against an older release",
        "",
        "Old and new drive the same lab (docker provider) on this 2-core machine, rounds",
        "alternated, medians; each section names its run.",
        "The ratio divides each playbook run by `ansible all -m ping` timed just before it on the",
        "same lab, which keeps the figure comparable across days on a machine whose speed varies.",
        "The ping runs with Ansible's linear strategy for both trees (ANSIBLE_STRATEGY=linear), so",
        "the yardstick stays the same when a tree's ansible.cfg names Mitogen's.",
        "Plot: [provision.png](provision.png).",
        "",
    ]
    if "warm" in results:
        warm = results["warm"]
        lines += [
            "## warm",
            "",
            "`ansible-playbook playbook.yml` on the warm 2-host lab, changed=0 on every host;",
            measured(warm),
            "",
            "Machine CPU s: the busy time of all cores (/proc/stat) over the playbook run.",
            "",
            "| tree | playbook s | playbook / ping | machine CPU s "
            "| rounds: playbook s / ping s / CPU s |",
            "|---|---:|---:|---:|---|",
        ]
        for name in ("old", "new"):
            row = warm[name]
            rounds = ", ".join(
                f"{r['playbook_s']} / {r['ping_s']} / {r.get('cpu_s', '-')}" for r in row["rounds"]
            )
            cpu = row.get("cpu_s", "-")
            lines.append(f"| {name} | {row['playbook_s']} | {row['ratio']} | {cpu} | {rounds} |")
        ratio = warm["new"]["ratio"] / warm["old"]["ratio"]
        lines += ["", f"new ratio / old ratio: **{ratio:.2f}**"]
        if "cpu_s" in warm["old"] and "cpu_s" in warm["new"]:
            lines.append(
                f"new CPU / old CPU: **{warm['new']['cpu_s'] / warm['old']['cpu_s']:.2f}**"
            )
        lines.append("")
    if "hosts" in results:
        hosts = results["hosts"]
        lines += [
            "## hosts",
            "",
            "Warm re-provision by the number of app hosts, changed=0 on every host;",
            measured(hosts),
            "",
            "Machine CPU s as above. Cores busy is CPU s / s: while the cores are busy, the",
            "seconds can fall no further than the CPU seconds do.",
            "",
            "| tree | 1 app host s | 4 app hosts s | 4 / 1 | CPU s (1; 4) | CPU 4 / 1 "
            "| cores busy (1; 4) | rounds (1 host; 4 hosts) |",
            "|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        for name in ("old", "new"):
            one, four = hosts["1"][name], hosts["4"][name]
            rounds = "; ".join(
                ", ".join(str(r["playbook_s"]) for r in h[name]["rounds"])
                for h in (hosts["1"], hosts["4"])
            )
            busy = "; ".join(f"{h['cpu_s'] / h['playbook_s']:.2f}" for h in (one, four))
            lines.append(
                f"| {name} | {one['playbook_s']} | {four['playbook_s']} | "
                f"{four['playbook_s'] / one['playbook_s']:.2f} | {one['cpu_s']}; {four['cpu_s']} | "
                f"{four['cpu_s'] / one['cpu_s']:.2f} | {busy} | {rounds} |"
            )
        lines.append("")
    if "cold" in results:
        cold = results["cold"]
        lines += [
            "## cold",
            "",
            "Cold `scripts/lab up` (what `make lab` runs), images present, from no machines;",
            measured(cold),
            "",
            "| tree | median s | rounds s |",
            "|---|---:|---|",
        ]
        for name in ("old", "new"):
            rounds = ", ".join(map(str, cold[name]["rounds"]))
            lines.append(f"| {name} | {cold[name]['median_s']} | {rounds} |")
        speedup = cold["old"]["median_s"] / cold["new"]["median_s"]
        lines += ["", f"old / new: new is **{speedup:.2f}x** as fast", ""]
    if "molecule" in results:
        mol = results["molecule"]
        scenarios = molecule_scenarios(mol)
        lines += [
            "## molecule",
            "",
            "`molecule test -s <scenario>`, the whole sequence (destroy, create, converge,",
            "idempotence, verify, destroy), old and new alternated;",
            measured(mol),
            "",
            "| scenario | old s | new s | new / old | old CPU s | new CPU s "
            "| rounds s (old; new) |",
            "|---|---:|---:|---:|---:|---:|---|",
        ]
        for scenario in scenarios:
            old, new = mol[scenario]["old"], mol[scenario]["new"]
            rounds = "; ".join(", ".join(str(r["s"]) for r in row["rounds"]) for row in (old, new))
            lines.append(
                f"| {scenario} | {old['median_s']} | {new['median_s']} | "
                f"{new['median_s'] / old['median_s']:.2f} | {old['cpu_s']} | {new['cpu_s']} | "
                f"{rounds} |"
            )
        total = molecule_totals(mol)
        lines += [
            "",
            f"all scenarios: old {total['old']:.0f} s, new {total['new']:.0f} s, "
            f"new / old **{total['new'] / total['old']:.2f}**",
            "",
        ]
    if "deploy" in results:
        deploy = results["deploy"]
        lines += [
            "## deploy",
            "",
            "A warm rolling deploy of a new release (2.0.0 and 1.0.0 in turn, images built) on",
            "the 2-host lab, what each tree's `make deploy APP_VERSION=X` runs once the image",
            "is built (`scripts/deploy`, whose image step finds it built, where the tree has it;",
            "before it, `ansible-playbook playbook.yml -e app_version=X`, its image step left",
            "out), under 8 connections at",
            "100 requests/s (5 s client timeout), each after an untimed plain run of that tree;",
            measured(deploy),
            "",
            "| tree | median s | rounds: s (failed of requests) |",
            "|---|---:|---|",
        ]
        for name in ("old", "new"):
            rounds = ", ".join(
                f"{r['s']} ({r['failed']} of {r['requests']})" for r in deploy[name]["rounds"]
            )
            lines.append(f"| {name} | {deploy[name]['median_s']} | {rounds} |")
        ratio = deploy["new"]["median_s"] / deploy["old"]["median_s"]
        lines += ["", f"new / old: **{ratio:.2f}**", ""]
    (RESULTS / "provision.md").write_text("\n".join(lines))
    plot(results)
    print("\n".join(lines))
    readme_figures.refresh("bench/results/provision.md")


def plot(results: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [part for part in ("warm", "hosts", "cold", "deploy", "molecule") if part in results]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    for ax, part in zip(axes[0], panels, strict=True):
        data = results[part]
        if part == "warm":
            bars = {name: data[name]["ratio"] for name in ("old", "new")}
            ax.set_title("warm, 2 app hosts: playbook / ping")
        elif part == "hosts":
            bars = {
                f"{name}, {count} host{'s' * (count > 1)}": data[str(count)][name]["playbook_s"]
                for name in ("old", "new")
                for count in (1, 4)
            }
            ax.set_title("warm playbook (s) by app hosts")
        elif part in ("cold", "deploy"):
            bars = {name: data[name]["median_s"] for name in ("old", "new")}
            ax.set_title(f"{'cold scripts/lab up' if part == 'cold' else 'warm deploy'} (s)")
        else:
            bars = molecule_totals(data)
            ax.set_title("molecule test, all scenarios (s)")
        colours = ["#999" if label.startswith("old") else "#2a7" for label in bars]
        ax.bar(list(bars), list(bars.values()), color=colours)
        ax.grid(axis="y", alpha=0.3)
    olds = sorted({results[part]["run"]["old"] for part in panels})
    fig.suptitle(f"playbook wall time, old {' / '.join(olds)} against new (2 cores)")
    fig.tight_layout()
    fig.savefig(RESULTS / "provision.png", dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--old", required=True, help="git ref of the older release")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--parts", default="warm,hosts,cold", help="any of warm,hosts,cold,deploy,molecule"
    )
    parser.add_argument(
        "--rewrite", action="store_true", help="only write the table and plot from provision.json"
    )
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    if not parts <= {"warm", "hosts", "cold", "deploy", "molecule"}:
        sys.exit("--parts: any of warm,hosts,cold,deploy,molecule")
    if args.rewrite:
        write(json.loads((RESULTS / "provision.json").read_text()))
        return
    trees = {"old": worktree(args.old), "new": ROOT}
    archives()
    old = trees["old"].name.removeprefix("old-")
    changes = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/results")
    dirty = " + uncommitted changes" if changes else ""
    stamp = {
        "date": time.strftime("%Y-%m-%d"),
        "command": " ".join(["make bench-provision  # tools/bench_provision.py", *sys.argv[1:]]),
        "old": old,
        "new": git("rev-parse", "--short", "HEAD") + dirty,
    }
    if parts & {"warm", "hosts", "deploy"}:
        # An older tree's rolling play runs the balancer's check script that only its last play
        # installs: on a lab this tree made, that play runs first (--tags nginx: no host rolls).
        run(trees["old"], "ansible-playbook", "playbook.yml", "--tags", "nginx")
    # Parts not measured this time keep their last figures (each names its run and its old tree).
    saved = RESULTS / "provision.json"
    results = json.loads(saved.read_text()) if saved.exists() else {}
    if "warm" in parts:
        results["warm"] = {**warm_rounds(trees, args.rounds, app_hosts=2), "run": stamp}
    if "hosts" in parts:
        results["hosts"] = {"run": stamp}
        for count in (4, 1):
            set_app_hosts(ROOT, count)
            results["hosts"][str(count)] = warm_rounds(trees, args.rounds, app_hosts=count)
        playbook(ROOT, 2, warm=False)
        run(ROOT, "vagrant", "destroy", "--force", "app3", "app4", app_hosts=4)
    if "cold" in parts:
        results["cold"] = {**cold_rounds(trees, max(1, args.rounds - 1)), "run": stamp}
        run(ROOT, "scripts/lab", "up")
    if "deploy" in parts:
        results["deploy"] = {**deploy_rounds(trees, args.rounds), "run": stamp}
    if "molecule" in parts:
        results["molecule"] = {**molecule_rounds(trees, args.rounds), "run": stamp}
    write(results)


if __name__ == "__main__":
    main()
