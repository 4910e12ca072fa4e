"""Render helpers of the MAE page: controls, the reconstruction, side-by-side comparison, fine-tuning."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st
import torch

from xviz.analysis.mae import reconstruct
from xviz.analysis.mae_train import finetune
from xviz.app import state
from xviz.app.widgets import Q, figure
from xviz.inputs.image import LoadedImage
from xviz.layers.patches import STRATEGIES
from xviz.models.mae import MAE
from xviz.plots import mae as mae_plots

HELD_OUT = {"chelsea", "coffee", "rocket"}  # scripts/train_mae.py HELD_OUT
TRAINED_ON = {"astronaut", "camera", "retina"}
WHICH_MODEL = (
    "Which MAE: **mae-small** was trained on photos (12 public-domain images) and is rough on new ones; "
    "**mae-shapes** was trained on rendered shapes scenes and reconstructs them convincingly — pick it in the "
    "sidebar and show it a shapes scene (the image source above the picture), not a photo."
)
STRATEGY_HELP = (
    "random: MAE's uniform sampling (smallest noise kept). block: BEiT-style rectangles. "
    "grid: a regular lattice (one kept patch per 2×2 cell at 0.75)."
)


@dataclass
class Ctx:
    model: MAE
    pixel_values: torch.Tensor  # (1, C, H, W) model space
    strategy: str
    ratio: float
    seed: int
    key: str  # identifies image + model (for stored fine-tuning results)


def model_notes(model: MAE, name: str, source: str) -> None:
    cfg = model.cfg
    H, W = cfg.image_size
    st.caption(
        f"Model **{name}**: {cfg.num_layers}-block encoder ({cfg.hidden_size} wide) on the visible patches "
        f"only, {cfg.decoder_layers}-block decoder ({cfg.decoder_hidden_size} wide); {cfg.patch_size}-px "
        f"patches; the image is resized and centre-cropped to {H}×{W} px."
    )
    note = state.model_note(name, model)
    if note:
        st.caption(note + ".")
    st.caption(WHICH_MODEL)
    if cfg.norm_pix_loss:
        st.info(
            "This checkpoint was trained with **norm_pix_loss**: it predicts each patch normalised by its own "
            "mean and std. The reconstruction is shown un-normalised with the **true** patch's mean and std "
            "— information the viewer has but the model never saw — so colours and contrast of hidden patches "
            "are borrowed from the original."
        )
    else:
        st.caption("Targets: **plain pixels** — the reconstruction is the decoder's raw output, nothing borrowed.")
    if name == "mae-small" and source.startswith("sample:"):
        sample = source.split(":", 1)[1]
        if sample in HELD_OUT:
            st.caption(f"“{sample}” was held out: mae-small never saw it in training.")
        elif sample in TRAINED_ON:
            st.caption(f"“{sample}” was one of mae-small's training images (seen with heavy augmentation).")


def controls(model: MAE, img: LoadedImage, name: str) -> Ctx:
    c1, c2, c3 = st.columns([2, 3, 1])
    strategy = c1.selectbox("Masking strategy", STRATEGIES, key="mae_strategy", help=STRATEGY_HELP, bind=Q)
    ratio = c2.slider("Mask ratio", 0.0, 0.95, 0.75, 0.05, key="mae_ratio", help="MAE's default: 0.75.", bind=Q)
    seed = int(c3.number_input("Seed", 0, 1_000_000, 0, key="mae_seed", bind=Q))
    pv = model.prepare(img.image)["pixel_values"]
    return Ctx(model, pv, strategy, ratio, seed, f"{name}:{img.digest[:12]}")


def reconstruction_section(c: Ctx) -> None:
    rec = reconstruct(c.model, c.pixel_values, c.strategy, c.ratio, c.seed)
    m1, m2, m3 = st.columns(3)
    if not rec.is_masked.any():
        st.info("Ratio 0 hides nothing: there is nothing to reconstruct.")
    else:
        m1.metric("PSNR on hidden pixels", f"{rec.psnr_masked:.2f} dB")
        m2.metric(
            "mean-colour fill", f"{rec.psnr_mean_fill:.2f} dB", f"MAE {rec.psnr_masked - rec.psnr_mean_fill:+.2f} dB"
        )
        m3.metric(
            "nearest-visible-patch fill",
            f"{rec.psnr_nearest_fill:.2f} dB",
            f"MAE {rec.psnr_masked - rec.psnr_nearest_fill:+.2f} dB",
        )
    figure(
        mae_plots.reconstruction_figure(rec),
        "mae_rec",
        caption="Grey squares are hidden from the encoder. 'Reconstruction + visible' = x·(1 − mask) + "
        "pred·mask: only hidden patches come from the decoder. The error map shows each hidden patch's "
        "mean squared error in display RGB (visible patches grey).",
    )


def compare_section(c: Ctx) -> None:
    what = st.radio("Compare", ["two ratios", "two strategies"], key="mae_cmp", horizontal=True, bind=Q)
    if what == "two ratios":
        ratio_b = st.slider("Ratio B", 0.0, 0.95, 0.5, 0.05, key="mae_ratio_b", bind=Q)
        a_lbl, b_lbl, b = f"ratio {c.ratio:.2f}", f"ratio {ratio_b:.2f}", (c.strategy, ratio_b)
    else:
        others = [s for s in STRATEGIES if s != c.strategy]
        strat_b = st.selectbox("Strategy B", others, key="mae_strategy_b", bind=Q)
        a_lbl, b_lbl, b = c.strategy, strat_b, (strat_b, c.ratio)
    rec_a = reconstruct(c.model, c.pixel_values, c.strategy, c.ratio, c.seed)
    rec_b = reconstruct(c.model, c.pixel_values, b[0], b[1], c.seed)
    figure(
        mae_plots.compare_figure(rec_a, rec_b, f"A ({a_lbl})", f"B ({b_lbl})"),
        "mae_cmp_fig",
        caption="Same image and seed; row A uses the controls above, row B the setting chosen here.",
    )


def step_cap(model: MAE) -> int:
    """Fine-tuning steps allowed: generous on a GPU, small on the CPU (bigger models: smaller)."""
    if model.device.type == "cuda":
        return 500
    return 60 if sum(p.numel() for p in model.parameters()) < 5e6 else 5


def finetune_section(c: Ctx) -> None:
    cap = step_cap(c.model)
    st.caption(
        f"Trains a private **copy** of the model on this one image (random masks, crops and flips); the "
        f"shared model stays as it is. Up to {cap} steps on this device."
    )
    steps = int(st.number_input("Steps", 1, cap, min(20, cap), key="mae_ft_steps", bind=Q))
    lr = st.select_slider("Learning rate", [1e-5, 3e-5, 1e-4, 3e-4, 1e-3], 3e-4, key="mae_ft_lr", bind=Q)
    if st.button("Fine-tune on this image", key="mae_ft_go"):
        bar = st.progress(0.0, text="fine-tuning…")
        batch = 8 if cap > 5 else 2
        tuned, losses = finetune(
            c.model,
            c.pixel_values,
            steps,
            lr=lr,
            seed=c.seed,
            batch_size=batch,
            progress=lambda i, loss: bar.progress(i / steps, text=f"step {i}/{steps}: loss {loss:.4f}"),
        )
        before = reconstruct(c.model, c.pixel_values, c.strategy, c.ratio, c.seed)
        after = reconstruct(tuned, c.pixel_values, c.strategy, c.ratio, c.seed)
        st.session_state["mae_ft_result"] = (c.key, before, after, losses)
        del tuned  # the copy lives only for this run
    result = st.session_state.get("mae_ft_result")
    if result and result[0] == c.key:
        _, before, after, losses = result
        st.markdown(
            f"PSNR on hidden pixels: **{before.psnr_masked:.2f} dB → {after.psnr_masked:.2f} dB** after "
            f"{len(losses)} steps (same mask). A model tuned on one image can memorise it: a high score "
            "here says little about other images."
        )
        figure(
            mae_plots.compare_figure(before, after, "before", "after fine-tuning"),
            "mae_ft_fig",
            caption="The same mask and seed before and after fine-tuning the private copy.",
        )
        figure(
            mae_plots.loss_curve_figure(losses),
            "mae_ft_loss",
            caption="MAE loss on the hidden patches at each fine-tuning step (random masks, crops and flips).",
        )
