"""Runs ended, by outcome, and how long they took: counted in Redis when a run ends, so that every
web server's ``/metrics`` answers the same totals, whichever worker or container ran the runs, and
the counts survive restarts (Redis keeps them in its AOF like the jobs).

A worker forks a process per job; counting in Redis at the end of a run (in the job's process or
in the worker's callbacks) needs no shared memory between them, and the figures are read at scrape
time (``src/jobs/ops/prometheus.py``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

from redis import Redis

from src.jobs.connection import REDIS_ERRORS

log = logging.getLogger(__name__)

ENDED_KEY = "openms:metrics:runs-ended"  # hash: "workflow|outcome" -> runs
DURATION_KEY = "openms:metrics:run-duration"  # hash: "workflow|outcome|bucket" -> runs, "...|sum" -> s
#: The workflow of counts written before runs were counted per workflow (one workflow then).
EARLIER = "topp-workflow"
#: Upper bounds of the run-duration histogram's buckets (s): from a one-file run to a long study.
BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0)
INF = "+Inf"


def bucket_of(seconds: float) -> str:
    """The label of the smallest bucket that holds ``seconds``."""
    return next((_label(b) for b in BUCKETS if seconds <= b), INF)


def _label(bound: float) -> str:
    return f"{bound:g}"


def record_end(connection: Redis, workflow: str, outcome: str, seconds: float | None) -> None:
    """Count one run's end of a workflow (its id); its duration too when known (a lost run's is
    not). A Redis that cannot be reached costs this one count, never the run."""
    key = f"{workflow or EARLIER}|{outcome}"
    try:
        with connection.pipeline() as pipe:
            pipe.hincrby(ENDED_KEY, key, 1)
            if seconds is not None and math.isfinite(seconds) and seconds >= 0:
                pipe.hincrby(DURATION_KEY, f"{key}|{bucket_of(seconds)}", 1)
                pipe.hincrbyfloat(DURATION_KEY, f"{key}|sum", seconds)
            pipe.execute()
    except REDIS_ERRORS as err:
        log.warning("the end of a run (%s) was not counted for /metrics (Redis: %s)", outcome, err)


@dataclass
class Durations:
    """One outcome's histogram: runs per bucket (not cumulative) and their total seconds."""

    per_bucket: dict[str, int] = field(default_factory=dict)
    total_seconds: float = 0.0

    def cumulative(self) -> list[tuple[str, int]]:
        """(le, runs of at most that long), the buckets in order, ``+Inf`` last."""
        out, running = [], 0
        for label in [_label(b) for b in BUCKETS] + [INF]:
            running += self.per_bucket.get(label, 0)
            out.append((label, running))
        return out

    @property
    def count(self) -> int:
        return sum(self.per_bucket.values())


Ended = tuple[str, str]  # (workflow, outcome)


def read(connection: Redis) -> tuple[dict[Ended, int], dict[Ended, Durations]]:
    """(runs ended by workflow and outcome, durations by workflow and outcome)."""
    with connection.pipeline(transaction=False) as pipe:
        pipe.hgetall(ENDED_KEY)
        pipe.hgetall(DURATION_KEY)
        ended_raw, duration_raw = pipe.execute()
    ended: dict[Ended, int] = {}
    for key, value in ended_raw.items():
        which = _which(_text(key))
        ended[which] = ended.get(which, 0) + int(value)
    durations: dict[Ended, Durations] = {}
    for key, value in duration_raw.items():
        run, _, part = _text(key).rpartition("|")
        entry = durations.setdefault(_which(run), Durations())
        if part == "sum":
            entry.total_seconds = float(value)
        else:
            entry.per_bucket[part] = int(value)
    return ended, durations


def _which(field: str) -> Ended:
    """(workflow, outcome) of a counter's field; a field of an earlier release names no workflow."""
    workflow, _, outcome = field.rpartition("|")
    return (workflow or EARLIER, outcome)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
