"""``/download/<token>``: a run's results as a zip, for a link that expires.

Streamlit's own download button puts the file at ``/media/<id>.zip``, where anyone with the
URL (a proxy's log, a shared screen, the browser's history) can fetch it for as long as the
session lives, without the workspace link. The Results page links here instead. The token is
random and says nothing: which folder it zips and until when (``LINK_SECONDS``) is kept on the
server, in ``<workspaces>/.downloads/`` (readable by the app's user only, so the tools cannot
list it), under the token's hash; every web server of the deployment shares the volume.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio

from src.core.jsonfile import read_json, write_json
from src.core.settings import Settings
from src.core.workflow import FileManager

log = logging.getLogger(__name__)

PREFIX = "/download/"
#: How long a download link works (s): long enough to press it, short enough not to be a key.
LINK_SECONDS = 600
#: Where the links are kept, inside the workspaces folder.
LINKS_DIR = ".downloads"

Scope = dict
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


def _links(settings: Settings) -> Path:
    folder = settings.workspaces_dir / LINKS_DIR
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def _entry(settings: Settings, token: str) -> Path:
    return _links(settings) / f"{hashlib.sha256(token.encode()).hexdigest()}.json"


def _prune(folder: Path, now: float) -> None:
    """Links that have expired are removed whenever a new one is made."""
    for path in folder.glob("*.json"):
        if read_json(path).get("expires", 0) < now:
            path.unlink(missing_ok=True)


def link(settings: Settings, folder: Path, filename: str, now: float | None = None) -> str:
    """A link that downloads ``folder`` (inside a workspace) as a zip named ``filename``."""
    now = time.time() if now is None else now
    _prune(_links(settings), now)
    token = secrets.token_urlsafe(24)
    relative = folder.resolve().relative_to(settings.workspaces_dir.resolve()).as_posix()
    write_json(_entry(settings, token), {"folder": relative, "name": filename, "expires": now + LINK_SECONDS})
    return f"{PREFIX}{token}"


def resolve(settings: Settings, token: str, now: float | None = None) -> tuple[Path, str] | None:
    """(folder, file name) for a known, unexpired token; None for any other."""
    if not token or len(token) > 100:
        return None
    data = read_json(_entry(settings, token))
    if not data or float(data.get("expires", 0)) < (time.time() if now is None else now):
        return None
    root = settings.workspaces_dir.resolve()
    folder = (root / str(data.get("folder", ""))).resolve()
    if root not in folder.parents:
        return None
    return folder, str(data.get("name") or "results.zip")


class Downloads:
    """ASGI middleware: answers ``/download/<token>``; every other request passes untouched."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], settings: Settings) -> None:
        self.app, self.settings = app, settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        found = resolve(self.settings, path[len(PREFIX) :]) if scope["method"] == "GET" else None
        if found is None:
            text = b"This download link is not valid or has expired. Open the Results page again."
            await _answer(send, 404, text)
            return
        folder, filename = found
        data = await anyio.to_thread.run_sync(FileManager(folder.parent).results_zip, folder)
        log.info("results downloaded (%d bytes)", len(data))
        await _answer(send, 200, data, filename)


async def _answer(send: Send, status: int, body: bytes, filename: str = "") -> None:
    headers = [
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
    ]
    if filename:
        safe = "".join(c for c in filename if c.isalnum() or c in "._-") or "results.zip"
        headers += [
            (b"content-type", b"application/zip"),
            (b"content-disposition", f'attachment; filename="{safe}"'.encode()),
        ]
    else:
        headers.append((b"content-type", b"text/plain; charset=utf-8"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
