"""Figures of the Encoder–decoder page: cross-attention with the known alignment, score grids, decoding steps,
the beam tree, and the training curve of `seq2seq-tiny`. Arrays in, plotly figures out; no streamlit."""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from xviz.plots.heatmap import heatmap, to_numpy
from xviz.plots.style import SEQ_SCALE, base_layout, subplot_titles

STATUS_COLOURS = {"root": "#444444", "kept": "#1f5fa8", "finished": "#2a9d4b", "pruned": "#c8c8c8"}


def show_tok(t: str) -> str:
    return "␣" if t == " " else t


def attention_map(
    probs,
    src_labels,
    tgt_labels,
    title: str,
    align=None,
    x_title="source token",
    y_title="decoder input (predicts the next)",
) -> go.Figure:
    """probs (Nt, Ns) heatmap; align (Nt, Ns) bool: the known alignment drawn as open squares."""
    fig = heatmap(
        probs,
        [show_tok(s) for s in src_labels],
        [show_tok(s) for s in tgt_labels],
        title=title,
        zmin=0,
        zmax=1,
        value_name="attention",
        x_title=x_title,
        y_title=y_title,
        height=420,
    )
    if align is not None:
        ys, xs = np.nonzero(to_numpy(align) > 0)
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="markers",
                name="known alignment",
                hoverinfo="skip",
                marker=dict(symbol="square-open", size=13, color="#ff4d4d", line=dict(width=2)),
            )
        )
        fig.update_layout(showlegend=True, legend=dict(orientation="h", y=1.08, x=1, xanchor="right"))
    return fig


def score_grid(scores, title: str, value_name: str = "alignment score") -> go.Figure:
    """(L, H) grid of per-head scores."""
    arr = to_numpy(scores)
    L, H = arr.shape
    fig = heatmap(
        arr,
        [f"head {h}" for h in range(H)],
        [f"layer {i}" for i in range(L)],
        title=title,
        colorscale=SEQ_SCALE,
        zmin=0,
        zmax=1,
        value_name=value_name,
        x_title="",
        y_title="",
        height=260,
    )
    fig.update_traces(texttemplate="%{z:.2f}", selector=dict(type="heatmap"))
    return fig


def step_figure(src_labels, cross_row, top_labels, top_probs, title: str) -> go.Figure:
    """One decoding step: its cross-attention row over the source (bars) and the next-token top-k."""
    fig = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.65, 0.35],
        subplot_titles=("cross-attention over the source (mean of heads)", "next token, top-k"),
    )
    xs = [f"{i}:{show_tok(s)}" for i, s in enumerate(src_labels)]
    fig.add_trace(go.Bar(x=xs, y=to_numpy(cross_row), marker_color="#1f5fa8", name="attention"), 1, 1)
    fig.add_trace(
        go.Bar(x=[html.escape(show_tok(t)) for t in top_labels], y=list(top_probs), marker_color="#2a9d4b", name="p"),
        1,
        2,
    )
    fig.update_layout(**base_layout(title, 300), showlegend=False)
    fig.update_yaxes(range=[0, 1])
    return subplot_titles(fig)


def beam_tree_figure(nodes, decode, best_ids: set[int], title: str) -> go.Figure:
    """Beam search tree: x = step, y = rank of the node at its step; edges to parents; colour = status."""
    by_step: dict[int, list] = {}
    for n in nodes:
        by_step.setdefault(n.step, []).append(n)
    pos = {}
    for step, ns in by_step.items():
        for r, n in enumerate(sorted(ns, key=lambda n: -n.score)):
            pos[n.id] = (step, -r)
    ex, ey = [], []
    for n in nodes:
        if n.parent is not None:
            (x0, y0), (x1, y1) = pos[n.parent], pos[n.id]
            ex += [x0, x1, None]
            ey += [y0, y1, None]
    fig = go.Figure(
        go.Scatter(x=ex, y=ey, mode="lines", line=dict(color="#bbbbbb", width=1), hoverinfo="skip", showlegend=False)
    )
    for status, colour in STATUS_COLOURS.items():
        ns = [n for n in nodes if n.status == status]
        if not ns:
            continue
        fig.add_trace(
            go.Scatter(
                x=[pos[n.id][0] for n in ns],
                y=[pos[n.id][1] for n in ns],
                mode="markers+text",
                name=status,
                text=[html.escape(show_tok(decode([n.token])[0])) for n in ns],
                textposition="middle center",
                marker=dict(
                    size=[22 if n.id in best_ids else 16 for n in ns],
                    color=colour,
                    line=dict(width=[3 if n.id in best_ids else 0 for n in ns], color="#e05a00"),
                ),
                textfont=dict(color="#555555" if status == "pruned" else "white", size=10),
                hovertext=[f"log p(token) = {n.logp:.3f}<br>score = {n.score:.3f}" for n in ns],
                hoverinfo="text",
            )
        )
    fig.update_layout(**base_layout(title, 360), legend=dict(orientation="h", y=1.1, x=1, xanchor="right"))
    fig.update_xaxes(title="step", dtick=1)
    fig.update_yaxes(title="rank at that step (0 = best)", showticklabels=False)
    return fig


def training_curve_figure(curve: dict[str, list[float]]) -> go.Figure:
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("training losses", "held-out exact match (100 per task; last point: the full set)"),
    )
    for k in ("loss_at", "loss_nat", "loss_length"):
        fig.add_trace(go.Scatter(x=curve["step"], y=curve[k], name=k, mode="lines"), 1, 1)
    for k in [c for c in curve if c.startswith(("at_", "nat_"))]:
        fig.add_trace(
            go.Scatter(
                x=curve["step"],
                y=curve[k],
                name=k,
                mode="lines+markers",
                line=dict(dash="solid" if k.startswith("at_") else "dot"),
            ),
            1,
            2,
        )
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_yaxes(range=[0, 1.02], row=1, col=2)
    fig.update_xaxes(title="step")
    fig.update_layout(**base_layout("seq2seq-tiny training", 380))
    return subplot_titles(fig)
