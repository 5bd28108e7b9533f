"""Where a file's view index lives and what it holds: the one place that spells its files.

The index of ``<workspace>/<workflow>/input-files/<key>/run.mzML`` is the folder
``<workspace>/.view-index/<workflow>/input-files/<key>/run.mzML/`` (inside the workspace, so it
counts against the workspace's quota; outside the input folders, so no workflow takes it for an
input). It is current while the file keeps the size and modification time it was built from;
removing the file removes it (:func:`remove_for`), and :func:`sweep` removes any left behind.

Files of an index (a format version in ``meta.json``; another version is rebuilt):

* ``meta.json`` the file's summary and what the index was built from;
* ``spectra.npz`` per spectrum: RT, MS level, peak offsets, TIC, base peak, precursor, native id;
* ``mz.f32``, ``intensity.f32`` every peak of every spectrum (float32, read memory-mapped, a
  spectrum or a region at a time);
* ``top.npz`` the most intense peaks of each MS1 spectrum (a light map for wide regions);
* ``map.npy`` the MS1 peak map of the whole file as a grid (maximum intensity per cell);
* ``chromatograms.npz`` the chromatograms stored in the file (SRM, TIC), if any.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np

from src.core.jsonfile import read_json

#: The overview map's grid: cells along RT and along m/z.
MAP_RT_CELLS, MAP_MZ_CELLS = 800, 1200
#: The most intense peaks kept per MS1 spectrum for the light map of wide regions.
TOP_PEAKS = 150
#: Bump when the files above change: an index of another version is built again.
FORMAT_VERSION = 1
#: The folder of every index of a workspace.
INDEX_ROOT = ".view-index"
META, SPECTRA, MZ, INTENSITY, TOP, MAP, CHROMATOGRAMS = (
    "meta.json",
    "spectra.npz",
    "mz.f32",
    "intensity.f32",
    "top.npz",
    "map.npy",
    "chromatograms.npz",
)
#: Written while a build runs (fraction done); gone once the index is complete.
PROGRESS = "progress.json"
#: What a build failed with, for the page (removed when a build starts again).
FAILED = "failed.json"


def index_folder(workspace: Path, mzml: Path) -> Path:
    """The index folder of an mzML file inside the workspace."""
    relative = mzml.relative_to(workspace)
    return workspace / INDEX_ROOT / relative


def source_stamp(mzml: Path) -> dict[str, int]:
    """What identifies the file's content cheaply: its size and modification time."""
    stat = mzml.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def is_current(folder: Path, mzml: Path) -> bool:
    """Whether the folder holds a complete index of the file as it is now."""
    meta = read_json(folder / META)
    if meta.get("version") != FORMAT_VERSION:
        return False
    try:
        return meta.get("source") == source_stamp(mzml)
    except OSError:
        return False


def remove_for(workspace: Path, mzml: Path) -> None:
    """Remove the index of a file (with the file, or before it is built again)."""
    _remove(index_folder(workspace, mzml))


def _remove(folder: Path) -> None:
    """An index folder and its siblings: the build's lock and local mode's build log."""
    shutil.rmtree(folder, ignore_errors=True)
    for sibling in (f".{folder.name}.lock", f".{folder.name}.log"):
        (folder.parent / sibling).unlink(missing_ok=True)


def sweep(workspace: Path) -> int:
    """Remove the indexes whose file is gone (removed another way, or a workspace upgraded);
    return how many. Folders still being built (no meta yet) of existing files are kept."""
    root = workspace / INDEX_ROOT
    removed = 0
    for meta in list(root.rglob(META)) if root.is_dir() else []:
        folder = meta.parent
        source = workspace / folder.relative_to(root)
        if not os.path.lexists(source):
            _remove(folder)
            removed += 1
    return removed


class Index(StrEnum):
    """Where a file's index stands (not a run's state: an index is no run)."""

    NONE = "none"  # not built, nothing under way
    WAITING = "waiting"  # its job waits for a worker
    BUILDING = "building"
    READY = "ready"
    BROKEN = "broken"  # the build did not succeed; the message says why and what to do


@dataclass(frozen=True)
class IndexState:
    """A file's index for the page: its state, ``ahead`` (jobs before it while it waits),
    ``fraction`` (done, while it builds), ``message`` (why it is broken)."""

    kind: Index
    fraction: float = 0.0
    ahead: int = 0
    message: str = ""


def building(folder: Path) -> bool:
    """Whether a build of this folder holds its lock now (a local process or a worker's job)."""
    lock = folder.parent / f".{folder.name}.lock"
    if not lock.exists():
        return False
    with lock.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def fraction_done(folder: Path) -> float:
    return float(read_json(folder / PROGRESS).get("fraction") or 0.0)


def failure(folder: Path) -> str:
    """What the last build of the folder failed with ("" if it did not)."""
    return str(read_json(folder / FAILED).get("message") or "")


def state_on_disk(folder: Path, mzml: Path) -> IndexState:
    """What the folder alone says: complete, being built, failed, or nothing yet."""
    if is_current(folder, mzml):
        return IndexState(Index.READY, 1.0)
    if building(folder):
        return IndexState(Index.BUILDING, fraction_done(folder))
    message = failure(folder)
    return IndexState(Index.BROKEN, message=message) if message else IndexState(Index.NONE)


def spectrum_chunks(
    offsets: np.ndarray, budget: int, first: int = 0, end: int | None = None
) -> Iterator[tuple[int, int]]:
    """Ranges of spectra [first, last) of about ``budget`` peaks each (one spectrum at least),
    covering the spectra ``first`` to ``end`` (all by default)."""
    total = len(offsets) - 1 if end is None else end
    while first < total:
        last = int(np.searchsorted(offsets, offsets[first] + budget, side="right")) - 1
        last = min(max(last, first + 1), total)
        yield first, last
        first = last
