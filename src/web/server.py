"""The web server: the Streamlit app (app.py) as an ASGI app, with uploads streamed to disk.

Run it with ``streamlit run src/web/server.py`` (the appliance and scripts/run-local.sh
do): Streamlit finds ``app`` below and serves app.py through it, exactly as
``streamlit run app.py`` would, plus the :class:`~src.web.upload_stream.StreamedUploads`
middleware in front of Streamlit's own routes.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import streamlit as st
from starlette.middleware import Middleware

# `streamlit run src/web/server.py` puts this file's folder on sys.path, not the project's.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from src.core.errors import SettingsError  # noqa: E402 - needs the path above
from src.core.settings import by_key, load_settings  # noqa: E402
from src.web import auth_config  # noqa: E402
from src.web.downloads import Downloads  # noqa: E402
from src.web.metrics_endpoint import Metrics  # noqa: E402
from src.web.notify_stop import NotifyStop  # noqa: E402
from src.web.sign_in_errors import SignInErrors  # noqa: E402
from src.web.stcore_guard import StcoreGuard  # noqa: E402
from src.web.upload_stream import StreamedUploads  # noqa: E402

# The app's own messages (refused uploads and starts, admin sign-ins) go to the server's log,
# which the appliance forwards to the container's output.
_handler = logging.StreamHandler()
_handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
logging.getLogger("src").addHandler(_handler)
logging.getLogger("src").setLevel(logging.INFO)


def _middleware() -> list[Middleware]:
    """Streamlit's own endpoints guarded, uploads streamed to disk, results downloaded by an
    expiring link, the e-mails' stop link, the Prometheus metrics and, in sign-in mode, why a
    sign-in failed (when the settings can be read: if not, every page says what is wrong with them)."""
    try:
        settings = load_settings()
    except SettingsError:
        default = int(by_key("limits.sessions_per_client").default)
        return [Middleware(StcoreGuard, sessions_per_client=default), Middleware(StreamedUploads)]
    return [
        Middleware(StcoreGuard, sessions_per_client=settings.limits.sessions_per_client),
        Middleware(StreamedUploads),
        Middleware(Downloads, settings=settings),
        Middleware(NotifyStop, settings=settings),
        Middleware(Metrics, settings=settings),
        *([Middleware(SignInErrors, settings=settings)] if settings.auth.signed_in else []),
    ]


def _sign_in() -> None:
    """Streamlit's sign-in reads its provider from its secrets: in sign-in mode, write them."""
    try:
        settings = load_settings()
    except SettingsError:
        return  # every page says what is wrong with the settings
    auth_config.configure(settings)


_sign_in()
app = st.App(PROJECT_ROOT / "app.py", middleware=_middleware())
