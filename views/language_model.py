"""Language model: next token, logit lens, decoding step by step, ablation and head scores of a causal LM."""

import streamlit as st

from xviz.app.lm import common, page
from xviz.app.widgets import user_errors

st.title("Language model")
st.caption(
    "A causal language model on your prompt: the next-token distribution, what every layer already "
    "predicts (logit lens), decoding step by step with its KV cache, beam search with its tree, head "
    "ablation and per-head scores — recorded through xviz's hook points on the real model."
)

with user_errors():
    model, name = common.load_model()
    ctx = common.prompt_ctx(model, name)
    page.render(ctx)
