"""MAE figures: the image panels (original, masked, reconstruction, pasted, per-patch error), a two-setting
comparison, and the training / fine-tuning curves. Images are server-rendered (px.imshow binary_string)."""

from __future__ import annotations

import numpy as np
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from xviz.plots.heatmap import colorize
from xviz.plots.style import PROB_SCALE, base_layout, subplot_titles

PANELS = ("original", "masked", "recon", "pasted", "error")
TITLES = {
    "original": "original",
    "masked": "what the encoder sees",
    "recon": "reconstruction (all patches)",
    "pasted": "reconstruction + visible",
    "error": "per-patch error (MSE)",
}
DISPLAY = 256  # panels are upscaled (nearest) to this many px: a 64-px model input stays crisp on screen


def _upscale(img: np.ndarray, side: int = DISPLAY) -> np.ndarray:
    """Nearest-neighbour upscale of (H, W[, C]) by an integer factor so the longer side is ≤ side."""
    f = max(1, side // max(img.shape[:2]))
    return img.repeat(f, axis=0).repeat(f, axis=1)


def error_image(rec) -> np.ndarray:
    """(h, w) per-patch MSE → (H, W, 3) uint8 (Viridis); visible patches light grey (they are pasted, not predicted)."""
    err = rec.patch_error.astype(np.float32).copy()
    err[~rec.is_masked] = np.nan
    rgb = colorize(err, PROB_SCALE, zmin=0.0, zmax=max(float(np.nanmax(err)) if rec.is_masked.any() else 1.0, 1e-6))
    p = rec.original.shape[0] // rec.patch_error.shape[0]
    return rgb.repeat(p, axis=0).repeat(p, axis=1)


def _panel(rec, name: str) -> np.ndarray:
    if name == "error":
        return _upscale(error_image(rec))
    return _upscale((np.clip(getattr(rec, name), 0, 1) * 255).astype(np.uint8))


def _image_trace(img: np.ndarray) -> go.Image:

    return px.imshow(img, binary_string=True).data[0]


def reconstruction_figure(rec, panels=PANELS, title: str | None = None) -> go.Figure:
    """One row of panels for one Reconstruction."""
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[TITLES[p] for p in panels], horizontal_spacing=0.01)
    for i, name in enumerate(panels, start=1):
        fig.add_trace(_image_trace(_panel(rec, name)), row=1, col=i)
    if "error" in panels and rec.is_masked.any():  # the heatmap is an image: give its scale in words
        fig.layout.annotations[
            list(panels).index("error")
        ].text += f"<br>dark 0 … yellow {float(rec.patch_error[rec.is_masked].max()):.3f}"
    _axes_off(fig)
    fig.update_layout(**_layout(title or _summary(rec), 340))
    return subplot_titles(fig)


def compare_figure(rec_a, rec_b, label_a: str, label_b: str, panels=("masked", "pasted", "error")) -> go.Figure:
    """Two settings (ratios or strategies) on the same image, one row each."""
    fig = make_subplots(
        rows=2,
        cols=len(panels),
        horizontal_spacing=0.01,
        vertical_spacing=0.08,
        subplot_titles=[f"{label_a}: {TITLES[p]}" for p in panels] + [f"{label_b}: {TITLES[p]}" for p in panels],
    )
    for r, rec in enumerate((rec_a, rec_b), start=1):
        for c, name in enumerate(panels, start=1):
            fig.add_trace(_image_trace(_panel(rec, name)), row=r, col=c)
    _axes_off(fig)
    fig.update_layout(**_layout(f"A: {_summary(rec_a, False)}<br>B: {_summary(rec_b, False)}", 640))
    return subplot_titles(fig)


def _layout(title: str, height: int) -> dict:
    lay = base_layout(title, height=height)
    lay["title"]["font"] = dict(size=12)
    lay["margin"] = dict(l=10, r=10, t=80, b=10)
    return lay


def _summary(rec, newline: bool = True) -> str:
    kept = int((~rec.is_masked).sum())
    return (
        f"{rec.strategy}, ratio {rec.ratio:.2f} ({kept}/{rec.is_masked.size} visible)"
        + ("<br>" if newline else " — ")
        + f"PSNR on hidden pixels {rec.psnr_masked:.1f} dB (mean-colour fill {rec.psnr_mean_fill:.1f}, "
        f"nearest-visible fill {rec.psnr_nearest_fill:.1f})"
    )


def _axes_off(fig: go.Figure) -> None:
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor=None, constraintoward="top")  # pictures right under their titles


def loss_curve_figure(losses: list[float], title: str = "fine-tuning loss (hidden patches)") -> go.Figure:
    fig = go.Figure(go.Scatter(x=list(range(1, len(losses) + 1)), y=losses, mode="lines+markers"))
    fig.update_layout(**base_layout(title, height=280), xaxis_title="step", yaxis_title="MSE (normalised pixels)")
    return fig


def training_curve_figure(curve: dict[str, list[float]], title: str = "mae-small training") -> go.Figure:
    """Training loss and held-out PSNR (model vs the two baselines) against the step, one above the other."""
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.12,
        subplot_titles=[
            "training loss on hidden patches (normalised pixels)",
            "held-out PSNR on hidden pixels at ratio 0.75 (dB)",
        ],
    )
    fig.add_trace(go.Scatter(x=curve["step"], y=curve["loss"], name="training loss"), row=1, col=1)
    for key, name in (
        ("psnr_model", "MAE (held-out)"),
        ("psnr_mean_fill", "mean-colour fill"),
        ("psnr_nearest_fill", "nearest-visible-patch fill"),
    ):
        fig.add_trace(go.Scatter(x=curve["step"], y=curve[key], name=name), row=2, col=1)
    fig.update_xaxes(title_text="step", row=2, col=1)
    fig.update_layout(**base_layout(title, height=560), width=820, legend=dict(orientation="h", y=-0.12, x=0))
    return subplot_titles(fig)
