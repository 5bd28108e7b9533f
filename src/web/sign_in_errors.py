"""Why a sign-in failed, for the sign-in page (sign-in mode, ``AUTH_MODE=oidc``).

Streamlit's sign-in (``/auth/login``, ``/oauth2callback``) only logs a failure and sends the
visitor back to the sign-in page, which then looked as if nothing had happened: the provider's
error (``/oauth2callback?error=...``), a refused token exchange (a wrong client secret), a
provider that cannot be reached (a plain "Authentication error" page). This middleware watches
those two routes and leaves Streamlit's handling as it is:

- ``/auth/login`` answers with the redirect to the provider: the browser gets the request's
  ``state`` in a cookie (``STATE_COOKIE``), and an empty ``prompt`` is taken out of the request
  (``OIDC_PROMPT`` unset: none is sent, see ``auth_config.py``). If Streamlit could not build the
  request, the provider is asked why (``src/core/settings/provider.py``) and the visitor is sent
  back to the sign-in page with the reason.
- ``/oauth2callback`` with that same ``state`` (so only the browser that started this sign-in,
  never a link someone else made): an error of the provider's, or a sign-in Streamlit did not
  complete (the client credentials are then tried, to tell a wrong secret), is kept for the page.

The reason travels in a cookie of this server (``ERROR_COOKIE``: HttpOnly, signed with
``AUTH_COOKIE_SECRET``, for ``ERROR_SECONDS``), never in the URL, so no one can make a link that
shows a text of their own on the sign-in page; every web server can read it. The page reads it
with :func:`shown` and shows it through ``src/ui/text.py``'s ``literal()``: the provider wrote it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import HTTPConnection
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from streamlit import config
from streamlit.web.server.starlette.starlette_server_config import USER_COOKIE_NAME

from src.core.errors import SettingsError
from src.core.settings import Settings, provider

log = logging.getLogger(__name__)

LOGIN_PATH = "/auth/login"  # Streamlit's route that sends the browser to the provider
#: The state of the sign-in this browser started; the error cookie, and how long it is shown (s).
STATE_COOKIE = "openms_sign_in"
ERROR_COOKIE = "openms_sign_in_error"
STATE_SECONDS = 1800
ERROR_SECONDS = 600
#: Kinds of failure (``SignInError.kind``).
PROVIDER = "provider"  # the provider sent an error back to /oauth2callback
TOKEN = "token"  # the code could not be exchanged for tokens
UNREACHABLE = "unreachable"  # the provider could not be asked
DISCOVERY = "discovery"  # OIDC_METADATA_URL is no discovery document
LOGIN = "login"  # the request to the provider could not be built, for another reason

#: Streamlit's sign-in routes log a failed sign-in with a traceback; the log gets one line instead
#: (this middleware logs what went wrong, the provider's words included).
AUTH_ROUTES_LOGGER = "streamlit.web.server.starlette.starlette_auth_routes"

#: What a sign-in's state may look like to be kept in a cookie (Authlib's are letters and digits).
_TOKEN = re.compile(r"[A-Za-z0-9_.~-]{8,200}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class SignInError:
    kind: str
    error: str = ""  # the provider's OAuth error code, if it sent one
    description: str = ""  # the provider's description, or what went wrong in asking it


def _key(settings: Settings) -> bytes:
    return hmac.new(settings.auth.cookie_secret.encode(), b"openms sign-in error", hashlib.sha256).digest()


def encode(settings: Settings, failure: SignInError, now: float | None = None) -> str:
    """The error cookie's value: the failure and its time, signed."""
    data = {**asdict(failure), "at": time.time() if now is None else now}
    payload = base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    signature = hmac.new(_key(settings), payload.encode(), hashlib.sha256).hexdigest()
    return f"{payload}.{signature}"


def shown(settings: Settings, cookies: Mapping[str, str], now: float | None = None) -> SignInError | None:
    """The failure this browser's last sign-in ended with, if recent and signed by this server."""
    payload, _, signature = cookies.get(ERROR_COOKIE, "").partition(".")
    expected = hmac.new(_key(settings), payload.encode(), hashlib.sha256).hexdigest()
    if not payload or not hmac.compare_digest(signature.encode(), expected.encode()):
        return None
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    if float(data.get("at", 0)) + ERROR_SECONDS < (time.time() if now is None else now):
        return None
    return SignInError(str(data["kind"]), str(data["error"]), str(data["description"]))


def _base() -> str:
    base = (config.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{base}" if base else ""


def _cookie(settings: Settings, name: str, value: str, seconds: int) -> str:
    secure = "; Secure" if settings.public_url.startswith("https://") else ""
    return f"{name}={value}; Path={_base() or '/'}; Max-Age={seconds}; HttpOnly; SameSite=Lax{secure}"


def without_empty_prompt(location: str) -> str:
    """The authorization request without an empty ``prompt`` parameter."""
    parts = urlsplit(location)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(name, value) for name, value in pairs if name != "prompt" or value]
    return location if kept == pairs else urlunsplit(parts._replace(query=urlencode(kept)))


