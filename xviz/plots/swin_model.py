"""Figure builders of the Swin page, model part: relative-position index and bias tables, the cost of global vs
window attention, and real attention inside one window drawn on the picture."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from xviz.plots.heatmap import colorize, heatmap, png_data_uri
from xviz.plots.style import PROB_SCALE, SIGNED_SCALE, base_layout, colorbar_trace, subplot_titles
from xviz.plots.swin_geometry import WINDOW_LINE, add_grid, blend, square_axes


def rel_index_figure(index: torch.Tensor, title: str | None = None) -> go.Figure:
    """The (M², M²) index into the bias table: equal values = equal relative offset (Δrow, Δcol)."""
    return heatmap(
        index.float(),
        title=title,
        colorscale="Turbo",
        value_name="table row",
        x_title="key token j",
        y_title="query token i",
        height=440,
    )


def bias_table_figure(table: torch.Tensor, head: int, title: str | None = None) -> go.Figure:
    """One head's column of the ((2M−1)², heads) table, laid out on the (Δrow, Δcol) grid it is indexed by."""
    side = int(round(table.shape[0] ** 0.5))
    M = (side + 1) // 2
    grid = table[:, head].detach().float().view(side, side).numpy()  # (2M−1, 2M−1): row = Δrow + M − 1
    ticks = list(range(-(M - 1), M))
    m = float(np.abs(grid).max()) or 1.0
    fig = go.Figure(
        go.Heatmap(
            z=grid,
            x=ticks,
            y=ticks,
            colorscale=SIGNED_SCALE,
            zmin=-m,
            zmax=m,
            colorbar=dict(thickness=12),
            hovertemplate="Δrow %{y}, Δcol %{x}<br>bias %{z:.4f}<extra></extra>",
        )
    )
    fig.update_layout(**base_layout(title, height=440))
    fig.update_xaxes(title="Δcol = col_i − col_j", showgrid=False, constrain="domain")
    fig.update_yaxes(title="Δrow = row_i − row_j", showgrid=False, autorange="reversed", scaleanchor="x")
    return fig


def gathered_bias_figure(bias: torch.Tensor, title: str | None = None) -> go.Figure:
    """(M², M²) bias B[i, j] = table[index[i, j]], the matrix added to one window's scores."""
    m = float(bias.abs().max()) or 1.0
    return heatmap(
        bias,
        title=title,
        colorscale=SIGNED_SCALE,
        zmin=-m,
        zmax=m,
        value_name="bias",
        x_title="key token j",
        y_title="query token i",
        height=440,
    )


def cost_figure(rows: list[dict], current_px: int | None = None, title: str | None = None) -> go.Figure:
    """Ω(MSA) vs Ω(W-MSA) against the image side, log-log: quadratic vs linear in the number of tokens."""
    x = [r["image_px"] for r in rows]
    hover = [f"{r['tokens']} tokens<br>global / window = {r['ratio']:.1f}×" for r in rows]
    fig = go.Figure(
        [
            go.Scatter(
                x=x,
                y=[r["msa"] for r in rows],
                name="global MSA: 4hwC² + 2(hw)²C",
                mode="lines+markers",
                text=hover,
                hovertemplate="%{x} px: %{y:.3g} FLOPs<br>%{text}<extra></extra>",
            ),
            go.Scatter(
                x=x,
                y=[r["wmsa"] for r in rows],
                name="window W-MSA: 4hwC² + 2M²hwC",
                mode="lines+markers",
                text=hover,
                hovertemplate="%{x} px: %{y:.3g} FLOPs<br>%{text}<extra></extra>",
            ),
        ]
    )
    if current_px:  # a trace, not add_vline: shapes on log axes take log10 coordinates
        lo, hi = min(r["wmsa"] for r in rows), max(r["msa"] for r in rows)
        fig.add_trace(
            go.Scatter(
                x=[current_px, current_px],
                y=[lo, hi],
                mode="lines",
                hoverinfo="skip",
                name=f"this map ({current_px} px)",
                line=dict(color="grey", dash="dot"),
            )
        )
    fig.update_layout(**base_layout(title, height=400), legend=dict(orientation="h", y=-0.22))
    fig.update_xaxes(type="log", title="image side (px), first-stage map = side / patch")
    fig.update_yaxes(type="log", title="FLOPs of one attention layer")
    return fig


