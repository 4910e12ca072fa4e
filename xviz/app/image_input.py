"""Image input widget: a bundled sample or an upload, validated by xviz.inputs.image (messages, never tracebacks)."""
from __future__ import annotations

import streamlit as st
from PIL import Image

from xviz.app.widgets import literal
from xviz.errors import InputError
from xviz.inputs.image import fit_image, image_notes, load_image
from xviz.samples import CAPTIONS, load_sample, sample_names

MAX_SIDE = 1024   # uploads are downscaled to this for display and overlays (models resize anyway)
SOURCES = ["Sample", "Upload"]


@st.cache_data(max_entries=16, show_spinner=False)
def _sample(name: str) -> Image.Image:
    return load_sample(name)


def image_input(key: str, label: str = "Image", default: str = "chelsea") -> Image.Image:
    """A radio between bundled samples and an upload. Returns an RGB PIL image (longer side ≤ 1024 px).

    On a bad or missing upload the message is shown and the page run stops (st.stop); switching back to a
    sample makes the page usable again.
    """
    src = st.radio(label, SOURCES, horizontal=True, key=f"{key}_src")
    if src == "Sample":
        names = sample_names()
        name = st.selectbox("Sample image", names, index=names.index(default) if default in names else 0,
                            key=f"{key}_sample", format_func=lambda n: f"{n} — {CAPTIONS.get(n, '')}")
        img = _sample(name)
        img.info["xviz_source"] = f"sample:{name}"
        return img
    up = st.file_uploader("Upload an image (PNG, JPEG, GIF, BMP, TIFF, WebP)", key=f"{key}_file")
    if up is None:
        st.info("Upload an image file, or choose **Sample** above.")
        st.stop()
    name = literal(up.name[:80] or "upload")
    try:
        img = fit_image(load_image(up.getvalue(), name), MAX_SIDE)
    except InputError as err:
        st.error(str(err))
        st.stop()
    for note in image_notes(img):
        st.caption(note)
    img.info["xviz_source"] = f"upload:{up.name[:80]}"
    return img
