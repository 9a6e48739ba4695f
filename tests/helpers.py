"""Small helpers shared by the tests: commands, Docker and HTTP on loopback."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")
FAILURE_LINES = ("fatal: ", "failed: ", "ERROR!", "[ERROR]")


def run(
    *args: str, check: bool = True, timeout: float = 600, **kwargs
) -> subprocess.CompletedProcess:
    """Run a command, text in and out; on failure the error shows its output."""
    result = subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, cwd=kwargs.pop("cwd", ROOT), **kwargs
    )
    if check and result.returncode != 0:
        # An Ansible run's failures are often far from the end of its output.
        failures = ansible_failures(result.stdout)
        raise AssertionError(
            f"{' '.join(args)} exited {result.returncode}\n"
            + ("--- failures\n" + "\n".join(failures)[-4000:] + "\n" if failures else "")
            + f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"
        )
    return result


def ansible_failures(output: str) -> list[str]:
    """Each failure line of an Ansible run, with the indented lines of its message (YAML)."""
    failures: list[str] = []
    within = False
    for line in output.splitlines():
        if line.startswith(FAILURE_LINES):
            failures.append(line)
            within = True
        elif within and line.startswith(" "):
            failures.append(line)
        else:
            within = False
    return failures


def docker(*args: str, check: bool = True, timeout: float = 600) -> str:
    return run("docker", *args, check=check, timeout=timeout).stdout.strip()


def http_get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    """GET a URL; HTTP errors are answers too (status, body)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def get_json(url: str, timeout: float = 5) -> dict:
    status, body = http_get(url, timeout)
    assert status == 200, f"{url} answered {status}: {body[:200]!r}"
    return json.loads(body)


def wait_for(probe: Callable[[], T], timeout: float, what: str, interval: float = 0.5) -> T:
    """Call probe until it returns a truthy value without raising; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            value = probe()
            if value:
                return value
            last = value
        except (OSError, AssertionError, subprocess.SubprocessError) as error:
            last = error
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
