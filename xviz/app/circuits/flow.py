"""Circuits page: the Information-flow section (Ferrando & Voita 2024's graph, and one layer's matrix)."""

from __future__ import annotations

import streamlit as st

from xviz.analysis.info_flow import flow_graph
from xviz.app import widgets
from xviz.app.circuits import common
from xviz.app.widgets import Q
from xviz.plots.circuits_flow import flow_figure
from xviz.plots.heatmap import heatmap
from xviz.plots.lm import tok


def _hover(ctx: common.Ctx, fl, edges) -> dict:
    """Edge → hover text: layer, positions, importance, the dominant head, the tokens the edge promotes."""
    ids = sorted({t for v in fl.edge_tokens.values() for t in v})
    names = dict(zip(ids, common.decode(ctx.name, ctx.device, tuple(ids))))

    def promotes(key) -> str:
        got = fl.edge_tokens.get(key)
        return "<br>promotes " + ", ".join(tok(names[t], 12) for t in got) if got else ""

    out = {}
    for e in edges:
        i, t = e.dst[2], ctx.tokens
        if e.kind == "attn":
            j = e.src[2]
            h, share = int(fl.top_head[e.layer, i, j]), float(fl.head_share[e.layer, i, j])
            out[e] = (
                f"L{e.layer} attention: {tok(t[j])} (pos {j}) → {tok(t[i])} (pos {i})<br>importance {e.weight:.2f}, "
                f"‖c‖ = {float(fl.norms[e.layer, i, j]):.2f}<br>mostly head H{h} ({share:.0%} of the heads' norms)"
                + promotes(("attn", e.layer, i, j))
            )
        elif e.kind == "mlp":
            out[e] = f"L{e.layer} MLP at {tok(t[i])} (pos {i})<br>importance {e.weight:.2f}" + promotes(
                ("mlp", e.layer, i)
            )
        else:
            out[e] = f"L{e.layer} residual at {tok(t[i])} (pos {i})<br>importance {e.weight:.2f}"
    return out


def flow_section(ctx: common.Ctx) -> None:
    ids = ctx.key[0][0]
    fl = common.flow(ctx.name, ctx.device, ids)
    st.caption(
        "Information-flow routes (Ferrando & Voita 2024, as the LLM Transparency Tool) on the first clean "
        "prompt: layer l's attention writes c_ij = Σ_h A_h[i, j] · v_h[j] W_O,h from position j into position i; "
        "each part of a sum (the residual, every source, the MLP) gets an importance by proximity, "
        "max(‖y‖₁ − ‖y − part‖₁, 0), normalised. Only edges that lead to the prediction at the last position "
        "are drawn. Hover an edge's middle for its head and the tokens it promotes."
    )
    th = st.slider("Keep edges with importance ≥", 0.02, 0.5, 0.08, 0.01, key="ci_flow_th", bind=Q)
    edges = flow_graph(fl, th)
    widgets.figure(
        flow_figure(edges, ctx.tokens, ctx.num_layers, _hover(ctx, fl, edges), "Information flow to the prediction"),
        key="ci_flow_fig",
    )
    kinds = {k: sum(e.kind == k for e in edges) for k in ("attn", "mlp", "res")}
    st.caption(
        f"{len(edges)} edges at ≥ {th:.2f}: {kinds['attn']} attention, {kinds['mlp']} MLP, {kinds['res']} residual. "
        "Raise the threshold to see the main route only."
    )
    c1, c2 = st.columns([1, 2])
    layer = int(c1.slider("Layer", 0, ctx.num_layers - 1, 0, key="ci_flow_layer", bind=Q))
    measure = c2.radio(
        "Matrix",
        ["importance (proximity)", "‖c_ij‖ (norm of the write)"],
        key="ci_flow_measure",
        horizontal=True,
        bind=Q,
    )
    mat = fl.attn[layer] if measure.startswith("importance") else fl.norms[layer]
    widgets.figure(
        heatmap(mat, ctx.tokens, ctx.tokens, title=f"Layer {layer}: source position j → query position i",
                value_name="importance" if measure.startswith("importance") else "‖c‖", height=420,
                x_title="source token j", y_title="query token i"),
        key="ci_flow_matrix",
    )  # fmt: skip
    common.export({"attn": fl.attn, "attn_res": fl.attn_res, "mlp": fl.mlp, "mlp_res": fl.mlp_res, "norms": fl.norms},
             ctx, "information-flow", "ci_flow_rec", threshold=th)  # fmt: skip
