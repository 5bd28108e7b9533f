"""Results of the Peptides and proteins workflow: counts at the FDR, the tables, protein abundances
across samples, a comparison of two conditions, and downloads.

Builds pandas/plotly objects from the small tables the run's script wrote and hands them to the
page's UI helper, so it has no Streamlit import of its own. What reaches the browser is bounded:
tables travel lazily in chunks and are read up to :data:`TABLE_ROWS` rows, the heatmap shows the
:data:`HEATMAP_PROTEINS` most abundant proteins, the comparison at most :data:`PLOT_POINTS`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from src.core.run import RunRecord, duration_text, history
from src.workflows.proteomics import paths
from src.workflows.proteomics.tuning import PROTEIN_FDR, PSM_FDR, WORKFLOW_DEFAULTS

ABUNDANCE, PSMS = "abundance_", "psms_"  # the per-sample columns (tables.py)
TABLE_ROWS = 50_000
HEATMAP_PROTEINS = 50
PLOT_POINTS = 10_000
#: The fold change the comparison marks (2-fold either way).
MARKED_LOG2 = 1.0


def load(results_root: Path, name: str, rows: int | None = TABLE_ROWS) -> pd.DataFrame:
    return pd.read_csv(paths.table_in(results_root, name), sep="\t", nrows=rows, keep_default_na=False)


def samples_of(proteins: pd.DataFrame) -> list[str]:
    return [c.removeprefix(ABUNDANCE) for c in proteins.columns if c.startswith(ABUNDANCE)]


def describe(run: RunRecord) -> str:
    """How a run is named in the pickers: when, how it ended, how long, what it found, what differed."""
    found = paths.counts(run.results_root)
    parts = [run.started, run.status.state.label, duration_text(run.status.took)]
    if found:
        parts.append(f"{found['psms']} PSMs, {found['proteins']} proteins")
    parts.append(history.changed_parameters(run.params))
    return " · ".join(parts) + (" (latest)" if run.latest else "")


def heatmap_figure(proteins: pd.DataFrame) -> go.Figure:
    """log10 abundance of the most abundant proteins (rows) in each sample (columns); blank where a
    protein was not quantified."""
    shown = proteins.head(HEATMAP_PROTEINS)
    values = shown[[ABUNDANCE + s for s in samples_of(proteins)]].astype(float)
    logged = np.log10(values.where(values > 0))
    more = (
        f" ({HEATMAP_PROTEINS} most abundant of {len(proteins)})" if len(proteins) > HEATMAP_PROTEINS else ""
    )
    figure = go.Figure(
        go.Heatmap(
            z=logged.to_numpy(),
            x=samples_of(proteins),
            y=shown["protein"].tolist(),
            colorscale="Viridis",
            colorbar={"title": "log10 abundance"},
            hoverongaps=False,
        )
    )
    height = max(300, 22 * len(shown) + 120)
    return figure.update_layout(
        title=f"Protein abundances{more}", height=height, yaxis={"autorange": "reversed"}
    )


def fold_changes(proteins: pd.DataFrame, first: list[str], second: list[str]) -> pd.DataFrame:
    """Per protein quantified in both: mean log2 abundance of each group, their difference (the log2
    fold change, first over second) and the mean log10 abundance."""
    log2 = np.log2(proteins[[ABUNDANCE + s for s in first + second]].astype(float).replace(0.0, np.nan))
    table = pd.DataFrame(
        {
            "protein": proteins["protein"],
            "description": proteins["description"],
            "mean_first": log2[[ABUNDANCE + s for s in first]].mean(axis=1),
            "mean_second": log2[[ABUNDANCE + s for s in second]].mean(axis=1),
        }
    ).dropna()
    table["log2_fold_change"] = table["mean_first"] - table["mean_second"]
    table["log10_abundance"] = (table["mean_first"] + table["mean_second"]) / 2 * np.log10(2)
    return table


def fold_change_figure(changes: pd.DataFrame, names: tuple[str, str]) -> go.Figure:
    """Log2 fold change against abundance (an MA plot); the dashed lines mark a 2-fold change."""
    shown = changes if len(changes) <= PLOT_POINTS else changes.nlargest(PLOT_POINTS, "log10_abundance")
    figure = px.scatter(
        shown,
        x="log10_abundance",
        y="log2_fold_change",
        hover_data=["protein", "description"],
        labels={
            "log10_abundance": "mean log10 abundance",
            "log2_fold_change": f"log2 ({names[0]} / {names[1]})",
        },
        title=f"{names[0]} compared with {names[1]}: {len(changes)} proteins quantified in both",
    )
    for level in (-MARKED_LOG2, MARKED_LOG2):
        figure.add_hline(y=level, line_dash="dash", line_color="grey")
    return figure.update_traces(marker={"size": 8, "opacity": 0.8})


def conditions_of(per_sample: pd.DataFrame) -> dict[str, list[str]]:
    """Condition -> its samples, in the samples' order."""
    found: dict[str, list[str]] = {}
    for sample, condition in zip(per_sample["sample"], per_sample["condition"], strict=True):
        found.setdefault(str(condition), []).append(str(sample))
    return found


