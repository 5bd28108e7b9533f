"""``/notify/stop``: the link in every run-end e-mail that stops the e-mails of that workspace.

``GET`` shows a small page with one button (mail scanners open links, and opening must not
stop anything); pressing it, or a mail program's one-click ``POST`` (RFC 8058, announced in the
mail's ``List-Unsubscribe`` headers), forgets the workspace's address when the link's token is
the one kept for it (``src/core/notify/subscription.py``). The page names no workspace or address.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import parse_qs

from src.core import workspace as ws
from src.core.errors import WorkspaceError
from src.core.notify import subscription
from src.core.settings import Settings

log = logging.getLogger(__name__)

Scope = dict
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]

_HEADERS = [
    (b"content-type", b"text/html; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", b"default-src 'none'; form-action 'self'; frame-ancestors 'none'"),
]


class NotifyStop:
    """ASGI middleware: answers ``/notify/stop``; every other request passes untouched."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], settings: Settings) -> None:
        self.app, self.settings = app, settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") != subscription.STOP_PATH:
            await self.app(scope, receive, send)
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        workspace = _workspace(self.settings, query.get("workspace", [""])[0])
        token = query.get("token", [""])[0]
        if scope["method"] == "POST":
            await _drain(receive)
            stopped = workspace is not None and subscription.stop(workspace, token)
            if stopped:
                log.info("run-end e-mails of a workspace stopped from a mail's link")
            await _page(send, 200 if stopped else 404, _STOPPED if stopped else _INVALID)
        elif scope["method"] in ("GET", "HEAD"):
            valid = workspace is not None and subscription.stop_token_matches(workspace, token)
            await _page(send, 200 if valid else 404, _ASK if valid else _INVALID)
        else:
            await _page(send, 405, _INVALID)


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


async def _drain(receive: Receive) -> None:
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False) and message["type"] == "http.request"


_ASK = (
    "<p>Stop the e-mails about the runs of this workspace?</p>"
    '<form method="post"><button type="submit">Stop the e-mails</button></form>'
)
_STOPPED = "<p>Done: no more e-mails are sent about the runs of this workspace.</p>"
_INVALID = (
    "<p>This link does not stop anything (any more): the e-mails may have been stopped already. "
    "You can also stop them on the Run page of the workspace.</p>"
)


async def _page(send: Send, status: int, body: str) -> None:
    text = (
        "<!doctype html><html><head><meta charset='utf-8'><title>E-mails about runs</title></head>"
        f"<body>{body}</body></html>"
    ).encode()
    headers = [*_HEADERS, (b"content-length", str(len(text)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": text})
