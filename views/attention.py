"""Attention: every layer and head of a real model on your sentence or image."""

import streamlit as st

from xviz.app.attention import text as attention_text
from xviz.app.widgets import Q

st.title("Attention")
st.caption(
    "Queries, keys, values, scores and probabilities of every head, recorded by xviz's hook points "
    "while the real model runs on your input."
)

mode = st.radio("Input", ["Text", "Image"], key="attn_mode", horizontal=True, bind=Q)

if mode == "Image":
    from xviz.app.attention import image as attention_image

    attention_image.render()
else:
    attention_text.render()
