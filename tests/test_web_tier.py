"""The web tier without the container: no request leaves the app, and the health check tells a
busy web server from a dead one (real sockets, a real Streamlit server)."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

import pytest

from src.jobs.ops.health import door_problem, web_state
from tests.browser_support import AppServer, go_to, open_app
from tests.queue_support import free_port

pytestmark = pytest.mark.slow

PAGES = ["File Upload", "Configure", "Run", "Results", "Queue admin"]


@pytest.fixture
def local_server(settings, tmp_path):
    server = AppServer({"WORKSPACES_DIR": str(settings.workspaces_dir)}, tmp_path / "streamlit.log")
    yield server
    server.stop()


def test_no_page_requests_any_host_but_the_app(local_server, new_page):
    page = new_page()
    hosts: set[str] = set()
    page.on("request", lambda r: hosts.add(urlparse(r.url).hostname or ""))
    page.on("requestfailed", lambda r: hosts.add(f"failed:{urlparse(r.url).hostname}"))
    open_app(page, local_server)  # the Quickstart page
    for title in PAGES:
        go_to(page, title)
    page.reload()
    assert hosts == {"127.0.0.1"}, hosts  # nothing from fonts.gstatic.com or any other host


def test_the_health_check_tells_a_busy_web_server_from_a_dead_one(local_server):
    assert web_state(f"{local_server.url}/_stcore/health") == "ok"

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    try:  # takes the connection, never answers: a web server with all its cores busy
        assert web_state(f"http://127.0.0.1:{listener.getsockname()[1]}/_stcore/health", timeout=1) == "busy"
    finally:
        listener.close()
    assert web_state(f"http://127.0.0.1:{free_port()}/_stcore/health", timeout=1) == "dead"


class _NoServerAvailable(BaseHTTPRequestHandler):
    """What HAProxy answers while it marks every web server down."""

    def do_GET(self) -> None:  # the name http.server calls
        self.send_response(503)
        self.end_headers()
        self.wfile.write(b"<html><body><h1>503 Service Unavailable</h1></body></html>")

    def log_message(self, *_: object) -> None:
        pass


def test_the_health_check_finds_a_proxy_that_sends_visitors_to_no_server(local_server):
    """A proxy that answers 503 while every web server answers itself (HAProxy has not seen them come
    up yet) is unhealthy; with a web server busy, the proxy's 503 is the load's and healthy."""
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), _NoServerAvailable)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        door = f"http://127.0.0.1:{proxy.server_address[1]}/_stcore/health"
        assert "sends visitors to no web server" in door_problem(door, ["ok", "ok"])
        assert door_problem(door, ["ok", "busy"]) == ""
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert door_problem(f"{local_server.url}/_stcore/health", ["ok"]) == ""  # a door that lets visitors in
    assert "nothing answers" in door_problem(f"http://127.0.0.1:{free_port()}/_stcore/health", ["ok"])
