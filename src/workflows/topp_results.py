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


def load_table(path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t")


def sample_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c.startswith(INTENSITY_PREFIX)]


def rt_mz_figure(table: pd.DataFrame) -> go.Figure:
    """Consensus features in retention time vs m/z, coloured by in how many samples they were found."""
    figure = px.scatter(
        table,
        x="rt",
        y="mz",
        color="n_samples",
        hover_data=["consensus_id", "quality"],
        labels={"rt": "Retention time (s)", "mz": "m/z", "n_samples": "Samples"},
        title="Consensus features",
    )
    return figure.update_traces(marker={"size": 6, "opacity": 0.8})


def intensity_figure(table: pd.DataFrame) -> go.Figure:
    """Distribution of log10 intensities per sample, to compare samples at a glance."""
    columns = sample_columns(table)
    long = table.melt(value_vars=columns, var_name="sample", value_name="intensity")
    long = long[long["intensity"] > 0]
    long["sample"] = long["sample"].str.removeprefix(INTENSITY_PREFIX)
    long["log10 intensity"] = np.log10(long["intensity"])
    return px.box(
        long, x="sample", y="log10 intensity", points="outliers", title="Intensities across samples"
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
        figure.add_trace(
            go.Scatter(
                x=table["rt"],
                y=table["mz"],
                mode="markers",
                name=f"{name} ({len(table)})",
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
