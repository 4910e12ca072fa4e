"""Figure builders of the Masking page: boolean masks with tokens on the axes, a padded batch, attention under a
mask, and MAE's patch mask on an image."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import torch
from PIL import Image

from xviz.plots.heatmap import heatmap, png_data_uri, shorten
from xviz.plots.style import MASK_SCALE, PROB_SCALE, base_layout


def mask_figure(mask: torch.Tensor, tokens: list[str] | None = None, title: str = "mask") -> go.Figure:
    """(Nq, Nk) bool mask, dark = may attend; density in the title."""
    m = mask.float()
    fig = heatmap(
        m,
        tokens,
        tokens,
        title=f"{title} — {float(m.mean()):.0%} of pairs allowed",
        colorscale=MASK_SCALE,
        zmin=0,
        zmax=1,
        value_name="may attend",
        height=460,
    )
    fig.update_traces(showscale=False, selector=dict(type="heatmap"))
    return fig


def batch_figure(tokens: list[list[str]], attention_mask: torch.Tensor, title: str = "attention_mask") -> go.Figure:
    """(B, N) key mask of a padded batch, with each token written in its cell (1 = real token, 0 = [PAD])."""
    am = attention_mask.detach().float().cpu().numpy()
    B, N = am.shape
    text = np.array([[shorten(t, 10) for t in row] for row in tokens], dtype=object)
    fig = go.Figure(
        go.Heatmap(
            z=am,
            colorscale=MASK_SCALE,
            zmin=0,
            zmax=1,
            showscale=False,
            text=text,
            texttemplate="%{text}" if N <= 40 else None,
            textfont=dict(size=10),
            hovertemplate="sentence %{y}, position %{x}: %{text}<br>mask %{z:.0f}<extra></extra>",
        )
    )
    fig.update_layout(**base_layout(title, 90 + 38 * B))
    fig.update_yaxes(
        autorange="reversed", tickvals=list(range(B)), ticktext=[f"#{b}" for b in range(B)], title="sentence"
    )
    fig.update_xaxes(title="token position")
    return fig


def probs_figure(probs: torch.Tensor, tokens: list[str] | None, title: str) -> go.Figure:
    """Attention probabilities (Nq, Nk) of one head under a mask (masked entries are exactly 0)."""
    return heatmap(probs, tokens, tokens, title=title, colorscale=PROB_SCALE, zmin=0, value_name="p", height=460)


def mae_mask_figure(image: Image.Image, is_masked: torch.Tensor, size: int, title: str) -> go.Figure:
    """The image resized to size × size with hidden patches greyed out and the patch grid drawn."""
    g = is_masked.shape[0]
    p = size // g
    arr = np.asarray(square(image).resize((size, size), Image.BICUBIC)).astype(np.float32)  # (H, W, 3)
    pix = is_masked.numpy().repeat(p, 0).repeat(p, 1)[..., None]  # (h, w) → (H, W, 1)
    out = np.where(pix, 0.25 * arr + 0.75 * 128, arr)
    out[::p, :, :] = out[:, ::p, :] = 255  # grid lines
    fig = go.Figure(go.Image(source=png_data_uri(out.clip(0, 255).astype(np.uint8)), hoverinfo="skip"))
    fig.update_layout(**base_layout(title, 460))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x")
    return fig


def square(image: Image.Image) -> Image.Image:
    """Centre crop to a square (models see square inputs)."""
    w, h = image.size
    s = min(w, h)
    return image.convert("RGB").crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))


def patch_grid_figure(
    is_masked: torch.Tensor, title: str = "is_masked: light = True (hidden), dark = visible"
) -> go.Figure:
    """The (h, w) boolean patch mask itself, as the model's tensor."""
    m = is_masked.float().numpy()
    fig = go.Figure(
        go.Heatmap(
            z=m,
            colorscale=[[0, "#1f5fa8"], [1, "#f3f3f3"]],
            zmin=0,
            zmax=1,
            showscale=False,
            xgap=1,
            ygap=1,
            hovertemplate="row %{y}, col %{x}: masked=%{z:.0f}<extra></extra>",
        )
    )
    fig.update_layout(**base_layout(title, 460))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain")
    fig.update_xaxes(constrain="domain")
    return fig


MLM_COLOURS = {"": "#f3f3f3", "special": "#d9d9d9", "mask": "#1f5fa8", "random": "#d9822b", "kept": "#3a9d5d"}


def _mlm_category(what: str) -> str:
    return (
        "mask"
        if "[MASK]" in what
        else "random"
        if "random" in what
        else "kept"
        if "kept" in what
        else "special"
        if what.startswith("special")
        else ""
    )


def mlm_figure(rows: list[dict], title: str = "MLM: what the model reads and what it must predict") -> go.Figure:
    """Three strips over the positions — token, model input, label — coloured by what happened to each token
    (blue → [MASK], orange → random token, green → kept but predicted, grey → special, never selected)."""
    cats = [_mlm_category(r["selected"]) for r in rows]
    names = list(MLM_COLOURS)
    code = np.array([[names.index(c) for c in cats]] * 3, dtype=float)  # (3, N)
    text = np.array([[shorten(str(r[k]), 10) for r in rows] for k in ("token", "model input", "label")], dtype=object)
    text[2] = [t if c in ("mask", "random", "kept") else "" for t, c in zip(text[2], cats)]
    n = len(names) - 1
    scale = [[i / n, MLM_COLOURS[c]] for i, c in enumerate(names)]
    fig = go.Figure(
        go.Heatmap(
            z=code,
            colorscale=scale,
            zmin=0,
            zmax=n,
            showscale=False,
            text=text,
            texttemplate="%{text}" if len(rows) <= 40 else None,
            textfont=dict(size=10),
            xgap=1,
            ygap=1,
            hovertemplate="position %{x}: %{text}<extra></extra>",
        )
    )
    fig.update_layout(**base_layout(title, 230))
    fig.update_yaxes(autorange="reversed", tickvals=[0, 1, 2], ticktext=["token", "model input", "label"])
    fig.update_xaxes(title="token position")
    return fig
