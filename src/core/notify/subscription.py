"""The e-mail address a workspace's runs are announced to, used only once its owner confirmed it.

A visitor enters an address on the Run page; the server mails a six-digit code to it (counted
against the mail limits, ``mail_quota``) and keeps the address as *pending*. Only when the code
is entered on the same page, before it expires and within a few tries, does the address become
*confirmed*, and only a confirmed address gets the mails about runs (which carry the workspace
link). Each of those mails has a link that stops them (``stop_url``): the token in it is kept
here and checked by the web server's ``/notify/stop`` route (``src/web/notify_stop.py``).

Everything lives in ``<workspace>/notify.json``, so only someone with the workspace link can see
or change it. A file from before confirmations existed (``{"email": ...}``) counts as pending:
its address gets nothing until it is confirmed.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import smtplib
import ssl
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlencode

from src.core.errors import AddressError
from src.core.jsonfile import read_json, write_json
from src.core.layout import NOTIFY_FILE
from src.core.notify import mail
from src.core.notify import quota as mail_quota
from src.core.settings import Settings

#: Wrong codes accepted before a new one must be asked for.
CODE_TRIES = 5
#: The web server's route that stops the e-mails (``src/web/notify_stop.py``).
STOP_PATH = "/notify/stop"
_ADDRESS = re.compile(r"^[^@\s,;<>\"'()\[\]\\]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")


@dataclass
class Subscription:
    email: str = ""
    confirmed: bool = False
    code_hash: str = ""  # of the code mailed to a pending address
    code_expires: float = 0.0
    tries_left: int = 0
    stop_token: str = ""  # in every mail's stop link, once confirmed

    @property
    def pending(self) -> bool:
        return bool(self.email) and not self.confirmed


def check_address(raw: str) -> str:
    address = raw.strip()
    if not _ADDRESS.fullmatch(address):
        raise AddressError("That does not look like an e-mail address (name@example.org).")
    return address


def read(workspace: Path) -> Subscription:
    data = read_json(workspace / NOTIFY_FILE)
    known = {k: v for k, v in data.items() if k in Subscription.__dataclass_fields__}
    try:
        return Subscription(**known)
    except TypeError:
        return Subscription()


def _write(workspace: Path, subscription: Subscription) -> None:
    write_json(workspace / NOTIFY_FILE, asdict(subscription))


def _code_hash(workspace: Path, code: str) -> str:
    return hashlib.sha256(f"{workspace.name}:{code}".encode()).hexdigest()


def ask(settings: Settings, workspace: Path, raw: str) -> Subscription:
    """Mail a confirmation code to the address and keep it as pending; AddressError if not sent."""
    address = check_address(raw)
    try:
        refused = mail_quota.take(settings, address, workspace)
    except mail_quota.QuotaUnavailable as err:
        raise AddressError(f"No code was sent: {err}. Try again in a moment.") from None
    if refused:
        raise AddressError(f"No code was sent: {refused}.")
    code = f"{secrets.randbelow(10**6):06d}"
    try:
        mail.send(settings.notify, mail.confirmation(settings, address, code))
    except (OSError, smtplib.SMTPException, ssl.SSLError) as err:
        raise AddressError(
            f"The code could not be sent ({type(err).__name__}); check the address or try again later."
        ) from None
    expires = time.time() + 60 * settings.notify.confirm_minutes
    pending = Subscription(address, False, _code_hash(workspace, code), expires, CODE_TRIES)
    _write(workspace, pending)
    return pending


def confirm(workspace: Path, code: str) -> Subscription:
    """Confirm the pending address with the code mailed to it; AddressError says what is wrong."""
    subscription = read(workspace)
    if not subscription.pending or not subscription.code_hash:
        raise AddressError("There is no code to enter: enter your e-mail address first.")
    if time.time() > subscription.code_expires or subscription.tries_left <= 0:
        raise AddressError("This code can no longer be used: send a new one.")
    if not hmac.compare_digest(_code_hash(workspace, code.strip()), subscription.code_hash):
        subscription.tries_left -= 1
        _write(workspace, subscription)
        raise AddressError(f"That is not the code that was sent ({subscription.tries_left} tries left).")
    confirmed = Subscription(subscription.email, True, stop_token=secrets.token_urlsafe(24))
    _write(workspace, confirmed)
    return confirmed


def confirmed_address(workspace: Path) -> tuple[str, str]:
    """(address, stop token) if the workspace has a confirmed address, else ("", "")."""
    subscription = read(workspace)
    if subscription.confirmed and subscription.email and subscription.stop_token:
        return subscription.email, subscription.stop_token
    return "", ""


def forget(workspace: Path) -> None:
    """No address for this workspace any more (the visitor's own choice on the Run page)."""
    (workspace / NOTIFY_FILE).unlink(missing_ok=True)


def stop_token_matches(workspace: Path, token: str) -> bool:
    """True if ``token`` is the one in this workspace's stop links (it has a confirmed address)."""
    _, expected = confirmed_address(workspace)
    return bool(expected) and hmac.compare_digest(expected.encode(), token.encode())


def stop(workspace: Path, token: str) -> bool:
    """The stop link of a mail: forget the address if the token is this workspace's; True if so."""
    if not stop_token_matches(workspace, token):
        return False
    forget(workspace)
    return True


def stop_url(settings: Settings, workspace: Path, token: str) -> str:
    query = urlencode({"workspace": workspace.name, "token": token})
    return f"{settings.public_url.rstrip('/')}{STOP_PATH}?{query}"
