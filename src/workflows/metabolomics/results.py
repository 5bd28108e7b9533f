"""Results of the metabolomics workflow: the consensus table, its plots, the retention time alignment
(when the run aligned) and a zip of everything.

Builds pandas/plotly objects and hands them to the page's UI helper, so it has no
Streamlit import of its own.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from src.core.run import RunRecord, duration_text, history
from src.workflows.metabolomics import alignment_figures
from src.workflows.metabolomics.alignment_figures import box_stats
from src.workflows.metabolomics.paths import feature_count, shifts_in, table_in, transformations_in

INTENSITY_PREFIX = "intensity_"
#: Points one plot shows at most (those of highest quality): a plot travels to the browser in one
#: websocket message, which the server bounds (server.maxMessageSize, .streamlit/config.toml).
PLOT_POINTS = 10_000


def load_table(path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t")


def sample_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c.startswith(INTENSITY_PREFIX)]


def plotted(table: pd.DataFrame) -> pd.DataFrame:
    """The features a plot shows: all of them, or the PLOT_POINTS of highest quality."""
    return table if len(table) <= PLOT_POINTS else table.nlargest(PLOT_POINTS, "quality")


def _shown(table: pd.DataFrame) -> str:
    return "" if len(table) <= PLOT_POINTS else f" ({PLOT_POINTS:,} of {len(table):,}, highest quality)"


def rt_mz_figure(table: pd.DataFrame) -> go.Figure:
    """Consensus features in retention time vs m/z, coloured by in how many samples they were found."""
    figure = px.scatter(
        plotted(table),
        x="rt",
        y="mz",
        color="n_samples",
        hover_data=["consensus_id", "quality"],
        labels={"rt": "Retention time (s)", "mz": "m/z", "n_samples": "Samples"},
        title=f"Consensus features{_shown(table)}",
    )
    return figure.update_traces(marker={"size": 6, "opacity": 0.8})


def intensity_figure(table: pd.DataFrame) -> go.Figure:
    """Distribution of log10 intensities per sample, to compare samples at a glance. The boxes are
    computed here (quartiles, whiskers at 1.5 times the box), so the plot's size does not grow with
    the number of features."""
    boxes = [_box(column.removeprefix(INTENSITY_PREFIX), table[column]) for column in sample_columns(table)]
    figure = go.Figure([box for box in boxes if box is not None])
    return figure.update_layout(
        title="Intensities across samples", xaxis_title="sample", yaxis_title="log10 intensity"
    )


def _box(name: str, intensities: pd.Series) -> go.Box | None:
    stats = box_stats(np.log10(intensities[intensities > 0].to_numpy(dtype=float)))
    if stats is None:
        return None
    return go.Box(name=name, x=[name], showlegend=False, **{key: [value] for key, value in stats.items()})


def features_per_sample_figure(table: pd.DataFrame) -> go.Figure:
    """How many features each sample contributed to the consensus features: a sample far below the
    others had a problem (injection, detection) before linking could help."""
    columns = sample_columns(table)
    counts = pd.DataFrame(
        {
            "sample": [column.removeprefix(INTENSITY_PREFIX) for column in columns],
            "features": [int((table[column] > 0).sum()) for column in columns],
        }
    )
    return px.bar(counts, x="sample", y="features", title="Features per sample")


def describe(run: RunRecord) -> str:
    """How a run is named in the pickers: when, how it ended, how long, what differed."""
    count = feature_count(run.results_root)
    parts = [run.started, run.status.state.label, duration_text(run.status.took)]
    if count is not None:
        parts.append(f"{count} features")
    parts.append(history.changed_parameters(run.params))
    return (" · ".join(parts)) + (" (latest)" if run.latest else "")


def comparison_figure(first: pd.DataFrame, second: pd.DataFrame, names: tuple[str, str]) -> go.Figure:
    """Both runs' consensus features in one retention time vs m/z plot."""
    figure = go.Figure()
    traces = ((first, names[0], "circle", "#1f77b4"), (second, names[1], "x", "#d62728"))
    for table, name, symbol, colour in traces:
        shown = plotted(table)
        figure.add_trace(
            go.Scatter(
                x=shown["rt"],
                y=shown["mz"],
                mode="markers",
                name=f"{name} ({len(table)}){_shown(table)}",
                marker={"size": 6, "opacity": 0.7, "symbol": symbol, "color": colour},
            )
        )
    return figure.update_layout(
        title="Consensus features of both runs", xaxis_title="Retention time (s)", yaxis_title="m/z"
    )


