"""Figures of the Language-model page: next-token bars, the logit lens, the beam tree, decoding steps, head
scores, ablation. Token strings arrive decoded; every label is HTML-escaped (plotly renders a subset of HTML)."""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from xviz.plots.heatmap import heatmap
from xviz.plots.style import PROB_SCALE, SEQ_SCALE, SIGNED_SCALE, base_layout, subplot_titles

STATUS_COLOURS = {"running": "#1f5fa8", "finished": "#2a9d4b", "pruned": "#b9b9b9", "final": "#d1495b"}


def tok(t: str, n: int = 14) -> str:
    """A token as a visible, escaped label: spaces as '␣', newlines as '⏎', shortened."""
    t = t.replace(" ", "␣").replace("\n", "⏎").replace("\t", "⇥") or "∅"
    return html.escape(t if len(t) <= n else t[: n - 1] + "…", quote=False)


def next_token_bars(
    tokens: Sequence[str], probs: Sequence[float], title: str = "Next token", height: int = 360
) -> go.Figure:
    """Horizontal bars, most likely on top."""
    labels = [f"{tok(t)} " for t in tokens]
    fig = go.Figure(
        go.Bar(
            x=list(probs),
            y=labels,
            orientation="h",
            marker_color="#1f5fa8",
            text=[f"{p:.3f}" for p in probs],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}: p=%{x:.4f}<extra></extra>",
        )
    )
    fig.update_layout(**base_layout(title, height))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(title="probability", range=[0, min(1.0, max(probs, default=1) * 1.2 + 0.02)])
    return fig


def compare_bars(
    tokens: Sequence[str],
    a: Sequence[float],
    b: Sequence[float],
    names=("A", "B"),
    title: str = "A vs B",
    height: int = 420,
) -> go.Figure:
    """Grouped bars of two distributions on the same tokens, and B − A."""
    labels = [tok(t) for t in tokens]
    fig = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.62, 0.38],
        horizontal_spacing=0.12,
        subplot_titles=("probability", f"{names[1]} − {names[0]}"),
    )
    fig.add_trace(go.Bar(x=list(a), y=labels, orientation="h", name=names[0], marker_color="#1f5fa8"), 1, 1)
    fig.add_trace(go.Bar(x=list(b), y=labels, orientation="h", name=names[1], marker_color="#e07b39"), 1, 1)
    diff = np.asarray(b) - np.asarray(a)
    fig.add_trace(
        go.Bar(
            x=diff,
            y=labels,
            orientation="h",
            showlegend=False,
            marker_color=["#2a9d4b" if d >= 0 else "#d1495b" for d in diff],
        ),
        1,
        2,
    )
    fig.update_layout(**base_layout(title, height), barmode="group")
    fig.update_yaxes(autorange="reversed", type="category")
    return subplot_titles(fig)


def lens_heatmap(
    top_tokens: Sequence[Sequence[str]],
    top_probs: np.ndarray,
    layers: Sequence[str],
    inputs: Sequence[str],
    title: str = "Logit lens: each layer's top next token",
) -> go.Figure:
    """Layers (rows, last layer on top) × positions; cell colour = probability of the layer's top token, cell
    text = that token. `inputs` label the columns (the token at each position)."""
    probs = np.asarray(top_probs, dtype=np.float32)  # (L+1, W); y grows upwards: emb at the bottom
    text = [[tok(t, 8) for t in row] for row in top_tokens]
    nrow, ncol = probs.shape
    fig = go.Figure(
        go.Heatmap(
            z=probs,
            x=list(range(ncol)),
            y=list(range(nrow)),
            text=text,
            texttemplate="%{text}",
            textfont=dict(size=9),
            colorscale=PROB_SCALE,
            zmin=0,
            zmax=1,
            colorbar=dict(title="p", thickness=12),
            hovertemplate="%{text}: p=%{z:.3f}<extra></extra>",
        )
    )
    fig.update_layout(**base_layout(title, max(420, 17 * nrow + 160)))
    fig.update_xaxes(
        tickmode="array",
        tickvals=list(range(ncol)),
        ticktext=[tok(t, 10) for t in inputs],
        tickangle=-50,
        title="input token (predicting the next one)",
        showgrid=False,
    )
    fig.update_yaxes(tickmode="array", tickvals=list(range(nrow)), ticktext=list(layers), title="layer", showgrid=False)
    return fig


