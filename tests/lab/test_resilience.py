"""The lab under load: rolling redeploys, dead replicas and hosts, bad input, bad HTTP."""

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
from helpers import http_get, run, wait_for
from lab_helpers import (
    BALANCER,
    BROKEN_RELEASE,
    LOAD_RATE,
    PORTS,
    Load,
    assert_rotation,
    balancer_answers,
    build_broken_release,
    drained_hosts,
    lab_env,
    node,
    replica_batches,
    standby_started,
    versions_by_replica,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]
REPLICAS = {f"app{h}-r{r}" for h in (1, 2) for r in (1, 2, 3)}


def test_crashed_replica_is_restarted_by_docker_and_rejoins(lab) -> None:
    with Load(connections=8) as load:
        # A crash: the replica's gunicorn dies with SIGKILL; its restart policy brings it back.
        node("app1", "sh", "-c", "kill -9 $(docker inspect --format '{{.State.Pid}}' app-2)")
        crashed = time.monotonic()
        wait_for(lambda: "app1-r2" in balancer_answers(12), timeout=60, what="app1-r2 to rejoin")
        rejoined = time.monotonic() - crashed
    print(f"\napp1-r2 back in rotation {rejoined:.1f} s after its process was killed")
    assert load.results.failed == 0, load.results.statuses | load.results.errors
    assert rejoined <= 15


def started_at(container: str) -> str:
    return node("app1", "docker", "inspect", "--format", "{{.State.StartedAt}}", container).stdout


def test_docker_kill_loses_nothing_and_the_watchdog_brings_it_back(lab) -> None:
    # Docker counts `docker kill` as a manual stop; the app role's watchdog starts it again.
    before = started_at("app-3")
    with Load(connections=8) as load:
        node("app1", "docker", "kill", "app-3")
        killed = time.monotonic()
        wait_for(lambda: started_at("app-3") != before, timeout=30, what="app-3 to start again")
        wait_for(lambda: "app1-r3" in balancer_answers(12), timeout=60, what="app1-r3 to rejoin")
        rejoined = time.monotonic() - killed
    print(f"\napp1-r3 back in rotation {rejoined:.1f} s after docker kill")
    print(f"failed while it was down: {load.results.failed} of {load.results.total}")
    assert load.results.failed == 0, load.results.statuses | load.results.errors
    assert rejoined <= 15


def test_replicas_killed_again_and_again_lose_no_request(lab) -> None:
    # A kill can break only what is in flight on the killed replica, and with 8 busy connections
    # that is about as much on a fast day as on a slow one: the kills are the trials, not the
    # requests. 0 failed over 96 kills has a 95 % chance of catching 1 failing kill in 32.
    # A client gives up after 5 s, as a user would. The hosts take turns: each loses a replica
    # each 4 s, which nginx passes over for its 5 s fail_timeout, so at most two of a host's three
    # are passed over at once.
    kills, started = 96, time.monotonic()
    with Load(connections=8, max_seconds=400, client_timeout=5, rate=0) as load:
        for kill in range(kills):
            host, replica = ("app1", "app2")[kill % 2], kill // 2 % 3 + 1
            node(host, "docker", "kill", f"app-{replica}")
            time.sleep(max(0.0, started + (kill + 1) * 2 - time.monotonic()))  # one each 2 s
    took = time.monotonic() - started
    failed, total = load.results.failed, load.results.total
    print(f"\n{kills} docker kills in {took:.0f} s: {failed} of {total} requests failed")
    assert load.results.failed == 0, load.results.statuses | load.results.errors
    # Busy throughout: at least the paced tests' rate, so every kill met replies in flight.
    assert total >= LOAD_RATE * took, f"{total} requests in {took:.0f} s is not a busy load"
    wait_for(lambda: len(balancer_answers(60)) == 6, 90, "every replica back in rotation")


# Each bad value is refused before any host changes, with a message that names it.
BAD_INPUTS = [
    ({"app_replicas": 0}, "app_replicas must be at least 1"),
    ({"app_replicas": -1}, "app_replicas must be at least 1"),
    ({"app_replicas": "three"}, "app_replicas"),
    ({"app_port_base": 70000}, "within 1-65535"),
    ({"app_replicas": 2, "app_ports": [8001, 8001]}, "no two replicas may share a port"),
    ({"nginx_upstream_servers": []}, "the upstream needs servers"),
    ({"nginx_balancing_method": "fastest"}, "nginx_balancing_method"),
    ({"nginx_listen_port": 22}, "nginx_listen_port 22 is already taken"),
    ({"nginx_listen_port": 0}, "nginx_listen_port must be within 1-65535"),
    ({"docker_install_source": "snap"}, "docker_install_source"),
    # Not published on 0.0.0.0 instead (TEST-NET-1: no host has it).
    ({"app_advertise_address": "192.0.2.1"}, "192.0.2.1 (app_advertise_address unless set)"),
]


