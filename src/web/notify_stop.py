"""``/notify/stop``: the link in every run-end e-mail that stops the e-mails of that workspace.

``GET`` shows a small page with one button (mail scanners open links, and opening must not
stop anything); pressing it, or a mail program's one-click ``POST`` (RFC 8058, announced in the
mail's ``List-Unsubscribe`` headers), forgets the workspace's address when the link's token is
the one kept for it (``src/core/notify/subscription.py``). The page names no workspace or address.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, Response

from src.core import workspace as ws
from src.core.errors import WorkspaceError
from src.core.notify import subscription
from src.core.settings import Settings

log = logging.getLogger(__name__)

ROUTE = subscription.STOP_PATH

_HEADERS = {
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "content-security-policy": "default-src 'none'; form-action 'self'; frame-ancestors 'none'",
}


async def stop_page(settings: Settings, request: Request) -> Response:
    """``/notify/stop`` (``ROUTE``): the page of a stop link (GET), and the stop (POST)."""
    workspace = _workspace(settings, request.query_params.get("workspace", ""))
    token = request.query_params.get("token", "")
    if request.method == "POST":
        with contextlib.suppress(ClientDisconnect):  # a one-click body says nothing more: read, not kept
            async for _ in request.stream():
                pass
        stopped = workspace is not None and subscription.stop(workspace, token)
        if stopped:
            log.info("run-end e-mails of a workspace stopped from a mail's link")
        return _page(200 if stopped else 404, _STOPPED if stopped else _INVALID)
    if request.method in ("GET", "HEAD"):
        valid = workspace is not None and subscription.stop_token_matches(workspace, token)
        return _page(200 if valid else 404, _ASK if valid else _INVALID)
    return _page(405, _INVALID)


def _workspace(settings: Settings, workspace_id: str) -> Path | None:
    """The workspace a link names, if its id is well-formed and it exists."""
    if settings.online_deployment:
        valid = ws.is_valid_online_id(workspace_id)
    else:
        try:
            valid = bool(ws.validate_local_name(workspace_id))
        except WorkspaceError:
            valid = False
    path = settings.workspaces_dir / workspace_id
    return path if valid and path.is_dir() else None


_ASK = (
    "<p>Stop the e-mails about the runs of this workspace?</p>"
    '<form method="post"><button type="submit">Stop the e-mails</button></form>'
)
_STOPPED = "<p>Done: no more e-mails are sent about the runs of this workspace.</p>"
_INVALID = (
    "<p>This link does not stop anything (any more): the e-mails may have been stopped already. "
    "You can also stop them on the Run page of the workspace.</p>"
)


def _page(status: int, body: str) -> Response:
    text = (
        "<!doctype html><html><head><meta charset='utf-8'><title>E-mails about runs</title></head>"
        f"<body>{body}</body></html>"
    )
    return HTMLResponse(text, status, headers=_HEADERS)
