"""Which run's per-file result a workflow's map overlay shows, and the bounds of what it reads.

The raw data viewer asks a workflow (``WorkflowBase.map_overlay``) what its latest run found in one
input file. That is read in the web server, so every workflow answers the same way: only from the
latest run, only once it finished, only for a file that was one of its inputs (by name and size, as
its record lists them: a file uploaded again under the same name afterwards is another file), only
from a result file under :data:`MAX_RESULT_BYTES`, and at most :data:`MAX_POINTS` points of it.
pyOpenMS is not loaded here; each workflow's own overlay module reads its result files.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from src.core.run import RunRecord, RunState, moment_text
from src.core.workflow import WorkflowBase

log = logging.getLogger(__name__)

#: The most points an overlay holds (the most intense features, the best-scoring peptides).
MAX_POINTS = 20_000
#: A result file at least this large is not read in the web server: the viewer shows no overlay.
MAX_RESULT_BYTES = 50 * 1024**2


def latest_result(
    workflow: WorkflowBase, mzml: Path, key: str, locate: Callable[[Path, Path], Path]
) -> tuple[Path, str] | None:
    """The result file of ``mzml`` in the latest run (``locate(results_root, mzml)``) and the words
    naming that run, or None: no finished latest run, ``mzml`` not an input of it (in the input
    folder ``key``), or its result missing or too large to read here."""
    status = workflow.state.read()
    if status.state is not RunState.FINISHED:
        return None
    run = workflow.history.runs(status)[0]
    if not was_input(run, mzml, workflow.files.input_root / key):
        return None
    found = locate(run.results_root, mzml)
    if not readable(found):
        return None
    return found, f"the latest run, finished {moment_text(status.ended_at)}"


def was_input(run: RunRecord, mzml: Path, folder: Path) -> bool:
    """Whether ``mzml`` lies in the input folder and the run's record lists it, at its size."""
    try:
        if mzml.parent.resolve() != folder.resolve():
            return False
        size = mzml.stat().st_size
    except OSError:
        return False
    return any(item.get("name") == mzml.name and item.get("bytes") == size for item in run.inputs)


def readable(path: Path) -> bool:
    """Whether a result file exists and is small enough to read in the web server (logged if not)."""
    try:
        size = path.stat().st_size
    except OSError:
        return False  # the run kept no result for this file (or a new run just moved it away)
    if size >= MAX_RESULT_BYTES:
        log.warning(
            "no map overlay from %s: %.0f MB, the limit is %.0f MB",
            path,
            size / 1024**2,
            MAX_RESULT_BYTES / 1024**2,
        )
        return False
    return True


def best(ranks: np.ndarray, limit: int) -> np.ndarray:
    """Indices of the ``limit`` highest ``ranks``, highest first (ties in file order)."""
    return np.argsort(-ranks, kind="stable")[:limit]


def shown(caption: str, count: int, total: int, what: str) -> str:
    """The caption, saying so when only the ``count`` ``what`` ("most intense features") of
    ``total`` are shown."""
    if count >= total:
        return caption
    return f"{caption}; the {count:,} {what} of {total:,}"
