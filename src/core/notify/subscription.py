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

Each try at a code is counted *before* the code is compared, atomically: online in Redis (one
INCR per try, shared by every web server, living as long as the code), locally in notify.json
under a file lock. So however many Confirm presses arrive at once, at most ``CODE_TRIES`` codes
are compared; after that the code is dead and a new one must be sent (which takes from the mail
limits, ``quota``).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import math
import re
import secrets
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlencode

from src.core import hourly_counts, jsonfile
from src.core.errors import AddressError
from src.core.jsonfile import read_json, write_json
from src.core.layout import NOTIFY_FILE
from src.core.notify import mail
from src.core.notify import quota as mail_quota
from src.core.settings import Settings

#: Codes compared per code mailed; after that a new one must be asked for.
CODE_TRIES = 5
#: Online mode: the Redis count of the tries at one code (named by a hash of the code's hash).
TRIES_KEY = "openms:notify:code-tries:{digest}"
#: Local mode: the lock around counting a try in notify.json.
LOCK_FILE = ".notify.lock"
#: The web server's route that stops the e-mails (``src/web/notify_stop.py``).
STOP_PATH = "/notify/stop"
#: What a visitor can do when the mail server did not take a code: the fault is the server's setup.
CODE_NOT_SENT_THEN = "try again later, and if it keeps failing, tell this server's administrator."

log = logging.getLogger(__name__)

_ADDRESS = re.compile(r"^[^@\s,;<>\"'()\[\]\\]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")


@dataclass
class Subscription:
    email: str = ""
    confirmed: bool = False
    code_hash: str = ""  # of the code mailed to a pending address
    code_expires: float = 0.0
    tries: int = 0  # codes compared so far (local mode; online mode counts them in Redis)
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


def ask(settings: Settings, workspace: Path, raw: str, visitor: str = "") -> Subscription:
    """Mail a confirmation code to the address and keep it as pending; AddressError if not sent.
    ``visitor`` (the visitor's address, or the signed-in person) is who asked: the codes it may
    have mailed per hour are bounded too (``mail_quota.take``)."""
    address = check_address(raw)
    try:
        refused = mail_quota.take(settings, address, workspace, visitor)
    except mail_quota.QuotaUnavailable as err:
        raise AddressError(f"No code was sent: {err}. Try again in a moment.") from None
    if refused:
        raise AddressError(f"No code was sent: {refused}.")
    code = f"{secrets.randbelow(10**6):06d}"
    try:
        mail.send(settings.notify, mail.confirmation(settings, address, code))
    except mail.MailNotSent as err:
        log.warning("confirmation code for %s not sent: %s", workspace.name, err)
        then = "check the address." if err.address_refused else CODE_NOT_SENT_THEN
        raise AddressError(f"The code could not be sent: {err}; {then}") from None
    expires = time.time() + 60 * settings.notify.confirm_minutes
    pending = Subscription(address, code_hash=_code_hash(workspace, code), code_expires=expires)
    _write(workspace, pending)
    return pending


def confirm(settings: Settings, workspace: Path, code: str) -> Subscription:
    """Confirm the pending address with the code mailed to it; AddressError says what is wrong.
    The try is counted before the code is compared (see the module's doc)."""
    pending = read(workspace)
    if not pending.pending or not pending.code_hash:
        raise AddressError("There is no code to enter: enter your e-mail address first.")
    if time.time() > pending.code_expires:
        raise AddressError("This code has expired: send a new one.")
    tries = _count_try(settings, workspace, pending)
    if tries > CODE_TRIES:
        raise AddressError(
            f"This code can no longer be used: it was tried {CODE_TRIES} times. Send a new one."
        )
    if not hmac.compare_digest(_code_hash(workspace, code.strip()), pending.code_hash):
        left = CODE_TRIES - tries
        tries_left = f"{left} tr{'y' if left == 1 else 'ies'} left"
        raise AddressError(f"That is not the code that was sent ({tries_left}).")
    confirmed = Subscription(pending.email, True, stop_token=secrets.token_urlsafe(24))
    _write(workspace, confirmed)
    return confirmed


def _count_try(settings: Settings, workspace: Path, pending: Subscription) -> int:
    """Count one try at the pending code; return the tries so far, this one included."""
    if hourly_counts.uses_redis(settings):
        digest = hashlib.sha256(pending.code_hash.encode()).hexdigest()[:24]
        seconds = math.ceil(pending.code_expires - time.time()) + 1  # as long as the code lives
        try:
            return hourly_counts.tally(settings, TRIES_KEY.format(digest=digest), seconds)
        except hourly_counts.CountsUnavailable as err:
            raise AddressError(
                f"The code could not be checked (the job queue is unreachable: {err}). Try again in a moment."
            ) from None
    with _locked(workspace):
        current = read(workspace)
        if current.confirmed:  # another press confirmed it a moment ago
            raise AddressError(f"{current.email} is confirmed already.")
        if current.code_hash != pending.code_hash:  # a new code was sent meanwhile
            raise AddressError("A new code was sent meanwhile: enter the code from the latest e-mail.")
        current.tries += 1
        _write(workspace, current)
        return current.tries


def _locked(workspace: Path) -> contextlib.AbstractContextManager[None]:
    """An exclusive lock on the workspace's notify.json, across threads and processes."""
    return jsonfile.locked(workspace / LOCK_FILE)


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
