"""Every change to the replicas is a rolling one: under load, nothing fails, and the balancer's
upstream follows the inventory whichever hosts a run touches (issue 12)."""

import json
import os
import re
import shutil
import signal
import subprocess
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from helpers import ROOT, docker, get_json, run, wait_for
from lab_config import app_archive
from lab_helpers import (
    ADDRESSES,
    BALANCER,
    BROKEN_RELEASE,
    UPSTREAM,
    Load,
    assert_rotation,
    build_broken_release,
    drained_hosts,
    lab_env,
    node,
    plays_named,
    provision,
    provision_log,
    recap,
    replica_batches,
    running_replicas,
    save_archive,
    upstream_text,
    vagrant,
    versions_by_replica,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]
GROUP_VARS = ROOT / "inventories/vagrant/group_vars"
# An engine setting that differs from the inventory's: a larger log size.
ENGINE_DEFAULTS = {
    "log-driver": "json-file",
    "log-opts": {"max-size": "20m", "max-file": "3"},
    "live-restore": True,
}


def changed_under_load(
    *extra_vars: str, app_hosts: int = 2, limit: str = "", tags: str = ""
) -> int:
    started = time.monotonic()
    with Load(connections=8) as load:
        recap = provision(*extra_vars, app_hosts=app_hosts, limit=limit, tags=tags)
    took = time.monotonic() - started
    what = " ".join(extra_vars) or (f"--limit {limit}" if limit else f"{app_hosts} app host(s)")
    what += f" --tags {tags}" if tags else ""
    print(f"\n{what}: {took:.0f} s, {load.results.total} requests, {load.results.failed} failed")
    assert load.results.failed == 0, load.results.statuses | load.results.errors
    assert all(counters["failed"] == 0 for counters in recap.values())
    return sum(counters["changed"] for counters in recap.values())


@contextmanager
def group_vars(group: str, **settings: int | str):
    """inventories/vagrant/group_vars/GROUP.yml with these settings, as a user edits it (what
    every later run keeps); the file as it was afterwards."""
    path = GROUP_VARS / f"{group}.yml"
    text = path.read_text()
    edited = text
    for name, value in settings.items():
        edited = re.sub(rf"^{re.escape(name)}: \S+", f"{name}: {value}", edited, flags=re.M)
    assert yaml.safe_load(edited) == yaml.safe_load(text) | settings
    replace_text(path, edited)
    try:
        yield
    finally:
        replace_text(path, text)


def replace_text(path: Path, text: str) -> None:
    """PATH holds TEXT, or (interrupted) what it held: never half of either."""
    new = path.with_name(f".{path.name}.new")
    new.write_text(text)
    os.replace(new, path)


def balancing_method() -> str:
    """The directives before the server list in the balancer's upstream, as nginx runs it: its
    method ('' for round robin)."""
    block = node("balancer", "nginx", "-T").stdout.split("upstream flask_app {", 1)[1]
    lines = (line.strip() for line in block.split("include ", 1)[0].splitlines())
    return " ".join(line for line in lines if line and not line.startswith("#"))


def test_ports_replica_counts_and_the_method_change_under_load(lab) -> None:
    # app_port_base 8001 -> 9001 -> 7001 and app_replicas 3 -> 5 -> 2, each run under load: first
    # for one run (-e), then in the inventory's file, which a run with no -e follows. A run by
    # tags is a rolling change too: --tags app moves the replicas to new ports, each host drained
    # and back, and the new ports answer the balancer with no firewall or nginx run (the rules
    # name sources, not ports). With the files, the balancing method changes in its one place,
    # group_vars/balancer.yml. The next test's plain run, the files as they were, brings 8001, 3
    # replicas and least_conn back, and every role in step (the tagged runs leave monitoring's
    # targets as they were).
    assert balancing_method() == "least_conn;"
    assert changed_under_load("app_port_base=9001", "app_replicas=5", tags="app") > 0
    assert_rotation(["app1", "app2"], 5, 9001)
    with (
        group_vars("app", app_port_base=7001, app_replicas=2),
        group_vars("balancer", nginx_balancing_method="round_robin"),
    ):
        assert changed_under_load(tags="app,firewall,nginx") > 0
        assert balancing_method() == ""  # round robin, nginx's own
    assert_rotation(["app1", "app2"], 2, 7001)


