"""Figure builders of the Swin page, geometry part: window grids on the picture, the cyclic-shift steps, one
window's tokens next to its SW-MSA mask, the receptive field. Pictures travel as PNG (never as pixel JSON)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from xviz.plots.heatmap import colorize, png_data_uri
from xviz.plots.style import MASK_SCALE, PROB_SCALE, base_layout, colorbar_trace, subplot_titles

REGION_COLORS = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c", "#ccb974"]
WINDOW_LINE = dict(color="#ffd400", width=2.5)
SHIFTED_LINE = dict(color="#00e5ff", width=2.5, dash="dash")
PATCH_LINE = dict(color="rgba(255,255,255,0.45)", width=0.7)


def _hex(c: str) -> np.ndarray:
    return np.array([int(c[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.float32)


def blend(
    pic: np.ndarray, token_rgb: np.ndarray, q: int, alpha: float = 0.5, where: np.ndarray | None = None
) -> np.ndarray:
    """Paint (H, W, 3) token colours over the (H·q, W·q, 3) picture with opacity alpha (only where `where`)."""
    over = np.repeat(np.repeat(token_rgb.astype(np.float32), q, 0), q, 1)  # (H·q, W·q, 3)
    a = alpha if where is None else alpha * np.repeat(np.repeat(where, q, 0), q, 1)[..., None]
    return (pic.astype(np.float32) * (1 - a) + over * a).clip(0, 255).astype(np.uint8)


def region_rgb(labels: torch.Tensor) -> np.ndarray:
    """(H, W) labels 0–8 → (H, W, 3) region colours."""
    return np.stack([_hex(c) for c in REGION_COLORS])[labels.numpy()]


def _lines(positions: list[float], length: float, vertical: bool) -> tuple[list, list]:
    xs, ys = [], []
    for p in positions:
        a, b = ([p, p], [0, length]) if vertical else ([0, length], [p, p])
        xs += a + [None]
        ys += b + [None]
    return xs, ys


def add_grid(
    fig: go.Figure,
    H: int,
    W: int,
    q: int,
    step: int,
    offset: int = 0,
    line=WINDOW_LINE,
    row: int | None = None,
    col: int | None = None,
    name: str = "",
) -> None:
    """Lines every `step` tokens (starting at `offset`) over an H×W token picture of q px per token."""
    cols = [(offset + k * step) * q for k in range(-1, W // step + 2) if 0 < offset + k * step < W]
    rows = [(offset + k * step) * q for k in range(-1, H // step + 2) if 0 < offset + k * step < H]
    xv, yv = _lines(cols, H * q, True)
    xh, yh = _lines(rows, W * q, False)
    fig.add_trace(
        go.Scatter(x=xv + xh, y=yv + yh, mode="lines", line=line, hoverinfo="skip", name=name, showlegend=bool(name)),
        row=row,
        col=col,
    )


def _image(fig: go.Figure, pic: np.ndarray, row: int | None = None, col: int | None = None) -> None:
    fig.add_trace(go.Image(source=png_data_uri(pic), hoverinfo="skip"), row=row, col=col)


def square_axes(fig: go.Figure, n: int) -> None:
    for i in range(1, n + 1):
        sfx = "" if i == 1 else str(i)
        fig.layout[f"yaxis{sfx}"].update(
            scaleanchor=f"x{sfx}", autorange="reversed", visible=False, constrain="domain", constraintoward="top"
        )  # pictures under their titles
        fig.layout[f"xaxis{sfx}"].update(visible=False, constrain="domain")


def window_grid_figure(
    pic: np.ndarray, q: int, M: int, shift: int = 0, title: str | None = None, patches: bool = True, both: bool = False
) -> go.Figure:
    """The picture with its token (patch) grid and the M×M windows; shift > 0 draws the shifted windows as
    they fall on the original picture (boundaries at s + kM), i.e. the SW-MSA partition of Liu et al. Fig. 2.
    both=True draws the regular (solid) and the shifted (dashed) partitions together."""
    H, W = pic.shape[0] // q, pic.shape[1] // q
    fig = go.Figure()
    _image(fig, pic)
    if patches and q >= 4:
        add_grid(fig, H, W, q, 1, line=PATCH_LINE)
    if both or not shift:
        add_grid(fig, H, W, q, M, 0, WINDOW_LINE, name="W-MSA windows" if both else "")
    if shift:
        add_grid(fig, H, W, q, M, shift % M, SHIFTED_LINE, name="SW-MSA windows" if both else "")
    if both:
        fig.update_layout(legend=dict(orientation="h", y=-0.02))
    fig.update_layout(**base_layout(title, height=430))
    square_axes(fig, 1)
    return fig


def shift_steps_figure(steps, q: int, title: str | None = None) -> go.Figure:
    """Five panels: before · rolled · 9 regions · windows of the rolled map (masked ones tinted) · rolled back."""
    M, s = steps.M, steps.shift
    H, W = steps.labels.shape
    names = [
        "1 · before: W-MSA windows",
        f"2 · rolled by (−{s}, −{s})",
        "3 · region labels 0–8",
        "4 · masked windows (several regions)",
        "5 · rolled back: SW windows",
    ]
    fig = make_subplots(1, 5, subplot_titles=names, horizontal_spacing=0.012)
    _image(fig, steps.before, 1, 1)
    add_grid(fig, H, W, q, M, row=1, col=1)
    _image(fig, steps.rolled, 1, 2)
    add_grid(fig, H, W, q, M, row=1, col=2)
    _image(fig, blend(steps.rolled, region_rgb(steps.labels), q, 0.55), 1, 3)
    add_grid(fig, H, W, q, M, row=1, col=3)
    _region_texts(fig, steps.labels, q)
    per_win = np.repeat(np.repeat(steps.regions_per_window.numpy(), M, 0), M, 1)  # (H, W) per token
    dim = (steps.rolled * 0.45).astype(np.uint8)  # unmasked windows dimmed, masked ones in region colours
    _image(fig, blend(dim, region_rgb(steps.labels), q, 0.8, where=(per_win > 1).astype(np.float32)), 1, 4)
    add_grid(fig, H, W, q, M, row=1, col=4)
    _image(fig, steps.restored, 1, 5)
    add_grid(fig, H, W, q, M, s, SHIFTED_LINE, row=1, col=5)
    fig.update_layout(**base_layout(title, height=270))
    fig.update_layout(margin=dict(l=5, r=5, t=60 if title else 30, b=5))
    fig.update_annotations(font_size=11)
    square_axes(fig, 5)
    fig.update_xaxes(range=[0, W * q])  # exactly the picture: the region numbers must not pad one panel
    fig.update_yaxes(range=[H * q, 0], autorange=False)
    return fig


def _region_texts(fig: go.Figure, labels: torch.Tensor, q: int) -> None:
    xs, ys, ts = [], [], []
    for lab in labels.unique().tolist():
        r, c = torch.nonzero(labels == lab, as_tuple=True)
        ys.append((r.float().mean().item() + 0.5) * q)
        xs.append((c.float().mean().item() + 0.5) * q)
        ts.append(str(lab))
    fig.add_trace(
        go.Scatter(
            x=xs, y=ys, text=ts, mode="text", textfont=dict(color="white", size=11), hoverinfo="skip", showlegend=False
        ),
        row=1,
        col=3,
    )


def window_mask_figure(detail, crop: np.ndarray, title: str | None = None) -> go.Figure:
    """Left: the window's M×M tokens (pixels of the rolled map) tinted by region, numbered; right: its M²×M²
    SW-MSA mask (dark = may attend)."""
    M, N = detail.M, detail.M**2
    q = crop.shape[0] // M
    fig = make_subplots(
        1,
        2,
        column_widths=[0.42, 0.58],
        horizontal_spacing=0.08,
        subplot_titles=[
            f"window {detail.index}: tokens by region",
            f"mask: {detail.masked_pairs} of {N * N} pairs forbidden",
        ],
    )
    _image(fig, blend(crop, region_rgb(detail.labels), q, 0.35), 1, 1)
    rr, cc = np.divmod(np.arange(N), M)
    lab = detail.labels.flatten().tolist()
    pos = detail.positions.tolist()
    fig.add_trace(
        go.Scatter(
            x=(cc + 0.5) * q,
            y=(rr + 0.5) * q,
            mode="text" if M <= 10 else "markers",
            text=[str(i) for i in range(N)],
            textfont=dict(color="white", size=10),
            marker=dict(size=2, color="white"),
            showlegend=False,
            customdata=[[lab[i], *pos[i]] for i in range(N)],
            hovertemplate="token %{text}<br>region %{customdata[0]}<br>"
            "at (%{customdata[1]}, %{customdata[2]}) on the map<extra></extra>",
        ),
        1,
        1,
    )
    m = detail.mask.float().numpy()
    if N <= 128:
        fig.add_trace(
            go.Heatmap(
                z=m,
                colorscale=MASK_SCALE,
                zmin=0,
                zmax=1,
                showscale=False,
                customdata=np.array(lab)[None, :].repeat(N, 0),
                hovertemplate="query %{y} → key %{x}<br>key region %{customdata}<br>may attend: %{z}<extra></extra>",
            ),
            1,
            2,
        )
    else:
        _image(fig, colorize(m, MASK_SCALE, 0, 1), 1, 2)
    fig.update_layout(**base_layout(title, height=460))
    fig.update_layout(margin=dict(l=5, r=5, t=60, b=5))
    top = dict(constrain="domain", constraintoward="top")  # both panels right under their titles
    fig.layout.yaxis.update(scaleanchor="x", autorange="reversed", visible=False, **top)
    fig.layout.xaxis.update(visible=False, constrain="domain")
    fig.layout.yaxis2.update(scaleanchor="x2", autorange="reversed", title="query token", **top)
    fig.layout.xaxis2.update(title="key token", constrain="domain")
    return subplot_titles(fig)


def receptive_field_figure(
    pic: np.ndarray, q: int, field: torch.Tensor, token: tuple[int, int], k: int, M: int, title: str | None = None
) -> go.Figure:
    """Positions that can influence `token` after k layers, coloured by the layer count at which they join."""
    f = field.numpy().astype(np.float32)
    reach = (f >= 0).astype(np.float32)
    rgb = colorize(np.where(f >= 0, f, np.nan), PROB_SCALE, 0, max(k, 1))
    fig = go.Figure()
    _image(fig, blend((pic * 0.45).astype(np.uint8), rgb, q, 0.75, where=reach))
    H, W = field.shape
    add_grid(fig, H, W, q, M)
    r, c = token
    fig.add_trace(
        go.Scatter(
            x=[(c + 0.5) * q],
            y=[(r + 0.5) * q],
            mode="markers",
            showlegend=False,
            marker=dict(symbol="x", size=12, color="white", line=dict(width=2, color="black")),
            hovertemplate=f"token ({r}, {c})<extra></extra>",
        )
    )
    fig.add_trace(colorbar_trace(PROB_SCALE, 0, max(k, 1), "layers"))
    fig.update_layout(**base_layout(title, height=460))
    square_axes(fig, 1)
    return fig


def rf_growth_figure(rows: list[dict], title: str | None = None) -> go.Figure:
    """Receptive-field size (tokens) against the number of layers: alternating W/SW-MSA vs never shifted."""
    x = [r["layers"] for r in rows]
    fig = go.Figure(
        [
            go.Scatter(
                x=x, y=[r["alternating"] for r in rows], mode="lines+markers", name="W-MSA / SW-MSA alternating"
            ),
            go.Scatter(
                x=x,
                y=[r["unshifted"] for r in rows],
                mode="lines+markers",
                name="W-MSA only (no shift)",
                line=dict(dash="dot"),
            ),
        ]
    )
    fig.update_layout(**base_layout(title, height=360), legend=dict(orientation="h", y=-0.25))
    fig.update_xaxes(title="layers", dtick=1)
    fig.update_yaxes(title="tokens in the receptive field")
    return fig
