"""Attention: every layer and head of a real model on your sentence or image."""
import importlib.util

import streamlit as st

from xviz.app import attention_text

st.title("Attention")
st.caption("Queries, keys, values, scores and probabilities of every head, recorded by xviz's hook points "
           "while the real model runs on your input.")

modes = ["Text"] + (["Image"] if importlib.util.find_spec("xviz.app.attention_image") else [])
mode = st.radio("Input", modes, key="attn_mode", horizontal=True) if len(modes) > 1 else "Text"

if mode == "Image":
    from xviz.app import attention_image
    attention_image.render()
else:
    attention_text.render()