def engine_started(host: str) -> str:
    return node(host, "systemctl", "show", "docker", "-p", "ActiveEnterTimestamp").stdout.strip()


def engine_restart_window(host: str) -> tuple[float, float]:
    """When the engine last stopped and became active again, in seconds since the epoch."""
    shown = node(host, "systemctl", "show", "docker", "--timestamp=us+utc", "-p",
                 "ActiveExitTimestamp", "-p", "ActiveEnterTimestamp").stdout  # fmt: skip
    times = {
        name: datetime.strptime(value, "%a %Y-%m-%d %H:%M:%S.%f UTC").replace(tzinfo=UTC)
        for name, value in (line.split("=", 1) for line in shown.splitlines())
    }
    return times["ActiveExitTimestamp"].timestamp(), times["ActiveEnterTimestamp"].timestamp()


class RotationSamples:
    """The app hosts the balancer's upstream files name, sampled on the balancer every 0.2 s with
    its clock (the machine's), for as long as the with block runs (at most 10 minutes)."""

    STOP = "/run/lab-rotation-samples-stop"

    def __enter__(self) -> "RotationSamples":
        node("balancer", "rm", "-f", self.STOP)
        loop = (
            f"for i in $(seq 3000); do [ -e {self.STOP} ] && break;"
            f" echo $(date +%s.%N) $(ls {UPSTREAM}); sleep 0.2; done"
        )
        command = ["docker", "exec", "flask-lb-lab-balancer", "sh", "-c", loop]
        self.sampler = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        return self

    def __exit__(self, *_) -> None:
        node("balancer", "touch", self.STOP)
        out, _ = self.sampler.communicate(timeout=30)
        self.samples = [
            (float(line.split()[0]), set(re.findall(r"-(app\d+)\.conf", line)))
            for line in out.splitlines()
        ]

    def around(self, start: float, end: float) -> list[set[str]]:
        """The samples from start to end, and the first one after it."""
        later = [hosts for at, hosts in self.samples if at >= start]
        within = sum(at <= end for at, _ in self.samples if at >= start)
        return later[: within + 1]


def log_max_size(host: str) -> str:
    return json.loads(node(host, "cat", "/etc/docker/daemon.json").stdout)["log-opts"]["max-size"]


def running_image(host: str) -> str:
    return node(host, "docker", "inspect", "--format", "{{.Image}}", "app-1").stdout.strip()


def assert_engines_restarted_one_at_a_time(
    before: dict[str, str], rotation: RotationSamples
) -> dict[str, str]:
    """Each engine restarted, and while it did, its host was out of rotation and the other in."""
    after = {host: engine_started(host) for host in ADDRESSES}
    assert all(after[host] != before[host] for host in ADDRESSES), (before, after)
    for host, other in (("app1", "app2"), ("app2", "app1")):
        seen = rotation.around(*engine_restart_window(host))
        assert seen, f"no sample of the rotation around {host}'s engine restart"
        assert all(host not in hosts and other in hosts for hosts in seen), (host, seen)
    return after


