"""Figure builders of the Swin page, model part: relative-position index and bias tables, the cost of global vs
window attention, and real attention inside one window drawn on the picture."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import torch

from xviz.plots.heatmap import colorize, heatmap, png_data_uri
from xviz.plots.style import PROB_SCALE, SEQ_SCALE, SIGNED_SCALE, base_layout
from xviz.plots.swin import WINDOW_LINE, _square_axes, add_grid, blend


def rel_index_figure(index: torch.Tensor, title: str | None = None) -> go.Figure:
    """The (M², M²) index into the bias table: equal values = equal relative offset (Δrow, Δcol)."""
    return heatmap(index.float(), title=title, colorscale=SEQ_SCALE, value_name="table row",
                   x_title="key token j", y_title="query token i", height=440)


def bias_table_figure(table: torch.Tensor, head: int, title: str | None = None) -> go.Figure:
    """One head's column of the ((2M−1)², heads) table, laid out on the (Δrow, Δcol) grid it is indexed by."""
    side = int(round(table.shape[0] ** 0.5))
    M = (side + 1) // 2
    grid = table[:, head].detach().float().view(side, side).numpy()  # (2M−1, 2M−1): row = Δrow + M − 1
    ticks = list(range(-(M - 1), M))
    m = float(np.abs(grid).max()) or 1.0
    fig = go.Figure(go.Heatmap(z=grid, x=ticks, y=ticks, colorscale=SIGNED_SCALE, zmin=-m, zmax=m,
                               colorbar=dict(thickness=12),
                               hovertemplate="Δrow %{y}, Δcol %{x}<br>bias %{z:.4f}<extra></extra>"))
    fig.update_layout(**base_layout(title, height=440))
    fig.update_xaxes(title="Δcol = col_i − col_j", showgrid=False, constrain="domain")
    fig.update_yaxes(title="Δrow = row_i − row_j", showgrid=False, autorange="reversed", scaleanchor="x")
    return fig


def gathered_bias_figure(bias: torch.Tensor, title: str | None = None) -> go.Figure:
    """(M², M²) bias B[i, j] = table[index[i, j]], the matrix added to one window's scores."""
    m = float(bias.abs().max()) or 1.0
    return heatmap(bias, title=title, colorscale=SIGNED_SCALE, zmin=-m, zmax=m, value_name="bias",
                   x_title="key token j", y_title="query token i", height=440)


def cost_figure(rows: list[dict], current_px: int | None = None, title: str | None = None) -> go.Figure:
    """Ω(MSA) vs Ω(W-MSA) against the image side, log-log: quadratic vs linear in the number of tokens."""
    x = [r["image_px"] for r in rows]
    hover = [f"{r['tokens']} tokens<br>global / window = {r['ratio']:.1f}×" for r in rows]
    fig = go.Figure([
        go.Scatter(x=x, y=[r["msa"] for r in rows], name="global MSA: 4hwC² + 2(hw)²C", mode="lines+markers",
                   text=hover, hovertemplate="%{x} px: %{y:.3g} FLOPs<br>%{text}<extra></extra>"),
        go.Scatter(x=x, y=[r["wmsa"] for r in rows], name="window W-MSA: 4hwC² + 2M²hwC", mode="lines+markers",
                   text=hover, hovertemplate="%{x} px: %{y:.3g} FLOPs<br>%{text}<extra></extra>")])
    if current_px:
        fig.add_vline(x=current_px, line=dict(color="grey", dash="dot"), annotation_text=f"{current_px} px")
    fig.update_layout(**base_layout(title, height=400), legend=dict(orientation="h", y=-0.22))
    fig.update_xaxes(type="log", title="image side (px), first-stage map = side / patch")
    fig.update_yaxes(type="log", title="FLOPs of one attention layer")
    return fig


def window_attention_figure(pic: np.ndarray, wa, head: int, query: int, title: str | None = None) -> go.Figure:
    """The chosen query token's attention (one head) over its window's keys, painted on the picture at the keys'
    real places (a shifted window may wrap around the borders); the rest of the picture is dimmed."""
    h, w = wa.grid
    q = pic.shape[0] // h
    pic = pic[:h * q, :w * q]
    row = wa.probs[head, query].numpy()  # (M²,)
    pos = wa.positions.numpy()
    inside = (pos[:, 0] < h) & (pos[:, 1] < w)  # padded tokens have no pixels
    vals = np.full((h, w), np.nan, dtype=np.float32)
    vals[pos[inside, 0], pos[inside, 1]] = row[inside]
    rgb = colorize(vals, PROB_SCALE, 0, float(np.nanmax(vals)) or 1.0)
    fig = go.Figure()
    fig.add_trace(go.Image(source=png_data_uri(blend((pic * 0.35).astype(np.uint8), rgb, q, 0.65,
                                                     where=(~np.isnan(vals)).astype(np.float32))),
                           hoverinfo="skip"))
    add_grid(fig, h, w, q, wa.M, wa.shift, WINDOW_LINE)
    qr, qc = pos[query]
    fig.add_trace(go.Scatter(x=(pos[inside, 1] + 0.5) * q, y=(pos[inside, 0] + 0.5) * q, mode="markers",
                             marker=dict(size=max(4, q - 1), opacity=0, symbol="square"), showlegend=False,
                             text=[f"key {j}: p = {row[j]:.3f}" for j in np.nonzero(inside)[0]],
                             hovertemplate="%{text}<extra></extra>"))
    fig.add_trace(go.Scatter(x=[(qc + 0.5) * q], y=[(qr + 0.5) * q], mode="markers", showlegend=False,
                             marker=dict(symbol="x", size=12, color="white", line=dict(width=2, color="black")),
                             hovertemplate=f"query {query} at ({qr}, {qc})<extra></extra>"))
    fig.update_layout(**base_layout(title, height=430))
    _square_axes(fig, 1)
    return fig


def window_probs_figure(wa, head: int, title: str | None = None) -> go.Figure:
    """The window's M²×M² attention probabilities for one head (forbidden SW-MSA pairs are exactly 0)."""
    return heatmap(wa.probs[head], title=title, colorscale=PROB_SCALE, zmin=0, value_name="p",
                   x_title="key token j", y_title="query token i", height=430)
