"""Durations and moments in the words the pages use, one way everywhere."""

from __future__ import annotations

import datetime as dt


def duration_text(seconds: float | None) -> str:
    """12.3 s, 45 min, 5.2 h, 3.1 d; a dash for an unknown duration."""
    if seconds is None:
        return "—"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def moment_text(timestamp: float | None) -> str:
    """2026-12-01 10:42:07 (local time); a dash for an unknown moment."""
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S") if timestamp else "-"
