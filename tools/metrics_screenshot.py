#!/usr/bin/env python3
"""A rolling deploy under load, as Prometheus graphs it: each replica's request rate by version.

    make screenshot     (needs make lab; SCREENSHOT_ARGS="--to 3.0.0" rolls out another version)

Runs make load's tool against the balancer, rolls the new version out with the playbook, waits
for the graph to show the new version's lines, takes a headless-browser screenshot of Prometheus's
graph, then rolls the lab back to its own version under the same load. Writes
docs/prometheus-rollout.png and docs/prometheus-rollout.md (the command, the load's report and each
version's final rates).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import readme_figures
from lab_config import ports
from loadtest import Results, report, run_load

ROOT = Path(__file__).resolve().parent.parent
BALANCER = f"http://127.0.0.1:{ports()['http']}/api/whoami"
PROMETHEUS = f"http://127.0.0.1:{ports()['prometheus']}"
EXPR = "replica_version:app_requests:rate30s"
SETTLE = 45  # seconds: the 30 s rate window and a few scrapes, before and after the rollout


def query(expr: str) -> list[dict]:
    url = f"{PROMETHEUS}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    with urllib.request.urlopen(url, timeout=10) as reply:
        return json.load(reply)["data"]["result"]


def playbook(*args: str, log: Path) -> None:
    with log.open("a") as out:
        result = subprocess.run(
            ["ansible-playbook", "playbook.yml", *args], cwd=ROOT, stdout=out, stderr=out
        )
    if result.returncode != 0:
        sys.exit(f"error: the playbook failed (log: {log})")


def screenshot(browser: str, seconds: int, out: Path) -> None:
    graph = urllib.parse.urlencode(
        {"g0.expr": EXPR, "g0.tab": "0", "g0.range_input": f"{seconds}s", "g0.stacked": "0"}
    )
    subprocess.run(
        [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--window-size=1400,1150", "--virtual-time-budget=15000", f"--screenshot={out}",
         f"{PROMETHEUS}/classic/graph?{graph}"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--to", default="2.0.0", help="the version rolled out")
    parser.add_argument(
        "--back",
        default=os.environ.get("APP_VERSION", "1.0.0"),
        help="the version the lab returns to",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs/prometheus-rollout.png")
    args = parser.parse_args()
    browser = shutil.which("chromium")
    if not browser:
        sys.exit("error: no chromium (apt-get install -y --no-install-recommends chromium)")
    query("up")  # Prometheus answers, or this stops here with the error
    for version in (args.to, args.back):
        subprocess.run(["scripts/images"], cwd=ROOT, env={**os.environ, "APP_VERSION": version},
                       check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    log = ROOT / ".lab/logs/metrics-screenshot.log"
    log.write_text("")
    results, stop = Results(), threading.Event()
    load = threading.Thread(
        target=run_load, args=(BALANCER, 8, 10_000_000, 900, stop, 10, results), daemon=True
    )
    load.start()
    started = time.monotonic()
    try:
        time.sleep(SETTLE)
        print(f"rolling {args.to} out under load", flush=True)
        playbook("-e", f"app_version={args.to}", log=log)
        time.sleep(SETTLE)
        args.out.parent.mkdir(exist_ok=True)
        screenshot(browser, int(time.monotonic() - started) + 15, args.out)
        rates = {
            f"{s['metric']['replica']} {s['metric']['version']}": round(float(s["value"][1]), 1)
            for s in query(EXPR)
        }
        print(f"screenshot: {args.out}; rolling back to {args.back} under load", flush=True)
        playbook("-e", f"app_version={args.back}", log=log)
    finally:
        stop.set()
        load.join()
    summary = report(results)
    print(summary)
    notes = args.out.with_suffix(".md")
    notes.write_text(
        f"# A rolling deploy in Prometheus ({args.out.name})\n\n"
        f"Made by `make screenshot` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}): "
        f"{args.back} to {args.to} and back, one app host at a time, under 8 connections.\n\n"
        f"## load\n\nThe load of both rollouts (`tools/loadtest.py`, 8 connections):\n\n"
        f"```\n{summary}\n```\n\n"
        f"## rates\n\n`{EXPR}` when the screenshot was taken (requests/s):\n\n"
        + "".join(f"- {name}: {rate}\n" for name, rate in sorted(rates.items()))
    )
    readme_figures.refresh(str(notes.relative_to(ROOT)))
    return 1 if results.failed else 0


if __name__ == "__main__":
    sys.exit(main())
