"""Image input widget: a bundled sample, an upload (validated by xviz.inputs.image: messages, never tracebacks) or a
held-out scene of the shapes world (the data of clip-shapes, swin-shapes, mae-shapes). Returns a LoadedImage
(picture, notes, source, digest); the source radio, the sample and the scene are bound to the URL."""

from __future__ import annotations

import streamlit as st

from xviz.app.widgets import Q, literal
from xviz.data import shapes
from xviz.errors import InputError
from xviz.inputs.image import LoadedImage, fit_image, load_image
from xviz.pretrained.zoo import trained_on_shapes
from xviz.samples import CAPTIONS, sample_image, sample_names

MAX_SIDE = 1024  # uploads are downscaled to this for display and overlays (models resize anyway)
SOURCES = ["Sample", "Upload", "Shapes scene"]


def _hashed(loaded: LoadedImage) -> LoadedImage:
    """Compute the digest now, so the cached copy carries it: an image is hashed once."""
    _ = loaded.digest
    return loaded


@st.cache_data(max_entries=16, show_spinner=False)
def _sample(name: str) -> LoadedImage:
    return _hashed(sample_image(name))


@st.cache_data(max_entries=8, show_spinner=False)
def _upload(file_id: str, name: str, source: str, _data: bytes) -> LoadedImage:
    """One decode, downscale and digest per uploaded file (Streamlit gives every upload a new file_id)."""
    return _hashed(fit_image(load_image(_data, name, source), MAX_SIDE))


@st.cache_data(max_entries=32, show_spinner=False)
def _scene(seed: int) -> LoadedImage:
    scene = shapes.render_scene(seed, "test", exclude=frozenset())  # held-out combinations may appear
    return _hashed(LoadedImage(scene.image, source=f"shapes:{seed}", notes=(scene.full_caption,)))


def image_input(key: str, label: str = "Image", default: str = "chelsea", model: str = "") -> LoadedImage:
    """A radio between bundled samples, an upload and a shapes scene → LoadedImage (RGB, longer side ≤ 1024 px
    for uploads). The radio starts on "Shapes scene" when `model` was trained on the shapes world.

    On a bad or missing upload the message is shown and the page run stops (st.stop); switching back to a
    sample makes the page usable again.
    """
    first = SOURCES.index("Shapes scene") if trained_on_shapes(model) else 0
    src = st.radio(label, SOURCES, index=first, horizontal=True, key=f"{key}_src", bind=Q)
    if src == "Shapes scene":
        seed = int(st.number_input("Scene (seed)", 0, 99_999, 0, key=f"{key}_scene", bind=Q))
        loaded = _scene(seed)
        st.caption(f"Held-out shapes scene {seed} (test split: no xviz model trained on it): “{loaded.notes[0]}”.")
        return loaded
    if src == "Sample":
        names = sample_names()
        # plain names as options: the URL then reads ?{key}_sample=coffee (a format_func label would go there)
        name = st.selectbox(
            "Sample image", names, index=names.index(default) if default in names else 0, key=f"{key}_sample", bind=Q
        )
        st.caption(CAPTIONS.get(name, ""))
        return _sample(name)
    up = st.file_uploader("Upload an image (PNG, JPEG, GIF, BMP, TIFF, WebP)", key=f"{key}_file")
    if up is None:
        st.info("Upload an image file, or choose **Sample** above.")
        st.stop()
    try:
        loaded = _upload(up.file_id, literal(up.name[:80] or "upload"), f"upload:{up.name[:80]}", up.getvalue())
    except InputError as err:
        st.error(str(err))
        st.stop()
    for note in loaded.notes:
        st.caption(note)
    return loaded
