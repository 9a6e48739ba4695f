"""gunicorn settings, each overridable from the environment (the app role sets them)."""

import os
import shutil

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:5000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread" if threads > 1 else "sync"
# The heartbeat file on tmpfs: the root filesystem is read-only, and disk can stall workers.
worker_tmp_dir = "/dev/shm"
# Empty: no access log (the balancer logs every request already).
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-") or None
errorlog = "-"
# Longer than nginx's upstream keepalive_timeout, so nginx closes idle connections first.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "75"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# Finish in-flight requests on SIGTERM well inside `docker stop`'s 10 s default.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "8"))
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# No runtime control socket: the container is managed by Docker, and its home is read-only.
control_socket_disable = True

# Prometheus metrics: one file set per worker in this directory (wsgi.py adds them up).
metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")


def on_starting(server: object) -> None:
    """Counters start at zero with the replica: no files left from an earlier run."""
    if metrics_dir:
        shutil.rmtree(metrics_dir, ignore_errors=True)
        os.makedirs(metrics_dir)


def child_exit(server: object, worker: object) -> None:
    """A worker that exits leaves its counters in the sum, not its live gauges."""
    if metrics_dir:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def _one_write_per_whole_response() -> None:
    """Headers and body leave in one sendall when the body comes whole (every response of this
    app). gunicorn writes them apart, and a replica killed between the two writes would leave nginx
    with headers it has passed on already and no body: a truncated reply it cannot retry."""
    from gunicorn import util
    from gunicorn.http.wsgi import Response

    write_apart = Response.write

    def write(self: Response, data: bytes) -> None:
        whole = isinstance(data, bytes) and self.response_length == len(data)
        if self.headers_sent or self.chunked or self._omits_body or not whole:
            write_apart(self, data)
            return
        head = self.default_headers() + [f"{name}: {value}\r\n" for name, value in self.headers]
        self.headers_sent = True
        self.sent = len(data)
        util.write(self.sock, ("".join(head) + "\r\n").encode("latin-1") + data)

    Response.write = write


_one_write_per_whole_response()
