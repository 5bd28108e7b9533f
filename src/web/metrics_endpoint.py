"""``/metrics`` on the app's port, for Prometheus (off unless METRICS_ENABLED; METRICS_TOKEN asks
for ``Authorization: Bearer <token>``). The figures are read at scrape time
(``src/jobs/ops/prometheus.py``); this server only adds its own sessions, and renews their count in
Redis every few seconds so that whichever web server a scrape reaches reports all of them.
"""

from __future__ import annotations

import hmac
import logging
import socket
import threading
from collections.abc import Awaitable, Callable

import anyio
from streamlit import config
from streamlit.runtime import Runtime

from src.core.settings import Settings
from src.jobs.connection import REDIS_ERRORS, get_connection
from src.jobs.ops import prometheus
from src.runs import queue_wanted

log = logging.getLogger(__name__)

PATH = "/metrics"
#: How often this server renews its session count in Redis (well inside its expiry).
PUBLISH_SECONDS = prometheus.WEB_SESSIONS_TTL / 3
CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"  # Prometheus's text format
PLAIN = b"text/plain; charset=utf-8"

Scope = dict
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


def server_name() -> str:
    """This web server as the ``server`` label names it: host and port."""
    return f"{socket.gethostname()}:{config.get_option('server.port')}"


def open_sessions() -> int:
    """Browser sessions connected to this server now (Streamlit's runtime has no public count)."""
    if not Runtime.exists():
        return 0
    return Runtime.instance()._session_mgr.num_active_sessions()


class Metrics:
    """ASGI middleware: answers ``/metrics``; every other request passes untouched."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], settings: Settings) -> None:
        self.app, self.settings = app, settings
        self.token = settings.metrics.token.encode()
        if settings.metrics.enabled and queue_wanted(settings):
            threading.Thread(target=self._publish_forever, name="metrics-sessions", daemon=True).start()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") != PATH:
            await self.app(scope, receive, send)
            return
        if not self.settings.metrics.enabled:
            await _answer(send, 404, b"Metrics are off on this server (METRICS_ENABLED).\n")
        elif self.token and not hmac.compare_digest(_bearer(scope), self.token):
            await _answer(send, 401, b"Send the metrics token: Authorization: Bearer <METRICS_TOKEN>.\n")
        elif scope["method"] not in ("GET", "HEAD"):
            await _answer(send, 405, b"Only GET.\n")
        else:
            body = await anyio.to_thread.run_sync(self._render)
            await _answer(send, 200, body.encode(), CONTENT_TYPE)

    def _render(self) -> str:
        connection = get_connection(self.settings.queue) if queue_wanted(self.settings) else None
        return prometheus.render(self.settings, connection, (server_name(), open_sessions()))

    def _publish_forever(self) -> None:
        stop = threading.Event()
        while not stop.wait(PUBLISH_SECONDS):
            try:
                connection = get_connection(self.settings.queue)
                prometheus.publish_sessions(connection, server_name(), open_sessions())
            except REDIS_ERRORS as err:  # the count is missing from other servers' scrapes meanwhile
                log.debug("session count not published (Redis: %s)", err)


def _bearer(scope: Scope) -> bytes:
    for name, value in scope.get("headers", []):
        if name.lower() == b"authorization" and value[:7].lower() == b"bearer ":
            return value[7:].strip()
    return b""


async def _answer(send: Send, status: int, body: bytes, content_type: bytes = PLAIN) -> None:
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="metrics"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
