"""Streamlit's own endpoints (``/_stcore/...``) as a public server may offer them.

- ``/_stcore/metrics`` (Streamlit's internal counters) answers 404 however its path is spelled:
  percent-encoded, in capitals, with doubled slashes or dot segments. HAProxy refuses it too, but
  a proxy matches the raw path while this server decodes it (``/_stcore/%6detrics`` got through).
- A websocket (``/_stcore/stream``) opened by another site's page is refused here. Streamlit would
  refuse it as well, but first looks up the machine's external address at checkip.amazonaws.com,
  blocking, on every such request; the server contacts nobody.
- One client address has at most ``limits.sessions_per_client`` websocket sessions (open pages)
  on this web server, so that no visitor can fill its memory with sessions. Memory is a web
  server's own, so the bound is per server. A page beyond it asks for ``/_stcore/host-config``
  before it connects; that answers 429 with the reason (a JSON string: the page shows the body of
  a JSON answer only) under "Connection failed with status 429", and the page retries by itself
  until a session of that visitor closes.
"""

from __future__ import annotations

import logging
import posixpath
import re
import textwrap
from collections import Counter
from collections.abc import Callable
from urllib.parse import unquote, urlparse

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket
from streamlit import config

log = logging.getLogger(__name__)

CLOSED = "/_stcore/metrics"
STREAM = "/_stcore/stream"
HOST_CONFIG = "/_stcore/host-config"
#: Origins whose host Streamlit allows by name, before it would look up any address.
NAMED_HOSTS = frozenset({"localhost", "0.0.0.0", "127.0.0.1"})
FOREIGN_ORIGIN = "Pages of other sites may not connect to this app."


def spelled(path: str) -> str:
    """A path as a lenient router could read it: decoded until it stops changing, repeated slashes
    and dot segments folded, in lower case."""
    for _ in range(5):
        decoded = unquote(path)
        if decoded == path:
            break
        path = decoded
    return posixpath.normpath(re.sub(r"/+", "/", "/" + path)).lower()


def visitor_of(scope: Scope) -> str:
    """The visitor's address as the app counts it (uvicorn puts a trusted proxy's X-Forwarded-For
    there); ``::ffff:a.b.c.d`` is ``a.b.c.d``."""
    visitor = HTTPConnection(scope).client
    return (visitor.host if visitor else "").removeprefix("::ffff:")


def origin_needs_lookup(headers: Headers) -> bool:
    """Whether Streamlit could judge this websocket's Origin only by looking up the machine's
    addresses: it allows no Origin, the page's own, and a few host names without a lookup."""
    origin = headers.get("origin")
    if origin is None or not config.get_option("server.enableCORS"):
        return False
    parsed = urlparse(origin)
    if parsed.netloc == headers.get("host"):
        return False
    named = set(NAMED_HOSTS)
    if config.is_manually_set("browser.serverAddress"):
        named.add(urlparse(f"http://{config.get_option('browser.serverAddress')}").hostname or "")
    return (parsed.hostname or "") not in named


class OpenSessions:
    """Websocket sessions open on this web server, per client address, and in all (``total``: the
    browser sessions /metrics reports; Streamlit's runtime has no public count of its own). Only
    the server's event loop changes it, so it needs no lock; other threads read ``total`` only."""

    def __init__(self, limit: int, on_close: Callable[[], None] = lambda: None) -> None:
        self.limit = limit
        self.on_close = on_close
        self.count: Counter[str] = Counter()
        self.total = 0

    def full(self, visitor: str) -> bool:
        return self.count[visitor] >= self.limit

    def open(self, visitor: str) -> bool:
        if self.full(visitor):
            return False
        self.count[visitor] += 1
        self.total += 1
        return True

    def close(self, visitor: str) -> None:
        self.total -= 1
        self.count[visitor] -= 1
        if self.count[visitor] <= 0:
            del self.count[visitor]
        self.on_close()

    def message(self) -> str:
        return (
            f"Too many pages of this app are open from your network ({self.limit} on this server). "
            "Close a tab of it you no longer need: this page connects by itself as soon as one closes."
        )


class StcoreGuard:
    """ASGI middleware in front of Streamlit's routes; see the module's text. ``sessions`` is
    shared with whatever else counts this server's sessions (/metrics)."""

    def __init__(self, app: ASGIApp, sessions: OpenSessions) -> None:
        self.app = app
        self.sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = spelled(scope.get("path", ""))
        if CLOSED in path:
            await _refuse(scope, receive, send, _plain(404, "Not found."))
        elif scope["type"] == "websocket" and path.endswith(STREAM):
            await self._stream(scope, receive, send)
        elif path.endswith(HOST_CONFIG) and self.sessions.full(visitor_of(scope)):
            # Shown in a code block that does not wrap: short lines.
            text = textwrap.fill(self.sessions.message(), 44)
            answer = JSONResponse(text, 429, headers={"cache-control": "no-store"})
            await _refuse(scope, receive, send, answer)
        else:
            await self.app(scope, receive, send)

    async def _stream(self, scope: Scope, receive: Receive, send: Send) -> None:
        if origin_needs_lookup(Headers(scope=scope)):
            log.warning("refused a websocket opened by another site's page")
            await _refuse(scope, receive, send, _plain(403, FOREIGN_ORIGIN))
            return
        visitor = visitor_of(scope)
        if not self.sessions.open(visitor):
            log.warning("refused a websocket session beyond %d of one client", self.sessions.limit)
            await _refuse(scope, receive, send, _plain(429, self.sessions.message()))
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.sessions.close(visitor)


def _plain(status: int, text: str) -> Response:
    return PlainTextResponse(text + "\n", status, headers={"cache-control": "no-store"})


async def _refuse(scope: Scope, receive: Receive, send: Send, answer: Response) -> None:
    """An HTTP answer, or for a websocket the same as its denial response (a plain close where
    the server cannot send one: the browser learns nothing more from a refused websocket)."""
    if scope["type"] == "http":
        await answer(scope, receive, send)
        return
    websocket = WebSocket(scope, receive, send)
    if "websocket.http.response" in scope.get("extensions", {}):
        await websocket.send_denial_response(answer)
    else:
        await websocket.close(code=1008)
