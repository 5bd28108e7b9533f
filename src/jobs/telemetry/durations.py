"""Run-time statistics for estimates: recent successful run durations and the ETA they give."""

from __future__ import annotations

import math

from redis import Redis

#: Redis list of recent successful run durations (seconds), newest first.
DURATIONS_KEY = "openms:durations"
DURATIONS_KEPT = 50


def record_duration(connection: Redis, seconds: float) -> None:
    with connection.pipeline() as pipe:
        pipe.lpush(DURATIONS_KEY, round(seconds, 3)).ltrim(DURATIONS_KEY, 0, DURATIONS_KEPT - 1).execute()


def median_duration(raw_values) -> float | None:
    """Median of recent successful run times (DURATIONS_KEY), or None before the first run."""
    values = sorted(float(v) for v in raw_values)
    return values[len(values) // 2] if values else None


def estimate_eta(
    position: int | None, workers: int, typical: float | None, elapsed: float = 0.0
) -> float | None:
    """Rough seconds until a job finishes: whole rounds of ``workers`` jobs ahead of it, then its own run."""
    if typical is None:
        return None
    if position is None:  # running
        return max(typical - elapsed, 0.0)
    return typical * (math.ceil(position / max(workers, 1)) + 1)
