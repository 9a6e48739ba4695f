"""The Flask replica behind the lab's balancer: every answer says who served it."""

import os
import socket
from time import perf_counter

from flask import Flask, Response, g, jsonify, render_template, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from werkzeug.exceptions import HTTPException

# Each gunicorn worker writes its own files under PROMETHEUS_MULTIPROC_DIR (set in the image);
# /metrics adds them up, so a scrape sees the replica whole, whichever worker answers it.
MULTIPROCESS = "PROMETHEUS_MULTIPROC_DIR" in os.environ
REQUESTS = Counter(
    "app_requests", "Requests answered, by route and status", ["host", "replica", "path", "status"]
)
LATENCY = Histogram(
    "app_request_duration_seconds",
    "Time from request to response, by route",
    ["host", "replica", "path"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
INFO = Gauge(
    "app_info",
    "The version this replica runs (always 1)",
    ["host", "replica", "version"],
    multiprocess_mode="max",
)


def identity() -> dict[str, str]:
    """Who is answering: container, app host, replica and version (from the deployment)."""
    return {
        "container_id": socket.gethostname(),
        "host": os.environ.get("APP_HOST", "unknown"),
        "replica": os.environ.get("APP_REPLICA", "unknown"),
        "version": os.environ.get("APP_VERSION", "dev"),
    }


def create_app() -> Flask:
    app = Flask(__name__)
    whoami = identity()  # fixed for the life of the process
    with app.app_context():
        # The page never changes while the process lives: render it once, not per request.
        index_page = render_template("index.html", **whoami)

    labels = {"host": whoami["host"], "replica": whoami["replica"]}
    INFO.labels(version=whoami["version"], **labels).set(1)

    @app.before_request
    def start_timer() -> None:
        g.started = perf_counter()

    @app.after_request
    def count(response: Response) -> Response:
        # The route, not the raw path: a scan of made-up URLs must not make a series each.
        path = request.url_rule.rule if request.url_rule else "unmatched"
        if path != "/metrics":
            REQUESTS.labels(path=path, status=str(response.status_code), **labels).inc()
            LATENCY.labels(path=path, **labels).observe(perf_counter() - g.started)
        return response

    @app.get("/metrics")
    def metrics() -> Response:
        registry = REGISTRY
        if MULTIPROCESS:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

    @app.get("/")
    def index() -> str:
        return index_page

    @app.get("/api/whoami")
    def api_whoami():
        return jsonify(whoami)

    # A request with a body, which the balancer may not send again to another replica: what a
    # rolling change must not lose either.
    @app.post("/api/echo")
    def api_echo():
        return jsonify({**whoami, "received": len(request.get_data())})

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok", replica=whoami["replica"])

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        # JSON for API clients, a page for people; never a traceback.
        if request.path.startswith("/api/"):
            return jsonify(error=error.name, status=error.code), error.code
        return render_template("error.html", error=error), error.code

    return app


app = create_app()