def run_settings(run: RunRecord) -> tuple[object, object, str]:
    """The PSM FDR, protein FDR and database a run used (its recorded parameters, else defaults)."""
    params = run.params or {}
    psm = params.get(PSM_FDR, WORKFLOW_DEFAULTS[PSM_FDR])
    protein = params.get(PROTEIN_FDR, WORKFLOW_DEFAULTS[PROTEIN_FDR])
    return psm, protein, str(params.get("database", "")).partition(":")[2] or "—"


def show(ui: Any, workflow: Any) -> None:
    runs = [r for r in workflow.kept_runs() if paths.table_in(r.results_root, paths.PROTEIN_TABLE).is_file()]
    if not runs:
        ui.info(
            "No results yet. Start the workflow on the Run page; results appear here when it has finished."
        )
        return
    run = ui.pick_run("Run", runs, describe, key="results-run") or runs[0]
    found = paths.counts(run.results_root) or {"psms": 0, "peptides": 0, "proteins": 0}
    ui.metric_row({"PSMs": found["psms"], "Peptides": found["peptides"], "Proteins": found["proteins"]})
    psm, protein, database = run_settings(run)
    ui.caption(
        f"At a PSM FDR of {ui.literal(psm)} and a protein FDR of {ui.literal(protein)} (1: no filter), "
        f"searched in {ui.literal(database)}. The proteins are those ProteomicsLFQ quantified."
    )
    ui.reuse_parameters(run)
    per_sample = load(run.results_root, paths.SAMPLE_TABLE, None)
    ui.table(per_sample, "Samples")
    proteins = load(run.results_root, paths.PROTEIN_TABLE)
    ui.table(proteins, "Proteins")
    if len(proteins):
        ui.plot(heatmap_figure(proteins))
    _compare(ui, proteins, conditions_of(per_sample))
    for name, title, total in (
        (paths.PEPTIDE_TABLE, "Peptides", "peptides"),
        (paths.PSM_TABLE, "PSMs", "psms"),
    ):
        ui.table(load(run.results_root, name), title)
        if found[total] > TABLE_ROWS:
            ui.caption(f"The first {TABLE_ROWS:,} of {found[total]:,} rows; the downloads hold all of them.")
    _downloads(ui, workflow, run)


def _compare(ui: Any, proteins: pd.DataFrame, conditions: dict[str, list[str]]) -> None:
    ui.subheader("Compare two conditions")
    names = list(conditions)
    if len(names) < 2:
        ui.info(
            "All samples are in one condition. Give the files conditions on the Configure page to "
            "compare them."
        )
        return
    first = ui.select("Condition", names, key="compare-first", index=0)
    second = ui.select("Compared with", [n for n in names if n != first], key="compare-second", index=0)
    if first is None or second is None:
        return
    changes = fold_changes(proteins, conditions[first], conditions[second])
    if changes.empty:
        ui.info("No protein was quantified in both conditions.")
        return
    ui.plot(fold_change_figure(changes, (first, second)))
    if min(len(conditions[first]), len(conditions[second])) < 2:
        ui.caption(
            "One sample per condition: the fold changes are single ratios, without replicates to test them."
        )


def _downloads(ui: Any, workflow: Any, run: RunRecord) -> None:
    ui.subheader("Downloads")
    stem = f"{workflow.id}-{run.id}"
    ui.download_folder(
        run.results_root / paths.QUANT_STEP, f"{stem}-mztab.zip", "mzTab, MSstats input and design (zip)"
    )
    ui.download_folder(
        run.results_root / paths.TABLE_STEP,
        f"{stem}-tables.zip",
        "PSM, peptide and protein tables (TSV, zip)",
    )
    ui.download_results(run)
