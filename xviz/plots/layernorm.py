"""Figure builders of the LayerNorm page: per-layer gradient norms (pre-LN | post-LN), last-layer norms and the
post/pre ratio vs depth (Xiong et al. 2020, Theorem 1 / Fig. 3), and live-training curves."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import plotly.graph_objects as go
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

from xviz.analysis.grad_norms import METRICS, GradNorms
from xviz.plots.style import PROB_SCALE, base_layout, subplot_titles

if TYPE_CHECKING:  # a type only: plots never import the training loop (or the models it builds)
    from xviz.train.live import StepLog

POSITION_COLORS = {"pre": "#1f5fa8", "post": "#c0392b"}
POSITION_NAMES = {"pre": "Pre-LN", "post": "Post-LN"}
METRIC_COLORS = {
    "w1": "#6a3d9a",
    "w2": "#ff7f00",
    "params": "#555555",
    "norm1_in": "#1f78b4",
    "norm1_out": "#a6cee3",
    "norm2_in": "#33a02c",
    "norm2_out": "#b2df8a",
}


def per_layer_figure(pre: GradNorms, post: GradNorms, metrics: Sequence[str] = ("w1", "w2")) -> go.Figure:
    """Per-layer gradient norms (mean ± std over seeds), log scale, pre-LN left and post-LN right, shared y."""
    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        horizontal_spacing=0.04,
        subplot_titles=(f"Pre-LN (L = {pre.num_layers})", f"Post-LN (L = {post.num_layers})"),
    )
    for col, res in ((1, pre), (2, post)):
        layers = list(range(1, res.num_layers + 1))
        for m in metrics:
            fig.add_trace(
                go.Scatter(
                    x=layers,
                    y=res.mean[m],
                    error_y=dict(type="data", array=res.std[m], thickness=1, width=2),
                    mode="lines+markers",
                    name=METRICS[m],
                    legendgroup=m,
                    showlegend=col == 1,
                    line=dict(color=METRIC_COLORS.get(m)),
                    hovertemplate=f"layer %{{x}}<br>{METRICS[m]}: %{{y:.4g}}<extra>{POSITION_NAMES[res.norm_position]}"
                    "</extra>",
                ),
                row=1,
                col=col,
            )
    fig.update_layout(**base_layout("Gradient Frobenius norm per layer at initialisation (mean over seeds)", 440))
    fig.update_layout(legend=dict(orientation="h", y=-0.18), margin=dict(t=70))
    fig.update_yaxes(type="log", title="‖∂ℒ/∂·‖<sub>F</sub>", row=1, col=1)
    fig.update_yaxes(type="log", row=1, col=2)
    fig.update_xaxes(title="layer (1 = next to the input)", dtick=1 if pre.num_layers <= 12 else 2)
    return subplot_titles(fig)


def depth_figure(sweep: dict[str, list[float]], metric: str = "w1") -> go.Figure:
    """Left: last-layer gradient norm vs depth (log–log) with a c/√L guide through pre-LN's first point.
    Right: the post/pre ratio vs depth with a c·√L guide. `sweep` is analysis.ratio_vs_depth's output."""
    L = sweep["depth"]
    fig = make_subplots(
        rows=1,
        cols=2,
        horizontal_spacing=0.1,
        subplot_titles=(f"Last layer: {METRICS[metric]}", "Post-LN / Pre-LN at the last layer"),
    )
    for pos in ("pre", "post"):
        fig.add_trace(
            go.Scatter(
                x=L,
                y=sweep[pos],
                mode="lines+markers",
                name=POSITION_NAMES[pos],
                line=dict(color=POSITION_COLORS[pos]),
                hovertemplate="L = %{x}<br>%{y:.4g}<extra>" + POSITION_NAMES[pos] + "</extra>",
            ),
            row=1,
            col=1,
        )
    c = sweep["pre"][0] * L[0] ** 0.5  # Theorem 1: pre-LN ∝ 1/√L
    fig.add_trace(
        go.Scatter(
            x=L,
            y=[c / x**0.5 for x in L],
            mode="lines",
            name="∝ 1/√L",
            line=dict(color=POSITION_COLORS["pre"], dash="dot"),
            hoverinfo="skip",
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=L,
            y=sweep["ratio"],
            mode="lines+markers",
            name="post / pre",
            line=dict(color="#333333"),
            hovertemplate="L = %{x}<br>ratio %{y:.2f}<extra></extra>",
        ),
        row=1,
        col=2,
    )
    r = sweep["ratio"][0] / L[0] ** 0.5  # so post/pre ∝ √L
    fig.add_trace(
        go.Scatter(
            x=L,
            y=[r * x**0.5 for x in L],
            mode="lines",
            name="∝ √L",
            line=dict(color="#333333", dash="dot"),
            hoverinfo="skip",
        ),
        row=1,
        col=2,
    )
    fig.update_layout(**base_layout("How the last layer's gradient scales with depth", 420))
    fig.update_layout(legend=dict(orientation="h", y=-0.2), margin=dict(t=70))
    fig.update_xaxes(title="depth L", tickvals=L)
    fig.update_yaxes(type="log", title="‖∂ℒ/∂W‖<sub>F</sub>", row=1, col=1)
    fig.update_yaxes(title="ratio", rangemode="tozero", row=1, col=2)
    return subplot_titles(fig)


