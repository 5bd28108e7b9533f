"""Progress of a run: a fraction from 0 to 1 and the text of the current step.

The executor advances it once per finished command, so progress moves with
every tool run without the workflow author counting anything beyond declaring,
through :meth:`Progress.plan`, how many commands the run will execute.
Listeners (the status file; in online mode the RQ job's meta) receive every change.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

Listener = Callable[[float | None, str], None]


class Progress:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        self._total = 0
        self._done = 0
        self._step = ""

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    @property
    def fraction(self) -> float | None:
        if self._total <= 0:
            return None
        return min(1.0, self._done / self._total)

    @property
    def step(self) -> str:
        return self._step

    def plan(self, total_commands: int) -> None:
        """Declare how many commands the run will execute in all."""
        with self._lock:
            self._total, self._done = max(0, total_commands), 0
        self._publish()

    def starting(self, step: str) -> None:
        with self._lock:
            self._step = step
        self._publish()

    def command_done(self) -> None:
        with self._lock:
            self._done += 1
        self._publish()

    def complete(self, step: str = "Done") -> None:
        with self._lock:
            self._done = max(self._done, self._total)
            self._total = max(self._total, 1)
            self._step = step
        self._publish()

    def _publish(self) -> None:
        fraction, step = self.fraction, self._step
        for listener in self._listeners:
            listener(fraction, step)
