"""Figures of the Circuits page: patching grids with confidence intervals, attribution vs real patching, the
faithfulness curve, direct-logit-attribution bars and head grid, the information-flow graph, QK/OV spectra and
composition maps. Arrays in, plotly figures out; token strings arrive decoded and are escaped here."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from xviz.plots.lm import tok
from xviz.plots.style import SEQ_SCALE, SIGNED_SCALE, base_layout, subplot_titles

ATTN_COLOUR, MLP_COLOUR, RES_COLOUR = "#1f5fa8", "#e07b39", "#9a9a9a"


def _grid(
    z: np.ndarray,
    x_labels: Sequence[str],
    y_labels: Sequence[str],
    title: str,
    hover: np.ndarray,
    x_title: str,
    y_title: str = "layer",
    signed: bool = True,
    zmax: float | None = None,
    mid: float = 0.0,
) -> go.Figure:
    """A labelled (rows × columns) heatmap, layer 0 at the top, hover text per cell; signed: white at `mid`."""
    z = np.asarray(z, dtype=np.float32)
    ny, nx = z.shape
    m = zmax if zmax is not None else float(np.nanmax(np.abs(z - mid))) if np.isfinite(z).any() else 1.0
    scale = (
        dict(colorscale=SIGNED_SCALE, zmid=mid, zmin=mid - m, zmax=mid + m)
        if signed
        else dict(colorscale=SEQ_SCALE, zmin=0)
    )
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=list(range(nx)),
            y=list(range(ny)),
            customdata=hover,
            hovertemplate="%{customdata}<extra></extra>",
            colorbar=dict(thickness=12),
            xgap=1,
            ygap=1,
            **scale,
        )
    )
    fig.update_layout(**base_layout(title, max(320, min(760, 16 * ny + 150))))
    fig.update_xaxes(
        tickmode="array",
        tickvals=list(range(nx)),
        ticktext=list(x_labels),
        tickangle=0 if all(len(t) <= 3 for t in x_labels) else -50,  # head numbers upright, tokens slanted
        title=x_title,
        showgrid=False,
    )
    fig.update_yaxes(
        tickmode="array",
        tickvals=list(range(ny)),
        ticktext=list(y_labels),
        autorange="reversed",
        title=y_title,
        showgrid=False,
    )
    return fig


def patch_grid(
    mean: np.ndarray,
    half: np.ndarray | None,
    columns: Sequence[str],
    title: str,
    value_name: str,
    column_title: str,
    normalised: bool,
    corrupt: float = 0.0,
) -> go.Figure:
    """(L, n) mean patched metric, with the 95 % interval's half-width per cell on hover (when > 1 pair). White is
    "no change": 0 for the normalised recovery, the corrupted run's metric for raw values."""
    L, n = mean.shape
    cols = [tok(c, 12) for c in columns]
    hover = np.empty((L, n), dtype=object)
    for i in range(L):
        for j in range(n):
            ci = "" if half is None or not np.isfinite(half[i, j]) else f" ± {half[i, j]:.3f} (95 % CI)"
            hover[i, j] = f"layer {i}, {column_title} {j} {cols[j]}<br>{value_name} = {mean[i, j]:.3f}{ci}"
    zmax = max(1.0, float(np.nanmax(np.abs(mean)))) if normalised else None
    mid = 0.0 if normalised else corrupt
    return _grid(mean, cols, [str(i) for i in range(L)], title, hover, column_title, zmax=zmax, mid=mid)


def ci_grid(half: np.ndarray, columns: Sequence[str], title: str, column_title: str) -> go.Figure:
    """(L, n) half-widths of the 95 % intervals (how much the prompt pairs disagree)."""
    L, n = half.shape
    cols = [tok(c, 12) for c in columns]
    hover = np.array([[f"layer {i}, {cols[j]}: ± {half[i, j]:.3f}" for j in range(n)] for i in range(L)], dtype=object)
    return _grid(half, cols, [str(i) for i in range(L)], title, hover, column_title, signed=False)


