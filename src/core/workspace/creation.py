"""How many new workspaces one client address may make per hour (online mode).

Every visit without a workspace link makes a workspace, so without a bound page loads alone
could fill the volume for everyone (each workspace has a quota, the number of workspaces had
none). The count is per client address and hour (``hourly_counts``); while Redis is away it
is kept on this host instead, so the bound holds and visitors still get in.
"""

from __future__ import annotations

import logging

from src.core import hourly_counts
from src.core.settings import Settings

log = logging.getLogger(__name__)


def take(settings: Settings, visitor: str) -> str:
    """ "" if ``visitor`` may make one more workspace now (and it is counted), else why not."""
    limit = settings.limits.new_workspaces_per_client_per_hour
    counts = [(hourly_counts.key("workspace-client", visitor), limit)]
    try:
        full = hourly_counts.take(settings, counts)
    except hourly_counts.CountsUnavailable as err:
        log.warning("new workspaces counted on this host only: Redis is unreachable (%s)", err)
        full = hourly_counts.take(settings, counts, in_file=True)
    if not full:
        return ""
    log.warning("new workspace refused for %s: %d made within the hour", visitor, limit)
    return (
        f"{limit} new workspaces were made from your address on this server within the last hour, the "
        "most one address may. Open a workspace link you already have (the sidebar of each workspace "
        "shows it), or try again later."
    )
