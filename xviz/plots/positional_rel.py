"""Figure builders for relative encodings (RoPE, ALiBi), extrapolation beyond the trained length and the
side-by-side comparison of two kinds (Positional-encoding page)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from xviz.analysis.positional import RopeDemo
from xviz.plots.positional import as_array
from xviz.plots.style import SEQ_SCALE, SIGNED_SCALE, base_layout, subplot_titles


def rope_figure(demo: RopeDemo, title: str = "RoPE: score of one q and one k placed at every position") -> go.Figure:
    """Left: ⟨R_m q, R_n k⟩ for all (m, n) — constant along every diagonal. Right: the score over the offset."""
    S = as_array(demo.scores)
    n = S.shape[0]
    m = float(np.abs(S).max()) or 1.0
    fig = make_subplots(
        rows=1, cols=2, column_widths=[0.45, 0.55], subplot_titles=("score(m, n)", "score vs offset n − m")
    )
    fig.add_trace(
        go.Heatmap(
            z=S,
            colorscale=SIGNED_SCALE,
            zmid=0,
            zmin=-m,
            zmax=m,
            colorbar=dict(thickness=12, x=0.42),
            hovertemplate="query pos %{y}, key pos %{x}: %{z:.3f}<extra></extra>",
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=np.arange(-n + 1, n),
            y=as_array(demo.curve),
            mode="lines",
            showlegend=False,
            hovertemplate="offset %{x}: %{y:.3f}<extra></extra>",
        ),
        row=1,
        col=2,
    )
    fig.update_layout(**base_layout(title, 420))
    fig.update_layout(margin=dict(t=80))
    fig.update_yaxes(autorange="reversed", title="query position m", row=1, col=1)
    fig.update_xaxes(title="key position n", row=1, col=1)
    fig.update_xaxes(title="offset n − m (positions)", row=1, col=2)
    return subplot_titles(fig)


def alibi_figure(slopes: torch.Tensor, bias: torch.Tensor, max_heads: int = 8) -> go.Figure:
    """Per head: the bias −m_h·|i − j| (small multiples, first `max_heads` heads) and the slope of every head."""
    H = len(slopes)
    shown = min(H, max_heads)
    titles = [f"head {h}: m = {float(slopes[h]):.4g}" for h in range(shown)]
    cols = min(shown, 4)
    rows = -(-shown // cols)
    fig = make_subplots(
        rows=rows + 1,
        cols=cols,
        subplot_titles=titles + ["slopes m_h"] + [""] * (cols - 1),
        specs=[[{}] * cols for _ in range(rows)] + [[{"colspan": cols}] + [None] * (cols - 1)],
        vertical_spacing=0.08,
        horizontal_spacing=0.04,
    )
    for h in range(shown):  # each head on its own scale (its range is m_h·(n − 1)): slow heads stay visible
        fig.add_trace(
            go.Heatmap(
                z=as_array(bias[h]),
                colorscale=f"{SEQ_SCALE}_r",
                zmin=float(bias[h].min()),
                zmax=0,
                showscale=False,
                hovertemplate="i %{y}, j %{x}: bias %{z:.4g}<extra></extra>",
            ),
            row=h // cols + 1,
            col=h % cols + 1,
        )
        fig.update_yaxes(autorange="reversed", row=h // cols + 1, col=h % cols + 1)
    fig.add_trace(
        go.Bar(
            x=[f"h{h}" for h in range(H)],
            y=as_array(slopes),
            showlegend=False,
            hovertemplate="%{x}: m = %{y:.5g}<extra></extra>",
        ),
        row=rows + 1,
        col=1,
    )
    fig.update_yaxes(type="log", row=rows + 1, col=1)
    fig.update_layout(
        **base_layout(f"ALiBi: additive bias −m_h·|i − j| for {H} heads (each on its own scale)", 260 * rows + 260)
    )
    fig.update_layout(margin=dict(t=80))
    return subplot_titles(fig)


def beyond_figure(
    fraction: torch.Tensor, trained: int, table_norms: torch.Tensor | None = None, table_name: str = "learned table"
) -> go.Figure:
    """Left: share of sin/cos (and RoPE) frequency pairs whose angle was never seen in training, per position.
    Right: a learned table's row norms — it simply has no row past its length."""
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("sinusoidal / RoPE: unseen angles", f"{table_name}: row norm (ends at its length)"),
    )
    x = np.arange(len(fraction))
    fig.add_trace(
        go.Scatter(
            x=x,
            y=as_array(fraction),
            mode="lines",
            name="unseen pairs",
            showlegend=False,
            hovertemplate="position %{x}: %{y:.1%} of pairs unseen<extra></extra>",
        ),
        row=1,
        col=1,
    )
    fig.add_vrect(x0=0, x1=trained - 1, fillcolor="green", opacity=0.08, line_width=0, row=1, col=1)
    fig.add_vline(x=trained, line_dash="dot", row=1, col=1)
    if table_norms is not None:
        n = as_array(table_norms)
        fig.add_trace(
            go.Scatter(
                x=np.arange(len(n)),
                y=n,
                mode="lines",
                showlegend=False,
                hovertemplate="position %{x}: norm %{y:.3f}<extra></extra>",
            ),
            row=1,
            col=2,
        )
        fig.add_vline(x=len(n), line_dash="dot", line_color="red", row=1, col=2)
    fig.update_layout(**base_layout("Beyond the trained length", 380))
    fig.update_layout(margin=dict(t=80))
    fig.update_yaxes(tickformat=".0%", range=[0, 1], row=1, col=1)
    fig.update_xaxes(title="position", row=1, col=1)
    fig.update_xaxes(title="position", row=1, col=2)
    fig.update_yaxes(title="share of pairs unseen", row=1, col=1)
    fig.update_yaxes(title="L2 norm", row=1, col=2)
    return subplot_titles(fig)
