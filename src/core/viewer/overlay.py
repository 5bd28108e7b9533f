"""What a finished run found in one file, to be drawn over that file's peak map.

A workflow says what it found through :meth:`WorkflowBase.map_overlay` (features of a
metabolomics run, identified peptides of a proteomics run); the viewer draws points (and boxes
where the overlay has extents) and shows ``labels`` as hover text, as text (never Markdown).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class MapOverlay:
    """Points (and optional boxes) in retention time (seconds) x m/z.

    ``rt``/``mz`` are the positions (same length); ``rt_min``/``rt_max``/``mz_min``/``mz_max``,
    where given, the extent of each (a feature's convex hull's bounding box); ``labels`` one short
    text per point (a feature's charge and intensity, a peptide's sequence)."""

    kind: str  # what the points are, for the legend: "features", "peptides"
    source: str  # where they come from, for the caption: "the latest run (2 Dec 2026 17:05)"
    rt: np.ndarray
    mz: np.ndarray
    labels: tuple[str, ...] = ()
    rt_min: np.ndarray | None = None
    rt_max: np.ndarray | None = None
    mz_min: np.ndarray | None = None
    mz_max: np.ndarray | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(len(self.rt))

    @property
    def has_boxes(self) -> bool:
        return self.rt_min is not None and self.rt_max is not None and self.mz_min is not None

    def within(self, rt_lo: float, rt_hi: float, mz_lo: float, mz_hi: float) -> np.ndarray:
        """Indices of the points inside a region of the map."""
        inside = (self.rt >= rt_lo) & (self.rt <= rt_hi) & (self.mz >= mz_lo) & (self.mz <= mz_hi)
        return np.flatnonzero(inside)