def test_an_engine_setting_and_an_image_rebuilt_under_the_same_tag_roll_out_drained(
    lab, tmp_path
) -> None:
    # One plain run changes both: each engine restarts with its new daemon.json on a drained host,
    # one host at a time, and the replicas move to the rebuilt image (and back to the inventory's
    # ports and count, where the previous test left others); the run back undoes both.
    engine = json.dumps({"docker_daemon_defaults": ENGINE_DEFAULTS})
    inventory_size = log_max_size("app1")
    assert inventory_size != "20m"
    tag, archive = "flask-lb-lab/app:1.0.0", app_archive("1.0.0")
    archive_id = archive.with_name(f"{archive.name}.id")
    original = docker("image", "inspect", "--format", "{{.Id}}", tag)
    shutil.copy2(archive, tmp_path / "original.tar.gz")
    shutil.copy2(archive_id, tmp_path / "original.id")
    dockerfile = f"FROM {tag}\nLABEL lab.rebuilt={time.time_ns()}\n"
    run("docker", "build", "--quiet", "--tag", tag, "-", input=dockerfile, timeout=300)
    rebuilt = docker("image", "inspect", "--format", "{{.Id}}", tag)
    assert rebuilt != original
    started = {host: engine_started(host) for host in ADDRESSES}
    try:
        save_archive(tag, "1.0.0")
        with RotationSamples() as rotation:
            assert changed_under_load(engine) > 0
        started = assert_engines_restarted_one_at_a_time(started, rotation)
        assert {log_max_size(host) for host in ADDRESSES} == {"20m"}
        assert {running_image(host) for host in ADDRESSES} == {rebuilt}
        assert_rotation(["app1", "app2"], 3, 8001)
        assert balancing_method() == "least_conn;"  # the previous test's file as it was
        # The rollback image is kept, nothing is left to prune: a second run changes nothing.
        assert all(counters["changed"] == 0 for counters in provision(engine, app_hosts=2).values())
    finally:
        docker("tag", original, tag)
        shutil.copy2(tmp_path / "original.tar.gz", archive)
        shutil.copy2(tmp_path / "original.id", archive_id)
    # Back to the inventory's engine settings and the original image, under load.
    with RotationSamples() as rotation:
        assert changed_under_load() > 0
    assert_engines_restarted_one_at_a_time(started, rotation)
    assert {log_max_size(host) for host in ADDRESSES} == {inventory_size}
    assert {running_image(host) for host in ADDRESSES} == {original}
    assert_rotation(["app1", "app2"], 3, 8001)
    # The rebuild, untagged on the hosts now, is pruned: no tag could roll back to it.
    images = node("app1", "docker", "images", "--quiet", "--no-trunc").stdout.split()
    assert original in images and rebuilt not in images


@pytest.mark.parametrize("limit", ["all:!app2", "balancer"])
def test_a_limited_run_keeps_every_host_in_rotation(lab, limit: str) -> None:
    assert changed_under_load(limit=limit) == 0
    assert_rotation(["app1", "app2"], 3, 8001)


def test_only_the_host_that_changes_leaves_the_rotation(lab) -> None:
    # A replica stopped cleanly stays stopped (the watchdog leaves it), so only app2 differs
    # from the inventory: the run drains and mends app2 alone, app1 stays in rotation throughout.
    # On app2, a run interrupted while replacing app-3 left it stopped as app-3-previous and
    # started nothing yet: the run starts app-3 again and removes app-3-previous once it answers.
    node("app2", "docker", "stop", "app-2")
    node("app2", "docker", "stop", "app-3")
    node("app2", "docker", "rename", "app-3", "app-3-previous")
    started = time.monotonic()
    with Load(connections=8) as load:
        log = provision_log(app_hosts=2)
    print(f"\napp2-r2 stopped, then a run: {time.monotonic() - started:.0f} s, "
          f"{load.results.total} requests, {load.results.failed} failed")  # fmt: skip
    assert drained_hosts(log) == ["app2"]
    assert replica_batches(log) == 1
    assert all(c["failed"] == 0 for c in recap(log).values())
    assert recap(log)["app2"]["changed"] > 0
    assert load.results.failed == 0, load.results.statuses | load.results.errors
    assert_rotation(["app1", "app2"], 3, 8001)
    names = node("app2", "docker", "ps", "--all", "--format", "{{.Names}}").stdout.split()
    assert sorted(names) == ["app-1", "app-2", "app-3"]
    # That a run which changes nothing drains no host is the last run of the next test.


