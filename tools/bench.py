#!/usr/bin/env python3
"""make bench: the lab against the seed stack, side by side in one run, loaded by wrk on 127.0.0.1.

Targets (all published on loopback): the lab's balancer (lab.yml's http port), the seed stack
(7152), a ceiling (nginx answering `return 200` by itself, 7153) and one lab replica loaded directly
(7154).
Runs alternate between targets at each concurrency; each figure is the median of the rounds.
Writes bench/results/results.md, results.json and results.png.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import readme_figures
from lab_config import ports

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "bench/seed"
RESULTS = ROOT / "bench/results"
PREFIX = "flask-lb-lab-bench"
TARGETS = {
    "lab": f"http://127.0.0.1:{ports()['http']}/",
    "seed": "http://127.0.0.1:7152/",
    "nginx return 200": "http://127.0.0.1:7153/",
    "one replica direct": "http://127.0.0.1:7154/",
}


def sh(*args: str, check: bool = True) -> str:
    result = subprocess.run(args, capture_output=True, text=True)
    if check and result.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return result.stdout.strip()


def wait_http(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            sys.exit(f"{url} does not answer")
        time.sleep(0.5)


def run_container(name: str, image: str, *options: str) -> None:
    sh("docker", "run", "--detach", "--name", f"{PREFIX}-{name}", *options, image)


def lab_gunicorn_env() -> list[str]:
    """The GUNICORN_* settings (NAME=value) of a running lab replica."""
    raw = sh(
        "docker",
        "exec",
        "flask-lb-lab-app1",
        "docker",
        "inspect",
        "--format",
        "{{json .Config.Env}}",
        "app-1",
        check=False,
    )
    env = json.loads(raw) if raw.startswith("[") else []
    return [item for item in env if item.startswith("GUNICORN_")]


def start_side_stacks(app_image: str, replica_env: list[str]) -> None:
    """The seed stack (3 replicas behind its own nginx), the nginx ceiling and one lab replica."""
    stop_side_stacks()
    shutil.copytree(ROOT / "app/wheelhouse", SEED / "app/wheelhouse", dirs_exist_ok=True)
    sh("docker", "build", "-q", "-t", f"{PREFIX}/seed-app", str(SEED / "app"))
    sh(
        "docker",
        "build",
        "-q",
        "-t",
        f"{PREFIX}/nginx",
        "-f",
        str(SEED / "nginx.Dockerfile"),
        str(SEED),
    )
    network = f"{PREFIX}-seed"
    sh("docker", "network", "create", network)
    for n in (1, 2, 3):
        run_container(
            f"seed-app-{n}", f"{PREFIX}/seed-app", "--network", network, "--network-alias", "app"
        )
    for name, port, conf in (("seed-nginx", 7152, "nginx.conf"), ("ceiling", 7153, "ceiling.conf")):
        run_container(
            name,
            f"{PREFIX}/nginx",
            "--network",
            network,
            "-p",
            f"127.0.0.1:{port}:80",
            "-v",
            f"{SEED / conf}:/etc/nginx/nginx.conf:ro",
        )
    # One replica as the lab runs it (same image, limits and settings), published on loopback.
    run_container(
        "replica",
        app_image,
        "-p",
        "127.0.0.1:7154:5000",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "--cap-drop",
        "ALL",
        "--memory",
        "256m",
        "--cpus",
        "1.0",
        *(f"--env={item}" for item in replica_env),
    )
    for url in list(TARGETS.values())[1:]:
        wait_http(url)


def stop_side_stacks() -> None:
    names = sh("docker", "ps", "-aq", "--filter", f"name={PREFIX}-", check=False).split()
    if names:
        sh("docker", "rm", "-f", *names, check=False)
    sh("docker", "network", "rm", f"{PREFIX}-seed", check=False)


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all cores), from /proc/stat."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(
        int, Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    )
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wrk(url: str, connections: int, seconds: int) -> dict[str, float]:
    # The machine's busy CPU over the run, less wrk's own (a waited-for child): what serving took.
    busy, wrk_cpu = busy_cpu_seconds(), children_cpu_seconds()
    out = sh(
        "wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s", "--latency", url
    )
    busy, wrk_cpu = busy_cpu_seconds() - busy, children_cpu_seconds() - wrk_cpu
    unit = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}

    def latency(pct: str) -> float:
        found = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
        if not found:
            sys.exit(f"cannot read the {pct}% latency from wrk:\n{out}")
        value, suffix = found.groups()
        return float(value) * unit[suffix]

    requests = int(re.search(r"^\s+(\d+) requests in", out, re.M).group(1))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    failed = (sum(map(int, errors.groups())) if errors else 0) + (
        int(non2xx.group(1)) if non2xx else 0
    )
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "errors": failed,
        "requests": requests,
        "cpu_ms_per_request": round((busy - wrk_cpu) / max(requests, 1) * 1000, 3),
    }


def median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def write_results(results: dict, levels: list[int], seconds: int, rounds: int) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        "# Benchmark: the lab against the seed stack",
        "",
        f"`make bench` ({time.strftime('%Y-%m-%d')}): wrk `-t2 -cN -d{seconds}s --latency`",
        f"on 127.0.0.1, targets alternated, median of {rounds} rounds, on this 2-core machine.",
        "",
        "## targets",
        "",
        "| target | conns | req/s | p50 ms | p99 ms | errors | CPU ms / request |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for c in levels:
        for name in TARGETS:
            r = results[name][str(c)]
            lines.append(
                f"| {name} | {c} | {r['rps']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
                f"{r['errors']:.0f} | {r['cpu_ms_per_request']:.2f} |"
            )
    lines += [
        "",
        "## ratios",
        "",
        "| conns | lab / seed req/s | lab / seed p99 | lab / seed CPU per request | "
        "lab / one direct | lab / (replicas x one direct) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for c in levels:
        lab, seed, one = (results[n][str(c)] for n in ("lab", "seed", "one replica direct"))
        all_direct = results["replicas"] * one["rps"]
        lines.append(
            f"| {c} | {lab['rps'] / seed['rps']:.2f} | {lab['p99_ms'] / seed['p99_ms']:.2f} | "
            f"{lab['cpu_ms_per_request'] / seed['cpu_ms_per_request']:.2f} | "
            f"{lab['rps'] / one['rps']:.2f} | {lab['rps'] / all_direct:.2f} |"
        )
    lines += [
        "",
        f"The lab ran {results['replicas']} replicas ({results['lab_gunicorn']}).",
        "Every target shares the same 2 cores with wrk: one replica loaded directly already keeps",
        "about one core busy, so the sum over all replicas loaded one by one is a figure no 2-core",
        "run can reach; the lab is compared with one replica direct instead (same cores, image and",
        "settings).",
        "CPU ms / request: the whole machine's busy CPU time during the run (/proc/stat), less",
        "wrk's own (its rusage), divided by the requests served; steadier than req/s on a shared",
        "machine.",
    ]
    (RESULTS / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    plot(results, levels)
    readme_figures.refresh("bench/results/results.md")


def plot(results: dict, levels: list[int]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (rps_ax, p99_ax, cpu_ax) = plt.subplots(1, 3, figsize=(15, 4.2))
    panels = (
        (rps_ax, "rps", "requests per second"),
        (p99_ax, "p99_ms", "p99 latency (ms)"),
        (cpu_ax, "cpu_ms_per_request", "CPU ms per request (whole machine, less wrk)"),
    )
    for ax, key, title in panels:
        for name in TARGETS:
            ax.plot(levels, [results[name][str(c)][key] for c in levels], marker="o", label=name)
        ax.set_xscale("log", base=2)
        ax.set_xticks(levels, [str(c) for c in levels])
        ax.set_xlabel("concurrent connections")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    rps_ax.set_yscale("log")
    p99_ax.set_yscale("log")
    rps_ax.legend(fontsize=8)
    fig.suptitle("flask-lb-lab vs the seed stack (wrk on 127.0.0.1, 2 cores)")
    fig.tight_layout()
    fig.savefig(RESULTS / "results.png", dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="8,32,128", help="connection counts")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--app-image", default="flask-lb-lab/app:1.0.0")
    args = parser.parse_args()
    levels = [int(c) for c in args.levels.split(",")]
    if not (
        1 <= args.seconds <= 60 and 1 <= args.rounds <= 5 and all(1 <= c <= 512 for c in levels)
    ):
        sys.exit("--seconds 1-60, --rounds 1-5, levels 1-512")
    wait_http(TARGETS["lab"], seconds=5)  # the lab must be up: make lab
    replicas = len(
        {
            json.load(urllib.request.urlopen(f"{TARGETS['lab']}api/whoami"))["replica"]
            for _ in range(60)
        }
    )
    replica_env = lab_gunicorn_env()  # the direct replica runs like the lab's
    start_side_stacks(args.app_image, replica_env)
    try:
        runs: dict[str, dict[int, list]] = {name: {c: [] for c in levels} for name in TARGETS}
        for c in levels:
            for round_ in range(args.rounds):
                order = list(TARGETS) if round_ % 2 == 0 else list(reversed(TARGETS))
                for name in order:
                    runs[name][c].append(wrk(TARGETS[name], c, args.seconds))
                    r = runs[name][c][-1]
                    print(
                        f"c={c:<4} {name:<20} {r['rps']:8.0f} req/s  p99 {r['p99_ms']:7.1f} ms  "
                        f"errors {r['errors']:.0f}",
                        flush=True,
                    )
        results = {name: {str(c): median_run(runs[name][c]) for c in levels} for name in TARGETS}
        results["replicas"] = replicas
        results["lab_gunicorn"] = " ".join(replica_env) or "unknown"
        write_results(results, levels, args.seconds, args.rounds)
    finally:
        stop_side_stacks()


if __name__ == "__main__":
    main()
