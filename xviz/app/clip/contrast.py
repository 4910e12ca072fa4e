"""CLIP page: the contrastive matrix of a batch of images × their captions — cosines, × the learned 1/τ, softmax
per row and per column and the symmetric cross-entropy (CLIP), or a sigmoid per pair and its loss (SigLIP)."""

from __future__ import annotations

import streamlit as st
import torch

from xviz.app import widgets
from xviz.app.clip.common import Ctx, contrast_run, has_text
from xviz.app.widgets import Q
from xviz.data.shapes import render_scene
from xviz.errors import InputError
from xviz.plots import clip as clip_plots
from xviz.samples import sample_image, sample_names

SOURCES = ("Shapes world", "Sample images")
SAMPLE_CAPTIONS = {
    "astronaut": "an astronaut",
    "chelsea": "a cat",
    "coffee": "a cup of coffee",
    "rocket": "a rocket",
    "camera": "a man with a camera",
    "retina": "a picture of a retina",
}


def _batch() -> tuple[list, list[str], list[str], str]:
    """(images, captions, row names, cache key) of the chosen batch; caption i belongs to image i."""
    src = st.radio("Images", SOURCES, key="clip_batch_src", horizontal=True, bind=Q)
    if src == SOURCES[0]:
        a, b = st.columns(2)
        n = a.slider("Scenes", 2, 8, 4, key="clip_batch_n", bind=Q)
        seed = int(b.number_input("First scene (seed)", 0, 100_000, 0, key="clip_batch_seed", bind=Q))
        scenes = [render_scene(s, "test") for s in range(seed, seed + n)]
        names = [f"scene {s.seed}" for s in scenes]
        return [s.image for s in scenes], [s.caption for s in scenes], names, f"shapes:{seed}:{n}"
    names = st.multiselect("Samples", sample_names(), ["chelsea", "astronaut", "coffee"], key="clip_batch", bind=Q)
    if len(names) < 2:
        raise InputError("Pick at least two sample images.")
    stored = st.session_state.get("clip_caps", "")
    if len([c for c in stored.splitlines() if c.strip()]) != len(names):  # new images: their default captions
        st.session_state["clip_caps"] = "\n".join(SAMPLE_CAPTIONS[x] for x in names)
    text = st.text_area(
        "Captions (one per line, in the order of the images)", key="clip_caps", height=40 + 22 * len(names), bind=Q
    )
    caps = [c.strip() for c in text.splitlines() if c.strip()]
    loaded = [sample_image(x) for x in names]
    return [x.image for x in loaded], caps, names, "samples:" + ",".join(x.digest[:12] for x in loaded)


def _thumbs(images, captions: list[str], names: list[str]) -> None:
    cols = st.columns(max(len(images), 6))
    for i, (col, im, cap, nm) in enumerate(zip(cols, images, captions, names)):
        col.image(im, width=120)
        col.caption(f"**image {i}** ({widgets.literal(nm)}) — caption {i}: {widgets.literal(cap)}")


def contrast_section(ctx: Ctx) -> None:
    if not has_text(ctx):
        return
    images, captions, names, key = _batch()
    _thumbs(images, captions, names)
    c = contrast_run(ctx.name, ctx.device, key, tuple(captions), tuple(images))
    scale = f"exp(t) = 1/τ = {c.scale:.2f}" + (f", b = {c.bias:.2f}" if c.bias is not None else "")
    m1, m2, m3 = st.columns(3)
    m1.metric("Loss on this batch", f"{c.loss:.3f} nats")
    m2.metric("Learned scale", f"{c.scale:.2f}", help=scale)
    m3.metric("Matched pairs ranked first", f"{int((c.logits.argmax(1) == _diag(c)).sum())} / {len(names)}")
    a, b = st.columns(2)
    with a:
        widgets.figure(
            clip_plots.matrix_figure(c.cos, names, captions, "cosine(image i, caption j)", signed=True),
            "clip_cos",
            caption="Unit image and text embeddings, one dot product per pair; the diagonal holds the matches.",
        )
    with b:
        widgets.figure(
            clip_plots.matrix_figure(
                c.logits,
                names,
                captions,
                f"logits = {c.scale:.2f} × cosine" + (f" {c.bias:+.2f}" if c.bias is not None else ""),
                signed=True,
                fmt=".1f",
            ),
            "clip_logits",
            caption="The learned temperature sharpens the cosines before the softmax (CLIP) or the sigmoid (SigLIP).",
        )
    _probabilities(c, names, captions)


def _diag(c) -> torch.Tensor:
    return torch.arange(c.logits.shape[0])


def _probabilities(c, names, captions) -> None:
    if c.sigmoid:
        widgets.figure(
            clip_plots.matrix_figure(c.p_image_to_text, names, captions, "σ(logit): probability that the pair matches"),
            "clip_sig",
            caption="SigLIP (Zhai et al. 2023): every pair is its own binary problem, loss −log σ(z·logit) with z = +1 "
            "for a match and −1 otherwise; no softmax couples the rows or the columns.",
        )
    else:
        a, b = st.columns(2)
        with a:
            widgets.figure(
                clip_plots.matrix_figure(c.p_image_to_text, names, captions, "softmax per row: image → caption"),
                "clip_rows",
                caption="Each image's distribution over the captions (rows sum to 1).",
            )
        with b:
            widgets.figure(
                clip_plots.matrix_figure(c.p_text_to_image, names, captions, "softmax per column: caption → image"),
                "clip_cols",
                caption="Each caption's distribution over the images (columns sum to 1).",
            )
    widgets.figure(
        clip_plots.loss_bars(c.loss_rows, c.loss_cols, names, "loss per pair", c.sigmoid),
        "clip_loss",
        caption="CLIP (Radford et al. 2021, Fig. 3): L = ½ (mean image→caption CE + mean caption→image CE) with the "
        "diagonal as targets. SigLIP: L = mean over images of Σ_j −log σ(z_ij·logit_ij).",
    )
