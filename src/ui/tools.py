"""The tool pages: peptide m/z, in-silico digest, fragment ions and isotope patterns.

Each ``show_*`` draws one page: its inputs, then the result or the message of the input's
mistake. The calculations are in ``src.core.chem`` (no Streamlit), fast enough to run in the web
process on every change of an input; every input is bounded there and here by the same constants.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.colors import qualitative

from src.core import chem
from src.core.errors import UserError
from src.ui.text import label_text, literal

#: m/z and masses to 5 decimals (an m/z calculator's users compare the fourth).
MZ_COLUMN = st.column_config.NumberColumn(format="%.5f")
PERCENT_COLUMN = st.column_config.NumberColumn(format="%.3f")
#: A stick plot labels its peaks up to this many; beyond, the labels are in the hover text only.
MAX_LABELS = 60
PEPTIDE_HELP = (
    "One-letter codes; modifications in OpenMS notation: PEPTIDEM(Oxidation)K, C(Carbamidomethyl), "
    ".(Acetyl)PEPTIDE for the N-terminus, M[+15.9949] for a mass shift."
)
CAM_LABEL = "Carbamidomethyl (C)"
CAM_HELP = "Fixed modification: every cysteine without a modification of its own is carbamidomethylated."
INPUT_KINDS = ("Molecular formula", "Peptide sequence")
PATTERNS = ("Coarse: one peak per nominal mass", "Fine: isotopologues")


def _peptide_input(key: str, default: str) -> str:
    return st.text_input(
        "Peptide sequence", value=default, max_chars=chem.MAX_PEPTIDE_CHARS, key=key, help=PEPTIDE_HELP
    )


def _charge_input(label: str, key: str, default: int, lowest: int = 1, hint: str = "") -> int:
    return int(
        st.number_input(label_text(label), lowest, chem.MAX_CHARGE, default, step=1, key=key,
                        help=literal(hint) if hint else None)
    )  # fmt: skip


def _columns(mz: tuple[str, ...] = (), percent: tuple[str, ...] = ()) -> dict:
    return {name: MZ_COLUMN for name in mz} | {name: PERCENT_COLUMN for name in percent}


def stick_figure(frame: pd.DataFrame, y: str, label: str, group: str | None = None) -> go.Figure:
    """Sticks at ``frame["m/z"]`` of height ``frame[y]``, one colour per value of ``group``, each
    labelled with ``frame[label]`` (on the plot while there are few, in the hover text always)."""
    figure = go.Figure()
    parts = frame.groupby(group, sort=False) if group else [("", frame)]
    show_labels = len(frame) <= MAX_LABELS
    for number, (name, part) in enumerate(parts):
        colour = qualitative.Plotly[number % len(qualitative.Plotly)]
        mz, height = part["m/z"].to_numpy(), part[y].to_numpy()
        gaps = np.full(len(part), np.nan)
        sticks_x = np.column_stack([mz, mz, gaps]).ravel()
        sticks_y = np.column_stack([np.zeros(len(part)), height, gaps]).ravel()
        figure.add_trace(
            go.Scatter(x=sticks_x, y=sticks_y, mode="lines", line={"color": colour, "width": 1.5},
                       name=str(name), legendgroup=str(name), showlegend=bool(group), hoverinfo="skip")
        )  # fmt: skip
        figure.add_trace(
            go.Scatter(x=mz, y=height, mode="markers+text" if show_labels else "markers",
                       marker={"color": colour, "size": 4}, text=part[label].astype(str),
                       textposition="top center", legendgroup=str(name), showlegend=False,
                       hovertemplate="%{text}<br>m/z %{x:.5f}<extra></extra>")
        )  # fmt: skip
    figure.update_layout(xaxis_title="m/z", yaxis_title=y, margin={"t": 30}, height=420)
    return figure


def show_peptide_mz() -> None:
    st.caption("The m/z of a peptide's [M+zH]z+ ions, its monoisotopic and average mass and its formula.")
    text = _peptide_input("tool-peptide-sequence", "PEPTIDE")
    left, right = st.columns(2)
    with left:
        max_charge = _charge_input("Highest charge", "tool-peptide-charge", 3)
    with right:
        carbamidomethyl = st.checkbox(CAM_LABEL, key="tool-peptide-cam", help=CAM_HELP)
    try:
        result = chem.peptide_masses(text, max_charge, carbamidomethyl)
    except UserError as err:
        st.error(literal(err))
        return
    st.caption(f"As OpenMS reads it: {literal(result.sequence)}")
    mono, average, formula = st.columns(3)
    mono.metric("Monoisotopic mass", f"{result.monoisotopic:.5f}")
    average.metric("Average mass", f"{result.average:.4f}")
    formula.metric("Formula", literal(result.formula))
    st.dataframe(result.charges, hide_index=True, column_config=_columns(mz=("m/z",)))


def _digest_inputs() -> tuple[str, str, int, int, int]:
    text = st.text_area(
        "Protein sequence or FASTA text",
        height=180,
        max_chars=chem.MAX_PROTEIN_TEXT_CHARS,
        key="tool-digest-text",
        placeholder=">sp|P02769|ALBU_BOVIN Serum albumin\nMKWVTFISLLLLFSSAYSRGVFRR...",
        help=f"A sequence, or FASTA entries with headers; at most {chem.MAX_PROTEIN_RESIDUES:,} residues.",
    )
    names = chem.enzymes()
    enzyme_column, missed_column, low_column, high_column = st.columns(4)
    enzyme = enzyme_column.selectbox(
        "Enzyme", names, index=names.index(chem.DEFAULT_ENZYME), key="tool-digest-enzyme"
    )
    missed = missed_column.number_input(
        "Missed cleavages", 0, chem.MAX_MISSED_CLEAVAGES, 0, key="tool-digest-missed"
    )
    low = low_column.number_input("Minimum length", 1, chem.MAX_PROTEIN_RESIDUES, 6, key="tool-digest-min")
    high = high_column.number_input("Maximum length", 1, chem.MAX_PROTEIN_RESIDUES, 40, key="tool-digest-max")
    return text, enzyme, int(missed), int(low), int(high)


def show_digest() -> None:
    st.caption("The peptides an enzyme cuts a protein into, with their positions and masses.")
    text, enzyme, missed, low, high = _digest_inputs()
    if not text.strip():
        st.info("Paste a protein sequence, or FASTA text with one or more entries.")
        return
    try:
        result = chem.digest(text, enzyme, missed, low, high)
    except UserError as err:
        st.error(literal(err))
        return
    st.caption(f"{result.total:,} peptides from {result.proteins:,} protein(s).")
    if result.truncated:
        st.warning(
            f"The table lists the first {len(result.peptides):,} of {result.total:,} peptides: raise the "
            "minimum length, lower the maximum length or the missed cleavages to see the others."
        )
    mz = ("monoisotopic mass", "m/z 1+", "m/z 2+", "m/z 3+")
    st.dataframe(result.peptides, hide_index=True, column_config=_columns(mz=mz))
    st.download_button(
        "Download as TSV", chem.digest_tsv(result), file_name="digest.tsv",
        mime="text/tab-separated-values", on_click="ignore", key="tool-digest-download",
    )  # fmt: skip


def _ion_types() -> list[str]:
    chosen = []
    for column, ion_type in zip(st.columns(len(chem.ION_TYPES)), chem.ION_TYPES, strict=True):
        with column:
            if st.checkbox(
                label_text(f"{ion_type} ions"), value=ion_type in "by", key=f"tool-ions-{ion_type}"
            ):
                chosen.append(ion_type)
    return chosen


def show_fragments() -> None:
    st.caption("The theoretical fragment ions of a peptide (OpenMS's TheoreticalSpectrumGenerator).")
    text = _peptide_input("tool-fragments-sequence", "PEPTIDEK")
    ion_types = _ion_types()
    charge_column, losses_column, cam_column = st.columns(3)
    with charge_column:
        max_charge = _charge_input("Highest fragment charge", "tool-fragments-charge", 1)
    losses = losses_column.checkbox("Neutral losses (H2O, NH3)", key="tool-fragments-losses")
    carbamidomethyl = cam_column.checkbox(CAM_LABEL, key="tool-fragments-cam", help=CAM_HELP)
    try:
        ions = chem.fragment_ions(text, ion_types, max_charge, losses, carbamidomethyl)
    except UserError as err:
        st.error(literal(err))
        return
    st.caption(f"{len(ions):,} fragment ions.")
    st.plotly_chart(stick_figure(ions, "relative intensity", "ion", group="series"), width="stretch")
    shown = ions[["ion", "m/z", "charge", "series", "number", "loss"]]
    st.dataframe(shown, hide_index=True, column_config=_columns(mz=("m/z",)))


def _isotope_inputs() -> tuple[str, bool, int, bool, int | None]:
    kind = st.radio("Input", INPUT_KINDS, horizontal=True, key="tool-isotopes-kind")
    peptide = kind == INPUT_KINDS[1]
    if peptide:
        text = _peptide_input("tool-isotopes-peptide", "PEPTIDE")
    else:
        text = st.text_input(
            "Molecular formula",
            value="C6H12O6",
            max_chars=chem.MAX_FORMULA_CHARS,
            key="tool-isotopes-formula",
            help="Element symbols with counts, e.g. C6H12O6; an isotope as (13)C6.",
        )
    charge_column, pattern_column, resolution_column = st.columns(3)
    with charge_column:
        charge = _charge_input("Charge", "tool-isotopes-charge", 1, 0, hint="0 gives the neutral masses.")
    fine = pattern_column.radio("Pattern", PATTERNS, key="tool-isotopes-pattern") == PATTERNS[1]
    resolution = resolution_column.selectbox(
        "Resolution", chem.RESOLUTIONS, key="tool-isotopes-resolution", disabled=not fine,
        format_func=lambda value: "exact (every isotopologue)" if value is None else f"{value:,}",
        help="Fine pattern only: peaks closer than their width (m/z / resolution) merge into one.",
    )  # fmt: skip
    return text, peptide, charge, fine, resolution


def show_isotopes() -> None:
    st.caption("The isotope pattern of a molecule (OpenMS's coarse or fine isotope pattern generator).")
    text, peptide, charge, fine, resolution = _isotope_inputs()
    try:
        pattern = chem.isotope_pattern(text, peptide, charge, fine, resolution)
    except UserError as err:
        st.error(literal(err))
        return
    formula, mono, covered = st.columns(3)
    formula.metric("Formula", literal(pattern.formula))
    mono.metric("Monoisotopic mass (neutral)", f"{pattern.monoisotopic:.5f}")
    covered.metric("Share of the molecules shown", f"{100 * pattern.covered:.2f} %")
    peaks = pattern.peaks.assign(label=pattern.peaks["m/z"].map("{:.4f}".format))
    st.plotly_chart(stick_figure(peaks, "relative abundance %", "label"), width="stretch")
    if pattern.left_out:
        st.caption(f"{pattern.left_out:,} smaller peaks are not listed.")
    table = pattern.peaks
    st.dataframe(
        table, hide_index=True, column_config=_columns(("m/z",), ("probability %", "relative abundance %"))
    )
