"""Figures of the copy mechanism and guided attention (Encoder–decoder page): one pointer step (p_gen, the copy
distribution, the vocabulary top-k and the mix), the copy map with p_gen per step, three attention maps side by
side, diagonality curves, and the training curves of the shipped models. Arrays in, plotly figures out."""

from __future__ import annotations

import html

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from xviz.plots.encdec import show_tok
from xviz.plots.heatmap import to_numpy
from xviz.plots.style import PROB_SCALE, base_layout, subplot_titles

GEN, COPY, MIX, GREY = "#2a9d4b", "#e07b00", "#1f5fa8", "#9a9a9a"
VARIANT_COLOURS = {"plain": "#7a7a7a", "guided": "#1f5fa8", "location": "#e07b00", "pointer": "#e07b00"}


def _labels(tokens) -> list[str]:
    return [f"{i}:{html.escape(show_tok(t))}" for i, t in enumerate(tokens)]


def pointer_step_figure(step, source_tokens, title: str) -> go.Figure:
    """One output step of the pointer (analysis.copy_guided.PointerStep): p_gen as a bar (with 1 − p_gen), the copy
    distribution over the source tokens, P_vocab's top-k, and the final mixed top-k."""
    fig = make_subplots(
        rows=1,
        cols=4,
        column_widths=[0.1, 0.4, 0.25, 0.25],
        subplot_titles=("p_gen", "copy distribution (attention)", "P_vocab top-k", "final P(w) top-k"),
    )
    pg = step.p_gen if step.p_gen is not None else 1.0
    fig.add_trace(go.Bar(x=["gen", "copy"], y=[pg, 1 - pg], marker_color=[GEN, COPY], name="p_gen"), 1, 1)
    fig.add_trace(go.Bar(x=_labels(source_tokens), y=step.copy, marker_color=COPY, name="a_i"), 1, 2)
    for col, top, colour in ((3, step.vocab_top, GEN), (4, step.final_top, MIX)):
        xs = [html.escape(show_tok(w)) for w, _ in top]
        fig.add_trace(go.Bar(x=xs, y=[p for _, p in top], marker_color=colour, name="p"), 1, col)
    fig.update_layout(**base_layout(title, 320), showlegend=False)
    fig.update_yaxes(range=[0, 1])
    return subplot_titles(fig)


def copy_map_figure(attn, source_tokens, output_tokens, p_gen, title: str) -> go.Figure:
    """Copy distribution per output step (rows) over the source (columns), with p_gen per step on the right."""
    arr = to_numpy(attn)
    rows = [f"{t + 1}:{html.escape(show_tok(w))}" for t, w in enumerate(output_tokens)]
    fig = make_subplots(rows=1, cols=2, column_widths=[0.8, 0.2], shared_yaxes=True, horizontal_spacing=0.04)
    fig.add_trace(
        go.Heatmap(
            z=arr,
            x=_labels(source_tokens),
            y=rows,
            zmin=0,
            zmax=1,
            colorscale=PROB_SCALE,
            colorbar=dict(thickness=10, x=1.02),
            hovertemplate="%{y} ← %{x}<br>attention=%{z:.3f}<extra></extra>",
        ),
        1,
        1,
    )
    if p_gen is not None:
        pg = to_numpy(p_gen)
        fig.add_trace(go.Bar(x=pg, y=rows, orientation="h", marker_color=GEN, name="p_gen"), 1, 2)
        fig.update_xaxes(range=[0, 1], title="p_gen", row=1, col=2)
    fig.update_yaxes(autorange="reversed")
    fig.update_yaxes(title="output step", row=1, col=1)
    fig.update_xaxes(title="source token", tickangle=-45, row=1, col=1)
    fig.update_layout(**base_layout(title, max(300, 34 * len(rows) + 170)), showlegend=False)
    return fig


