"""Home: what xviz is, the device in use, the models available offline and how to add more."""

import streamlit as st

from xviz.app import state
from xviz.device import device_label
from xviz.pretrained.zoo import ZOO

st.title("xviz — see inside Transformers")
st.markdown(
    "Type a sentence or upload an image and watch **real models** work: queries, keys and values, attention "
    "scores and probabilities, per-head outputs, positional encodings, masks, Swin's shifted windows, MAE's "
    "masking and reconstruction, efficient-attention variants and pre-LN vs post-LN gradients — any two side "
    "by side. Everything is recorded by xviz's own hook points, and every figure and recording can be downloaded."
)

st.subheader("Running on")
st.info(device_label(state.device()))

st.subheader("Models available offline")
rows = [
    {"name": e.name, "kind": e.kind, "what": e.description, "trained": "yes" if e.trained else "no (random)"}
    for e in ZOO.values()
]
st.dataframe(rows, hide_index=True, width="stretch")

st.subheader("Add your own model")
st.markdown(
    "In the sidebar, under **Add a model**, give a local Hugging Face-format folder (`config.json` + "
    "`model.safetensors`) of a BERT-family, ViT/DINOv2, ViTMAE or Swin model, or `hf:<hub id>` when online. "
    "Checkpoints are read as safetensors (or as plain tensors with pickled code refused), never unpickled."
)
st.code(
    'import xviz\nmodel = xviz.load_model("minilm-l6")\nbatch = model.prepare("The cat sat on the mat.")\n'
    'with xviz.record(model, names="*.attn.hook_*") as rec:\n    model(**batch)\nrec["probs", 3].shape  '
    "# (B, H, N, N)",
    language="python",
)
