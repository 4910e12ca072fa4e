"""Figure builders of the Attention page: overview grid, token lines, neuron view, per-head statistics."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import torch
import torch.nn.functional as F
from plotly.subplots import make_subplots

from xviz.plots.heatmap import colorize, heatmap, png_data_uri, shorten, to_numpy
from xviz.plots.style import PROB_SCALE, SEQ_SCALE, SIGNED_SCALE, base_layout, subplot_titles


def thumbnails(maps: torch.Tensor, cell: int = 56) -> torch.Tensor:
    """(L, H, N, N) attention maps → (L, H, cell, cell): average-pooled (or nearest-upsampled) thumbnails."""
    L, H, N, _ = maps.shape
    flat = maps.float().reshape(L * H, 1, N, N)  # (L·H, 1, N, N)
    if N >= cell:
        small = F.adaptive_avg_pool2d(flat, cell)
    else:
        small = F.interpolate(flat, size=(cell, cell), mode="nearest")
    return small.reshape(L, H, cell, cell)  # (L·H, 1, c, c) → (L, H, c, c)


def overview_grid(
    maps: torch.Tensor,
    cell: int = 56,
    gap: int = 4,
    title: str | None = None,
    colorscale=PROB_SCALE,
    signed: bool = False,
) -> go.Figure:
    """Layer × head grid of attention thumbnails, composed server-side into one image. Each thumbnail is scaled
    to its own maximum so that sharp and diffuse heads are both readable."""
    L, H = maps.shape[:2]
    th = thumbnails(maps, cell).numpy()
    canvas = np.full((L * (cell + gap), H * (cell + gap), 3), 255, dtype=np.uint8)
    for layer in range(L):
        for head in range(H):
            t = th[layer, head]
            m = float(np.abs(t).max()) or 1.0
            rgb = colorize(t, colorscale, -m if signed else 0.0, m)
            y, x = layer * (cell + gap), head * (cell + gap)
            canvas[y : y + cell, x : x + cell] = rgb
    step = cell + gap
    fig = go.Figure(go.Image(source=png_data_uri(canvas), hoverinfo="skip"))
    fig.update_layout(**base_layout(title, height=max(260, L * step + 80)))
    fig.update_xaxes(
        tickmode="array",
        tickvals=[h * step + cell / 2 for h in range(H)],
        ticktext=[f"H{h}" for h in range(H)],
        side="top",
        showgrid=False,
    )
    fig.update_yaxes(
        tickmode="array",
        tickvals=[layer * step + cell / 2 for layer in range(L)],
        ticktext=[f"L{layer}" for layer in range(L)],
        showgrid=False,
    )
    return fig


def token_lines(
    probs: torch.Tensor,
    tokens_q: list[str],
    tokens_k: list[str] | None = None,
    threshold: float = 0.05,
    max_lines: int = 600,
    title: str | None = None,
) -> go.Figure:
    """BertViz-style lines from each query token (left) to the key tokens (right), opacity = weight;
    weights below `threshold` are hidden. probs (Nq, Nk)."""
    tokens_k = tokens_k if tokens_k is not None else tokens_q
    p = probs.float().numpy()
    qi, kj = np.nonzero(p >= threshold)
    order = np.argsort(-p[qi, kj])[:max_lines]
    qi, kj = qi[order], kj[order]
    fig = go.Figure()
    bins = np.linspace(threshold, 1.0 + 1e-9, 9)
    for lo, hi in zip(bins[:-1], bins[1:]):
        sel = (p[qi, kj] >= lo) & (p[qi, kj] < hi)
        if not sel.any():
            continue
        xs, ys = [], []
        for i, j in zip(qi[sel], kj[sel]):
            xs += [0, 1, None]
            ys += [-i, -j, None]
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                hoverinfo="skip",
                showlegend=False,
                line=dict(color=f"rgba(31,95,168,{0.15 + 0.85 * (lo + hi) / 2:.2f})", width=1 + 3 * (lo + hi) / 2),
            )
        )
    for x, toks, pos in ((0, tokens_q, "middle left"), (1, tokens_k, "middle right")):
        fig.add_trace(
            go.Scatter(
                x=[x] * len(toks),
                y=[-i for i in range(len(toks))],
                mode="markers+text",
                showlegend=False,
                text=[shorten(t, 16) for t in toks],
                textposition=pos,
                marker=dict(size=5, color="#555"),
                hovertext=[_hover_row(p, i, tokens_k) if x == 0 else shorten(t, 40) for i, t in enumerate(toks)],
                hoverinfo="text",
            )
        )
    n = max(len(tokens_q), len(tokens_k))
    fig.update_layout(**base_layout(title, height=min(2400, max(300, 18 * n + 60))))
    fig.update_xaxes(visible=False, range=[-0.6, 1.6])
    fig.update_yaxes(visible=False)
    return fig


def _hover_row(p: np.ndarray, i: int, tokens_k: list[str], top: int = 5) -> str:
    js = np.argsort(-p[i])[:top]
    return "<br>".join(f"{shorten(tokens_k[j], 20)}: {p[i, j]:.3f}" for j in js)


def neuron_view_figure(
    prod: torch.Tensor,
    dots: torch.Tensor,
    probs_row: torch.Tensor,
    tokens_k: list[str],
    query_token: str,
    title: str | None = None,
) -> go.Figure:
    """q ⊙ k per dimension (Nk × D, signed) beside the scaled dot product and the resulting probability."""
    fig = make_subplots(
        rows=1,
        cols=3,
        shared_yaxes=True,
        column_widths=[0.7, 0.15, 0.15],
        horizontal_spacing=0.02,
        subplot_titles=(f"q({shorten(query_token, 20)}) ⊙ k per dimension", "q·k/√d", "probability"),
    )
    arr = to_numpy(prod)
    m = float(np.nanmax(np.abs(arr))) or 1.0
    labels = [shorten(t, 14) for t in tokens_k]
    y = list(range(len(tokens_k)))
    fig.add_trace(
        go.Heatmap(
            z=arr,
            y=y,
            colorscale=SIGNED_SCALE,
            zmin=-m,
            zmax=m,
            colorbar=dict(x=1.01, thickness=10),
            hovertemplate="key %{y}, dim %{x}: %{z:.3f}<extra></extra>",
        ),
        1,
        1,
    )
    fig.add_trace(
        go.Bar(
            x=dots.float().numpy(),
            y=y,
            orientation="h",
            marker_color="#888",
            showlegend=False,
            hovertemplate="%{x:.3f}<extra></extra>",
        ),
        1,
        2,
    )
    fig.add_trace(
        go.Bar(
            x=probs_row.float().numpy(),
            y=y,
            orientation="h",
            marker_color="#1f5fa8",
            showlegend=False,
            hovertemplate="%{x:.3f}<extra></extra>",
        ),
        1,
        3,
    )
    fig.update_layout(**base_layout(title, height=min(2400, max(320, 16 * len(tokens_k) + 100))))
    fig.update_layout(margin=dict(t=60))
    fig.update_yaxes(tickmode="array", tickvals=y, ticktext=labels, autorange="reversed", row=1, col=1)
    fig.update_yaxes(title="key token", row=1, col=1)
    fig.update_xaxes(title="head dimension", row=1, col=1)
    return subplot_titles(fig)


def layer_head_figure(mat: torch.Tensor, title: str, fmt: str = ".2f", colorscale=SEQ_SCALE) -> go.Figure:
    """A per-(layer, head) statistic as an annotated L × H heatmap."""
    arr = mat.float().numpy()
    L, H = arr.shape
    fig = go.Figure(
        go.Heatmap(
            z=arr,
            x=[f"H{h}" for h in range(H)],
            y=[f"L{layer}" for layer in range(L)],
            colorscale=colorscale,
            text=[[format(v, fmt) for v in row] for row in arr],
            texttemplate="%{text}",
            colorbar=dict(thickness=10),
            hovertemplate="%{y} %{x}: %{z:.4g}<extra></extra>",
        )
    )
    fig.update_layout(**base_layout(title, height=max(220, 36 * L + 80)))
    fig.update_yaxes(autorange="reversed")
    return fig


def head_norms_figure(norms: torch.Tensor, tokens: list[str], title: str | None = None) -> go.Figure:
    """‖z‖ per head (rows) and token (columns) for one layer."""

    return heatmap(
        norms,
        x_labels=tokens,
        y_labels=[f"H{h}" for h in range(norms.shape[0])],
        title=title,
        colorscale=PROB_SCALE,
        height=max(240, 22 * norms.shape[0] + 120),
        value_name="‖z‖",
        x_title="token",
        y_title="head",
    )


def difference_figure(a: torch.Tensor, b: torch.Tensor, tokens_q, tokens_k, title: str) -> go.Figure:
    """A − B on a symmetric signed scale."""

    return heatmap(
        a.float() - b.float(), tokens_k, tokens_q, title=title, colorscale=SIGNED_SCALE, zmid=0.0, value_name="A − B"
    )