def attention_maps_figure(maps: dict, src_tokens, tgt_tokens: dict, title: str) -> go.Figure:
    """Side-by-side cross-attention maps {label: (T, N) array}; tgt_tokens {label: row labels}."""
    names = list(maps)
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=names, horizontal_spacing=0.05)
    for c, name in enumerate(names, start=1):
        arr = to_numpy(maps[name])
        ys = [f"{t}:{html.escape(show_tok(w))}" for t, w in enumerate(tgt_tokens[name])][: arr.shape[0]]
        fig.add_trace(
            go.Heatmap(
                z=arr,
                x=_labels(src_tokens)[: arr.shape[1]],
                y=ys,
                zmin=0,
                zmax=1,
                colorscale=PROB_SCALE,
                showscale=c == len(names),
                colorbar=dict(thickness=10),
                hovertemplate="%{y} ← %{x}<br>attention=%{z:.3f}<extra></extra>",
            ),
            1,
            c,
        )
        fig.update_yaxes(autorange="reversed", showticklabels=c == 1, row=1, col=c)
    n_rows = max(to_numpy(m).shape[0] for m in maps.values())
    fig.update_xaxes(title="source digit", tickangle=0)
    fig.update_yaxes(title="output character", row=1, col=1)
    fig.update_layout(**base_layout(title, min(760, max(340, 9 * n_rows + 180))))
    return subplot_titles(fig)


def curves_figure(curves: dict, key: str, title: str, y_title: str, y_range=(0, 1.02)) -> go.Figure:
    """One line per model: curves {label: {"step": [...], key: [...]}}."""
    fig = go.Figure()
    for label, c in curves.items():
        variant = label.split("-")[-1]
        fig.add_trace(
            go.Scatter(
                x=c["step"],
                y=c[key],
                name=label,
                mode="lines+markers",
                line=dict(color=VARIANT_COLOURS.get(variant, MIX)),
            )
        )
    fig.update_layout(**base_layout(title, 340), legend=dict(orientation="h", y=-0.25))
    fig.update_xaxes(title="training step")
    fig.update_yaxes(title=y_title, range=list(y_range))
    return fig


CURVE_NAMES = {
    "exact_held_out": "exact match, held-out",
    "exact_never_seen": "exact match, never-seen words",
    "unk_held_out": "<unk> accepted for rare words, held-out",
    "unk_never_seen": "<unk> accepted for rare words, never-seen",
    "exact_long_10": "exact match, 10 digits (longer than trained)",
    "diagonality": "diagonality",
    "align_acc": "alignment accuracy",
}


def copy_curve_figure(curve: dict[str, list[float]], title: str = "copy model training") -> go.Figure:
    """Training curve of a copy model (its CSV): loss, and exact match on both test splits."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("training loss", "exact match (200 per split)"))
    fig.add_trace(go.Scatter(x=curve["step"], y=curve["loss_nll"], name="loss", mode="lines"), 1, 1)
    for k in [c for c in curve if c.startswith(("exact_", "unk_"))]:
        dash = "solid" if k.startswith("exact_") else "dot"
        line = go.Scatter(x=curve["step"], y=curve[k], name=CURVE_NAMES.get(k, k), mode="lines+markers")
        fig.add_trace(line.update(line=dict(dash=dash)), 1, 2)
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_yaxes(range=[0, 1.02], row=1, col=2)
    fig.update_xaxes(title="step")
    fig.update_layout(**base_layout(title, 380), legend=dict(orientation="h", y=-0.3))
    return subplot_titles(fig)


def monotonic_curve_figure(curve: dict[str, list[float]], title: str = "monotonic model training") -> go.Figure:
    """Training curve of a monotonic model (its CSV): losses, diagonality, exact match in and beyond the lengths."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("training losses", "diagonality and exact match"))
    for k in [c for c in curve if c.startswith("loss_")]:
        fig.add_trace(go.Scatter(x=curve["step"], y=curve[k], name=k, mode="lines"), 1, 1)
    for k in [c for c in curve if c.startswith(("diagonality", "align", "exact_"))]:
        fig.add_trace(go.Scatter(x=curve["step"], y=curve[k], name=CURVE_NAMES.get(k, k), mode="lines+markers"), 1, 2)
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_yaxes(range=[0, 1.02], row=1, col=2)
    fig.update_xaxes(title="step")
    fig.update_layout(**base_layout(title, 380), legend=dict(orientation="h", y=-0.3))
    return subplot_titles(fig)
