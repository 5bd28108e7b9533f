"""What the viewer shows of a file with a complete index: summary, peak map, spectrum,
chromatograms. Each read goes to the index (``src/core/viewer/reading.py``), one region or one
spectrum at a time; the opened index (its per-spectrum arrays) is shared by every session."""

from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from src.core.errors import UserError
from src.core.viewer import MapOverlay, store
from src.core.viewer.reading import ViewIndex
from src.core.workflow import WorkflowBase
from src.core.workspace.space import human
from src.ui.page import PageContext
from src.ui.text import label_text, literal
from src.ui.viewer import figures

log = logging.getLogger(__name__)

#: Widest XIC window a visitor may ask for (ppm).
MAX_PPM = 1000.0
#: Reads of an index (and the figures made of them) one web server does at once: each needs some
#: megabytes for a moment, so the server's memory stays flat however many sessions look at once
#: (each read takes well under a second; the others wait that long).
_READS = threading.BoundedSemaphore(1)


@st.cache_resource(max_entries=16, show_spinner=False)
def _opened(folder: str, stamp: tuple[int, int]) -> ViewIndex:
    """One opened index per file and build (the stamp), shared by all sessions of this server."""
    return ViewIndex(Path(folder))


def _index_stamp(folder: Path) -> tuple[int, int]:
    meta = (folder / store.META).stat()
    return (meta.st_size, meta.st_mtime_ns)


def open_index(folder: Path) -> ViewIndex:
    return _opened(str(folder), _index_stamp(folder))


@st.cache_resource(max_entries=8, show_spinner=False)
def _map_figure(
    _index: ViewIndex, folder: str, stamp: tuple, box: tuple, _overlay: MapOverlay | None, drawn: tuple
):
    """The peak map of a region (shared: every session looking at the same view gets it made once)."""
    with _READS:
        return figures.peak_map(_index.region(*box), _overlay)


@st.cache_resource(max_entries=8, show_spinner=False)
def _chromatogram_figures(_index: ViewIndex, folder: str, stamp: tuple) -> tuple:
    with _READS:
        rt, tic = _index.tic()
        rt, base, _ = _index.base_peak()
        return (
            figures.chromatogram(rt, tic, "Total ion chromatogram (MS1)"),
            figures.chromatogram(rt, base, "Base peak chromatogram (MS1)"),
        )


@st.cache_resource(max_entries=16, show_spinner=False)
def _xic_of(_index: ViewIndex, folder: str, stamp: tuple, mz: float, ppm: float) -> tuple:
    with _READS:
        return _index.xic(mz, ppm)


def _key(folder: Path, name: str) -> str:
    """A widget's key, per file (the digest names no file: keys may reach the browser)."""
    return f"viewer-{hashlib.sha256(str(folder).encode()).hexdigest()[:12]}-{name}"


def show(ctx: PageContext, mzml: Path, folder: Path) -> None:
    try:
        index = open_index(folder)
    except (UserError, OSError, KeyError, ValueError) as err:
        log.warning("viewer: the index of a file could not be opened: %s", err)
        store.remove_for(ctx.workspace, mzml)
        st.warning("This file's index was incomplete; it is built again when you reload the page.")
        return
    _summary(index)
    overlay = _overlay(ctx, mzml)
    map_tab, spectrum_tab, chromatogram_tab = st.tabs(["Peak map", "Spectrum", "Chromatograms"])
    with map_tab:
        _peak_map(index, folder, overlay)
    with spectrum_tab:
        _spectrum(index, folder)
    with chromatogram_tab:
        _chromatograms(index, folder)


def _summary(index: ViewIndex) -> None:
    s = index.summary
    levels = ", ".join(f"MS{level}: {count:,}" for level, count in s["spectra_per_level"].items()) or "none"
    rows = [
        ("Spectra", f"{s['spectra']:,} ({levels})"),
        ("Retention time", f"{s['rt_range'][0]:.1f} to {s['rt_range'][1]:.1f} s"),
        ("m/z (MS1)", f"{s['mz_range'][0]:.4f} to {s['mz_range'][1]:.4f}"),
        ("Peaks", f"{s['peaks']:,}"),
        ("Spectrum type", s["mode"]),
        ("Instrument", s["instrument"] or "not stated in the file"),
        ("Chromatograms stored", f"{s['chromatograms']:,}"),
        ("File size", human(s["bytes"])),
    ]
    with st.expander("About this file", expanded=True):
        st.table(pd.DataFrame(rows, columns=["about", "value"]).set_index("about"))


@st.cache_resource(max_entries=16, show_spinner=False)
def _run_overlay(_workflow: WorkflowBase, mzml: str, stamps: tuple) -> MapOverlay | None:
    """Read once per file and run (the stamps: the file's and the run's status), for all sessions."""
    return _workflow.map_overlay(Path(mzml))


