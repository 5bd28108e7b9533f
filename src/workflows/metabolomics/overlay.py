"""The features FeatureFinderMetabo found in one file, as the raw data viewer draws them over its peak
map: a point at each feature's apex, a box over its extent, a label with its m/z, RT, charge and
intensity. The workflow imports this module only when a viewer asks, so pyOpenMS loads only then.

A feature's box is the bounding box of its mass traces' convex hulls where the run reported them
(FeatureFinderMetabo's ``algorithm:ffm:report_convex_hulls``, off by default: hulls make the
featureXML several times larger); without hulls it spans the m/z of the feature's isotope traces and
its full width at half maximum around the apex, both of which FeatureFinderMetabo always writes.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyopenms as oms

from src.core.viewer import MapOverlay
from src.workflows.run_overlay import MAX_POINTS, best, shown

log = logging.getLogger(__name__)

#: What FeatureFinderMetabo notes on every feature: its isotope traces' m/z and its peak's width (s).
TRACE_MZ, FWHM = "masstrace_centroid_mz", "FWHM"
HULL_BOXES = "the convex hulls of each feature's mass traces"
TRACE_BOXES = "each feature's isotope traces (m/z) and its width at half maximum (RT)"


def features(path: Path, caption: str, limit: int = MAX_POINTS) -> MapOverlay | None:
    """The ``limit`` most intense features of a featureXML file (None if it cannot be read)."""
    feature_map = oms.FeatureMap()
    try:
        oms.FeatureXMLFile().load(str(path), feature_map)
    except RuntimeError as err:  # a damaged result: the viewer shows the map without overlay
        log.warning("no map overlay from %s: %s", path, err)
        return None
    total = feature_map.size()
    intensities = np.fromiter((f.getIntensity() for f in feature_map), float, total)
    picked = [feature_map[int(index)] for index in best(intensities, limit)]
    boxes = np.array([box(feature) for feature in picked], dtype=float).reshape(-1, 4)
    hulls = any(feature.getConvexHulls() for feature in picked)
    return MapOverlay(
        kind="features",
        source=shown(caption, len(picked), total, "most intense features"),
        rt=np.array([feature.getRT() for feature in picked], dtype=float),
        mz=np.array([feature.getMZ() for feature in picked], dtype=float),
        labels=tuple(label(feature) for feature in picked),
        rt_min=boxes[:, 0],
        rt_max=boxes[:, 1],
        mz_min=boxes[:, 2],
        mz_max=boxes[:, 3],
        extra={"boxes": HULL_BOXES if hulls else TRACE_BOXES},
    )


def box(feature: oms.Feature) -> tuple[float, float, float, float]:
    """RT from, RT to, m/z from, m/z to: of the convex hulls if any, else of traces and width."""
    if feature.getConvexHulls():
        extent = feature.getConvexHull().getBoundingBox()
        (rt_from, mz_from), (rt_to, mz_to) = extent.minPosition(), extent.maxPosition()
        return rt_from, rt_to, mz_from, mz_to
    rt, mz = feature.getRT(), feature.getMZ()
    half = float(feature.getMetaValue(FWHM)) / 2 if feature.metaValueExists(FWHM) else 0.0
    traces = list(feature.getMetaValue(TRACE_MZ)) if feature.metaValueExists(TRACE_MZ) else []
    return rt - half, rt + half, min([mz, *traces]), max([mz, *traces])


def label(feature: oms.Feature) -> str:
    """E.g. "m/z 301.1412 · RT 85.3 s · charge 1 · intensity 1.2e6" (no charge where it is unknown)."""
    parts = [f"m/z {feature.getMZ():.4f}", f"RT {feature.getRT():.1f} s"]
    if feature.getCharge():
        parts.append(f"charge {feature.getCharge()}")
    parts.append(f"intensity {scientific(feature.getIntensity())}")
    return " · ".join(parts)


def scientific(value: float) -> str:
    """1234567.0 -> "1.2e6", 0.5 -> "5.0e-1"."""
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"
