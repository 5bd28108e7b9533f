"""Build a file's view index in one streaming pass (pyOpenMS ``MzMLFile.transform``): one spectrum
in memory at a time, its peaks appended to the index's peak files as they come, then the overview
map from those files in bounded chunks. Runs as a queue job (online) or a process (local mode),
never in the web server.
"""

from __future__ import annotations

import collections
import fcntl
import logging
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyopenms as oms

from src.core.errors import DiskFull, InputError, UserError
from src.core.jsonfile import read_json, write_json
from src.core.viewer import store
from src.core.workspace import is_disk_full

log = logging.getLogger(__name__)

MAP_RT_CELLS, MAP_MZ_CELLS, TOP_PEAKS = store.MAP_RT_CELLS, store.MAP_MZ_CELLS, store.TOP_PEAKS
#: Native ids longer than this are cut (they are shown, never parsed).
NATIVE_ID_CHARS = 80
#: How often progress is written: a step of the spectra, and not more often than every so many seconds.
PROGRESS_STEP, PROGRESS_SECONDS = 0.01, 0.5
#: Where an mzML says how many spectra it holds (its first kilobytes): progress without counting.
_SPECTRUM_COUNT = re.compile(rb"<spectrumList[^>]*\bcount=\"(\d+)\"")
_HEAD_BYTES = 256 * 1024
_MODES = {
    oms.SpectrumSettings.SpectrumType.CENTROID: "centroid",
    oms.SpectrumSettings.SpectrumType.PROFILE: "profile",
}

Progress = Callable[[float], None]


class _Collector:
    """The consumer ``MzMLFile.transform`` hands every spectrum and chromatogram to."""

    def __init__(self, mz_out: BinaryIO, intensity_out: BinaryIO, progress: Progress) -> None:
        self.mz_out, self.intensity_out, self.progress = mz_out, intensity_out, progress
        self.expected, self.reported, self.reported_at, self.peaks = 0, 0.0, 0.0, 0
        self.instrument = ""
        self.columns: dict[str, list] = collections.defaultdict(list)
        self.offsets = [0]
        self.modes: collections.Counter[str] = collections.Counter()
        self.top_mz: list[np.ndarray] = []
        self.top_intensity: list[np.ndarray] = []
        self.top_offsets = [0]
        self.chromatograms: list[tuple[str, float, float, np.ndarray, np.ndarray]] = []

    def setExpectedSize(self, spectra: int, chromatograms: int) -> None:
        self.expected = max(0, int(spectra))

    def setExperimentalSettings(self, settings: oms.ExperimentalSettings) -> None:
        self.instrument = settings.getInstrument().getName()

    def consumeSpectrum(self, spectrum: oms.MSSpectrum) -> None:
        mz, intensity = spectrum.get_peaks()
        if len(mz) > 1 and np.any(np.diff(mz) < 0):  # the reads search m/z: keep each spectrum sorted
            order = np.argsort(mz, kind="stable")
            mz, intensity = mz[order], intensity[order]
        mz32, intensity32 = mz.astype(np.float32), intensity.astype(np.float32)
        mz32.tofile(self.mz_out)
        intensity32.tofile(self.intensity_out)
        self.peaks += len(mz32)
        self.offsets.append(self.peaks)
        self._describe(spectrum, mz, intensity)
        if spectrum.getMSLevel() == 1:
            self._keep_top(mz32, intensity32)
        self._report()

    def _describe(self, spectrum: oms.MSSpectrum, mz: np.ndarray, intensity: np.ndarray) -> None:
        columns = self.columns
        columns["rt"].append(spectrum.getRT())
        columns["level"].append(spectrum.getMSLevel())
        columns["tic"].append(float(intensity.sum()) if len(intensity) else 0.0)
        top = int(np.argmax(intensity)) if len(intensity) else -1
        columns["bp_mz"].append(float(mz[top]) if top >= 0 else np.nan)
        columns["bp_intensity"].append(float(intensity[top]) if top >= 0 else 0.0)
        columns["mz_min"].append(float(mz[0]) if len(mz) else np.nan)
        columns["mz_max"].append(float(mz[-1]) if len(mz) else np.nan)
        precursors = spectrum.getPrecursors()
        columns["precursor_mz"].append(precursors[0].getMZ() if precursors else np.nan)
        columns["charge"].append(precursors[0].getCharge() if precursors else 0)
        columns["native_id"].append(spectrum.getNativeID()[:NATIVE_ID_CHARS])
        self.modes[_MODES.get(spectrum.getType(), "unknown")] += 1

    def _keep_top(self, mz: np.ndarray, intensity: np.ndarray) -> None:
        if len(mz) > TOP_PEAKS:
            kept = np.sort(np.argpartition(intensity, -TOP_PEAKS)[-TOP_PEAKS:])
            mz, intensity = mz[kept], intensity[kept]
        self.top_mz.append(mz)
        self.top_intensity.append(intensity)
        self.top_offsets.append(self.top_offsets[-1] + len(mz))

    def consumeChromatogram(self, chromatogram: oms.MSChromatogram) -> None:
        rt, intensity = chromatogram.get_peaks()
        self.chromatograms.append(
            (
                chromatogram.getNativeID()[:NATIVE_ID_CHARS],
                chromatogram.getPrecursor().getMZ(),
                chromatogram.getProduct().getMZ(),
                rt.astype(np.float64),
                intensity.astype(np.float32),
            )
        )

    def _report(self) -> None:
        if not self.expected:
            return
        fraction = min((len(self.offsets) - 1) / self.expected, 1.0)
        now = time.monotonic()
        if fraction - self.reported >= PROGRESS_STEP and now - self.reported_at >= PROGRESS_SECONDS:
            self.reported, self.reported_at = fraction, now
            self.progress(0.98 * fraction)


