"""Results of the TOPP Workflow: the consensus table, two plots and a zip of everything.

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
from src.workflows.topp_paths import feature_count, table_in

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
    values = np.log10(intensities[intensities > 0].to_numpy(dtype=float))
    if not len(values):
        return None
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    reach = 1.5 * (q3 - q1)
    inside = values[(values >= q1 - reach) & (values <= q3 + reach)]
    return go.Box(
        name=name,
        x=[name],
        q1=[q1],
        median=[median],
        q3=[q3],
        lowerfence=[inside.min()],
        upperfence=[inside.max()],
        showlegend=False,
    )


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
    others = [other for other in runs if other.id != run.id]
    if others:
        _compare(ui, run, table, others)
    ui.download_results(run)


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
