"""The Flask replica behind the lab's balancer: every answer says who served it."""

import os
import socket

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException


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

    @app.get("/")
    def index() -> str:
        return index_page

    @app.get("/api/whoami")
    def api_whoami():
        return jsonify(whoami)

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
