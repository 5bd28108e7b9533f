"""Runs per visitor: what one visitor (a client address) may have started, held or queued.

Workspaces are free to make (a fresh one per visit), so the limits count by the visitor's
address as the web server sees it, across workspaces. In the queue a visitor has at most
``limits.running_runs_per_client`` runs started at once; its further runs are *held* in the
scheduler's order (``src/jobs/scheduler.py``) and start by themselves, up to
``limits.held_runs_per_client`` (a start that would hold one more is refused with that limit).
Held runs count against their own visitor's bound only, never toward the queue's size
(``max_queued`` counts work waiting for a worker), so one visitor holding many runs cannot make
the queue full for others. The scheduler knows a visitor by a hash of
its address (so Redis and rq-dashboard do not list visitors' addresses). Runs that fell back to
a local process because Redis was down are counted in this process and refused beyond the share.
"""

from __future__ import annotations

import hashlib
import threading

from src.core.settings import Limits
from src.core.workflow import LocalRunner, WorkflowBase

#: Key of a visitor in job meta: a hash, so Redis and rq-dashboard do not list visitors' addresses.
META_KEY = "client"


def visitor_key(address: str) -> str:
    return hashlib.sha256(f"openms-client:{address}".encode()).hexdigest()[:20]


#: How the sign-in mode's visitors are named: a person, wherever they sign in from (src/ui/auth.py).
PERSON_PREFIX = "person:"


def for_whom(visitor: str) -> str:
    """Whom a limit counts, in the words of its message: a signed-in person, else a network."""
    return "for one person" if visitor.startswith(PERSON_PREFIX) else "for your network"


def held_limit_message(held: int, limits: Limits, visitor: str = "") -> str:
    """A start refused by the visitor's own bound on held runs (never by the others' runs)."""
    share = limits.running_runs_per_client
    if limits.held_runs_per_client == 0:
        return (
            f"You already have {share} runs started or waiting for a worker, the most this server "
            f"allows {for_whom(visitor)}; it holds no further runs. Nothing was started: start this one "
            "when one of them has ended (or stop one)."
        )
    return (
        f"You already have {held} runs waiting for their turn on this server, beyond the {share} that "
        f"may run at once {for_whom(visitor)}; no more than {limits.held_runs_per_client} may wait "
        f"{for_whom(visitor)}. Nothing was started: start this one when one of them has ended (or stop one)."
    )


def local_limit_message(active: int, limit: int, visitor: str = "") -> str:
    """Runs on this web server while the queue is down cannot wait their turn: beyond the share, refused."""
    return (
        f"You already have {active} runs running on this server while its job queue is unavailable, "
        f"and no more than {limit} may run at once {for_whom(visitor)}. Wait for one of them to finish "
        "(or stop one), then start this one."
    )


class LocalRuns:
    """Local runs started for visitors in online mode (the fallback when Redis is down), by visitor."""

    def __init__(self) -> None:
        self._runs: dict[str, list[WorkflowBase]] = {}
        self._lock = threading.Lock()

    def active(self, visitor: str) -> int:
        with self._lock:
            alive = [w for w in self._runs.get(visitor, []) if LocalRunner(w).is_running()]
            self._runs[visitor] = alive
            return len(alive)

    def add(self, visitor: str, workflow: WorkflowBase) -> None:
        with self._lock:
            self._runs.setdefault(visitor, []).append(workflow)
