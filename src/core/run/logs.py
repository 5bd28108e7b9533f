"""Run logs at three levels of detail, and the explicit end marker of a run.

Each message goes to every log whose level is at least the message's level, so
``minimal.log`` is short enough to show a user, ``commands.log`` adds the exact
commands and their run times, and ``all.log`` adds everything the tools printed.
The last line of every log of an ended run is the end marker of its final
:class:`~src.core.run.state.RunState`, which is what the Run page and the tests read
to know how a run ended.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from pathlib import Path

from src.core.run.state import END_MARKERS, RunState
from src.core.settings import LOG_LEVELS

START_MARKER = "=== WORKFLOW STARTED ==="

MINIMAL, COMMANDS, ALL = range(3)


def log_file(log_dir: Path, level: str) -> Path:
    if level not in LOG_LEVELS:
        raise ValueError(f"unknown log level {level!r}")
    return log_dir / f"{level}.log"


def read_log(log_dir: Path, level: str) -> str:
    path = log_file(log_dir, level)
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


#: How much of a log's end a page reads for its tail.
TAIL_BYTES = 64 * 1024
_tails: OrderedDict[Path, tuple[tuple[int, int], str]] = OrderedDict()
_tails_lock = threading.Lock()
_TAILS_KEPT = 2000


def tail(log_dir: Path, level: str, lines: int) -> str:
    """The last ``lines`` lines of a log, read again only when the file changed.

    Every open Run page shows its log's tail every second; reading (only the end of) a log
    whose size and modification time are unchanged is skipped.
    """
    path = log_file(log_dir, level)
    try:
        stat = path.stat()
    except FileNotFoundError:
        return ""
    stamp = (stat.st_size, stat.st_mtime_ns)
    with _tails_lock:
        cached = _tails.get(path)
        if cached and cached[0] == stamp:
            _tails.move_to_end(path)
            return cached[1]
    with path.open("rb") as handle:
        handle.seek(max(0, stat.st_size - TAIL_BYTES))
        text = handle.read().decode("utf-8", errors="replace")
    last = "\n".join(text.splitlines()[-lines:])
    with _tails_lock:
        _tails[path] = (stamp, last)
        while len(_tails) > _TAILS_KEPT:
            _tails.popitem(last=False)
    return last


def ended_with(log_dir: Path) -> RunState | None:
    """The final state recorded by the end marker of the minimal log, or None while running."""
    lines = read_log(log_dir, "minimal").rstrip().splitlines()
    for outcome, marker in END_MARKERS.items():
        if lines and lines[-1].endswith(marker):
            return outcome
    return None


class WorkflowLogger:
    """Thread-safe writer of the three logs of one run."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._lock = threading.Lock()

    def reset(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for level in LOG_LEVELS:
            log_file(self.log_dir, level).write_text("", encoding="utf-8")

    def log(self, message: str, level: int = MINIMAL) -> None:
        """Append a timestamped message to every log at or above ``level``."""
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        lines = "".join(f"[{stamp}] {line}\n" for line in str(message).splitlines() or [""])
        with self._lock:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            for index, name in enumerate(LOG_LEVELS):
                if index >= level:
                    with log_file(self.log_dir, name).open("a", encoding="utf-8") as handle:
                        handle.write(lines)

    def raw(self, text: str) -> None:
        """Tool output, unstamped, only in the most detailed log."""
        with self._lock, log_file(self.log_dir, "all").open("a", encoding="utf-8") as handle:
            handle.write(text if text.endswith("\n") else text + "\n")

    def end(self, outcome: RunState, detail: str = "") -> None:
        if detail:
            self.log(detail, MINIMAL)
        self.log(outcome.end_marker, MINIMAL)
