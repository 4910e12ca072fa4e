"""Figure builders of the Positional-encoding page: PE heatmap + wavelengths, similarity matrices and offset
curves, M_k, learned tables, the ViT patch-similarity mosaic, 2-D sin-cos channels, RoPE, ALiBi, extrapolation."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from xviz.analysis.positional import OffsetCurve, TransformCheck
from xviz.plots.heatmap import colorize, heatmap, png_data_uri
from xviz.plots.style import PROB_SCALE, SIGNED_SCALE, base_layout, subplot_titles


def as_array(t) -> np.ndarray:
    return t.detach().float().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t, dtype=np.float32)


def pe_heatmap(pe: torch.Tensor, wavelengths: torch.Tensor, title: str = "Sinusoidal encoding") -> go.Figure:
    """The classic figure: position (rows) × dimension (columns), values in [−1, 1]; below, each dimension's
    wavelength (log scale) — fast sines on the left, slow ones on the right."""
    P_, C = pe.shape
    fig = make_subplots(rows=2, cols=1, row_heights=[0.72, 0.28], shared_xaxes=True, vertical_spacing=0.04)
    fig.add_trace(
        go.Heatmap(
            z=as_array(pe),
            colorscale=SIGNED_SCALE,
            zmid=0,
            zmin=-1,
            zmax=1,
            colorbar=dict(thickness=12, len=0.7, y=0.64),
            hovertemplate="position %{y}<br>dim %{x}<br>value %{z:.3f}<extra></extra>",
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=np.arange(C),
            y=as_array(wavelengths),
            mode="lines",
            name="wavelength",
            hovertemplate="dim %{x}: wavelength %{y:.1f} positions<extra></extra>",
            showlegend=False,
        ),
        row=2,
        col=1,
    )
    fig.update_layout(**base_layout(title, 560))
    fig.update_yaxes(title="position", autorange="reversed", row=1, col=1)
    fig.update_yaxes(title="wavelength (positions)", type="log", row=2, col=1)
    fig.update_xaxes(title="dimension", row=2, col=1)
    return fig


def similarity_figure(
    sim: torch.Tensor,
    title: str,
    signed: bool = True,
    value_name: str = "similarity",
    x_title: str = "position j",
    y_title: str = "position i",
) -> go.Figure:
    """Position × position matrix (labelled up to 96 positions, a server-side image beyond)."""
    arr = as_array(sim)
    kw = dict(colorscale=SIGNED_SCALE, zmid=0) if signed else {}
    if signed and arr.size:
        m = float(np.nanmax(np.abs(arr))) or 1.0
        kw.update(zmin=-m, zmax=m)
    fig = heatmap(arr, title=title, value_name=value_name, x_title=x_title, y_title=y_title, height=460, **kw)
    fig.update_xaxes(title=x_title)
    fig.update_yaxes(title=y_title)
    if fig.data[0].type == "heatmap":  # numeric positions: a dozen ticks are enough
        fig.update_xaxes(tickmode="auto", nticks=12, tickangle=0)
        fig.update_yaxes(tickmode="auto", nticks=12)
    return fig


def table_heatmap(pe: torch.Tensor, title: str) -> go.Figure:
    """A (tokens × channels) table as a plain heatmap (for tables up to ~16k cells)."""
    fig = go.Figure(
        go.Heatmap(
            z=as_array(pe),
            colorscale=SIGNED_SCALE,
            zmid=0,
            colorbar=dict(thickness=12),
            hovertemplate="token %{y}, channel %{x}: %{z:.3f}<extra></extra>",
        )
    )
    fig.update_layout(**base_layout(title, 460))
    fig.update_yaxes(title="token", autorange="reversed")
    fig.update_xaxes(title="channel")
    return fig


def offset_figure(
    curves: dict[str, OffsetCurve],
    formula: torch.Tensor | None = None,
    title: str = "Similarity as a function of the offset k",
) -> go.Figure:
    """Mean of S[p, p+k] over p (line) with its min–max band: a thin band = depends on the offset only."""
    fig = go.Figure()
    for name, c in curves.items():
        x = as_array(c.offsets)
        fig.add_trace(
            go.Scatter(
                x=np.r_[x, x[::-1]],
                y=np.r_[as_array(c.hi), as_array(c.lo)[::-1]],
                fill="toself",
                opacity=0.25,
                line=dict(width=0),
                name=f"{name}: min–max over p",
                hoverinfo="skip",
            )
        )
        fig.add_trace(go.Scatter(x=x, y=as_array(c.mean), mode="lines", name=f"{name}: mean over p"))
    if formula is not None:
        fig.add_trace(
            go.Scatter(
                x=np.arange(len(formula)),
                y=as_array(formula),
                mode="markers",
                name="Σᵢ cos(ωᵢ k)",
                marker=dict(size=4, symbol="x"),
            )
        )
    fig.update_layout(**base_layout(title, 420))
    fig.update_layout(legend=dict(orientation="h", y=-0.25, x=0))
    fig.update_xaxes(title="offset k (positions)")
    fig.update_yaxes(title="PE(p)·PE(p+k)" if formula is not None else "similarity")
    return fig


def transform_figure(check: TransformCheck, show_dims: int = 32) -> go.Figure:
    """M_k (its top-left corner: 2×2 rotation blocks) and the error |M_k·PE(p) − PE(p+k)| per position."""
    M = as_array(check.M)[:show_dims, :show_dims]
    fig = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.45, 0.55],
        subplot_titles=(
            f"M_{check.k} (first {M.shape[0]} dims)",
            f"max error per position (overall {check.max_error:.1e})",
        ),
    )
    fig.add_trace(
        go.Heatmap(
            z=M,
            colorscale=SIGNED_SCALE,
            zmid=0,
            zmin=-1,
            zmax=1,
            showscale=False,
            hovertemplate="row %{y}, col %{x}: %{z:.4f}<extra></extra>",
        ),
        row=1,
        col=1,
    )
    err = np.maximum(as_array(check.error), 1e-12)
    fig.add_trace(go.Scatter(x=np.arange(len(err)), y=err, mode="lines", name="error", showlegend=False), row=1, col=2)
    fig.update_layout(**base_layout(f"PE(p+{check.k}) = M_{check.k}·PE(p)", 400))
    fig.update_layout(margin=dict(t=80))
    fig.update_yaxes(autorange="reversed", row=1, col=1)
    fig.update_yaxes(type="log", title="max |error|", row=1, col=2)
    fig.update_xaxes(title="position p", row=1, col=2)
    return subplot_titles(fig)


def table_figure(table: torch.Tensor, title: str, trained: int | None = None) -> go.Figure:
    """A learned table (positions × channels; a server-side image when large) and each row's norm."""
    arr = as_array(table)
    m = float(np.percentile(np.abs(arr), 99)) or 1.0
    fig = make_subplots(rows=1, cols=2, column_widths=[0.7, 0.3], subplot_titles=("table", "row norm"))
    fig.add_trace(go.Image(source=png_data_uri(colorize(arr, SIGNED_SCALE, -m, m)), hoverinfo="x+y"), row=1, col=1)
    norms = np.linalg.norm(arr, axis=1)
    fig.add_trace(
        go.Scatter(
            x=norms,
            y=np.arange(len(norms)),
            mode="lines",
            showlegend=False,
            hovertemplate="position %{y}: norm %{x:.3f}<extra></extra>",
        ),
        row=1,
        col=2,
    )
    if trained is not None:
        fig.add_hline(y=trained, line_dash="dot", row=1, col=2)
    fig.update_layout(**base_layout(title, 540))
    fig.update_layout(margin=dict(t=80))
    fig.update_yaxes(autorange="reversed", title="position", row=1, col=1)
    fig.update_yaxes(autorange="reversed", row=1, col=2)
    fig.update_xaxes(title="channel", row=1, col=1)
    fig.update_xaxes(title="L2 norm", row=1, col=2)
    return subplot_titles(fig)


