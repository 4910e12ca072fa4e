"""Token mixers: attention vs a learned MLP vs a Fourier transform vs convolution, on trained digit models."""

import streamlit as st

from xviz.app import mixers as sections
from xviz.app import state
from xviz.app.widgets import user_errors

st.title("Token mixers")
st.caption(
    "Four small models trained by xviz (scripts/train_mixers.py) on scikit-learn's handwritten digits, "
    "upsampled to 16 × 16 and cut into 16 patches of 4 × 4 px. They differ in how tokens exchange "
    "information: a ViT by self-attention (weights computed from the input), an MLP-Mixer by a learned "
    "matrix over tokens (Tolstikhin et al. 2021), FNet by a fixed Fourier transform (Lee-Thorp et al. "
    "2021), and a CNN by local convolutions as the reference."
)

ms = sections.models()
with user_errors():
    rows, curves = sections.model_table(str(state.device()))
st.dataframe(rows, hide_index=True)
st.header("1 · One digit through all four")
x01 = sections.digit_input()
dx, dy = sections.shift_controls()
with user_errors():
    sections.predictions(ms, x01, dx, dy)
st.header("2 · How each model mixes tokens")
with user_errors():
    sections.mixing_section(ms, sections.shifted(x01, dx, dy))
st.header("3 · Translation: the inductive-bias question")
sections.shift_section(rows, curves)