def _overlay(ctx: PageContext, mzml: Path) -> MapOverlay | None:
    """What the latest finished run of the file's workflow found in it (None if nothing)."""
    relative = mzml.relative_to(ctx.workspace)
    workflow_cls = next((w for w in ctx.workflows if w.id == relative.parts[0]), None)
    if workflow_cls is None:
        return None
    workflow = workflow_cls(ctx.workspace, ctx.settings)
    try:
        stamps = (_stamp(mzml), _stamp(workflow.layout.status), ctx.workspace.name)
        return _run_overlay(workflow, str(mzml), stamps)
    except (UserError, OSError, RuntimeError) as err:
        log.warning("viewer: the run's results could not be read for the overlay: %s", err)
        st.caption("The latest run's results of this file could not be read, so none are drawn.")
        return None


def _stamp(path: Path) -> tuple[int, int]:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return (0, 0)
    return (stat.st_size, stat.st_mtime_ns)


# ---- the peak map -------------------------------------------------------------------------------
def _peak_map(index: ViewIndex, folder: Path, overlay: MapOverlay | None) -> None:
    zoom_key = _key(folder, "zoom")
    box = st.session_state.get(zoom_key) or index.extent
    shown = False
    if overlay is not None and len(overlay):
        shown = st.toggle(
            f"Show the {label_text(overlay.kind)} of {label_text(overlay.source)} ({len(overlay):,d})",
            value=True,
            key=_key(folder, "overlay"),
        )
    drawn = (overlay.kind, overlay.source, len(overlay)) if shown and overlay is not None else ()
    try:
        figure = _map_figure(
            index, str(folder), _index_stamp(folder), tuple(box), overlay if shown else None, drawn
        )
    except UserError as err:
        st.warning(literal(err))
        st.session_state.pop(zoom_key, None)
        return
    version = st.session_state.get(_key(folder, "zoom-version"), 0)
    event = st.plotly_chart(
        figure,
        key=_key(folder, f"map-{version}"),
        on_select="rerun",
        selection_mode=("points", "box"),
        config={"displaylogo": False},
    )
    drawn_from, points = figure.layout.meta["drawn_from"], figure.layout.meta["points"]
    if shown and overlay is not None:
        inside = len(overlay.within(*box))
        if inside > figures.MAX_OVERLAY_POINTS:
            st.caption(
                f"{figures.MAX_OVERLAY_POINTS:,d} of the {inside:,d} {literal(overlay.kind)} in this view "
                "are drawn (the first of the run's list); zoom in to see the others."
            )
    st.caption(
        f"Drawn from {literal(drawn_from)} ({points:,d} points). Draw a box to zoom in; click a "
        "peak to see its spectrum (Spectrum tab) and its m/z's chromatogram (Chromatograms tab)."
    )
    _take_selection(event, folder, zoom_key, version)
    _zoom_form(index, folder, box, zoom_key, version)


def _take_selection(event, folder: Path, zoom_key: str, version: int) -> None:
    selection = (event or {}).get("selection") or {}
    boxes = selection.get("box") or []
    if boxes:
        x, y = boxes[-1].get("x") or [], boxes[-1].get("y") or []
        if len(x) == 2 and len(y) == 2:
            st.session_state[zoom_key] = (min(x), max(x), min(y), max(y))
            st.session_state[_key(folder, "zoom-version")] = version + 1
            st.rerun()
    points = selection.get("points") or []
    if points:
        picked = points[-1]
        if picked.get("x") is not None and picked.get("y") is not None:
            st.session_state[_key(folder, "rt")] = float(picked["x"])
            st.session_state[_key(folder, "xic-mz")] = float(picked["y"])


def _zoom_form(index: ViewIndex, folder: Path, box, zoom_key: str, version: int) -> None:
    names = ("rt-lo", "rt-hi", "mz-lo", "mz-hi")
    keys = [_key(folder, name) for name in names]
    synced = _key(folder, "synced")
    if st.session_state.get(synced) != tuple(box):  # the map moved (a box drawn): the fields follow
        for key, value in zip(keys, box, strict=True):
            st.session_state[key] = float(value)
        st.session_state[synced] = tuple(box)
    with st.form(_key(folder, "zoom-form"), border=False):
        columns = st.columns(4)
        labels = ("RT from (s)", "RT to (s)", "m/z from", "m/z to")
        formats = ("%.2f", "%.2f", "%.4f", "%.4f")
        values = [
            column.number_input(label_text(label), format=fmt, key=key)
            for column, label, fmt, key in zip(columns, labels, formats, keys, strict=True)
        ]
        zoom, whole = st.columns([1, 1])
        go_zoom = zoom.form_submit_button("Zoom to these ranges")
        go_whole = whole.form_submit_button("Show the whole map")
    if go_zoom or go_whole:
        rt_lo, rt_hi, mz_lo, mz_hi = values
        if go_zoom and (rt_hi <= rt_lo or mz_hi <= mz_lo):
            st.warning("Each range's lower end must be below its upper end.")
            return
        st.session_state[zoom_key] = None if go_whole else (rt_lo, rt_hi, mz_lo, mz_hi)
        st.session_state[_key(folder, "zoom-version")] = version + 1
        st.rerun()


