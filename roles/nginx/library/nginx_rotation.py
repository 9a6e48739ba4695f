#!/usr/bin/python
"""The balancer's rotation: one upstream file per server, read, probed or set in one call."""

from __future__ import annotations

import fcntl
import json
import os
import re
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import NoReturn

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: nginx_rotation
short_description: Read, probe or set the servers of the balancer's rotation
description:
  - The rotation is one file per upstream server in I(path), C(NNN-HOST.conf), which nginx.conf
    includes in name order. Reads it, and with I(servers) makes the files of I(hosts) (every
    file when I(hosts) is not given) hold exactly those servers.
  - A change is made under a lock (two runs take turns), new lines are checked with C(nginx -t)
    before they land and the whole configuration after; when that fails the files that were
    there are put back. Then nginx reloads gracefully, and where servers left the rotation, the
    call returns only once the workers from before the reload, which may still use them, have
    exited: a server that left may be stopped then.
options:
  path:
    description: The upstream directory; where it is missing, nothing is read or changed.
    type: path
    required: true
  servers:
    description: The servers wanted ({host, index, address, port, replica}); omitted, no change.
    type: list
    elements: dict
  hosts:
    description: The hosts whose files I(servers) replace; omitted, every file.
    type: list
    elements: str
  server_params:
    description: What follows each server's address.
    type: str
    default: ""
  probe:
    description: URL path each server in rotation is asked for, from here (statuses returned).
    type: str
  keep_answering:
    description: With I(probe), refuse a change after which no server answers it with 200.
    type: bool
    default: false
  lock_timeout:
    description: Seconds to wait for another run's change.
    type: int
    default: 60
  workers_timeout:
    description: Seconds to wait for the old workers (nginx's worker_shutdown_timeout and a margin).
    type: int
    default: 40
"""

LOCK = "/run/lock/flask-lb-lab-rotation.lock"
FILE = re.compile(r"^[0-9]{3}-(.+)[.]conf$")


def render(server: dict, params: str) -> tuple[str, str]:
    """A server's file name and content."""
    name = f"{int(server['index']):03d}-{server['host']}.conf"
    label = server.get("replica") or server["host"]
    address = f"{server['address']}:{server['port']}"
    return name, f"# Ansible managed\n# {label}\nserver {address} {params};\n"


def parse(name: str, content: str) -> dict:
    replica = [*re.findall(r"(?m)^# (\S+)$", content), "?"][0]
    server = [*re.findall(r"(?m)^server (\S+)", content), "?"][0]
    return {"file": name, "host": FILE.match(name).group(1), "replica": replica, "server": server}


def servers_of(files: dict[str, str]) -> list[dict]:
    return [parse(name, text) for name, text in sorted(files.items())]


def read(path: str) -> dict[str, str]:
    files = {}
    for name in sorted(os.listdir(path)):
        if FILE.match(name):
            with open(os.path.join(path, name), encoding="utf-8") as handle:
                files[name] = handle.read()
    return files


def ask(server: str, path: str) -> dict:
    try:
        with urllib.request.urlopen(f"http://{server}{path}", timeout=2) as answer:
            status, body = answer.status, answer.read(65536)
    except urllib.error.HTTPError as error:
        return {"status": error.code}
    except (OSError, ValueError):
        return {"status": -1}  # nothing answers, as the uri module says
    try:
        return {"status": status, "json": json.loads(body)}
    except ValueError:
        return {"status": status}


def probe(servers: list[dict], path: str) -> list[dict]:
    """Asks every server at once: a host that is down costs one timeout, not one per server."""
    with ThreadPoolExecutor(max_workers=max(1, min(16, len(servers)))) as pool:
        answers = list(pool.map(lambda server: ask(server["server"], path), servers))
    return [server | answer for server, answer in zip(servers, answers, strict=True)]


def workers() -> set[int]:
    """The PIDs of nginx's worker processes, a retiring one included."""
    pids = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                if handle.read().startswith(b"nginx: worker process"):
                    pids.add(int(entry.name))
        except OSError:
            continue  # gone
    return pids


def write(path: str, name: str, content: str | None) -> None:
    """Replaces (or, for None, removes) one file; a half-written one is never included."""
    target = os.path.join(path, name)
    if content is None:
        if os.path.exists(target):
            os.unlink(target)
        return
    partial = os.path.join(path, f".{name}.partial")
    with open(partial, "w", encoding="utf-8") as handle:
        handle.write(content)
    os.chmod(partial, 0o644)
    os.replace(partial, target)


def rejected(contents: list[str]) -> str:
    """What nginx -t says of these server lines on their own (even where the running nginx.conf
    does not include the upstream yet); empty when it accepts them."""
    with tempfile.TemporaryDirectory() as scratch:
        conf = os.path.join(scratch, "nginx.conf")
        with open(conf, "w", encoding="utf-8") as handle:
            handle.write("events {}\nhttp {\n upstream check {\n" + "".join(contents) + " }\n}\n")
        check = subprocess.run(
            ["nginx", "-t", "-q", "-c", conf, "-g", f"pid {scratch}/nginx.pid;"],
            capture_output=True,
            text=True,
            check=False,
        )
    return check.stderr.strip() if check.returncode else ""


def lock(module: AnsibleModule, handle: int) -> None:
    deadline = time.monotonic() + module.params["lock_timeout"]
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                module.fail_json(
                    msg="Another run has been changing the balancer's rotation for "
                    f"{module.params['lock_timeout']} s ({LOCK} is held), so nothing was "
                    "changed. Run again once it has finished."
                )
            time.sleep(0.2)


def unchanged() -> dict:
    return {"changed": False, "written": [], "removed": [], "servers": []}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "servers": {"type": "list", "elements": "dict"},
            "hosts": {"type": "list", "elements": "str"},
            "server_params": {"type": "str", "default": ""},
            "probe": {"type": "str"},
            "keep_answering": {"type": "bool", "default": False},
            "lock_timeout": {"type": "int", "default": 60},
            "workers_timeout": {"type": "int", "default": 40},
        },
        supports_check_mode=True,
    )
    if not os.path.isdir(module.params["path"]):  # no balancer set up here yet
        module.exit_json(present=False, **unchanged())
    if module.params["servers"] is None or module.check_mode:  # nothing changes: no lock
        rotate(module)
    # Released on every way out: the interpreter may live on for later tasks (mitogen).
    handle = os.open(LOCK, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        lock(module, handle)
        rotate(module)
    finally:
        os.close(handle)


def rotate(module: AnsibleModule) -> NoReturn:
    path, wanted, hosts = module.params["path"], module.params["servers"], module.params["hosts"]
    who = ", ".join(hosts) if hosts is not None else "every host"
    result = unchanged()
    before = read(path)
    after = dict(before)
    if wanted is not None:
        owned = [name for name in before if hosts is None or FILE.match(name).group(1) in hosts]
        new = dict(render(server, module.params["server_params"]) for server in wanted)
        after = {name: text for name, text in before.items() if name not in owned} | new
        if not after:
            module.fail_json(
                msg=f"Taking {who} out of rotation would leave the balancer no server, so nothing "
                "was changed. Add another app host, or let the replicas change beside the running "
                "ones (the playbook does so for a lone app host)."
            )
        result["written"] = sorted(name for name in new if before.get(name) != new[name])
        result["removed"] = sorted(name for name in owned if name not in new)
        result["changed"] = bool(result["written"] or result["removed"])
    changes = result["written"] + result["removed"]
    result["servers"] = servers_of(after)
    if module.params["probe"]:
        result["servers"] = probe(result["servers"], module.params["probe"])
        answering = [server for server in result["servers"] if server["status"] == 200]
        if module.params["keep_answering"] and result["changed"] and not answering:
            module.fail_json(
                msg=f"Taking {who} out of rotation would leave the balancer no server that answers "
                f"{module.params['probe']} now, so nothing was changed.",
                servers=result["servers"],
            )
    if module._diff and changes:
        result["diff"] = [
            {
                "before_header": os.path.join(path, name),
                "after_header": os.path.join(path, name),
                "before": before.get(name, ""),
                "after": after.get(name, ""),
            }
            for name in changes
        ]
    if not changes or module.check_mode:
        module.exit_json(present=True, **result)

    refusal = rejected([after[name] for name in result["written"]]) if result["written"] else ""
    if refusal:
        module.fail_json(msg=f"nginx -t rejects the new servers, so nothing was changed: {refusal}")
    for name in changes:
        write(path, name, after.get(name))
    check = subprocess.run(["nginx", "-t", "-q"], capture_output=True, text=True, check=False)
    if check.returncode != 0:
        for name in changes:
            write(path, name, before.get(name))
        module.fail_json(
            msg="nginx -t rejected the new rotation, so the files that were there are back and "
            f"nginx was not reloaded: {check.stderr.strip()}"
        )
    is_active = ["systemctl", "is-active", "--quiet", "nginx"]
    result["reloaded"] = subprocess.run(is_active, check=False).returncode == 0
    if result["reloaded"]:
        old_workers = workers()
        reload = subprocess.run(["systemctl", "reload", "nginx"], capture_output=True, text=True)
        if reload.returncode != 0:
            module.fail_json(msg=f"nginx did not reload: {reload.stderr.strip()}")
        # An old worker may still send a request in flight (a POST, which no other server gets
        # again) to a server that left: the caller stops that server only after they are gone.
        left = {s["server"] for s in servers_of(before)} - {s["server"] for s in result["servers"]}
        if left:
            started = time.monotonic()
            while old_workers & workers():
                if time.monotonic() - started > module.params["workers_timeout"]:
                    module.fail_json(
                        msg=f"nginx's workers from before the reload still run after "
                        f"{module.params['workers_timeout']} s: the servers that left "
                        f"({', '.join(sorted(left))}) may still be in use",
                        **result,
                    )
                time.sleep(0.05)
            result["old_workers_s"] = round(time.monotonic() - started, 2)
    module.exit_json(present=True, **result)


if __name__ == "__main__":
    main()