def loss_figure(history: dict[str, Sequence[StepLog]]) -> go.Figure:
    """Training loss (log scale) and answer accuracy over the steps, one colour per norm position."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.08, subplot_titles=("Loss", "Answer accuracy"))
    for pos, logs in history.items():
        steps = [s.step for s in logs]
        name, color = POSITION_NAMES.get(pos, pos), POSITION_COLORS.get(pos)
        fig.add_trace(
            go.Scatter(
                x=steps, y=[s.loss for s in logs], mode="lines", name=name, legendgroup=pos, line=dict(color=color)
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=steps,
                y=[s.accuracy for s in logs],
                mode="lines",
                name=name,
                legendgroup=pos,
                showlegend=False,
                line=dict(color=color),
            ),
            row=1,
            col=2,
        )
    fig.update_layout(**base_layout("Training", 360))
    fig.update_layout(margin=dict(t=70))
    fig.update_yaxes(type="log", title="cross-entropy", row=1, col=1)
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%", row=1, col=2)
    fig.update_xaxes(title="step")
    return subplot_titles(fig)


def live_grad_figure(history: dict[str, Sequence[StepLog]]) -> go.Figure:
    """Per-layer gradient norm over the steps, one panel per norm position (shared log y); layer colours go
    from dark (layer 1) to yellow (last layer)."""
    positions = list(history)
    fig = make_subplots(
        rows=1,
        cols=max(1, len(positions)),
        shared_yaxes=True,
        horizontal_spacing=0.04,
        subplot_titles=[POSITION_NAMES.get(p, p) for p in positions] or [""],
    )
    for col, pos in enumerate(positions, start=1):
        logs = history[pos]
        if not logs:
            continue
        L = len(logs[0].grad_norms)
        colors = sample_colorscale(PROB_SCALE, [i / max(1, L - 1) for i in range(L)])
        steps = [s.step for s in logs]
        for i in range(L):
            fig.add_trace(
                go.Scatter(
                    x=steps,
                    y=[s.grad_norms[i] for s in logs],
                    mode="lines",
                    name=f"layer {i + 1}",
                    legendgroup=f"l{i}",
                    showlegend=col == 1,
                    line=dict(color=colors[i], width=1.5),
                    hovertemplate=f"layer {i + 1}, step %{{x}}: %{{y:.3g}}<extra></extra>",
                ),
                row=1,
                col=col,
            )
    fig.update_layout(**base_layout("Gradient norm of each layer's parameters during training", 380))
    fig.update_layout(margin=dict(t=70))
    fig.update_yaxes(type="log", title="‖∂ℒ/∂θ<sub>layer</sub>‖<sub>F</sub>", row=1, col=1)
    for col in range(2, len(positions) + 1):
        fig.update_yaxes(type="log", row=1, col=col)
    fig.update_xaxes(title="step")
    return subplot_titles(fig)
