"""``/download/<token>``: a run's results as a zip, for a link that expires.

Streamlit's own download button puts the file at ``/media/<id>.zip``, where anyone with the
URL (a proxy's log, a shared screen, the browser's history) can fetch it for as long as the
session lives, without the workspace link. The Results page links here instead. The token is
random and says nothing: which folder it zips and until when (``LINK_SECONDS``) is kept on the
server, in ``<workspaces>/.downloads/`` (readable by the app's user only, so the tools cannot
list it), under the token's hash; every web server of the deployment shares the volume.

A link opens only in the browser whose page made it: this server gives every browser a random
cookie of its own (``COOKIE``, HttpOnly), the page reads it from its session (``st.context``) and
the link keeps its hash; a request without that cookie (another browser, a proxy's log, a shared
screen) is refused with 403. In sign-in mode the page is a signed-in person's, so the link is too.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from src.core.jsonfile import read_json, write_json
from src.core.settings import Settings
from src.core.workflow import FileManager

log = logging.getLogger(__name__)

PREFIX = "/download/"
ROUTE = PREFIX + "{token:path}"
#: How long a download link works (s): long enough to press it, short enough not to be a key.
LINK_SECONDS = 600
#: Where the links are kept, inside the workspaces folder.
LINKS_DIR = ".downloads"
#: The cookie that names a browser (random, set by this server, never readable by the page's scripts).
COOKIE = "openms_browser"


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


@dataclass(frozen=True)
class Link:
    folder: Path
    name: str
    browser: str  # the hash of the browser's cookie; "" if its page had none (then it opens nowhere)

    def opens_for(self, cookie: str) -> bool:
        return bool(self.browser) and hmac.compare_digest(self.browser, browser_key(cookie))


def browser_key(cookie: str) -> str:
    """What a link keeps of the browser's cookie: its hash ("" for no cookie)."""
    return hashlib.sha256(cookie.encode()).hexdigest() if cookie else ""


def link(settings: Settings, folder: Path, filename: str, cookie: str, now: float | None = None) -> str:
    """A link that downloads ``folder`` (inside a workspace) as a zip named ``filename``, in the
    browser whose ``COOKIE`` is ``cookie`` only."""
    now = time.time() if now is None else now
    _prune(_links(settings), now)
    token = secrets.token_urlsafe(24)
    relative = folder.resolve().relative_to(settings.workspaces_dir.resolve()).as_posix()
    entry = {"folder": relative, "name": filename, "browser": browser_key(cookie)}
    write_json(_entry(settings, token), {**entry, "expires": now + LINK_SECONDS})
    return f"{PREFIX}{token}"


def resolve(settings: Settings, token: str, now: float | None = None) -> Link | None:
    """The link of a known, unexpired token; None for any other."""
    if not token or len(token) > 100:
        return None
    data = read_json(_entry(settings, token))
    if not data or float(data.get("expires", 0)) < (time.time() if now is None else now):
        return None
    root = settings.workspaces_dir.resolve()
    folder = (root / str(data.get("folder", ""))).resolve()
    if root not in folder.parents:
        return None
    return Link(folder, str(data.get("name") or "results.zip"), str(data.get("browser", "")))


class BrowserCookie:
    """ASGI middleware: a request that came without the browser's cookie gets one with its page
    (the HTML, which comes before anything else of it). Never a script or style: those are cached,
    by shared caches too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or HTTPConnection(scope).cookies.get(COOKIE):
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if headers.get("content-type", "").startswith("text/html"):
                    cookie = f"{COOKIE}={secrets.token_urlsafe(24)}; Path=/; HttpOnly; SameSite=Lax"
                    headers.append("set-cookie", cookie)
                    headers["cache-control"] = "no-store"  # an answer with its own cookie is kept nowhere
            await send(message)

        await self.app(scope, receive, sending)


async def download(settings: Settings, request: Request) -> Response:
    """``/download/<token>`` (``ROUTE``): the link's folder as a zip, built while it is sent. Any
    method but GET, and any token not made by :func:`link`, is a link that does not open: 404."""
    found = resolve(settings, request.path_params["token"]) if request.method == "GET" else None
    if found is None:
        return _text(404, "This download link is not valid or has expired. Open the Results page again.")
    if not found.opens_for(request.cookies.get(COOKIE, "")):
        log.warning("refused a download link opened in another browser")
        return _text(403, _OTHER_BROWSER)
    safe = "".join(c for c in found.name if c.isalnum() or c in "._-") or "results.zip"
    archive = FileManager(found.folder.parent).results_zip(found.folder)
    return StreamingResponse(
        _counted(archive),  # an iterator: Starlette reads it in a worker thread, piece by piece
        media_type="application/zip",
        headers={**_HEADERS, "content-disposition": f'attachment; filename="{safe}"'},
    )


_HEADERS = {
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}

_OTHER_BROWSER = (
    "This download link belongs to the browser whose Results page made it. Open the Results page "
    "in this browser for a link of your own (the browser must keep this server's cookies)."
)


def _text(status: int, text: str) -> Response:
    return PlainTextResponse(text, status, headers=_HEADERS)


def _counted(archive: Iterator[bytes]) -> Iterator[bytes]:
    size = 0
    for piece in archive:
        size += len(piece)
        yield piece
    log.info("results downloaded (%d bytes)", size)
