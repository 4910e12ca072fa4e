"""Circuits page: the QK / OV section — a head's spectra, its token tables, and how earlier heads compose into it,
linked to the induction / previous-token / sink scores of the Language-model page."""

from __future__ import annotations

import numpy as np
import streamlit as st

from xviz.app import widgets
from xviz.app.circuits import common
from xviz.app.widgets import Q
from xviz.plots import circuits as circuit_plots

MODES = {"K (keys)": "K", "Q (queries)": "Q", "V (values)": "V"}


def _pick(ctx: common.Ctx, scores: dict) -> tuple[int, int]:
    ind = np.nan_to_num(scores["induction"].numpy(), nan=-1.0)
    top_l, top_h = divmod(int(ind.argmax()), ctx.num_heads)  # default: the strongest induction head
    c1, c2 = st.columns(2)
    layer = int(c1.selectbox("Layer", list(range(ctx.num_layers)), index=top_l, key="ci_c_layer", bind=Q))
    head = int(c2.selectbox("Head", list(range(ctx.num_heads)), index=top_h, key="ci_c_head", bind=Q))
    return layer, head


def _table(ctx: common.Ctx, tab, what: str) -> dict:
    src = common.decode(ctx.name, ctx.device, tuple(tab.sources))
    rows = {"token": [repr(t) for t in src], what: [], "its own rank": tab.self_rank.tolist()}
    for row in tab.top_ids.tolist():
        rows[what].append(", ".join(repr(t) for t in common.decode(ctx.name, ctx.device, tuple(row))))
    return rows


def circuits_section(ctx: common.Ctx) -> None:
    scores = common.head_scores(ctx.name, ctx.device)
    layer, head = _pick(ctx, scores)
    hc = common.head_circuits(ctx.name, ctx.device, layer, head, ctx.key[0][0])
    m = st.columns(4)
    for col, name in zip(m, ("induction", "previous-token", "first-token sink")):
        col.metric(f"{name} score", f"{float(scores[name][layer, head]):.2f}", help="On 40 random tokens repeated.")
    m[3].metric("copying score (OV)", f"{float(hc['copying'][head]):+.2f}", help="Σλ / Σ|λ|: 1 = pure copying")
    st.caption(
        "W_QK = W_Q W_Kᵀ decides where the head looks, W_OV = W_V W_O what it writes (Elhage et al. 2021); norm "
        "weights folded in, under GQA the head's shared KV head. Scores on repeated random tokens as on the "
        "Language-model page; copying: the sign of the eigenvalues of embedding → W_OV → unembedding."
    )
    widgets.figure(
        circuit_plots.spectra_bars(
            hc["spectra"].qk.numpy(), hc["spectra"].ov.numpy(), f"L{layer}H{head}: singular values"
        ),
        key="ci_c_spectra",
        caption="A few large singular values: the head reads / writes a low-dimensional subspace.",
    )
    c1, c2 = st.columns(2)
    with c1:
        st.markdown("**OV: what the head writes when it attends to a token** (the prompt's tokens)")
        st.dataframe(_table(ctx, hc["ov"], "top written tokens"), hide_index=True, width="stretch")
    with c2:
        st.markdown("**QK: which key token a query token prefers** (no positions)")
        st.dataframe(_table(ctx, hc["qk"], "top key tokens"), hide_index=True, width="stretch")
    st.caption("“its own rank”: 0 = the token writes (OV) or attends to (QK) itself most — copying / self-attention.")
    _composition(ctx, layer, head, scores)


def _composition(ctx: common.Ctx, layer: int, head: int, scores: dict) -> None:
    st.divider()
    mode = MODES[st.radio("Composition into this head's", list(MODES), key="ci_c_mode", horizontal=True, bind=Q)]
    comp = common.composition_into(ctx.name, ctx.device, layer, head, mode).numpy()
    prev, ind, sink = (scores[k].numpy() for k in ("previous-token", "induction", "first-token sink"))
    extra = np.array(
        [[f"prev-token {prev[i, j]:.2f} · induction {ind[i, j]:.2f} · sink {sink[i, j]:.2f}"
          for j in range(ctx.num_heads)] for i in range(ctx.num_layers)],
        dtype=object,
    )  # fmt: skip
    if layer == 0:
        st.info("Layer 0 reads only the embeddings: no earlier head composes into it.")
        return
    widgets.figure(
        circuit_plots.composition_map(comp, f"{mode}-composition of every earlier head into L{layer}H{head}", extra),
        key="ci_c_comp",
        caption="‖W_OV^(h1) · W_QK^(h2)‖_F / (‖W_OV^(h1)‖_F ‖W_QK^(h2)‖_F) and its K / V variants (Elhage et al. "
        "2021). Most pairs score low; a strong K-composition from a previous-token head is the signature of an "
        "induction head (hover a cell for the writing head's own scores).",
    )
    order = np.argsort(-comp.ravel())[:3]
    st.caption(
        "Strongest: "
        + ", ".join(
            f"L{i // ctx.num_heads}H{i % ctx.num_heads} ({comp.flat[i]:.3f}, previous-token {prev.flat[i]:.2f})"
            for i in order
        )
        + "."
    )
    if st.toggle("Every pair of heads (summarised per pair of layers)", key="ci_c_all", bind=Q):
        full = common.composition_all(ctx.name, ctx.device, mode).numpy()  # (L, H, L, H)
        per_layer = full.max(axis=(1, 3)).T  # (L1, L2) max over heads → (L2 rows, L1 columns)
        widgets.figure(
            circuit_plots.layer_matrix(
                per_layer, f"Strongest {mode}-composition between layers", "writing layer", "reading layer"
            ),
            key="ci_c_all_fig",
        )
