"""The Swin page's shared state: the feature map and window controls (`Ctx`), a bounded slider, which model is for
what (the untrained model's warning, the trained one's note)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st
from PIL import Image

from xviz.analysis import swin_geometry
from xviz.app import state
from xviz.app.image_input import image_input
from xviz.app.widgets import Q

WHICH_MODEL = (
    "Which Swin: **swin-tiny** is Swin-T's shape with random weights (the geometry at Swin-T's size, nothing "
    "learned); **swin-shapes** was trained by xviz on rendered shapes scenes (64 px, M = 4): its biases and "
    "attention are learned — pick it in the sidebar and show it a shapes scene (the image source), not a photo."
)


@dataclass
class Ctx:
    image: Image.Image
    pic: np.ndarray  # (H·q, W·q, 3) the picture on the token grid
    q: int  # pixels per token
    H: int
    W: int
    M: int
    s: int


def _clamp(key: str, hi: int, default: int) -> None:
    """Keep a slider's stored value inside its (changing) range before the slider is drawn."""
    if not 0 <= st.session_state.get(key, default) <= hi:
        st.session_state[key] = min(default, hi)


def pick(container, label: str, n: int, default: int, key: str, **kw) -> int:
    """A 0..n−1 slider (in the URL); with a single choice there is nothing to slide (Streamlit refuses
    min == max)."""
    if n <= 1:
        return 0
    default = min(default, n - 1)
    _clamp(key, n - 1, default)
    return container.slider(label, 0, n - 1, default, key=key, bind=Q, **kw)


def controls() -> Ctx:
    left, right = st.columns([1, 2])
    with right:  # sliders first: image_input may stop the run (upload pending) and they must keep their state
        c1, c2 = st.columns(2)
        M = c1.slider("Window size M", 2, 12, 7, key="swin_M", bind=Q, help="Tokens per window side (Swin: 7).")
        s = pick(c2, "Shift s", M, M // 2, "swin_shift", help="SW-MSA rolls the map by (−s, −s); Swin: ⌊M/2⌋.")
        nh = c1.slider("Windows down", 1, 10, 8, key="swin_nh", bind=Q)
        nw = c2.slider("Windows across", 1, 10, 8, key="swin_nw", bind=Q)
        st.caption(
            f"Feature map {nh * M} × {nw * M} tokens ({nh * nw} windows of {M}×{M}); Swin-T's first stage "
            "is 56 × 56 tokens (a 224 px image cut into 4 px patches) with M = 7, s = 3."
        )
        st.caption(WHICH_MODEL)
    with left:
        img = image_input("swin_img", model=state.model_name("swin")).image
    pic, q = swin_geometry.grid_image(img, nh * M, nw * M)
    return Ctx(img, pic, q, nh * M, nw * M, M, s)


def untrained_note() -> None:
    """What the chosen Swin is: a warning for random weights, else its description (trained on what, how well)."""
    name = state.model_name("swin")
    note = state.model_note(name)
    if state.is_untrained(name):
        st.warning(f"{state.model_name('swin')}: {note} Load a trained HF Swin in the sidebar (Add a model).")
    elif note:
        st.caption(f"{name}: {note}.")
