"""CLIP: zero-shot classification, the contrastive matrix, where a caption looks, both towers (Radford et al. 2021;
SigLIP: Zhai et al. 2023)."""

import streamlit as st

from xviz.app.clip import common, contrast, maps, zero_shot
from xviz.app.widgets import Q, user_errors

st.title("CLIP")
st.caption(
    "CLIP embeds images and texts in one space: an image tower and a text tower, trained so that matching pairs "
    "have a high cosine. Classify your image with labels you type, watch the contrastive matrix of a batch, see "
    "where a caption looks, and look inside both towers."
)

SECTIONS = {
    "Zero-shot": zero_shot.zero_shot_section,
    "Contrastive matrix": contrast.contrast_section,
    "Where a caption looks": maps.where_section,
    "Inside both towers": maps.towers_section,
    "Side by side": zero_shot.compare_section,
}
with user_errors():
    ctx = common.load()
view = st.radio("Section", list(SECTIONS), key="clip_view", horizontal=True, bind=Q)
with user_errors():
    SECTIONS[view](ctx)
