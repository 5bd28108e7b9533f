"""What the Results page shows of a run's retention time alignment, as plotly figures.

A scientist asks two things of an alignment: did the samples' retention times come closer (the
spread of each sample's deviations from its consensus features shrinks, and a sample's systematic
offset goes to zero), and what did it do to each sample (the correction over the run, which should
be a gentle curve near zero, not a stretch). Both figures are computed here from small summaries
(box statistics per sample, a few dozen points per curve), so what reaches the browser does not
grow with the number of features.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

#: Points per sample on a correction curve.
CURVE_POINTS = 50
#: A linear correction whose slope is further than this from 1 stretches a sample's retention times
#: by more than 10 %: rarely real between runs of one method, usually pairs matched across peaks.
SLOPE_TOLERANCE = 0.1
BEFORE, AFTER = ("before alignment", "#9e9e9e"), ("after alignment", "#1f77b4")


def load_shifts(path: Path) -> pd.DataFrame:
    """The shift table written by consensus_table.py, only the columns the page uses."""
    return pd.read_csv(path, sep="\t", usecols=["sample", "rt_before", "shift_before", "shift_after"])


def box_stats(values: np.ndarray) -> dict[str, float] | None:
    """Quartiles and whiskers (the furthest values within 1.5 box lengths), None without values."""
    values = values[np.isfinite(values)]
    if not len(values):
        return None
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    reach = 1.5 * (q3 - q1)
    inside = values[(values >= q1 - reach) & (values <= q3 + reach)]
    return {"q1": q1, "median": median, "q3": q3, "lowerfence": inside.min(), "upperfence": inside.max()}


def shift_figure(shifts: pd.DataFrame) -> go.Figure:
    """Per sample, its features' retention time minus their consensus feature's, before and after."""
    figure = go.Figure()
    for column, (name, colour) in (("shift_before", BEFORE), ("shift_after", AFTER)):
        samples, stats = [], []
        for sample, group in shifts.groupby("sample", sort=True):
            found = box_stats(group[column].to_numpy(dtype=float))
            if found is not None:
                samples.append(sample)
                stats.append(found)
        figure.add_trace(
            go.Box(
                name=name,
                x=samples,
                marker_color=colour,
                **{
                    key: [s[key] for s in stats] for key in ("q1", "median", "q3", "lowerfence", "upperfence")
                },
            )
        )
    return figure.update_layout(
        boxmode="group",
        title="Retention time deviation from the consensus feature, per sample",
        xaxis_title="sample",
        yaxis_title="feature RT − consensus RT (s)",
    )


def typical_deviation(shifts: pd.DataFrame) -> dict[str, float]:
    """The median distance of a feature's retention time from its consensus feature's, before and
    after: one number each way for the page's metrics, catching a sample's offset and its scatter."""
    return {
        "before": float(shifts["shift_before"].abs().median()),
        "after": float(shifts["shift_after"].abs().median()),
    }


def _load_transformation(path: Path) -> Any:
    import pyopenms as oms  # only where a page shows an alignment: the import takes a while

    description = oms.TransformationDescription()
    oms.TransformationXMLFile().load(str(path), description, True)
    return description


def sample_ranges(shifts: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """Each sample's retention times before alignment, first to last linked feature: a correction is
    drawn over those only, not extrapolated beyond them."""
    spans = shifts.groupby("sample")["rt_before"].agg(["min", "max"])
    return {str(sample): (float(row["min"]), float(row["max"])) for sample, row in spans.iterrows()}


def correction_figure(
    paths: list[Path], ranges: dict[str, tuple[float, float]]
) -> tuple[go.Figure, list[str]]:
    """Each sample's correction (aligned minus original retention time) over its retention times, and
    the samples whose correction stretches their retention times too much."""
    figure, stretched = go.Figure(), []
    for path in paths:
        if path.stem not in ranges:
            continue  # no feature of this sample was linked to another's
        description = _load_transformation(path)
        grid = np.linspace(*ranges[path.stem], CURVE_POINTS)
        corrected = np.array([description.apply(float(rt)) for rt in grid])
        figure.add_trace(go.Scatter(x=grid, y=corrected - grid, mode="lines", name=path.stem))
        parameters = description.getModelParameters()
        if parameters.exists("slope") and abs(float(parameters.getValue("slope")) - 1) > SLOPE_TOLERANCE:
            stretched.append(path.stem)
    figure.update_layout(
        title="Retention time correction applied to each sample",
        xaxis_title="Retention time before alignment (s)",
        yaxis_title="aligned − original RT (s)",
    )
    return figure, stretched
