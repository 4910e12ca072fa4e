"""Circuits: what heads do, not only where they look — activation patching, attribution patching, direct logit
attribution, information flow, and the QK / OV circuits of a head, on any causal LM of the picker."""

import streamlit as st

from xviz.app.circuits import common, flow, heads, logit_attribution, patching
from xviz.app.widgets import Q, user_errors

st.title("Circuits")
st.caption(
    "Causal tools on a clean and a corrupted prompt: which activations carry the difference (activation and "
    "attribution patching), which heads write the answer (direct logit attribution), how information reaches "
    "the prediction (information flow), and what a head's weights do (QK / OV circuits). Exact numbers, on the "
    "real model, offline; interventions are scoped to your session and never change the shared model."
)

SECTIONS = {
    "Activation patching": patching.patching_section,
    "Attribution patching": patching.attribution_section,
    "Logit attribution": logit_attribution.dla_section,
    "Information flow": flow.flow_section,
    "QK / OV circuits": heads.circuits_section,
}

with user_errors():
    model, name = common.load_model()
    ctx = common.inputs(model, name)
view = st.radio("Section", list(SECTIONS), key="ci_view", horizontal=True, bind=Q)
with user_errors():
    SECTIONS[view](ctx)
