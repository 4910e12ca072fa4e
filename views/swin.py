"""Swin windows: partition, cyclic shift and the SW-MSA mask on your image (Liu et al. 2021)."""

import streamlit as st

from xviz.app.swin import common, compare, sections
from xviz.app.widgets import Q, user_errors

st.title("Swin windows")
st.caption(
    "Swin attends inside M×M windows (linear cost in the image size) and shifts the windows by ⌊M/2⌋ in "
    "every other layer so information crosses window borders. The shift is a cyclic roll plus a mask — "
    "here on your own picture."
)

SECTIONS = {
    "Windows": sections.windows_section,
    "Cyclic shift": sections.shift_section,
    "SW-MSA mask": sections.mask_section,
    "Relative position": sections.relpos_section,
    "Receptive field": sections.rf_section,
    "Cost": sections.cost_section,
    "Real attention": compare.attention_section,
    "Two window sizes": compare.sizes_section,
}
view = st.radio("Section", list(SECTIONS), key="swin_view", horizontal=True, bind=Q)
with user_errors():
    SECTIONS[view](common.controls())
