"""Figures for image attention: maps overlaid on the picture (server-rendered PNG), a clickable patch grid, the
layer × head overview as one composed image, mean attention distance vs layer, collapse heatmap, token norms."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from xviz.plots.heatmap import colorize, png_data_uri, to_numpy
from xviz.plots.style import PROB_SCALE, SEQ_SCALE, SIGNED_SCALE, base_layout, colorbar_trace

OVERLAY_SCALE = PROB_SCALE  # attention overlays use the probability scale, like every other attention map
GRID_RGB = np.array([255, 255, 255], dtype=np.float32)


def upsample(amap: np.ndarray, patch: int) -> np.ndarray:
    """(gh, gw) → (gh·p, gw·p): each patch value fills its p × p pixels."""
    return np.repeat(np.repeat(amap, patch, axis=0), patch, axis=1)


def overlay_rgb(
    img: Image.Image,
    amap,
    patch: int,
    alpha: float = 0.6,
    colorscale=OVERLAY_SCALE,
    zmin: float | None = None,
    zmax: float | None = None,
    valid=None,
    gray: bool = False,
) -> np.ndarray:
    """Blend a colour-mapped patch map over the image → (H, W, 3) uint8. Padding patches (valid False) keep the
    plain image. zmin/zmax default to the map's range over valid patches."""
    a = to_numpy(amap)
    gh, gw = a.shape
    keep = np.ones(gh * gw, bool) if valid is None else np.asarray(valid, bool)
    vals = a.reshape(-1)[keep]
    lo = float(vals.min()) if zmin is None and vals.size else (zmin or 0.0)
    hi = float(vals.max()) if zmax is None and vals.size else (zmax if zmax is not None else 1.0)
    heat = colorize(upsample(a, patch), colorscale, lo, hi).astype(np.float32)  # (H, W, 3)
    base = np.asarray(img.convert("L").convert("RGB") if gray else img.convert("RGB"), dtype=np.float32)
    base = base[: heat.shape[0], : heat.shape[1]]
    out = (1 - alpha) * base + alpha * heat
    mask = upsample(keep.reshape(gh, gw).astype(np.float32), patch)[..., None] > 0
    return np.where(mask, out, base).round().astype(np.uint8)


def draw_grid(rgb: np.ndarray, patch: int, strength: float = 0.35) -> np.ndarray:
    """Light patch-boundary lines drawn into the image (cheaper than plotly shapes)."""
    out = rgb.astype(np.float32)
    out[::patch] = (1 - strength) * out[::patch] + strength * GRID_RGB
    out[:, ::patch] = (1 - strength) * out[:, ::patch] + strength * GRID_RGB
    return out.round().astype(np.uint8)


