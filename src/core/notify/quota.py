"""How many e-mails the server may still send: per address and per workspace, per hour, and the
confirmation codes per visitor and hour.

Every e-mail the app sends (a confirmation code or a run's end) first takes one from both
counts (``hourly_counts``: Redis in online mode, a file in local mode); when either is used up
the mail is not sent and the caller says so. A confirmation code also takes one from the count of
the visitor that asked for it (its address, or the signed-in person, across workspaces): codes go
to addresses nobody has confirmed yet, so fresh workspaces must not multiply them. A run's end
goes only to an address its owner confirmed and is not counted per visitor. If Redis holds the
counts and cannot be reached, nothing is sent rather than an uncounted mail.
"""

from __future__ import annotations

from pathlib import Path

from src.core import hourly_counts
from src.core.errors import QuotaUnavailable
from src.core.settings import Settings


def take(settings: Settings, address: str, workspace: Path, visitor: str = "") -> str:
    """Take one e-mail from every count: "" if it may be sent, else why not (for the log or page).
    ``visitor``: a confirmation code asked for by this visitor, counted per visitor too."""
    notify = settings.notify
    counts = [
        (hourly_counts.key("mail-address", address.strip().lower()), notify.mails_per_address_per_hour),
        (hourly_counts.key("mail-workspace", workspace.name), notify.mails_per_workspace_per_hour),
    ]
    if visitor:
        counts.append((hourly_counts.key("code-client", visitor), notify.code_mails_per_client_per_hour))
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
    if full == 3:
        return (
            f"{counts[2][1]} confirmation codes were already mailed for your network (or your sign-in) "
            "within the last hour, the most this server sends; try again in an hour"
        )
    return ""
