"""The viewer's plots (plotly), from arrays the index gives; no Streamlit here.

Hover texts that come from files (a feature's or a peptide's label) are HTML-escaped: plotly
renders a few HTML tags in hover text, and what a file says must reach the page as text.
"""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go

from src.core.viewer import MapOverlay
from src.core.viewer.reading import MapRegion, Spectrum

#: Overlay points drawn at most in one view (the first ones of the overlay: its best or strongest).
MAX_OVERLAY_POINTS = 1_500
_LAYOUT = {"margin": {"l": 60, "r": 20, "t": 40, "b": 50}, "template": "plotly_white"}


def peak_map(region: MapRegion, overlay: MapOverlay | None = None) -> go.Figure:
    """RT x m/z, intensity as colour (log10), WebGL so tens of thousands of points stay fluid."""
    order = np.argsort(region.intensity)  # the strongest drawn last, on top
    intensity = region.intensity[order]
    figure = go.Figure(
        go.Scattergl(
            x=region.rt[order].astype(np.float32),  # sent as binary: float32 is half the bytes
            y=region.mz[order].astype(np.float32),
            mode="markers",
            marker={
                "size": 4,
                "color": np.log10(np.maximum(intensity, 1.0)).astype(np.float32),
                "colorscale": "Viridis",
                "colorbar": {"title": {"text": "log10 intensity"}},
            },
            customdata=intensity.astype(np.float32),
            hovertemplate="RT %{x:.2f} s<br>m/z %{y:.4f}<br>intensity %{customdata:.3g}<extra></extra>",
            name="peaks",
            showlegend=False,
        )
    )
    if overlay is not None and len(overlay):
        _add_overlay(figure, overlay, region)
    rt_lo, rt_hi, mz_lo, mz_hi = region.extent
    figure.update_layout(
        **_LAYOUT,
        height=520,
        dragmode="select",
        xaxis={"title": {"text": "retention time (s)"}, "range": [rt_lo, rt_hi]},
        yaxis={"title": {"text": "m/z"}, "range": [mz_lo, mz_hi]},
        legend={"orientation": "h", "y": 1.08},
        meta={"drawn_from": region.drawn_from, "points": int(len(region.rt))},
    )
    return figure


def _add_overlay(figure: go.Figure, overlay: MapOverlay, region: MapRegion) -> None:
    inside = overlay.within(*region.extent)[:MAX_OVERLAY_POINTS]
    labels = [html.escape(overlay.labels[i]) if i < len(overlay.labels) else "" for i in inside]
    if overlay.has_boxes:
        r0, r1 = overlay.rt_min[inside], overlay.rt_max[inside]
        m0, m1 = overlay.mz_min[inside], overlay.mz_max[inside]
        gap = np.full(len(inside), np.nan)
        xs = np.column_stack([r0, r1, r1, r0, r0, gap]).reshape(-1).astype(np.float32)  # NaN: a gap
        ys = np.column_stack([m0, m0, m1, m1, m0, gap]).reshape(-1).astype(np.float32)
        figure.add_trace(
            go.Scattergl(
                x=xs,
                y=ys,
                mode="lines",
                line={"color": "#d62728", "width": 1},
                hoverinfo="skip",
                name=f"{overlay.kind} (extent)",
            )  # fmt: skip
        )
    figure.add_trace(
        go.Scattergl(
            x=overlay.rt[inside].astype(np.float32),
            y=overlay.mz[inside].astype(np.float32),
            mode="markers",
            marker={"symbol": "x", "size": 7, "color": "#d62728"},
            hovertext=labels,
            hoverinfo="text",
            name=overlay.kind,
        )
    )


def spectrum(one: Spectrum) -> go.Figure:
    """A stick plot (centroided) of one spectrum; an MS2's precursor marked."""
    xs = np.repeat(one.mz, 3)
    ys = np.column_stack([np.zeros_like(one.intensity), one.intensity, np.full_like(one.intensity, np.nan)])
    xs = xs.astype(float)
    xs[2::3] = np.nan
    figure = go.Figure(
        go.Scattergl(
            x=xs,
            y=ys.reshape(-1),
            mode="lines",
            line={"width": 1, "color": "#1f77b4"},
            hovertemplate="m/z %{x:.4f}<br>intensity %{y:.3g}<extra></extra>",
            name="peaks",
        )  # fmt: skip
    )
    if one.precursor_mz is not None:
        charge = f" ({one.charge}+)" if one.charge else ""
        figure.add_vline(
            x=one.precursor_mz, line={"dash": "dash", "color": "#d62728"},
            annotation_text=f"precursor m/z {one.precursor_mz:.4f}{charge}", annotation_position="top",
        )  # fmt: skip
    figure.update_layout(
        **_LAYOUT,
        height=380,
        xaxis={"title": {"text": "m/z"}},
        yaxis={"title": {"text": "intensity"}},
        title={"text": f"MS{one.level} spectrum at RT {one.rt:.2f} s"},
    )
    return figure


def marked(figure: go.Figure, marker_rt: float | None) -> go.Figure:
    """A copy of a (shared) chromatogram with the chosen retention time marked."""
    if marker_rt is None:
        return figure
    copy = go.Figure(figure)
    copy.add_vline(x=marker_rt, line={"dash": "dot", "color": "#888"})
    return copy


def chromatogram(
    rt: np.ndarray, intensity: np.ndarray, title: str, marker_rt: float | None = None
) -> go.Figure:
    figure = go.Figure(
        go.Scatter(
            x=rt,
            y=intensity,
            mode="lines",
            line={"width": 1.2},
            hovertemplate="RT %{x:.2f} s<br>intensity %{y:.3g}<extra></extra>",
        )  # fmt: skip
    )
    if marker_rt is not None:
        figure.add_vline(x=marker_rt, line={"dash": "dot", "color": "#888"})
    figure.update_layout(
        **_LAYOUT,
        height=320,
        title={"text": html.escape(title)},
        xaxis={"title": {"text": "retention time (s)"}},
        yaxis={"title": {"text": "intensity"}},
    )
    return figure