# ---- one spectrum -------------------------------------------------------------------------------
def _spectrum(index: ViewIndex, folder: Path) -> None:
    rt_range = index.summary["rt_range"]
    levels = [int(level) for level in index.summary["spectra_per_level"]]
    rt_key = _key(folder, "rt")
    default_rt = float(st.session_state.get(rt_key) or rt_range[0])
    left, right = st.columns([1, 1])
    rt = left.number_input(
        "Retention time (s)",
        min_value=float(rt_range[0]),
        max_value=float(max(rt_range[1], rt_range[0])),
        value=min(max(default_rt, float(rt_range[0])), float(rt_range[1])),
        format="%.2f",
        key=_key(folder, f"rt-input-{default_rt}"),
    )
    level = right.selectbox(
        "MS level", levels or [1], format_func=lambda v: f"MS{v}", key=_key(folder, "level")
    )
    number = _pick_spectrum(index, folder, rt, level)
    if number is None:
        st.info(f"The file has no MS{level:d} spectrum.")
        return
    with _READS:
        one = index.spectrum(number)
        figure = figures.spectrum(one)
    st.plotly_chart(figure, key=_key(folder, "spectrum"), config={"displaylogo": False})
    st.caption(
        f"Spectrum {one.index + 1:,} of the file, {len(one.mz):,} peaks, native id: {literal(one.native_id)}"
    )


def _pick_spectrum(index: ViewIndex, folder: Path, rt: float, level: int) -> int | None:
    if level == 1:
        return index.nearest(rt, 1)
    near = (
        index.ms2_near(rt)
        if level == 2
        else np.asarray([i for i in [index.nearest(rt, level)] if i is not None])
    )
    if not len(near):
        return None
    spectra = index.spectra

    def label(i: int) -> str:
        precursor = spectra["precursor_mz"][i]
        charge = int(spectra["charge"][i])
        shown = "no precursor" if np.isnan(precursor) else f"precursor m/z {precursor:.4f}"
        return f"RT {spectra['rt'][i]:.2f} s, {shown}" + (f" ({charge}+)" if charge else "")

    nearest = int(near[np.argmin(np.abs(spectra["rt"][near] - rt))])
    options = [int(i) for i in near]
    return st.selectbox(f"MS{level:d} spectra near that time", options, index=options.index(nearest),
                        format_func=label, key=_key(folder, f"ms{level}-{rt:.2f}"))  # fmt: skip


# ---- chromatograms ------------------------------------------------------------------------------
def _chromatograms(index: ViewIndex, folder: Path) -> None:
    marker = st.session_state.get(_key(folder, "rt"))
    tic, base = _chromatogram_figures(index, str(folder), _index_stamp(folder))
    st.plotly_chart(figures.marked(tic, marker), key=_key(folder, "tic"))
    st.plotly_chart(figures.marked(base, marker), key=_key(folder, "bpc"))
    _xic(index, folder, marker)
    _stored(index, folder)


def _xic(index: ViewIndex, folder: Path, marker: float | None) -> None:
    st.subheader("Extracted ion chromatogram")
    rt, base, base_mz = index.base_peak()
    default = st.session_state.get(_key(folder, "xic-mz"))
    if default is None:
        default = float(base_mz[np.nanargmax(base)]) if len(base) and np.any(base > 0) else 100.0
    left, right = st.columns(2)
    mz = left.number_input("m/z", min_value=0.0001, max_value=100000.0, value=float(default), format="%.4f",
                           key=_key(folder, f"xic-mz-input-{default}"))  # fmt: skip
    ppm = right.number_input("window (± ppm)", min_value=0.1, max_value=MAX_PPM, value=10.0,
                             key=_key(folder, "xic-ppm"))  # fmt: skip
    try:
        xic_rt, xic = _xic_of(index, str(folder), _index_stamp(folder), float(mz), float(ppm))
    except UserError as err:
        st.warning(literal(err))
        return
    title = f"XIC of m/z {mz:.4f} ± {ppm:g} ppm"
    st.plotly_chart(figures.chromatogram(xic_rt, xic, title, marker), key=_key(folder, "xic"))


def _stored(index: ViewIndex, folder: Path) -> None:
    listed = index.stored_chromatograms()
    if not listed:
        return
    st.subheader(f"Chromatograms stored in the file ({len(listed):,})")

    def label(i: int) -> str:
        native_id, precursor, product = listed[i]
        transition = f" (Q1 {precursor:.4f}, Q3 {product:.4f})" if precursor or product else ""
        return f"{native_id}{transition}"

    number = st.selectbox("Chromatogram", range(len(listed)), format_func=label, key=_key(folder, "stored"))
    rt, intensity = index.stored_chromatogram(int(number or 0))
    st.plotly_chart(
        figures.chromatogram(rt, intensity, label(int(number or 0))), key=_key(folder, "stored-plot")
    )
