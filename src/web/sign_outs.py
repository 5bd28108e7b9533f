"""Sign-ins ended by *Sign out*, kept on the server (sign-in mode, ``AUTH_MODE=oidc``).

Streamlit keeps a sign-in in a cookie signed with ``AUTH_COOKIE_SECRET`` that lasts 30 days;
``st.logout`` deletes it from the browser only, so a copy of it (another browser, a saved request)
still signed in after *Sign out*. Sign out therefore records the sign-in it ends, and a page whose
sign-in is recorded shows the sign-in screen instead (``src/ui/auth.py``). A sign-in is named by
its ID token's claims: the person (``iss``, ``sub``) with the token's ``nonce`` and issue time
(``iat``), which differ at every sign-in, so signing in again works at once and other sign-ins of
the same person (another computer) go on. The records are small files on the workspaces volume,
``<workspaces>/.sign-outs/`` (the app's user only; every web server shares it, and they survive
restarts), named by a hash, kept until the cookie they end would have expired anyway.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from pathlib import Path

from src.core.jsonfile import read_json, write_json
from src.core.settings import Settings

#: The ID token's claims that name one sign-in.
CLAIMS = ("iss", "sub", "nonce", "iat")
#: How long a record is kept (s): Streamlit's sign-in cookie lasts 30 days.
KEPT_SECONDS = 30 * 24 * 3600
FOLDER = ".sign-outs"


def sign_in_id(claims: Mapping[str, object]) -> str:
    """The sign-in these claims came with; "" if they cannot tell one sign-in from the next."""
    issuer, subject, nonce, issued = (str(claims.get(name) or "") for name in CLAIMS)
    if not subject or not (nonce or issued):
        return ""
    return hashlib.sha256("\n".join((issuer, subject, nonce, issued)).encode()).hexdigest()


def _folder(settings: Settings) -> Path:
    folder = settings.workspaces_dir / FOLDER
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def end(settings: Settings, claims: Mapping[str, object], now: float | None = None) -> bool:
    """Record that this sign-in ended; False if its claims name no single sign-in. Raises OSError
    when the record cannot be written (the caller says so, and signs nobody out)."""
    sign_in = sign_in_id(claims)
    if not sign_in:
        return False
    now = time.time() if now is None else now
    folder = _folder(settings)
    for path in folder.glob("*.json"):  # records whose cookie has expired by now
        if float(read_json(path).get("until", 0)) < now:
            path.unlink(missing_ok=True)
    write_json(folder / f"{sign_in}.json", {"until": now + KEPT_SECONDS})
    return True


def ended(settings: Settings, claims: Mapping[str, object]) -> bool:
    """Whether the sign-in these claims came with was ended by Sign out."""
    sign_in = sign_in_id(claims)
    return bool(sign_in) and (settings.workspaces_dir / FOLDER / f"{sign_in}.json").is_file()
