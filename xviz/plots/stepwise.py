"""Figures of the "Self-attention, step by step" page: one step's tensor (hover shows its value and the values
that produced it), the weight matrix of a projection with this head's columns marked, the √d figures."""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from xviz.plots.heatmap import image_heatmap, to_numpy
from xviz.plots.style import PROB_SCALE, SIGNED_SCALE, base_layout, subplot_titles

MAX_CELLS = 60_000  # above this a step is drawn as a server-rendered image (hover then shows positions only)


def _labels(labels, n: int, prefix: str) -> list[str]:
    return [html.escape(str(t)) for t in labels] if labels is not None else [f"{prefix}{j}" for j in range(n)]


def step_figure(step, height: int | None = None, col_range: tuple[int, int] | None = None) -> go.Figure:
    """A Step's (rows, cols) tensor as a heatmap. Hover: row label, column label, value, and step.extra values.
    col_range (a, b): outline columns a…b−1 (this head's slice)."""
    arr = to_numpy(step.value)
    ny, nx = arr.shape
    scale = SIGNED_SCALE if step.signed else PROB_SCALE
    lim = float(np.nanmax(np.abs(arr))) if np.isfinite(arr).any() else 1.0
    zr = dict(zmin=-lim, zmax=lim, zmid=0) if step.signed else dict(zmin=0, zmax=max(lim, 1e-9))
    height = height or max(260, min(640, 22 * ny + 120))
    if arr.size > MAX_CELLS:
        fig = image_heatmap(arr, scale, zr["zmin"], zr["zmax"], step.title, height)
        fig.update_xaxes(title="column")
        fig.update_yaxes(title="token")
        return fig
    rows, cols = _labels(step.rows, ny, "row "), _labels(step.cols, nx, "c")
    extras = [(html.escape(k), to_numpy(v)) for k, v in step.extra.items()]
    hover = "%{y} · %{x}<br>value = %{z:.5g}"  # category axes: the labels travel once, not once per cell
    kw = {}
    if extras:  # numeric customdata (NaN = masked) is sent as a compact typed array
        kw["customdata"] = np.stack([ex for _, ex in extras], axis=-1).astype(np.float32)  # (ny, nx, E)
        hover += "".join(f"<br>{name} = %{{customdata[{i}]:.5g}}" for i, (name, _) in enumerate(extras))
    fig = go.Figure(
        go.Heatmap(
            z=arr,
            x=cols,
            y=rows,
            hovertemplate=hover + "<extra></extra>",
            colorscale=scale,
            colorbar=dict(thickness=12),
            **zr,
            **kw,
        )
    )
    if col_range is not None:
        fig.add_shape(
            type="rect",
            x0=col_range[0] - 0.5,
            x1=col_range[1] - 0.5,
            y0=-0.5,
            y1=ny - 0.5,
            line=dict(color="#111", width=2),
        )
    _axes(fig, ny <= 64)
    fig.update_layout(**base_layout(f"{step.title} — {step.shape}", height))
    return fig


def _axes(fig: go.Figure, row_ticks: bool) -> None:
    """Category axes (one per token / column; plotly thins crowded column labels); token labels up to 64 rows."""
    fig.update_yaxes(type="category", autorange="reversed", showgrid=False, showticklabels=row_ticks)
    fig.update_xaxes(type="category", showgrid=False, tickangle=-60)


def weight_figure(w, name: str, col_range: tuple[int, int] | None = None, height: int = 360) -> go.Figure:
    """A weight matrix (C_in, C_out) as a server-rendered image; col_range outlines this head's columns."""
    arr = to_numpy(w)
    lim = float(np.abs(arr).max()) or 1.0
    fig = image_heatmap(arr, SIGNED_SCALE, -lim, lim, f"{name}: {arr.shape[0]} × {arr.shape[1]} (real weights)", height)
    fig.update_xaxes(title="output column")
    fig.update_yaxes(title="input dimension")
    if col_range is not None:
        fig.add_shape(
            type="rect", x0=col_range[0], x1=col_range[1], y0=0, y1=arr.shape[0], line=dict(color="#111", width=2)
        )
    return fig


def dot_variance_figure(stats) -> go.Figure:
    fig = go.Figure()
    fig.add_scatter(x=stats.dims, y=stats.var_predicted, mode="lines", name="d·Var(q)·Var(k)")
    fig.add_scatter(
        x=stats.dims,
        y=stats.var_measured,
        mode="markers",
        name="measured Var(q·k)",
        marker=dict(size=9),
        hovertemplate="d = %{x}: Var(q·k) = %{y:.4g}<extra></extra>",
    )
    fig.add_scatter(
        x=stats.dims,
        y=[v / d for v, d in zip(stats.var_measured, stats.dims)],
        mode="lines+markers",
        name="Var(q·k / √d)",
    )
    fig.update_xaxes(type="log", title="head dimension d")
    fig.update_yaxes(type="log", title="variance")
    fig.update_layout(**base_layout("Variance of q·k for random q, k (unit variance)", 360))
    return fig


def saturation_figure(stats) -> go.Figure:
    titles = ("entropy of a softmax row (nats)", "largest weight in a row", "‖∂softmax/∂s‖ (Jacobian norm)")
    fig = make_subplots(1, 3, subplot_titles=titles, horizontal_spacing=0.07)
    colours = {"unscaled": "#d62728", "÷√d": "#1f77b4"}
    for col, series in enumerate((stats.entropy, stats.max_weight, stats.grad_norm), start=1):
        for name, ys in series.items():
            fig.add_scatter(
                x=stats.dims,
                y=ys,
                mode="lines+markers",
                name=name,
                legendgroup=name,
                showlegend=col == 1,
                line=dict(color=colours[name]),
                row=1,
                col=col,
                hovertemplate=f"{name}, d = %{{x}}: %{{y:.4g}}<extra></extra>",
            )
    fig.update_xaxes(type="log", title="d")
    fig.update_layout(**base_layout(f"Softmax over {stats.n_keys} random keys, with and without ÷√d", 340))
    return subplot_titles(fig)
