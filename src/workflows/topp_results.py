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


def show(ui: Any, workflow: Any) -> None:
    path = workflow.table_path()
    if not path.is_file():
        ui.info(
            "No results yet. Start the workflow on the Run page; results appear here when it has finished."
        )
        return
    table = load_table(path)
    ui.metric_row(
        {
            "Consensus features": len(table),
            "Samples": len(sample_columns(table)),
            "Found in all samples": int((table["n_samples"] == len(sample_columns(table))).sum()),
        }
    )
    ui.table(table, "Consensus features")
    ui.plot(rt_mz_figure(table))
    if sample_columns(table):
        ui.plot(intensity_figure(table))
    ui.download_results()
