"""Encoder–decoder: cross-attention against a known alignment, the masked decoder, and how sequences are
generated (greedy, sampling, beam search; teacher forcing vs free running; AT vs NAT; BLEU)."""

import streamlit as st

from xviz.app import state
from xviz.app.encdec import decoding as S
from xviz.app.encdec import sections as V
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
    "Cross-attention": V.cross_section,
    "Self-attention": V.self_section,
    "Decoding step by step": S.decoding_section,
    "Teacher forcing vs free running": S.exposure_section,
    "AT vs NAT": S.nat_section,
    "BLEU": S.bleu_section,
}

V.model_picker()
model = state.get_model("seq2seq")
name = state.model_name("seq2seq")
if model.note:
    st.caption(f"Model **{literal(name)}**: {model.note}.")
if not V.is_own(model):  # a Hugging Face encoder–decoder added in the sidebar
    with user_errors():
        V.hf_section(model, name)
    st.stop()
with user_errors():
    ctx = V.inputs(model, name)
view = st.radio("Section", list(SECTIONS), key="ed_view", horizontal=True, bind=Q)
with user_errors():
    SECTIONS[view](ctx)