@contextmanager
def _exclusive(folder: Path) -> Iterator[bool]:
    """Whether this process may build in the folder (no other build of it is under way)."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder.parent / f".{folder.name}.lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True


def build(mzml: Path, folder: Path, progress: Progress | None = None) -> dict:
    """Build the index of ``mzml`` in ``folder``; return its meta (with the summary). Another build
    of the same folder under way: wait for nothing, return {} (its page polls the same folder)."""
    report = progress or (lambda fraction: None)
    if not mzml.is_file():
        raise InputError(f"The file {mzml.name} is gone; upload it again to look at it.")
    with _exclusive(folder) as mine:
        if not mine:
            return {}
        if store.is_current(folder, mzml):
            return dict(_read_meta(folder))
        try:
            return _build_in(mzml, folder, report)
        except OSError as err:
            _clear(folder)
            if is_disk_full(err):
                raise DiskFull("The file's index for the viewer could not be written.") from err
            raise


def _read_meta(folder: Path) -> dict:
    return read_json(folder / store.META)


def _clear(folder: Path) -> None:
    for child in folder.iterdir() if folder.is_dir() else []:
        child.unlink(missing_ok=True)


def _build_in(mzml: Path, folder: Path, report: Progress) -> dict:
    started = time.monotonic()
    stamp = store.source_stamp(mzml)
    _clear(folder)
    write_json(folder / store.PROGRESS, {"fraction": 0.0, "since": time.time()})
    report_and_note = _noting(folder, report)
    with (folder / store.MZ).open("wb") as mz_out, (folder / store.INTENSITY).open("wb") as intensity_out:
        collector = _Collector(mz_out, intensity_out, report_and_note)
        _stream(mzml, collector)
    spectra = _spectra_arrays(collector)
    np.savez(folder / store.SPECTRA, **spectra)
    _save_top(folder, collector)
    _save_chromatograms(folder, collector)
    grid, extent = overview_map(folder, spectra)
    np.save(folder / store.MAP, grid)
    meta = {
        "version": store.FORMAT_VERSION,
        "source": stamp,
        "summary": _summary(mzml, collector, spectra, extent),
        "map_extent": extent,
        "seconds": round(time.monotonic() - started, 3),
    }
    write_json(folder / store.META, meta)  # last: its presence says the index is complete
    (folder / store.PROGRESS).unlink(missing_ok=True)
    report(1.0)
    return meta


def _noting(folder: Path, report: Progress) -> Progress:
    def note(fraction: float) -> None:
        write_json(folder / store.PROGRESS, {"fraction": round(fraction, 3)})
        report(fraction)

    return note


def spectra_declared(mzml: Path) -> int:
    """The spectrum count the file declares at its start (0 if it does not)."""
    with mzml.open("rb") as handle:
        found = _SPECTRUM_COUNT.search(handle.read(_HEAD_BYTES))
    return int(found.group(1)) if found else 0


def _stream(mzml: Path, collector: _Collector) -> None:
    collector.expected = spectra_declared(mzml)
    try:
        # skip_full_count: pyOpenMS would read the whole file once more just to count the spectra
        oms.MzMLFile().transform(str(mzml), collector, True)
    except Exception as err:  # pyOpenMS raises RuntimeError subclasses with the parser's text
        if isinstance(err, OSError):
            raise
        raise InputError(
            f"{mzml.name} could not be read as mzML ({str(err).strip()[:300] or type(err).__name__}). "
            "Check that the upload is complete and is an mzML file; upload it again if not."
        ) from err


def _spectra_arrays(collector: _Collector) -> dict[str, np.ndarray]:
    columns = collector.columns
    ids = columns.pop("native_id", [])
    arrays = {
        "rt": np.asarray(columns["rt"], dtype=np.float64),
        "level": np.asarray(columns["level"], dtype=np.int16),
        "tic": np.asarray(columns["tic"], dtype=np.float64),
        "bp_mz": np.asarray(columns["bp_mz"], dtype=np.float64),
        "bp_intensity": np.asarray(columns["bp_intensity"], dtype=np.float64),
        "mz_min": np.asarray(columns["mz_min"], dtype=np.float64),
        "mz_max": np.asarray(columns["mz_max"], dtype=np.float64),
        "precursor_mz": np.asarray(columns["precursor_mz"], dtype=np.float64),
        "charge": np.asarray(columns["charge"], dtype=np.int16),
        "offsets": np.asarray(collector.offsets, dtype=np.int64),
        "native_id": np.asarray(ids, dtype=f"U{NATIVE_ID_CHARS}") if ids else np.zeros(0, dtype="U1"),
    }
    return arrays


def _save_top(folder: Path, collector: _Collector) -> None:
    empty = np.zeros(0, dtype=np.float32)
    np.savez(
        folder / store.TOP,
        mz=np.concatenate(collector.top_mz) if collector.top_mz else empty,
        intensity=np.concatenate(collector.top_intensity) if collector.top_intensity else empty,
        offsets=np.asarray(collector.top_offsets, dtype=np.int64),
    )


def _save_chromatograms(folder: Path, collector: _Collector) -> None:
    kept = collector.chromatograms
    lengths = [len(rt) for *_, rt, _ in kept]
    np.savez(
        folder / store.CHROMATOGRAMS,
        native_id=np.asarray([c[0] for c in kept], dtype=f"U{NATIVE_ID_CHARS}")
        if kept
        else np.zeros(0, "U1"),
        precursor_mz=np.asarray([c[1] for c in kept], dtype=np.float64),
        product_mz=np.asarray([c[2] for c in kept], dtype=np.float64),
        offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        rt=np.concatenate([c[3] for c in kept]) if kept else np.zeros(0),
        intensity=np.concatenate([c[4] for c in kept]) if kept else np.zeros(0, np.float32),
    )


def ms1_extent(spectra: dict[str, np.ndarray]) -> list[float]:
    """[rt min, rt max, m/z min, m/z max] of the MS1 spectra (zeros if there are none)."""
    ms1 = spectra["level"] == 1
    if not ms1.any() or np.all(np.isnan(spectra["mz_min"][ms1])):
        return [0.0, 0.0, 0.0, 0.0]
    rt = spectra["rt"][ms1]
    return [
        float(rt.min()),
        float(rt.max()),
        float(np.nanmin(spectra["mz_min"][ms1])),
        float(np.nanmax(spectra["mz_max"][ms1])),
    ]


def overview_map(folder: Path, spectra: dict[str, np.ndarray]) -> tuple[np.ndarray, list[float]]:
    """The MS1 peak map of the whole file as MAP_RT_CELLS x MAP_MZ_CELLS cells (maximum intensity),
    from the TOP_PEAKS most intense peaks of each MS1 spectrum (what a whole-file view can show;
    reading every peak again would cost as much as the file's own pass)."""
    extent = ms1_extent(spectra)
    grid = np.zeros((MAP_RT_CELLS, MAP_MZ_CELLS), dtype=np.float32)
    rt_lo, rt_hi, mz_lo, mz_hi = extent
    with np.load(folder / store.TOP) as top:
        mz, intensity, offsets = top["mz"], top["intensity"], top["offsets"]
    if not len(mz):
        return grid, extent
    ms1_rt = spectra["rt"][spectra["level"] == 1]
    rows = np.repeat(_cells(ms1_rt, rt_lo, rt_hi, MAP_RT_CELLS), np.diff(offsets))
    np.maximum.at(grid.reshape(-1), rows * MAP_MZ_CELLS + _cells(mz, mz_lo, mz_hi, MAP_MZ_CELLS), intensity)
    return grid, extent


def _cells(values: np.ndarray, lo: float, hi: float, cells: int) -> np.ndarray:
    span = (hi - lo) or 1.0
    return np.clip(((values - lo) / span * cells).astype(np.int64), 0, cells - 1)


def _summary(mzml: Path, collector: _Collector, spectra: dict[str, np.ndarray], extent: list[float]) -> dict:
    levels = collections.Counter(int(level) for level in spectra["level"])
    modes = {mode for mode, n in collector.modes.items() if n}
    rt = spectra["rt"]
    return {
        "file": mzml.name,
        "bytes": mzml.stat().st_size,
        "spectra": int(len(rt)),
        "spectra_per_level": {str(level): count for level, count in sorted(levels.items())},
        "rt_range": [float(rt.min()), float(rt.max())] if len(rt) else [0.0, 0.0],
        "mz_range": extent[2:],
        "peaks": int(collector.peaks),
        "mode": modes.pop() if len(modes) == 1 else ("mixed" if modes else "unknown"),
        "instrument": collector.instrument,
        "chromatograms": len(collector.chromatograms),
    }


#: What a build that failed for a reason nobody at the page can fix says.
UNEXPECTED = (
    "The index of this file could not be built because of an error in the server (it is logged). "
    "Try again; if it fails again, tell the administrator of this server."
)


def build_recorded(mzml: Path, folder: Path, progress: Progress | None = None) -> dict:
    """:func:`build`, with a failure written to the folder for the page (queue and local mode)."""
    (folder / store.FAILED).unlink(missing_ok=True)
    try:
        return build(mzml, folder, progress)
    except UserError as err:
        _record_failure(folder, str(err))
        raise
    except Exception:
        log.exception("building the view index of %s failed", mzml.name)
        _record_failure(folder, UNEXPECTED)
        raise


def _record_failure(folder: Path, message: str) -> None:
    try:
        (folder / store.PROGRESS).unlink(missing_ok=True)
        write_json(folder / store.FAILED, {"message": message, "at": time.time()})
    except OSError as err:  # a full disk: the page learns it from the job or the missing lock
        log.error("could not record why the view index failed: %s", err)
