#!/usr/bin/env python3
"""Asks the balancer who answers, a few rounds, and prints the replicas it saw.

usage: lab_probe.py [URL] [--requests N]
    URL: default http://127.0.0.1:PORT, PORT lab.yml's ports.http; N: default 3 rounds of replicas
"""

import argparse
import json
import sys
import time
import urllib.request
from collections import Counter

from lab_config import ports


def whoami(base_url: str) -> dict:
    with urllib.request.urlopen(f"{base_url}/api/whoami", timeout=5) as reply:
        return json.load(reply)


def wait_until_answering(base_url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            whoami(base_url)
            return
        except OSError as error:
            if time.monotonic() > deadline:
                sys.exit(f"{base_url} does not answer after {seconds:.0f} s: {error}")
            time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", default=f"http://127.0.0.1:{ports()['http']}")
    parser.add_argument("--requests", type=int, default=0, help="requests to send (default: auto)")
    args = parser.parse_args()
    base_url = args.url.rstrip("/")
    wait_until_answering(base_url)

    seen: Counter[tuple[str, str, str, str]] = Counter()
    requests = args.requests or 12
    for _ in range(requests):
        answer = whoami(base_url)
        seen[answer["host"], answer["replica"], answer["container_id"], answer["version"]] += 1
    if not args.requests:  # auto: three rounds over every replica seen so far
        for _ in range(3 * len(seen) - requests):
            answer = whoami(base_url)
            seen[answer["host"], answer["replica"], answer["container_id"], answer["version"]] += 1

    print(f"\nThe lab answers at {base_url}/  — try:  curl {base_url}/\n")
    print(f"{'app host':<12}{'replica':<16}{'container':<16}{'version':<10}answers")
    for (host, replica, container, version), count in sorted(seen.items()):
        print(f"{host:<12}{replica:<16}{container:<16}{version:<10}{count}")
    print(f"\n{len(seen)} replicas answered {sum(seen.values())} requests.")


if __name__ == "__main__":
    main()