def image_figure(
    rgb: np.ndarray,
    grid: tuple[int, int],
    patch: int,
    title: str | None = None,
    values=None,
    selected: tuple[int, int] | None = None,
    clickable: bool = True,
    colorbar: tuple[str, float, float] | None = None,
    flagged: list[tuple[int, int]] = (),
    height: int = 520,
    value_name: str = "value",
) -> go.Figure:
    """An RGB image (one PNG) with an invisible patch layer: hover shows (row, col) and the value; clicking a patch
    selects it (st.plotly_chart on_select → customdata = [row, col]). `selected` / `flagged` patches get outlines."""
    gh, gw = grid
    fig = go.Figure(go.Image(source=png_data_uri(rgb), hoverinfo="skip"))
    if clickable:
        rows, cols = np.divmod(np.arange(gh * gw), gw)
        vals = to_numpy(values).reshape(-1) if values is not None else np.full(gh * gw, np.nan)
        fig.add_trace(
            go.Scatter(
                x=(cols + 0.5) * patch,
                y=(rows + 0.5) * patch,
                mode="markers",
                showlegend=False,
                customdata=np.stack([rows, cols, vals], -1).tolist(),  # plain lists: clicks hand back [r, c, v]
                marker=dict(symbol="square", size=max(4, min(30, 480 // max(gh, gw))), opacity=0.0, color="white"),
                selected=dict(marker=dict(opacity=0.0)),
                unselected=dict(marker=dict(opacity=0.0)),
                hovertemplate="patch (%{customdata[0]}, %{customdata[1]})<br>"
                + value_name
                + " = %{customdata[2]:.4g}<extra></extra>",
            )
        )
    if colorbar is not None:
        scale, lo, hi = colorbar
        fig.add_trace(colorbar_trace(scale, lo, hi, value_name))
    for (r, c), color in [(s, "#00e5ff") for s in ([selected] if selected else [])] + [(f, "#ff2d55") for f in flagged]:
        fig.add_shape(
            type="rect",
            x0=c * patch,
            x1=(c + 1) * patch,
            y0=r * patch,
            y1=(r + 1) * patch,
            line=dict(color=color, width=2),
        )
    fig.update_layout(**base_layout(title, height))
    fig.update_layout(hovermode="closest", hoverdistance=-1, clickmode="event+select", dragmode=False)
    fig.update_xaxes(visible=False, range=[0, gw * patch])
    fig.update_yaxes(visible=False, range=[gh * patch, 0], scaleanchor="x")
    return fig


def attention_figure(
    img: Image.Image,
    amap,
    patch: int,
    title: str | None = None,
    alpha: float = 0.6,
    selected=None,
    valid=None,
    show_grid: bool = True,
    clickable: bool = True,
    zmax: float | None = None,
    value_name: str = "attention",
    height: int = 520,
    robust: bool = False,
) -> go.Figure:
    """A patch map (gh, gw) overlaid on the image, with colour bar, hover values and click-to-select.
    robust: the colour scale tops out at the 99th percentile, so one sink patch does not wash out the rest."""
    a = to_numpy(amap)
    vals = a.reshape(-1)[np.ones(a.size, bool) if valid is None else np.asarray(valid, bool)]
    lo, hi = (float(vals.min()), float(vals.max())) if vals.size else (0.0, 1.0)
    hi = zmax if zmax is not None else (float(np.percentile(vals, 99)) if robust and vals.size else hi)
    hi = hi if hi > lo else lo + 1e-12
    rgb = overlay_rgb(img, a, patch, alpha, OVERLAY_SCALE, lo, hi, valid)
    rgb = draw_grid(rgb, patch) if show_grid else rgb
    return image_figure(
        rgb,
        a.shape,
        patch,
        title,
        a,
        selected,
        clickable,
        (OVERLAY_SCALE, lo, hi),
        height=height,
        value_name=value_name,
    )


def patch_grid_figure(
    img: Image.Image, grid, patch: int, title: str | None = None, selected=None, valid=None, height: int = 520
) -> go.Figure:
    """The model input with its patch grid; padding patches dimmed; click a patch to select it."""
    rgb = np.asarray(img.convert("RGB"), dtype=np.float32)
    if valid is not None:
        dim = upsample((~np.asarray(valid, bool)).reshape(grid).astype(np.float32), patch)[..., None]
        rgb = rgb * (1 - 0.5 * dim) + 60 * dim
    return image_figure(
        draw_grid(rgb.round().astype(np.uint8), patch, 0.6),
        grid,
        patch,
        title,
        selected=selected,
        height=height,
        value_name="index",
    )


def difference_figure(img: Image.Image, a, b, patch: int, title: str, valid=None, height: int = 520) -> go.Figure:
    """A − B patch maps on a symmetric red/blue scale over a grey copy of the image."""
    d = to_numpy(a) - to_numpy(b)
    m = float(np.nanmax(np.abs(d))) or 1e-12
    rgb = draw_grid(overlay_rgb(img, d, patch, 0.7, SIGNED_SCALE, -m, m, valid, gray=True), patch)
    return image_figure(
        rgb, d.shape, patch, title, d, clickable=True, colorbar=(SIGNED_SCALE, -m, m), height=height, value_name="A − B"
    )


def overview_image(
    img: Image.Image, maps, patch: int, tile: int = 112, gap: int = 4, title: str | None = None, valid=None
) -> go.Figure:
    """Layer × head grid of overlays composed server-side into ONE image (not L·H plotly traces). Each tile is
    scaled to its own maximum. maps (L, H, gh, gw)."""
    m = to_numpy(maps)
    L, H, gh, gw = m.shape
    w, h = img.size
    tw, th = (tile, max(8, round(tile * h / w))) if w >= h else (max(8, round(tile * w / h)), tile)
    base = np.asarray(img.convert("RGB").resize((tw, th), Image.Resampling.BILINEAR), dtype=np.float32)
    keep = np.ones(gh * gw, bool) if valid is None else np.asarray(valid, bool)
    mask = _nearest(keep.reshape(gh, gw).astype(np.float32), tw, th)[..., None] > 0.5
    canvas = np.full((L * (th + gap), H * (tw + gap), 3), 255, dtype=np.uint8)
    for layer in range(L):
        for head in range(H):
            t = m[layer, head]
            hi = float(t.reshape(-1)[keep].max()) if keep.any() else 1.0
            heat = _nearest(colorize(t, OVERLAY_SCALE, 0.0, hi or 1.0), tw, th).astype(np.float32)
            blend = np.where(mask, 0.35 * base + 0.65 * heat, base)
            y, x = layer * (th + gap), head * (tw + gap)
            canvas[y : y + th, x : x + tw] = blend.round().astype(np.uint8)
    fig = go.Figure(go.Image(source=png_data_uri(canvas), hoverinfo="skip"))
    fig.update_layout(**base_layout(title, height=max(300, min(1400, L * (th + gap) + 80))))
    fig.update_xaxes(
        tickmode="array",
        tickvals=[i * (tw + gap) + tw / 2 for i in range(H)],
        ticktext=[f"H{i}" for i in range(H)],
        side="top",
        showgrid=False,
    )
    fig.update_yaxes(
        tickmode="array",
        tickvals=[i * (th + gap) + th / 2 for i in range(L)],
        ticktext=[f"L{i}" for i in range(L)],
        showgrid=False,
    )
    return fig


def _nearest(arr: np.ndarray, w: int, h: int) -> np.ndarray:
    """Nearest-neighbour resize of a (gh, gw[, 3]) array to (h, w[, 3])."""
    ys = np.minimum((np.arange(h) + 0.5) * arr.shape[0] / h, arr.shape[0] - 1).astype(int)
    xs = np.minimum((np.arange(w) + 0.5) * arr.shape[1] / w, arr.shape[1] - 1).astype(int)
    return arr[ys][:, xs]


def mean_distance_figure(mad, image_side: float | None = None, title: str | None = None) -> go.Figure:
    """Mean attention distance (px) of every head vs layer, as in the ViT paper (Fig. 7, right)."""
    d = to_numpy(mad)
    L, H = d.shape
    fig = go.Figure()
    for head in range(H):
        fig.add_trace(
            go.Scatter(
                x=np.arange(L) + (head - (H - 1) / 2) * 0.04,
                y=d[:, head],
                mode="markers",
                name=f"head {head}",
                marker=dict(size=8),
                hovertemplate=f"layer %{{x:.0f}}, head {head}: %{{y:.1f}} px<extra></extra>",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=np.arange(L), y=d.mean(1), mode="lines", name="mean over heads", line=dict(color="#444", dash="dot")
        )
    )
    if image_side:
        fig.add_hline(y=image_side, line=dict(color="#aaa", dash="dash"), annotation_text="image side")
    fig.update_layout(**base_layout(title, 420))
    fig.update_xaxes(title="layer (network depth)", dtick=1)
    fig.update_yaxes(title="mean attention distance (px)", rangemode="tozero")
    return fig


def collapse_figure(sim, title: str | None = None) -> go.Figure:
    """L × L cross-layer attention similarity (DeepViT), 0..1."""
    s = to_numpy(sim)
    L = s.shape[0]
    fig = go.Figure(
        go.Heatmap(
            z=s,
            x=list(range(L)),
            y=list(range(L)),
            zmin=0,
            zmax=1,
            colorscale=SEQ_SCALE,
            text=[[f"{v:.2f}" for v in row] for row in s],
            texttemplate="%{text}" if L <= 16 else None,
            hovertemplate="layers %{y} and %{x}: %{z:.3f}<extra></extra>",
            colorbar=dict(thickness=12, title="cos"),
        )
    )
    fig.update_layout(**base_layout(title, height=max(320, 28 * L + 120)))
    fig.update_xaxes(title="layer q", dtick=1)
    fig.update_yaxes(title="layer p", dtick=1, autorange="reversed", scaleanchor="x")
    return fig


def norm_ratio_figure(ratios, factor: float, title: str | None = None) -> go.Figure:
    """Max patch-token norm / median patch-token norm per layer, with the flagging threshold."""
    r = to_numpy(ratios)
    fig = go.Figure(
        go.Scatter(
            x=np.arange(len(r)),
            y=r,
            mode="lines+markers",
            name="max / median",
            hovertemplate="layer %{x}: %{y:.2f}×<extra></extra>",
        )
    )
    fig.add_hline(y=factor, line=dict(color="#ff2d55", dash="dash"), annotation_text=f"threshold {factor:g}×")
    fig.update_layout(**base_layout(title, 320))
    fig.update_xaxes(title="layer", dtick=1)
    fig.update_yaxes(title="‖x‖ max / median", rangemode="tozero")
    return fig
