"""Heatmaps that stay responsive: labelled plotly heatmaps for small matrices, server-rendered PNG images
(downsampled) for big ones, so a 512 × 512 map ships as a few kB of PNG instead of 262k JSON numbers."""

from __future__ import annotations

import base64
import functools
import html
import io

import numpy as np
import plotly.graph_objects as go
from PIL import Image
from plotly.colors import get_colorscale, sample_colorscale

from xviz.plots.style import MAX_LABELLED, PROB_SCALE, base_layout, colorbar_trace

MASKED_BELOW = -1e30  # scores of masked pairs are finfo.min: shown blank
MAX_PIXELS = 512


def to_numpy(mat) -> np.ndarray:
    arr = mat.detach().float().cpu().numpy() if hasattr(mat, "detach") else np.asarray(mat, dtype=np.float32)
    arr = arr.astype(np.float32, copy=True)
    arr[arr <= MASKED_BELOW] = np.nan
    return arr


def block_mean(arr: np.ndarray, max_side: int = MAX_PIXELS) -> np.ndarray:
    """Average-pool a 2-D array so that no side exceeds max_side (NaNs ignored)."""
    fy, fx = -(-arr.shape[0] // max_side), -(-arr.shape[1] // max_side)
    if fy == 1 and fx == 1:
        return arr
    h, w = -(-arr.shape[0] // fy) * fy, -(-arr.shape[1] // fx) * fx
    pad = np.full((h, w), np.nan, dtype=np.float32)
    pad[: arr.shape[0], : arr.shape[1]] = arr
    with np.errstate(all="ignore"):
        return np.nanmean(pad.reshape(h // fy, fy, w // fx, fx), axis=(1, 3))  # (h/fy, fy, w/fx, fx) → mean


def colorize(arr: np.ndarray, colorscale=PROB_SCALE, zmin=None, zmax=None) -> np.ndarray:
    """2-D float → (H, W, 3) uint8 with a plotly colour scale; NaN → light grey."""
    lut = _lut(colorscale if isinstance(colorscale, str) else tuple(map(tuple, colorscale)))
    lo = np.nanmin(arr) if zmin is None else zmin
    hi = np.nanmax(arr) if zmax is None else zmax
    norm = np.clip((arr - lo) / (hi - lo if hi > lo else 1.0), 0, 1)
    idx = np.nan_to_num(norm * 255, nan=0).astype(np.int64)
    rgb = lut[idx]
    rgb[np.isnan(arr)] = (235, 235, 235)
    return rgb


@functools.lru_cache(maxsize=32)
def _lut(colorscale) -> np.ndarray:
    scale = get_colorscale(colorscale) if isinstance(colorscale, str) else [list(c) for c in colorscale]
    return np.array([_rgb(c) for c in sample_colorscale(scale, np.linspace(0, 1, 256))], dtype=np.uint8)


def _rgb(c: str) -> tuple[int, int, int]:
    c = c.strip()
    if c.startswith("#"):
        return tuple(int(c[i : i + 2], 16) for i in (1, 3, 5))
    vals = c[c.index("(") + 1 : c.index(")")].split(",")
    return tuple(int(round(float(v))) for v in vals[:3])


def png_data_uri(rgb: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", optimize=False)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def image_heatmap(
    arr: np.ndarray, colorscale=PROB_SCALE, zmin=None, zmax=None, title=None, height=480, colorbar_title: str = ""
) -> go.Figure:
    """Server-rendered heatmap: one PNG plus an invisible trace that carries the colour bar."""
    n_rows, n_cols = arr.shape
    small = block_mean(arr)
    lo = float(np.nanmin(arr)) if zmin is None else zmin
    hi = float(np.nanmax(arr)) if zmax is None else zmax
    fig = go.Figure(
        go.Image(
            source=png_data_uri(colorize(small, colorscale, lo, hi)),
            dx=n_cols / small.shape[1],
            dy=n_rows / small.shape[0],
            hoverinfo="x+y",
        )
    )
    fig.add_trace(colorbar_trace(colorscale, lo, hi, colorbar_title))
    fig.update_layout(**base_layout(title, height))
    fig.update_xaxes(title="key token", showgrid=False)
    fig.update_yaxes(title="query token", showgrid=False, autorange="reversed")
    return fig


def gamma_colorscale(colorscale=PROB_SCALE, gamma: float = 0.5, stops: int = 33) -> list:
    """A colour scale whose colour at normalised value t is the original's at t**gamma: gamma < 1 spreads the
    small values (attention maps dominated by one [CLS]/[SEP] column) while hover still shows true values."""
    scale = get_colorscale(colorscale) if isinstance(colorscale, str) else colorscale
    ts = np.linspace(0.0, 1.0, stops)
    return [[float(t), c] for t, c in zip(ts, sample_colorscale(scale, list(ts**gamma)))]


def heatmap(
    mat,
    x_labels=None,
    y_labels=None,
    title=None,
    colorscale=PROB_SCALE,
    zmid=None,
    zmin=None,
    zmax=None,
    height=480,
    value_name="value",
    x_title="key token",
    y_title="query token",
) -> go.Figure:
    """Labelled heatmap (tokens on the axes, values on hover) up to MAX_LABELLED rows/columns, else an image."""
    arr = to_numpy(mat)
    if max(arr.shape) > MAX_LABELLED:
        if zmid is not None and zmin is None and zmax is None:
            m = float(np.nanmax(np.abs(arr))) or 1.0
            zmin, zmax = -m, m
        return image_heatmap(arr, colorscale, zmin, zmax, title, height, value_name)
    ny, nx = arr.shape
    xl = list(x_labels) if x_labels is not None else [str(i) for i in range(nx)]
    yl = list(y_labels) if y_labels is not None else [str(i) for i in range(ny)]
    custom = np.array(
        [[f"{shorten(yl[i], 40)} → {shorten(xl[j], 40)}" for j in range(nx)] for i in range(ny)], dtype=object
    )
    fig = go.Figure(
        go.Heatmap(
            z=arr,
            x=list(range(nx)),
            y=list(range(ny)),
            colorscale=colorscale,
            zmid=zmid,
            zmin=zmin,
            zmax=zmax,
            customdata=custom,
            hovertemplate=f"%{{customdata}}<br>{value_name}=%{{z:.4g}}<extra></extra>",
            colorbar=dict(thickness=12),
        )
    )
    tick_font = None
    if y_labels is not None:  # text labels (tokens): room for one readable label per row, smaller when crowded
        height = max(height, min(720, 14 * ny + 170))
        tick_font = dict(size=max(8, min(12, int((height - 170) / max(ny, 1)) - 1)))
    fig.update_layout(**base_layout(title, height))
    fig.update_xaxes(
        tickmode="array",
        tickvals=list(range(nx)),
        ticktext=[shorten(t) for t in xl],
        tickangle=-60,
        title=x_title,
        showgrid=False,
        tickfont=tick_font,
    )
    fig.update_yaxes(
        tickmode="array",
        tickvals=list(range(ny)),
        ticktext=[shorten(t) for t in yl],
        autorange="reversed",
        title=y_title,
        showgrid=False,
        tickfont=tick_font,
    )
    return fig


def shorten(tok: str, n: int = 12) -> str:
    """Shortened, HTML-escaped label: plotly renders a subset of HTML in labels, user text must stay literal."""
    tok = tok if len(tok) <= n else tok[: n - 1] + "…"
    return html.escape(tok, quote=False)
