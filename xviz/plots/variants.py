"""Figures of the attention-variants page: pattern | effective attention | full attention, the gallery, the
cost-vs-error map and the measured scaling (log-log). Matrices above 128 × 128 are block-averaged first."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from xviz.plots.heatmap import block_mean
from xviz.plots.style import MASK_SCALE, PROB_SCALE, SIGNED_SCALE, SUBTITLE_SIZE, base_layout

MAX_SIDE = 128


def _small(mat, max_side: int = MAX_SIDE) -> np.ndarray:
    arr = mat.detach().float().cpu().numpy() if hasattr(mat, "detach") else np.asarray(mat, dtype=np.float32)
    return block_mean(arr.astype(np.float32), max_side)


def _heat(arr: np.ndarray, colorscale, zmin, zmax, name: str, showscale: bool = False, colorbar_x=None):
    ny, nx = arr.shape
    return go.Heatmap(
        z=arr,
        colorscale=colorscale,
        zmin=zmin,
        zmax=zmax,
        showscale=showscale,
        name=name,
        colorbar=dict(thickness=10, x=colorbar_x, len=0.9) if showscale else None,
        hovertemplate="query %{y}, key %{x}<br>%{z:.3g}<extra>" + name + "</extra>",
        x0=0,
        dx=1,
        y0=0,
        dy=1,
    )


def _block_note(n: int) -> str:
    factor = math.ceil(n / MAX_SIDE)
    return f" (means of {factor}×{factor} blocks)" if factor > 1 else ""


def variant_figure(result, with_full: bool = True, height: int = 330) -> go.Figure:
    """Panels: the pairs the variant computes (pattern), its effective attention, and (with_full) full
    attention on the same colour scale (signed when the variant's matrix has negative entries)."""
    sub = _block_note(result.attn.shape[-1]).strip()
    sub = f"<br><sup>{sub}</sup>" if sub else ""
    titles = [f"pattern<br><sup>density {result.cost.density:.3f}</sup>", f"{result.label}{sub}"]
    titles += ["full attention" + (" (causal)" if result.causal else "") + sub] if with_full else []
    fig = make_subplots(1, len(titles), horizontal_spacing=0.06, subplot_titles=titles)
    attn, ref = _small(result.attn), _small(result.ref_attn)
    signed = bool(np.nanmin(attn) < -1e-6)
    top = float(max(np.nanmax(np.abs(attn)), np.nanmax(ref) if with_full else 0)) or 1.0
    scale, lo = (SIGNED_SCALE, -top) if signed else (PROB_SCALE, 0.0)
    fig.add_trace(_heat(_small(result.support.float()), MASK_SCALE, 0, 1, "pattern"), 1, 1)
    fig.add_trace(_heat(attn, scale, lo, top, "effective", showscale=True, colorbar_x=1.0), 1, 2)
    if with_full:
        fig.add_trace(_heat(ref, scale, lo, top, "full"), 1, 3)
    fig.update_layout(**base_layout(None, height))
    fig.update_layout(margin=dict(l=10, r=10, t=60, b=10))
    fig.update_annotations(font_size=SUBTITLE_SIZE)
    fig.update_yaxes(autorange="reversed", showgrid=False, scaleanchor=None)
    fig.update_xaxes(showgrid=False, title_text="key token")
    fig.update_yaxes(title_text="query token", row=1, col=1)
    for col in range(2, len(titles) + 1):  # same rows in every panel: numbers once, not over the neighbour
        fig.update_yaxes(showticklabels=False, row=1, col=col)
    return fig


def full_figure(result, height: int = 360) -> go.Figure:
    """Full softmax attention of the head (the reference every variant is measured against)."""
    ref = _small(result.ref_attn)
    fig = go.Figure(_heat(ref, PROB_SCALE, 0, float(np.nanmax(ref)) or 1.0, "full", showscale=True))
    fig.update_layout(**base_layout("full attention" + _block_note(result.ref_attn.shape[-1]), height))
    fig.update_yaxes(autorange="reversed", title="query token", showgrid=False)
    fig.update_xaxes(title="key token", showgrid=False)
    return fig


def difference_figure(a, b, label_a: str, label_b: str, height: int = 360) -> go.Figure:
    """A − B of two effective attention matrices (signed scale centred at 0)."""
    d = _small(a.attn) - _small(b.attn)
    m = float(np.nanmax(np.abs(d))) or 1.0
    fig = go.Figure(_heat(d, SIGNED_SCALE, -m, m, "A − B", showscale=True))
    fig.update_layout(**base_layout(f"{label_a} − {label_b}", height))
    fig.update_yaxes(autorange="reversed", title="query token", showgrid=False)
    fig.update_xaxes(title="key token", showgrid=False)
    return fig


def gallery_figure(results: Sequence, cols: int = 6, side: int = 64) -> go.Figure:
    """Every variant's |effective attention| (each scaled to its own maximum), titled with its output error."""
    rows = math.ceil(len(results) / cols)
    titles = [f"{r.label}<br>err {r.errors['relative_error']:.2f}" for r in results]
    fig = make_subplots(rows, cols, subplot_titles=titles, horizontal_spacing=0.02, vertical_spacing=0.09)
    for i, r in enumerate(results):
        a = np.abs(_small(r.attn, side))
        a = a / (np.nanmax(a) or 1.0)
        fig.add_trace(_heat(a, PROB_SCALE, 0, 1, r.label), i // cols + 1, i % cols + 1)
    fig.update_layout(**base_layout(None, 190 * rows + 50))
    fig.update_layout(margin=dict(l=10, r=10, t=45, b=10))
    fig.update_annotations(font_size=11)
    fig.update_xaxes(showticklabels=False, showgrid=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, autorange="reversed")
    return fig


def cost_error_figure(rows: Sequence[dict], height: int = 420) -> go.Figure:
    """Each variant at (FLOPs relative to full, relative output error): what the savings cost in accuracy."""
    fig = go.Figure()
    for group in dict.fromkeys(r["group"] for r in rows):
        rs = [r for r in rows if r["group"] == group]
        fig.add_trace(
            go.Scatter(
                x=[r["FLOPs vs full"] for r in rs],
                y=[r["relative output error"] for r in rs],
                mode="markers+text",
                text=[r["variant"] for r in rs],
                textposition="top center",
                name=group,
                marker=dict(size=10),
                textfont=dict(size=10),
                hovertemplate="%{text}<br>FLOPs ×%{x:.3g}<br>error %{y:.3g}<extra></extra>",
            )
        )
    fig.update_layout(**base_layout("cost vs error (this input)", height))
    fig.update_xaxes(type="log", title="FLOPs relative to full attention (formula)")
    fig.update_yaxes(type="log", title="relative output error ‖out − full‖ / ‖full‖")
    return fig


def scaling_figure(rows: Sequence[dict], device_label: str = "", height: int = 420) -> go.Figure:
    """Measured time and peak memory against sequence length, both log-log, one line per kernel."""
    fig = make_subplots(1, 2, subplot_titles=("median time (ms)", "extra peak memory (MiB)"), horizontal_spacing=0.1)
    for i, name in enumerate(dict.fromkeys(r["kernel"] for r in rows)):
        rs = [r for r in rows if r["kernel"] == name and r["ms"] is not None]
        if not rs:
            continue
        color = f"hsl({(i * 47) % 360}, 65%, 45%)"
        for col, key in ((1, "ms"), (2, "peak_mib")):
            fig.add_trace(
                go.Scatter(
                    x=[r["n"] for r in rs],
                    y=[max(r[key], 1e-3) for r in rs],
                    mode="lines+markers",
                    name=rs[0]["label"],
                    legendgroup=name,
                    showlegend=col == 1,
                    line=dict(color=color),
                    hovertemplate="N=%{x}<br>%{y:.3g}<extra>" + rs[0]["label"] + "</extra>",
                ),
                1,
                col,
            )
    fig.update_layout(**base_layout(f"measured on {device_label}" if device_label else None, height))
    fig.update_layout(legend=dict(orientation="h", y=-0.2))
    fig.update_annotations(font_size=SUBTITLE_SIZE)
    fig.update_xaxes(type="log", title="sequence length N (tokens)")
    fig.update_yaxes(type="log", title="ms", row=1, col=1)
    fig.update_yaxes(type="log", title="MiB", row=1, col=2)
    return fig
