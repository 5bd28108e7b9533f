"""A closed page's memory given back soon after Streamlit lets its session go.

Streamlit keeps a closed page's session for ``server.disconnectedSessionTTL`` seconds, for the page
to reconnect to after a network blip, and drops it at its next write to that store (the next page
that closes). What a dropped session held (its widget values, its pages' tables) is in reference
cycles, which only Python's full collection frees; with Streamlit's collection after every script
run switched off (``runner.postScriptGC`` in .streamlit/config.toml: it was most of a server's CPU
with waiting viewers), that came when the interpreter's thresholds said so, minutes later on a
loaded server: a sawtooth of some 50 MB over a few rounds of 20 closed pages on this machine.

:class:`ClosedSessions` runs one full collection (about 75 ms with the app's libraries loaded) once
the reconnect window of a page that closed has passed, checked every few seconds, and none while no
page closes: under steady traffic, at most one per reconnect window.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import AsyncIterator, Callable

#: How often a due collection is looked for, at most (seconds); less when the window is shorter.
CHECK_SECONDS = 10.0


class ClosedSessions:
    """When pages closed, and whether their sessions' memory is due to be collected.

    ``closed`` is called by the server's event loop for every page that closes; ``collect_if_due``
    runs there too, so the two need no lock.
    """

    def __init__(self, reconnect_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.reconnect_seconds = reconnect_seconds
        self.clock = clock
        self.first_waiting: float | None = None  # the earliest close not yet followed by a collection
        self.last_close: float | None = None
        self.collections = 0

    def closed(self) -> None:
        now = self.clock()
        self.last_close = now
        if self.first_waiting is None:
            self.first_waiting = now

    def due(self) -> bool:
        return self.first_waiting is not None and self.clock() >= self.first_waiting + self.reconnect_seconds

    def collect_if_due(self) -> bool:
        """A full collection when a closed page's window has passed. Pages that closed since then
        wait for the next one (from the last of them: a little later than needed, never sooner)."""
        if not self.due():
            return False
        now = self.clock()
        gc.collect()
        self.collections += 1
        recent = self.last_close is not None and self.last_close > now - self.reconnect_seconds
        self.first_waiting = self.last_close if recent else None
        return True

    @property
    def check_seconds(self) -> float:
        return max(0.5, min(CHECK_SECONDS, self.reconnect_seconds))

    async def watch(self) -> None:
        while True:
            await asyncio.sleep(self.check_seconds)
            self.collect_if_due()


def lifespan(closed: ClosedSessions) -> Callable[[object], contextlib.AbstractAsyncContextManager[None]]:
    """An ``st.App`` lifespan that watches ``closed`` while the server runs."""

    @contextlib.asynccontextmanager
    async def running(_app: object) -> AsyncIterator[None]:
        task = asyncio.get_running_loop().create_task(closed.watch())
        try:
            yield None
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return running