def answer_curve(
    layers: Sequence[str], rank: Sequence[int], prob: Sequence[float], answer: str, height: int = 340
) -> go.Figure:
    """Rank (log scale, 1 = top) and probability of the final answer at the last position, per layer."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    x = list(layers)
    fig.add_trace(
        go.Scatter(x=x, y=[r + 1 for r in rank], name="rank (1 = top)", mode="lines+markers", line_color="#1f5fa8"),
        secondary_y=False,
    )
    fig.add_trace(
        go.Scatter(x=x, y=list(prob), name="probability", mode="lines+markers", line_color="#e07b39"), secondary_y=True
    )
    fig.update_layout(
        **base_layout(f"The final answer {tok(answer, 20)} across layers", height),
        legend=dict(orientation="h", y=-0.25),
    )
    fig.update_yaxes(type="log", title="rank", autorange="reversed", secondary_y=False)
    fig.update_yaxes(
        title="probability",
        range=[0, 1],
        tickmode="array",
        tickvals=[0, 0.25, 0.5, 0.75, 1],
        showgrid=False,
        secondary_y=True,
    )
    fig.update_xaxes(title="layer", type="category")
    return fig


def beam_tree(nodes, labels: dict[int, str], final_ids: set[int], height: int = 480) -> go.Figure:
    """Every expansion of a beam search: x = step, y = rank among that step's candidates, an edge to the beam
    it extends; colour = what became of it (running / finished / pruned / a final beam's path)."""
    by_step: dict[int, list] = {}
    for n in nodes:
        by_step.setdefault(n.step, []).append(n)
    pos = {-1: (-1, 0.0)}
    for step, ns in by_step.items():
        for rank, n in enumerate(sorted(ns, key=lambda n: -n.score)):
            pos[n.id] = (step, float(rank))
    on_path = _paths(nodes, final_ids)
    ex, ey = [], []
    for n in nodes:
        (x0, y0), (x1, y1) = pos.get(n.parent, (-1, 0.0)), pos[n.id]
        ex += [x0, x1, None]
        ey += [y0, y1, None]
    fig = go.Figure(
        go.Scatter(x=ex, y=ey, mode="lines", line=dict(color="#d0d0d0", width=1), hoverinfo="skip", showlegend=False)
    )
    for status, colour in STATUS_COLOURS.items():
        sel = [n for n in nodes if ("final" if n.id in on_path else n.status) == status]
        if sel:
            fig.add_trace(
                go.Scatter(
                    x=[pos[n.id][0] for n in sel],
                    y=[pos[n.id][1] for n in sel],
                    mode="markers+text",
                    text=[tok(labels.get(n.token, str(n.token)), 10) for n in sel],
                    textposition="middle right",
                    textfont=dict(size=10),
                    marker=dict(color=colour, size=9),
                    name=status,
                    customdata=[[n.score, n.final_score if n.final_score is not None else float("nan")] for n in sel],
                    hovertemplate="%{text}<br>log p (sum)=%{customdata[0]:.3f}<br>final score=%{customdata[1]:.3f}"
                    "<extra></extra>",
                )
            )
    fig.add_trace(
        go.Scatter(
            x=[-1],
            y=[0],
            mode="markers+text",
            text=["prompt"],
            textposition="middle left",
            marker=dict(color="black", size=9),
            showlegend=False,
            hoverinfo="skip",
        )
    )
    fig.update_layout(
        **base_layout("Beam tree: every candidate, by step and score rank", height),
        legend=dict(orientation="h", y=-0.15),
    )
    fig.update_xaxes(title="step", dtick=1)
    fig.update_yaxes(title="rank among the step's candidates", autorange="reversed")
    return fig


def _paths(nodes, final_ids: set[int]) -> set[int]:
    parent = {n.id: n.parent for n in nodes}
    on = set()
    for nid in final_ids:
        while nid >= 0 and nid not in on:
            on.add(nid)
            nid = parent.get(nid, -1)
    return on


def attention_rows(
    rows: np.ndarray, keys: Sequence[str], queries: Sequence[str], title: str, height: int = 420
) -> go.Figure:
    """Each generated token's attention row (steps × keys, zero-padded where a key did not exist yet)."""
    return heatmap(
        rows,
        x_labels=keys,
        y_labels=queries,
        title=title,
        value_name="attention",
        x_title="key token",
        y_title="new token (query)",
        height=height,
    )


def cache_timing(with_ms: Sequence[float], without_ms: Sequence[float], height: int = 320) -> go.Figure:
    steps = list(range(len(with_ms)))
    fig = go.Figure(
        [
            go.Scatter(x=steps, y=list(with_ms), name="with KV cache", mode="lines+markers"),
            go.Scatter(x=steps, y=list(without_ms), name="without (recompute all)", mode="lines+markers"),
        ]
    )
    fig.update_layout(**base_layout("Measured time per decoding step", height), legend=dict(orientation="h", y=-0.3))
    fig.update_xaxes(title="step (0 = prompt)", dtick=1)
    fig.update_yaxes(title="ms", rangemode="tozero")
    return fig


def head_scores(scores: np.ndarray, name: str, signed: bool = False, height: int = 520) -> go.Figure:
    """(L, H) → heatmap, layers on rows (0 at the top)."""
    arr = np.asarray(scores, dtype=np.float32)
    L, H = arr.shape
    kw = dict(colorscale=SIGNED_SCALE, zmid=0.0) if signed else dict(colorscale=SEQ_SCALE, zmin=0.0, zmax=1.0)
    return heatmap(
        arr,
        x_labels=[str(h) for h in range(H)],
        y_labels=[str(i) for i in range(L)],
        title=name,
        value_name=name,
        x_title="head",
        y_title="layer",
        height=height,
        **kw,
    )


def ablation_bars(
    tokens: Sequence[str],
    before: Sequence[float],
    after: Sequence[float],
    title: str = "Next token before / after the ablation",
) -> go.Figure:
    return compare_bars(tokens, before, after, ("before", "after"), title)
