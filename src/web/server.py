"""The web server: the Streamlit app (app.py) as an ASGI app, with uploads streamed to disk.

Run it with ``streamlit run src/web/server.py`` (the appliance and scripts/run-local.sh
do): Streamlit finds ``app`` below and serves app.py through it, exactly as
``streamlit run app.py`` would, plus this app's own routes (results downloads, the e-mails' stop
link, /metrics) and middleware in front of Streamlit's routes (its endpoints guarded, uploads
streamed to disk by :class:`~src.web.upload_stream.StreamedUploads`, the browser's cookie, in
sign-in mode why a sign-in failed).
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import streamlit as st
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Route

# `streamlit run src/web/server.py` puts this file's folder on sys.path, not the project's.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from src.core import process_log  # noqa: E402 - needs the path above
from src.core.errors import SettingsError  # noqa: E402
from src.core.settings import Settings, by_key, load_settings  # noqa: E402
from src.web import auth_config, downloads, metrics_endpoint, notify_stop, session_memory  # noqa: E402
from src.web.sign_in_errors import SignInErrors  # noqa: E402
from src.web.stcore_guard import OpenSessions, StcoreGuard  # noqa: E402
from src.web.upload_stream import StreamedUploads  # noqa: E402

#: The methods this app's routes take: each answers the ones it does not serve itself (a 404 or
#: 405 of its own, with its own text), where Starlette's would say only "Method Not Allowed".
ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def _routes(settings: Settings, sessions: OpenSessions) -> list[BaseRoute]:
    """Results downloaded by an expiring link, the e-mails' stop link and the Prometheus metrics."""
    metrics = metrics_endpoint.Metrics(settings, lambda: sessions.total)
    return [
        Route(downloads.ROUTE, functools.partial(downloads.download, settings), methods=ANY_METHOD),
        Route(notify_stop.ROUTE, functools.partial(notify_stop.stop_page, settings), methods=ANY_METHOD),
        Route(metrics_endpoint.ROUTE, metrics.answer, methods=ANY_METHOD),
    ]


def _guards(sessions: OpenSessions) -> list[Middleware]:
    """Streamlit's own endpoints guarded and uploads streamed to disk: always, even when the
    settings cannot be read."""
    return [Middleware(StcoreGuard, sessions=sessions), Middleware(StreamedUploads)]


def _serving(
    closed: session_memory.ClosedSessions,
) -> tuple[list[BaseRoute], list[Middleware], dict[str, object] | None]:
    """The app's routes, middleware and secrets: when the settings can be read (if not, every page
    says what is wrong with them) its routes, the browser's cookie (for the download links) and, in
    sign-in mode, why a sign-in failed, with Streamlit's sign-in given its provider (its secrets).
    Every page that closes is told to ``closed``."""
    try:
        settings = load_settings()
    except SettingsError:
        limit = int(by_key("limits.sessions_per_client").default)
        return [], _guards(OpenSessions(limit, on_close=closed.closed)), None
    sessions = OpenSessions(settings.limits.sessions_per_client, on_close=closed.closed)
    middleware = [
        *_guards(sessions),
        Middleware(downloads.BrowserCookie),
        *([Middleware(SignInErrors, settings=settings)] if settings.auth.signed_in else []),
    ]
    return _routes(settings, sessions), middleware, auth_config.secrets(settings)


# The app's own messages (refused uploads and starts, admin sign-ins) go to the server's log,
# which the appliance forwards to the container's output.
process_log.configure("text", "src", sys.stderr)
# Closed pages' sessions are let go after the time a page may reconnect in; their memory with them.
CLOSED = session_memory.ClosedSessions(float(st.get_option("server.disconnectedSessionTTL")))
ROUTES, MIDDLEWARE, SECRETS = _serving(CLOSED)
# `streamlit run` finds the app by reading this file (not running it): it looks for `app = st.App(...)`.
app = st.App(
    PROJECT_ROOT / "app.py",
    secrets=SECRETS,
    lifespan=session_memory.lifespan(CLOSED),
    routes=ROUTES,
    middleware=MIDDLEWARE,
)
