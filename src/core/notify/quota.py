"""How many e-mails the server may still send: per address and per workspace, per hour.

Every e-mail the app sends (a confirmation code or a run's end) first takes one from both
counts (``hourly_counts``: Redis in online mode, a file in local mode); when either is used up
the mail is not sent and the caller says so. If Redis holds the counts and cannot be reached,
nothing is sent rather than an uncounted mail.
"""

from __future__ import annotations

from pathlib import Path

from src.core import hourly_counts
from src.core.settings import Settings


class QuotaUnavailable(RuntimeError):
    """The counts cannot be read (Redis down): nothing is sent rather than an unbounded number."""


def take(settings: Settings, address: str, workspace: Path) -> str:
    """Take one e-mail from both counts: "" if it may be sent, else why not (for the log or page)."""
    notify = settings.notify
    counts = [
        (hourly_counts.key("mail-address", address.strip().lower()), notify.mails_per_address_per_hour),
        (hourly_counts.key("mail-workspace", workspace.name), notify.mails_per_workspace_per_hour),
    ]
    try:
        full = hourly_counts.take(settings, counts)
    except hourly_counts.CountsUnavailable as err:
        raise QuotaUnavailable(
            f"the e-mail limits cannot be checked (the job queue is unreachable: {err})"
        ) from None
    if full == 1:
        return (
            f"this address already got {counts[0][1]} e-mails from this server within the last hour, "
            "the most it gets; try again later"
        )
    if full == 2:
        return (
            f"this workspace already sent {counts[1][1]} e-mails within the last hour, the most it may; "
            "try again later"
        )
    return ""
