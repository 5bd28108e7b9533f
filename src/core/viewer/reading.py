"""Reads of a view index: what the viewer page shows, each answered from the index alone.

Nothing here reads the mzML. The per-spectrum arrays are small (a few MB for 100,000 spectra);
the peaks are read from the peak files a spectrum, a region or a bounded chunk at a time, so a
web server looking at a 2 GB file holds megabytes, not the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from src.core.errors import IndexMissing, InputError
from src.core.jsonfile import read_json
from src.core.viewer import store
from src.core.viewer.store import MAP_MZ_CELLS, MAP_RT_CELLS, TOP_PEAKS, spectrum_chunks

#: Peaks read at once by a web server (float32: 4 MB per array), so its memory stays flat.
READ_PEAKS = 1_000_000
#: A region with at most this many peaks (in its RT range) is drawn from every peak.
EVERY_PEAK_LIMIT = 3_000_000
#: Points handed to the browser at most (the most intense cells or peaks): a page's message
#: must stay well below the web server's 2 MB limit (``server.maxMessageSize``).
MAX_POINTS = 20_000
#: The grid a region is drawn on (cells along RT and m/z) when it has more peaks than points.
REGION_RT_CELLS, REGION_MZ_CELLS = 300, 500


@dataclass(frozen=True)
class Spectrum:
    index: int
    rt: float
    level: int
    mz: np.ndarray
    intensity: np.ndarray
    precursor_mz: float | None
    charge: int
    native_id: str


@dataclass(frozen=True)
class MapRegion:
    """Points of a peak map region: peaks, or the centres of grid cells (maximum intensity)."""

    rt: np.ndarray
    mz: np.ndarray
    intensity: np.ndarray
    extent: tuple[float, float, float, float]  # rt lo, rt hi, m/z lo, m/z hi
    drawn_from: str  # "every peak", "the most intense peaks of each spectrum", "the overview map"


class ViewIndex:
    """One file's index, opened from its folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.meta = read_json(folder / store.META)
        if self.meta.get("version") != store.FORMAT_VERSION:
            raise IndexMissing("This file has no index for the viewer yet.")
        with np.load(folder / store.SPECTRA) as arrays:
            self.spectra = {name: arrays[name] for name in arrays.files}
        self.summary: dict = self.meta["summary"]
        self.extent: tuple[float, float, float, float] = tuple(self.meta["map_extent"])
        self._ms1 = np.flatnonzero(self.spectra["level"] == 1)

    # ---- chromatograms ----------------------------------------------------------------------------
    def tic(self) -> tuple[np.ndarray, np.ndarray]:
        """The total ion chromatogram of the MS1 spectra (RT in seconds, intensity)."""
        return self.spectra["rt"][self._ms1], self.spectra["tic"][self._ms1]

    def base_peak(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The base peak chromatogram of the MS1 spectra: RT, intensity, the base peak's m/z."""
        ms1 = self._ms1
        return self.spectra["rt"][ms1], self.spectra["bp_intensity"][ms1], self.spectra["bp_mz"][ms1]

    def stored_chromatograms(self) -> list[tuple[str, float, float]]:
        """The chromatograms stored in the file: (native id, precursor m/z, product m/z)."""
        with np.load(self.folder / store.CHROMATOGRAMS) as arrays:
            return list(
                zip(
                    (str(i) for i in arrays["native_id"]),
                    arrays["precursor_mz"].tolist(),
                    arrays["product_mz"].tolist(),
                    strict=True,
                )
            )

    def stored_chromatogram(self, number: int) -> tuple[np.ndarray, np.ndarray]:
        with np.load(self.folder / store.CHROMATOGRAMS) as arrays:
            offsets = arrays["offsets"]
            if not 0 <= number < len(offsets) - 1:
                raise InputError(f"The file has no chromatogram number {number + 1}.")
            part = slice(int(offsets[number]), int(offsets[number + 1]))
            return arrays["rt"][part], arrays["intensity"][part]

    def xic(self, mz: float, ppm: float) -> tuple[np.ndarray, np.ndarray]:
        """The extracted ion chromatogram: per MS1 spectrum, the summed intensity of the peaks
        within ``ppm`` of ``mz``."""
        if not (mz > 0 and 0 < ppm <= 10_000):
            raise InputError("Give an m/z above 0 and a window between 0 and 10,000 ppm.")
        half = mz * ppm / 1e6
        offsets, level = self.spectra["offsets"], self.spectra["level"]
        sums = np.zeros(len(level), dtype=np.float64)
        for first, last in spectrum_chunks(offsets, READ_PEAKS):
            start, count = int(offsets[first]), int(offsets[last] - offsets[first])
            peaks_mz = self._peaks(store.MZ, start, count)
            hit = np.flatnonzero((peaks_mz >= mz - half) & (peaks_mz <= mz + half))
            if len(hit):
                intensity = self._peaks(store.INTENSITY, start, count)[hit]
                owner = np.searchsorted(offsets[first : last + 1], start + hit, side="right") - 1 + first
                np.add.at(sums, owner, intensity)
        return self.spectra["rt"][self._ms1], sums[self._ms1]

    # ---- spectra -------------------------------------------------------------------------------
    def nearest(self, rt: float, level: int = 1) -> int | None:
        """The spectrum of an MS level nearest to a retention time (None if the file has none)."""
        candidates = np.flatnonzero(self.spectra["level"] == level)
        if not len(candidates):
            return None
        return int(candidates[np.argmin(np.abs(self.spectra["rt"][candidates] - rt))])

    def ms2_near(self, rt: float, count: int = 50) -> np.ndarray:
        """The MS2 spectra nearest to a retention time, by RT (for picking one)."""
        candidates = np.flatnonzero(self.spectra["level"] == 2)
        order = np.argsort(np.abs(self.spectra["rt"][candidates] - rt), kind="stable")[:count]
        return np.sort(candidates[order])

    def spectrum(self, index: int) -> Spectrum:
        spectra = self.spectra
        if not 0 <= index < len(spectra["rt"]):
            raise InputError(f"The file has no spectrum number {index + 1}.")
        start, end = int(spectra["offsets"][index]), int(spectra["offsets"][index + 1])
        precursor = float(spectra["precursor_mz"][index])
        return Spectrum(
            index=index,
            rt=float(spectra["rt"][index]),
            level=int(spectra["level"][index]),
            mz=self._peaks(store.MZ, start, end - start),
            intensity=self._peaks(store.INTENSITY, start, end - start),
            precursor_mz=None if np.isnan(precursor) else precursor,
            charge=int(spectra["charge"][index]),
            native_id=str(spectra["native_id"][index]) if len(spectra["native_id"]) else "",
        )

    # ---- the peak map ------------------------------------------------------------------------------
    def region(
        self,
        rt_lo: float | None = None,
        rt_hi: float | None = None,
        mz_lo: float | None = None,
        mz_hi: float | None = None,
    ) -> MapRegion:
        """The MS1 peaks of a region (the whole map by default), at most MAX_POINTS points."""
        full = self.extent
        box = (
            full[0] if rt_lo is None else rt_lo,
            full[1] if rt_hi is None else rt_hi,
            full[2] if mz_lo is None else mz_lo,
            full[3] if mz_hi is None else mz_hi,
        )
        if box[1] < box[0] or box[3] < box[2]:
            raise InputError("The region's lower bounds must be below its upper bounds.")
        spectra = self._ms1[
            (self.spectra["rt"][self._ms1] >= box[0]) & (self.spectra["rt"][self._ms1] <= box[1])
        ]
        if not len(spectra):
            empty = np.zeros(0)
            return MapRegion(empty, empty, empty, box, "every peak")
        offsets = self.spectra["offsets"]
        in_range = int(offsets[spectra[-1] + 1] - offsets[spectra[0]])
        if in_range <= EVERY_PEAK_LIMIT:
            return self._from_peaks(spectra, box, "every peak", store.MZ, store.INTENSITY, offsets)
        if self._wide(box):
            return self._from_overview(box)
        return self._from_top(spectra, box)

    def _wide(self, box: tuple[float, float, float, float]) -> bool:
        """A region of more than half the file's RT range: the overview grid shows it as well."""
        full = self.extent
        return (box[1] - box[0]) >= 0.5 * (full[1] - full[0]) and (box[3] - box[2]) >= 0.5 * (
            full[3] - full[2]
        )

    def _from_peaks(self, spectra, box, drawn_from, mz_file, intensity_file, offsets) -> MapRegion:
        rts, mzs, intensities = [], [], []
        rt_of = self.spectra["rt"]
        for first, last in spectrum_chunks(offsets, READ_PEAKS, int(spectra[0]), int(spectra[-1]) + 1):
            start, count = int(offsets[first]), int(offsets[last] - offsets[first])
            mz = self._peaks(mz_file, start, count)
            hit = np.flatnonzero((mz >= box[2]) & (mz <= box[3]))
            if not len(hit):
                continue
            owner = np.searchsorted(offsets[first : last + 1], start + hit, side="right") - 1 + first
            keep = self.spectra["level"][owner] == 1
            hit, owner = hit[keep], owner[keep]
            rts.append(rt_of[owner])
            mzs.append(mz[hit])
            intensities.append(self._peaks(intensity_file, start, count)[hit])
        return _thinned(rts, mzs, intensities, box, drawn_from)

    def _from_top(self, spectra: np.ndarray, box) -> MapRegion:
        with np.load(self.folder / store.TOP) as top:
            mz_all, intensity_all, top_offsets = top["mz"], top["intensity"], top["offsets"]
        ms1_number = np.searchsorted(self._ms1, spectra)  # the n-th MS1 spectrum (consecutive)
        rts, mzs, intensities = [], [], []
        first, last = int(top_offsets[ms1_number[0]]), int(top_offsets[ms1_number[-1] + 1])
        mz, intensity = mz_all[first:last], intensity_all[first:last]
        owner = np.repeat(ms1_number, np.diff(top_offsets)[ms1_number])
        hit = (mz >= box[2]) & (mz <= box[3])
        rts.append(self.spectra["rt"][self._ms1[owner[hit]]])
        mzs.append(mz[hit])
        intensities.append(intensity[hit])
        return _thinned(rts, mzs, intensities, box, f"the {TOP_PEAKS} most intense peaks of each spectrum")

    def _from_overview(self, box) -> MapRegion:
        grid = np.load(self.folder / store.MAP)
        full = self.extent
        rt_edges = np.linspace(full[0], full[1], MAP_RT_CELLS + 1)
        mz_edges = np.linspace(full[2], full[3], MAP_MZ_CELLS + 1)
        rt_centre, mz_centre = (rt_edges[:-1] + rt_edges[1:]) / 2, (mz_edges[:-1] + mz_edges[1:]) / 2
        rows = np.flatnonzero((rt_centre >= box[0]) & (rt_centre <= box[1]))
        columns = np.flatnonzero((mz_centre >= box[2]) & (mz_centre <= box[3]))
        part = grid[np.ix_(rows, columns)]
        filled = np.nonzero(part)
        return _strongest(
            rt_centre[rows][filled[0]], mz_centre[columns][filled[1]], part[filled], box, "the overview map"
        )

    def _peaks(self, name: str, start: int, count: int) -> np.ndarray:
        return np.fromfile(self.folder / name, dtype=np.float32, count=count, offset=start * 4)


def _thinned(rts, mzs, intensities, box, drawn_from) -> MapRegion:
    if not rts:
        empty = np.zeros(0)
        return MapRegion(empty, empty, empty, box, drawn_from)
    rt, mz, intensity = np.concatenate(rts), np.concatenate(mzs), np.concatenate(intensities)
    if len(rt) <= MAX_POINTS:
        return MapRegion(rt, mz, intensity, box, drawn_from)
    return _gridded(rt, mz, intensity, box, drawn_from)


def _gridded(rt, mz, intensity, box, drawn_from) -> MapRegion:
    """Peaks too many to send: the maximum per cell of a REGION grid, the strongest cells."""
    rt_span, mz_span = (box[1] - box[0]) or 1.0, (box[3] - box[2]) or 1.0
    rows = np.clip(((rt - box[0]) / rt_span * REGION_RT_CELLS).astype(np.int64), 0, REGION_RT_CELLS - 1)
    cols = np.clip(((mz - box[2]) / mz_span * REGION_MZ_CELLS).astype(np.int64), 0, REGION_MZ_CELLS - 1)
    grid = np.zeros(REGION_RT_CELLS * REGION_MZ_CELLS, dtype=np.float32)
    np.maximum.at(grid, rows * REGION_MZ_CELLS + cols, intensity)
    filled = np.flatnonzero(grid)
    row, col = np.divmod(filled, REGION_MZ_CELLS)
    rt_centre = box[0] + (row + 0.5) * rt_span / REGION_RT_CELLS
    mz_centre = box[2] + (col + 0.5) * mz_span / REGION_MZ_CELLS
    return _strongest(rt_centre, mz_centre, grid[filled], box, f"{drawn_from}, gridded")


def _strongest(rt, mz, intensity, box, drawn_from) -> MapRegion:
    if len(rt) > MAX_POINTS:
        kept = np.argpartition(intensity, -MAX_POINTS)[-MAX_POINTS:]
        rt, mz, intensity = rt[kept], mz[kept], intensity[kept]
    return MapRegion(np.asarray(rt), np.asarray(mz), np.asarray(intensity), box, drawn_from)
