"""The nginx role on a balancer, in front of real HTTP servers on two backend nodes."""

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import testinfra

sys.path.insert(0, str(Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", ".")) / "tests"))
from certs import write_self_signed

testinfra_hosts = ["ansible://molecule-balancer"]
BALANCER = "http://127.0.0.1:7151"
HOSTS = ("molecule-backend", "molecule-backend2")
BACKENDS = {f"{host}:{port}" for host in HOSTS for port in (8001, 8002, 8003)}
UPSTREAM = "/etc/nginx/flask-lb-lab/upstream"
SCENARIO = Path(os.environ.get("MOLECULE_SCENARIO_DIRECTORY", "."))
ROTATION = (
    Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", "."))
    / "roles/nginx/library/nginx_rotation.py"
)
LOCK = re.search(r'^LOCK = "(.+)"$', ROTATION.read_text(), re.MULTILINE)[1]


def whoami(host) -> dict:
    return json.loads(host.check_output(f"curl -fsS {BALANCER}/api/whoami"))


def test_listening_on_7151(host) -> None:
    assert host.socket("tcp://0.0.0.0:7151").is_listening


def test_config_is_valid(host) -> None:
    assert host.run("nginx -t").rc == 0


def test_default_site_is_gone(host) -> None:
    assert not host.file("/etc/nginx/sites-enabled/default").exists
    assert not host.socket("tcp://0.0.0.0:80").is_listening


def test_server_header_has_no_version(host) -> None:
    headers = host.check_output(f"curl -fsS -o /dev/null -D - {BALANCER}/").lower()
    assert "server: nginx\r\n" in headers


def answers(host, requests: int = 24) -> Counter[str]:
    return Counter(whoami(host)["replica"] for _ in range(requests))


def playbook(name: str, *args: str) -> subprocess.CompletedProcess:
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    return subprocess.run(
        ["ansible-playbook", "-i", inventory, str(SCENARIO / name), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1"},
    )


def changed(result: subprocess.CompletedProcess) -> dict[str, int]:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    recap = result.stdout.rsplit("PLAY RECAP", 1)[1]
    return {
        line.split()[0]: int(line.split("changed=")[1].split()[0])
        for line in recap.splitlines()
        if "changed=" in line
    }


def said(result: subprocess.CompletedProcess) -> str:
    """What a run printed, its lines unfolded."""
    return " ".join((result.stdout + result.stderr).split())


def body_line(pem: Path) -> str:
    """A line of a PEM file's body: found in an output, the file's content was printed."""
    return pem.read_text().splitlines()[1]


def upstream_files(host) -> list[str]:
    return host.check_output(f"ls {UPSTREAM}").split()


def test_requests_rotate_over_every_upstream_server(host) -> None:
    answered = answers(host, 60)
    assert set(answered) == BACKENDS
    # Each worker process rotates on its own: an even split within ±30%.
    assert all(7 <= count <= 13 for count in answered.values()), answered


def test_one_file_per_server_interleaved_across_hosts(host) -> None:
    assert upstream_files(host) == [f"00{i}-{name}.conf" for i in (1, 2, 3) for name in HOSTS]
    line = host.file(f"{UPSTREAM}/002-molecule-backend2.conf").content_string.splitlines()[-1]
    assert line == "server molecule-backend2:8002 max_fails=1 fail_timeout=5s;"


def test_a_host_leaves_and_rejoins_with_new_ports(host) -> None:
    out = playbook("host.yml", "--limit", "molecule-backend2", "-e", "lab_out=true")
    assert changed(out)["molecule-backend2"] > 0
    assert not [name for name in upstream_files(host) if "backend2" in name]
    assert set(answers(host)) == {f"molecule-backend:{port}" for port in (8001, 8002, 8003)}

    # It returns with the ports it has now, never its old lines.
    back = playbook("host.yml", "--limit", "molecule-backend2", "-e", "app_port_base=8011")
    assert changed(back)["molecule-backend2"] > 0
    answered = set(answers(host, 36))
    assert {f"molecule-backend2:{port}" for port in (8011, 8012, 8013)} <= answered
    assert not {f"molecule-backend2:{port}" for port in (8001, 8002, 8003)} & answered

    # A full run puts the upstream back to what the inventory says, then changes nothing.
    assert sum(changed(playbook("converge.yml")).values()) > 0
    assert set(answers(host, 60)) == BACKENDS
    assert sum(changed(playbook("converge.yml")).values()) == 0


def test_a_host_leaves_only_once_the_requests_in_flight_to_it_are_answered(host) -> None:
    # Six slow POSTs, one on each server (least_conn), are in flight when backend2 leaves: the
    # change returns only once the workers that carry them have exited, so a server it took out
    # may be stopped then.
    posts = " ".join(
        f"(curl -sS -o /dev/null -w '%{{http_code}}' --data-binary @/etc/hostname "
        f"'{BALANCER}/slow?seconds=6'; echo \" $(date +%s.%N)\") >/tmp/post{n} 2>&1 &"
        for n in range(6)
    )
    host.check_output(f"rm -f /tmp/post*; {posts} sleep 1")
    out = playbook("host.yml", "--limit", "molecule-backend2", "-e", "lab_out=true")
    returned = float(host.check_output("date +%s.%N"))
    try:
        assert changed(out)["molecule-backend2"] > 0
        # Each file: the status and when it came, written once the answer is in.
        answered = [host.file(f"/tmp/post{n}").content_string.split() for n in range(6)]
        assert all(len(post) == 2 and post[0] == "200" for post in answered), answered
        assert max(float(at) for _, at in answered) <= returned
    finally:
        assert (
            changed(playbook("host.yml", "--limit", "molecule-backend2")).get(
                "molecule-backend2", 0
            )
            > 0
        )
    assert set(answers(host, 60)) == BACKENDS


def test_a_server_line_nginx_rejects_never_lands(host) -> None:
    before = host.check_output(f"cat {UPSTREAM}/*.conf")
    bad = playbook(
        "host.yml", "--limit", "molecule-backend2", "-e", "app_advertise_address=nowhere.invalid"
    )
    assert bad.returncode != 0
    assert "nginx -t rejects the new servers, so nothing was changed" in said(bad)
    assert host.check_output(f"cat {UPSTREAM}/*.conf") == before
    assert set(answers(host, 60)) == BACKENDS


def test_a_rotation_the_whole_check_rejects_is_put_back(host) -> None:
    # The new lines are good on their own; a broken file beside them fails the whole nginx -t.
    stray = f"{UPSTREAM}/999-stray.conf"
    host.check_output(f"echo 'server nowhere.invalid:1;' > {stray}")
    try:
        before = host.check_output(f"cat {UPSTREAM}/0*.conf")
        bad = playbook("host.yml", "--limit", "molecule-backend2", "-e", "app_port_base=8011")
        assert bad.returncode != 0
        assert "the files that were there are back" in said(bad)
        assert host.check_output(f"cat {UPSTREAM}/0*.conf") == before
    finally:
        host.check_output(f"rm -f {stray}")
    assert set(answers(host, 60)) == BACKENDS


def test_a_change_waits_for_another_runs_lock(host) -> None:
    holder = host.run(f"systemd-run --unit lab-lock-holder flock {LOCK} sleep 60")
    assert holder.rc == 0, holder.stderr
    try:
        waited = playbook(
            "host.yml",
            "--limit",
            "molecule-backend2",
            "-e",
            "lab_out=true",
            "-e",
            "nginx_rotation_lock_timeout=2",
        )
    finally:
        host.run("systemctl stop lab-lock-holder")
    assert waited.returncode != 0
    assert "Another run has been changing the balancer's rotation" in said(waited)
    assert len([name for name in upstream_files(host) if "backend2" in name]) == 3


def test_a_host_cannot_leave_where_no_other_server_answers(host) -> None:
    backend2 = testinfra.get_host(
        "ansible://molecule-backend2", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"]
    )
    backend2.check_output("systemctl stop 'molecule-backend@*'")
    try:
        refused = playbook("host.yml", "--limit", "molecule-backend", "-e", "lab_out=true")
    finally:
        backend2.check_output(
            "systemctl start molecule-backend@8001 molecule-backend@8002 molecule-backend@8003"
        )
    assert refused.returncode != 0
    assert "no server that answers /healthz now, so nothing was changed" in said(refused)
    assert (
        len([name for name in upstream_files(host) if name.endswith("-molecule-backend.conf")]) == 3
    )
    assert set(answers(host, 60)) == BACKENDS


def test_taking_every_host_out_is_refused(host) -> None:
    result = playbook("host.yml", "-e", "lab_out=true")
    assert result.returncode != 0
    assert "would leave the balancer no server" in said(result), said(result)[-3000:]
    # The first host left; the last one was kept, and still answers.
    assert set(answers(host)) == {f"molecule-backend2:{port}" for port in (8001, 8002, 8003)}
    assert sum(changed(playbook("converge.yml")).values()) > 0
    assert set(answers(host, 60)) == BACKENDS


def test_proxy_headers_reach_the_upstream(host) -> None:
    headers = {name.lower(): value for name, value in whoami(host)["headers"].items()}
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
    assert len(headers["x-request-id"]) == 32
    assert headers["host"] == "127.0.0.1:7151"


def test_a_spoofed_client_address_or_host_does_not_reach_the_upstream(host) -> None:
    spoofed = json.loads(
        host.check_output(
            f"curl -fsS -H 'X-Forwarded-For: 6.6.6.6' -H 'Host: evil.example' "
            f"-H 'X-Forwarded-Host: evil.example' {BALANCER}/api/whoami"
        )
    )
    headers = {name.lower(): value for name, value in spoofed["headers"].items()}
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["host"] == "127.0.0.1:7151"
    assert "x-forwarded-host" not in headers


def test_security_headers_on_every_answer(host) -> None:
    wanted = {
        "x-content-type-options: nosniff",
        "x-frame-options: deny",
        "content-security-policy: frame-ancestors 'none'",
        "referrer-policy: no-referrer",
    }
    for url in (f"{BALANCER}/", f"{BALANCER}/no-such-page", f"{BALANCER}/nginx_status"):
        head = host.check_output(f"curl -sS -o /dev/null -D - {url}").lower()
        assert wanted <= {line.strip() for line in head.splitlines()}, url


def test_stub_status_from_localhost(host) -> None:
    assert "Active connections" in host.check_output(f"curl -fsS {BALANCER}/nginx_status")


def test_stub_status_refused_from_another_node() -> None:
    backend = testinfra.get_host(
        "ansible://molecule-backend", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"]
    )
    status = backend.check_output(
        "curl -s -o /dev/null -w '%{http_code}' http://molecule-balancer:7151/nginx_status"
    )
    assert status == "403"


def test_replica_metrics_are_not_served_through_the_balancer(host) -> None:
    # The stand-in replicas answer every path with 200; the balancer must not pass this one on.
    status = "curl -s -o /dev/null -w '%{{http_code}}' {}"
    assert host.check_output(status.format(f"{BALANCER}/metrics")) == "404"
    assert host.check_output(status.format(f"{BALANCER}/metricsx")) == "200"


def test_a_dead_server_is_skipped_without_errors(host) -> None:
    backend = testinfra.get_host(
        "ansible://molecule-backend", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"]
    )
    backend.check_output("systemctl stop molecule-backend@8002")
    try:
        answered = answers(host)  # curl -f: any error fails
        assert set(answered) == BACKENDS - {"molecule-backend:8002"}
    finally:
        backend.check_output("systemctl start molecule-backend@8002")


def test_a_config_nginx_rejects_never_replaces_the_running_one(host) -> None:
    before = host.file("/etc/nginx/nginx.conf").sha256sum
    # Passes the argument spec (a string), but nginx -t rejects it.
    bad = playbook("converge.yml", "-e", "nginx_client_max_body_size=lots")
    assert bad.returncode != 0
    assert "failed to validate" in said(bad)
    assert host.file("/etc/nginx/nginx.conf").sha256sum == before
    assert whoami(host)["replica"] in BACKENDS


LAB_CA = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", ".")) / "lab"
HTTPS = "https://molecule-balancer:7443"


def trust_lab_ca(node) -> str:
    """Copies the scenario's lab CA certificate to a node; returns its path there."""
    node.ansible("copy", f"src={LAB_CA / 'ca.crt'} dest=/root/lab-ca.crt mode=0644", check=False)
    return "/root/lab-ca.crt"


def test_https_from_another_node_verifies_against_the_lab_ca_over_http2() -> None:
    backend = testinfra.get_host(
        "ansible://molecule-backend", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"]
    )
    ca = trust_lab_ca(backend)
    # No -k: the certificate must chain to the lab CA and name the balancer.
    out = backend.check_output(
        f"curl -fsS --cacert {ca} -D - -w '%{{http_version}}' {HTTPS}/api/whoami"
    )
    head, _, rest = out.partition("\r\n\r\n")
    assert head.startswith("HTTP/2 200"), head
    assert "strict-transport-security: max-age=63072000" in head.lower()
    body, version = rest[: rest.rindex("}") + 1], rest[rest.rindex("}") + 1 :]
    assert version == "2"
    assert json.loads(body)["headers"]["X-Forwarded-Proto"] == "https"
    assert json.loads(body)["replica"] in BACKENDS
    # Plain HTTP stays on 7151, with no HSTS (a browser would ignore it there anyway).
    plain = backend.check_output("curl -fsS -o /dev/null -D - http://molecule-balancer:7151/")
    assert "strict-transport-security" not in plain.lower()


def test_tls_1_1_is_refused_by_the_balancer(host) -> None:
    # SECLEVEL=0 lets this client offer TLS 1.1, so a refusal is the server's: alert 70.
    old = host.run(
        "openssl s_client -connect 127.0.0.1:7443 -tls1_1 -cipher DEFAULT@SECLEVEL=0 </dev/null"
    )
    assert old.rc != 0
    assert "alert protocol version" in old.stdout + old.stderr
    for version in ("-tls1_2", "-tls1_3"):
        new = host.run(f"openssl s_client -connect 127.0.0.1:7443 {version} </dev/null")
        assert new.rc == 0 and "Verify return code" in new.stdout, version


def test_the_ca_key_stays_on_the_controller_readable_by_its_owner_only(host) -> None:
    assert (LAB_CA / "tls").stat().st_mode & 0o777 == 0o700
    for key in ("ca.key", "molecule-balancer.key"):
        assert (LAB_CA / "tls" / key).stat().st_mode & 0o777 == 0o600, key
    ca_key = body_line(LAB_CA / "tls/ca.key")
    assert host.run(f"grep -rlF -- '{ca_key}' /etc /root /tmp").stdout == ""
    key = host.file("/etc/nginx/flask-lb-lab/tls/server.key")
    assert (key.user, key.mode) == ("root", 0o600)


def test_a_redirect_to_https_and_the_users_own_certificate_then_the_lab_ones_never_remade(
    host, tmp_path: Path
) -> None:
    # One run turns on both, one run turns both off: the lab CA and the balancer's certificate
    # from it are served again as they were, never made anew.
    made = {path: path.read_bytes() for path in LAB_CA.rglob("*") if path.is_file()}
    cert, key = write_self_signed(tmp_path, "own.example", addresses=("127.0.0.1",))
    own = {
        "nginx_tls_redirect": True,
        "nginx_tls_certificate": str(cert),
        "nginx_tls_certificate_key": str(key),
    }
    # --diff, as the README recommends: no key's body in what a run prints.
    lab_key = body_line(LAB_CA / "tls/molecule-balancer.key")
    try:
        run = playbook("converge.yml", "--diff", "-e", json.dumps(own))
        assert sum(changed(run).values()) > 0
        assert body_line(key) not in said(run)
        out = host.check_output(f"curl -sS -o /dev/null -D - {BALANCER}/api/whoami?x=1")
        assert out.startswith("HTTP/1.1 301")
        assert "location: https://127.0.0.1:7443/api/whoami?x=1" in out.lower()
        assert "Active connections" in host.check_output(f"curl -fsS {BALANCER}/nginx_status")
        host.ansible("copy", f"src={cert} dest=/root/own.crt mode=0644", check=False)
        out = host.check_output(
            "curl -fsS --cacert /root/own.crt -o /dev/null -w '%{http_version}' "
            "--resolve own.example:7443:127.0.0.1 https://own.example:7443/"
        )
        assert out == "2"
    finally:
        back = playbook("converge.yml", "--diff")
        assert sum(changed(back).values()) > 0
    assert lab_key not in said(back)
    assert whoami(host)["replica"] in BACKENDS
    served = host.check_output(
        "openssl s_client -connect 127.0.0.1:7443 </dev/null 2>/dev/null"
        " | openssl x509 -noout -subject"
    )
    assert "molecule-balancer" in served
    assert {path: path.read_bytes() for path in LAB_CA.rglob("*") if path.is_file()} == made