def mosaic_figure(mosaic: torch.Tensor, title: str) -> go.Figure:
    """The ViT-paper mosaic (one tile per patch position) as one server-rendered image."""
    arr = as_array(mosaic)
    rgb = colorize(arr, SIGNED_SCALE, -1.0, 1.0)
    rgb[np.isnan(arr)] = (70, 70, 70)  # dark gaps between the tiles
    fig = go.Figure(go.Image(source=png_data_uri(rgb), hoverinfo="skip"))
    fig.update_layout(**base_layout(title, 640))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def grid_maps_figure(
    maps: dict[str, torch.Tensor], title: str, zmax: float | None = 1.0, signed: bool = True
) -> go.Figure:
    """Small multiples of (h, w) maps over the patch grid (channels of 2-D sin-cos, a patch's similarity …).
    signed=False: a sequential scale over the maps' own range (for all-positive similarities)."""
    names = list(maps)
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=names, horizontal_spacing=0.03)
    scale = (
        dict(colorscale=SIGNED_SCALE, zmid=0, zmin=-zmax if zmax else None, zmax=zmax)
        if signed
        else dict(colorscale=PROB_SCALE)
    )
    for i, n in enumerate(names, start=1):
        fig.add_trace(
            go.Heatmap(
                z=as_array(maps[n]),
                **scale,
                showscale=i == len(names),
                colorbar=dict(thickness=12),
                hovertemplate="row %{y}, col %{x}: %{z:.3f}<extra></extra>",
            ),
            row=1,
            col=i,
        )
        fig.update_yaxes(autorange="reversed", scaleanchor=f"x{i if i > 1 else ''}", constrain="domain", row=1, col=i)
        fig.update_xaxes(constrain="domain", row=1, col=i)
    fig.update_layout(**base_layout(title, 420 if len(names) == 1 else 320))
    fig.update_layout(margin=dict(t=80))
    return subplot_titles(fig)
