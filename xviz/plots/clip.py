"""Figures of the CLIP page: zero-shot bars, probabilities per prompt template, two settings side by side, the
images × captions matrices, and the text tower's pooled row. Labels and captions are user text: every one is
HTML-escaped (plotly renders a subset of HTML in labels). Relevance maps on the image use plots.vision."""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from xviz.plots.heatmap import heatmap, to_numpy
from xviz.plots.style import PROB_SCALE, SIGNED_SCALE, base_layout, subplot_titles

BAR = "#1f5fa8"
BAR_B = "#d1495b"


def label(text: str, n: int = 36) -> str:
    """User text as a short, escaped axis label."""
    text = " ".join(text.split()) or "∅"
    return html.escape(text if len(text) <= n else text[: n - 1] + "…", quote=False)


def _unique(labels: Sequence[str]) -> list[str]:
    """Escaped labels made unique (plotly merges equal category labels): a repeat gets a counter."""
    out, seen = [], {}
    for t in labels:
        s = label(t)
        seen[s] = seen.get(s, 0) + 1
        out.append(s if seen[s] == 1 else f"{s} ({seen[s]})")
    return out


def label_bars(labels: Sequence[str], probs, title: str, sigmoid: bool = False, height: int | None = None):
    """One bar per label, most likely on top; SigLIP's probabilities are independent (they need not sum to 1)."""
    p = to_numpy(probs).astype(float)
    order = np.argsort(-p)
    ys = [_unique(labels)[i] for i in order]
    fig = go.Figure(
        go.Bar(
            x=p[order],
            y=ys,
            orientation="h",
            marker_color=BAR,
            text=[f"{v:.3f}" for v in p[order]],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}: p = %{x:.4f}<extra></extra>",
        )
    )
    fig.update_layout(**base_layout(title, height or max(220, 26 * len(ys) + 90)))
    fig.update_yaxes(autorange="reversed", type="category")
    what = "σ(logit) per label" if sigmoid else "probability (softmax over the labels)"
    fig.update_xaxes(title=what, range=[0, min(1.0, float(p.max(initial=0)) * 1.25 + 0.02)])
    return fig


def template_heatmap(per_template, templates: Sequence[str], labels: Sequence[str], title: str):
    """(T, n) probabilities: rows = templates ({} shown as [label]), columns = labels, values in the cells; the
    brightest cell of a row is the answer that template gives."""
    arr = to_numpy(per_template).astype(float)
    rows = _unique([t.replace("{}", "[label]") for t in templates])
    fig = go.Figure(
        go.Heatmap(
            z=arr,
            x=_unique(labels),
            y=rows,
            colorscale=PROB_SCALE,
            zmin=0.0,
            text=[[f"{v:.2f}" for v in r] for r in arr],
            texttemplate="%{text}" if arr.size <= 120 else None,
            colorbar=dict(thickness=10),
            hovertemplate="%{y}<br>label %{x}: p = %{z:.4f}<extra></extra>",
        )
    )
    fig.update_layout(**base_layout(title, max(240, 34 * len(rows) + 170)))
    fig.update_yaxes(autorange="reversed", type="category", title="template")
    fig.update_xaxes(type="category", tickangle=-30, title="label")
    return fig


def compare_bars(labels: Sequence[str], a, b, names=("A", "B"), title: str = "A vs B"):
    """Grouped bars of two settings on the same labels, and A − B."""
    ys = _unique(labels)
    pa, pb = to_numpy(a).astype(float), to_numpy(b).astype(float)
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, subplot_titles=("probabilities", "A − B"))
    for name, p, colour in ((names[0], pa, BAR), (names[1], pb, BAR_B)):
        fig.add_trace(go.Bar(x=p, y=ys, orientation="h", name=label(name, 40), marker_color=colour), 1, 1)
    d = pa - pb
    fig.add_trace(
        go.Bar(x=d, y=ys, orientation="h", showlegend=False, marker_color=np.where(d >= 0, BAR, BAR_B).tolist()), 1, 2
    )  # blue: A gives more, red: B gives more
    fig.update_layout(**base_layout(title, max(260, 34 * len(ys) + 120)))
    fig.update_layout(barmode="group", legend=dict(orientation="h", y=-0.15))
    fig.update_yaxes(autorange="reversed", type="category")
    return subplot_titles(fig)


def matrix_figure(mat, rows: Sequence[str], cols: Sequence[str], title: str, signed: bool = False, fmt: str = ".2f"):
    """A small n × n matrix (images × captions), values in the cells, the matched pairs (diagonal) outlined;
    the axes read "image i" / "caption j", the hover gives the caption itself."""
    arr = to_numpy(mat).astype(float)
    n_r, n_c = arr.shape
    caps = np.array([[label(cols[j], 80) for j in range(n_c)] for _ in range(n_r)], dtype=object)
    fig = go.Figure(
        go.Heatmap(
            z=arr,
            x=[f"caption {j}" for j in range(n_c)],
            y=[f"image {i}" for i in range(n_r)],
            colorscale=SIGNED_SCALE if signed else PROB_SCALE,
            zmid=0.0 if signed else None,
            text=[[format(v, fmt) for v in r] for r in arr],
            texttemplate="%{text}",
            customdata=caps,
            colorbar=dict(thickness=10),
            hovertemplate="%{y}, %{x}: %{customdata}<br>%{z:.4g}<extra></extra>",
        )
    )
    for i in range(min(n_r, n_c)):
        fig.add_shape(type="rect", x0=i - 0.5, x1=i + 0.5, y0=i - 0.5, y1=i + 0.5, line=dict(color="#111", width=2))
    fig.update_layout(**base_layout(title, max(260, 40 * n_r + 120)))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category")
    return fig


def loss_bars(rows, cols, row_names: Sequence[str], title: str, sigmoid: bool):
    """Each image's and each caption's loss term (CLIP: the two cross-entropies; SigLIP: summed pair losses)."""
    n = len(row_names)
    names = [f"image {i} / caption {i}" for i in range(n)]
    fig = go.Figure()
    first = "image row: −log σ(z·logit), summed" if sigmoid else "image → caption CE"
    second = "caption column, summed" if sigmoid else "caption → image CE"
    fig.add_trace(go.Bar(x=names, y=to_numpy(rows), name=first, marker_color=BAR))
    fig.add_trace(go.Bar(x=names, y=to_numpy(cols), name=second, marker_color=BAR_B))
    fig.update_layout(**base_layout(title, 300))
    fig.update_layout(barmode="group", legend=dict(orientation="h", y=-0.2))
    fig.update_yaxes(title="loss (nats)")
    return fig


def pooled_rows_figure(rows, tokens: Sequence[str], pool: int, title: str):
    """(L, N): the pooled position's attention over the tokens in every layer (mean of heads); ▶ marks it."""
    arr = to_numpy(rows)
    return heatmap(
        arr,
        x_labels=[("▶ " if i == pool else "") + t for i, t in enumerate(tokens)],
        y_labels=[f"layer {i}" for i in range(arr.shape[0])],
        title=title,
        colorscale=PROB_SCALE,
        zmin=0.0,
        height=max(240, 26 * arr.shape[0] + 170),
        value_name="attention",
        x_title="key token",
        y_title="layer",
    )
