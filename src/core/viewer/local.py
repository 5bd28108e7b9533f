"""Local mode (no queue): a file's index is built by a process of its own, started by the page
and independent of it (``python -m src.core.viewer``), so the web server never reads the file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from src.core.viewer import store

#: The repository root: the process runs ``-m src.core.viewer`` from there.
ROOT = Path(__file__).resolve().parents[3]


def start(workspace: Path, mzml: Path) -> store.IndexState:
    """Start building the file's index unless it is complete, under way or failed; return its state."""
    folder = store.index_folder(workspace, mzml)
    now = store.state_on_disk(folder, mzml)
    if now.kind != store.Index.NONE:
        return now  # a failed build starts again when the visitor asks (its failure removed)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / store.FAILED).unlink(missing_ok=True)
    with (folder.parent / f".{folder.name}.log").open("ab") as log_file:
        subprocess.Popen(
            [sys.executable, "-m", "src.core.viewer", str(mzml), str(folder)],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # lives on if the web server restarts
        )
    return store.IndexState(store.Index.BUILDING, 0.0)
