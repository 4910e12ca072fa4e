"""Attention variants: sparsity patterns and approximations on a real head, their error and their real cost."""

import streamlit as st

from xviz.app import variants as view
from xviz.app.widgets import user_errors

st.title("Attention variants")
st.markdown(
    "Efficient-attention methods replace the full N × N softmax matrix by a **fixed pattern** (local window, "
    "strides, global tokens, Longformer, BigBird, Sparse Transformer, axial), a **content-based pattern** "
    "(Reformer LSH, routing k-means, Sinkhorn sorting), a **low-rank or kernel approximation** (Linformer, "
    "Performer, Synthesizer) — or drop attention altogether (FNet). Here each runs on the queries, keys and "
    "values of one real head, next to the full attention it replaces, with its error and its cost."
)

with user_errors():
    head, key = view.input_section()
    st.caption(f"{head.source} · N = {head.n} tokens, head dim {head.q.shape[1]}")
    params = view.params_section()
    compare, gallery, measure = st.tabs(["Compare two", "Gallery of all", "Measured cost"])
    with compare:
        view.compare_section(head, key, params)
    with gallery:
        view.gallery_section(head, key, params)
    with measure:
        view.measure_section()

st.caption(
    "Errors are against full softmax attention of the same head (causal for causal variants): relative "
    "output error ‖out − full‖/‖full‖, mean row KL(approx ‖ full) — for a sparse pattern, −log of the mass full "
    "attention puts on the kept keys — and the overlap of each row's top-5 keys. FLOPs and memory are per head "
    "from each paper's complexity formula. Content-based patterns, Linformer's projections, the Synthesizer "
    "and the Sinkhorn sorting net are untrained here (random or parameter-free), so their errors show the "
    "mechanism, not a trained model. The visual versions compute the full matrix to draw it; the measured "
    "kernels (last tab) never do."
)