def started_at_once(log: str) -> list[str]:
    """The app hosts the first-start play (all at once, no drain) changed."""
    first = plays_named(log, "Replicas on the app hosts that run none yet")[0]
    return sorted(set(re.findall(r"^changed: \[([\w-]+)\]", first, re.M)))


def test_where_no_replica_runs_every_app_host_starts_at_once(lab) -> None:
    # No replica container on any app host: none serves, so none is drained and none waits. Each
    # joins the rotation once its replicas answer, even where a stopped run left it out and the run
    # is make deploy's (--tags app, which leaves the balancer's own configuration alone).
    for host in ADDRESSES:
        node(host, "sh", "-c", "docker rm -f $(docker ps -aq --filter label=flask-lb-lab.role=app)")
    node("balancer", "sh", "-c", f"rm {UPSTREAM}/*-app2.conf && nginx -s reload")
    assert running_replicas("app1") | running_replicas("app2") == set()
    log = provision_log(app_hosts=2, tags="app")
    assert started_at_once(log) == sorted(ADDRESSES)
    assert drained_hosts(log) == []
    assert all(c["failed"] == 0 for c in recap(log).values())
    assert all(recap(log)[host]["changed"] > 0 for host in ADDRESSES)
    assert_rotation(["app1", "app2"], 3, 8001)
    # With replicas running, none starts at once. A second run changes nothing: it drains no host,
    # the rolling play takes none (it takes each app host that changes, one at a time, in the
    # tests that change some), and it makes neither the lab CA nor the balancer's certificate again.
    made = {
        path: path.read_bytes() for path in [ROOT / ".lab/ca.crt", *(ROOT / ".lab/tls").iterdir()]
    }
    started = time.monotonic()
    log = provision_log(app_hosts=2)
    print(f"\nwarm re-provision: {time.monotonic() - started:.1f} s, recap {recap(log)}")
    assert replica_batches(log) == 0
    assert started_at_once(log) == []
    assert drained_hosts(log) == []
    assert set(recap(log)) == {"balancer", *ADDRESSES}
    assert all(c["changed"] == 0 and c["failed"] == 0 for c in recap(log).values())
    assert {path: path.read_bytes() for path in made} == made


def untouched_since(marker: str) -> dict[str, list[str]]:
    """Per machine: its containers, nginx's workers (a reload replaces them), the engine's start,
    and every file under /etc, /usr/local and the image cache written after the marker file."""
    script = (
        "docker ps -aq --no-trunc 2>/dev/null | sort;"
        ' pgrep -P "$(cat /run/nginx.pid 2>/dev/null)" | sort;'
        " systemctl show docker -p ActiveEnterTimestamp;"
        f" find /etc /usr/local /var/cache/flask-lb-lab -newer {marker} -type f 2>/dev/null; true"
    )
    hosts = ["balancer", *ADDRESSES]
    return {host: node(host, "sh", "-c", script).stdout.split("\n") for host in hosts}


def test_check_mode_reports_a_change_and_changes_nothing(lab) -> None:
    # --check --diff of a new version, a replica more and an engine setting: each is reported,
    # none is made, and no host leaves the rotation (the load sees every request answered).
    run("scripts/images", env={**lab_env(2), "APP_VERSION": "2.0.0"}, timeout=900)
    marker = "/run/lab-check-mode-marker"
    for host in ["balancer", *ADDRESSES]:
        node(host, "touch", marker)
    before = untouched_since(marker)
    engine = json.dumps({"docker_daemon_defaults": ENGINE_DEFAULTS})
    args = ["--check", "--diff", "-e", "app_version=2.0.0", "-e", "app_replicas=4", "-e", engine]
    with Load(connections=8) as load:
        log = run("ansible-playbook", "playbook.yml", *args, env=lab_env(2), timeout=1200).stdout
    print(f"\n--check --diff: {load.results.total} requests, {load.results.failed} failed")
    assert all(c["failed"] == 0 for c in recap(log).values())
    assert all(recap(log)[host]["changed"] > 0 for host in ADDRESSES)
    assert "item=app-4 on port 8004" in log and "upstream/004-app2.conf" in log
    assert load.results.failed == 0, load.results.statuses | load.results.errors
    assert untouched_since(marker) == before
    assert {get_json(f"{BALANCER}/api/whoami")["version"] for _ in range(12)} == {"1.0.0"}
    assert_rotation(["app1", "app2"], 3, 8001)