def show(ui: Any, workflow: Any) -> None:
    runs = [run for run in workflow.kept_runs() if table_in(run.results_root).is_file()]
    if not runs:
        ui.info(
            "No results yet. Start the workflow on the Run page; results appear here when it has finished."
        )
        return
    run = ui.pick_run("Run", runs, describe, key="results-run") or runs[0]
    table = load_table(table_in(run.results_root))
    ui.metric_row(
        {
            "Consensus features": len(table),
            "Samples": len(sample_columns(table)),
            "Found in all samples": int((table["n_samples"] == len(sample_columns(table))).sum()),
        }
    )
    ui.reuse_parameters(run)
    ui.table(table, "Consensus features")
    ui.plot(rt_mz_figure(table))
    if sample_columns(table):
        ui.plot(intensity_figure(table))
        ui.plot(features_per_sample_figure(table))
    _alignment(ui, run)
    others = [other for other in runs if other.id != run.id]
    if others:
        _compare(ui, run, table, others)
    ui.download_results(run)


def _alignment(ui: Any, run: RunRecord) -> None:
    """The run's retention time alignment: deviations per sample before and after, the correction
    applied to each sample, and a word when a correction looks like a mismatch rather than drift."""
    ui.subheader("Retention time alignment")
    path = shifts_in(run.results_root)
    if not path.is_file():
        ui.caption(
            "This run did not align retention times (switched off on the Configure page, or one file)."
        )
        return
    shifts = alignment_figures.load_shifts(path)
    if shifts.empty:
        ui.caption("No consensus feature was found in two samples or more: there are no deviations to show.")
        return
    typical = alignment_figures.typical_deviation(shifts)
    ui.metric_row(
        {
            "Typical RT deviation before (s)": f"{typical['before']:.2f}",
            "Typical RT deviation after (s)": f"{typical['after']:.2f}",
        }
    )
    ui.caption(
        "Deviation: how far a feature's retention time lies from its consensus feature's (the mean of "
        "its samples'), the median over all features found in two samples or more."
    )
    ui.plot(alignment_figures.shift_figure(shifts))
    ranges = alignment_figures.sample_ranges(shifts)
    figure, stretched = alignment_figures.correction_figure(transformations_in(run.results_root), ranges)
    ui.plot(figure)
    if stretched:
        names = ui.literal(", ".join(stretched))
        ui.caption(
            f"The correction stretches or compresses the retention times of {names} by more than 10 %."
            " Between runs of one method that is rarely real: if the runs are short, "
            "lower MapAlignerPoseClustering's distance_RT max_difference (pairfinder) on the Configure page."
        )


def _compare(ui: Any, run: RunRecord, table: pd.DataFrame, others: list[RunRecord]) -> None:
    ui.subheader("Compare with another run")
    other = ui.pick_run("Compare with", [None, *others], describe, key="results-compare")
    if other is None:
        return
    other_table = load_table(table_in(other.results_root))
    ui.metric_row(
        {
            f"Features, run of {run.started}": len(table),
            f"Features, run of {other.started}": len(other_table),
            "Difference": len(table) - len(other_table),
        }
    )
    ui.caption(
        f"Parameters: {ui.literal(history.changed_parameters(run.params))} against "
        f"{ui.literal(history.changed_parameters(other.params))}."
    )
    ui.plot(comparison_figure(table, other_table, (run.started, other.started)))
