"""Driving the Vagrant lab from tests: vagrant, playbook runs, requests to the balancer."""

import os
import re
import threading
import time
from collections import Counter

from ansible_recap import recap
from helpers import ROOT, get_json, run
from lab_config import app_archive, config, docker_network, ports
from loadtest import Results, report, run_load

# lab.yml's ports, each forwarded by Vagrant to the same port on 127.0.0.1.
PORTS = ports()
BALANCER = f"http://127.0.0.1:{PORTS['http']}"
PROMETHEUS = f"http://127.0.0.1:{PORTS['prometheus']}"
# The two-app-host lab the tests run: its machines' addresses and its network.
LAB = config({**os.environ, "LAB_APP_HOSTS": "2", "LAB_BALANCERS": "1"})
IPS = {machine["name"]: machine["ip"] for machine in LAB["machines"]}
SUBNET = f"{LAB['subnet']}.0/24"
# The lab's network under the docker provider (another Vagrant project's is not the lab's).
LAB_NETWORK = docker_network(LAB["subnet"])


def lab_env(app_hosts: int, balancers: int = 1) -> dict[str, str]:
    return {
        **os.environ,
        "LAB_APP_HOSTS": str(app_hosts),
        "LAB_BALANCERS": str(balancers),
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
    }


def vagrant(*args: str, app_hosts: int, timeout: float = 1200):
    return run("vagrant", *args, env=lab_env(app_hosts), timeout=timeout)


def provision_log(
    *extra_vars: str, app_hosts: int, limit: str = "", tags: str = "", balancers: int = 1
) -> str:
    """`ansible-playbook playbook.yml` on the lab, as users type it (ansible.cfg names
    inventories/vagrant); its output."""
    args = [arg for extra in extra_vars for arg in ("-e", extra)]
    if limit:
        args += ["--limit", limit]
    if tags:
        args += ["--tags", tags]
    return run(
        "ansible-playbook",
        "playbook.yml",
        *args,
        env=lab_env(app_hosts, balancers),
        timeout=1200,
    ).stdout


def provision(
    *extra_vars: str, app_hosts: int, limit: str = "", tags: str = "", balancers: int = 1
) -> dict[str, dict[str, int]]:
    """The playbook run on the lab (provision_log); its recap."""
    log = provision_log(
        *extra_vars, app_hosts=app_hosts, limit=limit, tags=tags, balancers=balancers
    )
    return recap(log)


def hosts_included(log: str, task: str) -> list[str]:
    """The hosts a playbook run included the task whose name starts with task for, in order
    (a task of a role may be printed with the role's name before it)."""
    header = rf"^TASK \[(?:\S+ : )?{re.escape(task)}.*\n"
    return re.findall(rf"{header}(?:.+\n)*?included: .+? for (\S+?)(?: =>.*)?$", log, re.M)


def drained_hosts(log: str) -> list[str]:
    """The app hosts a playbook run took out of rotation (or onto standby), in order."""
    return hosts_included(log, "Take this host out of each balancer's rotation")


def plays_named(log: str, name: str) -> list[str]:
    """The output of each play (each batch of a serial one) whose name starts with name."""
    return [play for play in re.split(r"^PLAY \[", log, flags=re.M) if play.startswith(name)]


def replica_batches(log: str) -> int:
    """How many batches the rolling play ran in: one per app host that changes, one at a time
    (a play with no host to change is skipped: Ansible prints it with no hosts matched)."""
    rolls = plays_named(log, "Roll the app hosts")
    return sum("skipping: no hosts matched" not in play for play in rolls)


def standby_started(log: str) -> list[str]:
    """The app hosts a playbook run kept in rotation on standby replicas beside their own."""
    return hosts_included(log, "Start standby replicas beside")


def versions_by_replica(requests: int) -> dict[str, str]:
    """Send requests to the balancer; the version each replica that answered runs."""
    answers = (get_json(f"{BALANCER}/api/whoami") for _ in range(requests))
    return {answer["replica"]: answer["version"] for answer in answers}


def balancer_answers(requests: int, url: str = BALANCER) -> Counter[str]:
    """Send requests to the balancer (or URL) from this host; every one must be a 200. Counts by
    replica."""
    return Counter(get_json(f"{url}/api/whoami")["replica"] for _ in range(requests))


def docker_volumes() -> set[str]:
    return set(run("docker", "volume", "ls", "--quiet").stdout.split())


def lab_volumes() -> set[str]:
    """The volumes the lab's machines mount (each inner engine's data)."""
    names = run("docker", "ps", "--all", "--quiet", "--filter", "name=flask-lb-lab-").stdout.split()
    mounts = '{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}} {{end}}{{end}}'
    if not names:
        return set()
    return set(run("docker", "inspect", "--format", mounts, *names).stdout.split())


def lab_leftovers() -> dict[str, list[str]]:
    docker = lambda *args: run("docker", *args).stdout.split()  # noqa: E731
    return {
        "containers": docker(
            "ps", "--all", "--format", "{{.Names}}", "--filter", "name=flask-lb-lab-"
        ),
        "networks": [
            name for name in docker("network", "ls", "--format", "{{.Name}}") if name == LAB_NETWORK
        ],
    }


