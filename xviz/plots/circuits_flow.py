"""The information-flow graph (Ferrando & Voita 2024): positions left to right, layers bottom to top; each layer is
two rows (the stream entering it, and the stream after its attention); edges: attention from a source position
(blue), the MLP (orange, drawn beside the residual), the residual skip (thin grey: it carries most of every
stream). Width and opacity of attention and MLP edges grow with the importance; hovering an edge's middle shows
its layer, head and the tokens it promotes."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from xviz.plots.circuits import ATTN_COLOUR, MLP_COLOUR, RES_COLOUR
from xviz.plots.lm import tok
from xviz.plots.style import base_layout

BUCKETS = (0.1, 0.2, 0.35, 0.6)  # importance thresholds between the drawn widths
MLP_DX = 0.28  # the MLP's detour to the right of the residual line


def _y(node: tuple[str, int, int]) -> float:
    kind, layer, _ = node
    return 2 * layer + (1 if kind == "mid" else 0)


def _bucket(w: float) -> int:
    return sum(w >= b for b in BUCKETS)


def _segment(e) -> tuple[list[float], list[float], tuple[float, float]]:
    """Polyline of one edge (x, y) and the point where its hover marker sits."""
    (x0, y0), (x1, y1) = (e.src[2], _y(e.src)), (e.dst[2], _y(e.dst))
    if e.kind == "mlp":
        xm, ym = x0 + MLP_DX, (y0 + y1) / 2
        return [x0, xm, x1], [y0, ym, y1], (xm, ym)
    return [x0, x1], [y0, y1], ((x0 + x1) / 2, (y0 + y1) / 2)


COLOURS = {"attn": ATTN_COLOUR, "mlp": MLP_COLOUR, "res": RES_COLOUR}


def _edge_traces(edges: Sequence, hover: dict) -> list[go.Scatter]:
    """Edges grouped by kind and importance bucket (one line trace each), one invisible hover marker per edge at its
    middle, and the nodes they join."""
    lines: dict[tuple[str, int], tuple[list, list]] = {}
    mx, my, mt, nodes = [], [], [], set()
    for e in edges:
        xs, ys, (hx, hy) = _segment(e)
        xl, yl = lines.setdefault((e.kind, _bucket(e.weight)), ([], []))
        xl += xs + [None]
        yl += ys + [None]
        mx.append(hx)
        my.append(hy)
        mt.append(hover.get(e, f"{e.kind} {e.weight:.2f}"))
        nodes.update((e.src, e.dst))
    traces = []
    for (kind, b), (xl, yl) in sorted(lines.items(), key=lambda kv: (kv[0][0] != "res", kv[0][1])):
        res = kind == "res"  # the residual carries most of every stream: drawn thin, as the background
        line = dict(color="#cfcfcf" if res else COLOURS[kind], width=1.2 if res else 1 + 1.5 * b)
        traces.append(
            go.Scatter(x=xl, y=yl, mode="lines", line=line, opacity=1.0 if res else 0.45 + 0.12 * b,
                       hoverinfo="skip", showlegend=False)
        )  # fmt: skip
    traces.append(
        go.Scatter(x=mx, y=my, mode="markers", marker=dict(size=9, opacity=0.0), text=mt, hoverinfo="text",
                   showlegend=False)
    )  # fmt: skip
    traces.append(
        go.Scatter(x=[n[2] for n in nodes], y=[_y(n) for n in nodes], mode="markers",
                   marker=dict(size=3, color="#9a9a9a"), hoverinfo="skip", showlegend=False)
    )  # fmt: skip
    return traces


def flow_figure(edges: Sequence, tokens: Sequence[str], num_layers: int, hover: dict, title: str) -> go.Figure:
    """edges: objects with kind, layer, src, dst, weight (analysis.info_flow.Edge); hover: edge → text."""
    fig = go.Figure(_edge_traces(edges, hover))
    for kind, name in (("attn", "attention (source → query)"), ("mlp", "MLP"), ("res", "residual")):
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", line=dict(color=COLOURS[kind], width=3), name=name))
    n, step = len(tokens), max(1, num_layers // 15)
    fig.update_layout(
        **base_layout(title, min(1150, 15 * (2 * num_layers + 1) + 190)), legend=dict(orientation="h", y=1.02, x=0.3)
    )
    fig.update_xaxes(
        tickmode="array",
        tickvals=list(range(n)),
        ticktext=[tok(t, 10) for t in tokens],
        tickangle=-50,
        range=[-0.6, n - 0.4],
        showgrid=False,
        zeroline=False,
    )
    fig.update_yaxes(
        tickmode="array",
        tickvals=[2 * lay for lay in range(0, num_layers + 1, step)],
        ticktext=[f"L{lay}" if lay < num_layers else "out" for lay in range(0, num_layers + 1, step)],
        title="layer (the stream entering it)",
        showgrid=True,
        gridcolor="#f0f0f0",
        zeroline=False,
        range=[-1, 2 * num_layers + 1],
    )
    return fig
