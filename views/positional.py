"""Positional encoding: sinusoidal, learned, 2-D sin-cos, RoPE, ALiBi — and what attention sees of order."""

import streamlit as st

from xviz.app import positional as sections
from xviz.app.widgets import Q, user_errors

st.title("Positional encoding")
st.caption(
    "Attention is blind to order: without positions, permuting the tokens permutes the output. Each scheme "
    "below injects position differently — as a vector added to the input, a rotation of q and k, or a "
    "bias on the scores."
)

SECTIONS = {
    "Sinusoidal": sections.sinusoidal_section,
    "Learned tables": sections.learned_section,
    "2-D sin-cos": sections.sincos2d_section,
    "RoPE & ALiBi": sections.relative_section,
    "Beyond the trained length": sections.beyond_section,
    "Side by side": sections.compare_section,
}
view = st.radio("Section", list(SECTIONS), key="pe_view", horizontal=True, bind=Q)

with user_errors():
    SECTIONS[view]()
