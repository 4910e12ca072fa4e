"""MAE: hide most of your image and watch a masked autoencoder reconstruct it (He et al. 2021)."""

import streamlit as st

from xviz.app import mae as sections
from xviz.app import state
from xviz.app.image_input import image_input
from xviz.app.widgets import Q, user_errors

st.title("Masked autoencoder")
st.caption(
    "MAE cuts the image into patches, hides most of them (75 % by default), runs the encoder on the visible "
    "ones only, and a light decoder fills in the rest from a shared mask token plus position. The loss "
    "counts hidden patches only."
)

SECTIONS = {
    "Reconstruction": sections.reconstruction_section,
    "Side by side": sections.compare_section,
    "Fine-tune on this image": sections.finetune_section,
}

model = state.get_model("mae")
name = state.model_name("mae")
left, right = st.columns([1, 3])
with left:
    img = image_input("mae_img", default="chelsea", model=name)
with right, user_errors():
    sections.model_notes(model, name, img.source)
    ctx = sections.controls(model, img, name)
view = st.radio("Section", list(SECTIONS), key="mae_view", horizontal=True, bind=Q)
with user_errors():
    SECTIONS[view](ctx)
