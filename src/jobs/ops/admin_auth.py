"""Signing in to the Queue admin page: the password check, its limit on tries, and the way in that
nobody can block.

Each client address, and each browser session, may try ``limits.admin_max_failures``
passwords within ``limits.admin_failure_window_seconds``. A try is counted (one ``INCR`` in
Redis, which every web server shares) *before* the password is compared, so any number of
simultaneous tries on any number of web servers gets at most that many passwords checked; the
others are refused unchecked. A correct password clears its address's and session's counts.

A lockout is per address, so anyone behind the administrator's NAT could keep them out. The
operator therefore has a way in that no visitor can block: ``admin-token`` in the container
(``python -m src admin token``) prints a one-time sign-in token, valid for
``TOKEN_MINUTES``, that the sign-in form takes in place of the password and that no lockout
refuses. Wrong tries are logged with the visitor's address, never with what was typed.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
import sys
from dataclasses import dataclass

import click
from redis import Redis

from src.core import hourly_counts
from src.core.settings import Limits, load_for_command, redact
from src.jobs.client import visitor_key
from src.jobs.connection import REDIS_ERRORS, get_connection

log = logging.getLogger(__name__)

TRIES_KEY = "openms:admin:tries:{kind}:{key}"
TOKEN_KEY = "openms:admin:token:{digest}"
#: How long a sign-in token printed by ``admin-token`` is valid (min).
TOKEN_MINUTES = 15


@dataclass(frozen=True)
class SignIn:
    ok: bool
    message: str = ""  # why not, for the person at the keyboard


def _keys(visitor: str, session: str) -> tuple[str, str]:
    session_key = hashlib.sha256(f"openms-session:{session}".encode()).hexdigest()[:20]
    by_visitor = TRIES_KEY.format(kind="client", key=visitor_key(visitor))
    return by_visitor, TRIES_KEY.format(kind="session", key=session_key)


def _take_try(connection: Redis, limits: Limits, keys: tuple[str, str]) -> tuple[int, int]:
    """Count one try for the address and the session at once; (the higher count, seconds left)."""
    counts, seconds_left = hourly_counts.tally_keys(connection, keys, limits.admin_failure_window_seconds)
    return max(counts), seconds_left


def _token_matches(connection: Redis, given: str) -> bool:
    """True (once) for a live sign-in token; the token is used up by the check."""
    if len(given) < 20:
        return False
    digest = hashlib.sha256(given.strip().encode()).hexdigest()
    return connection.getdel(TOKEN_KEY.format(digest=digest)) is not None


def sign_in(
    connection: Redis, limits: Limits, visitor: str, session: str, configured: str, given: str
) -> SignIn:
    """Check ``given`` (the admin password or a sign-in token) within the limit on tries."""
    if _token_matches(connection, given):
        log.info("admin signed in from %s with a one-time sign-in token", visitor)
        return SignIn(True)
    keys = _keys(visitor, session)
    tries, seconds_left = _take_try(connection, limits, keys)
    if tries > limits.admin_max_failures:
        log.warning("admin sign-in from %s refused unchecked: %d tries in the window", visitor, tries)
        return SignIn(
            False,
            f"Too many admin sign-in tries from your address or this page ({limits.admin_max_failures} "
            f"within {limits.admin_failure_window_seconds // 60} minutes). This try was not checked. "
            f"Wait {max(1, math.ceil(seconds_left / 60))} minute(s) and try again. The operator of this "
            "server can sign in at once with a one-time token (`admin-token` in the container).",
        )
    if configured and hmac.compare_digest(given.encode(), configured.encode()):
        connection.delete(*keys)
        log.info("admin signed in from %s", visitor)
        return SignIn(True)
    left = limits.admin_max_failures - tries
    log.warning(
        "wrong admin password from %s (%d of %d allowed within %d min)",
        visitor,
        tries,
        limits.admin_max_failures,
        limits.admin_failure_window_seconds // 60,
    )
    return SignIn(False, f"Wrong admin password. {left} more tr{'y' if left == 1 else 'ies'} before a wait.")


def new_token(connection: Redis) -> str:
    """A one-time sign-in token for the operator, valid for TOKEN_MINUTES."""
    token = secrets.token_urlsafe(24)
    digest = hashlib.sha256(token.encode()).hexdigest()
    connection.set(TOKEN_KEY.format(digest=digest), "1", ex=TOKEN_MINUTES * 60)
    return token


@click.group("admin")
def main() -> None:
    """The Queue admin page's sign-in."""


@main.command()
def token() -> None:
    """Print a one-time sign-in token for the Queue admin page (the image's admin-token command)."""
    settings = load_for_command()
    try:
        value = new_token(get_connection(settings.queue))
    except REDIS_ERRORS as err:
        url = redact(settings.queue.redis_url)
        click.echo(f"Error: Redis at {url} cannot be reached ({err}).", err=True)
        sys.exit(1)
    click.echo(value)
    click.echo(
        f"One-time sign-in token for the Queue admin page, valid for {TOKEN_MINUTES} minutes: enter it "
        "in the admin password field.",
        err=True,
    )


if __name__ == "__main__":  # the older spelling of ``python -m src admin``
    main()
