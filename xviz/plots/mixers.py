"""Figures of the Token mixers page: training curves, the digit, ViT attention, Mixer token-mixing matrices,
FNet's Fourier mixing, accuracy under shifts. Arrays in, plotly figures out (no streamlit)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from xviz.plots.style import PROB_SCALE, SIGNED_SCALE, base_layout, subplot_titles


def curve_figure(rows: list, title: str) -> go.Figure:
    """rows: [epoch, lr, train_loss, train_acc, test_acc, seconds] (scripts/train_mixers.py CSV)."""
    ep = [r[0] for r in rows]
    fig = make_subplots(1, 2, subplot_titles=("train loss (label smoothing 0.1)", "accuracy"))
    fig.add_scatter(x=ep, y=[r[2] for r in rows], name="train loss", row=1, col=1)
    fig.add_scatter(x=ep, y=[r[3] for r in rows], name="train", row=1, col=2)
    fig.add_scatter(x=ep, y=[r[4] for r in rows], name="held-out", row=1, col=2)
    fig.update_yaxes(range=[0.8, 1.0], row=1, col=2)
    fig.update_xaxes(title="epoch")
    fig.update_layout(**base_layout(title, 320), width=800)
    return subplot_titles(fig)


def digit_figure(x01: torch.Tensor, title: str = "input (16 × 16)", patch: int = 4) -> go.Figure:
    arr = x01.reshape(x01.shape[-2:]).numpy()
    fig = go.Figure(
        go.Heatmap(
            z=arr,
            colorscale="Greys",
            reversescale=False,
            zmin=0,
            zmax=1,
            showscale=False,
            hovertemplate="row %{y}, col %{x}: ink %{z:.2f}<extra></extra>",
        )
    )
    n = arr.shape[0]
    for t in range(patch, n, patch):  # the patch grid the token models see
        fig.add_hline(y=t - 0.5, line=dict(color="#e4572e", width=1))
        fig.add_vline(x=t - 0.5, line=dict(color="#e4572e", width=1))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", showgrid=False)
    fig.update_xaxes(showgrid=False)
    fig.update_layout(**base_layout(title, 300))
    return fig


def token_maps_figure(
    mats: list[np.ndarray], titles: list[str], title: str, signed: bool = False, grid: int = 4, value: str = "weight"
) -> go.Figure:
    """Several (N, N) token-to-token matrices side by side (rows: output token, columns: input token)."""
    fig = make_subplots(1, len(mats), subplot_titles=titles, horizontal_spacing=0.04)
    for i, m in enumerate(mats):
        lim = float(np.abs(m).max()) or 1.0
        fig.add_trace(
            go.Heatmap(
                z=m,
                colorscale=SIGNED_SCALE if signed else PROB_SCALE,
                zmid=0 if signed else None,
                zmin=-lim if signed else None,
                zmax=lim if signed else None,
                showscale=i == len(mats) - 1,
                colorbar=dict(thickness=10),
                hovertemplate=f"to %{{y}} from %{{x}}: {value} %{{z:.3g}}<extra></extra>",
            ),
            row=1,
            col=i + 1,
        )
    fig.update_yaxes(autorange="reversed", showgrid=False)
    fig.update_xaxes(showgrid=False)
    fig.update_layout(**base_layout(title, 300))
    return subplot_titles(fig)


def patch_map_figure(vec: np.ndarray, grid: int, title: str, signed: bool = False) -> go.Figure:
    """A per-token vector (N,) drawn on the g × g patch grid."""
    m = vec.reshape(grid, grid)  # (N,) -> (g, g) row-major patches
    fig = go.Figure(
        go.Heatmap(
            z=m,
            colorscale=SIGNED_SCALE if signed else PROB_SCALE,
            zmid=0 if signed else None,
            hovertemplate="patch (%{y}, %{x}): %{z:.3g}<extra></extra>",
            colorbar=dict(thickness=10),
        )
    )
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain", showgrid=False, dtick=1)
    fig.update_xaxes(constrain="domain", showgrid=False, dtick=1)
    fig.update_layout(**base_layout(title, 300))
    return fig


def shift_figure(shifts: list[int], acc: dict[str, list[float]]) -> go.Figure:
    fig = go.Figure()
    for name, ys in acc.items():
        fig.add_scatter(
            x=shifts,
            y=ys,
            mode="lines+markers",
            name=name,
            hovertemplate=name + ": shift %{x} px → accuracy %{y:.3f}<extra></extra>",
        )
    fig.update_xaxes(title="shift s (px of the 16 × 16 input; mean of right, left, down, up)", dtick=1)
    fig.update_yaxes(title="held-out accuracy", range=[0, 1.02])
    fig.update_layout(**base_layout("Accuracy on the held-out digits, shifted", 340))
    return fig


def probs_figure(probs: dict[str, np.ndarray], title: str) -> go.Figure:
    fig = go.Figure()
    for name, p in probs.items():
        fig.add_bar(x=list(range(10)), y=p, name=name, hovertemplate=name + ": P(%{x}) = %{y:.3f}<extra></extra>")
    fig.update_xaxes(title="digit", dtick=1)
    fig.update_yaxes(title="probability", range=[0, 1])
    fig.update_layout(**base_layout(title, 300), barmode="group")
    return fig