def refused_run(extra_vars: dict) -> subprocess.CompletedProcess:
    return run(
        "ansible-playbook",
        "playbook.yml",
        "-e",
        json.dumps(extra_vars),
        env=lab_env(2),
        check=False,
        timeout=300,
    )


@pytest.fixture(scope="module")
def refused_runs(lab) -> Iterator[list[Future]]:
    """The bad-input runs, two at a time: each stops in the first play, which changes nothing."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        yield [pool.submit(refused_run, extra_vars) for extra_vars, _ in BAD_INPUTS]


@pytest.mark.parametrize(
    ("case", "message"), list(enumerate(m for _, m in BAD_INPUTS)), ids=[m for _, m in BAD_INPUTS]
)
def test_bad_input_is_refused_and_the_lab_keeps_serving(refused_runs, case, message) -> None:
    result = refused_runs[case].result()
    output = result.stdout + result.stderr
    print(f"\n{json.dumps(BAD_INPUTS[case][0]):<45} -> refused: {message}")
    assert result.returncode != 0
    assert message in output, output[-3000:]
    assert "changed=" not in output or all(
        "changed=0" in line for line in output.splitlines() if "changed=" in line
    )
    assert set(balancer_answers(12)) <= REPLICAS


def raw_request(request: bytes, timeout: float = 15) -> int:
    """Send raw bytes to the balancer; the HTTP status it answers (0 if it closed silently)."""
    with socket.create_connection(("127.0.0.1", PORTS["http"]), timeout=timeout) as conn:
        conn.sendall(request)
        reply = conn.recv(200)
    return int(reply.split()[1]) if reply.startswith(b"HTTP/") else 0


def test_nginx_refuses_bad_http_and_keeps_serving(lab) -> None:
    huge_header = b"GET / HTTP/1.1\r\nHost: lab\r\nCookie: " + b"a" * 20_000 + b"\r\n\r\n"
    assert raw_request(huge_header) in (400, 431)
    huge_body = b"POST / HTTP/1.1\r\nHost: lab\r\nContent-Length: 5000000\r\n\r\n"
    assert raw_request(huge_body) == 413
    assert raw_request(b"GET /../../etc/passwd HTTP/1.1\r\nHost: lab\r\n\r\n") == 400
    # A slow client that never finishes its headers is cut off (client_header_timeout).
    started = time.monotonic()
    assert raw_request(b"GET / HTTP/1.1\r\nHost: lab\r\nX-Slow: ", timeout=30) in (0, 408)
    print(f"\nslow client cut off after {time.monotonic() - started:.1f} s")
    assert http_get(f"{BALANCER}/healthz")[0] == 200


def sequential_requests(count: int, pause: float) -> list[tuple[float, float, int | str]]:
    """GETs one after another: (seconds since the first, how long it took, status or error)."""
    first, answers = time.monotonic(), []
    for _ in range(count):
        started = time.monotonic()
        try:
            status: int | str = http_get(f"{BALANCER}/api/whoami")[0]
        except OSError as error:
            status = str(error)
        answers.append((started - first, time.monotonic() - started, status))
        time.sleep(pause)
    return answers


def running_release() -> str:
    """The one release every replica answers with."""
    (release,) = set(versions_by_replica(30).values())
    return release


def other_release(release: str) -> str:
    """1.0.0 and 2.0.0 take turns, from whichever the earlier tests left running (test_changes
    leaves 2.0.0; a lab of its own starts on 1.0.0)."""
    return "1.0.0" if release == "2.0.0" else "2.0.0"


# Then the redeploys: from here on the lab runs the other release.
def test_a_deploy_with_an_app_host_down_keeps_serving_and_the_host_catches_up(lab) -> None:
    old = running_release()
    new = other_release(old)
    run("scripts/images", env={**os.environ, "APP_VERSION": new}, timeout=900)
    new_version = {**lab_env(2), "APP_VERSION": new}
    # A lost host costs no request and no wait: nginx gives each dead server one 250 ms connect,
    # again every fail_timeout (5 s), and tries every other server before it fails a request.
    # Under load, only what is in flight on app2 as it stops may fail: one per connection at most.
    with Load(connections=8) as stop_load:
        run("docker", "stop", "flask-lb-lab-app2")
        answers = sequential_requests(200, pause=0.1)
        during = balancer_answers(24)
    failed = [answer for answer in answers if answer[2] != 200]
    slowest = max(took for since, took, _ in answers if since > 5)
    print(f"\napp2 stopped: {len(failed)} of 200 sequential requests failed, slowest after 5 s"
          f" {slowest:.3f} s, over {answers[-1][0]:.0f} s; under load, {stop_load.results.failed}"
          f" of {stop_load.results.total} failed; answering meanwhile: {dict(during)}")  # fmt: skip
    assert failed == [], failed
    assert slowest <= 1, [answer for answer in answers if answer[1] > 1]
    assert stop_load.results.failed <= 8, stop_load.results.statuses | stop_load.results.errors
    assert set(during) <= {"app1-r1", "app1-r2", "app1-r3"}, during
    with Load(connections=8) as load:
        # app2's servers are still in the upstream but do not answer: app1 must not leave the
        # rotation for them; it rolls beside its running replicas instead.
        deploy = run("ansible-playbook", "playbook.yml", env=new_version, check=False, timeout=1200)
        run("docker", "start", "flask-lb-lab-app2")
        started = time.monotonic()
        wait_for(
            lambda: {"app2-r1", "app2-r2", "app2-r3"} <= set(balancer_answers(24)),
            timeout=180,
            what="app2's replicas to rejoin",
            interval=0.2,
        )
        back = time.monotonic() - started
        before_catch_up = versions_by_replica(60)
        catch_up = run("ansible-playbook", "playbook.yml", env=new_version, timeout=1200).stdout
    failed, total = load.results.failed, load.results.total
    print(f"\napp2 back {back:.0f} s after docker start; before its catch-up: {before_catch_up}")
    print(f"failed while a whole host was down: {failed} of {total}")
    log = deploy.stdout
    assert standby_started(log) == ["app1"], log[-3000:]
    # The run's summary names what answers, not what the inventory plans.
    assert (
        "3 of 6 replicas answer the balancer: app1-r1, app1-r2, app1-r3;"
        " not answering: app2-r1, app2-r2, app2-r3" in " ".join(log.split())  # lines folded
    ), log[-3000:]
    assert f"Release by host: app1 {new}" in " ".join(log.split())
    # app1 deployed while app2 was down; app2, untouched meanwhile, catches up drained.
    assert before_catch_up == {f"app{h}-r{r}": v for h, v in ((1, new), (2, old))
                               for r in (1, 2, 3)}  # fmt: skip
    assert drained_hosts(catch_up) == ["app2"]
    assert set(versions_by_replica(30).values()) == {new}
    assert set(balancer_answers(60)) == REPLICAS
    # A guard that counts upstream files instead of answers drains app1 onto app2's dead servers.
    assert failed == 0, load.results.statuses | load.results.errors
    # Back by itself: in rotation within fail_timeout of answering again.
    assert back <= 15


def test_a_release_that_never_gets_healthy_is_rolled_back(lab) -> None:
    release = running_release()
    build_broken_release()
    with Load(connections=8) as load:
        result = run(
            "ansible-playbook", "playbook.yml",
            env={**lab_env(2), "APP_VERSION": BROKEN_RELEASE}, check=False, timeout=1200,
        )  # fmt: skip
    total, failed = load.results.total, load.results.failed
    print(f"\na release whose /healthz answers 500: rc {result.returncode}, {total} requests,"
          f" {failed} failed")  # fmt: skip
    said = " ".join(result.stdout.split())  # lines folded
    assert result.returncode != 0
    assert (
        f"app1: replica app1-r1 of flask-lb-lab/app:{BROKEN_RELEASE} did not become healthy"
        " (its /healthz answered HTTP 500)" in said
    ), result.stdout[-3000:]
    assert "Its log ends: " in said and "Booting worker" in said, result.stdout[-3000:]
    # app1 left the rotation, was rolled back and rejoined; app2 was never touched.
    assert drained_hosts(result.stdout) == ["app1"]
    assert failed == 0, load.results.statuses | load.results.errors
    assert versions_by_replica(60) == {replica: release for replica in REPLICAS}
    names = node("app1", "docker", "ps", "--all", "--format", "{{.Names}}").stdout.split()
    assert sorted(names) == ["app-1", "app-2", "app-3"]


# Last: make deploy back to the release the lab had, both hosts drained in turn.
def test_rolling_redeploy_under_load_loses_nothing(lab) -> None:
    release = other_release(running_release())
    started = time.monotonic()
    # Every other request a POST with a body, which nginx may not send again to another replica:
    # a drained one must not stop while an old worker may still send it one.
    with Load(connections=8, posts=True) as load:
        out = run("make", "deploy", f"APP_VERSION={release}", env=lab_env(2), timeout=1200).stdout
    print(f"\nmake deploy APP_VERSION={release}: {time.monotonic() - started:.0f} s")
    assert drained_hosts(out) == ["app1", "app2"]  # both, one after the other
    assert replica_batches(out) == 2
    assert load.results.failed == 0, load.results.statuses | load.results.errors
    assert f"Release by host: app1 {release}, app2 {release}" in " ".join(out.split())
    assert set(versions_by_replica(30).values()) == {release}
    assert_rotation(["app1", "app2"], 3, 8001)