def attribution_scatter(estimate: np.ndarray, actual: np.ndarray, labels: Sequence[str], title: str) -> go.Figure:
    """Attribution-patching estimate vs the real patched metric, one point per cell, with y = x."""
    est, act = np.asarray(estimate).ravel(), np.asarray(actual).ravel()
    lo, hi = float(min(est.min(), act.min())), float(max(est.max(), act.max()))
    fig = go.Figure(
        [
            go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", line=dict(color=RES_COLOUR, dash="dot"), name="y = x"),
            go.Scatter(
                x=act,
                y=est,
                mode="markers",
                marker=dict(color=ATTN_COLOUR, size=7, opacity=0.75),
                text=list(labels),
                name="cells",
                hovertemplate="%{text}<br>patched %{x:.3f}<br>estimated %{y:.3f}<extra></extra>",
            ),
        ]
    )
    fig.update_layout(**base_layout(title, 420), legend=dict(orientation="h", y=-0.2))
    fig.update_xaxes(title="real patching (metric of the patched run)")
    fig.update_yaxes(title="attribution patching (estimate)")
    return fig


def faithfulness_curve(ks: Sequence[int], curves: dict[str, tuple[np.ndarray, np.ndarray | None]]) -> go.Figure:
    """Recovered metric (normalised) vs number of top heads patched, one line per ranking, ± CI band."""
    fig = go.Figure()
    colours = [ATTN_COLOUR, MLP_COLOUR, "#2a9d4b"]
    for (name, (mean, half)), colour in zip(curves.items(), colours):
        err = dict(type="data", array=list(half), visible=True, thickness=1) if half is not None else None
        fig.add_trace(
            go.Scatter(x=list(ks), y=list(mean), mode="lines+markers", name=name, line_color=colour, error_y=err)
        )
    fig.add_hline(
        y=1.0, line=dict(color=RES_COLOUR, dash="dot"), annotation_text="clean", annotation_position="top left"
    )
    fig.add_hline(
        y=0.0, line=dict(color=RES_COLOUR, dash="dot"), annotation_text="corrupted", annotation_position="top left"
    )
    fig.update_layout(**base_layout("Faithfulness: patch the top-k heads together", 380), legend=dict(y=0.05, x=0.6))
    fig.update_xaxes(title="k (heads patched from the clean run)", dtick=max(1, len(ks) // 10))
    fig.update_yaxes(title="recovered metric (0 corrupted, 1 clean)")
    return fig


def dla_bars(labels: Sequence[str], values: np.ndarray, remainder: float, total: float, title: str) -> go.Figure:
    """Each part's direct contribution (embedding, attention and MLP of every layer), the remainder, the total."""
    vals = [float(v) for v in values] + [float(remainder)]
    names = list(labels) + ["remainder"]
    colours = [RES_COLOUR] + [ATTN_COLOUR if "attn" in n else MLP_COLOUR for n in labels[1:]] + ["#b9b9b9"]
    fig = go.Figure(go.Bar(x=names, y=vals, marker_color=colours, hovertemplate="%{x}: %{y:+.3f}<extra></extra>"))
    fig.update_layout(**base_layout(title, 380))
    fig.add_annotation(
        text=f"Σ parts + remainder = {sum(vals):.3f} · the model's logit difference = {total:.3f}",
        xref="paper",
        yref="paper",
        x=0.01,
        y=1.0,
        showarrow=False,
        font=dict(size=11),
    )
    fig.update_xaxes(tickangle=-60, type="category", tickfont=dict(size=9))
    fig.update_yaxes(title="contribution to the logit difference")
    return fig


def head_squares(values: np.ndarray, title: str, value_name: str, selected: tuple[int, int] | None = None):
    """(L, H) as clickable squares (a scatter, so a click selects a head); the selected head outlined."""
    L, H = values.shape
    m = float(np.nanmax(np.abs(values))) or 1.0
    li, hi = np.meshgrid(np.arange(L), np.arange(H), indexing="ij")  # (L, H) each
    fig = go.Figure(
        go.Scatter(
            x=hi.ravel(),
            y=li.ravel(),
            mode="markers",
            marker=dict(
                symbol="square",
                size=max(8, min(26, int(560 / max(H, L)))),
                color=values.ravel(),
                colorscale=SIGNED_SCALE,
                cmin=-m,
                cmax=m,
                colorbar=dict(thickness=12),
                line=dict(width=0),
            ),
            customdata=np.stack([li.ravel(), hi.ravel()], -1),
            text=[f"L{a}H{b}: {value_name} {v:+.3f}" for a, b, v in zip(li.ravel(), hi.ravel(), values.ravel())],
            hovertemplate="%{text}<extra></extra>",
        )
    )
    if selected is not None:
        fig.add_trace(
            go.Scatter(
                x=[selected[1]],
                y=[selected[0]],
                mode="markers",
                marker=dict(symbol="square-open", size=max(12, min(32, int(640 / max(H, L)))), color="#111"),
                hoverinfo="skip",
                showlegend=False,
            )
        )
    fig.update_layout(
        **base_layout(title, max(360, min(760, 18 * L + 140))), showlegend=False, clickmode="event+select"
    )
    fig.update_xaxes(title="head", dtick=1, range=[-0.6, H - 0.4], showgrid=False, zeroline=False)
    fig.update_yaxes(title="layer", range=[L - 0.5, -0.5], dtick=max(1, L // 15), showgrid=False, zeroline=False)
    return fig


def token_bars(promoted: Sequence[tuple[str, float]], suppressed: Sequence[tuple[str, float]], title: str):
    """The tokens a head's output pushes up (right) and down (left) most."""
    rows = list(promoted)[::-1] + list(suppressed)
    fig = go.Figure(
        go.Bar(
            x=[v for _, v in rows],
            y=[f"{tok(t, 18)} " for t, _ in rows],
            orientation="h",
            marker_color=[ATTN_COLOUR if v >= 0 else MLP_COLOUR for _, v in rows],
            hovertemplate="%{y}: %{x:+.3f}<extra></extra>",
        )
    )
    fig.update_layout(**base_layout(title, max(320, 18 * len(rows) + 100)))
    fig.update_yaxes(type="category", autorange="reversed")
    fig.update_xaxes(title="logit contribution (vocabulary mean removed)")
    return fig


def spectra_bars(qk: np.ndarray, ov: np.ndarray, title: str) -> go.Figure:
    fig = make_subplots(rows=1, cols=2, subplot_titles=("W_QK singular values", "W_OV singular values"))
    for col, vals, colour in ((1, qk, ATTN_COLOUR), (2, ov, MLP_COLOUR)):
        fig.add_trace(
            go.Bar(y=list(vals), marker_color=colour, hovertemplate="σ%{x} = %{y:.3f}<extra></extra>"), row=1, col=col
        )
    fig.update_layout(**base_layout(title, 320), showlegend=False)
    fig.update_xaxes(title="index (largest first)")
    return subplot_titles(fig)


def composition_map(scores: np.ndarray, title: str, extra: np.ndarray | None = None) -> go.Figure:
    """(L, H) composition scores of every earlier head into one head; `extra` (L, H) text is added on hover."""
    L, H = scores.shape
    hover = np.empty((L, H), dtype=object)
    for i in range(L):
        for j in range(H):
            hover[i, j] = f"L{i}H{j}: {scores[i, j]:.3f}" + (f"<br>{extra[i, j]}" if extra is not None else "")
    return _grid(scores, [str(h) for h in range(H)], [str(i) for i in range(L)], title, hover, "head", signed=False)


def layer_matrix(mat: np.ndarray, title: str, x_title: str, y_title: str) -> go.Figure:
    """A small (L, L) summary matrix (e.g. the strongest composition between two layers)."""
    n = mat.shape[0]
    hover = np.array([[f"{y_title} {i} ← {x_title} {j}: {mat[i, j]:.3f}" for j in range(n)] for i in range(n)], object)
    return _grid(mat, [str(j) for j in range(n)], [str(i) for i in range(n)], title, hover, x_title, y_title, False)
