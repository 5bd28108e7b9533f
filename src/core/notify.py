"""Announce the end of a run: a webhook (the operator's) and an e-mail (the visitor's, if asked for).

Both are off unless configured (``NOTIFY_WEBHOOK_URL``; ``SMTP_HOST`` and ``SMTP_FROM`` plus
an address the visitor saved for the workspace). Called by the engine once a run's final
state is written, before its end marker: what happened is written to the run's log, and a
failure to notify (receiver down, mail refused, timeout) is logged and nothing more. The
run's outcome never depends on it. Nothing secret goes into a log line: not the webhook URL
(it may hold a token), not the SMTP login.
"""

from __future__ import annotations

import json
import logging
import re
import smtplib
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

from src.core.run_state import RunStatus, read_json, write_json
from src.core.settings import Notify, Settings

log = logging.getLogger(__name__)

#: Seconds a webhook call or an SMTP conversation may take.
TIMEOUT_SECONDS = 10
#: The visitor's e-mail address for a workspace, inside the workspace.
ADDRESS_FILE = "notify.json"
_ADDRESS = re.compile(r"^[^@\s,;<>]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")


class AddressError(ValueError):
    """An e-mail address the app will not send to, with the reason for the visitor."""


def check_address(raw: str) -> str:
    address = raw.strip()
    if not _ADDRESS.match(address):
        raise AddressError(f"'{raw[:80]}' does not look like an e-mail address (name@example.org).")
    return address


def saved_address(workspace: Path) -> str:
    return str(read_json(workspace / ADDRESS_FILE).get("email", ""))


def save_address(workspace: Path, raw: str) -> str:
    """Store (or with an empty text, forget) the address this workspace's runs are announced to."""
    if not raw.strip():
        (workspace / ADDRESS_FILE).unlink(missing_ok=True)
        return ""
    address = check_address(raw)
    write_json(workspace / ADDRESS_FILE, {"email": address})
    return address


def workspace_link(settings: Settings, workspace: Path) -> str:
    query = f"?workspace={workspace.name}"
    return f"{settings.public_url.rstrip('/')}/{query}" if settings.public_url else query


def payload(settings: Settings, workflow_name: str, workspace: Path, status: RunStatus) -> dict:
    return {
        "workflow": workflow_name,
        "state": status.state.value,
        "outcome": status.state.label,
        "duration_seconds": round(status.duration, 1) if status.duration is not None else None,
        "error": status.error,
        "workspace_link": workspace_link(settings, workspace),
    }


def announce(
    settings: Settings, workflow_name: str, workspace: Path, status: RunStatus, note: Callable[[str], None]
) -> None:
    """Send every configured notification of a run's end; ``note`` writes a line to the run's log."""
    notify = settings.notify
    if not notify.webhook_url and not notify.email_enabled:
        return
    data = payload(settings, workflow_name, workspace, status)
    if notify.webhook_url:
        try:
            post_webhook(notify.webhook_url, data)
            note("Notification sent to the webhook.")
        except (OSError, urllib.error.URLError, ValueError) as err:
            note(f"Notification to the webhook failed ({describe(err)}); the run is not affected.")
            log.warning("webhook notification for %s failed: %s", workspace.name, describe(err))
    address = saved_address(workspace) if notify.email_enabled else ""
    if address:
        try:
            send_mail(notify, address, data)
            note(f"E-mail notification sent to {address}.")
        except (OSError, smtplib.SMTPException, ssl.SSLError) as err:
            note(f"E-mail notification to {address} failed ({describe(err)}); the run is not affected.")
            log.warning("mail notification for %s failed: %s", workspace.name, describe(err))


def describe(err: BaseException) -> str:
    """An error in words, without the URL (a webhook URL may carry a token)."""
    if isinstance(err, urllib.error.HTTPError):
        return f"the receiver answered HTTP {err.code}"
    if isinstance(err, urllib.error.URLError):
        err = err.reason if isinstance(err.reason, BaseException) else OSError(str(err.reason))
    if isinstance(err, socket.timeout | TimeoutError):
        return f"no answer within {TIMEOUT_SECONDS} s"
    if isinstance(err, ConnectionRefusedError):
        return "connection refused"
    if isinstance(err, smtplib.SMTPResponseException):
        return f"the mail server answered {err.smtp_code}"
    return getattr(err, "strerror", None) or type(err).__name__


def post_webhook(url: str, data: dict) -> None:
    request = urllib.request.Request(
        url,
        data=json.dumps(data).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "openms-workflow-server"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:  # noqa: S310 (http(s) only, checked in settings)
        answer.read(1024)


def send_mail(notify: Notify, address: str, data: dict) -> None:
    message = EmailMessage()
    message["From"] = notify.smtp_from
    message["To"] = address
    message["Subject"] = f"{data['workflow']}: {data['outcome']}"
    duration = f" after {data['duration_seconds']:.0f} s" if data["duration_seconds"] is not None else ""
    lines = [
        f"Your {data['workflow']} run ended: {data['outcome']}{duration}.",
        *([f"Error: {data['error']}"] if data["error"] else []),
        "",
        f"Open your workspace: {data['workspace_link']}",
        "",
        "You get this e-mail because this address was entered for the workspace on its Run page.",
    ]
    message.set_content("\n".join(lines))
    with smtplib.SMTP(notify.smtp_host, notify.smtp_port, timeout=TIMEOUT_SECONDS) as server:
        if notify.smtp_starttls:
            server.starttls(context=ssl.create_default_context())
        if notify.smtp_user:
            server.login(notify.smtp_user, notify.smtp_password)
        server.send_message(message)
