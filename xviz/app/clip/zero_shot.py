"""CLIP page: zero-shot classification (your image, your labels, prompt templates and their ensemble) and two
label sets / templates / images side by side with their difference."""

from __future__ import annotations

import streamlit as st

from xviz.app import widgets
from xviz.app.clip.common import (
    DEFAULT_LABELS,
    SHAPES_LABELS,
    TEMPLATE_CHOICES,
    Ctx,
    has_text,
    knows_shapes_only,
    labels_box,
    probs_word,
    templates_box,
    zero_shot_run,
)
from xviz.app.image_input import image_input
from xviz.app.widgets import Q
from xviz.data import shapes
from xviz.plots import clip as clip_plots

COMPARE = ("Two label sets", "Two templates", "Two images")
ENSEMBLE = next(i for i, t in enumerate(TEMPLATE_CHOICES) if t.startswith("ensemble"))
CAPTIONS = {
    "bars": "logit = exp(t)·cos(image, text); CLIP turns the logits into a softmax over your labels (Radford et al. "
    "2021), SigLIP into one sigmoid per label, σ(logit) with its learned bias b inside (Zhai et al. 2023).",
    "templates": "One row per template: the same labels, worded differently, move the probabilities. The bars use "
    "the ensemble of all rows (mean of unit text embeddings, renormalised).",
    "compare": "Same model; A uses the controls above, B the one chosen here. Right: A − B per label.",
}


def _run(ctx: Ctx, img, labels, temps):
    z = zero_shot_run(ctx.name, ctx.device, img.digest, tuple(labels), tuple(temps), img)
    if z.truncated:
        st.warning("A label (with its template) is longer than the text tower takes: it was cut to fit.")
    return z


def _inputs(ctx: Ctx):
    """Image, labels and templates (A); None when the model cannot read text."""
    left, right = st.columns([2, 3])
    with left:
        img = image_input("clip_img", "Image", model=ctx.name)
        st.image(img.image, width="stretch")
    with right:
        if not has_text(ctx):
            return None
        if knows_shapes_only(ctx):  # its own boxes: switching to another CLIP brings that one's defaults back
            labels = labels_box("clip_labels_shapes", default=SHAPES_LABELS)
            temps = templates_box("clip_tpl_shapes", index=0)
        else:
            labels = labels_box("clip_labels", default=DEFAULT_LABELS)
            temps = templates_box("clip_tpl", index=ENSEMBLE)
    return img, labels, temps


def _template_answers(z) -> None:
    answers = {t: z.labels[int(row.argmax())] for t, row in zip(z.templates, z.per_template)}
    if len(set(answers.values())) > 1:
        changes = "; ".join(f"“{widgets.literal(t)}” → {widgets.literal(a)}" for t, a in answers.items())
        st.info(f"The template changes the answer: {changes}.")


def zero_shot_section(ctx: Ctx) -> None:
    got = _inputs(ctx)
    if got is None:
        return
    img, labels, temps = got
    z = _run(ctx, img, labels, temps)
    best = z.labels[int(z.probs.argmax())]
    st.markdown(f"**Answer:** {widgets.literal(best)} (p = {float(z.probs.max()):.3f}, {probs_word(ctx)}).")
    a, b = st.columns(2)
    with a:
        title = "template ensemble" if len(temps) > 1 else f"template “{temps[0]}”"
        widgets.figure(
            clip_plots.label_bars(z.labels, z.probs, title, ctx.model.is_sigmoid), "clip_zs_bars", CAPTIONS["bars"]
        )
    with b:
        widgets.figure(
            clip_plots.template_heatmap(z.per_template, z.templates, z.labels, "each template alone"),
            "clip_zs_templates",
            caption=CAPTIONS["templates"],
        )
    _template_answers(z)


def compare_section(ctx: Ctx) -> None:
    got = _inputs(ctx)
    if got is None:
        return
    img, labels, temps = got
    what = st.radio("Compare", COMPARE, key="clip_cmp", horizontal=True, bind=Q)
    z_a = _run(ctx, img, labels, temps)
    if what == COMPARE[0]:
        colours_only = "\n".join(shapes.with_article(f"{c} shape") for c in shapes.COLOURS)
        shapes_only = knows_shapes_only(ctx)
        key, default = (
            ("clip_labels_b_shapes", colours_only) if shapes_only else ("clip_labels_b", "cat\ndog\nastronaut")
        )
        labels_b = labels_box(key, "Labels B", default)
        z_b = _run(ctx, img, labels_b, temps)
        _two_sets(ctx, z_a, z_b)
        return
    if what == COMPARE[1]:
        temps_b = templates_box("clip_tpl_b", "Template B", index=0)
        z_b, names = _run(ctx, img, labels, temps_b), ("template A", "template B")
    else:
        img_b = image_input("clip_img_b", "Image B", default="astronaut", model=ctx.name)
        z_b, names = _run(ctx, img_b, labels, temps), ("image A", "image B")
    widgets.figure(
        clip_plots.compare_bars(z_a.labels, z_a.probs, z_b.probs, names, f"{names[0]} vs {names[1]}"),
        "clip_cmp_fig",
        caption=CAPTIONS["compare"],
    )


def _two_sets(ctx: Ctx, z_a, z_b) -> None:
    """Two label sets: each on its own (a softmax depends on which other labels compete), then the shared ones."""
    a, b = st.columns(2)
    for col, z, tag in ((a, z_a, "A"), (b, z_b, "B")):
        with col:
            widgets.figure(
                clip_plots.label_bars(z.labels, z.probs, f"labels {tag}", ctx.model.is_sigmoid), f"clip_set_{tag}"
            )
    shared = [lab for lab in z_a.labels if lab in z_b.labels]
    if not shared:
        st.info("The two sets share no label: nothing to subtract.")
        return
    pa = z_a.probs[[z_a.labels.index(x) for x in shared]]
    pb = z_b.probs[[z_b.labels.index(x) for x in shared]]
    widgets.figure(
        clip_plots.compare_bars(shared, pa, pb, ("set A", "set B"), "shared labels: A vs B"),
        "clip_set_diff",
        caption="The same label gets another probability when the competing labels change (CLIP's softmax); "
        "SigLIP's per-label sigmoid does not depend on the other labels.",
    )
