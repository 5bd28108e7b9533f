"""Announce the end of a run: a webhook (the operator's) and an e-mail (the visitor's, if asked for).

Both are off unless configured (``NOTIFY_WEBHOOK_URL``; ``SMTP_HOST``, ``SMTP_FROM`` and
``PUBLIC_URL`` plus an address the visitor confirmed for the workspace, ``subscription``).
Called by the engine once a run's final state is written, before its end marker: what happened
is written to the run's log, and a failure to notify (receiver down, mail refused, timeout, the
hourly mail limits used up) is logged and nothing more. The run's outcome never depends on it.
Nothing secret goes into a log line: not the webhook URL (it may hold a token), not the SMTP login.
"""

from __future__ import annotations

import json
import logging
import socket
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from src.core.notify import mail, subscription
from src.core.notify import quota as mail_quota
from src.core.run import RunStatus
from src.core.settings import Settings

log = logging.getLogger(__name__)

#: Seconds a webhook call may take.
TIMEOUT_SECONDS = 10


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
    if notify.email_enabled:
        _mail(settings, workspace, data, note)


def _mail(settings: Settings, workspace: Path, data: dict, note: Callable[[str], None]) -> None:
    address, stop_token = subscription.confirmed_address(workspace)
    if not address:
        return
    try:
        refused = mail_quota.take(settings, address, workspace)
    except mail_quota.QuotaUnavailable as err:
        refused = str(err)
    if refused:
        note(f"E-mail notification to {address} not sent: {refused}.")
        return
    stop_url = subscription.stop_url(settings, workspace, stop_token)
    try:
        mail.send(settings.notify, mail.run_ended(settings, address, data, stop_url))
        note(f"E-mail notification sent to {address}.")
    except mail.MailNotSent as err:  # it names the settings to check, never the password
        note(f"E-mail notification to {address} failed ({err}); the run is not affected.")
        log.warning("mail notification for %s failed: %s", workspace.name, err)


def describe(err: BaseException) -> str:
    """A webhook's error in words, without the URL (it may carry a token)."""
    if isinstance(err, urllib.error.HTTPError):
        return f"the receiver answered HTTP {err.code}"
    if isinstance(err, urllib.error.URLError):
        err = err.reason if isinstance(err.reason, BaseException) else OSError(str(err.reason))
    if isinstance(err, socket.timeout | TimeoutError):
        return f"no answer within {TIMEOUT_SECONDS} s"
    if isinstance(err, ConnectionRefusedError):
        return "connection refused"
    return getattr(err, "strerror", None) or type(err).__name__


def post_webhook(url: str, data: dict) -> None:
    request = urllib.request.Request(
        url,
        data=json.dumps(data).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "openms-workflow-server"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:
        answer.read(1024)