async def _captured(app: ASGIApp, scope: Scope, receive: Receive) -> tuple[Message, list[Message]]:
    """Streamlit's answer to a sign-in route (a redirect or a short text), held back whole."""
    messages: list[Message] = []

    async def keep(message: Message) -> None:
        messages.append(message)

    await app(scope, receive, keep)
    return messages[0], messages[1:]


def _failure(kind: str, error: str = "", description: str = "") -> SignInError:
    """A failure, with the provider's words on one line and not too long (for the log and the page)."""
    return SignInError(kind, _CONTROL.sub(" ", error)[:100], _CONTROL.sub(" ", description)[:300])


def _signed_in(start: Message) -> bool:
    """Whether Streamlit's answer to the callback sets its sign-in cookie (not a deletion)."""
    cookies = Headers(raw=start["headers"]).getlist("set-cookie")  # read only: no copy of the list
    name = f"{USER_COOKIE_NAME}="
    return any(c.startswith(name) and not c.startswith(f'{name}""') for c in cookies)


class _OneLine(logging.Filter):
    """A record's exception as a few words at the end of its line, not a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            line = f"{record.getMessage()} ({record.exc_info[1]})"
            vars(record).update(msg=line, args=(), exc_info=None, exc_text=None)
        return True


_ONE_LINE = _OneLine()


class SignInErrors:
    """ASGI middleware around Streamlit's sign-in routes (see the module's docstring)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app, self.settings = app, settings
        logging.getLogger(AUTH_ROUTES_LOGGER).addFilter(_ONE_LINE)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.endswith((LOGIN_PATH, provider.CALLBACK_PATH)):
            await self.app(scope, receive, send)
        elif path == _base() + LOGIN_PATH:
            await self._login(scope, receive, send)
        elif path == _base() + provider.CALLBACK_PATH and self._started_here(scope):
            await self._callback(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def _started_here(self, scope: Scope) -> bool:
        request = HTTPConnection(scope)
        state, mine = request.query_params.get("state", ""), request.cookies.get(STATE_COOKIE, "")
        return bool(state) and hmac.compare_digest(state.encode(), mine.encode())

    async def _login(self, scope: Scope, receive: Receive, send: Send) -> None:
        start, body = await _captured(self.app, scope, receive)
        headers = MutableHeaders(scope=start)
        state = dict(parse_qsl(urlsplit(headers.get("location", "")).query)).get("state", "")
        if _TOKEN.fullmatch(state):
            headers["location"] = without_empty_prompt(headers["location"])
            headers.append("set-cookie", _cookie(self.settings, STATE_COOKIE, state, STATE_SECONDS))
            headers.append("set-cookie", _cookie(self.settings, ERROR_COOKIE, "", 0))
        elif start["status"] >= 400:
            failure = await run_in_threadpool(self._why, False)
            await self._back_to_sign_in(failure)(scope, receive, send)
            return
        await _replay(send, start, body)

    async def _callback(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = HTTPConnection(scope).query_params
        start, body = await _captured(self.app, scope, receive)
        headers = MutableHeaders(scope=start)
        headers.append("set-cookie", _cookie(self.settings, STATE_COOKIE, "", 0))
        if query.get("error"):
            failure = _failure(PROVIDER, query["error"], query.get("error_description", ""))
        elif _signed_in(start):
            failure = None
        else:
            failure = await run_in_threadpool(self._why, True)
        if failure is None:
            headers.append("set-cookie", _cookie(self.settings, ERROR_COOKIE, "", 0))
        else:
            log.warning("sign-in failed (%s): %s %s", failure.kind, failure.error, failure.description)
            value = encode(self.settings, failure)
            headers.append("set-cookie", _cookie(self.settings, ERROR_COOKIE, value, ERROR_SECONDS))
        await _replay(send, start, body)

    def _back_to_sign_in(self, failure: SignInError) -> RedirectResponse:
        log.warning("sign-in could not start (%s): %s", failure.kind, failure.description)
        answer = RedirectResponse(_base() or "/", 302, headers={"cache-control": "no-store"})
        cookie = _cookie(self.settings, ERROR_COOKIE, encode(self.settings, failure), ERROR_SECONDS)
        answer.headers.append("set-cookie", cookie)
        return answer

    def _why(self, completing: bool) -> SignInError:
        """Why the sign-in could not start (``completing`` False) or be completed: the provider is
        asked the way the start-up check asks it."""
        auth, public_url = self.settings.auth, self.settings.public_url
        try:
            document = provider.fetch_document(auth.metadata_url)
            refusal = (
                provider.try_client(document, auth.client_id, auth.client_secret, public_url)
                if completing
                else None
            )
        except provider.ProviderUnreachable as err:
            return _failure(UNREACHABLE, description=str(err))
        except SettingsError as err:
            return _failure(DISCOVERY, description=str(err))
        if refusal is not None:
            return _failure(TOKEN, refusal.error, refusal.description)
        return _failure(TOKEN if completing else LOGIN)


async def _replay(send: Send, start: Message, body: list[Message]) -> None:
    await send(start)
    for message in body:
        await send(message)