def test_an_unknown_engine_option_is_refused_before_any_host_changes(lab) -> None:
    bad = json.dumps({"docker_daemon_options": {"bip": "10.200.0.1/24", "no-such-option": True}})
    result = run("ansible-playbook", "playbook.yml", "-e", bad, env=lab_env(2), check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "has keys dockerd does not know: no-such-option" in " ".join(output.split())
    assert output.rsplit("PLAY RECAP", 1)[1].count("changed=0") == 3
    for host in ADDRESSES:
        assert node(host, "systemctl", "is-active", "docker").stdout.strip() == "active"
    assert_rotation(["app1", "app2"], 3, 8001)


def test_an_engine_whose_state_cannot_be_read_keeps_its_daemon_json(lab, tmp_path) -> None:
    # A systemctl that cannot show the engine's state: the docker role stops on that host rather
    # than take the engine for stopped and write a daemon.json it would take outside any drain.
    playbook = tmp_path / "engine.yml"
    playbook.write_text("- name: The engine\n  hosts: app1\n  become: true\n  roles: [docker]\n")
    daemon_json = node("app1", "cat", "/etc/docker/daemon.json").stdout
    broken = '#!/bin/sh\n[ "$1" = show ] && exit 1\nexec /usr/bin/systemctl "$@"\n'
    fake = "/usr/local/sbin/systemctl"
    app1 = ["docker", "exec", "-i", "flask-lb-lab-app1", "sh", "-c"]
    run(*app1, f"cat >{fake} && chmod 755 {fake}", input=broken)
    engine = json.dumps({"docker_daemon_defaults": ENGINE_DEFAULTS, "docker_daemon_restart": False})
    try:
        result = run("ansible-playbook", str(playbook), "-e", engine, env=lab_env(2), check=False)
        after = node("app1", "cat", "/etc/docker/daemon.json").stdout
    finally:
        node("app1", "rm", "-f", fake)
        run(*app1, "cat >/etc/docker/daemon.json", input=daemon_json)
    assert result.returncode != 0
    message = "systemctl could not tell whether the docker unit runs on app1"
    assert message in " ".join((result.stdout + result.stderr).split())
    assert after == daemon_json


def test_a_lone_app_host_deploys_beside_its_replicas(lab) -> None:
    run("scripts/images", env={**lab_env(1), "APP_VERSION": "2.0.0"}, timeout=900)
    # The inventory with one app host: the balancer drops app2, app1 is alone.
    assert changed_under_load(app_hosts=1) > 0
    assert_rotation(["app1"], 3, 8001)
    started = time.monotonic()
    with Load(connections=8) as load:
        out = run("make", "deploy", "APP_VERSION=2.0.0", env=lab_env(1), timeout=1200).stdout
    took = time.monotonic() - started
    total, failed = load.results.total, load.results.failed
    print(f"\nmake deploy, one app host: {took:.0f} s, {total} requests, {failed} failed")
    assert "Start standby replicas beside the running ones" in out
    assert load.results.failed == 0, load.results.statuses | load.results.errors
    assert {get_json(f"{BALANCER}/api/whoami")["version"] for _ in range(12)} == {"2.0.0"}
    standby = node("app1", "docker", "ps", "-aq", "--filter", "label=flask-lb-lab.role=app-standby")
    assert standby.stdout.strip() == ""
    assert_rotation(["app1"], 3, 8001)
    # app1 keeps the version it runs and the one before, images and archives, for a rollback.
    tags = node(
        "app1", "docker", "images", "--format", "{{.Tag}}", "flask-lb-lab/app"
    ).stdout.split()
    assert sorted(tags) == ["1.0.0", "2.0.0"]
    archives = node("app1", "ls", "/var/cache/flask-lb-lab").stdout.split()
    assert sorted(archives) == ["app_1.0.0.tar.gz", "app_2.0.0.tar.gz"]
    # A run of another release stopped (its controller killed) once app1 serves from its standby
    # replicas, under load: make status says so. The next plain run puts the replicas back in
    # rotation on the release make deploy set (desired state: neither the stopped run's nor
    # lab.yml's) and removes the standby ones; later, `vagrant provision` with two hosts brings
    # app2 in on it.
    with Load(connections=8) as load:
        stopped = subprocess.Popen(
            ["ansible-playbook", "playbook.yml"],
            cwd=ROOT,
            env={**lab_env(1), "APP_VERSION": "1.0.0"},
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_for(
                lambda: upstream_text().count("-standby") == 3,
                300,
                "app1 on its three standby replicas",
                interval=0.2,
            )
        finally:
            os.killpg(stopped.pid, signal.SIGKILL)
            stopped.wait()
        status = " ".join(run("make", "status", env=lab_env(1)).stdout.split())
        log = " ".join(provision_log(app_hosts=1).split())
    print(f"\na run stopped on standby, then a plain run: {load.results.total} requests,"
          f" {load.results.failed} failed")  # fmt: skip
    assert "app1: on its standby replicas, 3 of 3 answer" in status, status[-3000:]
    assert load.results.failed == 0, load.results.statuses | load.results.errors
    assert "Release by host: app1 2.0.0" in log
    assert "Rotation: app1: in rotation, 3 of 3 answer" in log
    standby = node("app1", "docker", "ps", "-aq", "--filter", "label=flask-lb-lab.role=app-standby")
    assert standby.stdout.strip() == ""
    assert_rotation(["app1"], 3, 8001)
    assert set(versions_by_replica(30).values()) == {"2.0.0"}
    # A release that never gets healthy: its standby replicas go, the running ones never stopped,
    # the run fails naming the replica. (make deploy would build the release from app/ again.)
    build_broken_release()
    with Load(connections=8) as load:
        bad = run("ansible-playbook", "playbook.yml", check=False, timeout=1200,
                  env={**lab_env(1), "APP_VERSION": BROKEN_RELEASE})  # fmt: skip
    print(f"\na broken release, one app host: {load.results.total} requests,"
          f" {load.results.failed} failed")  # fmt: skip
    assert bad.returncode != 0
    said = " ".join(bad.stdout.split())
    assert "app1: replica app1-r1" in said, bad.stdout[-3000:]
    assert "did not become healthy (its /healthz answered HTTP 500)" in said, bad.stdout[-3000:]
    assert load.results.failed == 0, load.results.statuses | load.results.errors
    standby = node("app1", "docker", "ps", "-aq", "--filter", "label=flask-lb-lab.role=app-standby")
    assert standby.stdout.strip() == ""
    assert set(versions_by_replica(30).values()) == {"2.0.0"}
    # A make deploy that fails keeps the release the lab had.
    refused = run("make", "deploy", "APP_VERSION=1.0.0", "ANSIBLE_ARGS=-e app_replicas=0",
                  env=lab_env(1), check=False)  # fmt: skip
    assert refused.returncode != 0
    assert (ROOT / ".lab/app-version").read_text().strip() == "2.0.0"
    with Load(connections=8) as load:
        vagrant("provision", app_hosts=2)
    assert load.results.failed == 0, load.results.statuses | load.results.errors
    assert_rotation(["app1", "app2"], 3, 8001)
    assert set(versions_by_replica(30).values()) == {"2.0.0"}
    # The lab stays on 2.0.0: test_resilience deploys 1.0.0 with a host down, then back with
    # make deploy.