def window_attention_figure(
    pic: np.ndarray, wa, head: int, query: int, crop: np.ndarray, title: str | None = None
) -> go.Figure:
    """Left: the query's attention (one head) painted on the picture at the keys' real places (a shifted window
    may wrap around the borders), the rest dimmed. Right: the window itself, zoomed (its pixels after the roll)."""
    h, w = wa.grid
    q = pic.shape[0] // h
    row = wa.probs[head, query].numpy()  # (M²,)
    pos = wa.positions.numpy()
    inside = (pos[:, 0] < h) & (pos[:, 1] < w)  # padded tokens have no pixels
    vals = np.full((h, w), np.nan, dtype=np.float32)
    vals[pos[inside, 0], pos[inside, 1]] = row[inside]
    hi = float(row.max()) or 1.0
    fig = make_subplots(1, 2, horizontal_spacing=0.04, subplot_titles=["on the picture", "the window, zoomed"])
    overlay = blend(
        (pic[: h * q, : w * q] * 0.5).astype(np.uint8),
        colorize(vals, PROB_SCALE, 0, hi),
        q,
        0.7,
        where=(~np.isnan(vals)).astype(np.float32),
    )
    fig.add_trace(go.Image(source=png_data_uri(overlay), hoverinfo="skip"), 1, 1)
    add_grid(fig, h, w, q, wa.M, wa.shift, dict(WINDOW_LINE, width=1), row=1, col=1)
    qr, qc = pos[query]
    fig.add_trace(_marker((qc + 0.5) * q, (qr + 0.5) * q, f"query {query} at ({qr}, {qc})"), 1, 1)
    z = max(1, 24 // q)  # zoom: ≥ 24 px per token, nearest-neighbour
    big = np.repeat(np.repeat(crop, z, 0), z, 1)
    M, tq = wa.M, q * z
    tint = colorize(row.reshape(M, M), PROB_SCALE, 0, hi)  # (M²,) → (M, M) → (M, M, 3)
    fig.add_trace(go.Image(source=png_data_uri(blend(big, tint, tq, 0.55)), hoverinfo="skip"), 1, 2)
    rr, cc = np.divmod(np.arange(M * M), M)
    fig.add_trace(
        go.Scatter(
            x=(cc + 0.5) * tq,
            y=(rr + 0.5) * tq,
            mode="markers",
            showlegend=False,
            marker=dict(size=6, opacity=0),
            text=[f"key {j}: p = {row[j]:.4f}" for j in range(M * M)],
            hovertemplate="%{text}<extra></extra>",
        ),
        1,
        2,
    )
    fig.add_trace(_marker((query % M + 0.5) * tq, (query // M + 0.5) * tq, f"query {query}"), 1, 2)
    fig.add_trace(colorbar_trace(PROB_SCALE, 0, hi, "p", thickness=10))
    fig.update_layout(**base_layout(title, height=360))
    fig.update_layout(margin=dict(l=5, r=5, t=60, b=5))
    square_axes(fig, 2)
    return subplot_titles(fig)


def _marker(x: float, y: float, text: str) -> go.Scatter:
    return go.Scatter(
        x=[x],
        y=[y],
        mode="markers",
        showlegend=False,
        hovertemplate=f"{text}<extra></extra>",
        marker=dict(symbol="x", size=12, color="white", line=dict(width=2, color="black")),
    )


def window_probs_figure(wa, head: int, title: str | None = None) -> go.Figure:
    """The window's M²×M² attention probabilities for one head (forbidden SW-MSA pairs are exactly 0)."""
    return heatmap(
        wa.probs[head],
        title=title,
        colorscale=PROB_SCALE,
        zmin=0,
        value_name="p",
        x_title="key token j",
        y_title="query token i",
        height=430,
    )
