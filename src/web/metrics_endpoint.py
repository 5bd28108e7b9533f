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
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from streamlit import config

from src.core.settings import Settings
from src.jobs.connection import REDIS_ERRORS, get_connection
from src.jobs.ops import prometheus
from src.runs import queue_wanted

log = logging.getLogger(__name__)

ROUTE = "/metrics"
#: How often this server renews its session count in Redis (well inside its expiry).
PUBLISH_SECONDS = prometheus.WEB_SESSIONS_TTL / 3
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # Prometheus's text format


def server_name() -> str:
    """This web server as the ``server`` label names it: host and port."""
    return f"{socket.gethostname()}:{config.get_option('server.port')}"


class Metrics:
    """``/metrics`` (``ROUTE``, answered by :meth:`answer`). ``open_sessions`` counts the browser
    sessions open on this server (``stcore_guard.OpenSessions``: Streamlit's runtime has no public
    count)."""

    def __init__(self, settings: Settings, open_sessions: Callable[[], int]) -> None:
        self.settings, self.open_sessions = settings, open_sessions
        self.token = settings.metrics.token.encode()
        if settings.metrics.enabled and queue_wanted(settings):
            threading.Thread(target=self._publish_forever, name="metrics-sessions", daemon=True).start()

    async def answer(self, request: Request) -> Response:
        if not self.settings.metrics.enabled:
            return _plain(404, "Metrics are off on this server (METRICS_ENABLED).\n")
        if self.token and not hmac.compare_digest(_bearer(request), self.token):
            return _plain(401, "Send the metrics token: Authorization: Bearer <METRICS_TOKEN>.\n")
        if request.method not in ("GET", "HEAD"):
            return _plain(405, "Only GET.\n")
        body = await run_in_threadpool(self._render)
        return Response(body, headers=_NO_STORE, media_type=CONTENT_TYPE)

    def _render(self) -> str:
        connection = get_connection(self.settings.queue) if queue_wanted(self.settings) else None
        return prometheus.render(self.settings, connection, (server_name(), self.open_sessions()))

    def _publish_forever(self) -> None:
        stop = threading.Event()
        while not stop.wait(PUBLISH_SECONDS):
            try:
                connection = get_connection(self.settings.queue)
                prometheus.publish_sessions(connection, server_name(), self.open_sessions())
            except REDIS_ERRORS as err:  # the count is missing from other servers' scrapes meanwhile
                log.debug("session count not published (Redis: %s)", err)


_NO_STORE = {"cache-control": "no-store"}


def _bearer(request: Request) -> bytes:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip().encode("latin-1") if scheme.lower() == "bearer" else b""


def _plain(status: int, text: str) -> Response:
    extra = {"www-authenticate": 'Bearer realm="metrics"'} if status == 401 else {}
    return PlainTextResponse(text, status, headers={**_NO_STORE, **extra})
