"""Self-attention, step by step: one layer and head of a real encoder, from token ids to the block output."""

import streamlit as st

from xviz.analysis.stepwise import is_bert_encoder
from xviz.app import state
from xviz.app import stepwise as sections
from xviz.app.widgets import user_errors

st.title("Self-attention, step by step")
st.caption(
    "Your sentence through one layer and one head of the real model: every tensor below is computed from "
    "the model's weight matrices on this page and checked against what the model's hook points recorded "
    "in the same forward pass — the page is the model, not a re-enactment. Equations: Vaswani et al. 2017 "
    "(§3.2); the encoder is BERT's post-LN block, the decoder Llama's pre-norm block with RoPE, "
    "grouped-query attention and SwiGLU."
)

kind = sections.kind_choice()
name = state.model_name(kind)
model = state.get_model(kind)
if model.kind == "lm":  # the sidebar's text picker also lists language models: walk them as decoders
    kind = "lm"
elif not is_bert_encoder(model):
    st.info(f"The encoder walk-through reads BERT's weights by name; {name} is not an xviz BERT, so MiniLM is shown.")
    name, model = "minilm-l6", state.load_model_cached("minilm-l6", str(state.device()))
note = state.model_note(name)
if note:
    st.caption(f"Model: **{name}** — {note}")
item, layer, head, pad = sections.inputs(model, kind)
head_b = sections.head_b_choice(model, kind, head)
with user_errors():
    run = sections.cached_steps(name, str(state.device()), kind, item, layer, head, pad)
    run_b = (
        sections.cached_steps(name, str(state.device()), kind, item, layer, head_b, pad) if head_b is not None else None
    )
sections.summary(run)
st.header("1 · The steps")
sections.stepper(run, run_b)
st.header("2 · Why divide by √D?")
sections.sqrt_d_section(run)
