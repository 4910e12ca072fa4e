"""Encoder–decoder: cross-attention against a known alignment, the masked decoder, and how sequences are
generated (greedy, sampling, beam search; teacher forcing vs free running; AT vs NAT; BLEU); the copy mechanism and
guided / location-aware attention on attention-GRU models of their own."""

import streamlit as st

from xviz.app import state
from xviz.app.encdec import decoding, sections
from xviz.app.encdec.copy import copy_section
from xviz.app.encdec.guided import guided_section
from xviz.app.widgets import Q, literal, user_errors

st.title("Encoder–decoder")
st.caption(
    "The encoder reads the whole source at once; the decoder writes the target one character at a time, "
    "seeing only what it has written so far (causal self-attention) and the source through "
    "**cross-attention** (queries from the decoder, keys and values from the encoder). The model here was "
    "trained by xviz on tasks whose correct alignment is known, so you can check what the "
    "cross-attention learned."
)

SECTIONS = {
    "Cross-attention": sections.cross_section,
    "Self-attention": sections.self_section,
    "Decoding step by step": decoding.decoding_section,
    "Teacher forcing vs free running": decoding.exposure_section,
    "AT vs NAT": decoding.nat_section,
    "BLEU": decoding.bleu_section,
    "Copy mechanism": copy_section,
    "Guided attention": guided_section,
}
# these load their own zoo models (copy-*, monotonic-*: attention GRUs): no model picker or task input above them
OWN_MODELS = {"Copy mechanism", "Guided attention"}

view = st.radio("Section", list(SECTIONS), key="ed_view", horizontal=True, bind=Q)
if view in OWN_MODELS:
    with user_errors():
        SECTIONS[view]()
    st.stop()
sections.model_picker()
model = state.get_model("seq2seq")
name = state.model_name("seq2seq")
if model.note:
    st.caption(f"Model **{literal(name)}**: {model.note}.")
if not sections.is_own(model):  # a Hugging Face encoder–decoder added in the sidebar
    with user_errors():
        sections.hf_section(model, name)
    st.stop()
with user_errors():
    ctx = sections.inputs(model, name)
with user_errors():
    SECTIONS[view](ctx)