def assert_even_split(answered, replicas: set[str], requests: int) -> None:
    assert set(answered) == replicas, f"replicas that answered: {sorted(answered)}"
    fair = requests / len(replicas)
    print(f"\n{requests} requests over {len(replicas)} replicas: {dict(sorted(answered.items()))}")
    for replica, count in answered.items():
        assert 0.75 * fair <= count <= 1.25 * fair, f"{replica} got {count}, fair share {fair:.1f}"


# A request every 10 ms on average, on 8 keep-alive connections: any gap in service is seen, and
# the machine's two cores stay with the change under test (an unpaced load takes one of them).
LOAD_RATE = 100


class Load:
    """A bounded load on the balancer in the background, for `with Load() as load: ...`."""

    def __init__(
        self,
        connections: int = 8,
        max_seconds: float = 600,
        client_timeout: float = 10,
        rate: float = LOAD_RATE,
        posts: bool = False,
        url: str = BALANCER,
    ) -> None:
        self.stop = threading.Event()
        self.results = Results()  # filled as the requests come back
        self._thread = threading.Thread(
            target=run_load,
            args=(f"{url}/api/whoami", connections, 10_000_000, max_seconds, self.stop,
                  client_timeout, self.results, rate, posts),
            daemon=True,
        )  # fmt: skip

    def total(self) -> int:
        """Requests answered or failed so far."""
        return self.results.total

    def __enter__(self) -> "Load":
        self._thread.start()
        time.sleep(1)  # under way before the action starts
        return self

    def __exit__(self, *exc) -> None:
        time.sleep(1)
        self.stop.set()
        self._thread.join()
        print(f"\nload during the action:\n{report(self.results)}")
        if exc[0] is None:
            assert self.results.total > 0, "the load sent nothing"


def node(name: str, *command: str, check: bool = True):
    """Run a command inside a lab machine (a node container of the docker provider)."""
    return run("docker", "exec", f"flask-lb-lab-{name}", *command, check=check)


UPSTREAM = "/etc/nginx/flask-lb-lab/upstream"
ADDRESSES = {host: IPS[host] for host in ("app1", "app2")}


def upstream_text(balancer: str = "balancer") -> str:
    """The balancer's upstream files, one after another."""
    return node(balancer, "sh", "-c", f"cat {UPSTREAM}/*.conf").stdout


def upstream_servers(balancer: str = "balancer") -> set[str]:
    """The servers in the balancer's upstream files, as "ADDRESS:PORT"."""
    lines = upstream_text(balancer).splitlines()
    return {line.split()[1] for line in lines if line.startswith("server ")}


def running_replicas(host: str) -> set[str]:
    """The replica containers running on an app host, as "ADDRESS:PORT"."""
    listing = node(host, "docker", "ps", "--filter", "label=flask-lb-lab.role=app", "--format",
                   '{{.Label "flask-lb-lab.port"}}')  # fmt: skip
    ports = listing.stdout.split()
    return {f"{ADDRESSES[host]}:{port}" for port in ports}


def assert_rotation(hosts: list[str], replicas: int, port_base: int) -> None:
    """The balancer holds exactly the running replicas, each answers on its port through it."""
    expected = {
        f"{ADDRESSES[h]}:{port}" for h in hosts for port in range(port_base, port_base + replicas)
    }
    assert upstream_servers() == expected
    assert set().union(*(running_replicas(h) for h in hosts)) == expected
    for server in expected:
        reply = node("balancer", "curl", "-fsS", "--max-time", "3", f"http://{server}/healthz")
        assert reply.returncode == 0, server
    names = {f"{h}-r{r}" for h in hosts for r in range(1, replicas + 1)}
    assert set(balancer_answers(12 * len(names))) == names


BROKEN_RELEASE = "broken"


def save_archive(image: str, version: str) -> None:
    """Save image where the app role loads version from, as `make images` does (gzipped, its ID
    beside it)."""
    archive = app_archive(version)
    save = 'docker save "$1" | gzip -1 >"$2"'
    run("bash", "-o", "pipefail", "-c", save, "-", image, str(archive))
    (archive.parent / f"{archive.name}.id").write_text(
        run("docker", "image", "inspect", "--format", "{{.Id}}", image).stdout
    )


def build_broken_release() -> None:
    """flask-lb-lab/app:broken, whose /healthz answers 500, saved where the app role loads from."""
    dockerfile = "\n".join([
        "FROM flask-lb-lab/app:1.0.0",
        "USER 0",
        # The line after "def healthz():" becomes a 500.
        "RUN sed -i '/def healthz/{n;s/.*/        return \"broken\", 500/}' /app/wsgi.py"
        " && grep -q 'return \"broken\", 500' /app/wsgi.py",
        "USER 10001:10001",
        f"ENV APP_VERSION={BROKEN_RELEASE}",
    ])  # fmt: skip
    image = f"flask-lb-lab/app:{BROKEN_RELEASE}"
    run("docker", "build", "--quiet", "--tag", image, "-", input=dockerfile, timeout=300)
    save_archive(image, BROKEN_RELEASE)
