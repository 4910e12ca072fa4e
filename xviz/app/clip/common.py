"""The CLIP page's shared state: the chosen CLIP model (`Ctx`), the label and template boxes, and the cached runs,
keyed on plain values (model name, device, image digest, labels, templates, caption)."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from xviz.analysis.clip import TEMPLATES, Contrast, ZeroShot, contrast, parse_labels, parse_templates, zero_shot
from xviz.analysis.clip_maps import TextTowerRun, patch_similarity, relevance_map, text_tower
from xviz.analysis.image_run import ImageRun, run_image
from xviz.app import state, widgets
from xviz.app.widgets import Q
from xviz.data import shapes
from xviz.pretrained.zoo import trained_on_shapes

DEFAULT_LABELS = "cat\ndog\nastronaut\nred circle\nblue square\ngreen triangle\npurple circle"  # shapes words too
SHAPES_LABELS = "\n".join(shapes.label_phrases())  # a shapes-world CLIP knows only its captions' words
CUSTOM = "custom…"
TEMPLATE_CHOICES = [*TEMPLATES, CUSTOM]
NO_CLIP = (
    "No CLIP model is available yet. Add a Hugging Face CLIP or SigLIP folder (config.json, model.safetensors and "
    "its tokenizer) in the sidebar under **Add a model**, or `hf:<id>` with internet; `clip-shapes` appears here "
    "once it ships."
)


@dataclass(frozen=True)
class Ctx:
    name: str
    device: str
    model: object  # the ClipModel (shared, read-only)


def load() -> Ctx:
    """The sidebar's CLIP model (clip-shapes when the zoo has it); a message and a stop when there is none."""
    name = state.model_name("clip")
    if not name:
        st.info(NO_CLIP)
        st.stop()
    model = state.get_model_named(name)
    if model.kind != "clip":
        st.error(f"{widgets.literal(name)} is not a CLIP model (kind {model.kind!r}).")
        st.stop()
    family = "SigLIP (sigmoid loss)" if model.is_sigmoid else "CLIP (softmax / symmetric cross-entropy)"
    bias = f", b = {model.logit_bias:.2f}" if model.logit_bias is not None else ""
    tower = model.vision_tower
    st.caption(
        f"Model **{widgets.literal(name)}** — {family}; learned scale exp(t) = 1/τ = {model.logit_scale:.2f}{bias}; "
        f"image tower {tower.num_layers} layers × {tower.num_heads} heads, text tower {model.num_layers} layers × "
        f"{model.num_heads} heads, at most {model.text_max_tokens} tokens per text."
    )
    note = state.model_note(name, model)
    if note:
        st.caption(widgets.literal(note))
    return Ctx(name, str(state.device()), model)


def knows_shapes_only(ctx: Ctx) -> bool:
    """A CLIP trained on the shapes world: its labels are the world's captions, with no photo template."""
    return trained_on_shapes(ctx.name)


def has_text(ctx: Ctx) -> bool:
    """False (with a message) when the model came without a tokenizer: its text tower cannot read labels."""
    if ctx.model.has_tokenizer:
        return True
    st.error(
        f"{widgets.literal(ctx.name)} has no tokenizer, so its text tower cannot read labels or captions. Save "
        "the tokenizer into the folder (tokenizer.json or vocab files, e.g. `tokenizer.save_pretrained(folder)`) "
        "and add it again. The image tower still works: see **Inside both towers**."
    )
    return False


def labels_box(key: str, label: str = "Labels (one per line)", default: str = DEFAULT_LABELS) -> list[str]:
    st.session_state.setdefault(key, default)
    text = st.text_area(label, key=key, height=150, bind=Q, help="One label per line (or comma-separated).")
    return parse_labels(text)


def templates_box(key: str, label: str = "Prompt template", index: int = 0) -> tuple[str, ...]:
    choice = st.selectbox(
        label,
        TEMPLATE_CHOICES,
        index=index,
        key=key,
        bind=Q,
        help="{} is replaced by each label. An ensemble averages the label's unit text embeddings over the "
        "templates and renormalises (Radford et al. 2021, §3.1.4).",
    )
    if choice != CUSTOM:
        return TEMPLATES[choice]
    st.session_state.setdefault(f"{key}_custom", "a photo of a {}.\na blurry photo of a {}.")
    return parse_templates(st.text_area("Templates (one per line)", key=f"{key}_custom", height=90, bind=Q))


def probs_word(ctx: Ctx) -> str:
    return "σ(logit), one per label" if ctx.model.is_sigmoid else "softmax over the labels"


# ---- cached runs (plain keys; the shared model is only read) ----------------------------------------------------
def _model(name: str, device: str):
    return state.load_model_cached(name, device)


@st.cache_data(max_entries=32, show_spinner="Classifying…")
def zero_shot_run(name: str, device: str, digest: str, labels: tuple, templates: tuple, _img) -> ZeroShot:
    return zero_shot(_model(name, device), _img.image, list(labels), templates)


@st.cache_data(max_entries=16, show_spinner="Embedding images and captions…")
def contrast_run(name: str, device: str, key: str, captions: tuple, _images) -> Contrast:
    return contrast(_model(name, device), list(_images), list(captions))


@st.cache_data(max_entries=16, show_spinner="Computing where the caption looks…")
def maps_run(name: str, device: str, digest: str, caption: str, _img) -> dict:
    model = _model(name, device)
    batch = model.prepare(_img.image)
    return dict(
        image=batch.image,
        patch=batch.patch_size,
        valid=batch.valid,
        similarity=patch_similarity(model, batch, caption),
        relevance=relevance_map(model, batch, caption),
    )


@st.cache_resource(max_entries=4, show_spinner="Recording the image tower…")
def tower_run(name: str, device: str, digest: str, _img) -> ImageRun:
    return run_image(_model(name, device).vision_tower, _img)


@st.cache_data(max_entries=16, show_spinner="Recording the text tower…")
def text_run(name: str, device: str, text: str) -> TextTowerRun:
    return text_tower(_model(name, device), text)
