"""Masking: padding, causal, prefix-LM, document, sparse, MLM and MAE masks as the actual tensors, and what they do
to the real attention of a text model."""

import streamlit as st

from xviz.app.masking import sections
from xviz.app.widgets import Q, user_errors

st.title("Masking")
st.caption(
    "A mask says which keys each query may attend to (True = may attend). Masked scores get the most "
    "negative float before the softmax, so their probability is exactly 0 and every row still sums to 1."
)

SECTIONS = {
    "Padding (batch)": sections.padding_section,
    "Attention masks": sections.patterns_section,
    "MLM (80/10/10)": sections.mlm_section,
    "MAE patch mask": sections.mae_section,
    "Effect on attention": sections.effect_section,
    "Side by side": lambda: sections.effect_section(compare=True),
}
view = st.radio("Section", list(SECTIONS), key="mk_view", horizontal=True, bind=Q)

with user_errors():
    SECTIONS[view]()
