"""The raw data viewer's engine: a compact index of an mzML built once (a job), and reads of it
that never load the whole file (summary, chromatograms, one spectrum, a peak map region, an XIC)."""

from src.core.viewer.overlay import MapOverlay

__all__ = ["MapOverlay"]
