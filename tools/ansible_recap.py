"""The PLAY RECAP counters of an ansible-playbook run, by host (read by lab tests and benches)."""

import re


def recap(log: str) -> dict[str, dict[str, int]]:
    counters_by_host = log.rsplit("PLAY RECAP", 1)[1]
    return {
        host: {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", counters)}
        for host, counters in re.findall(r"^(\S+)\s+:\s+(.*)$", counters_by_host, re.MULTILINE)
    }
